// The example of docs/vrrp.md is examples/vrrpd/minimal.mjs, word for word (checked here), and it
// works: two copies on two routers elect the higher priority, the client reaches the VIP, and
// SIGTERM hands the VIP over (priority 0) and lets the process exit by itself. It imports
// `lvskit/vrrp` by package name: the built package through its exports map (`npm test` builds first).

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, useRouterLab } from './fixtures/router-lab.js';
import { ping, waitFor } from '../harness/probes.js';

const EXAMPLE = path.join(ROOT, 'examples/vrrpd/minimal.mjs');
const VIP = '10.60.0.100';
type Host = 'r1' | 'r2' | 'client';

const env = useRouterLab<Host>({
  name: 'docs-example',
  hosts: { r1: { ipv4: ['10.60.0.1/24'] }, r2: { ipv4: ['10.60.0.2/24'] }, client: { ipv4: ['10.60.0.3/24'] } },
  needsDist: true,
});

const holders = (): Promise<string> => env.holders(VIP, ['r1', 'r2']);

describe('docs/vrrp.md example', () => {
  it('is examples/vrrpd/minimal.mjs', () => {
    const doc = readFileSync(path.join(ROOT, 'docs/vrrp.md'), 'utf8');
    const block = /```js\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(block).toBe(readFileSync(EXAMPLE, 'utf8'));
  });

  it('runs: the higher priority holds the VIP, SIGTERM hands it over and the process exits by itself', async () => {
    const r1 = env.spawn('r1', [process.execPath, EXAMPLE, 'eth0', VIP, '150']);
    // Alone: master after Master_Down_Interval (3 x 1 s + skew).
    await r1.waitForOutput(/^web: backup -> master \(master-down\)$/m, { timeoutMs: 20_000 });
    const r2 = env.spawn('r2', [process.execPath, EXAMPLE, 'eth0', VIP, '100']);
    await r2.waitForOutput(/^web: initialize -> backup \(startup\)$/m, { timeoutMs: 20_000 });
    await waitFor(async () => (await holders()) === 'r1', { timeoutMs: 10_000, what: 'VIP on r1 only' });
    expect(await ping(env.lab, 'client', VIP)).toBe(true);
    // r2 stays backup through a few adverts.
    const settle = Date.now() + 3_500;
    await waitFor(async () => Date.now() >= settle && (await holders()) === 'r1', { timeoutMs: 15_000, what: 'stable' });
    expect(r2.stdout).not.toMatch(/-> master/);

    const exit = r1.stop({ signal: 'SIGTERM', graceMs: 10_000 });
    await waitFor(async () => (await holders()) === 'r2', { timeoutMs: 10_000, what: 'VIP on r2 only' });
    await r2.waitForOutput(/^web: backup -> master \(master-stopped\)$/m, { timeoutMs: 5_000 });
    // Exited on its own (code 0), not killed after the grace period.
    expect(await exit).toEqual({ code: 0, signal: null });
    expect(r1.stdout).toMatch(/^web: master -> initialize \(shutdown\)$/m);
    expect(await ping(env.lab, 'client', VIP)).toBe(true);
    await r2.stop({ signal: 'SIGTERM', graceMs: 10_000 });
    expect(await holders()).toBe('');
  });
});
