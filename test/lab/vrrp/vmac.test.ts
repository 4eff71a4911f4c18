// Virtual MAC (RFC 9568 §7.3; keepalived's use_vmac) on real Linux: each router puts the virtual
// MAC on a macvlan it makes over rtnetlink, sends adverts and GARP / NA from it and holds the VIP on it.
// What shows it works: the client's neighbour entry for the VIP is the virtual MAC before and after a
// failover (it never changes), while the bridge's forwarding table moves the virtual MAC from one
// router's port to the other's, the VIP sits on the new master's macvlan only, and the client's pings
// are answered by it. Cases: two lvskit routers over IPv4 and IPv6, and lvskit with keepalived
// (use_vmac) over IPv4. 0.2 s adverts keep the file short.

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLab } from '../harness/netlab.js';
import type { Lab, LabProcess } from '../harness/netlab.js';
import { TS_REGISTER, ping, waitFor } from '../harness/probes.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/router.ts', import.meta.url));
type Host = 'r1' | 'r2' | 'client';
const V4 = { vip: '10.56.0.100', vrid: 71, vmac: '00:00:5e:00:01:47', link: 'vrrp.71' };
const V6 = { vip: 'fd00:56::100', linkLocalVip: 'fe80::56:100', vrid: 72, vmac: '00:00:5e:00:02:48', link: 'vrrp6.72' };
const INTERVAL_MS = 200;

let lab: Lab<Host>;
const procs: LabProcess[] = [];
const dir = mkdtempSync(path.join(os.tmpdir(), 'lvskit-vrrp-vmac-'));

beforeAll(async () => {
  const sysctls = { 'net.ipv6.conf.all.keep_addr_on_down': 1 };
  lab = await createLab({
    hosts: {
      r1: { ipv4: ['10.56.0.1/24'], ipv6: ['fd00:56::1/64'], sysctls },
      r2: { ipv4: ['10.56.0.2/24'], ipv6: ['fd00:56::2/64'], sysctls },
      client: { ipv4: ['10.56.0.3/24'], ipv6: ['fd00:56::3/64'] },
    },
  });
  // The bridge floods 224.0.0.18 but would apply MLD snooping to ff02::12.
  await run('ip', ['-n', lab.bridgeNs, 'link', 'set', 'br0', 'type', 'bridge', 'mcast_snooping', '0']);
});

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') for (const p of procs) console.log(`--- ${p.host}: ${p.argv.slice(0, 4).join(' ')}\n${p.output}`);
  await Promise.all(procs.filter((p) => p.running).map((p) => p.stop({ graceMs: 5_000 })));
  procs.length = 0;
  for (const h of ['r1', 'r2'] as const) {
    for (const l of [V4.link, V6.link]) await lab.ip(h, ['link', 'del', l]); // left only by a failed case
  }
});

afterAll(async () => {
  await lab?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

function run(cmd: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, [...args], { timeout: 10_000 }, (err, out, stderr) => (err ? reject(new Error(`${cmd} ${args.join(' ')}: ${stderr}`)) : resolve(out)));
  });
}

async function startLvskit(host: 'r1' | 'r2', priority: number, family: 'ipv4' | 'ipv6'): Promise<LabProcess> {
  const v = family === 'ipv4' ? V4 : V6;
  const instance = {
    name: 'vi',
    interface: 'eth0',
    version: 3,
    family,
    vrid: v.vrid,
    priority,
    advertIntervalMs: INTERVAL_MS,
    addresses: family === 'ipv4' ? [V4.vip] : [V6.linkLocalVip, V6.vip],
    vmac: true,
  };
  const p = lab.spawn(host, [process.execPath, '--import', TS_REGISTER, FIXTURE, JSON.stringify({ instances: [instance] })]);
  procs.push(p);
  await p.waitForOutput(/^(ready|error .*)$/m, { timeoutMs: 60_000 });
  expect(p.stdout, p.output).not.toMatch(/^error /m);
  return p;
}

async function startKeepalived(host: 'r1' | 'r2', priority: number): Promise<LabProcess> {
  const conf = path.join(dir, `keepalived-${host}.conf`);
  writeFileSync(
    conf,
    [
      'global_defs {',
      `  router_id lvskit_vmac_${host}`,
      '}',
      'vrrp_instance VI {',
      '  state BACKUP',
      '  interface eth0',
      '  use_vmac',
      `  virtual_router_id ${V4.vrid}`,
      `  priority ${priority}`,
      `  advert_int ${INTERVAL_MS / 1000}`,
      '  version 3',
      '  virtual_ipaddress {',
      `    ${V4.vip}/32`,
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  const p = lab.spawn(host, [
    'keepalived', '-n', '-l', '-D', '-P',
    '-f', conf,
    '-p', path.join(dir, `keepalived-${host}.pid`),
    '-r', path.join(dir, `keepalived-${host}-vrrp.pid`),
    '-c', path.join(dir, `keepalived-${host}-checkers.pid`),
  ]);
  procs.push(p);
  await p.waitForOutput(/\(VI\) Entering BACKUP STATE|\(VI\) Entering MASTER STATE/, { timeoutMs: 30_000 });
  return p;
}

/** The router whose macvlan holds `vip` (and exactly one does), or undefined. */
async function holder(vip: string, link: string): Promise<'r1' | 'r2' | undefined> {
  const on: ('r1' | 'r2')[] = [];
  for (const h of ['r1', 'r2'] as const) {
    const r = await lab.ip(h, ['-j', 'address', 'show', 'dev', link]);
    if (r.code !== 0) continue; // no macvlan (yet)
    if ((JSON.parse(r.stdout) as { addr_info: { local: string }[] }[]).some((l) => l.addr_info.some((i) => i.local === vip))) on.push(h);
  }
  return on.length === 1 ? on[0] : undefined;
}

/** The bridge port the virtual MAC was last learned on (`v-r1` / `v-r2`). */
async function fdbPort(mac: string): Promise<string | undefined> {
  const out = await run('bridge', ['-n', lab.bridgeNs, '-j', 'fdb', 'show', 'br', 'br0']);
  return (JSON.parse(out) as { mac: string; ifname: string; state?: string }[]).find((e) => e.mac === mac && e.state !== 'permanent')?.ifname;
}

async function clientNeighbour(vip: string): Promise<string | undefined> {
  const r = await lab.ip('client', ['-j', 'neigh', 'show', vip, 'dev', 'eth0'], { check: true });
  return (JSON.parse(r.stdout) as { lladdr?: string }[])[0]?.lladdr;
}

async function realMac(host: Host): Promise<string> {
  const r = await lab.ip(host, ['-j', 'link', 'show', 'dev', 'eth0'], { check: true });
  return (JSON.parse(r.stdout) as { address: string }[])[0]?.address ?? '';
}

/** Wait until `host` alone holds the VIP on its macvlan, the bridge sends the virtual MAC to it, the client's entry is the virtual MAC and pings answer. */
async function servedBy(host: 'r1' | 'r2', v: { vip: string; vmac: string; link: string }, what: string): Promise<void> {
  await waitFor(async () => (await holder(v.vip, v.link)) === host, { timeoutMs: 15_000, what: `${what}: ${v.vip} on ${host}'s ${v.link} only` });
  await waitFor(async () => (await fdbPort(v.vmac)) === `v-${host}`, { timeoutMs: 10_000, what: `${what}: bridge learns ${v.vmac} on v-${host}` });
  expect(await ping(lab, 'client', v.vip), `${what}: ping ${v.vip}`).toBe(true);
  expect(await clientNeighbour(v.vip), `${what}: client neighbour`).toBe(v.vmac);
  // And on the expected port after the ping. (Not asserted at one instant: a backup that has just
  // started sends its IGMP / MLD reports from its macvlan, which moves the MAC to its port until the
  // master's next advert moves it back.)
  await waitFor(async () => (await fdbPort(v.vmac)) === `v-${host}`, { timeoutMs: 5_000, what: `${what}: ${v.vmac} still on v-${host}` });
}

describe('virtual MAC through a macvlan', () => {
  for (const family of ['ipv4', 'ipv6'] as const) {
    it(`two lvskit routers, ${family}: the client keeps the virtual MAC across a failover while the bridge moves it to the new master`, async () => {
      const v = family === 'ipv4' ? V4 : V6;
      const r1 = await startLvskit('r1', 150, family);
      const r2 = await startLvskit('r2', 100, family);
      await servedBy('r1', v, 'startup');
      // The real interfaces never claim the VIP: the client has no entry with either router's own MAC.
      expect([await realMac('r1'), await realMac('r2')]).not.toContain(await clientNeighbour(v.vip));
      // The macvlan carries the virtual MAC on both routers (the backup's sends nothing).
      for (const h of ['r1', 'r2'] as const) {
        const link = (JSON.parse((await lab.ip(h, ['-j', '-d', 'link', 'show', 'dev', v.link], { check: true })).stdout) as { address: string; linkinfo?: { info_kind?: string } }[])[0];
        expect(link?.address).toBe(v.vmac);
        expect(link?.linkinfo?.info_kind).toBe('macvlan');
      }

      // Clean stop of r1: r2 takes over; same MAC for the client, new port on the bridge.
      await r1.stop({ signal: 'SIGTERM', graceMs: 10_000 });
      expect(r1.stdout).toMatch(/^stopped /m);
      await servedBy('r2', v, 'after clean stop');
      // r1 deleted its macvlan on the way out.
      expect((await lab.ip('r1', ['link', 'show', 'dev', v.link])).code).not.toBe(0);

      // r1 returns and preempts: the virtual MAC moves back.
      const r1b = await startLvskit('r1', 150, family);
      await servedBy('r1', v, 'preemption back');
      await r2.waitForOutput(/"to":"backup","reason":"higher-priority"/, { timeoutMs: 5_000 });
      for (const p of [r1b, r2]) expect(p.stdout.split('\n').filter((l) => /^(invalid|transport-error) /.test(l)), p.output).toEqual([]);
      await Promise.all([r1b.stop({ graceMs: 10_000 }), r2.stop({ graceMs: 10_000 })]);
      for (const h of ['r1', 'r2'] as const) expect((await lab.ip(h, ['link', 'show', 'dev', v.link])).code).not.toBe(0);
    });
  }

  it('lvskit and keepalived (use_vmac) share the virtual MAC: keepalived takes over on a clean stop, lvskit back at a lower priority stays backup', async () => {
    // keepalived 2.2.7 sets arp_ignore on the interface under its VMAC but not arp_announce: its
    // master's own ARP requests (resolving the client it answers) name the VIP as sender with the
    // interface's MAC, and the client's entry follows them. The administrator sets it (lvskit does).
    await lab.exec('r2', ['sysctl', '-qw', 'net.ipv4.conf.eth0.arp_announce=2'], { check: true });
    const lvk = await startLvskit('r1', 150, 'ipv4');
    const ka = await startKeepalived('r2', 100);
    await servedBy('r1', V4, 'startup');
    // keepalived hears lvskit's adverts from the macvlan and stays backup.
    const settle = Date.now() + 5 * INTERVAL_MS + 500;
    await waitFor(async () => Date.now() >= settle && (await holder(V4.vip, V4.link)) === 'r1', { timeoutMs: 10_000, what: 'stable' });
    expect(ka.output).not.toMatch(/\(VI\) Entering MASTER STATE/);

    await lvk.stop({ signal: 'SIGTERM', graceMs: 10_000 });
    await servedBy('r2', V4, 'lvskit stopped, keepalived master');
    await ka.waitForOutput(/\(VI\) Entering MASTER STATE/, { timeoutMs: 5_000 });

    // lvskit back with a lower priority: it hears keepalived's adverts on its own macvlan (they carry
    // the same source MAC as its macvlan, which the kernel hands to that macvlan only) and stays backup.
    const lvk2 = await startLvskit('r1', 90, 'ipv4');
    await lvk2.waitForOutput(/"to":"backup"/, { timeoutMs: 5_000 });
    const quiet = Date.now() + 5 * INTERVAL_MS + 500;
    await waitFor(async () => Date.now() >= quiet && (await holder(V4.vip, V4.link)) === 'r2', { timeoutMs: 10_000, what: 'keepalived stays master' });
    expect(lvk2.stdout).not.toMatch(/"to":"master"/);
    await servedBy('r2', V4, 'lvskit back as backup');
    expect(lvk2.stdout.split('\n').filter((l) => /^(invalid|transport-error) /.test(l)), lvk2.output).toEqual([]);
    await Promise.all([lvk2.stop({ graceMs: 10_000 }), ka.stop({ graceMs: 10_000 })]);
  });
});
