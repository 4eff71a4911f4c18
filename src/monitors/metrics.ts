/**
 * Check and pool figures as plain data, and their Prometheus text exposition
 * (format 0.0.4), rendered here without a client library.
 *
 * Metrics (all labels escaped per the exposition format):
 *
 * | name | type | labels | meaning |
 * | --- | --- | --- | --- |
 * | `lvskit_monitor_check_results_total` | counter | service, server, check, kind, result=`up`\|`down` | check results |
 * | `lvskit_monitor_check_timeouts_total` | counter | service, server, check, kind | results that were timeouts (also counted as `down`) |
 * | `lvskit_monitor_check_last_ok` | gauge | service, server, check, kind | 1 when the last result was up |
 * | `lvskit_monitor_check_duration_seconds` | histogram | service, server, check, kind | check latency |
 * | `lvskit_monitor_server_up` | gauge | service, server | 1 when enabled, healthy and not damped |
 * | `lvskit_monitor_server_enabled` | gauge | service, server | administrative state |
 * | `lvskit_monitor_server_transitions_total` | counter | service, server, to=`up`\|`down` | changes of `up` |
 * | `lvskit_pool_servers` | gauge | service, status=`pooled`\|`held`\|`draining`\|`out` | servers by pool status |
 * | `lvskit_pool_floor` | gauge | service | servers the depool threshold keeps pooled |
 * | `lvskit_pool_alert` | gauge | service | 1 while failed servers are held pooled |
 *
 * `server` is the server's id in the monitor (e.g. `10.0.0.5:80`); `service`
 * is the target's `service` (empty when unset); `check` is the check's name
 * on that server and `kind` its kind (`http`, `tcp`, ...).
 */
import type { CheckResult } from './types.js';
import type { MemberStatus, PoolPlan } from './plan-pool.js';

/** Histogram bucket upper bounds, seconds. */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface CheckLabels {
  service: string;
  server: string;
  check: string;
  kind: string;
}

export interface CheckSeries extends CheckLabels {
  up: number;
  down: number;
  timeouts: number;
  /** Non-cumulative counts per bucket of `LATENCY_BUCKETS_SECONDS`, plus one for +Inf. */
  bucketCounts: number[];
  latencySumSeconds: number;
  lastLatencyMs?: number;
  lastOk?: boolean;
}

export interface ServerSeries {
  service: string;
  server: string;
  up: boolean;
  enabled: boolean;
  toUp: number;
  toDown: number;
}

export interface PoolSeries {
  service: string;
  floor: number;
  alert: boolean;
  counts: Record<MemberStatus, number>;
}

export interface MetricsSnapshot {
  checks: CheckSeries[];
  servers: ServerSeries[];
  pools: PoolSeries[];
}

const key = (...parts: string[]): string => parts.join('\u0000');

/** Collects per-check results and latency and per-server state. Plain data in, plain data out. */
export class MonitorMetrics {
  readonly #checks = new Map<string, CheckSeries>();
  readonly #servers = new Map<string, ServerSeries>();
  readonly #pools = new Map<string, PoolSeries>();

  recordCheck(labels: CheckLabels, result: CheckResult): void {
    this.recordTo(this.checkSeries(labels), result);
  }

  /** The series of one check (created on first use); keep it and pass it to `recordTo` to skip the lookup. */
  checkSeries(labels: CheckLabels): CheckSeries {
    const k = key(labels.service, labels.server, labels.check);
    let s = this.#checks.get(k);
    if (s === undefined) {
      s = { ...labels, up: 0, down: 0, timeouts: 0, bucketCounts: new Array<number>(LATENCY_BUCKETS_SECONDS.length + 1).fill(0), latencySumSeconds: 0 };
      this.#checks.set(k, s);
    }
    return s;
  }

  /** Record a result into a series from `checkSeries`. */
  recordTo(s: CheckSeries, result: CheckResult): void {
    if (result.ok) s.up++;
    else s.down++;
    if (result.details?.timeout === true) s.timeouts++;
    const secs = Math.max(0, result.latencyMs) / 1000;
    let i = 0;
    while (i < LATENCY_BUCKETS_SECONDS.length && secs > (LATENCY_BUCKETS_SECONDS[i] as number)) i++;
    s.bucketCounts[i] = (s.bucketCounts[i] ?? 0) + 1;
    s.latencySumSeconds += secs;
    s.lastLatencyMs = result.latencyMs;
    s.lastOk = result.ok;
  }

  /** Record a server's current `up` and `enabled`; counts a transition when `up` changed. */
  recordServer(service: string, server: string, up: boolean, enabled: boolean): void {
    const k = key(service, server);
    const s = this.#servers.get(k);
    if (s === undefined) {
      this.#servers.set(k, { service, server, up, enabled, toUp: 0, toDown: 0 });
      return;
    }
    if (s.up !== up) {
      if (up) s.toUp++;
      else s.toDown++;
    }
    s.up = up;
    s.enabled = enabled;
  }

  recordPool(service: string, plan: Pick<PoolPlan, 'state' | 'floor'>): void {
    const counts: Record<MemberStatus, number> = { pooled: 0, held: 0, draining: 0, out: 0 };
    for (const m of Object.values(plan.state.members)) counts[m.status]++;
    this.#pools.set(service, { service, floor: plan.floor, alert: plan.state.alert, counts });
  }

  /** Forget a server's series (when it leaves the configuration). */
  removeServer(service: string, server: string): void {
    this.#servers.delete(key(service, server));
    for (const [k, s] of this.#checks) if (s.service === service && s.server === server) this.#checks.delete(k);
  }

  snapshot(): MetricsSnapshot {
    return {
      checks: [...this.#checks.values()].map((s) => ({ ...s, bucketCounts: [...s.bucketCounts] })),
      servers: [...this.#servers.values()].map((s) => ({ ...s })),
      pools: [...this.#pools.values()].map((p) => ({ ...p, counts: { ...p.counts } })),
    };
  }
}

/** Escape a label value (backslash, double quote, newline). */
export function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labels(l: Record<string, string>): string {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function num(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (Number.isNaN(v)) return 'NaN';
  return String(v);
}

/** Prometheus text exposition (0.0.4) of a snapshot. */
export function renderPrometheus(snap: MetricsSnapshot): string {
  const out: string[] = [];
  const family = (name: string, type: string, help: string): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  };
  family('lvskit_monitor_check_results_total', 'counter', 'Health check results by outcome.');
  for (const s of snap.checks) {
    const l = { service: s.service, server: s.server, check: s.check, kind: s.kind };
    out.push(`lvskit_monitor_check_results_total${labels({ ...l, result: 'up' })} ${s.up}`);
    out.push(`lvskit_monitor_check_results_total${labels({ ...l, result: 'down' })} ${s.down}`);
  }
  family('lvskit_monitor_check_timeouts_total', 'counter', 'Health check results that were timeouts.');
  for (const s of snap.checks) out.push(`lvskit_monitor_check_timeouts_total${labels({ service: s.service, server: s.server, check: s.check, kind: s.kind })} ${s.timeouts}`);
  family('lvskit_monitor_check_last_ok', 'gauge', 'Whether the last result of the check was up (1) or down (0).');
  for (const s of snap.checks) {
    if (s.lastOk !== undefined) out.push(`lvskit_monitor_check_last_ok${labels({ service: s.service, server: s.server, check: s.check, kind: s.kind })} ${s.lastOk ? 1 : 0}`);
  }
  family('lvskit_monitor_check_duration_seconds', 'histogram', 'Health check latency.');
  for (const s of snap.checks) {
    const l = { service: s.service, server: s.server, check: s.check, kind: s.kind };
    let cum = 0;
    LATENCY_BUCKETS_SECONDS.forEach((le, i) => {
      cum += s.bucketCounts[i] ?? 0;
      out.push(`lvskit_monitor_check_duration_seconds_bucket${labels({ ...l, le: num(le) })} ${cum}`);
    });
    cum += s.bucketCounts[LATENCY_BUCKETS_SECONDS.length] ?? 0;
    out.push(`lvskit_monitor_check_duration_seconds_bucket${labels({ ...l, le: '+Inf' })} ${cum}`);
    out.push(`lvskit_monitor_check_duration_seconds_sum${labels(l)} ${num(s.latencySumSeconds)}`);
    out.push(`lvskit_monitor_check_duration_seconds_count${labels(l)} ${cum}`);
  }
  family('lvskit_monitor_server_up', 'gauge', 'Server enabled, healthy and not damped (1) or not (0).');
  for (const s of snap.servers) out.push(`lvskit_monitor_server_up${labels({ service: s.service, server: s.server })} ${s.up ? 1 : 0}`);
  family('lvskit_monitor_server_enabled', 'gauge', 'Server administratively enabled (1) or disabled (0).');
  for (const s of snap.servers) out.push(`lvskit_monitor_server_enabled${labels({ service: s.service, server: s.server })} ${s.enabled ? 1 : 0}`);
  family('lvskit_monitor_server_transitions_total', 'counter', 'Changes of server up state.');
  for (const s of snap.servers) {
    out.push(`lvskit_monitor_server_transitions_total${labels({ service: s.service, server: s.server, to: 'up' })} ${s.toUp}`);
    out.push(`lvskit_monitor_server_transitions_total${labels({ service: s.service, server: s.server, to: 'down' })} ${s.toDown}`);
  }
  family('lvskit_pool_servers', 'gauge', 'Pool members by status.');
  for (const p of snap.pools) {
    for (const st of ['pooled', 'held', 'draining', 'out'] as const) out.push(`lvskit_pool_servers${labels({ service: p.service, status: st })} ${p.counts[st]}`);
  }
  family('lvskit_pool_floor', 'gauge', 'Servers the depool threshold keeps pooled.');
  for (const p of snap.pools) out.push(`lvskit_pool_floor${labels({ service: p.service })} ${p.floor}`);
  family('lvskit_pool_alert', 'gauge', 'Failed servers held pooled by the depool threshold (1) or not (0).');
  for (const p of snap.pools) out.push(`lvskit_pool_alert${labels({ service: p.service })} ${p.alert ? 1 : 0}`);
  return `${out.join('\n')}\n`;
}
