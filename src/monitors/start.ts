/**
 * The internal fast path between `Monitor` and the built-in checks (not
 * exported from `lvskit/monitors`): a check started with a callback and a
 * `cancel()`, where the public `check()` costs a promise, an AbortSignal
 * link and closures per run.
 */
import type { Check, CheckResult, CheckTarget, StatefulCheck } from './types.js';

/** Where a check started with `START` reports its result (internal). */
export interface CheckSink {
  /** The result, called once, never synchronously from `[START]`. */
  done(result: CheckResult): void;
}

/** A check started with `START` (internal): `cancel()` stops it and nothing is reported. */
export interface RunningCheck {
  cancel(): void;
}

/**
 * Internal fast path for built-in checks, used by `Monitor`: start the check
 * and report to `sink`, with no promise, no AbortSignal and no closures per
 * run. Not part of the public API; user checks implement `check()`.
 */
export const START: unique symbol = Symbol('lvskit.monitors.start');

/**
 * A check with the internal fast path. `[START]` may decline a target (undefined: nothing started,
 * nothing will be reported); the `Monitor` then runs `check()` as it does for any other check.
 */
export interface StartableCheck extends Check {
  [START](target: CheckTarget, sink: CheckSink): RunningCheck | undefined;
}

class Unstarted implements RunningCheck {
  cancelled = false;
  cancel(): void {
    this.cancelled = true;
  }
}

/** A result known at once (a bad target), reported from a later turn as `CheckSink` requires. */
export function reportLater(sink: CheckSink, r: CheckResult): RunningCheck {
  const u = new Unstarted();
  queueMicrotask(() => {
    if (!u.cancelled) sink.done(r);
  });
  return u;
}

export function isStartable(c: Check | StatefulCheck): c is StartableCheck {
  return typeof (c as Partial<StartableCheck>)[START] === 'function';
}
