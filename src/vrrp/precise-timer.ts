/**
 * Timers that fire on time, for the timer that decides a takeover (Master_Down_Interval, Skew_Time).
 *
 * A Node timer fires on libuv's millisecond loop clock: one set for 6.1 ms (Skew_Time at 10 ms
 * adverts and priority 100) fires after 7 ms or later, and one armed while the loop's cached time
 * was stale fires early and must be re-armed, which costs another millisecond or more. At 10 ms
 * adverts that is a tenth of a failover. `PreciseClock` arms a Node timer `earlyMs` ahead of the
 * deadline, sleeps the rest on a futex (`Atomics.wait`, microsecond precision), then lets one loop
 * turn pass before it calls back, so whatever arrived meanwhile (an advert that cancels the timer)
 * is handled first. It sleeps rather than spins: on a busy host a process that burns the CPU up to
 * its deadline is the one the scheduler puts behind others, while a sleeper that wakes runs at
 * once. The price is blocking the event loop for at most `earlyMs` + 1 ms per timer that fires; a
 * timer cancelled before that (a backup's down timer, re-armed on every advert) costs what a Node
 * timer costs.
 */
import type { Clock, TimerHandle } from '../util/clock.js';

/** Node fires delays above 2^31-1 ms after 1 ms; longer waits are re-armed in steps. */
const MAX_NODE_DELAY = 2 ** 31 - 1;
/** A futex word nobody ever changes: `Atomics.wait` on it is a precise sleep. */
const SLEEP_CELL = new Int32Array(new SharedArrayBuffer(4));

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
    const fire = (): void => {
      immediate = undefined;
      if (cancelled) return;
      cancelled = true;
      fn();
    };
    const check = (): void => {
      timeout = undefined;
      immediate = undefined;
      if (cancelled) return;
      const left = due - performance.now();
      if (left > this.#earlyMs + 1) {
        wait(left);
        return;
      }
      if (left > 0) Atomics.wait(SLEEP_CELL, 0, 0, left);
      // One loop turn (poll runs before check): an advert that arrived while asleep is handled first.
      immediate = setImmediate(fire);
    };
    const wait = (left: number): void => {
      timeout = setTimeout(check, Math.min(MAX_NODE_DELAY, Math.floor(left - this.#earlyMs)));
      timeout.unref();
    };
    // Never calls `fn`, nor sleeps, from inside setTimer.
    const left = due - performance.now();
    if (left > this.#earlyMs + 1) wait(left);
    else immediate = setImmediate(check);
    return {
      cancel: () => {
        cancelled = true;
        if (timeout !== undefined) clearTimeout(timeout);
        if (immediate !== undefined) clearImmediate(immediate);
      },
    };
  }
}
