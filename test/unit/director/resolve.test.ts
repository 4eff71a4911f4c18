/**
 * Pool updates with named servers (examples/director/service.ts `setEntries`):
 * names are looked up concurrently (bounded), the pool keeps the source's order,
 * and a failed lookup keeps a known server's last address. The resolver is a
 * test function: the code under test is the director's own bookkeeping.
 */
import { noopLogger } from 'lvskit';
import { MonitorMetrics } from 'lvskit/monitors';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../examples/director/index.js';
import { RESOLVE_CONCURRENCY, ServiceRuntime } from '../../../examples/director/service.js';

const config = parseConfig(`services:
  web:
    vips: [192.0.2.80]
    port: 80
    forwarding: route
    checks: [{ type: tcp, intervalMs: 1s }]
    servers: []
`, '/tmp/resolve.yaml');

const runtimes: ServiceRuntime[] = [];
afterEach(async () => {
  for (const r of runtimes.splice(0)) await r.stop();
});

interface Lookup { host: string; done: (addrs: string[] | Error) => void }

function runtime(): { svc: ServiceRuntime; lookups: Lookup[]; inFlight: () => number; maxInFlight: () => number } {
  const lookups: Lookup[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const resolve = (host: string): Promise<string[]> =>
    new Promise<string[]>((res, rej) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      lookups.push({ host, done: (a) => { inFlight--; if (a instanceof Error) rej(a); else res(a); } });
    });
  const svc = new ServiceRuntime(config.services[0]!, { logger: noopLogger, metrics: new MonitorMetrics(), baseDir: '/tmp', resolve });
  runtimes.push(svc);
  return { svc, lookups, inFlight: () => inFlight, maxInFlight: () => maxInFlight };
}

const entry = (host: string, extra: { address?: string } = {}): { host: string; address?: string; weight: number; enabled: boolean; pooled: 'yes' } => ({ host, weight: 1, enabled: true, pooled: 'yes', ...extra });
const tick = () => new Promise((r) => setImmediate(r));
const order = (svc: ServiceRuntime): string[] => (svc.table()[0]?.destinations ?? []).map((d) => d.address);

describe('director pool update with host names', () => {
  it('looks names up at most RESOLVE_CONCURRENCY at a time and keeps the source order', async () => {
    const { svc, lookups, inFlight, maxInFlight } = runtime();
    const n = RESOLVE_CONCURRENCY * 2 + 3;
    // Every other server has an address already; those need no lookup.
    const entries = Array.from({ length: n }, (_, i) => (i % 2 === 0 ? entry(`s${i}.example`) : entry(`s${i}.example`, { address: `10.0.1.${i}` })));
    const done = svc.setEntries(entries);
    await tick();
    const named = entries.filter((e) => e.address === undefined).length;
    expect(inFlight()).toBe(Math.min(RESOLVE_CONCURRENCY, named));
    // Answer in reverse order of asking, a batch at a time, until all are answered.
    for (let round = 0; round < 10 && lookups.some((l) => l.host !== ''); round++) {
      const open = lookups.filter((l) => l.host !== '').reverse();
      for (const l of open) {
        const i = Number(l.host.slice(1, l.host.indexOf('.')));
        l.done([`10.0.0.${i}`]);
        l.host = '';
      }
      await tick();
    }
    await done;
    expect(maxInFlight()).toBe(RESOLVE_CONCURRENCY);
    expect(lookups).toHaveLength(named);
    for (const e of entries) svc.pool.update(e.host, { healthy: true });
    expect(order(svc)).toEqual(entries.map((_, i) => (i % 2 === 0 ? `10.0.0.${i}` : `10.0.1.${i}`)));
  });

  it('a failed lookup keeps a known server at its last address and leaves a new one out', async () => {
    const { svc, lookups } = runtime();
    let done = svc.setEntries([entry('a.example'), entry('b.example')]);
    await tick();
    for (const l of lookups.splice(0)) l.done([l.host === 'a.example' ? '10.0.0.1' : '10.0.0.2']);
    await done;
    svc.pool.update('a.example', { healthy: true });
    svc.pool.update('b.example', { healthy: true });
    expect(order(svc)).toEqual(['10.0.0.1', '10.0.0.2']);
    done = svc.setEntries([entry('a.example'), entry('b.example'), entry('c.example')]);
    await tick();
    expect(lookups.map((l) => l.host)).toEqual(['a.example', 'b.example', 'c.example']);
    for (const l of lookups.splice(0)) l.done(l.host === 'b.example' ? ['10.0.0.22'] : new Error('SERVFAIL'));
    await done;
    expect(svc.servers().map((s) => [s.host, s.address])).toEqual([['a.example', '10.0.0.1'], ['b.example', '10.0.0.22']]);
  });
});
