import { describe, expect, it } from 'vitest';
import { PreciseClock } from '../../../src/vrrp/precise-timer.js';

describe('PreciseClock', () => {
  it('never fires before the deadline, and fires each timer once', async () => {
    const clock = new PreciseClock();
    const delays = [0, 0.3, 1, 2.2, 3.7, 6.1, 12];
    const fired = await Promise.all(
      delays.map(
        (d) =>
          new Promise<{ d: number; late: number; calls: number }>((resolve) => {
            const t0 = clock.now();
            let calls = 0;
            clock.setTimer(d, () => {
              calls++;
              const late = clock.now() - t0 - d;
              // A second call would show up in `calls` of the resolved value only if it came before this tick ends.
              setTimeout(() => resolve({ d, late, calls }), 20);
            });
          }),
      ),
    );
    for (const f of fired) {
      expect(f.late, `delay ${f.d}`).toBeGreaterThanOrEqual(0);
      expect(f.calls).toBe(1);
    }
  });

  it('does not call back from inside setTimer, even for a deadline already past', () => {
    const clock = new PreciseClock();
    let called = false;
    const t = clock.setTimer(-5, () => (called = true));
    expect(called).toBe(false);
    t.cancel();
  });

  it('a cancelled timer never fires, whether it waits on a Node timer or for its first loop turn', async () => {
    const clock = new PreciseClock({ earlyMs: 5 });
    let fired = 0;
    const long = clock.setTimer(200, () => fired++); // on a Node timer first
    const short = clock.setTimer(2, () => fired++); // within earlyMs: waits for a loop turn, then sleeps
    short.cancel();
    await new Promise((r) => setTimeout(r, 20));
    long.cancel();
    short.cancel(); // again: a no-op
    await new Promise((r) => setTimeout(r, 260));
    expect(fired).toBe(0);
  });

  it('an advert handled in the loop turn after the sleep still cancels the timer', async () => {
    const clock = new PreciseClock({ earlyMs: 5 });
    let fired = 0;
    const t = clock.setTimer(3, () => fired++);
    // Runs in the check phase right after the timer's own check (queued later), i.e. after the sleep
    // and before the callback's turn: as an advert handled in poll would.
    setImmediate(() => t.cancel());
    await new Promise((r) => setTimeout(r, 30));
    expect(fired).toBe(0);
  });

  it('keeps the loop turning while it waits for its turn (a ref\'d Immediate: an unref\'d one sleeps in poll)', async () => {
    const clock = new PreciseClock({ earlyMs: 5 });
    const immediates = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Immediate').length;
    const before = immediates();
    let fired = false;
    const t = clock.setTimer(3, () => (fired = true)); // within earlyMs
    expect(immediates()).toBe(before + 1);
    await new Promise((r) => setTimeout(r, 30));
    expect(fired).toBe(true);
    expect(immediates()).toBe(before);
    t.cancel();
  });

  it('Infinity never fires; a bad earlyMs falls back to the default', async () => {
    const clock = new PreciseClock({ earlyMs: Number.NaN });
    let fired = false;
    clock.setTimer(Infinity, () => (fired = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(fired).toBe(false);
  });
});
