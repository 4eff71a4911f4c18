import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decayedPenalty, initialServerState, recordQuietResult, stepServer, type ServerConfig, type ServerEvent, type ServerState } from '../../../src/monitors/fsm-server.js';
import type { CheckResult } from '../../../src/monitors/types.js';

const ok = (reason = 'HTTP 200'): CheckResult => ({ ok: true, reason, latencyMs: 1 });
const bad = (reason = 'HTTP 503'): CheckResult => ({ ok: false, reason, latencyMs: 1 });

/** Feed results in order, one ms apart; return the final state and every event. */
function run(config: ServerConfig, inputs: Array<[string, CheckResult]>, start = 0): { state: ServerState; events: ServerEvent[]; ups: boolean[] } {
  let state = initialServerState(config, start);
  const events: ServerEvent[] = [];
  const ups: boolean[] = [];
  inputs.forEach(([check, result], i) => {
    const step = stepServer(config, state, { type: 'result', check, result }, start + i + 1);
    state = step.state;
    events.push(...step.events);
    ups.push(state.up);
  });
  return { state, events, ups };
}

describe('server state: rise and fall', () => {
  it('starts down and needs rise successes; never up before the first result', () => {
    const cfg: ServerConfig = { checks: [{ name: 'http' }], rise: 2, fall: 3 };
    const s0 = initialServerState(cfg, 0);
    expect(s0).toMatchObject({ up: false, healthy: false, enabled: true });
    const { ups, events } = run(cfg, [['http', ok()], ['http', ok()]]);
    expect(ups).toEqual([false, true]);
    expect(events.map((e) => e.kind)).toEqual(['check', 'health', 'state']);
    expect(events[2]).toMatchObject({ kind: 'state', up: true, check: 'http', at: 2 });
    expect(events[0]?.reason).toBe('http up after 2 consecutive successes: HTTP 200');
  });

  it('goes down after fall consecutive failures only, saying which check saw what', () => {
    const cfg: ServerConfig = { checks: [{ name: 'http' }], rise: 1, fall: 3, initial: 'up' };
    const { ups, events } = run(cfg, [['http', bad()], ['http', bad()], ['http', ok()], ['http', bad()], ['http', bad()], ['http', bad('connection refused (ECONNREFUSED)')]]);
    expect(ups).toEqual([true, true, true, true, true, false]);
    const state = events.find((e) => e.kind === 'state');
    expect(state).toMatchObject({ up: false, check: 'http', result: { reason: 'connection refused (ECONNREFUSED)' } });
    expect(state?.reason).toBe('http down after 3 consecutive failures: connection refused (ECONNREFUSED)');
  });

  it('needs every check up; one check down takes the server down', () => {
    const cfg: ServerConfig = { checks: [{ name: 'http' }, { name: 'idle', rise: 1, fall: 1 }], rise: 1, fall: 1 };
    const { ups, events } = run(cfg, [['http', ok()], ['idle', ok()], ['idle', bad('connection lost (ECONNRESET)')], ['idle', ok()]]);
    expect(ups).toEqual([false, true, false, true]);
    expect(events.filter((e) => e.kind === 'state').map((e) => (e as { reason: string }).reason)).toEqual([
      'all checks up (last: idle up after 1 consecutive success: HTTP 200)',
      'idle down after 1 consecutive failure: connection lost (ECONNRESET)',
      'all checks up (last: idle up after 1 consecutive success: HTTP 200)',
    ]);
  });

  it("'first-result': down until the first result, which decides alone; rise and fall after that", () => {
    const cfg: ServerConfig = { checks: [{ name: 'http' }], rise: 3, fall: 2, initial: 'first-result' };
    expect(initialServerState(cfg, 0).up).toBe(false);
    expect(run(cfg, [['http', ok()]]).ups).toEqual([true]);
    // A failed first result keeps it down; then it needs rise successes like any down check.
    expect(run(cfg, [['http', bad()], ['http', ok()], ['http', ok()], ['http', ok()]]).ups).toEqual([false, false, false, true]);
    // Once up, fall applies.
    expect(run(cfg, [['http', ok()], ['http', bad()], ['http', bad()]]).ups).toEqual([true, true, false]);
  });

  it('honours an optimistic initial state when configured', () => {
    const s = initialServerState({ checks: [{ name: 'tcp' }], initial: 'up' }, 0);
    expect(s.up).toBe(true);
  });

  it('refuses bad configs', () => {
    expect(() => initialServerState({ checks: [{ name: 'a' }], rise: 0 }, 0)).toThrow(RangeError);
    expect(() => initialServerState({ checks: [{ name: 'a' }, { name: 'a' }] }, 0)).toThrow(/duplicate/);
    expect(() => initialServerState({ checks: [], damping: { reuseBelow: 5000 } }, 0)).toThrow(/damping/);
    const s = initialServerState({ checks: [{ name: 'a' }] }, 0);
    expect(() => stepServer({ checks: [{ name: 'a' }] }, s, { type: 'result', check: 'b', result: ok() }, 1)).toThrow(/no check named b/);
  });

  it('property: a check turns up only after rise consecutive successes (or on the first result with first-result) and down only after fall consecutive failures', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.constantFrom<'up' | 'down' | 'first-result'>('up', 'down', 'first-result'), fc.array(fc.boolean(), { maxLength: 60 }), (rise, fall, initial, seq) => {
        const cfg: ServerConfig = { checks: [{ name: 'c' }], rise, fall, initial };
        const { ups } = run(cfg, seq.map((b) => ['c', b ? ok() : bad()]));
        // Reference model.
        let up = initial === 'up';
        let streakOk = 0;
        let streakBad = 0;
        seq.forEach((b, i) => {
          if (b) {
            streakOk++;
            streakBad = 0;
            if (!up && (streakOk >= rise || (i === 0 && initial === 'first-result'))) up = true;
          } else {
            streakBad++;
            streakOk = 0;
            if (up && streakBad >= fall) up = false;
          }
          expect(ups[i]).toBe(up);
          // Derived facts stated directly:
          const prevUp = i === 0 ? initial === 'up' : ups[i - 1];
          const decidedByFirst = i === 0 && initial === 'first-result';
          if (ups[i] && !prevUp && !decidedByFirst) expect(seq.slice(Math.max(0, i - rise + 1), i + 1).every((x) => x) && i + 1 >= rise).toBe(true);
          if (!ups[i] && prevUp) expect(seq.slice(i - fall + 1, i + 1).every((x) => !x) && i + 1 >= fall).toBe(true);
        });
      }),
    );
  });

  it('property: the server is up exactly when enabled and every check is up', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.tuple(fc.constantFrom('a', 'b', 'c'), fc.boolean()), fc.tuple(fc.constant('admin'), fc.boolean())), { maxLength: 80 }),
        (inputs) => {
          const cfg: ServerConfig = { checks: [{ name: 'a' }, { name: 'b', rise: 1 }, { name: 'c', fall: 1 }], rise: 2, fall: 2 };
          let st = initialServerState(cfg, 0);
          let t = 0;
          for (const [what, v] of inputs) {
            const step = stepServer(cfg, st, what === 'admin' ? { type: 'admin', enabled: v } : { type: 'result', check: what, result: v ? ok() : bad() }, ++t);
            const changes = step.events.filter((e) => e.kind === 'state');
            expect(changes.length).toBe(step.state.up !== st.up ? 1 : 0);
            st = step.state;
            expect(st.up).toBe(st.enabled && st.checks.every((c) => c.up));
          }
        },
      ),
    );
  });
});

describe('server state: admin', () => {
  it('disabling takes an up server down with the operator reason, and enabling brings it back', () => {
    const cfg: ServerConfig = { checks: [{ name: 'tcp' }], rise: 1 };
    let st = run(cfg, [['tcp', ok()]]).state;
    expect(st.up).toBe(true);
    const off = stepServer(cfg, st, { type: 'admin', enabled: false, reason: 'maintenance T123' }, 10);
    expect(off.state).toMatchObject({ up: false, enabled: false, healthy: true });
    expect(off.events).toEqual([
      { kind: 'admin', at: 10, enabled: false, reason: 'maintenance T123' },
      { kind: 'state', at: 10, up: false, reason: 'maintenance T123' },
    ]);
    st = off.state;
    expect(stepServer(cfg, st, { type: 'admin', enabled: false }, 11).events).toEqual([]);
    const on = stepServer(cfg, st, { type: 'admin', enabled: true }, 12);
    expect(on.state.up).toBe(true);
    expect(on.events.at(-1)).toMatchObject({ kind: 'state', up: true, reason: 'enabled by operator' });
  });

  it('a server configured disabled stays down however healthy', () => {
    const { ups } = run({ checks: [{ name: 'tcp' }], rise: 1, enabled: false }, [['tcp', ok()], ['tcp', ok()]]);
    expect(ups).toEqual([false, false]);
  });
});

describe('server state: flap damping', () => {
  const cfg: ServerConfig = { checks: [{ name: 'tcp' }], rise: 1, fall: 1, damping: { penalty: 1000, suppressAbove: 2500, reuseBelow: 750, halfLifeMs: 60_000 } };

  it('holds a flapping server down, then releases it when the penalty decays, at wakeAt', () => {
    let st = initialServerState(cfg, 0);
    const events: ServerEvent[] = [];
    let t = 0;
    let wakeAt: number | undefined;
    const feed = (b: boolean): void => {
      const step = stepServer(cfg, st, { type: 'result', check: 'tcp', result: b ? ok() : bad() }, (t += 100));
      st = step.state;
      wakeAt = step.wakeAt;
      events.push(...step.events);
    };
    for (let i = 0; i < 3; i++) {
      feed(true);
      feed(false);
    }
    expect(st.damped).toBe(true);
    feed(true); // healthy again, but held down
    expect(st).toMatchObject({ healthy: true, damped: true, up: false });
    expect(events.filter((e) => e.kind === 'damping')).toHaveLength(1);
    expect(wakeAt).toBeDefined();
    const at = wakeAt as number;
    // Not before:
    const early = stepServer(cfg, st, { type: 'tick' }, at - 1000);
    expect(early.state.up).toBe(false);
    expect(early.wakeAt).toBe(at);
    // At wakeAt:
    const released = stepServer(cfg, st, { type: 'tick' }, at);
    expect(released.state).toMatchObject({ damped: false, up: true });
    expect(released.events.map((e) => e.kind)).toEqual(['damping', 'state']);
    expect(released.events[1]?.reason).toMatch(/^damping released/);
    expect(decayedPenalty(st.penalty, st.penaltyAt, at, 60_000)).toBeLessThan(750);
    // About half-life x log2(penalty / reuse) after the last fall.
    expect(at - st.penaltyAt).toBeGreaterThan(60_000);
    expect(at - st.penaltyAt).toBeLessThan(5 * 60_000);
  });

  it('property: within a short burst a server comes up at most suppressAbove/penalty + 1 times', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { maxLength: 200 }), (seq) => {
        const { events } = run(cfg, seq.map((b) => ['tcp', b ? ok() : bad()]));
        const upCount = events.filter((e) => e.kind === 'state' && e.up).length;
        expect(upCount).toBeLessThanOrEqual(Math.floor(2500 / 1000) + 1);
      }),
    );
  });

  it('property: damping never brings a server up that checks say is down', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 200_000 })), { maxLength: 60 }), (seq) => {
        let st = initialServerState(cfg, 0);
        let t = 0;
        for (const [b, dt] of seq) {
          t += dt;
          const step = stepServer(cfg, st, dt % 3 === 0 ? { type: 'tick' } : { type: 'result', check: 'tcp', result: b ? ok() : bad() }, t);
          st = step.state;
          if (st.up) expect(st.healthy && !st.damped).toBe(true);
          if (st.damped) expect(step.wakeAt).toBeGreaterThan(t);
        }
      }),
    );
  });
});

describe('server state: results recorded in place', () => {
  it('property: recordQuietResult takes exactly the results stepServer answers with no event, and leaves the same state', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        fc.constantFrom<'up' | 'down' | 'first-result'>('up', 'down', 'first-result'),
        fc.boolean(),
        fc.array(fc.tuple(fc.constantFrom('a', 'b'), fc.boolean(), fc.integer({ min: 1, max: 30_000 })), { maxLength: 80 }),
        (rise, fall, initial, damp, seq) => {
          const cfg: ServerConfig = { checks: [{ name: 'a' }, { name: 'b', fall: 1 }], rise, fall, initial, damping: damp ? { halfLifeMs: 10_000 } : false };
          let now = 0;
          // The reference: stepServer alone. The other: in place when it can, else stepServer.
          let ref = initialServerState(cfg, now);
          let mixed = initialServerState(cfg, now);
          for (const [check, good, dt] of seq) {
            now += dt;
            const r = good ? ok() : bad();
            const step = stepServer(cfg, ref, { type: 'result', check, result: r }, now);
            const quiet = recordQuietResult(cfg, mixed, check === 'a' ? 0 : 1, r, now);
            if (!quiet) mixed = stepServer(cfg, mixed, { type: 'result', check, result: r }, now).state;
            // In place only when the full step says nothing (no event, no damping to time).
            if (quiet) expect(step.events).toEqual([]);
            if (step.events.length === 0 && step.wakeAt === undefined && !step.state.damped) expect(quiet).toBe(true);
            ref = step.state;
            expect(mixed).toEqual(ref);
          }
        },
      ),
    );
  });
});
