import { describe, expect, it } from 'vitest';
import { FakeClock, RealClock } from '../../../src/util/clock.js';

describe('FakeClock', () => {
  it('starts where told and moves only when advanced', () => {
    const c = new FakeClock(1000);
    expect(c.now()).toBe(1000);
    c.advance(250);
    expect(c.now()).toBe(1250);
    expect(() => c.advance(-1)).toThrow(RangeError);
  });

  it('fires timers in due order, creation order breaking ties, with now() at the due time', () => {
    const c = new FakeClock();
    const seen: string[] = [];
    c.setTimer(30, () => seen.push(`c@${c.now()}`));
    c.setTimer(10, () => seen.push(`a@${c.now()}`));
    c.setTimer(10, () => seen.push(`b@${c.now()}`));
    expect(c.pending).toBe(3);
    expect(c.advance(20)).toBe(2);
    expect(seen).toEqual(['a@10', 'b@10']);
    expect(c.now()).toBe(20);
    c.advance(100);
    expect(seen).toEqual(['a@10', 'b@10', 'c@30']);
    expect(c.pending).toBe(0);
  });

  it('cancelled timers never fire, and cancel is idempotent', () => {
    const c = new FakeClock();
    let fired = 0;
    const h = c.setTimer(5, () => fired++);
    h.cancel();
    h.cancel();
    c.advance(10);
    expect(fired).toBe(0);
  });

  it('fires timers set by timers within the same advance, and runs hours of periodic time quickly', () => {
    const c = new FakeClock();
    let ticks = 0;
    const tick = (): void => {
      ticks++;
      c.setTimer(30_000, tick); // a keepalive every 30 s
    };
    c.setTimer(30_000, tick);
    c.advance(10 * 3600 * 1000); // ten hours
    expect(ticks).toBe(1200);
    expect(c.nextDue()).toBe(10 * 3600 * 1000 + 30_000);
  });

  it('bounds runaway zero-delay timer loops', () => {
    const c = new FakeClock();
    const loop = (): void => {
      c.setTimer(0, loop);
    };
    c.setTimer(0, loop);
    expect(() => c.advance(1, 1000)).toThrow(/runaway/);
  });

  it('treats NaN and negative delays as now and Infinity as never', () => {
    const c = new FakeClock();
    const seen: string[] = [];
    c.setTimer(Number.NaN, () => seen.push('nan'));
    c.setTimer(-5, () => seen.push('neg'));
    c.setTimer(Infinity, () => seen.push('inf'));
    c.advance(0);
    expect(seen).toEqual(['nan', 'neg']);
    expect(c.pending).toBe(0);
    expect(c.runNext()).toBe(false);
  });
});

describe('RealClock', () => {
  it('never runs a timer before now() reaches its due time (state machines ignore an early timer event)', async () => {
    const c = new RealClock();
    const early: number[] = [];
    // Fractional delays, armed while the loop's cached millisecond time goes stale under busy work:
    // the case where a Node timer alone fires before performance.now() reaches the due time.
    await new Promise<void>((resolve) => {
      let left = 300;
      for (let i = 0; i < 300; i++) {
        const busyUntil = performance.now() + 0.05;
        while (performance.now() < busyUntil); // bounded: 50 µs
        const due = c.now() + 0.2 + (i % 17) * 0.37;
        c.setTimer(due - c.now(), () => {
          const d = c.now() - due;
          if (d < 0) early.push(d);
          if (--left === 0) resolve();
        });
      }
    });
    expect(early).toEqual([]);
  });

  it('is monotonic and fires a short timer', async () => {
    const c = new RealClock();
    const t0 = c.now();
    const fired = await new Promise<number>((resolve) => c.setTimer(5, () => resolve(c.now())));
    expect(fired).toBeGreaterThanOrEqual(t0);
  });

  it('cancels a timer before it fires', async () => {
    const c = new RealClock({ ref: true });
    let fired = false;
    const h = c.setTimer(1, () => {
      fired = true;
    });
    h.cancel();
    await new Promise((r) => setTimeout(r, 20));
    expect(fired).toBe(false);
  });
});
