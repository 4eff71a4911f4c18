/**
 * The director's drain time counts from the moment IPVS has the weight 0, not
 * from the pool's decision (examples/director/service.ts `drainLanded`). Pure:
 * a FakeClock drives the Pool and the drain timers; the IPVS write is the
 * table handed to `drainLanded`, as the director does after each write.
 */
import { FakeClock, noopLogger } from 'lvskit';
import { MonitorMetrics } from 'lvskit/monitors';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../examples/director/index.js';
import { DRAIN_FALLBACK_MS, ServiceRuntime } from '../../../examples/director/service.js';

const config = parseConfig(`services:
  web:
    vips: [192.0.2.80]
    port: 80
    forwarding: masq
    depoolThreshold: 0
    drainMs: 30s
    checks: [{ type: tcp, intervalMs: 1s }]
    servers:
      - { host: a, address: 127.0.0.1, port: 8001 }
      - { host: b, address: 127.0.0.1, port: 8002 }
`, '/tmp/drain.yaml');

const runtimes: ServiceRuntime[] = [];
afterEach(async () => {
  for (const r of runtimes.splice(0)) await r.stop();
});

async function setup(): Promise<{ clock: FakeClock; svc: ServiceRuntime; members: { id: string; from: string; to: string; reason: string }[]; drains: { id: string; since: number; until: number }[] }> {
  const clock = new FakeClock(1000);
  const svc = new ServiceRuntime(config.services[0]!, { logger: noopLogger, metrics: new MonitorMetrics(), baseDir: '/tmp', clock });
  runtimes.push(svc);
  const members: { id: string; from: string; to: string; reason: string }[] = [];
  const drains: { id: string; since: number; until: number }[] = [];
  svc.on('member', (e) => members.push({ id: e.id, from: e.from, to: e.to, reason: e.reason }));
  svc.on('drain', (e) => drains.push({ id: e.id, since: e.since, until: e.until }));
  // Servers from the file; the monitor is not started: the test says what the checks found.
  await svc.setEntries(config.services[0]!.servers!.map((s) => ({ host: s.host, address: s.address!, weight: s.weight, enabled: true, pooled: 'yes' as const, port: s.port })));
  svc.pool.update('a', { healthy: true });
  svc.pool.update('b', { healthy: true });
  return { clock, svc, members, drains };
}

const weightOf = (svc: ServiceRuntime, port: number): number | undefined => svc.table()[0]?.destinations?.find((d) => d.port === port)?.weight;

describe('director drain time', () => {
  it('starts when the weight-0 write has landed, not at the pool decision', async () => {
    const { clock, svc, members, drains } = await setup();
    svc.pool.update('b', { healthy: false });
    expect(weightOf(svc, 8002)).toBe(0);
    expect(members.at(-1)).toEqual({ id: 'b', from: 'pooled', to: 'draining', reason: 'failed: removed 30 s after IPVS has its weight 0' });
    // The write takes 5 s to land (a slow or loaded IPVS): nothing is removed at decision + 30 s.
    clock.advance(5000);
    const wallBefore = Date.now();
    svc.drainLanded(svc.table());
    expect(drains).toHaveLength(1);
    expect(drains[0]?.id).toBe('b');
    expect(drains[0]!.until - drains[0]!.since).toBe(30_000);
    expect(drains[0]!.since).toBeGreaterThanOrEqual(wallBefore);
    // The status API shows when it goes.
    expect(svc.servers().find((x) => x.host === 'b')).toMatchObject({ status: 'draining', drainUntil: new Date(drains[0]!.until).toISOString() });
    clock.advance(25_000); // decision + 30 s
    expect(weightOf(svc, 8002)).toBe(0);
    expect(svc.pool.plan.state.members.b?.status).toBe('draining');
    clock.advance(4_999);
    expect(svc.pool.plan.state.members.b?.status).toBe('draining');
    clock.advance(1); // landed + 30 s
    expect(svc.pool.plan.state.members.b?.status).toBe('out');
    expect(weightOf(svc, 8002)).toBeUndefined();
    expect(members.at(-1)).toEqual({ id: 'b', from: 'draining', to: 'out', reason: 'drain time of 30 s over, counted from the weight-0 write' });
    // The connection count used to end the drain is forgotten: the next failure drains again.
    svc.pool.update('b', { healthy: true });
    svc.pool.update('b', { healthy: false });
    expect(svc.pool.plan.state.members.b?.status).toBe('draining');
  });

  it('a table without the weight 0 (an older write) does not start it; a later one does, once', async () => {
    const { clock, svc, drains } = await setup();
    const before = svc.table();
    svc.pool.update('a', { healthy: false });
    svc.drainLanded(before); // the write in flight was computed before the decision: a at full weight
    expect(drains).toHaveLength(0);
    clock.advance(1000);
    svc.drainLanded(svc.table());
    svc.drainLanded(svc.table()); // a periodic re-apply with the same table: the drain already runs
    expect(drains.map((d) => d.id)).toEqual(['a']);
    clock.advance(30_000);
    expect(svc.pool.plan.state.members.a?.status).toBe('out');
  });

  it('a server already at weight 0 in IPVS (drained by weight, then pooled no) starts its drain time at once', async () => {
    const { clock, svc, drains } = await setup();
    const entries = (weight: number, pooled: 'yes' | 'no') =>
      config.services[0]!.servers!.map((s) => ({ host: s.host, address: s.address!, weight: s.host === 'a' ? weight : s.weight, enabled: true, pooled: s.host === 'a' ? pooled : ('yes' as const), port: s.port }));
    await svc.setEntries(entries(0, 'yes'));
    expect(weightOf(svc, 8001)).toBe(0);
    svc.drainLanded(svc.table()); // the operator's weight 0 is in IPVS
    expect(drains).toHaveLength(0);
    const landedTable = svc.table();
    await svc.setEntries(entries(0, 'no')); // no destination changes: no write will land for it
    expect(svc.table()).toEqual(landedTable);
    expect(svc.pool.plan.state.members.a?.status).toBe('draining');
    await Promise.resolve();
    expect(drains.map((d) => d.id)).toEqual(['a']);
    clock.advance(30_000);
    expect(svc.pool.plan.state.members.a?.status).toBe('out');
  });

  it('a server that recovers while draining keeps no timer', async () => {
    const { clock, svc, members } = await setup();
    svc.pool.update('a', { healthy: false });
    svc.drainLanded(svc.table());
    clock.advance(10_000);
    svc.pool.update('a', { healthy: true });
    expect(members.at(-1)).toMatchObject({ id: 'a', from: 'draining', to: 'pooled' });
    clock.advance(60_000);
    expect(svc.pool.plan.state.members.a?.status).toBe('pooled');
    expect(weightOf(svc, 8001)).toBe(1);
  });

  it('when IPVS never confirms the weight 0, the pool ends the drain itself, later', async () => {
    const { clock, svc, members } = await setup();
    svc.pool.update('a', { healthy: false });
    clock.advance(30_000 + DRAIN_FALLBACK_MS - 1);
    expect(svc.pool.plan.state.members.a?.status).toBe('draining');
    clock.advance(1);
    expect(svc.pool.plan.state.members.a?.status).toBe('out');
    expect(members.at(-1)?.reason).toBe('drain time over (IPVS never confirmed the weight 0 within 90 s)');
  });
});
