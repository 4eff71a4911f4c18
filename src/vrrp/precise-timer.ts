/**
 * Timers that fire on time, for the timer that decides a takeover (Master_Down_Interval, Skew_Time).
 *
 * A Node timer fires on libuv's millisecond loop clock: one set for 6.1 ms (Skew_Time at 10 ms
 * adverts and priority 100) fires after 7 ms or later, and one armed while the loop's cached time
 * was stale fires early and must be re-armed, which costs another millisecond or more. At 10 ms
 * adverts that is a tenth of a failover. `PreciseClock` arms a Node timer `earlyMs` ahead of the
 * deadline and finishes on `setImmediate` turns (the event loop keeps polling I/O between them),
 * so it fires within a fraction of a millisecond after the deadline, never before. The price is
 * spinning the loop for at most `earlyMs` per timer that fires; a timer cancelled before that (a
 * backup's down timer, re-armed on every advert) costs what a Node timer costs.
 */
import type { Clock, TimerHandle } from '../util/clock.js';

/** Node fires delays above 2^31-1 ms after 1 ms; longer waits are re-armed in steps. */
const MAX_NODE_DELAY = 2 ** 31 - 1;

export class PreciseClock implements Clock {
  readonly #earlyMs: number;

  /** `earlyMs`: how long before the deadline the Node timer wakes up (default 1.5 ms). */
  constructor(options: { earlyMs?: number } = {}) {
    const early = options.earlyMs ?? 1.5;
    this.#earlyMs = Number.isFinite(early) && early >= 0 && early <= 100 ? early : 1.5;
  }

  now(): number {
    return performance.now();
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    if (delayMs === Infinity) return { cancel: () => undefined };
    const due = performance.now() + (delayMs > 0 ? delayMs : 0);
    let timeout: ReturnType<typeof setTimeout> | undefined;
    let immediate: ReturnType<typeof setImmediate> | undefined;
    let cancelled = false;
    const check = (): void => {
      timeout = undefined;
      immediate = undefined;
      if (cancelled) return;
      if (due - performance.now() <= 0) {
        cancelled = true;
        fn();
      } else {
        wait();
      }
    };
    // Never calls `fn` from inside setTimer, even for a deadline already past.
    const wait = (): void => {
      const left = due - performance.now();
      if (left > this.#earlyMs + 1) {
        timeout = setTimeout(check, Math.min(MAX_NODE_DELAY, Math.floor(left - this.#earlyMs)));
        timeout.unref();
      } else {
        // Not unref'd: Node keeps the loop from blocking in poll only for ref'd immediates, and an
        // unref'd one waits for the next I/O (a backup whose master died may hear nothing for seconds).
        immediate = setImmediate(check);
      }
    };
    wait();
    return {
      cancel: () => {
        cancelled = true;
        if (timeout !== undefined) clearTimeout(timeout);
        if (immediate !== undefined) clearImmediate(immediate);
      },
    };
  }
}
