/**
 * Pools, pure: which of a service's real servers get traffic, at what weight.
 *
 * Input: each server's configured weight, administrative state and health (as
 * `fsm-server.ts` computes it), and optionally its connection count. Output:
 * the desired destination list `{ address, port, weight }[]`, the shape a
 * declarative IPVS reconciler takes, plus events and the next time to re-plan.
 *
 * Rules:
 * - A healthy, enabled server is always pooled at its configured weight
 *   (weight 0 stays 0: PyBal turned it into 1).
 * - Depool threshold (PyBal's `depool-threshold`): at least
 *   `ceil(threshold x enabled servers)` stay pooled even when they fail. The
 *   failed servers kept this way are "held", and the pool is in alert while
 *   it holds any. Fixed against PyBal's bugs: the floor is counted over
 *   servers actually pooled (a held server is not counted as up, so failures
 *   can't depool past the floor); a depool never takes the pool below the
 *   floor; no more servers are held than the floor needs, and held servers are
 *   released as soon as healthy ones come back (no extra depools, no lingering
 *   holds). Only servers already in the pool can be held: a server is never
 *   pooled on no evidence (at start-up nothing is pooled until it proves up).
 *   Disabled servers are the operator's word: never held, not counted. A
 *   pooled server counts toward the floor whatever its weight (0 included).
 * - Draining: a server leaving the pool first goes to weight 0 (existing
 *   connections, UDP flows included, keep their destination) and is removed
 *   after `drainMs`, or as soon as its fed connection count is 0; if it
 *   recovers meanwhile it is pooled again at once.
 */

export interface PoolConfig {
  /** Fraction (0..1) of enabled servers that stay pooled even when failing (default 0.5). */
  depoolThreshold?: number;
  /** How long a depooled server stays at weight 0 before removal, ms (default 60000; 0 removes at once). */
  drainMs?: number;
}

export interface PoolMemberInput {
  /** Unique key of the server in this pool (e.g. `10.0.0.5:80`). */
  id: string;
  address: string;
  port: number;
  /** Configured weight (integer >= 0). */
  weight: number;
  /** Administratively enabled. */
  enabled: boolean;
  /** What the checks say (healthy and not damped), regardless of `enabled`. */
  healthy: boolean;
  /** Current connections to it, when known (e.g. IPVS active + inactive); 0 ends a drain early. */
  connections?: number;
}

export type MemberStatus = 'pooled' | 'held' | 'draining' | 'out';

export interface PoolMemberState {
  status: MemberStatus;
  /** When the status last changed. */
  since: number;
  /** While draining: when it will be removed. */
  drainUntil?: number;
}

export interface PoolState {
  members: Record<string, PoolMemberState>;
  /** True while the threshold holds failed servers pooled. */
  alert: boolean;
}

/** A desired IPVS destination. Structural: what `lvskit/ipvs`'s reconciler takes. */
export interface Destination {
  address: string;
  port: number;
  weight: number;
}

export type PoolEvent =
  | { kind: 'member'; at: number; id: string; from: MemberStatus; to: MemberStatus; reason: string }
  | { kind: 'alert'; at: number; alert: boolean; reason: string };

export interface PoolPlan {
  state: PoolState;
  destinations: Destination[];
  events: PoolEvent[];
  /** Servers that must stay pooled: `ceil(threshold x enabled)`. */
  floor: number;
  /** Servers at full weight now (pooled + held). */
  pooledCount: number;
  /** Ids held pooled while failing. */
  held: string[];
  /** Re-plan at this time (a drain ends). */
  wakeAt?: number;
}

export function emptyPoolState(): PoolState {
  return { members: {}, alert: false };
}

/** `ceil(threshold x n)`, robust to float error (0.7 x 10 is 7, not 8). */
export function depoolFloor(threshold: number, n: number): number {
  return Math.min(n, Math.max(0, Math.ceil(threshold * n - 1e-9)));
}

/** Plan the pool at `now` from its members and the previous state. The previous state is not modified. */
export function planPool(config: PoolConfig, members: readonly PoolMemberInput[], prev: PoolState, now: number): PoolPlan {
  const threshold = config.depoolThreshold ?? 0.5;
  const drainMs = config.drainMs ?? 60_000;
  if (!(threshold >= 0 && threshold <= 1)) throw new RangeError(`depoolThreshold must be within 0..1, got ${threshold}`);
  if (!(drainMs >= 0)) throw new RangeError(`drainMs must be >= 0, got ${drainMs}`);
  const seen = new Set<string>();
  for (const m of members) {
    if (seen.has(m.id)) throw new RangeError(`duplicate pool member ${m.id}`);
    seen.add(m.id);
    if (!Number.isInteger(m.weight) || m.weight < 0) throw new RangeError(`weight of ${m.id} must be an integer >= 0, got ${m.weight}`);
  }

  const prevOf = (id: string): PoolMemberState => prev.members[id] ?? { status: 'out', since: now };
  const enabled = members.filter((m) => m.enabled);
  const floor = depoolFloor(threshold, enabled.length);
  const healthy = enabled.filter((m) => m.healthy);
  const need = Math.max(0, floor - healthy.length);

  // Candidates to hold: failed, enabled servers still in the pool (held, pooled), then draining ones, most recent first.
  const rank: Record<MemberStatus, number> = { held: 0, pooled: 1, draining: 2, out: 3 };
  const candidates = enabled
    .map((m, i) => ({ m, i, p: prevOf(m.id) }))
    .filter(({ m, p }) => !m.healthy && p.status !== 'out')
    .sort((a, b) => rank[a.p.status] - rank[b.p.status] || b.p.since - a.p.since || a.i - b.i);
  const held = new Set(candidates.slice(0, need).map((c) => c.m.id));

  const next: Record<string, PoolMemberState> = {};
  const events: PoolEvent[] = [];
  const destinations: Destination[] = [];
  let wakeAt: number | undefined;
  for (const m of members) {
    const p = prevOf(m.id);
    let status: MemberStatus;
    let reason: string;
    let drainUntil: number | undefined;
    if (m.enabled && m.healthy) {
      status = 'pooled';
      reason = p.status === 'out' ? 'healthy' : p.status === 'held' ? 'recovered while held' : 'recovered while draining';
    } else if (held.has(m.id)) {
      status = 'held';
      reason = `failed, kept pooled: the depool threshold keeps ${floor} of ${enabled.length} enabled servers pooled and only ${healthy.length} ${healthy.length === 1 ? 'is' : 'are'} healthy`;
    } else if (p.status === 'pooled' || p.status === 'held') {
      const why = !m.enabled ? 'disabled' : 'failed';
      if (m.connections === 0) {
        status = 'out';
        reason = `${why}: removed (no connections to drain)`;
      } else if (drainMs > 0) {
        status = 'draining';
        drainUntil = now + drainMs;
        reason = `${why}: weight 0, removed after ${drainMs} ms or when its connections end`;
      } else {
        status = 'out';
        reason = `${why}: removed (no drain time)`;
      }
    } else if (p.status === 'draining') {
      status = 'draining';
      drainUntil = p.drainUntil ?? now;
      reason = '';
      if (m.connections === 0) {
        status = 'out';
        reason = 'drained: no connections left';
      } else if (now >= drainUntil) {
        status = 'out';
        reason = `drain time of ${drainMs} ms over`;
      }
    } else {
      status = 'out';
      reason = '';
    }
    const changed = status !== p.status;
    const st: PoolMemberState = { status, since: changed ? now : p.since };
    if (status === 'draining' && drainUntil !== undefined) {
      st.drainUntil = drainUntil;
      wakeAt = wakeAt === undefined ? drainUntil : Math.min(wakeAt, drainUntil);
    }
    next[m.id] = st;
    if (changed && !(p.status === 'out' && status === 'out')) events.push({ kind: 'member', at: now, id: m.id, from: p.status, to: status, reason });
    if (status === 'pooled' || status === 'held') destinations.push({ address: m.address, port: m.port, weight: m.weight });
    else if (status === 'draining') destinations.push({ address: m.address, port: m.port, weight: 0 });
  }
  // Members no longer configured leave without draining: they are gone from the service.
  for (const [id, p] of Object.entries(prev.members)) {
    if (!seen.has(id) && p.status !== 'out') events.push({ kind: 'member', at: now, id, from: p.status, to: 'out', reason: 'removed from the pool configuration' });
  }

  const alert = held.size > 0;
  if (alert !== prev.alert) {
    events.push({
      kind: 'alert',
      at: now,
      alert,
      reason: alert ? `depool threshold holds ${held.size} failed server(s) pooled: ${[...held].join(', ')}` : 'no failed server held pooled any more',
    });
  }
  const plan: PoolPlan = {
    state: { members: next, alert },
    destinations,
    events,
    floor,
    pooledCount: healthy.length + held.size,
    held: [...held],
  };
  if (wakeAt !== undefined) plan.wakeAt = wakeAt;
  return plan;
}
