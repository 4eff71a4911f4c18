/**
 * Cancellation helpers. Every async API in lvskit takes `{ signal }`; deadlines
 * are combined with the caller's signal through `AbortSignal.any`.
 */
import { AbortError, TimeoutError } from './errors.js';

/** The caller's signal combined with a deadline of `timeoutMs` (if given). */
export function withTimeout(signal: AbortSignal | undefined, timeoutMs: number | undefined): AbortSignal | undefined {
  if (timeoutMs === undefined) return signal;
  const t = AbortSignal.timeout(timeoutMs);
  return signal === undefined ? t : AbortSignal.any([signal, t]);
}

/** Throw an `AbortError` (or the `TimeoutError` behind a timeout) if `signal` has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortReason(signal);
}

/** The lvskit error for a fired signal: a `TimeoutError` for `AbortSignal.timeout`, else an `AbortError`. */
export function abortReason(signal: AbortSignal, timeoutMs?: number): Error {
  const r: unknown = signal.reason;
  if (r instanceof Error && r.name === 'TimeoutError') return new TimeoutError(timeoutMs ?? Number.NaN);
  return new AbortError(r);
}

/**
 * Resolve after `ms` of real time, or reject with the abort reason when `signal`
 * fires first. For drivers only; pure code takes `now` instead.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(t);
      reject(abortReason(signal as AbortSignal));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
