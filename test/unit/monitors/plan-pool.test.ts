import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { depoolFloor, emptyPoolState, planPool, type PoolConfig, type PoolMemberInput, type PoolPlan, type PoolState } from '../../../src/monitors/plan-pool.js';

function members(n: number, healthy: (i: number) => boolean = () => true, weight = 10): PoolMemberInput[] {
  return Array.from({ length: n }, (_, i) => ({ id: `rs${i}`, address: `10.0.0.${i + 1}`, port: 80, weight, enabled: true, healthy: healthy(i) }));
}
const statusOf = (p: PoolPlan): Record<string, string> => Object.fromEntries(Object.entries(p.state.members).map(([k, v]) => [k, v.status]));

describe('depool floor', () => {
  it('is ceil(threshold x n) without float surprises', () => {
    expect(depoolFloor(0.5, 4)).toBe(2);
    expect(depoolFloor(0.5, 3)).toBe(2);
    expect(depoolFloor(0.7, 10)).toBe(7);
    expect(depoolFloor(0.1, 3)).toBe(1);
    expect(depoolFloor(0, 5)).toBe(0);
    expect(depoolFloor(1, 5)).toBe(5);
  });
});

describe('pool plan', () => {
  it('pools healthy servers at their weight; weight 0 stays 0', () => {
    const ms = members(3);
    (ms[1] as PoolMemberInput).weight = 0;
    const p = planPool({}, ms, emptyPoolState(), 0);
    expect(p.destinations).toEqual([
      { address: '10.0.0.1', port: 80, weight: 10 },
      { address: '10.0.0.2', port: 80, weight: 0 },
      { address: '10.0.0.3', port: 80, weight: 10 },
    ]);
    expect(p.events.map((e) => e.kind === 'member' && `${e.id}:${e.from}->${e.to}`)).toEqual(['rs0:out->pooled', 'rs1:out->pooled', 'rs2:out->pooled']);
    expect(p).toMatchObject({ floor: 2, pooledCount: 3, held: [] });
  });

  it('pools nothing on no evidence: servers not yet up at start are not held by the threshold', () => {
    const p = planPool({ depoolThreshold: 0.5 }, members(4, () => false), emptyPoolState(), 0);
    expect(p.destinations).toEqual([]);
    expect(p.state.alert).toBe(false);
  });

  it('drains a failed server at weight 0, removes it after drainMs, and says when to wake', () => {
    const cfg: PoolConfig = { depoolThreshold: 0.5, drainMs: 30_000 };
    let p = planPool(cfg, members(4), emptyPoolState(), 0);
    p = planPool(cfg, members(4, (i) => i !== 2), p.state, 1000);
    expect(statusOf(p)).toMatchObject({ rs2: 'draining' });
    expect(p.destinations[2]).toEqual({ address: '10.0.0.3', port: 80, weight: 0 });
    expect(p.wakeAt).toBe(31_000);
    expect(p.events).toEqual([{ kind: 'member', at: 1000, id: 'rs2', from: 'pooled', to: 'draining', reason: 'failed: weight 0, removed after 30000 ms or when its connections end' }]);
    const still = planPool(cfg, members(4, (i) => i !== 2), p.state, 30_999);
    expect(statusOf(still).rs2).toBe('draining');
    expect(still.events).toEqual([]);
    const gone = planPool(cfg, members(4, (i) => i !== 2), p.state, 31_000);
    expect(statusOf(gone).rs2).toBe('out');
    expect(gone.destinations).toHaveLength(3);
    expect(gone.wakeAt).toBeUndefined();
  });

  it('ends a drain early when the fed connection count reaches 0', () => {
    const cfg: PoolConfig = { drainMs: 60_000 };
    let p = planPool(cfg, members(2), emptyPoolState(), 0);
    const failing = members(2, (i) => i === 0);
    p = planPool(cfg, failing, p.state, 10);
    expect(statusOf(p).rs1).toBe('draining');
    (failing[1] as PoolMemberInput).connections = 12;
    expect(statusOf(planPool(cfg, failing, p.state, 20)).rs1).toBe('draining');
    (failing[1] as PoolMemberInput).connections = 0;
    const done = planPool(cfg, failing, p.state, 30);
    expect(statusOf(done).rs1).toBe('out');
    expect(done.events[0]).toMatchObject({ to: 'out', reason: 'drained: no connections left' });
  });

  it('pools a draining server again at once when it recovers', () => {
    let p = planPool({}, members(3), emptyPoolState(), 0);
    p = planPool({}, members(3, (i) => i !== 0), p.state, 10);
    p = planPool({}, members(3), p.state, 20);
    expect(statusOf(p).rs0).toBe('pooled');
    expect(p.events).toEqual([{ kind: 'member', at: 20, id: 'rs0', from: 'draining', to: 'pooled', reason: 'recovered while draining' }]);
  });

  it('drains a disabled server even when healthy, never holds it, and does not count it', () => {
    const ms = members(4);
    let p = planPool({ depoolThreshold: 0.5 }, ms, emptyPoolState(), 0);
    const next = ms.map((m, i) => ({ ...m, enabled: i !== 0, healthy: i !== 0 && i !== 1 && i !== 2 }));
    p = planPool({ depoolThreshold: 0.5 }, next, p.state, 5);
    // 3 enabled -> floor 2; 1 healthy (rs3) -> hold one failed enabled server; rs0 disabled drains.
    expect(p.floor).toBe(2);
    expect(statusOf(p)).toEqual({ rs0: 'draining', rs1: 'held', rs2: 'draining', rs3: 'pooled' });
    expect(p.state.alert).toBe(true);
    expect(p.events.at(-1)).toMatchObject({ kind: 'alert', alert: true });
  });

  it('holds failed servers at the floor, raises the alert, and releases them as healthy ones return', () => {
    const cfg: PoolConfig = { depoolThreshold: 0.5, drainMs: 1000 };
    let p = planPool(cfg, members(4), emptyPoolState(), 0);
    p = planPool(cfg, members(4, (i) => i === 3), p.state, 1);
    expect(p.pooledCount).toBe(2);
    expect(p.held).toHaveLength(1);
    expect(p.state.alert).toBe(true);
    expect(p.destinations.filter((d) => d.weight > 0)).toHaveLength(2);
    p = planPool(cfg, members(4, (i) => i >= 2), p.state, 2);
    expect(p.held).toEqual([]);
    expect(p.state.alert).toBe(false);
    expect(p.events.find((e) => e.kind === 'alert')).toMatchObject({ alert: false });
  });

  it('removes members that leave the configuration', () => {
    let p = planPool({}, members(2), emptyPoolState(), 0);
    p = planPool({}, members(1), p.state, 1);
    expect(p.events).toEqual([{ kind: 'member', at: 1, id: 'rs1', from: 'pooled', to: 'out', reason: 'removed from the pool configuration' }]);
    expect(p.state.members.rs1).toBeUndefined();
  });

  it('refuses bad input', () => {
    expect(() => planPool({ depoolThreshold: 1.5 }, [], emptyPoolState(), 0)).toThrow(RangeError);
    expect(() => planPool({ drainMs: -1 }, [], emptyPoolState(), 0)).toThrow(RangeError);
    expect(() => planPool({}, [...members(1), ...members(1)], emptyPoolState(), 0)).toThrow(/duplicate/);
    expect(() => planPool({}, members(1, () => true, 1.5), emptyPoolState(), 0)).toThrow(/weight/);
  });
});

// ---- properties ------------------------------------------------------------

interface Step {
  dt: number;
  healthy: boolean[];
  enabled: boolean[];
  connections: Array<number | undefined>;
}
const N = 8;
const step = fc.record({
  dt: fc.integer({ min: 0, max: 3000 }),
  healthy: fc.array(fc.boolean(), { minLength: N, maxLength: N }),
  enabled: fc.array(fc.integer({ min: 0, max: 9 }).map((x) => x > 0), { minLength: N, maxLength: N }),
  connections: fc.array(fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }), { minLength: N, maxLength: N }),
});
const scenario = fc.record({
  threshold: fc.double({ min: 0, max: 1, noNaN: true }),
  drainMs: fc.integer({ min: 0, max: 5000 }),
  weights: fc.array(fc.integer({ min: 0, max: 100 }), { minLength: N, maxLength: N }),
  steps: fc.array(step, { minLength: 1, maxLength: 30 }),
  fixedEnabled: fc.boolean(),
});

function inputsFor(weights: number[], s: Step, fixedEnabled: boolean): PoolMemberInput[] {
  return weights.map((weight, i) => {
    const m: PoolMemberInput = { id: `rs${i}`, address: `10.0.0.${i + 1}`, port: 443, weight, enabled: fixedEnabled ? true : (s.enabled[i] as boolean), healthy: s.healthy[i] as boolean };
    const c = s.connections[i];
    if (c !== undefined) m.connections = c;
    return m;
  });
}

describe('pool properties', () => {
  it('never below the floor: once the floor is met, failures never take the pool below it', () => {
    fc.assert(
      fc.property(scenario, ({ threshold, drainMs, weights, steps }) => {
        const cfg: PoolConfig = { depoolThreshold: threshold, drainMs };
        // Start with every server healthy and pooled, then let anything happen (membership fixed).
        let now = 0;
        let p = planPool(cfg, inputsFor(weights, { dt: 0, healthy: Array(N).fill(true), enabled: [], connections: [] }, true), emptyPoolState(), now);
        for (const s of steps) {
          now += s.dt;
          p = planPool(cfg, inputsFor(weights, s, true), p.state, now);
          expect(p.pooledCount).toBeGreaterThanOrEqual(p.floor);
          const atWeight = Object.values(p.state.members).filter((m) => m.status === 'pooled' || m.status === 'held').length;
          expect(atWeight).toBeGreaterThanOrEqual(p.floor);
        }
      }),
    );
  });

  it('never an extra depool: healthy enabled servers are always pooled at their weight; only as many failed servers are held as the floor needs', () => {
    fc.assert(
      fc.property(scenario, ({ threshold, drainMs, weights, steps, fixedEnabled }) => {
        const cfg: PoolConfig = { depoolThreshold: threshold, drainMs };
        let now = 0;
        let state: PoolState = emptyPoolState();
        for (const s of steps) {
          now += s.dt;
          const ins = inputsFor(weights, s, fixedEnabled);
          const p = planPool(cfg, ins, state, now);
          const enabled = ins.filter((m) => m.enabled);
          const healthy = enabled.filter((m) => m.healthy);
          for (const m of ins) {
            const st = p.state.members[m.id]?.status;
            if (m.enabled && m.healthy) expect(st).toBe('pooled');
            if (st === 'held') expect(m.enabled && !m.healthy).toBe(true);
            if (!m.enabled) expect(st === 'draining' || st === 'out').toBe(true);
          }
          expect(p.held.length).toBeLessThanOrEqual(Math.max(0, p.floor - healthy.length));
          // Held as many as the floor needs, when that many were in the pool to hold.
          const holdable = enabled.filter((m) => !m.healthy && (state.members[m.id]?.status ?? 'out') !== 'out').length;
          expect(p.held.length).toBe(Math.min(holdable, Math.max(0, p.floor - healthy.length)));
          expect(p.state.alert).toBe(p.held.length > 0);
          // Output: full weight for pooled and held, 0 for draining, absent when out.
          const byAddr = new Map(p.destinations.map((d) => [d.address, d.weight]));
          for (const m of ins) {
            const st = p.state.members[m.id]?.status;
            if (st === 'pooled' || st === 'held') expect(byAddr.get(m.address)).toBe(m.weight);
            else if (st === 'draining') expect(byAddr.get(m.address)).toBe(0);
            else expect(byAddr.has(m.address)).toBe(false);
          }
          state = p.state;
        }
      }),
    );
  });

  it('drain timing: a leaving server stays at weight 0 until drainMs passes or its connections reach 0, never longer', () => {
    fc.assert(
      fc.property(scenario, ({ threshold, drainMs, weights, steps, fixedEnabled }) => {
        const cfg: PoolConfig = { depoolThreshold: threshold, drainMs };
        let now = 0;
        let state: PoolState = emptyPoolState();
        for (const s of steps) {
          now += s.dt;
          const ins = inputsFor(weights, s, fixedEnabled);
          const p = planPool(cfg, ins, state, now);
          for (const m of ins) {
            const before = state.members[m.id];
            const after = p.state.members[m.id] as { status: string; since: number; drainUntil?: number };
            if (after.status === 'draining') {
              expect(after.drainUntil).toBeGreaterThan(now);
              expect(m.connections).not.toBe(0);
              expect(after.drainUntil).toBeLessThanOrEqual(after.since + drainMs);
              expect(p.wakeAt).toBeLessThanOrEqual(after.drainUntil as number);
            }
            if (before?.status === 'draining' && after.status === 'out') {
              expect(now >= (before.drainUntil as number) || m.connections === 0).toBe(true);
            }
            // Straight from pooled/held to out only without a drain time or with nothing to drain.
            if ((before?.status === 'pooled' || before?.status === 'held') && after.status === 'out') expect(drainMs === 0 || m.connections === 0).toBe(true);
          }
          state = p.state;
        }
      }),
    );
  });
});

describe('pool stability', () => {
  it('property: planning again with the same inputs at the same time changes nothing and says nothing', () => {
    fc.assert(
      fc.property(scenario, ({ threshold, drainMs, weights, steps, fixedEnabled }) => {
        const cfg: PoolConfig = { depoolThreshold: threshold, drainMs };
        let now = 0;
        let state: PoolState = emptyPoolState();
        for (const s of steps) {
          now += s.dt;
          const ins = inputsFor(weights, s, fixedEnabled);
          const p = planPool(cfg, ins, state, now);
          const again = planPool(cfg, ins, p.state, now);
          expect(again.events).toEqual([]);
          expect(again.state).toEqual(p.state);
          expect(again.destinations).toEqual(p.destinations);
          state = p.state;
        }
      }),
    );
  });

  it('property: a held server stays the one held while nothing changes (no churn between failed servers)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 8 }), fc.integer({ min: 1, max: 20 }), (n, rounds) => {
        const cfg: PoolConfig = { depoolThreshold: 1, drainMs: 1000 };
        const all = (healthy: boolean): PoolMemberInput[] =>
          Array.from({ length: n }, (_, i) => ({ id: `rs${i}`, address: `10.0.0.${i + 1}`, port: 80, weight: 1, enabled: true, healthy: healthy || i === 0 }));
        let p = planPool(cfg, all(true), emptyPoolState(), 0);
        p = planPool(cfg, all(false), p.state, 1);
        const held = [...p.held].sort();
        for (let r = 0; r < rounds; r++) {
          p = planPool(cfg, all(false), p.state, 2 + r * 500);
          expect([...p.held].sort()).toEqual(held);
        }
      }),
    );
  });
});
