// examples/vrrpd (the keepalived-like daemon) against itself: two directors in namespaces on one
// bridge, each running `node examples/vrrpd/vrrpd.mjs <config.yaml>`. vrrpd imports lvskit by
// package name, so this runs the built package through its exports map (`npm test` builds first).
// Shown: the election from the config files, notify hooks run with keepalived's arguments on every
// transition, pino JSON logs, SIGTERM hands over at once (priority 0) and runs the STOP hook, and a
// bad config file is refused with every problem named.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { LabProcess } from '../harness/netlab.js';
import { ROOT, useRouterLab } from './fixtures/router-lab.js';
import { ping, waitFor } from '../harness/probes.js';

const VRRPD = path.join(ROOT, 'examples/vrrpd/vrrpd.mjs');
const VIP = '10.59.0.100';
type Host = 'r1' | 'r2' | 'client';

const env = useRouterLab<Host>({
  name: 'vrrpd',
  hosts: { r1: { ipv4: ['10.59.0.1/24'] }, r2: { ipv4: ['10.59.0.2/24'] }, client: { ipv4: ['10.59.0.3/24'] } },
  needsDist: true,
});
const { dir } = env;

function config(host: 'r1' | 'r2', priority: number): { file: string; notified: string } {
  const notified = path.join(dir, `${host}.notify`);
  const file = path.join(dir, `${host}.yaml`);
  writeFileSync(
    file,
    [
      'log_level: info',
      'notify_timeout: 5s',
      'instances:',
      '  - name: web',
      '    interface: eth0',
      '    vrid: 91',
      `    priority: ${priority}`,
      '    advert_interval: 200ms',
      '    addresses: [10.59.0.100/32]',
      // keepalived's arguments are appended: INSTANCE web <STATE> <priority>
      `    notify: [/bin/sh, -c, 'echo "$VRRP_REASON $*" >> ${notified}', notify]`,
      `    notify_master: [/bin/sh, -c, 'echo "master-hook $VRRP_STATE" >> ${notified}']`,
      '',
    ].join('\n'),
  );
  return { file, notified };
}

function start(host: 'r1' | 'r2', file: string): LabProcess {
  const p = env.spawn(host, [process.execPath, VRRPD, file]);
  return p;
}

const holders = (): Promise<string> => env.holders(VIP, ['r1', 'r2']);

function notes(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n') : [];
}

/** pino lines of a process's stdout. */
function logs(p: LabProcess): { level: number; msg: string; [k: string]: unknown }[] {
  return p.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: number; msg: string });
}

describe('examples/vrrpd', () => {
  it('elects from its config files, runs notify hooks on transitions, and hands over at once on SIGTERM', async () => {
    const c1 = config('r1', 150);
    const c2 = config('r2', 100);
    const r1 = start('r1', c1.file);
    await r1.waitForOutput(/"msg":"vrrpd started"/, { timeoutMs: 30_000 });
    const r2 = start('r2', c2.file);
    await r2.waitForOutput(/"msg":"vrrpd started"/, { timeoutMs: 30_000 });
    await waitFor(async () => (await holders()) === 'r1', { timeoutMs: 15_000, what: 'VIP on r1 only' });
    await waitFor(() => notes(c2.notified).length >= 1 && notes(c1.notified).length >= 3, { timeoutMs: 10_000, what: 'startup hooks' });
    expect(await ping(env.lab, 'client', VIP)).toBe(true);
    // r1: BACKUP on startup, then MASTER (its notify_master hook and its notify hook); r2: BACKUP.
    expect(notes(c1.notified)).toEqual(expect.arrayContaining(['startup INSTANCE web BACKUP 150', 'master-down INSTANCE web MASTER 150', 'master-hook MASTER']));
    expect(notes(c2.notified)).toEqual(['startup INSTANCE web BACKUP 100']);
    // pino JSON: transitions at info (30) with the instance and reason.
    expect(logs(r1)).toEqual(expect.arrayContaining([expect.objectContaining({ level: 30, instance: 'web', state: 'MASTER', reason: 'master-down' })]));

    // SIGTERM: priority 0, r2 takes over after Skew_Time (well under Master_Down_Interval).
    const t0 = Date.now();
    const exit = r1.stop({ signal: 'SIGTERM', graceMs: 10_000 });
    await waitFor(async () => (await holders()) === 'r2', { timeoutMs: 10_000, intervalMs: 20, what: 'VIP on r2 only' });
    const handover = Date.now() - t0;
    expect((await exit).code).toBe(0);
    expect(r1.stdout).toMatch(/"msg":"vrrpd stopped"/);
    await waitFor(() => notes(c2.notified).includes('master-stopped INSTANCE web MASTER 100'), { timeoutMs: 5_000, what: 'r2 MASTER hook (master-stopped)' });
    expect(notes(c1.notified)).toContain('shutdown INSTANCE web STOP 150');
    expect(await ping(env.lab, 'client', VIP)).toBe(true);
    console.log(`vrrpd SIGTERM -> other vrrpd holds the VIP: ${handover} ms (0.2 s adverts: Master_Down_Interval ~0.7 s)`);
    for (const p of [r1, r2]) expect(logs(p).filter((l) => l.level >= 40), p.output).toEqual([]);
    await r2.stop({ signal: 'SIGTERM', graceMs: 10_000 });
    expect(await holders()).toBe('');
  });

  it('passes vmac and accept through: the VIP on macvlan vrrp.92 behind the virtual MAC, packets to it dropped', async () => {
    const file = path.join(dir, 'vmac.yaml');
    writeFileSync(
      file,
      ['instances:', '  - name: web', '    interface: eth0', '    vrid: 92', '    priority: 150', '    advert_interval: 200ms', '    addresses: [10.59.0.101]', '    vmac: true', '    accept: false', ''].join('\n'),
    );
    const r1 = start('r1', file);
    await r1.waitForOutput(/"state":"MASTER"/, { timeoutMs: 30_000 });
    await waitFor(async () => {
      const r = await env.lab.ip('r1', ['-j', 'address', 'show', 'dev', 'vrrp.92']);
      return r.code === 0 && r.stdout.includes('"10.59.0.101"');
    }, { timeoutMs: 10_000, what: 'VIP on vrrp.92' });
    // Resolved to the virtual MAC, but the echo request is dropped (accept off).
    expect((await env.lab.exec('client', ['ping', '-n', '-c1', '-W1', '10.59.0.101'], { timeoutMs: 5_000 })).code).not.toBe(0);
    const neigh = JSON.parse((await env.lab.ip('client', ['-j', 'neigh', 'show', '10.59.0.101', 'dev', 'eth0'], { check: true })).stdout) as { lladdr?: string }[];
    expect(neigh[0]?.lladdr).toBe('00:00:5e:00:01:5c');
    expect((await r1.stop({ signal: 'SIGTERM', graceMs: 10_000 })).code).toBe(0);
    expect((await env.lab.ip('r1', ['link', 'show', 'dev', 'vrrp.92'])).code).not.toBe(0); // deleted on the way out
    expect(logs(r1).filter((l) => l.level >= 40), r1.output).toEqual([]);
  });

  it('refuses a bad config file with every problem and its place, exit 1', async () => {
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, ['instances:', '  - name: web', '    interface: eth0', '    vrid: 300', '    adresses: [10.59.0.100]', 'log_level: loud', ''].join('\n'));
    const r = await env.lab.exec('r1', [process.execPath, VRRPD, file], { timeoutMs: 30_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ERR_VRRPD_CONFIG/);
    for (const issue of ['log_level', 'instances[0].vrid', 'instances[0].adresses: unknown key', 'instances[0].addresses']) expect(r.stderr).toContain(issue);
  });
});
