/**
 * The pool driver: joins `plan-pool.ts` to server states and the clock. Feed
 * it each server's state (`update`, or `follow(monitor)`), read the desired
 * destinations (`destinations`, or the `change` event) and hand them to an
 * IPVS reconciler. Drain deadlines fire on the injected clock.
 */
import { EventEmitter } from 'eventemitter3';
import { realClock, type Clock, type TimerHandle } from '../util/clock.js';
import { noopLogger, type Logger } from '../util/logger.js';
import { MonitorError } from './errors.js';
import type { ServerState } from './fsm-server.js';
import type { MonitorMetrics } from './metrics.js';
import type { Monitor } from './monitor.js';
import { emptyPoolState, planPool, type Destination, type PoolConfig, type PoolEvent, type PoolMemberInput, type PoolPlan, type PoolState } from './plan-pool.js';

export interface PoolServer {
  /** Same id as the server's in the Monitor. */
  id: string;
  address: string;
  port: number;
  /** Weight when pooled (default 1; 0 stays 0). */
  weight?: number;
}

export interface PoolOptions extends PoolConfig {
  /** Service name, for logs and metrics. */
  service?: string;
  clock?: Clock;
  logger?: Logger;
  /** Pool figures go here when given (e.g. the Monitor's `metrics`). */
  metrics?: MonitorMetrics;
}

export interface PoolEvents {
  /** The destination list changed. */
  change: [destinations: Destination[], plan: PoolPlan];
  event: [event: PoolEvent];
  alert: [alert: boolean, reason: string];
}

interface Member {
  server: PoolServer;
  enabled: boolean;
  healthy: boolean;
  connections?: number;
}

export class Pool extends EventEmitter<PoolEvents> {
  readonly #cfg: PoolConfig;
  readonly #service: string;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #metrics: MonitorMetrics | undefined;
  #members: Member[] = [];
  #state: PoolState = emptyPoolState();
  #plan: PoolPlan;
  #wake: TimerHandle | undefined;
  #closed = false;

  constructor(servers: readonly PoolServer[], options: PoolOptions = {}) {
    super();
    this.#cfg = {};
    if (options.depoolThreshold !== undefined) this.#cfg.depoolThreshold = options.depoolThreshold;
    if (options.drainMs !== undefined) this.#cfg.drainMs = options.drainMs;
    this.#service = options.service ?? '';
    this.#clock = options.clock ?? realClock;
    this.#log = (options.logger ?? noopLogger).child({ pool: this.#service });
    this.#metrics = options.metrics;
    this.#members = servers.map((s) => ({ server: s, enabled: true, healthy: false }));
    try {
      this.#plan = planPool(this.#cfg, this.#inputs(), this.#state, this.#clock.now());
    } catch (e) {
      throw new MonitorError('ERR_MONITOR_BAD_CONFIG', `pool ${this.#service}: ${(e as Error).message}`, { cause: e });
    }
    this.#apply(this.#plan, []);
  }

  /** Desired destinations now. */
  get destinations(): Destination[] {
    return this.#plan.destinations;
  }
  /** The latest plan (floor, held servers, member states). */
  get plan(): PoolPlan {
    return this.#plan;
  }

  /** New health, admin state or connection count for one server. */
  update(id: string, change: { enabled?: boolean; healthy?: boolean; connections?: number | undefined }): void {
    const m = this.#members.find((x) => x.server.id === id);
    if (m === undefined) throw new MonitorError('ERR_MONITOR_UNKNOWN_SERVER', `pool ${this.#service} has no server ${id}`);
    if (change.enabled !== undefined) m.enabled = change.enabled;
    if (change.healthy !== undefined) m.healthy = change.healthy;
    if ('connections' in change) {
      if (change.connections === undefined) delete m.connections;
      else m.connections = change.connections;
    }
    this.#replan();
  }

  /** Replace the server list (weights, additions, removals); known servers keep their state. */
  setServers(servers: readonly PoolServer[]): void {
    const old = new Map(this.#members.map((m) => [m.server.id, m]));
    this.#members = servers.map((s) => {
      const m = old.get(s.id);
      return m === undefined ? { server: s, enabled: true, healthy: false } : { ...m, server: s };
    });
    this.#replan();
  }

  /**
   * Take servers' states from a Monitor, now and on every change. A server the
   * monitor stops watching counts as failed (nothing vouches for it). Returns a
   * function that stops following.
   */
  follow(monitor: Monitor): () => void {
    const onServer = (id: string, st: ServerState): void => {
      if (this.#members.some((m) => m.server.id === id)) this.update(id, fromServerState(st));
    };
    const onRemoved = (id: string): void => {
      if (this.#members.some((m) => m.server.id === id)) this.update(id, { healthy: false });
    };
    for (const m of this.#members) {
      const st = monitor.state(m.server.id);
      if (st !== undefined) Object.assign(m, fromServerState(st));
    }
    this.#replan();
    monitor.on('server', onServer);
    monitor.on('removed', onRemoved);
    return () => {
      monitor.off('server', onServer);
      monitor.off('removed', onRemoved);
    };
  }

  /** Stop the drain timer. */
  close(): void {
    this.#closed = true;
    this.#wake?.cancel();
  }

  #inputs(): PoolMemberInput[] {
    return this.#members.map((m) => {
      const i: PoolMemberInput = {
        id: m.server.id,
        address: m.server.address,
        port: m.server.port,
        weight: m.server.weight ?? 1,
        enabled: m.enabled,
        healthy: m.healthy,
      };
      if (m.connections !== undefined) i.connections = m.connections;
      return i;
    });
  }

  #replan(): void {
    if (this.#closed) return;
    const prev = this.#plan.destinations;
    const plan = planPool(this.#cfg, this.#inputs(), this.#state, this.#clock.now());
    this.#apply(plan, prev);
  }

  #apply(plan: PoolPlan, prev: Destination[]): void {
    this.#plan = plan;
    this.#state = plan.state;
    this.#wake?.cancel();
    this.#wake = undefined;
    if (plan.wakeAt !== undefined && !this.#closed) this.#wake = this.#clock.setTimer(plan.wakeAt - this.#clock.now(), () => this.#replan());
    this.#metrics?.recordPool(this.#service, plan);
    for (const ev of plan.events) {
      if (ev.kind === 'alert') {
        this.#log[ev.alert ? 'warn' : 'info']({ reason: ev.reason }, ev.alert ? 'depool threshold holding failed servers' : 'depool threshold alert cleared');
        this.emit('alert', ev.alert, ev.reason);
      } else this.#log.info({ server: ev.id, from: ev.from, to: ev.to, reason: ev.reason }, 'pool member change');
      this.emit('event', ev);
    }
    if (!sameDestinations(prev, plan.destinations)) this.emit('change', plan.destinations, plan);
  }
}

/** What a pool needs from a server state: admin state, and health with damping applied. */
export function fromServerState(st: ServerState): { enabled: boolean; healthy: boolean } {
  return { enabled: st.enabled, healthy: st.healthy && !st.damped };
}

function sameDestinations(a: readonly Destination[], b: readonly Destination[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as Destination;
    const y = b[i] as Destination;
    if (x.address !== y.address || x.port !== y.port || x.weight !== y.weight) return false;
  }
  return true;
}
