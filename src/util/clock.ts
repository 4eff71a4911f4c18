/**
 * Time, injected. Pure state machines take `now` as an argument; drivers take a
 * `Clock` so tests can replace real time with a `FakeClock` and run hours of
 * protocol time in milliseconds.
 *
 * Times are milliseconds on a monotonic scale (`now()`), never wall-clock time:
 * a settimeofday on the director must not fire or stall protocol timers.
 */

export interface TimerHandle {
  /** Cancel the timer; calling it again, or after the timer fired, is a no-op. */
  cancel(): void;
}

export interface Clock {
  /** Monotonic milliseconds (fractional allowed). Only differences are meaningful. */
  now(): number;
  /** Run `fn` once after `delayMs`. NaN or negative means as soon as possible; Infinity means never. */
  setTimer(delayMs: number, fn: () => void): TimerHandle;
}

/**
 * The real clock: `performance.now()` and Node timers (unref'd by default, so they never hold the process open).
 * A timer never runs before `now()` reaches its due time: the state machines compare the two and
 * ignore a timer event that comes early, so an early run would be a lost timer.
 */
export class RealClock implements Clock {
  readonly #ref: boolean;
  constructor(options: { ref?: boolean } = {}) {
    this.#ref = options.ref ?? false;
  }
  now(): number {
    return performance.now();
  }
  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const delay = clampDelay(delayMs);
    if (delay === Infinity) return NEVER;
    const timer = new RealTimer(fn, this.#ref, performance.now() + delay);
    timer.arm(delay);
    return timer;
  }
}

/**
 * One real timer, without closures (Node passes the timer to `fireRealTimer`).
 * Node counts timers in whole milliseconds of its loop time, which can be stale when the timer is
 * armed, so a Node timer can fire before `performance.now()` reaches the due time; then it is armed
 * again for the rest (also how delays above Node's limit of 2^31-1 ms are armed, in steps).
 */
class RealTimer implements TimerHandle {
  readonly fn: () => void;
  readonly ref: boolean;
  readonly due: number;
  t: ReturnType<typeof setTimeout> | undefined;
  constructor(fn: () => void, ref: boolean, due: number) {
    this.fn = fn;
    this.ref = ref;
    this.due = due;
  }
  arm(ms: number): void {
    this.t = setTimeout(fireRealTimer, Math.min(Math.ceil(ms), MAX_NODE_DELAY), this);
    if (!this.ref) this.t.unref();
  }
  cancel(): void {
    if (this.t === undefined) return;
    clearTimeout(this.t);
    this.t = undefined;
  }
}

function fireRealTimer(timer: RealTimer): void {
  timer.t = undefined;
  const left = timer.due - performance.now();
  if (left > 0) timer.arm(left);
  else timer.fn();
}

const NEVER: TimerHandle = { cancel: () => undefined };

/** One shared real clock, for drivers constructed without one. */
export const realClock: Clock = new RealClock();

interface FakeTimer {
  id: number;
  at: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * A clock that moves only when told. Timers fire in order of due time, and in
 * order of creation for equal due times; a timer set while advancing fires in the
 * same `advance` if it falls due within it.
 */
export class FakeClock implements Clock {
  #now: number;
  #nextId = 1;
  #timers: FakeTimer[] = [];

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const delay = clampDelay(delayMs);
    if (delay === Infinity) return { cancel: () => undefined };
    const timer: FakeTimer = { id: this.#nextId++, at: this.#now + delay, fn, cancelled: false };
    this.#timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  /** Number of timers that have not fired or been cancelled. */
  get pending(): number {
    return this.#timers.filter((t) => !t.cancelled).length;
  }

  /** Due time of the next live timer, or undefined when none. */
  nextDue(): number | undefined {
    const t = this.#next();
    return t?.at;
  }

  /**
   * Move time forward by `ms`, firing every timer that falls due, in order.
   * Returns the number of timers fired. `maxFires` bounds runaway timer loops.
   */
  advance(ms: number, maxFires = 1_000_000): number {
    if (!(ms >= 0)) throw new RangeError(`FakeClock.advance: ms must be >= 0, got ${ms}`);
    const until = this.#now + ms;
    let fired = 0;
    for (;;) {
      const t = this.#next();
      if (t === undefined || t.at > until) break;
      if (fired >= maxFires) throw new RangeError(`FakeClock.advance: more than ${maxFires} timers fired; runaway timer loop?`);
      this.#timers.splice(this.#timers.indexOf(t), 1);
      this.#now = Math.max(this.#now, t.at);
      fired++;
      t.fn();
    }
    this.#now = until;
    return fired;
  }

  /** Advance to the next due timer and fire everything due then. Returns false when no timer is pending. */
  runNext(): boolean {
    const due = this.nextDue();
    if (due === undefined) return false;
    this.advance(due - this.#now);
    return true;
  }

  #next(): FakeTimer | undefined {
    this.#timers = this.#timers.filter((t) => !t.cancelled);
    let best: FakeTimer | undefined;
    for (const t of this.#timers) {
      if (best === undefined || t.at < best.at || (t.at === best.at && t.id < best.id)) best = t;
    }
    return best;
  }
}

const MAX_NODE_DELAY = 2 ** 31 - 1;

/** NaN and negative delays mean "now"; Infinity means "never". */
function clampDelay(ms: number): number {
  if (Number.isNaN(ms) || ms < 0) return 0;
  return ms;
}
