// Accept_Mode off (RFC 9568 §6.1) with several processes in one network namespace. Each process's
// AcceptFilter has its own nftables tables (`lvskit_vrrp_<pid>_<netlink port>`, made with
// NFT_TABLE_F_OWNER), so two `accept: false` routers on one host both drop packets to their own
// VIPs; one stopping cleanly (SIGTERM) or being killed (SIGKILL) takes only its own rules with it
// (the kernel deletes an owned table when its socket closes), and the other's VIPs stay dropped.
// The tables are read back over nfnetlink (a GETTABLE dump inside the namespace; no `nft` binary).

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { LabProcess } from '../harness/netlab.js';
import { ping, waitFor } from '../harness/probes.js';
import { useRouterLab } from './fixtures/router-lab.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const A4 = '10.60.0.100';
const A6 = 'fd00:60::100';
const B4 = '10.60.0.101';
type Host = 'r1' | 'client';

let r1Mac = '';
const env = useRouterLab<Host>({
  name: 'accept-multi',
  hosts: { r1: { ipv4: ['10.60.0.1/24'], ipv6: ['fd00:60::1/64'] }, client: { ipv4: ['10.60.0.3/24'], ipv6: ['fd00:60::3/64'] } },
  setup: async () => {
    r1Mac = await env.mac('r1');
  },
});

// nftables tables of r1's namespace: NFT_MSG_GETTABLE (NFNL_SUBSYS_NFTABLES 10 << 8 | 1) dumped over
// NETLINK_NETFILTER (12); each NFT_MSG_NEWTABLE reply carries nfgenmsg (family) and NFTA_TABLE_NAME (1),
// NFTA_TABLE_FLAGS (2, big-endian u32).
const DUMP_TABLES_JS = `
const nl = require(process.argv[1]);
const s = new nl.RawNetlinkSocket(12, {});
const req = Buffer.alloc(20);
req.writeUInt32LE(20, 0); req.writeUInt16LE((10 << 8) | 1, 4); req.writeUInt16LE(0x1 | 0x300, 6); req.writeUInt32LE(1, 8);
const out = [];
setTimeout(() => { console.error('no answer'); process.exit(1); }, 3000).unref();
s.on('message', (buf) => {
  for (let o = 0; o + 16 <= buf.length; ) {
    const len = buf.readUInt32LE(o), type = buf.readUInt16LE(o + 4);
    if (len < 16) break;
    if (type === 3) { console.log(JSON.stringify(out)); process.exit(0); }
    if (type === 2) { console.error('error ' + buf.readInt32LE(o + 16)); process.exit(1); }
    if (type === (10 << 8)) {
      const t = { family: buf[o + 16] === 2 ? 'ip' : buf[o + 16] === 10 ? 'ip6' : String(buf[o + 16]), name: '', flags: 0 };
      for (let a = o + 20; a + 4 <= o + len; ) {
        const al = buf.readUInt16LE(a), at = buf.readUInt16LE(a + 2) & 0x3fff;
        if (al < 4) break;
        if (at === 1) t.name = buf.toString('utf8', a + 4, a + al).replace(/\\0+$/, '');
        if (at === 2) t.flags = buf.readUInt32BE(a + 4);
        a += (al + 3) & ~3;
      }
      out.push(t);
    }
    o += (len + 3) & ~3;
  }
});
s.send(req);
`;

async function tables(): Promise<{ family: string; name: string; flags: number }[]> {
  const r = await env.lab.exec('r1', [process.execPath, '-e', DUMP_TABLES_JS, path.join(ROOT, 'node_modules/netlink')], { timeoutMs: 10_000, check: true });
  return JSON.parse(r.stdout) as { family: string; name: string; flags: number }[];
}

/** `family name` of the lvskit tables of process `pid`. */
async function tablesOf(pid: number): Promise<string[]> {
  return (await tables())
    .filter((t) => t.name.startsWith(`lvskit_vrrp_${pid}_`))
    .map((t) => {
      // NFT_TABLE_F_OWNER (2): the kernel deletes the table with its socket.
      expect(t.flags & 2, `${t.family} ${t.name} owner flag`).toBe(2);
      return t.family;
    })
    .sort();
}

async function r1Addresses(): Promise<string[]> {
  const r = await env.lab.ip('r1', ['-j', 'address', 'show', 'dev', 'eth0'], { check: true });
  return (JSON.parse(r.stdout) as { addr_info: { local: string }[] }[]).flatMap((l) => l.addr_info.map((i) => i.local));
}

/** An `accept: false` router on r1 with `instances`; resolves once it holds their VIPs. */
async function start(instances: { name: string; family: 'ipv4' | 'ipv6'; vrid: number; addresses: string[] }[]): Promise<LabProcess> {
  const full = instances.map((i) => ({ ...i, interface: 'eth0', version: 3, priority: 150, advertIntervalMs: 200, accept: false }));
  const p = await env.startRouter('r1', { instances: full });
  const vips = instances.flatMap((i) => i.addresses).filter((a) => !a.startsWith('fe80:'));
  await waitFor(async () => {
    const have = await r1Addresses();
    return vips.every((v) => have.includes(v));
  }, { timeoutMs: 15_000, what: `${vips.join(', ')} on r1` });
  return p;
}

/** One echo request, one second to answer, after forgetting the neighbour entry. */
async function pingOnce(addr: string): Promise<boolean> {
  await env.lab.ip('client', ['neigh', 'flush', 'dev', 'eth0']);
  return (await env.lab.exec('client', ['ping', '-n', '-c1', '-W1', addr], { timeoutMs: 5_000 })).code === 0;
}

async function neighbour(addr: string): Promise<string | undefined> {
  const r = await env.lab.ip('client', ['-j', 'neigh', 'show', addr, 'dev', 'eth0'], { check: true });
  return (JSON.parse(r.stdout) as { lladdr?: string }[])[0]?.lladdr;
}

async function dropped(addr: string): Promise<boolean> {
  const answered = await pingOnce(addr);
  // Resolved to r1 (so the silence is the rule, not a missing address).
  expect(await neighbour(addr), `neighbour ${addr}`).toBe(r1Mac);
  return !answered;
}

describe('Accept_Mode off, several processes in one namespace', () => {
  it('each process keeps its own tables; a clean stop or a SIGKILL of one leaves the other\'s rules in place', async () => {
    const a = await start([
      { name: 'a4', family: 'ipv4', vrid: 85, addresses: [A4] },
      { name: 'a6', family: 'ipv6', vrid: 86, addresses: ['fe80::60:100', A6] },
    ]);
    let b = await start([{ name: 'b4', family: 'ipv4', vrid: 87, addresses: [B4] }]);
    expect(await tablesOf(a.pid)).toEqual(['ip', 'ip6']);
    expect(await tablesOf(b.pid)).toEqual(['ip']);
    // r1 itself answers, so an unanswered ping below is a rule, not the path.
    expect(await ping(env.lab, 'client', env.lab.hosts.r1.addr4)).toBe(true);
    expect(await ping(env.lab, 'client', env.lab.hosts.r1.addr6)).toBe(true);
    // Both processes' VIPs are dropped (with one shared table, b's start replaced a's rules).
    for (const vip of [A4, A6, B4]) expect(await dropped(vip), `${vip} dropped with a and b running`).toBe(true);

    // b stops cleanly: its VIP and tables go, a's rules stay.
    expect((await b.stop({ signal: 'SIGTERM', graceMs: 10_000 })).code).toBe(0);
    expect(await tablesOf(b.pid)).toEqual([]);
    expect(await tablesOf(a.pid)).toEqual(['ip', 'ip6']);
    expect(await r1Addresses()).not.toContain(B4);
    for (const vip of [A4, A6]) expect(await dropped(vip), `${vip} dropped after b's clean stop`).toBe(true);

    // b again, then SIGKILL: no handler runs, its VIP stays on eth0 (a killed daemon is not a dead
    // host), but the kernel deletes its owned tables with its socket: the VIP now answers. a's
    // rules are untouched.
    b = await start([{ name: 'b4', family: 'ipv4', vrid: 87, addresses: [B4] }]);
    expect(await tablesOf(b.pid)).toEqual(['ip']);
    expect(await dropped(B4)).toBe(true);
    expect((await b.stop({ signal: 'SIGKILL' })).signal).toBe('SIGKILL');
    await waitFor(async () => (await tablesOf(b.pid)).length === 0, { timeoutMs: 5_000, what: `tables of killed pid ${b.pid} gone` });
    expect(await r1Addresses()).toContain(B4);
    expect(await ping(env.lab, 'client', B4)).toBe(true);
    expect(await tablesOf(a.pid)).toEqual(['ip', 'ip6']);
    for (const vip of [A4, A6]) expect(await dropped(vip), `${vip} dropped after b was killed`).toBe(true);
    await env.lab.ip('r1', ['address', 'del', `${B4}/32`, 'dev', 'eth0'], { check: true });

    // a stops cleanly: nothing of lvskit's is left in the namespace.
    expect((await a.stop({ signal: 'SIGTERM', graceMs: 10_000 })).code).toBe(0);
    expect((await tables()).filter((t) => t.name.startsWith('lvskit_vrrp'))).toEqual([]);
    expect(await ping(env.lab, 'client', env.lab.hosts.r1.addr4)).toBe(true);
    for (const p of [a, b]) expect(p.stdout.split('\n').filter((l) => /^(invalid|transport-error|stop-error) /.test(l)), p.output).toEqual([]);
  });
});
