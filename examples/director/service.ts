/**
 * One service at run time: its servers (from the file or a pool source), a
 * Monitor running its checks, a Pool turning server states into weighted
 * destinations, and what that means for IPVS (one virtual service per VIP)
 * and for the announcement of its VIPs.
 *
 * Servers leave gently: a server removed from the pool source, or set
 * `pooled: no` / `enabled: false`, is disabled first, so the Pool drains it at
 * weight 0 for `drainMs` before IPVS forgets it.
 *
 * The drain time counts from the moment IPVS has the weight 0 (`drainLanded`,
 * called by the director after each successful IPVS write), not from the pool's
 * decision: until the write lands the kernel still schedules new connections
 * to the server, and under load (or a big table) the write can take seconds.
 * The Pool's own drain deadline is set `DRAIN_FALLBACK_MS` later, as a bound
 * should IPVS never confirm the write.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { EventEmitter } from 'eventemitter3';
import type { Logger } from 'lvskit';
import type { Destination as IpvsDestination, TableService } from 'lvskit/ipvs';
import { realClock, type Clock, type TimerHandle } from 'lvskit';
import { Monitor, Pool, fromServerState, type MonitorMetrics, type MonitoredCheck, type PoolEvent, type PoolServer, type ServerState } from 'lvskit/monitors';
import { buildChecks } from './checks.js';
import type { ServiceConfig } from './config.js';
import { DirectorError } from './errors.js';
import type { PoolEntry, PoolSource, PoolSourceSpec, PoolStale } from './sources/types.js';

/** A pool member as the director holds it. */
export interface Member {
  host: string;
  address: string;
  port: number;
  weight: number;
  enabled: boolean;
}

/** A server's state in the status API (PyBal's enabled/up/pooled, plus detail). */
export interface ServerView {
  host: string;
  address: string;
  port: number;
  weight: number;
  enabled: boolean;
  up: boolean;
  pooled: boolean;
  /** Pool status: pooled, held (failing, kept by the depool threshold), draining (weight 0), out. */
  status: 'pooled' | 'held' | 'draining' | 'out';
  /** Leaving the configuration (draining before removal). */
  leaving: boolean;
  /** Draining with its weight 0 in IPVS: when it will be removed (ISO 8601). */
  drainUntil?: string;
  checks: { name: string; up: boolean; last?: string; latencyMs?: number }[];
}

export interface ServiceEvents {
  /** A draining server's weight 0 is in IPVS: it is removed at `until` (ms since the epoch, like `since`). */
  drain: [ev: { service: string; id: string; since: number; until: number }];
  /** The destinations changed (IPVS must be reconciled). */
  change: [];
  /** A member changed pool status. */
  member: [ev: Extract<PoolEvent, { kind: 'member' }> & { service: string }];
  /** Whether the service wants its VIPs announced changed. */
  announce: [wanted: boolean];
  alert: [alert: boolean, reason: string];
}

export interface ServiceRuntimeOptions {
  logger: Logger;
  metrics: MonitorMetrics;
  baseDir: string;
  /** Builds the pool source for `config.pool` (examples/director/sources). */
  createSource?: (spec: PoolSourceSpec, service: string) => PoolSource;
  /** Hosts that were up before a reload: they start up (fall failures to go down) instead of down. */
  carryUp?: ReadonlySet<string>;
  resolve?: (host: string) => Promise<string[]>;
  /** Checks of this service running at once (the director shares one budget among its services). */
  concurrency?: number;
  /** Drain timers (tests). */
  clock?: Clock;
}

/** Host names of one pool update looked up at once. */
export const RESOLVE_CONCURRENCY = 16;

/** How much later than `drainMs` the Pool ends a drain by itself when IPVS never confirms the weight 0. */
export const DRAIN_FALLBACK_MS = 60_000;

/** A draining server: when IPVS had its weight 0 (once known) and the timer that ends the drain. */
interface Drain {
  landedAt?: number;
  timer?: TimerHandle;
  /** Wall-clock removal time (ms since the epoch), once landed. */
  until?: number;
}

/** Seconds for people: `2 s`, `1.5 s`, `90 s`. */
export function humanMs(ms: number): string {
  return `${Number((ms / 1000).toFixed(ms < 10_000 ? 1 : 0))} s`;
}

const vsKey = (t: TableService): string => ('fwmark' in t && t.fwmark !== undefined ? `fwm ${t.family ?? 'ipv4'} ${t.fwmark}` : `${(t as { protocol?: string }).protocol ?? 'tcp'} ${(t as { address?: string }).address ?? ''} ${(t as { port?: number }).port ?? 0}`);

async function defaultResolve(host: string): Promise<string[]> {
  const r = await lookup(host, { all: true, verbatim: true });
  return r.map((x) => x.address);
}

export class ServiceRuntime extends EventEmitter<ServiceEvents> {
  readonly config: ServiceConfig;
  readonly monitor: Monitor;
  readonly pool: Pool;
  readonly #log: Logger;
  readonly #checks: MonitoredCheck[];
  readonly #members = new Map<string, Member>();
  readonly #leaving = new Set<string>();
  readonly #carryUp: ReadonlySet<string>;
  readonly #resolve: (host: string) => Promise<string[]>;
  readonly #source: PoolSource | undefined;
  #stale: PoolStale | undefined;
  #announce = false;
  #stopped = false;
  #applyChain: Promise<void> = Promise.resolve();
  #unfollow: () => void;
  readonly #clock: Clock;
  readonly #drains = new Map<string, Drain>();
  /** The last table IPVS confirmed (what `drainLanded` was last given). */
  #lastLanded: readonly TableService[] = [];
  /** Drains ended by our own timer (their pool event gets our reason). */
  readonly #drained = new Set<string>();
  /** `table()` as last built; the same objects until the pool's destinations change. */
  #table: TableService[] | undefined;

  constructor(config: ServiceConfig, options: ServiceRuntimeOptions) {
    super();
    this.config = config;
    this.#log = options.logger.child({ service: config.name });
    this.#carryUp = options.carryUp ?? new Set();
    this.#resolve = options.resolve ?? defaultResolve;
    try {
      this.#checks = buildChecks(config.checks, options.baseDir);
    } catch (e) {
      throw new DirectorError('ERR_DIRECTOR_START', `service ${config.name}: ${(e as Error).message}`, { cause: e });
    }
    this.#clock = options.clock ?? realClock;
    this.monitor = new Monitor({ logger: this.#log, metrics: options.metrics, ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }) });
    // The Pool's drain deadline is only the fallback: the drain normally ends drainMs after IPVS has the weight 0.
    const poolDrainMs = config.drainMs > 0 ? config.drainMs + DRAIN_FALLBACK_MS : 0;
    this.pool = new Pool([], { service: config.name, depoolThreshold: config.depoolThreshold, drainMs: poolDrainMs, clock: this.#clock, logger: this.#log, metrics: options.metrics });
    this.#unfollow = this.pool.follow(this.monitor);
    this.pool.on('change', () => {
      this.#table = undefined;
      this.emit('change');
      this.#updateAnnounce();
    });
    this.pool.on('alert', (a, why) => this.emit('alert', a, why));
    this.pool.on('event', (ev) => {
      if (ev.kind !== 'member') return;
      let reason = ev.reason;
      if (ev.to === 'draining') {
        this.#drains.set(ev.id, {});
        // A server already at weight 0 in IPVS (drained by weight, then disabled) changes no
        // destination, so no write will land for it: its drain time starts now. After the
        // member event, so listeners see the drain begin before its time starts.
        queueMicrotask(() => this.drainLanded(this.#lastLanded));
        // The Pool says "weight 0 until <its clock>": the director's drain starts when IPVS has the weight 0.
        reason = `${ev.reason.split(':')[0] ?? 'failed'}: removed ${humanMs(config.drainMs)} after IPVS has its weight 0`;
      } else if (ev.from === 'draining') {
        this.#drains.get(ev.id)?.timer?.cancel();
        this.#drains.delete(ev.id);
        if (ev.to === 'out') {
          if (this.#drained.delete(ev.id)) reason = `drain time of ${humanMs(config.drainMs)} over, counted from the weight-0 write`;
          else if (/^drain time/.test(reason)) reason = `drain time over (IPVS never confirmed the weight 0 within ${humanMs(config.drainMs + DRAIN_FALLBACK_MS)})`;
        }
      }
      this.emit('member', { ...ev, reason, service: config.name });
      if (ev.to === 'out' && this.#leaving.has(ev.id)) this.#forget(ev.id);
    });
    if (config.pool !== undefined) {
      if (options.createSource === undefined) throw new DirectorError('ERR_DIRECTOR_START', `service ${config.name}: pool sources are not available`);
      try {
        this.#source = options.createSource(config.pool as unknown as PoolSourceSpec, config.name);
      } catch (e) {
        throw new DirectorError('ERR_DIRECTOR_START', `service ${config.name}: pool source: ${(e as Error).message}`, { cause: e });
      }
      this.#source.on('pool', (u) => void this.setEntries(u.entries));
      this.#source.on('stale', (s) => {
        this.#stale = s;
        this.#log.warn({ origin: s.origin, reason: s.reason.message }, 'pool source unreachable or bad: keeping the last good pool');
      });
      this.#source.on('recovered', () => {
        this.#stale = undefined;
        this.#log.info('pool source is back');
      });
      this.#source.on('error', () => undefined);
    }
  }

  get name(): string {
    return this.config.name;
  }
  /** The pool source's trouble, when it has any (last good pool kept meanwhile). */
  get stale(): PoolStale | undefined {
    return this.#stale;
  }
  get source(): PoolSource | undefined {
    return this.#source;
  }
  /** True when the VIPs should be announced now. */
  get announceWanted(): boolean {
    return this.#announce;
  }

  /** Start checks and the pool source; resolves once the servers listed in the file (or the source's first answer) are in. */
  async start(signal?: AbortSignal): Promise<void> {
    this.monitor.start();
    if (this.config.servers !== undefined) {
      await this.setEntries(this.config.servers.map((s) => ({ host: s.host, ...(s.address === undefined ? {} : { address: s.address }), weight: s.weight, enabled: s.enabled, pooled: 'yes', port: s.port })));
    }
    if (this.#source !== undefined) {
      try {
        await this.#source.start(signal === undefined ? {} : { signal });
      } catch (e) {
        throw new DirectorError('ERR_DIRECTOR_START', `service ${this.name}: pool source: ${(e as Error).message}`, { cause: e });
      }
      const cur = this.#source.current();
      if (cur !== undefined) await this.setEntries(cur.entries);
    }
    this.#updateAnnounce();
  }

  /** Resolves when every check has reported once (or at once when there are no servers). */
  whenSettled(signal?: AbortSignal): Promise<void> {
    return this.monitor.whenSettled(signal === undefined ? {} : { signal });
  }

  /**
   * Replace the pool with the source's full state. Serialised: entries that
   * need DNS are resolved before the pool changes.
   */
  setEntries(entries: readonly (PoolEntry & { port?: number | undefined })[]): Promise<void> {
    const run = async (): Promise<void> => {
      if (this.#stopped) return;
      const live = entries.filter((e) => e.pooled !== 'inactive');
      const addresses = await this.#addressesOf(live);
      const next = new Map<string, Member>();
      // In the source's order (IPVS's mh scheduler depends on the order servers are added).
      live.forEach((e, i) => {
        const address = addresses[i];
        if (address === undefined) return;
        next.set(e.host, { host: e.host, address, port: e.port ?? this.config.port ?? 0, weight: e.weight, enabled: e.enabled && e.pooled !== 'no' });
      });
      if (this.#stopped) return;
      this.#apply(next);
    };
    this.#applyChain = this.#applyChain.then(run, run);
    return this.#applyChain;
  }

  /**
   * Addresses of `entries`, in their order: names are looked up at most
   * RESOLVE_CONCURRENCY at a time (not one after the other: a pool of many
   * named servers would wait for each lookup in turn on every update).
   */
  async #addressesOf(entries: readonly PoolEntry[]): Promise<(string | undefined)[]> {
    const out: (string | undefined)[] = new Array<string | undefined>(entries.length);
    const pending: number[] = [];
    entries.forEach((e, i) => {
      if (e.address !== undefined) out[i] = e.address;
      else if (isIP(e.host) !== 0) out[i] = e.host;
      else pending.push(i);
    });
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < pending.length) {
        const i = pending[next++] as number;
        out[i] = await this.#addressOf(entries[i] as PoolEntry);
      }
    };
    await Promise.all(Array.from({ length: Math.min(RESOLVE_CONCURRENCY, pending.length) }, worker));
    return out;
  }

  async #addressOf(e: PoolEntry): Promise<string | undefined> {
    if (e.address !== undefined) return e.address;
    if (isIP(e.host) !== 0) return e.host;
    const known = this.#members.get(e.host);
    try {
      const all = await this.#resolve(e.host);
      const fams = new Set(this.config.vips.map((v) => isIP(v)));
      const a = all.find((x) => fams.has(isIP(x))) ?? all[0];
      if (a === undefined) throw new Error('no address');
      return a;
    } catch (err) {
      // Keep what we had rather than dropping a server on a DNS hiccup.
      this.#log.warn({ host: e.host, err }, known === undefined ? 'cannot resolve server: left out' : 'cannot resolve server: keeping its last address');
      return known?.address;
    }
  }

  #spec(m: Member, initial: 'down' | 'up' | 'first-result' | undefined): Parameters<Monitor['add']>[0] {
    const spec: Parameters<Monitor['add']>[0] = {
      id: m.host,
      target: { address: m.address, port: m.port, host: m.host, service: this.name },
      checks: this.#checks,
      enabled: m.enabled,
    };
    if (this.config.rise !== undefined) spec.rise = this.config.rise;
    if (this.config.fall !== undefined) spec.fall = this.config.fall;
    if (initial !== undefined) spec.initial = initial;
    return spec;
  }

  #apply(next: Map<string, Member>): void {
    // Servers gone from the source: disable (drain) first, forget once out.
    for (const [host, m] of this.#members) {
      if (next.has(host)) continue;
      if (!this.#leaving.has(host)) {
        this.#leaving.add(host);
        this.#log.info({ host }, 'server left the pool configuration: draining');
        if (m.enabled) this.monitor.setEnabled(host, false, 'removed from the pool configuration');
        m.enabled = false;
        const st = this.pool.plan.state.members[host]?.status;
        if (st === undefined || st === 'out') this.#forget(host);
      }
    }
    let serversChanged = false;
    const added: string[] = [];
    for (const [host, m] of next) {
      const old = this.#members.get(host);
      // Back before its drain ended: it stays (enabled again below, re-pooled when healthy).
      this.#leaving.delete(host);
      if (old === undefined || old.address !== m.address || old.port !== m.port) {
        if (old !== undefined) this.monitor.remove(host);
        // Default 'first-result': the first round of checks decides, so the first IPVS write (made once
        // every check has reported) already holds the healthy servers, and a restart publishes no empty pool.
        const initial = this.#carryUp.has(host) ? 'up' : (this.config.initial ?? 'first-result');
        this.monitor.add(this.#spec(m, initial));
        this.#members.set(host, m);
        added.push(host);
        serversChanged = true;
        continue;
      }
      if (old.weight !== m.weight) serversChanged = true;
      if (old.enabled !== m.enabled) this.monitor.setEnabled(host, m.enabled, m.enabled ? 'pooled by the operator' : 'depooled by the operator');
      this.#members.set(host, m);
    }
    if (serversChanged) this.pool.setServers(this.#poolServers());
    // A new pool member starts unhealthy; a server that starts up (carried over a reload) is healthy
    // already, and the monitor only reports changes: tell the pool now.
    for (const host of added) {
      const st = this.monitor.state(host);
      if (st !== undefined && st.healthy) this.pool.update(host, fromServerState(st));
    }
  }

  #poolServers(): PoolServer[] {
    return [...this.#members.values()].map((m) => ({ id: m.host, address: m.address, port: m.port, weight: m.weight }));
  }

  #forget(host: string): void {
    this.#leaving.delete(host);
    this.#members.delete(host);
    this.monitor.remove(host);
    this.pool.setServers(this.#poolServers());
    this.#log.info({ host }, 'server removed');
  }

  #updateAnnounce(): void {
    const when = this.config.announce.when;
    const want = when === 'always' || (when === 'pooled' && this.pool.plan.pooledCount > 0);
    if (want === this.#announce) return;
    this.#announce = want;
    this.emit('announce', want);
  }

  /**
   * IPVS has `applied` (the whole desired table, written at `at` on this director's clock): each
   * draining server of this service whose weight 0 is in it starts its drain time now.
   */
  drainLanded(applied: readonly TableService[], at = this.#clock.now()): void {
    this.#lastLanded = applied;
    if (this.#stopped || this.#drains.size === 0) return;
    let pending = false;
    for (const d of this.#drains.values()) if (d.landedAt === undefined) pending = true;
    if (!pending) return;
    const mine = new Set(this.table().map(vsKey));
    // address|port -> the highest weight any of this service's virtual services has for it.
    const weights = new Map<string, number>();
    for (const t of applied) {
      if (!mine.has(vsKey(t))) continue;
      for (const x of t.destinations ?? []) {
        const k = `${x.address}|${x.port}`;
        weights.set(k, Math.max(weights.get(k) ?? 0, x.weight ?? 0));
      }
    }
    for (const [host, d] of this.#drains) {
      if (d.landedAt !== undefined) continue;
      const m = this.#members.get(host);
      if (m === undefined) continue;
      const port = this.config.fwmark !== undefined ? m.port : m.port || (this.config.port ?? 0);
      if (weights.get(`${m.address}|${port}`) !== 0) continue;
      d.landedAt = at;
      d.timer = this.#clock.setTimer(this.config.drainMs, () => this.#endDrain(host));
      const wall = Date.now() + (at - this.#clock.now());
      d.until = wall + this.config.drainMs;
      this.#log.info({ host, drainMs: this.config.drainMs, until: new Date(wall + this.config.drainMs).toISOString() }, 'weight 0 is in IPVS: drain time starts');
      this.emit('drain', { service: this.name, id: host, since: wall, until: wall + this.config.drainMs });
    }
  }

  #endDrain(host: string): void {
    if (this.#stopped || this.pool.plan.state.members[host]?.status !== 'draining') return;
    // A connection count of 0 ends the Pool's drain at once; then forget the count again.
    this.#drained.add(host);
    this.pool.update(host, { connections: 0 });
    this.#drained.delete(host);
    if (this.#members.has(host)) this.pool.update(host, { connections: undefined });
  }

  /** Servers pooled (at full weight, held included). */
  get pooledCount(): number {
    return this.pool.plan.pooledCount;
  }

  /**
   * The IPVS virtual services of this service (one per VIP, or one per family for a fwmark). The
   * same objects are returned until the pool's destinations change (the dry run plans only the
   * services whose objects changed); treat them as read-only.
   */
  table(): TableService[] {
    this.#table ??= this.#buildTable();
    return this.#table;
  }

  #buildTable(): TableService[] {
    const c = this.config;
    const dests = this.pool.destinations;
    const out: TableService[] = [];
    const seenMark = new Set<number>();
    for (const vip of c.vips) {
      const fam = isIP(vip);
      const family = fam === 6 ? 'ipv6' : 'ipv4';
      const ds: IpvsDestination[] = dests
        .filter((d) => c.forwarding === 'tunnel' || isIP(d.address) === fam)
        .map((d) => ({ address: d.address, port: c.fwmark !== undefined ? d.port : d.port || (c.port ?? 0), weight: d.weight, forwarding: c.forwarding }));
      const opts = {
        scheduler: c.scheduler,
        ...(c.schedFlags.length > 0 ? { schedFlags: [...c.schedFlags] } : {}),
        ...(c.persistence === undefined ? {} : { persistence: { ...c.persistence } }),
      };
      if (c.fwmark !== undefined) {
        if (seenMark.has(fam)) continue;
        seenMark.add(fam);
        out.push({ fwmark: c.fwmark, family, ...opts, destinations: ds });
      } else out.push({ protocol: c.protocol, address: vip, port: c.port ?? 0, ...opts, destinations: ds });
    }
    return out;
  }

  /** Each server as the status API shows it. */
  servers(): ServerView[] {
    const plan = this.pool.plan;
    return [...this.#members.values()]
      .map((m): ServerView => {
        const st: ServerState | undefined = this.monitor.state(m.host);
        const status = plan.state.members[m.host]?.status ?? 'out';
        return {
          host: m.host,
          address: m.address,
          port: m.port,
          weight: m.weight,
          enabled: m.enabled && !this.#leaving.has(m.host),
          up: st !== undefined && st.healthy && !st.damped,
          pooled: status === 'pooled' || status === 'held',
          status,
          leaving: this.#leaving.has(m.host),
          ...(status === 'draining' && this.#drains.get(m.host)?.until !== undefined ? { drainUntil: new Date(this.#drains.get(m.host)?.until as number).toISOString() } : {}),
          checks: (st?.checks ?? []).map((c) => ({
            name: c.name,
            up: c.up,
            ...(c.last === undefined ? {} : { last: c.last.reason, latencyMs: Math.round(c.last.latencyMs * 10) / 10 }),
          })),
        };
      })
      .sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
  }

  /** Hosts up now (a reload carries them over as up). */
  upHosts(): Set<string> {
    return new Set(this.servers().filter((s) => s.up).map((s) => s.host));
  }

  /**
   * Stop checks, source and timers. `forget` (default true) also removes each server from the
   * monitor, so its metric series go (a service removed or replaced on reload); the director's own
   * stop skips it: the metrics go with the director, and removing 20,000 servers one by one costs
   * seconds of CPU.
   */
  async stop(options: { forget?: boolean } = {}): Promise<void> {
    this.#stopped = true;
    for (const d of this.#drains.values()) d.timer?.cancel();
    this.#drains.clear();
    this.#unfollow();
    await this.#source?.stop();
    await this.monitor.stop();
    this.pool.close();
    if (options.forget !== false) for (const host of this.monitor.ids()) this.monitor.remove(host);
  }
}
