// Two lvskit routers on real Linux (v3 IPv4): a sync group of two instances that fails over as
// one when a tracked health signal fails (weight 0: fault), a weighted tracker that hands mastership
// over by priority and takes it back on recovery (RFC 9568 §6.4.2 preemption), and a clean stop.
// The client's neighbour table follows every move (GARP).

import { describe, expect, it } from 'vitest';
import type { LabProcess } from '../harness/netlab.js';
import { ping, waitFor } from '../harness/probes.js';
import { useRouterLab } from './fixtures/router-lab.js';

const VIP_A = '10.55.0.100';
const VIP_B = '10.55.0.101';
type Host = 'r1' | 'r2' | 'client';

const macs: Partial<Record<Host, string>> = {};
const env = useRouterLab<Host>({
  name: 'lvskit-pair',
  hosts: { r1: { ipv4: ['10.55.0.1/24'] }, r2: { ipv4: ['10.55.0.2/24'] }, client: { ipv4: ['10.55.0.3/24'] } },
  setup: async () => {
    for (const h of ['r1', 'r2', 'client'] as const) macs[h] = await env.mac(h);
  },
});

interface Inst {
  name: string;
  vrid: number;
  addresses: string[];
  track?: { object: string; weight?: number }[];
}

async function startRouter(host: 'r1' | 'r2', priority: number, instances: Inst[], syncGroups?: { name: string; instances: string[] }[]): Promise<LabProcess> {
  const config = {
    instances: instances.map((i) => ({ ...i, interface: 'eth0', version: 3, family: 'ipv4', priority, advertIntervalMs: 500 })),
    ...(syncGroups === undefined ? {} : { syncGroups }),
  };
  return env.startRouter(host, config);
}

const holders = (vip: string): Promise<string> => env.holders(vip, ['r1', 'r2']);

async function vipsOnlyOn(host: 'r1' | 'r2', vips: string[], what: string, timeoutMs = 15_000): Promise<number> {
  const t0 = Date.now();
  await waitFor(async () => {
    for (const v of vips) if ((await holders(v)) !== host) return false;
    return true;
  }, { timeoutMs, what: `${what}: ${vips.join(', ')} on ${host} only` });
  return Date.now() - t0;
}

async function clientSees(host: Host, vip: string, what: string): Promise<void> {
  await waitFor(async () => {
    const r = await env.lab.ip('client', ['-j', 'neigh', 'show', vip, 'dev', 'eth0'], { check: true });
    return (JSON.parse(r.stdout) as { lladdr?: string }[])[0]?.lladdr === macs[host];
  }, { timeoutMs: 10_000, what: `${what}: client neighbour ${vip} -> ${host}` });
}

function flipHealth(p: LabProcess): void {
  process.kill(p.pid, 'SIGUSR1');
}

function invalidLines(p: LabProcess): string[] {
  return p.stdout.split('\n').filter((l) => l.startsWith('invalid ') || l.startsWith('transport-error '));
}

describe('two lvskit routers, VRRPv3 IPv4', () => {
  it('a sync group fails over as one when a tracked health signal fails, and comes back; a clean stop hands both over', async () => {
    const group = [{ name: 'g', instances: ['a', 'b'] }];
    const r1 = await startRouter('r1', 150, [
      { name: 'a', vrid: 61, addresses: [VIP_A], track: [{ object: 'health' }] },
      { name: 'b', vrid: 62, addresses: [VIP_B] },
    ], group);
    const r2 = await startRouter('r2', 100, [
      { name: 'a', vrid: 61, addresses: [VIP_A] },
      { name: 'b', vrid: 62, addresses: [VIP_B] },
    ], group);
    await vipsOnlyOn('r1', [VIP_A, VIP_B], 'startup', 20_000);
    expect(await ping(env.lab, 'client', VIP_A)).toBe(true);
    expect(await ping(env.lab, 'client', VIP_B)).toBe(true);
    await clientSees('r1', VIP_A, 'startup');
    await clientSees('r1', VIP_B, 'startup');

    // Health fails on r1: instance a faults (weight 0), the group takes b along.
    flipHealth(r1);
    const down = await vipsOnlyOn('r2', [VIP_A, VIP_B], 'health down');
    await clientSees('r2', VIP_A, 'health down');
    await clientSees('r2', VIP_B, 'health down');
    // Health back: r1 preempts both.
    flipHealth(r1);
    const up = await vipsOnlyOn('r1', [VIP_A, VIP_B], 'health up', 20_000);
    await clientSees('r1', VIP_A, 'health up');
    await clientSees('r1', VIP_B, 'health up');

    // Clean stop of r1: priority 0 for both; r2 takes both after Skew_Time.
    const t0 = Date.now();
    await r1.stop({ signal: 'SIGTERM', graceMs: 10_000 });
    await vipsOnlyOn('r2', [VIP_A, VIP_B], 'clean stop');
    const stop = Date.now() - t0;
    await clientSees('r2', VIP_A, 'clean stop');
    await clientSees('r2', VIP_B, 'clean stop');
    console.log(`lvskit pair, sync group (ms): health down -> r2 holds both ${down}, health up -> r1 holds both ${up}, clean stop -> r2 holds both ${stop}`);
    expect(invalidLines(r1), r1.output).toEqual([]);
    expect(invalidLines(r2), r2.output).toEqual([]);
    await r2.stop({ graceMs: 10_000 });
    expect(await holders(VIP_A)).toBe('');
    expect(await holders(VIP_B)).toBe('');
  });

  it('a weighted tracker lowers the master below the backup, which preempts; recovery preempts back', async () => {
    const r1 = await startRouter('r1', 150, [{ name: 'a', vrid: 63, addresses: [VIP_A], track: [{ object: 'health', weight: 60 }] }]);
    const r2 = await startRouter('r2', 100, [{ name: 'a', vrid: 63, addresses: [VIP_A] }]);
    await vipsOnlyOn('r1', [VIP_A], 'startup', 20_000);
    flipHealth(r1); // 150 - 60 = 90 < 100
    await vipsOnlyOn('r2', [VIP_A], 'priority lowered');
    await r2.waitForOutput(/"to":"master","reason":"preempt"/, { timeoutMs: 5_000 });
    await r1.waitForOutput(/"to":"backup","reason":"higher-priority"/, { timeoutMs: 5_000 });
    await clientSees('r2', VIP_A, 'priority lowered');
    flipHealth(r1); // back to 150
    await vipsOnlyOn('r1', [VIP_A], 'priority restored', 20_000);
    await clientSees('r1', VIP_A, 'priority restored');
    // r1 never faulted: a weight only lowers the priority.
    expect(r1.stdout).not.toMatch(/"reason":"fault"/);
    expect(invalidLines(r1), r1.output).toEqual([]);
    expect(invalidLines(r2), r2.output).toEqual([]);
  });
});
