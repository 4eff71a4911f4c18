/**
 * Server state, pure: what one real server's checks add up to.
 *
 * - Each check has its own rise/fall hysteresis (HAProxy's `rise`/`fall`,
 *   keepalived's retries): it turns up after `rise` consecutive successes and
 *   down after `fall` consecutive failures.
 * - The server is healthy when every check is up (all must pass).
 * - No optimistic "up": a check starts in the configured initial state, down
 *   by default, so a new server needs `rise` successes on every check first.
 *   `'first-result'` starts down too but lets the first result decide (like
 *   HAProxy's `init-state down`), so a restarted director pools healthy
 *   servers after one round of checks; `'up'` is optimistic (needs `fall`).
 * - Flap damping (after BGP route flap damping, RFC 2439 §4.2): each fall
 *   from healthy adds a penalty that decays exponentially with a half-life;
 *   above `suppressAbove` the server is held down until the penalty decays
 *   below `reuseBelow`. Damping only ever holds a server down.
 * - Administrative enable/disable, independent of health.
 *
 * `up = enabled && healthy && !damped` is what pools take. Every change is an
 * event saying why: which check, what it saw. `stepServer` reads no clock: it
 * takes `now` and returns `wakeAt` when time alone will change the state
 * (damping release), for the driver to feed a `tick` then.
 */
import type { CheckResult } from './types.js';

export interface DampingConfig {
  /** Penalty added each time the server falls from healthy (default 1000). */
  penalty?: number;
  /** Held down while the penalty is above this (default 2500: the third quick flap). */
  suppressAbove?: number;
  /** Released when the penalty decays below this (default 750). */
  reuseBelow?: number;
  /** Half-life of the penalty, ms (default 60000). */
  halfLifeMs?: number;
  /** Penalty ceiling (default 4 x suppressAbove), which bounds how long a server can stay damped. */
  maxPenalty?: number;
}

export interface ServerCheckConfig {
  name: string;
  /** Consecutive successes to turn up (default: the server's `rise`). */
  rise?: number;
  /** Consecutive failures to turn down (default: the server's `fall`). */
  fall?: number;
}

export interface ServerConfig {
  checks: readonly ServerCheckConfig[];
  /** Default rise for its checks (default 2). */
  rise?: number;
  /** Default fall for its checks (default 3). */
  fall?: number;
  /**
   * State of each check before its first result: `'down'` (default; `rise` successes to turn up),
   * `'first-result'` (down; the first result decides, then rise/fall), or `'up'` (`fall` failures to turn down).
   */
  initial?: 'down' | 'up' | 'first-result';
  /** Administratively enabled at start (default true). */
  enabled?: boolean;
  /** Flap damping; off when absent or false. */
  damping?: DampingConfig | false;
}

export interface CheckState {
  name: string;
  up: boolean;
  rise: number;
  fall: number;
  /** Consecutive successes / failures so far. */
  successes: number;
  failures: number;
  /** Results seen. */
  results: number;
  last?: CheckResult;
  lastAt?: number;
}

export interface ServerState {
  enabled: boolean;
  /** Every check up. */
  healthy: boolean;
  /** Held down by flap damping. */
  damped: boolean;
  /** Damping penalty as of `penaltyAt`. */
  penalty: number;
  penaltyAt: number;
  /** `enabled && healthy && !damped`. */
  up: boolean;
  /** When `up` last changed (or the state was made). */
  since: number;
  checks: CheckState[];
}

export type ServerInput =
  | { type: 'result'; check: string; result: CheckResult }
  | { type: 'admin'; enabled: boolean; reason?: string }
  | { type: 'tick' };

export type ServerEvent =
  /** A check turned up or down (after rise/fall). */
  | { kind: 'check'; at: number; check: string; up: boolean; result: CheckResult; reason: string }
  /** All checks up (healthy) or one down. */
  | { kind: 'health'; at: number; healthy: boolean; check?: string; result?: CheckResult; reason: string }
  | { kind: 'damping'; at: number; damped: boolean; penalty: number; reason: string }
  | { kind: 'admin'; at: number; enabled: boolean; reason: string }
  /** The server's `up` changed: what pools act on. `cause` is the event that did it. */
  | { kind: 'state'; at: number; up: boolean; reason: string; check?: string; result?: CheckResult };

export interface ServerStep {
  state: ServerState;
  events: ServerEvent[];
  /** Feed a `tick` at this time: the state may change with time alone. */
  wakeAt?: number;
}

const DEFAULT_RISE = 2;
const DEFAULT_FALL = 3;

function posInt(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${what} must be an integer >= 1, got ${v}`);
  return v;
}

interface Damping {
  penalty: number;
  suppressAbove: number;
  reuseBelow: number;
  halfLifeMs: number;
  maxPenalty: number;
}

function damping(c: ServerConfig): Damping | undefined {
  if (!c.damping) return undefined;
  const d = c.damping;
  const suppressAbove = d.suppressAbove ?? 2500;
  const out: Damping = {
    penalty: d.penalty ?? 1000,
    suppressAbove,
    reuseBelow: d.reuseBelow ?? 750,
    halfLifeMs: d.halfLifeMs ?? 60_000,
    maxPenalty: d.maxPenalty ?? suppressAbove * 4,
  };
  if (!(out.penalty > 0 && out.reuseBelow > 0 && out.reuseBelow < out.suppressAbove && out.halfLifeMs > 0 && out.maxPenalty > out.suppressAbove)) {
    throw new RangeError('damping needs penalty > 0, 0 < reuseBelow < suppressAbove < maxPenalty and halfLifeMs > 0');
  }
  return out;
}

/** Penalty at `now`, decayed from `p` at `at`. */
export function decayedPenalty(p: number, at: number, now: number, halfLifeMs: number): number {
  if (p <= 0 || now <= at) return p;
  return p * Math.pow(0.5, (now - at) / halfLifeMs);
}

/** A new server's state at `now`. Throws RangeError on a nonsensical config. */
export function initialServerState(config: ServerConfig, now: number): ServerState {
  const rise = posInt(config.rise ?? DEFAULT_RISE, 'rise');
  const fall = posInt(config.fall ?? DEFAULT_FALL, 'fall');
  damping(config);
  const names = new Set<string>();
  const startUp = (config.initial ?? 'down') === 'up';
  const checks = config.checks.map((c): CheckState => {
    if (names.has(c.name)) throw new RangeError(`duplicate check name ${c.name}`);
    names.add(c.name);
    return {
      name: c.name,
      up: startUp,
      rise: posInt(c.rise ?? rise, `rise of ${c.name}`),
      fall: posInt(c.fall ?? fall, `fall of ${c.name}`),
      successes: 0,
      failures: 0,
      results: 0,
    };
  });
  const enabled = config.enabled ?? true;
  const healthy = checks.length === 0 ? startUp : checks.every((c) => c.up);
  return { enabled, healthy, damped: false, penalty: 0, penaltyAt: now, up: enabled && healthy, since: now, checks };
}

/** Apply one input at `now`. The input state is not modified. */
export function stepServer(config: ServerConfig, prev: ServerState, input: ServerInput, now: number): ServerStep {
  const d = damping(config);
  const s: ServerState = { ...prev, checks: prev.checks };
  const events: ServerEvent[] = [];
  let cause: { reason: string; check?: string; result?: CheckResult } | undefined;

  if (input.type === 'admin') {
    if (input.enabled !== s.enabled) {
      s.enabled = input.enabled;
      const reason = input.reason ?? (input.enabled ? 'enabled by operator' : 'disabled by operator');
      events.push({ kind: 'admin', at: now, enabled: input.enabled, reason });
      cause = { reason };
    }
  } else if (input.type === 'result') {
    let i = s.checks.length - 1;
    while (i >= 0 && (s.checks[i] as CheckState).name !== input.check) i--;
    if (i < 0) throw new RangeError(`no check named ${input.check}`);
    const c = { ...(s.checks[i] as CheckState) };
    const r = input.result;
    c.results++;
    c.last = r;
    c.lastAt = now;
    if (r.ok) {
      c.successes++;
      c.failures = 0;
    } else {
      c.failures++;
      c.successes = 0;
    }
    let changed = false;
    const decidesAlone = c.results === 1 && config.initial === 'first-result';
    if (!c.up && r.ok && (c.successes >= c.rise || decidesAlone)) {
      c.up = true;
      changed = true;
    } else if (c.up && !r.ok && c.failures >= c.fall) {
      c.up = false;
      changed = true;
    }
    s.checks = s.checks.slice();
    s.checks[i] = c;
    if (changed) {
      const reason = c.up
        ? `${c.name} up after ${c.successes} consecutive success${c.successes === 1 ? '' : 'es'}: ${r.reason}`
        : `${c.name} down after ${c.failures} consecutive failure${c.failures === 1 ? '' : 's'}: ${r.reason}`;
      events.push({ kind: 'check', at: now, check: c.name, up: c.up, result: r, reason });
      const healthy = s.checks.every((x) => x.up);
      if (healthy !== s.healthy) {
        s.healthy = healthy;
        const hReason = healthy ? `all checks up (last: ${reason})` : reason;
        events.push({ kind: 'health', at: now, healthy, check: c.name, result: r, reason: hReason });
        cause = { reason: hReason, check: c.name, result: r };
        if (!healthy && d !== undefined) {
          // RFC 2439 §4.2: each withdrawal (here: each fall) adds to a decaying figure of merit.
          s.penalty = Math.min(d.maxPenalty, decayedPenalty(s.penalty, s.penaltyAt, now, d.halfLifeMs) + d.penalty);
          s.penaltyAt = now;
          if (!s.damped && s.penalty > d.suppressAbove) {
            s.damped = true;
            const dr = `flapping: penalty ${Math.round(s.penalty)} > ${d.suppressAbove}; held down until it decays below ${d.reuseBelow}`;
            events.push({ kind: 'damping', at: now, damped: true, penalty: s.penalty, reason: dr });
          }
        }
      }
    }
  }

  // Time alone releases damping (on any input, a tick included).
  let wakeAt: number | undefined;
  if (d !== undefined && s.damped) {
    const p = decayedPenalty(s.penalty, s.penaltyAt, now, d.halfLifeMs);
    if (p < d.reuseBelow) {
      s.damped = false;
      s.penalty = p;
      s.penaltyAt = now;
      const reason = `damping released: penalty decayed to ${Math.round(p)} < ${d.reuseBelow}`;
      events.push({ kind: 'damping', at: now, damped: false, penalty: p, reason });
      if (s.healthy && s.enabled) cause = { reason };
    } else {
      wakeAt = reuseTime(s.penalty, s.penaltyAt, d);
    }
  }

  const up = s.enabled && s.healthy && !s.damped;
  if (up !== s.up) {
    s.up = up;
    s.since = now;
    const reason = cause?.reason ?? (up ? 'up' : 'down');
    const ev: ServerEvent = { kind: 'state', at: now, up, reason };
    if (cause?.check !== undefined) ev.check = cause.check;
    if (cause?.result !== undefined) ev.result = cause.result;
    events.push(ev);
  }
  const step: ServerStep = { state: s, events };
  if (wakeAt !== undefined) step.wakeAt = wakeAt;
  return step;
}

/**
 * The common case of `stepServer` for a result, done in place: a result that
 * moves only the check's counters (no check turns up or down, no damping to
 * release) updates `state.checks[index]` itself and returns true, with no
 * event. Anything else returns false and leaves `state` alone: use
 * `stepServer`. At thousands of results a second, a new state per result
 * lives about one interval and then dies, which costs the garbage collector
 * more than the step itself.
 */
export function recordQuietResult(config: ServerConfig, state: ServerState, index: number, r: CheckResult, now: number): boolean {
  if (config.damping && state.damped) return false; // any input may release damping
  const c = state.checks[index];
  if (c === undefined) return false;
  if (r.ok) {
    if (!c.up && (c.successes + 1 >= c.rise || (c.results === 0 && config.initial === 'first-result'))) return false;
    c.successes++;
    c.failures = 0;
  } else {
    if (c.up && c.failures + 1 >= c.fall) return false;
    c.failures++;
    c.successes = 0;
  }
  c.results++;
  c.last = r;
  c.lastAt = now;
  return true;
}

/** When a penalty `p` set at `at` decays just below `reuseBelow`. */
function reuseTime(p: number, at: number, d: Damping): number {
  // p * 0.5^(t/h) = reuse  =>  t = h * log2(p / reuse); a hair later so the decayed value is strictly below.
  return at + Math.ceil(d.halfLifeMs * Math.log2(p / d.reuseBelow)) + 1;
}
