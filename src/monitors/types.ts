/** The contract between a health check and whatever schedules it. */

/** The real server a check probes, and the service it belongs to. */
export interface CheckTarget {
  /** Real server address (IPv4 or IPv6 literal) the check connects to. */
  address: string;
  /** Port on the real server; checks that need none ignore it. */
  port?: number;
  /** Host name of the server (for logs, and for checks that send it). */
  host?: string;
  /** Name of the service the server belongs to (for logs and metrics). */
  service?: string;
}

/**
 * What a check saw. `ok: false` is a normal outcome, not an error: checks
 * resolve with it for refused connections, timeouts, bad status codes and the
 * like, and say what they saw in `reason`.
 */
export interface CheckResult {
  ok: boolean;
  /** Short human-readable account, e.g. `HTTP 503`, `connection refused`, `timed out after 2000 ms`. */
  reason: string;
  /** Time the check took, in milliseconds. */
  latencyMs: number;
  /** Check-specific details (status code, rcode, exit code, ...). */
  details?: Record<string, unknown>;
}

export interface CheckOptions {
  /** Ends the check early; a check aborted this way resolves `{ ok: false }` or rejects with an AbortError when the caller aborted. */
  signal?: AbortSignal;
}

/** A health check. Implementations never throw for "unhealthy": they resolve to a result. */
export interface Check {
  /** Kind of check (`http`, `tcp`, ...), used in metrics labels. */
  readonly kind: string;
  check(target: CheckTarget, options?: CheckOptions): Promise<CheckResult>;
}

/**
 * A check that holds state and pushes changes instead of being polled (the idle
 * connection check): `watch` starts watching one server and calls `onResult`
 * each time what it sees changes, until `signal` aborts. The first pushed
 * result comes once the first attempt settles; nothing is assumed before it.
 */
export interface StatefulCheck {
  readonly kind: string;
  watch(target: CheckTarget, onResult: (result: CheckResult) => void, options: { signal: AbortSignal }): void;
}

/** True for checks that push results (`watch`) rather than answer polls (`check`). */
export function isStatefulCheck(c: Check | StatefulCheck): c is StatefulCheck {
  return typeof (c as Partial<StatefulCheck>).watch === 'function';
}
