import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { Monitor, type MonitoredCheck } from '../../../src/monitors/monitor.js';
import type { ServerEvent } from '../../../src/monitors/fsm-server.js';
import type { Check, CheckOptions, CheckResult, CheckTarget, StatefulCheck } from '../../../src/monitors/types.js';
import { AbortError, isLvskitError } from '../../../src/util/errors.js';
import { FakeClock } from '../../../src/util/clock.js';

const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

/** Advance fake time in small steps, letting check promises settle between steps (as real time would). */
async function tick(clock: FakeClock, ms: number, step = 10): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    clock.advance(Math.min(step, ms - t));
    await flush();
  }
}

/** A scripted polled check: records calls with the fake time, answers from a function, or waits to be released. */
class ScriptedCheck implements Check {
  readonly kind = 'scripted';
  readonly calls: Array<{ at: number; address: string }> = [];
  readonly pending: Array<{ resolve: (r: CheckResult) => void; address: string }> = [];
  hold = false;
  answer: (t: CheckTarget) => boolean = () => true;
  constructor(private readonly clock: FakeClock) {}
  check(target: CheckTarget, options?: CheckOptions): Promise<CheckResult> {
    this.calls.push({ at: this.clock.now(), address: target.address });
    if (this.hold) {
      return new Promise((resolve, reject) => {
        this.pending.push({ resolve, address: target.address });
        options?.signal?.addEventListener('abort', () => reject(new AbortError(options.signal?.reason)), { once: true });
      });
    }
    const ok = this.answer(target);
    return Promise.resolve({ ok, reason: ok ? 'fine' : 'HTTP 503', latencyMs: 3 });
  }
  releaseAll(ok = true): void {
    for (const p of this.pending.splice(0)) p.resolve({ ok, reason: ok ? 'fine' : 'HTTP 503', latencyMs: 5 });
  }
}

/** A stateful check the test pushes results through. */
class PushCheck implements StatefulCheck {
  readonly kind = 'push';
  readonly pushers = new Map<string, (r: CheckResult) => void>();
  readonly signals: AbortSignal[] = [];
  watch(target: CheckTarget, onResult: (r: CheckResult) => void, options: { signal: AbortSignal }): void {
    this.pushers.set(target.address, onResult);
    this.signals.push(options.signal);
  }
  push(address: string, ok: boolean, reason: string): void {
    this.pushers.get(address)?.({ ok, reason, latencyMs: 0 });
  }
}

let monitors: Monitor[] = [];
afterEach(async () => {
  await Promise.all(monitors.map((m) => m.stop()));
  monitors = [];
});
function make(opts: ConstructorParameters<typeof Monitor>[0]): Monitor {
  const m = new Monitor(opts);
  monitors.push(m);
  return m;
}

function seq(values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length] as number;
}

describe('Monitor scheduling', () => {
  it('spreads first runs over the first interval, then runs every interval x (1 - jitter x r): never later than the interval', async () => {
    const clock = new FakeClock();
    const c = new ScriptedCheck(clock);
    // random: first-run offsets 0.25 and 0.75, then jitter draws cycle through the same list.
    const m = make({ clock, random: seq([0.25, 0.75, 0, 0.999999, 0, 0.999999]), jitter: 0.1 });
    m.add({ id: 'a', target: { address: 'a' }, checks: [{ name: 'c', check: c, intervalMs: 1000 }] });
    m.add({ id: 'b', target: { address: 'b' }, checks: [{ name: 'c', check: c, intervalMs: 1000 }] });
    m.start();
    await tick(clock, 1000);
    expect(c.calls.slice(0, 2)).toEqual([
      { at: 250, address: 'a' },
      { at: 750, address: 'b' },
    ]);
    await tick(clock, 5000);
    const gaps = (addr: string): number[] => {
      const at = c.calls.filter((x) => x.address === addr).map((x) => x.at);
      return at.slice(1).map((t, i) => t - (at[i] as number));
    };
    for (const g of [...gaps('a'), ...gaps('b')]) {
      expect(g).toBeGreaterThanOrEqual(900 - 1e-6);
      expect(g).toBeLessThanOrEqual(1000 + 1e-6);
    }
    // Each gap is interval x (1 - 0.1 x r) for a draw r of the injected source: 0.25, 0.75, 0, ~1.
    const allowed = new Set([975, 925, 1000, 900]);
    const seen = new Set([...gaps('a'), ...gaps('b')].map(Math.round));
    for (const g of seen) expect(allowed.has(g)).toBe(true);
    expect(seen.size).toBeGreaterThan(1);
  });

  it('coalesceMs starts checks due close together in one turn, early and never late; 0 keeps each at its own time', async () => {
    const run = async (coalesceMs: number): Promise<number[]> => {
      const clock = new FakeClock();
      const c = new ScriptedCheck(clock);
      // First runs at 0.5 x 1000 = 500, 0.504 x 1000 = 504 and 0.52 x 1000 = 520; no jitter after.
      const m = make({ clock, random: seq([0.5, 0.504, 0.52]), jitter: 0, coalesceMs });
      for (const a of ['a', 'b', 'c']) m.add({ id: a, target: { address: a }, checks: [{ name: 'x', check: c, intervalMs: 1000 }] });
      m.start();
      await tick(clock, 1600, 1);
      await m.stop();
      expect(clock.pending).toBe(0);
      return c.calls.map((x) => x.at);
    };
    expect(await run(0)).toEqual([500, 504, 520, 1500, 1504, 1520]);
    // Within 10 ms of 500: b starts with a (4 ms early); c stays on its own. Each next run is an interval after its due
    // time (b's next is due at 1504, and starts with a's at 1500 again).
    expect(await run(10)).toEqual([500, 500, 520, 1500, 1500, 1520]);
    expect(() => new Monitor({ coalesceMs: -1 })).toThrow(/coalesceMs/);
  });

  it('never runs more than `concurrency` checks at once, and runs every due server in turn', async () => {
    const clock = new FakeClock();
    const c = new ScriptedCheck(clock);
    c.hold = true;
    const m = make({ clock, random: () => 0, concurrency: 3, jitter: 0 });
    for (let i = 0; i < 10; i++) m.add({ id: `s${i}`, target: { address: `s${i}` }, checks: [{ name: 'c', check: c, intervalMs: 1000 }] });
    m.start();
    clock.advance(0);
    await flush();
    expect(m.running).toBe(3);
    expect(m.waiting).toBe(7);
    const seen = new Set<string>();
    for (let round = 0; round < 10 && seen.size < 10; round++) {
      expect(m.running).toBeLessThanOrEqual(3);
      for (const p of c.pending) seen.add(p.address);
      c.releaseAll();
      await flush();
    }
    expect(seen.size).toBe(10);
    expect(c.calls.map((x) => x.address)).toEqual(Array.from({ length: 10 }, (_, i) => `s${i}`));
  });

  it('never overlaps a server’s checks: a due check waits for the running one and is not queued twice', async () => {
    const clock = new FakeClock();
    const slow = new ScriptedCheck(clock);
    slow.hold = true;
    const quick = new ScriptedCheck(clock);
    const m = make({ clock, random: () => 0, jitter: 0 });
    m.add({
      id: 's',
      target: { address: 's' },
      checks: [
        { name: 'slow', check: slow, intervalMs: 1000 },
        { name: 'quick', check: quick, intervalMs: 100 },
      ],
    });
    m.start();
    clock.advance(0);
    await flush();
    expect(slow.calls).toHaveLength(1);
    expect(quick.calls).toHaveLength(0); // due at 0 too, but the slow one runs
    clock.advance(5000); // many intervals pass while the slow check hangs
    await flush();
    expect(quick.calls).toHaveLength(0);
    expect(m.running).toBe(1);
    slow.releaseAll();
    await flush();
    // Then each waiting check runs once, one at a time, not once per missed interval.
    expect(quick.calls).toHaveLength(1);
    expect(slow.calls).toHaveLength(2);
  });

  it('feeds results into rise/fall and emits events with the reason', async () => {
    const clock = new FakeClock();
    const c = new ScriptedCheck(clock);
    let healthy = true;
    c.answer = () => healthy;
    const m = make({ clock, random: () => 0, jitter: 0 });
    const states: Array<[string, boolean, string, number]> = [];
    m.on('state', (id, up, ev) => states.push([id, up, ev.reason, clock.now()]));
    m.add({ id: 'rs1', target: { address: '10.0.0.1', service: 'web' }, checks: [{ name: 'http', check: c, intervalMs: 1000 }], rise: 2, fall: 2 });
    m.start();
    expect(m.state('rs1')?.up).toBe(false);
    await tick(clock, 2500);
    healthy = false;
    await tick(clock, 3000);
    expect(states).toEqual([
      ['rs1', true, 'all checks up (last: http up after 2 consecutive successes: fine)', 1000],
      ['rs1', false, 'http down after 2 consecutive failures: HTTP 503', 4000],
      // checks at 0, 1000, 2000 pass; 3000, 4000, 5000 fail
    ]);
    const snap = m.metrics.snapshot();
    expect(snap.checks[0]).toMatchObject({ service: 'web', server: 'rs1', check: 'http', kind: 'scripted', up: 3, down: 3 });
    expect(snap.servers[0]).toMatchObject({ up: false, toUp: 1, toDown: 1 });
  });

  it('takes stateful checks’ pushes without polling them, and stops their watch on remove', async () => {
    const clock = new FakeClock();
    const idle = new PushCheck();
    const m = make({ clock });
    const events: ServerEvent[] = [];
    m.on('event', (_id, ev) => events.push(ev));
    m.add({ id: 'rs', target: { address: 'x' }, checks: [{ name: 'idle', check: idle }] });
    m.start();
    idle.push('x', true, 'connected');
    expect(m.state('rs')?.up).toBe(true); // stateful checks rise and fall at once by default
    idle.push('x', false, 'connection lost: connection reset (ECONNRESET)');
    expect(m.state('rs')?.up).toBe(false);
    expect(events.filter((e) => e.kind === 'state').map((e) => e.reason)).toEqual([
      'all checks up (last: idle up after 1 consecutive success: connected)',
      'idle down after 1 consecutive failure: connection lost: connection reset (ECONNRESET)',
    ]);
    expect(clock.pending).toBe(0);
    expect(m.remove('rs')).toBe(true);
    expect(idle.signals[0]?.aborted).toBe(true);
    expect(m.remove('rs')).toBe(false);
  });

  it('admin disable and enable go through the server state', async () => {
    const clock = new FakeClock();
    const c = new ScriptedCheck(clock);
    const m = make({ clock, random: () => 0, jitter: 0 });
    m.add({ id: 'rs', target: { address: 'x' }, checks: [{ name: 'c', check: c, intervalMs: 100 }], rise: 1 });
    m.start();
    clock.advance(0);
    await flush();
    expect(m.state('rs')?.up).toBe(true);
    const seen: string[] = [];
    m.on('state', (_id, up, ev) => seen.push(`${up}:${ev.reason}`));
    m.setEnabled('rs', false, 'maintenance');
    m.setEnabled('rs', true);
    expect(seen).toEqual(['false:maintenance', 'true:enabled by operator']);
    expect(() => m.setEnabled('nope', true)).toThrow(expect.objectContaining({ code: 'ERR_MONITOR_UNKNOWN_SERVER' }));
  });

  it('releases damping on the clock', async () => {
    const clock = new FakeClock();
    const c = new ScriptedCheck(clock);
    let n = 0;
    c.answer = () => n++ < 6 ? n % 2 === 1 : true; // up, down, up, down, up, down, then up for good
    const m = make({ clock, random: () => 0, jitter: 0 });
    m.add({ id: 'rs', target: { address: 'x' }, checks: [{ name: 'c', check: c, intervalMs: 100 }], rise: 1, fall: 1, damping: { halfLifeMs: 10_000 } });
    m.start();
    for (let i = 0; i < 10; i++) {
      clock.advance(100);
      await flush();
    }
    expect(m.state('rs')).toMatchObject({ healthy: true, damped: true, up: false });
    clock.advance(60_000);
    await flush();
    expect(m.state('rs')).toMatchObject({ damped: false, up: true });
  });

  it('stop aborts running checks, cancels every timer, and a thrown non-abort error counts as down', async () => {
    const clock = new FakeClock();
    const c = new ScriptedCheck(clock);
    c.hold = true;
    const broken: Check = { kind: 'broken', check: () => Promise.reject(new Error('bug in check')) };
    const m = make({ clock, random: () => 0, jitter: 0 });
    const results: CheckResult[] = [];
    m.on('result', (_id, _c, r) => results.push(r));
    m.add({ id: 'a', target: { address: 'a' }, checks: [{ name: 'c', check: c, intervalMs: 100 }] });
    m.add({ id: 'b', target: { address: 'b' }, checks: [{ name: 'b', check: broken, intervalMs: 100 }] });
    m.start();
    clock.advance(0);
    await flush();
    expect(results).toEqual([{ ok: false, reason: 'bug in check', latencyMs: 0 }]);
    expect(m.running).toBe(1);
    await m.stop();
    expect(m.running).toBe(0);
    expect(clock.pending).toBe(0);
    expect(results).toHaveLength(1); // the aborted check reports nothing
  });

  it('a check that never settles is failed by the watchdog and frees its slot', async () => {
    const clock = new FakeClock();
    const hang: Check = { kind: 'hang', check: () => new Promise(() => undefined) };
    const m = make({ clock, random: () => 0, jitter: 0, concurrency: 1, watchdogMs: 5000 });
    const results: CheckResult[] = [];
    m.on('result', (_id, _c, r) => results.push(r));
    m.add({ id: 'a', target: { address: 'a' }, checks: [{ name: 'c', check: hang, intervalMs: 1000 }] });
    m.start();
    await tick(clock, 4990, 100);
    expect(results).toEqual([]);
    expect(m.running).toBe(1);
    await tick(clock, 20, 10);
    expect(results[0]).toMatchObject({ ok: false, reason: 'check did not settle within 5000 ms (watchdog)', details: { watchdog: true } });
    expect(m.running).toBe(1); // the next (due) run started at once
    await m.stop();
    expect(m.running).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('starts again after stop, with stateful watches renewed', async () => {
    const clock = new FakeClock();
    const c = new ScriptedCheck(clock);
    const idle = new PushCheck();
    const m = make({ clock, random: () => 0, jitter: 0 });
    m.add({ id: 'a', target: { address: 'a' }, checks: [{ name: 'c', check: c, intervalMs: 100 }, { name: 'idle', check: idle }] });
    m.start();
    await tick(clock, 250);
    const n = c.calls.length;
    await m.stop();
    await tick(clock, 500);
    expect(c.calls.length).toBe(n);
    expect(idle.signals[0]?.aborted).toBe(true);
    m.start();
    await tick(clock, 250);
    expect(c.calls.length).toBeGreaterThan(n);
    expect(idle.signals).toHaveLength(2);
    expect(idle.signals[1]?.aborted).toBe(false);
  });

  it('property: never more than `concurrency` checks at once, never two of one server, and every check keeps running', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }),
        fc.array(fc.array(fc.record({ interval: fc.integer({ min: 50, max: 400 }), duration: fc.integer({ min: 0, max: 300 }) }), { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        async (concurrency, servers, seed) => {
          const clock = new FakeClock();
          let x = seed;
          const random = (): number => {
            x = (x * 1103515245 + 12345) % 2 ** 31;
            return x / 2 ** 31;
          };
          let global = 0;
          let maxGlobal = 0;
          const perServer = new Map<string, number>();
          const runs = new Map<string, number>();
          let violation = '';
          const mk = (duration: number, key: string): Check => ({
            kind: 'timed',
            check: (t, o) =>
              new Promise((resolve, reject) => {
                global++;
                maxGlobal = Math.max(maxGlobal, global);
                const n = (perServer.get(t.address) ?? 0) + 1;
                perServer.set(t.address, n);
                if (n > 1) violation = `overlap on ${t.address}`;
                runs.set(key, (runs.get(key) ?? 0) + 1);
                const end = (): void => {
                  global--;
                  perServer.set(t.address, (perServer.get(t.address) ?? 1) - 1);
                };
                const ok = random() > 0.3; // failures put checks on their fast interval now and then
                const h = clock.setTimer(duration, () => {
                  end();
                  resolve({ ok, reason: ok ? 'ok' : 'HTTP 503', latencyMs: duration });
                });
                o?.signal?.addEventListener('abort', () => {
                  h.cancel();
                  end();
                  reject(new AbortError());
                });
              }),
          });
          const m = new Monitor({ clock, random, concurrency, jitter: 0.1 });
          servers.forEach((checks, i) =>
            m.add({ id: `s${i}`, target: { address: `s${i}` }, checks: checks.map((c, j) => ({ name: `c${j}`, check: mk(c.duration, `s${i}/c${j}`), intervalMs: c.interval, fastIntervalMs: Math.max(20, Math.round(c.interval / 3)) })) }),
          );
          m.start();
          const horizon = 6000;
          await tick(clock, horizon, 25);
          await m.stop();
          expect(violation).toBe('');
          expect(maxGlobal).toBeLessThanOrEqual(concurrency);
          // Liveness: each check ran; when capacity is ample it kept to its interval.
          const ample = concurrency >= servers.length && servers.every((cs) => cs.reduce((a, c) => a + c.duration + 25, 0) <= Math.min(...cs.map((c) => c.interval)) * 0.9);
          servers.forEach((checks, i) =>
            checks.forEach((c, j) => {
              const n = runs.get(`s${i}/c${j}`) ?? 0;
              expect(n).toBeGreaterThan(0);
              if (ample) expect(n).toBeGreaterThanOrEqual(Math.floor(horizon / (c.interval * 1.1)) - 2);
            }),
          );
        },
      ),
      { numRuns: 25 },
    );
  }, 60_000);

  it('property: a failure is detected within interval + (fall - 1) x fastInterval of its start (plus the check’s own time), whatever the jitter', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 100, max: 2000 }),
        fc.integer({ min: 1, max: 4 }),
        fc.double({ min: 0, max: 0.5, noNaN: true }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.integer({ min: 0, max: 5000 }),
        fc.integer({ min: 0, max: 50 }),
        fc.double({ min: 0.1, max: 1, noNaN: true }),
        async (interval, fall, jitter, seed, failAfter, checkMs, fastShare) => {
          const fast = Math.max(20, Math.round(interval * fastShare));
          const clock = new FakeClock();
          let x = seed;
          const random = (): number => {
            x = (x * 1103515245 + 12345) % 2 ** 31;
            return x / 2 ** 31;
          };
          const failFrom = interval * 2 + failAfter; // after the server has come up
          const check: Check = {
            kind: 'timed',
            check: () => {
              const ok = clock.now() < failFrom;
              return new Promise((resolve) => clock.setTimer(checkMs, () => resolve({ ok, reason: ok ? 'ok' : 'HTTP 503', latencyMs: checkMs })));
            },
          };
          const m = new Monitor({ clock, random, jitter });
          let downAt: number | undefined;
          m.on('state', (_id, up) => {
            if (!up) downAt = clock.now();
          });
          m.add({ id: 's', target: { address: 's' }, checks: [{ name: 'c', check, intervalMs: interval, fastIntervalMs: fast }], rise: 1, fall });
          m.start();
          // The first failing run comes within an interval; with a fast interval the rest follow
          // a fast interval after each result.
          const bound = failFrom + interval + (fall - 1) * (fast + checkMs + 10) + checkMs;
          await tick(clock, bound + interval, 10);
          await m.stop();
          expect(downAt).toBeDefined();
          // The fake clock moves in 10 ms steps and results land on the next step.
          expect(downAt as number).toBeLessThanOrEqual(bound + 10 * (fall + 1));
        },
      ),
      { numRuns: 40 },
    );
  }, 60_000);

  it('whenSettled resolves once every check of every server has reported, so a restart never publishes an empty pool', async () => {
    const clock = new FakeClock();
    const c = new ScriptedCheck(clock);
    const idle = new PushCheck();
    const m = make({ clock, random: seq([0.1, 0.9, 0.5]), jitter: 0 });
    m.add({ id: 'a', target: { address: 'a' }, checks: [{ name: 'http', check: c, intervalMs: 1000 }, { name: 'idle', check: idle }], initial: 'first-result' });
    m.add({ id: 'b', target: { address: 'b' }, checks: [{ name: 'http', check: c, intervalMs: 1000 }], initial: 'first-result' });
    // Its first run falls far in the future: it leaves before it ever reports.
    m.add({ id: 'gone', target: { address: 'g' }, checks: [{ name: 'http', check: c, intervalMs: 1e9 }] });
    expect(m.settled).toBe(false);
    let settledAt: number | undefined;
    const p = m.whenSettled().then(() => {
      settledAt = clock.now();
    });
    m.start();
    await tick(clock, 1000);
    expect(settledAt).toBeUndefined(); // a and b polled, but the idle check and 'gone' have not reported
    idle.push('a', true, 'connected');
    await flush();
    expect(settledAt).toBeUndefined();
    m.remove('gone');
    await p;
    expect(c.calls.map((x) => x.address).sort()).toEqual(['a', 'b']);
    expect(m.settled).toBe(true);
    expect(m.state('a')?.up).toBe(true); // one result each was enough with 'first-result'
    expect(m.state('b')?.up).toBe(true);
    await expect(m.whenSettled()).resolves.toBeUndefined();
    // A new server unsettles it; aborting the wait rejects.
    m.add({ id: 'c', target: { address: 'c' }, checks: [{ name: 'http', check: c, intervalMs: 1000 }] });
    expect(m.settled).toBe(false);
    const ac = new AbortController();
    const waiting = m.whenSettled({ signal: ac.signal });
    ac.abort();
    await expect(waiting).rejects.toBeInstanceOf(AbortError);
  });

  it('runs a check at its fast interval while it is on its way down or up (HAProxy fastinter)', async () => {
    const clock = new FakeClock();
    const c = new ScriptedCheck(clock);
    c.answer = () => clock.now() < 1500;
    const m = make({ clock, random: () => 0, jitter: 0 });
    let downAt: number | undefined;
    m.on('state', (_id, up) => {
      if (!up) downAt = clock.now();
    });
    m.add({ id: 's', target: { address: 's' }, checks: [{ name: 'c', check: c, intervalMs: 1000, fastIntervalMs: 100 }], rise: 2, fall: 3 });
    m.start();
    await tick(clock, 3000);
    const at = c.calls.map((x) => x.at);
    const gaps = at.slice(1).map((t, i) => t - (at[i] as number));
    // Rising after the first success: fast (up after the second); steady: normal, normal; failing from
    // the first run after 1500: fast, fast (down after the third failure); then back to normal. Results
    // land on the next 10 ms step of the fake clock, and a changed pace is timed from the result.
    const kinds = gaps.map((g) => (g <= 100 + 10 ? 'fast' : g >= 1000 - 1e-6 && g <= 1000 + 10 ? 'normal' : `odd ${g}`));
    expect(kinds).toEqual(['fast', 'normal', 'normal', 'fast', 'fast']);
    const firstFail = at.find((t) => t >= 1500) as number;
    expect(downAt).toBeLessThanOrEqual(firstFail + 2 * (100 + 10) + 10);
    expect(() => m.add({ id: 'x', target: { address: 'x' }, checks: [{ name: 'c', check: c, intervalMs: 100, fastIntervalMs: 200 }] })).toThrow(/fastIntervalMs/);
  });

  it('refuses bad specs and options with MonitorError', () => {
    const clock = new FakeClock();
    const c = new ScriptedCheck(clock);
    const m = make({ clock });
    const ok: MonitoredCheck = { name: 'c', check: c };
    m.add({ id: 'a', target: { address: 'a' }, checks: [ok] });
    expect(() => m.add({ id: 'a', target: { address: 'a' }, checks: [ok] })).toThrow(expect.objectContaining({ code: 'ERR_MONITOR_DUPLICATE' }));
    expect(() => m.add({ id: 'b', target: { address: 'b' }, checks: [ok, ok] })).toThrow(/duplicate check name/);
    expect(() => m.add({ id: 'c', target: { address: 'c' }, checks: [{ ...ok, intervalMs: 0 }] })).toThrow(/intervalMs/);
    expect(() => new Monitor({ concurrency: 0 })).toThrow(/concurrency/);
    expect(() => new Monitor({ jitter: 1 })).toThrow(/jitter/);
    expect(() => new Monitor({ watchdogMs: 0 })).toThrow(/watchdogMs/);
    try {
      m.add({ id: 'd', target: { address: 'd' }, checks: [ok], rise: 0 });
    } catch (e) {
      expect(isLvskitError(e, 'ERR_MONITOR_BAD_CONFIG')).toBe(true);
    }
  });
});
