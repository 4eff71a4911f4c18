// lvskit's raw and packet sockets between two hosts on one segment, as VRRP uses them: protocol 112
// to 224.0.0.18 / ff02::12 with TTL / hop limit 255, the received TTL and addresses reported, and an
// Ethernet frame built by hand (an ARP request from a virtual MAC) put on the wire.
//
// The sockets run in child node processes inside the hosts' namespaces (fixtures/sock.ts); this
// process only starts them and reads their JSON lines.

import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLab } from '../harness/netlab.js';
import type { Lab, LabProcess } from '../harness/netlab.js';
import { TS_REGISTER } from '../harness/probes.js';
import { internetChecksum, ipv6PseudoHeader } from '../../../src/util/checksum.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/sock.ts', import.meta.url));
const VIRTUAL_MAC = '00:00:5e:00:01:33'; // VRRP virtual router MAC for VRID 51 (RFC 9568 §7.3)
const VIP = '10.31.0.100';

type Host = 'a' | 'b';

interface Received {
  data: string;
  src: string;
  dst: string;
  ttl: number;
  ifindex: number;
  ifindexExpected: number;
  scopeId: number;
}

interface Frame {
  data: string;
  ifindex: number;
  protocol: number;
  pktType: number;
  srcMac: string;
}

let lab: Lab<Host>;
const procs: LabProcess[] = [];

beforeAll(async () => {
  lab = await createLab({
    hosts: {
      a: { ipv4: ['10.31.0.1/24'], ipv6: ['fd00:31::1/64'] },
      b: { ipv4: ['10.31.0.2/24'], ipv6: ['fd00:31::2/64'] },
    },
  });
});

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await lab?.destroy();
});

function argv(args: object): string[] {
  return [process.execPath, '--import', TS_REGISTER, FIXTURE, JSON.stringify(args)];
}

/** Start a receiver in `host` and wait until its socket is open (and joined). */
async function receiver(host: Host, args: object): Promise<LabProcess> {
  const p = lab.spawn(host, argv(args));
  procs.push(p);
  await p.waitForOutput(/^(ready|error .*)$/m, { timeoutMs: 30_000 });
  expect(p.stdout).not.toMatch(/^error /m);
  return p;
}

async function send(host: Host, args: object): Promise<void> {
  const r = await lab.exec(host, argv(args), { timeoutMs: 30_000 });
  expect(r.stdout + r.stderr).toMatch(/^sent \d+$/m);
  expect(r.code).toBe(0);
}

/** Wait for the receiver to exit and return its JSON lines. */
async function results<T>(p: LabProcess): Promise<T[]> {
  const exit = await p.exited;
  expect(p.stdout, p.output).not.toMatch(/^(error|timeout) /m);
  expect(exit.code, p.output).toBe(0);
  return p.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as T);
}

async function linkLocal(host: Host): Promise<string> {
  const r = await lab.ip(host, ['-j', 'address', 'show', 'dev', 'eth0'], { check: true });
  const links = JSON.parse(r.stdout) as { addr_info: { family: string; local: string; scope: string }[] }[];
  const addr = links.flatMap((l) => l.addr_info).find((a) => a.family === 'inet6' && a.scope === 'link')?.local;
  if (addr === undefined) throw new Error(`${host} has no link-local address: ${r.stdout}`);
  return addr;
}

/** ICMP errors a host's kernel has sent: IPv4 destination unreachable, ICMPv6 parameter problem. */
async function icmpCounters(host: Host): Promise<{ unreach4: number; paramProb6: number }> {
  const snmp = (await lab.exec(host, ['cat', '/proc/net/snmp'], { check: true })).stdout.split('\n');
  const heads = snmp.find((l) => l.startsWith('Icmp: ') && l.includes('OutDestUnreachs'))?.split(/\s+/) ?? [];
  const values = snmp.find((l) => l.startsWith('Icmp: ') && !l.includes('OutDestUnreachs'))?.split(/\s+/) ?? [];
  const snmp6 = (await lab.exec(host, ['cat', '/proc/net/snmp6'], { check: true })).stdout;
  return {
    unreach4: Number(values[heads.indexOf('OutDestUnreachs')]),
    paramProb6: Number(/^Icmp6OutParmProblems\s+(\d+)$/m.exec(snmp6)?.[1]),
  };
}

async function macOf(host: Host): Promise<string> {
  const r = await lab.ip(host, ['-j', 'link', 'show', 'dev', 'eth0'], { check: true });
  const [link] = JSON.parse(r.stdout) as { address: string }[];
  return link?.address ?? '';
}

/** 16 bytes of an IPv6 literal. */
function ipv6Bytes(a: string): Uint8Array {
  const [head = '', tail = ''] = a.split('::');
  const words = (p: string): number[] => (p === '' ? [] : p.split(':').map((w) => parseInt(w, 16)));
  const h = words(head);
  const t = words(tail);
  const all = a.includes('::') ? [...h, ...Array<number>(8 - h.length - t.length).fill(0), ...t] : h;
  const out = new Uint8Array(16);
  all.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

const PAYLOAD = '3133ff0100000064c0a80001'; // VRRPv3 advert-shaped bytes: version 3 type 1, VRID 51, prio 255

describe('RawSocket, protocol 112', () => {
  it('IPv4: a datagram to 224.0.0.18 sent with TTL 255 arrives with TTL 255, its source and its group', async () => {
    const rx = await receiver('a', { mode: 'recv-raw', family: 4, iface: 'eth0', group: '224.0.0.18', count: 1, timeoutMs: 20_000 });
    await send('b', { mode: 'send-raw', family: 4, iface: 'eth0', dst: '224.0.0.18', multicastTtl: 255, hex: PAYLOAD, count: 3 });
    const [m] = await results<Received>(rx);
    expect(m).toMatchObject({ data: PAYLOAD, src: lab.hosts.b.addr4, dst: '224.0.0.18', ttl: 255 });
    expect(m?.ifindex).toBe(m?.ifindexExpected);
  });

  it('IPv4: the TTL reported is the one sent (multicast TTL 1 arrives as 1), and a chosen source address is used', async () => {
    await lab.ip('b', ['address', 'add', '10.31.0.22/24', 'dev', 'eth0'], { check: true });
    const rx = await receiver('a', { mode: 'recv-raw', family: 4, iface: 'eth0', group: '224.0.0.18', count: 1, timeoutMs: 20_000 });
    await send('b', { mode: 'send-raw', family: 4, iface: 'eth0', dst: '224.0.0.18', src: '10.31.0.22', multicastTtl: 1, hex: 'ab', count: 3 });
    const [m] = await results<Received>(rx);
    expect(m).toMatchObject({ data: 'ab', src: '10.31.0.22', dst: '224.0.0.18', ttl: 1 });
  });

  it('IPv4 unicast with TTL 255 (VRRP unicast peers), source bound to the host address', async () => {
    const rx = await receiver('a', { mode: 'recv-raw', family: 4, iface: 'eth0', count: 1, timeoutMs: 20_000 });
    await send('b', { mode: 'send-raw', family: 4, iface: 'eth0', source: lab.hosts.b.addr4, dst: lab.hosts.a.addr4, ttl: 255, hex: PAYLOAD, count: 3 });
    const [m] = await results<Received>(rx);
    expect(m).toMatchObject({ data: PAYLOAD, src: lab.hosts.b.addr4, dst: lab.hosts.a.addr4, ttl: 255 });
  });

  it('IPv4: a socket that left the group receives nothing sent to it', async () => {
    const rx = await receiver('a', { mode: 'recv-raw', family: 4, iface: 'eth0', group: '224.0.0.18', leave: true, count: 1, timeoutMs: 3_000 });
    await send('b', { mode: 'send-raw', family: 4, iface: 'eth0', dst: '224.0.0.18', multicastTtl: 255, hex: PAYLOAD, count: 3 });
    const exit = await rx.exited;
    expect(rx.stdout).toMatch(/^timeout after 0$/m);
    expect(exit.code).toBe(3);
  });

  it('IPv6: a datagram to ff02::12 sent with hop limit 255 from the link-local address arrives with hop limit 255', async () => {
    const [llA, llB] = await Promise.all([linkLocal('a'), linkLocal('b')]);
    expect(llA).toMatch(/^fe80:/);
    const rx = await receiver('a', { mode: 'recv-raw', family: 6, iface: 'eth0', group: 'ff02::12', count: 1, timeoutMs: 20_000 });
    await send('b', { mode: 'send-raw', family: 6, iface: 'eth0', dst: 'ff02::12', src: llB, multicastTtl: 255, hex: PAYLOAD, count: 3 });
    const [m] = await results<Received>(rx);
    expect(m).toMatchObject({ data: PAYLOAD, src: llB, dst: 'ff02::12', ttl: 255 });
    expect(m?.ifindex).toBe(m?.ifindexExpected);
    // A link-local source carries its zone: the receiving interface.
    expect(m?.scopeId).toBe(m?.ifindexExpected);
  });

  it('IPv6: the hop limit reported is the one sent (1 arrives as 1)', async () => {
    const rx = await receiver('a', { mode: 'recv-raw', family: 6, iface: 'eth0', group: 'ff02::12', count: 1, timeoutMs: 20_000 });
    await send('b', { mode: 'send-raw', family: 6, iface: 'eth0', dst: 'ff02::12', multicastTtl: 1, hex: 'cd', count: 3 });
    const [m] = await results<Received>(rx);
    expect(m).toMatchObject({ data: 'cd', dst: 'ff02::12', ttl: 1 });
    expect(m?.src).toMatch(/^fe80:/);
  });

  it('IPv6 unicast to a link-local peer with hop limit 255', async () => {
    const [llA, llB] = await Promise.all([linkLocal('a'), linkLocal('b')]);
    const rx = await receiver('a', { mode: 'recv-raw', family: 6, iface: 'eth0', count: 1, timeoutMs: 20_000 });
    await send('b', { mode: 'send-raw', family: 6, iface: 'eth0', dst: llA, src: llB, ttl: 255, hex: PAYLOAD, count: 3 });
    const [m] = await results<Received>(rx);
    expect(m).toMatchObject({ data: PAYLOAD, src: llB, dst: llA, ttl: 255 });
  });

  it('unicast to a host with no VRRP listener: its ICMP protocol-unreachable does not fail later sends', async () => {
    // a has no socket for protocol 112, so its kernel answers each datagram with ICMP (v6: ICMPv6
    // parameter problem, unrecognised next header). Sends keep succeeding, 200 ms apart.
    const before = await icmpCounters('a');
    const llA = await linkLocal('a');
    await send('b', { mode: 'send-raw', family: 4, iface: 'eth0', dst: lab.hosts.a.addr4, ttl: 255, hex: PAYLOAD, count: 4, intervalMs: 200 });
    await send('b', { mode: 'send-raw', family: 6, iface: 'eth0', dst: llA, ttl: 255, hex: PAYLOAD, count: 4, intervalMs: 200 });
    const after = await icmpCounters('a');
    // The errors really were sent back (counters in a's namespace).
    expect(after.unreach4 - before.unreach4).toBeGreaterThanOrEqual(1);
    expect(after.paramProb6 - before.paramProb6).toBeGreaterThanOrEqual(1);
  });

  it('multicast loop: off by default (the sending host does not hear itself), on when asked', async () => {
    const quiet = await receiver('a', { mode: 'recv-raw', family: 4, iface: 'eth0', group: '224.0.0.18', count: 1, timeoutMs: 2_500 });
    await send('a', { mode: 'send-raw', family: 4, iface: 'eth0', dst: '224.0.0.18', multicastTtl: 255, hex: 'aa', count: 3 });
    await quiet.exited;
    expect(quiet.stdout).toMatch(/^timeout after 0$/m);

    const loud = await receiver('a', { mode: 'recv-raw', family: 4, iface: 'eth0', group: '224.0.0.18', count: 1, timeoutMs: 20_000 });
    await send('a', { mode: 'send-raw', family: 4, iface: 'eth0', dst: '224.0.0.18', multicastTtl: 255, multicastLoop: true, hex: 'bb', count: 3 });
    const [m] = await results<Received>(loud);
    expect(m).toMatchObject({ data: 'bb', src: lab.hosts.a.addr4, dst: '224.0.0.18', ttl: 255 });
  });

  it('IPv6 checksumOffset 6: the kernel fills in the VRRP checksum over the pseudo-header', async () => {
    const llB = await linkLocal('b');
    const rx = await receiver('a', { mode: 'recv-raw', family: 6, iface: 'eth0', group: 'ff02::12', count: 1, timeoutMs: 20_000 });
    // A VRRPv3 advert (RFC 9568 §5.1) with its checksum field (bytes 6-7) left zero:
    // version 3 type 1, VRID 51, priority 100, 1 address, max advert interval 100 cs, checksum 0, fd00:31::100
    const advert = '31' + '33' + '64' + '01' + '0064' + '0000' + 'fd000031000000000000000000000100';
    await send('b', { mode: 'send-raw', family: 6, iface: 'eth0', dst: 'ff02::12', src: llB, multicastTtl: 255, checksumOffset: 6, hex: advert, count: 3 });
    const [m] = await results<Received>(rx);
    const got = Buffer.from(m?.data ?? '', 'hex');
    expect(got.length).toBe(advert.length / 2);
    expect(got.readUInt16BE(6)).not.toBe(0);
    // Zero the field and recompute: the kernel's value is the RFC 9568 §5.2.8 checksum.
    const zeroed = Buffer.from(got);
    zeroed.writeUInt16BE(0, 6);
    const addr = (a: string): Uint8Array => ipv6Bytes(a);
    expect(internetChecksum(ipv6PseudoHeader(addr(llB), addr('ff02::12'), 112, zeroed.length), zeroed)).toBe(got.readUInt16BE(6));
    // And the whole datagram sums to zero with its checksum in place.
    expect(internetChecksum(ipv6PseudoHeader(addr(llB), addr('ff02::12'), 112, got.length), got)).toBe(0);
  });
});

describe('PacketSocket', () => {
  it('an ARP request built by hand with a virtual source MAC is seen on the other host, which learns that MAC', async () => {
    const macA = await macOf('a');
    expect(macA).not.toBe(VIRTUAL_MAC);
    const ip4 = (a: string): string => Buffer.from(a.split('.').map(Number)).toString('hex');
    const mac = (m: string): string => m.replaceAll(':', '');
    // Ethernet: broadcast destination, virtual source, EtherType ARP; ARP request (RFC 826):
    // Ethernet/IPv4, opcode 1, sender = virtual MAC + a VIP, target = b's address. (Not a's own
    // address: b would then send a's traffic to a MAC nobody has, and later tests would suffer.)
    const frame =
      'ffffffffffff' + mac(VIRTUAL_MAC) + '0806' +
      '0001' + '0800' + '06' + '04' + '0001' +
      mac(VIRTUAL_MAC) + ip4(VIP) +
      '000000000000' + ip4(lab.hosts.b.addr4);
    const rx = await receiver('b', { mode: 'recv-packet', iface: 'eth0', protocol: 0x0806, count: 1, timeoutMs: 20_000 });
    await send('a', { mode: 'send-packet', iface: 'eth0', hex: frame, count: 1 });
    const [f] = await results<Frame>(rx);
    expect(f).toMatchObject({ protocol: 0x0806, srcMac: VIRTUAL_MAC, pktType: 1 /* PACKET_BROADCAST */ });
    expect(f?.data.slice(0, frame.length)).toBe(frame);
    // b answered the request and keeps the VIP at the virtual MAC in its neighbour table.
    const neigh = await lab.ip('b', ['-j', 'neigh', 'show', VIP, 'dev', 'eth0'], { check: true });
    const entries = JSON.parse(neigh.stdout) as { dst: string; lladdr?: string }[];
    expect(entries.map((e) => e.lladdr)).toContain(VIRTUAL_MAC);
  });
});

describe('TCP MD5 and GTSM between hosts (a BGP session\'s transport)', () => {
  async function listener(args: object): Promise<{ p: LabProcess; port: number }> {
    const p = lab.spawn('a', argv({ mode: 'tcp-listen', iface: 'eth0', timeoutMs: 20_000, ...args }));
    procs.push(p);
    const m = await p.waitForOutput(/^(ready (\d+)|error .*)$/m, { timeoutMs: 30_000 });
    expect(m[2], p.output).toBeDefined();
    return { p, port: Number(m[2]) };
  }

  it('IPv6 link-local peer (zone in the address on the client), with MD5 and GTSM', async () => {
    const [llA, llB] = await Promise.all([linkLocal('a'), linkLocal('b')]);
    const { p, port } = await listener({ host: '::', md5: [{ address: llB, key: 'bgp-ll' }], minTtl: 255 });
    const r = await lab.exec('b', argv({ mode: 'tcp-connect', iface: 'eth0', host: `${llA}%eth0`, port, md5Key: 'bgp-ll', ttl: 255 }), { timeoutMs: 30_000 });
    expect(r.stdout, r.stderr).toMatch(/^echo echo:hi$/m);
    await p.exited;
    expect(p.stdout).toContain(`accepted ${llB}`);
    // The same through createTcpConnection, where Node parses the zone and connects.
    const again = await listener({ host: '::', md5: [{ address: llB, key: 'bgp-ll' }], minTtl: 255 });
    const r2 = await lab.exec('b', argv({ mode: 'tcp-create', iface: 'eth0', host: `${llA}%eth0`, port: again.port, md5Key: 'bgp-ll', ttl: 255 }), { timeoutMs: 30_000 });
    expect(r2.stdout, r2.stderr).toMatch(/^echo echo:hi$/m);
    await again.p.exited;
    expect(again.p.stdout).toContain(`accepted ${llB}`);
  });

  it('IPv4 across the segment: right key and TTL 255 connect; a wrong key or TTL 64 does not', async () => {
    const { p, port } = await listener({ host: '0.0.0.0', md5: [{ address: lab.hosts.b.addr4, key: 'bgp-v4' }], minTtl: 255 });
    const host = lab.hosts.a.addr4;
    const wrongKey = await lab.exec('b', argv({ mode: 'tcp-connect', iface: 'eth0', host, port, md5Key: 'nope', ttl: 255, timeoutMs: 1_000 }));
    expect(wrongKey.stdout).toMatch(/^error TimeoutError ERR_TIMEOUT/m);
    const lowTtl = await lab.exec('b', argv({ mode: 'tcp-connect', iface: 'eth0', host, port, md5Key: 'bgp-v4', ttl: 64, timeoutMs: 1_000 }));
    expect(lowTtl.stdout).toMatch(/^error TimeoutError ERR_TIMEOUT/m);
    const ok = await lab.exec('b', argv({ mode: 'tcp-connect', iface: 'eth0', host, port, md5Key: 'bgp-v4', ttl: 255 }), { timeoutMs: 30_000 });
    expect(ok.stdout, ok.stderr).toMatch(/^echo echo:hi$/m);
    await p.exited;
    expect(p.stdout.match(/^accepted /gm)).toHaveLength(1);
    expect(p.stdout).toContain(`accepted ${lab.hosts.b.addr4}`);
  });
});
