// Shared body of the keepalived interop lab tests: one lab per test file (a router running lvskit, a
// router running keepalived, a client), and the same scenarios for each VRRP version and family.
//
// Each scenario starts both daemons, waits until the elections agree, then walks through the faults
// and checks after each that the virtual address is configured on exactly one router (`ip -n <ns>
// addr`) and that the client's neighbour entry for it points at that router's MAC without the client
// sending anything (the new master's gratuitous ARP / unsolicited NA did it):
//   clean stop of the master (priority 0: the backup takes over after Skew_Time, RFC 9568 §6.4.2),
//   the master's return (preemption, RFC 9568 §6.4.2 Preempt_Mode),
//   the master's link cut (the backup takes over after Master_Down_Interval; the cut router's
//   instance goes to fault and drops the address), and the link's return (preemption again).
// With `extras` (the v3 IPv4 file): equal priorities after a split brain (the higher primary address
// wins), forged and malformed adverts from the client (counted, never acted on), unicast peers.
// keepalived runs VRRP only (-P), in the foreground, with its pid files and config in a temp dir of
// its own (the namespaces share /run and /tmp).

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLab } from '../harness/netlab.js';
import type { Lab, LabProcess } from '../harness/netlab.js';
import { TS_REGISTER, ping, waitFor } from '../harness/probes.js';
import { ipBin } from '../harness/core.mjs';
import { encodeAdvert } from '../../../src/vrrp/codec.js';
import type { Advert } from '../../../src/vrrp/codec.js';

const ROUTER_FIXTURE = fileURLToPath(new URL('./fixtures/router.ts', import.meta.url));
const SEND_FIXTURE = fileURLToPath(new URL('./fixtures/send.ts', import.meta.url));

export type Host = 'lvk' | 'ka' | 'client';

export interface InteropCase {
  version: 2 | 3;
  family: 'ipv4' | 'ipv6';
  vrid: number;
  /** Advertisement interval in ms (v2: whole seconds). */
  advertIntervalMs: number;
  /** Third octet / hextet of the lab subnet, unique per file. */
  subnet: number;
  /** Also run: equal priorities (the higher primary address wins, RFC 9568 §6.4.3) and unicast peers. */
  extras?: boolean;
}

type HostAddrs = { ipv4?: string[]; ipv6?: string[]; sysctls?: Record<string, number> };

function addressing(c: InteropCase): Record<Host, HostAddrs> & { vip: string; vipCidr: string; linkLocalVip?: string } {
  if (c.family === 'ipv4') {
    const net = `10.${c.subnet}.0`;
    return {
      lvk: { ipv4: [`${net}.1/24`] },
      ka: { ipv4: [`${net}.2/24`] },
      client: { ipv4: [`${net}.3/24`] },
      vip: `${net}.100`,
      vipCidr: `${net}.100/32`,
    };
  }
  const net = `fd00:${c.subnet}:`;
  // A cut link flushes a host's IPv6 addresses unless keep_addr_on_down is set (what a managed
  // host's network config brings back by itself); the lab keeps them so the routers' own addresses
  // survive the link-cut scenario.
  const sysctls = { 'net.ipv6.conf.all.keep_addr_on_down': 1 };
  return {
    lvk: { ipv6: [`${net}:1/64`], sysctls },
    ka: { ipv6: [`${net}:2/64`], sysctls },
    client: { ipv6: [`${net}:3/64`] },
    vip: `${net}:100`,
    vipCidr: `${net}:100/128`,
    // RFC 9568 §5.2.9: an IPv6 virtual router's first address is link-local.
    linkLocalVip: `fe80::${c.subnet}:100`,
  };
}

/** Run `ip` in the root namespace, bounded (only to reach into the lab's bridge namespace). */
function ipRoot(args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(ipBin(), [...args], { timeout: 10_000 }, (err, _out, stderr) => (err ? reject(new Error(`ip ${args.join(' ')}: ${stderr}`)) : resolve()));
  });
}

export function interopSuite(c: InteropCase): void {
  const label = `VRRPv${c.version} ${c.family === 'ipv4' ? 'IPv4' : 'IPv6'}`;
  const a = addressing(c);
  const VIP = a.vip;
  const dir = mkdtempSync(path.join(os.tmpdir(), `lvskit-vrrp-v${c.version}-${c.family}-`));
  let lab: Lab<Host>;
  const procs: LabProcess[] = [];
  const macs: Partial<Record<Host, string>> = {};
  let kaRuns = 0;
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    lab = await createLab({ hosts: { lvk: a.lvk, ka: a.ka, client: a.client } });
    // The bridge floods 224.0.0.18 (link-local multicast) but would apply MLD snooping to ff02::12.
    await ipRoot(['-n', lab.bridgeNs, 'link', 'set', 'br0', 'type', 'bridge', 'mcast_snooping', '0']);
    for (const h of ['lvk', 'ka', 'client'] as const) {
      const r = await lab.ip(h, ['-j', 'link', 'show', 'dev', 'eth0'], { check: true });
      macs[h] = (JSON.parse(r.stdout) as { address: string }[])[0]?.address ?? '';
    }
  });

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop({ graceMs: 3_000 })));
    await lab?.destroy();
    rmSync(dir, { recursive: true, force: true });
    console.log(`${label} timings (ms): ${JSON.stringify(timings)}`);
  });

  // A failed scenario must not leave its daemons, a cut link or a VIP to the next one.
  afterEach(async (ctx) => {
    if (ctx.task.result?.state === 'fail') {
      for (const p of procs) console.log(`--- ${p.host}: ${p.argv.slice(0, 4).join(' ')}\n${p.output}`);
      console.log(`holders: ${(await holders()).join(',')}`);
    }
    await Promise.all(procs.filter((p) => p.running).map((p) => p.stop({ graceMs: 5_000 })));
    for (const h of ['lvk', 'ka'] as const) {
      await lab.ip(h, ['link', 'set', 'dev', 'eth0', 'up']);
      if ((await holders()).includes(h)) {
        await lab.ip(h, ['address', 'del', a.vipCidr, 'dev', 'eth0']);
        if (a.linkLocalVip !== undefined) await lab.ip(h, ['address', 'del', `${a.linkLocalVip}/64`, 'dev', 'eth0']);
      }
    }
    procs.length = 0;
  });

  /** Start lvskit's router in the `lvk` namespace; resolves once it runs. */
  async function startLvskit(priority: number, opts: { unicast?: boolean } = {}): Promise<LabProcess> {
    const instance = {
      name: 'vi',
      interface: 'eth0',
      version: c.version,
      family: c.family,
      vrid: c.vrid,
      priority,
      advertIntervalMs: c.advertIntervalMs,
      addresses: a.linkLocalVip === undefined ? [VIP] : [a.linkLocalVip, VIP],
      ...(opts.unicast === true ? { unicastPeers: [lab.hosts.ka.ipv4[0] ?? lab.hosts.ka.ipv6[0]] } : {}),
    };
    const p = lab.spawn('lvk', [process.execPath, '--import', TS_REGISTER, ROUTER_FIXTURE, JSON.stringify({ instances: [instance] })]);
    procs.push(p);
    await p.waitForOutput(/^(ready|error .*)$/m, { timeoutMs: 60_000 });
    expect(p.stdout, p.output).not.toMatch(/^error /m);
    return p;
  }

  /** Start keepalived (VRRP only, foreground, logging to the console) in the `ka` namespace. */
  async function startKeepalived(priority: number, opts: { unicast?: boolean } = {}): Promise<LabProcess> {
    const n = ++kaRuns;
    const conf = path.join(dir, `keepalived-${n}.conf`);
    const interval = c.advertIntervalMs / 1000;
    writeFileSync(
      conf,
      [
        'global_defs {',
        `  router_id lvskit_lab_${n}`,
        '  enable_script_security',
        '  script_user root',
        '}',
        'vrrp_instance VI {',
        '  state BACKUP',
        '  interface eth0',
        `  virtual_router_id ${c.vrid}`,
        `  priority ${priority}`,
        `  advert_int ${interval}`,
        `  version ${c.version}`,
        ...(opts.unicast === true
          ? [`  unicast_src_ip ${lab.hosts.ka.ipv4[0] ?? lab.hosts.ka.ipv6[0]}`, `  unicast_peer {`, `    ${lab.hosts.lvk.ipv4[0] ?? lab.hosts.lvk.ipv6[0]}`, '  }']
          : []),
        '  virtual_ipaddress {',
        ...(a.linkLocalVip === undefined ? [] : [`    ${a.linkLocalVip}/64`]),
        `    ${a.vipCidr}`,
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    const p = lab.spawn('ka', [
      'keepalived', '-n', '-l', '-D', '-P',
      '-f', conf,
      '-p', path.join(dir, `keepalived-${n}.pid`),
      '-r', path.join(dir, `keepalived-${n}-vrrp.pid`),
      '-c', path.join(dir, `keepalived-${n}-checkers.pid`),
    ]);
    procs.push(p);
    await p.waitForOutput(/\(VI\) Entering BACKUP STATE|\(VI\) Entering MASTER STATE/, { timeoutMs: 30_000 });
    return p;
  }

  /** Hosts holding the VIP now. */
  const allVips = a.linkLocalVip === undefined ? [VIP] : [a.linkLocalVip, VIP];

  /** Hosts holding any of the virtual addresses now, and whether each holds all of them. */
  async function holding(): Promise<{ host: Host; all: boolean }[]> {
    const out: { host: Host; all: boolean }[] = [];
    for (const h of ['lvk', 'ka'] as const) {
      const r = await lab.ip(h, ['-j', 'address', 'show', 'dev', 'eth0'], { check: true });
      const addrs = (JSON.parse(r.stdout) as { addr_info: { local: string }[] }[]).flatMap((l) => l.addr_info.map((i) => i.local));
      const n = allVips.filter((v) => addrs.includes(v)).length;
      if (n > 0) out.push({ host: h, all: n === allVips.length });
    }
    return out;
  }

  /** Hosts holding any virtual address now. */
  async function holders(): Promise<Host[]> {
    return (await holding()).map((x) => x.host);
  }

  /** Wait until exactly `host` holds the virtual addresses, all of them; returns ms waited. */
  async function vipOnlyOn(host: Host, what: string, timeoutMs = 15_000): Promise<number> {
    const t0 = Date.now();
    await waitFor(async () => {
      const h = await holding();
      return h.length === 1 && h[0]?.host === host && h[0].all;
    }, { timeoutMs, intervalMs: 50, what: `${what}: ${allVips.join(', ')} on ${host} only` });
    return Date.now() - t0;
  }

  /** The client's neighbour entry for the VIP. */
  async function clientNeighbour(): Promise<string | undefined> {
    const r = await lab.ip('client', ['-j', 'neigh', 'show', VIP, 'dev', 'eth0'], { check: true });
    const e = (JSON.parse(r.stdout) as { lladdr?: string }[])[0];
    return e?.lladdr;
  }

  /** Wait (without client traffic) until the client's entry points at `host`. */
  async function clientSees(host: Host, what: string, timeoutMs = 10_000): Promise<void> {
    await waitFor(async () => (await clientNeighbour()) === macs[host], { timeoutMs, intervalMs: 50, what: `${what}: client neighbour -> ${host}` });
  }

  /** Whether the VIP answers the client's ping (and so the client has an entry for it). */
  async function clientPings(): Promise<boolean> {
    return ping(lab, 'client', VIP, 5);
  }

  /** ICMP destination-unreachable messages a host has sent (IPv4 /proc/net/snmp, IPv6 /proc/net/snmp6 parameter problems). */
  async function icmpUnreachSent(host: Host): Promise<number> {
    if (c.family === 'ipv6') {
      const snmp6 = (await lab.exec(host, ['cat', '/proc/net/snmp6'], { check: true })).stdout;
      return Number(/^Icmp6OutParmProblems\s+(\d+)$/m.exec(snmp6)?.[1]);
    }
    const snmp = (await lab.exec(host, ['cat', '/proc/net/snmp'], { check: true })).stdout.split('\n');
    const heads = snmp.find((l) => l.startsWith('Icmp: ') && l.includes('OutDestUnreachs'))?.split(/\s+/) ?? [];
    const values = snmp.find((l) => l.startsWith('Icmp: ') && !l.includes('OutDestUnreachs'))?.split(/\s+/) ?? [];
    return Number(values[heads.indexOf('OutDestUnreachs')]);
  }

  function linkDown(host: Host): Promise<unknown> {
    return lab.ip(host, ['link', 'set', 'dev', 'eth0', 'down'], { check: true });
  }

  async function linkUp(host: Host): Promise<void> {
    await lab.ip(host, ['link', 'set', 'dev', 'eth0', 'up'], { check: true });
    if (c.family === 'ipv6') {
      // The link-local address comes back (the same one, from the MAC) once the link is up.
      await waitFor(async () => {
        const r = await lab.ip(host, ['-j', 'address', 'show', 'dev', 'eth0'], { check: true });
        const info = (JSON.parse(r.stdout) as { addr_info: { local: string; scope: string; tentative?: boolean }[] }[]).flatMap((l) => l.addr_info);
        return info.some((i) => i.scope === 'link' && i.tentative !== true);
      }, { timeoutMs: 10_000, what: `${host} link-local address back` });
    }
  }

  function lines(p: LabProcess, prefix: string): string[] {
    return p.stdout.split('\n').filter((l) => l.startsWith(`${prefix} `));
  }

  /** Nothing either side discarded as invalid (checksum, TTL, version: keepalived would restart its timer on them). */
  function noInvalid(lvk: LabProcess, ka: LabProcess): void {
    expect(lines(lvk, 'invalid'), lvk.output).toEqual([]);
    // While the link is cut, sending fails (the fault's priority 0 advert: ENETUNREACH for IPv4,
    // EINVAL for IPv6 whose link-local source is unusable); nothing else may fail.
    let down = false;
    const unexpected: string[] = [];
    for (const l of lvk.stdout.split('\n')) {
      if (l.includes('"msg":"link eth0 down"')) down = true;
      else if (l.includes('"msg":"link eth0 up"')) down = false;
      else if (l.startsWith('transport-error ') && !(down && l.includes('"op":"sendAdvert"'))) unexpected.push(l);
    }
    expect(unexpected, lvk.output).toEqual([]);
    expect(ka.output, ka.output).not.toMatch(/invalid checksum|bad checksum|ttl|wrong version|received an invalid|vrrp_check_packet|ip payload too short/i);
  }

  const lvkMaster = 150;
  const backup = 100;

  describe(`${label} against keepalived ${'(lvskit master, keepalived backup)'}`, () => {
    it('elections agree; clean stop, preemption, link cut and return each leave the VIP on exactly one router, and the client follows', async () => {
      let lvk = await startLvskit(lvkMaster);
      const ka = await startKeepalived(backup);
      await vipOnlyOn('lvk', 'startup', 20_000);
      await lvk.waitForOutput(/"to":"master"/, { timeoutMs: 10_000 });
      expect(await clientPings()).toBe(true);
      expect(await clientNeighbour()).toBe(macs.lvk);
      // Stable: keepalived stays backup for a few intervals (it accepts our adverts).
      const settle = Date.now() + Math.max(2_000, 4 * c.advertIntervalMs);
      await waitFor(async () => Date.now() >= settle && (await holders()).join() === 'lvk', { timeoutMs: settle - Date.now() + 10_000, what: 'stable mastership' });
      expect(ka.output).not.toMatch(/\(VI\) Entering MASTER STATE/);
      noInvalid(lvk, ka);

      // Clean stop: priority 0, keepalived takes over after Skew_Time; we removed the VIP.
      // Timed from the signal, not from the process's exit.
      const t0 = Date.now();
      const lvkExit = lvk.stop({ signal: 'SIGTERM', graceMs: 10_000 });
      await vipOnlyOn('ka', 'after clean stop');
      timings['lvskit clean stop -> keepalived holds VIP'] = Date.now() - t0;
      await lvkExit;
      expect(lvk.stdout).toMatch(/^stopped /m);
      await clientSees('ka', 'after clean stop');
      expect(timings['lvskit clean stop -> keepalived holds VIP']).toBeLessThan(3 * c.advertIntervalMs + 2_500);

      // Return: lvskit preempts (its Master_Down_Interval, then adverts at 150); keepalived steps down.
      lvk = await startLvskit(lvkMaster);
      const t1 = Date.now();
      await vipOnlyOn('lvk', 'preemption back', 20_000);
      timings['lvskit restart -> preempted'] = Date.now() - t1;
      await clientSees('lvk', 'preemption back');
      await ka.waitForOutput(/\(VI\) Entering BACKUP STATE[\s\S]*\(VI\) Entering MASTER STATE[\s\S]*\(VI\) Entering BACKUP STATE/, { timeoutMs: 10_000 });

      // Link cut on lvskit's router: keepalived takes over after Master_Down_Interval; lvskit's
      // instance goes to fault (it tracks its link) and drops the VIP.
      const t2 = Date.now();
      await linkDown('lvk');
      await vipOnlyOn('ka', 'after link cut');
      timings['lvskit link cut -> keepalived holds VIP'] = Date.now() - t2;
      await clientSees('ka', 'after link cut');
      await lvk.waitForOutput(/"reason":"fault"/, { timeoutMs: 10_000 });

      // Link back: lvskit preempts again.
      const t3 = Date.now();
      await linkUp('lvk');
      await vipOnlyOn('lvk', 'after link return', 20_000);
      timings['lvskit link return -> preempted'] = Date.now() - t3;
      await clientSees('lvk', 'after link return');
      expect(await clientPings()).toBe(true);
      noInvalid(lvk, ka);

      await Promise.all([lvk.stop({ graceMs: 10_000 }), ka.stop({ graceMs: 10_000 })]);
      expect(await holders()).toEqual([]);
    });
  });

  describe(`${label} against keepalived (keepalived master, lvskit backup)`, () => {
    it('elections agree; clean stop, preemption, link cut and return each leave the VIP on exactly one router, and the client follows', async () => {
      let ka = await startKeepalived(lvkMaster);
      const lvk = await startLvskit(backup);
      await vipOnlyOn('ka', 'startup', 20_000);
      await lvk.waitForOutput(/"to":"backup"/, { timeoutMs: 10_000 });
      expect(await clientPings()).toBe(true);
      expect(await clientNeighbour()).toBe(macs.ka);
      const settle = Date.now() + Math.max(2_000, 4 * c.advertIntervalMs);
      await waitFor(async () => Date.now() >= settle && (await holders()).join() === 'ka', { timeoutMs: settle - Date.now() + 10_000, what: 'stable mastership' });
      expect(lvk.stdout).not.toMatch(/"to":"master"/);
      noInvalid(lvk, ka);

      // Clean stop of keepalived: its priority 0 advert; lvskit takes over after Skew_Time.
      const t0 = Date.now();
      const kaExit = ka.stop({ signal: 'SIGTERM', graceMs: 10_000 });
      await vipOnlyOn('lvk', 'after clean stop');
      timings['keepalived clean stop -> lvskit holds VIP'] = Date.now() - t0;
      await kaExit;
      await lvk.waitForOutput(/"reason":"master-stopped"/, { timeoutMs: 5_000 });
      await clientSees('lvk', 'after clean stop');
      expect(timings['keepalived clean stop -> lvskit holds VIP']).toBeLessThan(3 * c.advertIntervalMs + 2_500);

      // keepalived returns and preempts; lvskit steps down and removes the VIP.
      const t1 = Date.now();
      ka = await startKeepalived(lvkMaster);
      await vipOnlyOn('ka', 'preemption back', 20_000);
      timings['keepalived restart -> preempted'] = Date.now() - t1;
      await clientSees('ka', 'preemption back');
      await lvk.waitForOutput(/"reason":"higher-priority"/, { timeoutMs: 5_000 });

      // Link cut on keepalived's router: lvskit takes over after Master_Down_Interval.
      const t2 = Date.now();
      await linkDown('ka');
      await vipOnlyOn('lvk', 'after link cut');
      timings['keepalived link cut -> lvskit holds VIP'] = Date.now() - t2;
      await lvk.waitForOutput(/"reason":"master-down"/, { timeoutMs: 5_000 });
      await clientSees('lvk', 'after link cut');

      // Link back: keepalived preempts.
      const t3 = Date.now();
      await linkUp('ka');
      await vipOnlyOn('ka', 'after link return', 20_000);
      timings['keepalived link return -> preempted'] = Date.now() - t3;
      await clientSees('ka', 'after link return');
      expect(await clientPings()).toBe(true);
      noInvalid(lvk, ka);

      await Promise.all([lvk.stop({ graceMs: 10_000 }), ka.stop({ graceMs: 10_000 })]);
      expect(await holders()).toEqual([]);
    });
  });

  if (c.extras === true) {
    describe(`${label} against keepalived: equal priorities, forged adverts, unicast peers`, () => {
      it('equal priorities after a split brain: the higher primary address stays master, the other yields (RFC 9568 §6.4.3)', async () => {
        // A Backup never preempts an equal-priority master (RFC 9568 §6.4.2), so the tie break only
        // shows when both are master: cut keepalived off the segment at the bridge (its port taken out, the
        // carrier stays up), let both take the VIP, then heal.
        const port = (attached: boolean): Promise<void> => ipRoot(['-n', lab.bridgeNs, 'link', 'set', 'dev', 'v-ka', ...(attached ? ['master', 'br0'] : ['nomaster'])]);
        await port(false); // out of the bridge: keepalived's veth keeps its carrier, its frames go nowhere
        try {
          const lvk = await startLvskit(backup);
          const ka = await startKeepalived(backup);
          await waitFor(async () => (await holders()).join() === 'lvk,ka', { timeoutMs: 20_000, what: 'split brain: both hold the VIP' });
          await lvk.waitForOutput(/"to":"master"/, { timeoutMs: 5_000 });
          const t0 = Date.now();
          await port(true);
          // keepalived's address (.2) is higher than lvskit's (.1): lvskit yields and drops the VIP.
          await vipOnlyOn('ka', 'split brain healed', 15_000);
          timings['split brain heal -> one master'] = Date.now() - t0;
          await lvk.waitForOutput(/"reason":"higher-priority"/, { timeoutMs: 5_000 });
          expect(await clientPings()).toBe(true);
          await clientSees('ka', 'split brain healed');
          // Stable afterwards: lvskit stays backup.
          const settle = Date.now() + Math.max(2_000, 4 * c.advertIntervalMs);
          await waitFor(async () => Date.now() >= settle && (await holders()).join() === 'ka', { timeoutMs: settle - Date.now() + 10_000, what: 'stable mastership' });
          expect(lines(lvk, 'transition').filter((l) => l.includes('"to":"master"')), lvk.output).toHaveLength(1);
          noInvalid(lvk, ka);
          await Promise.all([lvk.stop({ graceMs: 10_000 }), ka.stop({ graceMs: 10_000 })]);
          expect(await holders()).toEqual([]);
        } finally {
          await port(true).catch(() => {});
        }
      });

      it('forged and malformed adverts from another host are counted and never acted on, by lvskit or keepalived', async () => {
        const ka = await startKeepalived(lvkMaster);
        const lvk = await startLvskit(backup);
        await vipOnlyOn('ka', 'startup', 20_000);
        await lvk.waitForOutput(/"to":"backup"/, { timeoutMs: 10_000 });
        const group = c.family === 'ipv4' ? '224.0.0.18' : 'ff02::12';
        const src = lab.hosts.client.ipv4[0] as string;
        const stop: Advert = { version: 3, family: 'ipv4', vrid: c.vrid, priority: 0, maxAdvertIntervalCs: c.advertIntervalMs / 10, addresses: [VIP] };
        const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
        const good = encodeAdvert(stop, { src, dst: group });
        const badChecksum = Uint8Array.from(good);
        badChecksum[6] = (badChecksum[6] ?? 0) ^ 0xff; // RFC 9568 §5.2.8: the checksum field
        const v2 = encodeAdvert({ version: 2, family: 'ipv4', vrid: c.vrid, priority: 254, advertIntervalS: 1, addresses: [VIP] });
        const send = async (packets: string[], ttl: number): Promise<void> => {
          const r = await lab.exec('client', [process.execPath, '--import', TS_REGISTER, SEND_FIXTURE, JSON.stringify({ iface: 'eth0', family: 4, dst: group, ttl, packets, count: 3 })], { timeoutMs: 60_000 });
          expect(r.stdout, r.stderr).toMatch(/^sent \d+$/m);
        };
        // A priority 0 "master stopping" advert with a wrong checksum, one with TTL 1 (RFC 9568
        // §7.1: must be 255), a v2 advert to a v3 router, and valid priority 0 adverts for
        // another VRID: each would hand over mastership if it were believed.
        const other = encodeAdvert({ ...stop, vrid: c.vrid + 1 }, { src, dst: group });
        await send([hex(badChecksum), hex(v2), hex(other)], 255);
        await send([hex(good)], 1);
        // Several Master_Down_Intervals later nothing has moved.
        const settle = Date.now() + 4 * c.advertIntervalMs + 1_000;
        await waitFor(async () => Date.now() >= settle && (await holders()).join() === 'ka', { timeoutMs: settle - Date.now() + 10_000, what: 'nothing moved' });
        expect(lines(lvk, 'transition').filter((l) => l.includes('"to":"master"')), lvk.output).toEqual([]);
        expect(ka.output).not.toMatch(/\(VI\) Entering BACKUP STATE[\s\S]*\(VI\) Entering MASTER STATE[\s\S]*\(VI\) Entering BACKUP STATE/);
        // lvskit counted each kind: the wrong checksum, the version, the TTL.
        const reasons = new Set(lines(lvk, 'invalid').map((l) => (JSON.parse(l.slice('invalid '.length)) as { reason: string }).reason));
        expect([...reasons].sort(), lvk.output).toEqual(['checksum', 'ttl', 'version']);
        await Promise.all([lvk.stop({ graceMs: 10_000 }), ka.stop({ graceMs: 10_000 })]);
        const stopped = JSON.parse(/^stopped (.*)$/m.exec(lvk.stdout)?.[1] ?? '[]') as { counters: Record<string, number> }[];
        expect(stopped[0]?.counters, lvk.output).toBeDefined();
        console.log(`${label} lvskit counters after forged adverts: ${JSON.stringify(stopped[0]?.counters)}`);
      });

      it('unicast peers (no multicast): elections agree, clean stop hands over, the client follows, ICMP from a peer without its daemon is harmless', async () => {
        const lvk = await startLvskit(lvkMaster, { unicast: true });
        const ka = await startKeepalived(backup, { unicast: true });
        await vipOnlyOn('lvk', 'unicast startup', 20_000);
        const settle = Date.now() + Math.max(2_000, 4 * c.advertIntervalMs);
        await waitFor(async () => Date.now() >= settle && (await holders()).join() === 'lvk', { timeoutMs: settle - Date.now() + 10_000, what: 'stable mastership' });
        expect(ka.output).not.toMatch(/\(VI\) Entering MASTER STATE/);
        expect(await clientPings()).toBe(true);
        expect(await clientNeighbour()).toBe(macs.lvk);
        noInvalid(lvk, ka);
        const t0 = Date.now();
        await lvk.stop({ signal: 'SIGTERM', graceMs: 10_000 });
        await vipOnlyOn('ka', 'unicast clean stop');
        timings['unicast: lvskit clean stop -> keepalived holds VIP'] = Date.now() - t0;
        await clientSees('ka', 'unicast clean stop');
        // keepalived's adverts now reach a host with nothing listening on protocol 112 (ICMP
        // protocol unreachable comes back); its restart must still work.
        const lvk2 = await startLvskit(lvkMaster, { unicast: true });
        await vipOnlyOn('lvk', 'unicast preemption back', 20_000);
        await clientSees('lvk', 'unicast preemption back');
        noInvalid(lvk2, ka);
        // Now keepalived goes away: lvskit's unicast adverts draw ICMP protocol unreachable from
        // its host, and lvskit must keep sending (no failed sends, still master, VIP kept).
        await ka.stop({ graceMs: 10_000 });
        const unreachBefore = await icmpUnreachSent('ka');
        const quiet = Date.now() + 4 * c.advertIntervalMs + 500;
        await waitFor(async () => Date.now() >= quiet && (await holders()).join() === 'lvk', { timeoutMs: quiet - Date.now() + 10_000, what: 'lvskit alone' });
        // The ICMP errors really went back to lvskit's host.
        expect(await icmpUnreachSent('ka')).toBeGreaterThan(unreachBefore);
        const ka2 = await startKeepalived(backup, { unicast: true });
        // keepalived hears lvskit at once and stays backup.
        const settle2 = Date.now() + Math.max(2_000, 4 * c.advertIntervalMs);
        await waitFor(async () => Date.now() >= settle2 && (await holders()).join() === 'lvk', { timeoutMs: settle2 - Date.now() + 10_000, what: 'stable mastership' });
        expect(ka2.output).not.toMatch(/\(VI\) Entering MASTER STATE/);
        noInvalid(lvk2, ka2);
        expect(lines(lvk2, 'transport-error'), lvk2.output).toEqual([]);
        await Promise.all([lvk2.stop({ graceMs: 10_000 }), ka2.stop({ graceMs: 10_000 })]);
        expect(await holders()).toEqual([]);
      });
    });
  }
}
