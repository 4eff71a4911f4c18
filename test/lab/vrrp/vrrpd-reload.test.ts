// examples/vrrpd's SIGHUP reload against a second vrrpd, both real processes in namespaces on one
// bridge (`node examples/vrrpd/vrrpd.mjs <file>`, the built package through its exports map). r1's
// file changes under it while tcpdump on the client records every advert:
// - `web` is unchanged: no transition on either router, its VIP never leaves r1, and r1's adverts
//   for it keep coming (the largest gap stays under Master_Down_Interval, so no backup could have
//   taken over; the figure is printed);
// - `db` drops to priority 90 (r2 has 100): r1's next advert carries 90 and r2 preempts;
// - `old` is removed: r1 sends priority 0 and drops the VIP, r2 takes over after Skew_Time;
// - `new` is added at priority 200: r1 starts it and preempts r2, which ran it alone;
// - `vips` gets a second address: r1 adds and announces it in place (no transition) and advertises
//   both; clients reach it;
// then two broken files (a bad value, an unknown interface) are refused with file:line:column and
// key, nothing changes, and both daemons stop cleanly.

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { LabProcess } from '../harness/netlab.js';
import { ROOT, useRouterLab } from './fixtures/router-lab.js';
import { ping, waitFor } from '../harness/probes.js';

const VRRPD = path.join(ROOT, 'examples/vrrpd/vrrpd.mjs');
const NET = '10.61.0';
const R1 = `${NET}.1`;
const INTERVAL_MS = 200;
type Host = 'r1' | 'r2' | 'client';

const env = useRouterLab<Host>({
  name: 'vrrpd-reload',
  hosts: { r1: { ipv4: [`${R1}/24`] }, r2: { ipv4: [`${NET}.2/24`] }, client: { ipv4: [`${NET}.3/24`] } },
  needsDist: true,
});
const { dir } = env;

interface Inst {
  name: string;
  vrid: number;
  priority: number;
  addresses: string[];
  iface?: string;
  accept?: boolean;
}

function writeConfig(file: string, instances: Inst[]): void {
  const lines = ['log_level: info', 'instances:'];
  for (const i of instances) {
    lines.push(`  - name: ${i.name}`, `    interface: ${i.iface ?? 'eth0'}`, `    vrid: ${i.vrid}`, `    priority: ${i.priority}`, `    advert_interval: ${INTERVAL_MS}ms`, `    addresses: [${i.addresses.join(', ')}]`);
    if (i.accept !== undefined) lines.push(`    accept: ${i.accept}`);
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
}

const web = (priority: number): Inst => ({ name: 'web', vrid: 101, priority, addresses: [`${NET}.100`] });
const db = (priority: number): Inst => ({ name: 'db', vrid: 102, priority, addresses: [`${NET}.102`] });
const old = (priority: number): Inst => ({ name: 'old', vrid: 103, priority, addresses: [`${NET}.103`] });
const fresh = (priority: number): Inst => ({ name: 'new', vrid: 104, priority, addresses: [`${NET}.104`] });
const vips = (priority: number, addresses = [`${NET}.105`]): Inst => ({ name: 'vips', vrid: 105, priority, addresses });
const acc = (priority: number, accept: boolean): Inst => ({ name: 'acc', vrid: 106, priority, addresses: [`${NET}.107`], accept });

async function holders(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const h of ['r1', 'r2'] as const) {
    const r = await env.lab.ip(h, ['-j', 'address', 'show', 'dev', 'eth0'], { check: true });
    for (const l of JSON.parse(r.stdout) as { addr_info: { local: string }[] }[]) {
      for (const a of l.addr_info) if (a.local.startsWith(`${NET}.1`) && a.local !== R1) out[a.local] = out[a.local] === undefined ? h : `${out[a.local]},${h}`;
    }
  }
  return out;
}

const norm = (o: Record<string, string>): string => JSON.stringify(Object.entries(o).sort());

/** pino lines of a process's stdout. */
function logs(p: LabProcess): { level: number; msg: string; [k: string]: unknown }[] {
  return p.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: number; msg: string });
}

/** Transitions logged by a daemon (`{ instance, state, reason }`), from log line `from` on. */
function transitions(p: LabProcess, from = 0): string[] {
  return logs(p)
    .slice(from)
    .filter((l) => typeof l.state === 'string' && typeof l.reason === 'string')
    .map((l) => `${String(l.instance)} ${String(l.state)} ${String(l.reason)}`);
}

/** Adverts tcpdump printed: time (s), source, VRID, priority, addresses. */
function adverts(p: LabProcess): { t: number; src: string; vrid: number; prio: number; addrs: string[] }[] {
  const out: { t: number; src: string; vrid: number; prio: number; addrs: string[] }[] = [];
  // `-tt -v` prints the IP header line, then `src > dst: VRRPv3, Advertisement, vrid V, prio P, intvl Ncs, length L, addrs(k): a,b`.
  let t = 0;
  for (const line of p.stdout.split('\n')) {
    const ts = /^(\d+\.\d+) IP /.exec(line);
    if (ts !== null) t = Number(ts[1]);
    const m = /(\d+\.\d+\.\d+\.\d+) > 224\.0\.0\.18: VRRPv3, Advertisement, vrid (\d+), prio (\d+).*?addrs(?:\(\d+\))?: ([\d., ]+)/.exec(line);
    if (m !== null) out.push({ t, src: m[1] as string, vrid: Number(m[2]), prio: Number(m[3]), addrs: (m[4] as string).split(/[, ]+/).filter((a) => a.length > 0) });
  }
  return out;
}

function start(host: 'r1' | 'r2', file: string): LabProcess {
  const p = env.spawn(host, [process.execPath, VRRPD, file]);
  return p;
}

describe('examples/vrrpd SIGHUP reload', () => {
  it('leaves unchanged instances alone, adds, removes, and changes priority and addresses in place; refuses broken files', async () => {
    const f1 = path.join(dir, 'r1.yaml');
    const f2 = path.join(dir, 'r2.yaml');
    writeConfig(f1, [web(150), db(150), old(150), vips(150), acc(150, true)]);
    writeConfig(f2, [web(100), db(100), old(100), fresh(100), vips(100), acc(100, true)]);
    const dump = env.spawn('client', ['tcpdump', '-n', '-l', '-tt', '-v', '-i', 'eth0', 'ip proto 112']);
    await dump.waitForOutput(/listening on eth0/, { timeoutMs: 15_000 });
    const r1 = start('r1', f1);
    const r2 = start('r2', f2);
    await Promise.all([r1, r2].map((p) => p.waitForOutput(/"msg":"vrrpd started"/, { timeoutMs: 30_000 })));
    const before = { [`${NET}.100`]: 'r1', [`${NET}.102`]: 'r1', [`${NET}.103`]: 'r1', [`${NET}.104`]: 'r2', [`${NET}.105`]: 'r1', [`${NET}.107`]: 'r1' };
    await waitFor(async () => norm(await holders()) === norm(before) || undefined, { timeoutMs: 15_000, what: 'initial elections' });
    expect(await ping(env.lab, 'client', `${NET}.107`)).toBe(true); // accept mode on

    // The reload.
    const mark1 = logs(r1).length;
    const mark2 = logs(r2).length;
    const t0 = Date.now() / 1000;
    const reloaded = [web(150), db(90), fresh(200), vips(150, [`${NET}.105`, `${NET}.106`]), acc(150, false)];
    writeConfig(f1, reloaded);
    process.kill(r1.pid, 'SIGHUP');
    await r1.waitForOutput(/"msg":"reloaded"/, { timeoutMs: 15_000 });
    const report = logs(r1).find((l) => l.msg === 'reloaded');
    expect(report).toMatchObject({
      added: ['instance:new'],
      removed: ['instance:old'],
      restarted: [],
      changed: [
        { instance: 'db', keys: ['priority'] },
        { instance: 'vips', keys: ['addresses'] },
        { instance: 'acc', keys: ['accept'] },
      ],
      unchanged: ['instance:web'],
      failed: [],
    });
    const after = { [`${NET}.100`]: 'r1', [`${NET}.102`]: 'r2', [`${NET}.103`]: 'r2', [`${NET}.104`]: 'r1', [`${NET}.105`]: 'r1', [`${NET}.106`]: 'r1', [`${NET}.107`]: 'r1' };
    await waitFor(async () => norm(await holders()) === norm(after) || undefined, { timeoutMs: 10_000, what: 'VIPs after the reload' });
    await new Promise((r) => setTimeout(r, 5 * INTERVAL_MS)); // a few more adverts on the wire
    const t1 = Date.now() / 1000;

    // web and vips: no transition anywhere; old: STOP on r1 (priority 0), r2 took over at once.
    expect(transitions(r1, mark1).filter((t) => /^(web|vips|acc) /.test(t))).toEqual([]);
    expect(transitions(r2, mark2).filter((t) => /^(web|vips|acc) /.test(t))).toEqual([]);
    expect(transitions(r1, mark1)).toEqual(expect.arrayContaining(['old STOP shutdown', 'new BACKUP startup', 'new MASTER preempt', 'db BACKUP higher-priority']));
    expect(transitions(r2, mark2)).toEqual(expect.arrayContaining(['old MASTER master-stopped', 'db MASTER preempt', 'new BACKUP higher-priority']));

    // On the wire: r1's web adverts never paused long enough for a takeover; db at 90 from r1 right after
    // the reload; old: r1's last advert is priority 0; vips advertised with both addresses.
    const seen = adverts(dump);
    const webTimes = seen.filter((a) => a.src === R1 && a.vrid === 101 && a.t >= t0 - 1 && a.t <= t1).map((a) => a.t);
    expect(webTimes.length).toBeGreaterThan(5);
    const gaps = webTimes.slice(1).map((t, k) => t - (webTimes[k] as number));
    const maxGapMs = Math.round(Math.max(...gaps) * 1000);
    const masterDownMs = 3 * INTERVAL_MS + ((256 - 100) * INTERVAL_MS) / 256;
    console.log(`vrrpd reload: largest gap between r1's adverts for the unchanged instance: ${maxGapMs} ms (interval ${INTERVAL_MS} ms, r2's Master_Down_Interval ${masterDownMs} ms)`);
    expect(maxGapMs).toBeLessThan(masterDownMs);
    expect(seen.some((a) => a.src === R1 && a.vrid === 102 && a.prio === 90 && a.t >= t0)).toBe(true);
    expect(seen.filter((a) => a.src === R1 && a.vrid === 103 && a.t >= t0).map((a) => a.prio).at(-1)).toBe(0);
    expect(seen.some((a) => a.src === R1 && a.vrid === 105 && a.t >= t0 && a.addrs.join(',') === `${NET}.105,${NET}.106`)).toBe(true);
    expect(await ping(env.lab, 'client', `${NET}.106`)).toBe(true);
    expect(await ping(env.lab, 'client', `${NET}.100`)).toBe(true);
    // acc: accept mode turned off in place: r1 still holds .107 and answers ARP for it, but drops pings to it.
    expect(logs(r1).slice(mark1).find((l) => String(l.msg).startsWith('accept mode off'))).toMatchObject({ addresses: [`${NET}.107`], owned: true, table: expect.stringMatching(new RegExp(`^lvskit_vrrp_${r1.pid}_`)) });
    await env.lab.ip('client', ['neigh', 'flush', 'dev', 'eth0']);
    expect((await env.lab.exec('client', ['ping', '-n', '-c2', '-W1', `${NET}.107`], { timeoutMs: 10_000 })).code).not.toBe(0);
    const r1Mac = (JSON.parse((await env.lab.ip('r1', ['-j', 'link', 'show', 'dev', 'eth0'], { check: true })).stdout) as { address: string }[])[0]?.address;
    expect((JSON.parse((await env.lab.ip('client', ['-j', 'neigh', 'show', `${NET}.107`, 'dev', 'eth0'], { check: true })).stdout) as { lladdr?: string }[])[0]?.lladdr).toBe(r1Mac);

    // Broken files: refused with file:line:column and key; nothing changes, the daemon runs on.
    const mark3 = logs(r1).length;
    writeFileSync(f1, ['instances:', '  - name: web', '    interface: eth0', '    vrid: 300', '    addresses: [10.61.0.100]', ''].join('\n'));
    process.kill(r1.pid, 'SIGHUP');
    await r1.waitForOutput(/"msg":"reload refused/, { timeoutMs: 10_000 });
    const refused = logs(r1).slice(mark3).find((l) => l.msg.startsWith('reload refused'));
    expect(refused?.level).toBe(50);
    expect(refused?.issues).toEqual([`${f1}:4:5: instances[0].vrid: an integer 1..255`]);
    writeConfig(f1, [...reloaded, { name: 'ghost', vrid: 110, priority: 100, addresses: [`${NET}.110`], iface: 'nosuch0' }]);
    const mark4 = logs(r1).length;
    process.kill(r1.pid, 'SIGHUP');
    await waitFor(() => logs(r1).slice(mark4).some((l) => l.msg.startsWith('reload refused')), { timeoutMs: 10_000, what: 'second refusal' });
    expect(logs(r1).slice(mark4).find((l) => l.msg.startsWith('reload refused'))?.msg).toMatch(/ERR_VRRPD_INTERFACE: instance ghost: .*nosuch0/);
    expect(r1.running).toBe(true);
    expect(transitions(r1, mark3)).toEqual([]);
    expect(await holders()).toEqual(after);

    for (const p of [r1, r2]) expect((await p.stop({ signal: 'SIGTERM', graceMs: 10_000 })).code).toBe(0);
    expect(await holders()).toEqual({});
    // r2, still configured with one address for `vips`, logs (RFC 9568 §7.1 SHOULD) that r1's adverts list two.
    expect(logs(r2).filter((l) => l.vrrp === 'vips' && l.msg === 'advert addresses differ from ours').map((l) => l.addresses)).toContainEqual([`${NET}.105`, `${NET}.106`]);
    // Warnings or errors other than these: the two refusals, and the notices of preemptions' crossing
    // adverts (the old master's last advert reaching the new one, at start or after the reload); nothing else.
    const expected = (l: { level: number; msg: string; [k: string]: unknown }): boolean =>
      l.msg.startsWith('reload refused') || l.code === 'lower-priority-master' || (l.vrrp === 'vips' && l.msg === 'advert addresses differ from ours');
    for (const p of [r1, r2]) expect(logs(p).filter((l) => l.level >= 40 && !expected(l)), p.output).toEqual([]);
  });

  it('against keepalived: a removed master hands over with priority 0, a lowered priority lets keepalived preempt, an unchanged instance stays', async () => {
    // keepalived (VRRP only, foreground, console log) on r2 with three instances at priority 100.
    const kaConf = path.join(dir, 'keepalived.conf');
    const ka = (name: string, vrid: number): string[] => [
      `vrrp_instance ${name} {`, '  state BACKUP', '  interface eth0', `  virtual_router_id ${vrid}`, '  priority 100', `  advert_int ${INTERVAL_MS / 1000}`, '  version 3',
      '  virtual_ipaddress {', `    ${NET}.${vrid}/32`, '  }', '}',
    ];
    writeFileSync(kaConf, ['global_defs {', '  router_id lvskit_reload', '}', ...ka('K1', 121), ...ka('K2', 122), ...ka('K3', 123), ''].join('\n'));
    const kp = env.spawn('r2', ['keepalived', '-n', '-l', '-D', '-P', '-f', kaConf, '-p', path.join(dir, 'ka.pid'), '-r', path.join(dir, 'ka-vrrp.pid'), '-c', path.join(dir, 'ka-checkers.pid')]);
    await kp.waitForOutput(/\(K3\) Entering (BACKUP|MASTER) STATE/, { timeoutMs: 30_000 });
    const f1 = path.join(dir, 'r1-ka.yaml');
    const k = (name: string, vrid: number, priority: number): Inst => ({ name, vrid, priority, addresses: [`${NET}.${vrid}`] });
    writeConfig(f1, [k('k1', 121, 150), k('k2', 122, 150), k('k3', 123, 150)]);
    const r1 = start('r1', f1);
    const all = (h: string): Record<string, string> => ({ [`${NET}.121`]: h, [`${NET}.122`]: h, [`${NET}.123`]: h });
    await waitFor(async () => norm(await holders()) === norm(all('r1')) || undefined, { timeoutMs: 20_000, what: 'vrrpd (150) master of all three' });

    const kaMark = kp.output.length;
    const mark = logs(r1).length;
    writeConfig(f1, [k('k1', 121, 50), k('k3', 123, 150)]);
    process.kill(r1.pid, 'SIGHUP');
    await r1.waitForOutput(/"msg":"reloaded"/, { timeoutMs: 15_000 });
    const want = { [`${NET}.121`]: 'r2', [`${NET}.122`]: 'r2', [`${NET}.123`]: 'r1' };
    // While keepalived takes over k1 and k2, k3 never leaves r1.
    await waitFor(async () => {
      const h = await holders();
      expect(h[`${NET}.123`]).toBe('r1');
      return norm(h) === norm(want) || undefined;
    }, { timeoutMs: 10_000, what: 'keepalived master of K1 and K2' });
    await new Promise((r) => setTimeout(r, 5 * INTERVAL_MS));
    const kaLog = kp.output.slice(kaMark);
    expect(kaLog).toMatch(/\(K1\) Entering MASTER STATE/);
    expect(kaLog).toMatch(/\(K2\) Entering MASTER STATE/);
    expect(kaLog).not.toMatch(/\(K3\) Entering MASTER STATE/);
    expect(transitions(r1, mark).sort()).toEqual(['k1 BACKUP higher-priority', 'k2 STOP shutdown']);
    expect(await holders()).toEqual(want);
    expect((await r1.stop({ signal: 'SIGTERM', graceMs: 10_000 })).code).toBe(0);
    await waitFor(async () => norm(await holders()) === norm(all('r2')) || undefined, { timeoutMs: 10_000, what: 'keepalived master of all after vrrpd stops' });
  });
});
