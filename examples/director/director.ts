/**
 * `startDirector(config, { signal, logger })`: the daemon as a function.
 *
 * Start order: IPVS probe (kernel or dry run), sysctls, status API (a taken
 * port fails the start before anything else is touched), services (checks
 * and pool sources), BGP; then it waits for every check's first result (at
 * most `ipvs.startupWaitMs`) before the first IPVS write, so a restart never
 * publishes an empty pool, and only then announces VIPs. IPVS is reconciled,
 * never flushed: a restart with the same pools writes nothing.
 *
 * Stop: VIPs withdrawn (BGP Cease, VRRP priority 0), checks stopped, the IPVS
 * table left as it is. `stop({ restart: true })` with BGP graceful restart
 * configured keeps the routes in the routers (RFC 4724) while the next process
 * starts, and leaves a marker in `stateDir` so that process tells the routers
 * it restarted.
 */
import { setMaxListeners } from 'node:events';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { EventEmitter } from 'eventemitter3';
import type { Logger } from 'lvskit';
import { BgpSpeaker, type PeerConfig, type PeerStatus, type RouteAttributes } from 'lvskit/bgp';
import type { TableService } from 'lvskit/ipvs';
import { MonitorMetrics } from 'lvskit/monitors';
import { LinuxVrrpTransport, VrrpRouter, type VrrpInstanceOptions, type VrrpInstanceSnapshot, type VrrpTransport } from 'lvskit/vrrp';
import { diffServices, loadConfig, type BgpConfig, type DirectorConfig, type ServiceConfig } from './config.js';
import { ConfigError, DirectorError, startError } from './errors.js';
import { IpvsDriver, openIpvs, type IpvsApplied, type IpvsMode } from './ipvs.js';
import { createLogger } from './logger.js';
import { ServiceRuntime } from './service.js';
import { createPoolSource } from './sources/index.js';
import type { PoolSourceSpec } from './sources/types.js';
import { StatusServer, type DirectorView } from './status.js';
import { applySysctls, checkSysctls, type SysctlStatus } from './sysctl.js';
import { DryRunVrrpTransport, dryInterfaceFacts } from './vrrp-dry.js';

export interface DirectorOptions {
  /** Aborting stops the director (like `stop()`). */
  signal?: AbortSignal;
  /** pino-compatible; default: a pino logger made from the config's `log` section. */
  logger?: Logger;
  /** Overrides the config's `dryRun` (the CLI's --dry-run). */
  dryRun?: boolean;
  /** Overrides the status API port (0: any free port; tests). */
  statusPort?: number;
}

export interface ReloadResult {
  added: string[];
  removed: string[];
  changed: string[];
  unchanged: string[];
  /** Settings read but not applied until a restart (BGP identity, status address, VRRP). */
  needsRestart: string[];
}

export interface DirectorStatus {
  name: string;
  mode: IpvsMode;
  startedAt: number;
  services: { name: string; vips: string[]; pooled: number; servers: number; announced: boolean; alert: boolean }[];
  bgp: PeerStatus[];
  vrrp: VrrpInstanceSnapshot[];
  announced: string[];
}

export interface DirectorEvents {
  /** IPVS changed (or, in dry run, would have): the operations and their ipvsadm commands. */
  ipvs: [IpvsApplied];
  /** A server changed pool status. */
  member: [ev: { service: string; id: string; from: string; to: string; reason: string }];
  /** A draining server's weight 0 is in IPVS: its drain time runs from `since` to `until` (ms since the epoch). */
  drain: [ev: { service: string; id: string; since: number; until: number }];
  /** A VRRP instance changed state (in dry run too: the state it would hold). */
  vrrp: [ev: { instance: string; from: string; to: string; reason: string; dryRun: boolean }];
  /** A VIP was announced or withdrawn. */
  announce: [ev: { prefix: string; announced: boolean }];
  reload: [ReloadResult];
  stopped: [];
}

/** A running director. The API the kernel-tier end-to-end test and embedding tools use. */
export interface DirectorHandle extends EventEmitter<DirectorEvents> {
  readonly config: DirectorConfig;
  /** `kernel` or `dry-run`. */
  readonly mode: IpvsMode;
  /** `http://address:port` of the status API, when enabled. */
  readonly statusUrl: string | undefined;
  /** Port the BGP listener is bound to, when listening. */
  readonly bgpPort: number | undefined;
  status(): DirectorStatus;
  /** The IPVS table: the kernel's (with counters), or the dry run's simulated one. */
  ipvsTable(): Promise<TableService[]>;
  /** Re-read the config file (or take the given config) and apply the differences; unchanged services are not touched. */
  reload(config?: DirectorConfig | string): Promise<ReloadResult>;
  /** Stop. `restart: true` keeps BGP routes in the routers (graceful restart). Idempotent. */
  stop(options?: { restart?: boolean }): Promise<void>;
  /** Resolves when the director has stopped (by `stop()`, the signal, or a fatal error). */
  readonly stopped: Promise<void>;
}

const RESTART_MARKER = 'graceful-restart';

/**
 * Checks a service may run at once: about 2048 in flight for the whole director, at least 8 and at
 * most lvskit/monitors' default 256 per service. Under overload, checks then wait for a slot
 * (their deadline starts when they run) instead of all timing out together.
 */
export function checkConcurrency(services: number): number {
  return Math.max(8, Math.min(256, Math.ceil(2048 / Math.max(1, services))));
}

function prefixOf(vip: string): string {
  return isIP(vip) === 6 ? `${vip}/128` : `${vip}/32`;
}

function peerConfig(p: BgpConfig['peers'][number]): PeerConfig {
  const c: PeerConfig = { address: p.address, remoteAs: p.remoteAs };
  if (p.port !== undefined) c.port = p.port;
  if (p.localAddress !== undefined) c.localAddress = p.localAddress;
  if (p.passive !== undefined) c.passive = p.passive;
  if (p.holdTime !== undefined) c.holdTime = p.holdTime;
  if (p.families !== undefined) c.families = p.families;
  if (p.nextHop !== undefined) c.nextHop = { ...p.nextHop };
  if (p.exportOverrides !== undefined) c.exportOverrides = { ...p.exportOverrides };
  // Quick reconnects: a director's routers are usually a hop away.
  c.connectRetry = { initialMs: 1000, maxMs: 30_000 };
  return c;
}

class Director extends EventEmitter<DirectorEvents> implements DirectorHandle, DirectorView {
  config: DirectorConfig;
  readonly log: Logger;
  readonly metrics = new MonitorMetrics();
  readonly ipvs: IpvsDriver;
  readonly startedAt = Date.now();
  readonly services = new Map<string, ServiceRuntime>();
  bgp: BgpSpeaker | undefined;
  vrrp: VrrpRouter | undefined;
  vrrpTransport: LinuxVrrpTransport | undefined;
  /** Dry run: the transport that logs what VRRP would do. */
  vrrpDry: DryRunVrrpTransport | undefined;
  status_: StatusServer | undefined;
  sysctls: SysctlStatus[] = [];
  readonly announced = new Map<string, RouteAttributes>();
  #ready = false;
  #timer: ReturnType<typeof setInterval> | undefined;
  #stopping: Promise<void> | undefined;
  #resolveStopped!: () => void;
  readonly stopped: Promise<void>;
  readonly #opts: DirectorOptions;

  constructor(config: DirectorConfig, log: Logger, ipvs: IpvsDriver, opts: DirectorOptions) {
    super();
    this.config = config;
    this.log = log;
    this.ipvs = ipvs;
    this.#opts = opts;
    this.stopped = new Promise((r) => (this.#resolveStopped = r));
    ipvs.on('applied', (a) => this.emit('ipvs', a));
    // Drain times count from here: the weight 0 is in IPVS.
    ipvs.on('landed', (table) => {
      for (const s of this.services.values()) s.drainLanded(table);
    });
  }

  get mode(): IpvsMode {
    return this.ipvs.mode;
  }
  get statusUrl(): string | undefined {
    return this.status_?.url;
  }
  get bgpPort(): number | undefined {
    return this.bgp?.port;
  }
  get ready(): boolean {
    return this.#ready;
  }

  // ---- services -----------------------------------------------------------------

  makeService(cfg: ServiceConfig, carryUp?: ReadonlySet<string>): ServiceRuntime {
    const svc = new ServiceRuntime(cfg, {
      logger: this.log,
      metrics: this.metrics,
      baseDir: this.config.baseDir,
      createSource: (spec: PoolSourceSpec, service: string) =>
        createPoolSource(spec, { service, baseDir: this.config.baseDir, logger: this.log.child({ service, part: 'source' }) }),
      ...(carryUp === undefined ? {} : { carryUp }),
      concurrency: checkConcurrency(this.config.services.length),
    });
    svc.on('change', () => this.reconcile(`pool ${cfg.name} changed`));
    svc.on('announce', () => this.updateAnnouncements());
    svc.on('member', (ev) => this.emit('member', { service: ev.service, id: ev.id, from: ev.from, to: ev.to, reason: ev.reason }));
    svc.on('drain', (ev) => this.emit('drain', ev));
    return svc;
  }

  desired(): TableService[] {
    return [...this.services.values()].flatMap((s) => s.table());
  }

  reconcile(reason: string): void {
    if (!this.#ready) return;
    void this.ipvs.set(() => this.desired(), reason);
  }

  // ---- announcements -------------------------------------------------------------

  /** Announce each VIP wanted by at least one of its services; withdraw the others. */
  updateAnnouncements(): void {
    // Not before BGP runs (it starts after the first IPVS write): what is recorded here is never re-sent.
    if (!this.#ready || (this.config.bgp !== undefined && this.bgp === undefined)) return;
    const want = new Map<string, RouteAttributes>();
    const bgpDefaults = this.config.bgp?.announce ?? {};
    for (const s of this.services.values()) {
      if (!s.announceWanted) continue;
      for (const vip of s.config.vips) {
        const p = prefixOf(vip);
        if (want.has(p)) continue;
        const a = s.config.announce;
        const attrs: RouteAttributes = {};
        const med = a.med ?? bgpDefaults.med;
        const prepend = a.prepend ?? bgpDefaults.prepend;
        const communities = a.communities ?? bgpDefaults.communities;
        const large = a.largeCommunities ?? bgpDefaults.largeCommunities;
        if (med !== undefined) attrs.med = med;
        if (prepend !== undefined && prepend > 0) attrs.prepend = prepend;
        if (communities !== undefined) attrs.communities = [...communities];
        if (large !== undefined) attrs.largeCommunities = [...large];
        want.set(p, attrs);
      }
    }
    for (const [p, attrs] of want) {
      const had = this.announced.get(p);
      if (had !== undefined && JSON.stringify(had) === JSON.stringify(attrs)) continue;
      this.announced.set(p, attrs);
      this.bgp?.announce(p, attrs);
      this.log.info({ prefix: p, ...attrs, bgp: this.bgp !== undefined }, 'VIP announced');
      this.emit('announce', { prefix: p, announced: true });
    }
    for (const p of [...this.announced.keys()]) {
      if (want.has(p)) continue;
      this.announced.delete(p);
      this.bgp?.withdraw(p);
      this.log.warn({ prefix: p }, 'VIP withdrawn (no pooled servers)');
      this.emit('announce', { prefix: p, announced: false });
    }
    // VRRP: a service with nothing pooled puts its instance in FAULT (vital tracked object, weight 0).
    if (this.vrrp !== undefined) for (const s of this.services.values()) if (s.config.vrrp !== undefined) this.vrrp.track(`pool:${s.name}`, s.announceWanted || s.config.announce.when === 'never');
  }

  // ---- start ----------------------------------------------------------------------

  async start(): Promise<void> {
    const cfg = this.config;
    const signal = this.#opts.signal;
    this.log.info({ mode: this.ipvs.mode, services: cfg.services.length, config: cfg.file }, `director ${cfg.name} starting`);
    if (this.ipvs.mode === 'dry-run') this.log.warn('IPVS dry run: the table is kept in memory and each change is logged as the ipvsadm command it would be');
    this.sysctls = await applySysctls(cfg.ipvs.sysctls, { dryRun: this.ipvs.mode === 'dry-run', logger: this.log.child({ part: 'sysctl' }) });

    if (cfg.status !== false) {
      const port = this.#opts.statusPort ?? cfg.status.port;
      this.status_ = new StatusServer(this, this.log.child({ part: 'status' }));
      try {
        await this.status_.listen(cfg.status.address, port);
      } catch (e) {
        throw startError(`status API on ${cfg.status.address}:${port}`, e);
      }
      this.log.info({ url: this.status_.url }, 'status API listening');
    }

    for (const sc of cfg.services) this.services.set(sc.name, this.makeService(sc));
    await Promise.all([...this.services.values()].map((s) => s.start(signal)));

    // First IPVS write only once every check has spoken (bounded), so nothing is depooled on no evidence.
    // A controller and a timer of our own: a bare AbortSignal.timeout() only weakly held by
    // AbortSignal.any() can be garbage-collected before it fires (then this would wait forever).
    const waitCtl = new AbortController();
    const waitTimer = setTimeout(() => waitCtl.abort(), cfg.ipvs.startupWaitMs);
    const onAbort = (): void => waitCtl.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const wait = waitCtl.signal;
    setMaxListeners(this.services.size + 10, wait);
    const t0 = Date.now();
    try {
      await Promise.all([...this.services.values()].map((s) => s.whenSettled(wait).catch(() => undefined)));
    } finally {
      clearTimeout(waitTimer);
      signal?.removeEventListener('abort', onAbort);
    }
    if (signal?.aborted === true) throw new DirectorError('ERR_DIRECTOR_STOPPED', 'stopped while starting');
    this.log.info({ waitedMs: Date.now() - t0 }, 'first health check round done: reconciling IPVS');
    this.#ready = true;
    await this.ipvs.set(() => this.desired(), 'start');
    if (cfg.ipvs.syncDaemon !== undefined) {
      try {
        await this.ipvs.ensureSyncDaemon(cfg.ipvs.syncDaemon);
      } catch (e) {
        this.log.error({ err: e }, 'cannot start the IPVS connection-sync daemon');
      }
    }
    if (cfg.vrrp !== undefined) await this.startVrrp();
    // BGP only now, and the announcements in the same tick: a session's first UPDATEs then carry our
    // routes before End-of-RIB. Earlier, a graceful restart sent End-of-RIB with nothing in it and the
    // routers dropped the routes they were keeping (RFC 4724 §4.1: EoR after the initial update).
    if (cfg.bgp !== undefined) await this.startBgp(cfg.bgp);
    this.updateAnnouncements();
    if (this.ipvs.mode === 'kernel') {
      this.#timer = setInterval(() => void this.ipvs.recheck(), cfg.ipvs.reconcileIntervalMs);
      this.#timer.unref();
    }
    this.log.info({ services: this.services.size, announced: [...this.announced.keys()] }, `director ${cfg.name} running`);
  }

  async startBgp(b: BgpConfig): Promise<void> {
    let restarting = false;
    if (b.gracefulRestart !== undefined && this.config.stateDir !== undefined) {
      const marker = join(this.config.stateDir, RESTART_MARKER);
      try {
        const at = Number((await readFile(marker, 'utf8')).trim());
        restarting = Date.now() - at < b.gracefulRestart.restartTime * 1000;
        await rm(marker, { force: true });
      } catch {
        // No marker: a plain start.
      }
    }
    this.bgp = new BgpSpeaker({
      localAs: b.localAs,
      routerId: b.routerId,
      peers: b.peers.map(peerConfig),
      listen: b.listen === false ? false : { ...(b.listen.address === undefined ? {} : { address: b.listen.address }), port: b.listen.port },
      ...(b.holdTime === undefined ? {} : { holdTime: b.holdTime }),
      // F bit: the IPVS table (the forwarding state behind our routes) stays in the kernel over a
      // restart, so routers keep our routes until End-of-RIB instead of dropping them at session up.
      ...(b.gracefulRestart === undefined ? {} : { gracefulRestart: { restartTime: b.gracefulRestart.restartTime, restarting, forwardingPreserved: this.ipvs.mode === 'kernel' } }),
      logger: this.log.child({ part: 'bgp' }),
    });
    this.bgp.on('peer-up', (peer) => this.log.info({ peer }, 'BGP session established'));
    this.bgp.on('peer-down', (peer, reason) => this.log.warn({ peer, reason: reason.kind }, 'BGP session down'));
    try {
      await this.bgp.start();
    } catch (e) {
      throw startError(b.listen === false ? 'BGP' : `BGP listener on port ${b.listen.port}`, e);
    }
    if (restarting) this.log.info('BGP graceful restart: routers keep our routes until we are back');
  }

  async startVrrp(): Promise<void> {
    const v = this.config.vrrp;
    if (v === undefined || v.instances.length === 0) return;
    const dry = this.ipvs.mode === 'dry-run';
    const vlog = this.log.child({ part: 'vrrp' });
    try {
      let transport: VrrpTransport;
      if (dry) {
        // Dry run: the real state machine on a link of its own; what it would do is logged (vrrp-dry.ts).
        this.vrrpDry = new DryRunVrrpTransport(new Map(v.instances.map((i) => [i.name, i.interface])), vlog);
        transport = this.vrrpDry;
        vlog.warn('VRRP dry run: instances run alone on a simulated link (no adverts sent, no VIPs configured); what they would do is logged');
      } else {
        this.vrrpTransport = await LinuxVrrpTransport.open({ instances: v.instances.map((i) => ({ name: i.name, interface: i.interface, family: i.family, ...(i.unicastPeers === undefined ? {} : { unicastPeers: i.unicastPeers }) })), logger: vlog });
        transport = this.vrrpTransport;
      }
      const instances: VrrpInstanceOptions[] = [];
      for (const i of v.instances) {
        let primary = i.primaryAddress;
        let mac = i.mac;
        if (this.vrrpTransport !== undefined) {
          const info = await this.vrrpTransport.interfaceInfo(i.interface);
          primary ??= i.family === 'ipv6' ? info.linkLocalIpv6 : info.primaryIpv4;
          mac ??= info.mac;
        } else {
          const f = dryInterfaceFacts(i.interface, i.family);
          if (!f.found) vlog.info({ instance: i.name, interface: i.interface }, 'dry run: no such interface here; using placeholder addresses');
          primary ??= f.primary;
          mac ??= f.mac;
        }
        const vips = this.config.services.filter((s) => s.vrrp === i.name).flatMap((s) => s.vips.filter((a) => (isIP(a) === 6) === (i.family === 'ipv6')));
        if (primary === undefined) throw new DirectorError('ERR_DIRECTOR_START', `VRRP ${i.name}: ${i.interface} has no ${i.family === 'ipv6' ? 'link-local IPv6' : 'IPv4'} address`);
        const tracks = this.config.services.filter((s) => s.vrrp === i.name).map((s) => ({ object: `pool:${s.name}`, weight: 0 }));
        instances.push({
          name: i.name,
          interface: i.interface,
          version: i.version,
          family: i.family,
          vrid: i.vrid,
          priority: i.priority,
          advertIntervalMs: i.advertIntervalMs,
          addresses: [...new Set([...i.addresses, ...vips])],
          primaryAddress: primary,
          preempt: i.preempt,
          mac,
          ...(i.unicastPeers === undefined ? {} : { unicastPeers: i.unicastPeers }),
          ...(tracks.length > 0 ? { track: tracks } : {}),
        });
      }
      // Pools known now (the first IPVS write is done): an empty one starts its instance in FAULT.
      const down = [...this.services.values()].filter((s) => s.config.vrrp !== undefined && !(s.announceWanted || s.config.announce.when === 'never')).map((s) => `pool:${s.name}`);
      this.vrrp = new VrrpRouter({ instances, transport, logger: vlog, ...(down.length > 0 ? { initiallyDown: down } : {}) });
      this.vrrp.on('transition', (e) => {
        this.log.info({ instance: e.instance, from: e.from, to: e.to, reason: e.reason, ...(dry ? { dryRun: true } : {}) }, 'VRRP transition');
        this.emit('vrrp', { instance: e.instance, from: e.from, to: e.to, reason: e.reason, dryRun: dry });
      });
      this.vrrpTransport?.attach(this.vrrp);
      this.vrrp.start();
    } catch (e) {
      this.vrrpTransport?.close();
      throw startError('VRRP', e);
    }
  }

  // ---- status ---------------------------------------------------------------------

  status(): DirectorStatus {
    return {
      name: this.config.name,
      mode: this.ipvs.mode,
      startedAt: this.startedAt,
      services: [...this.services.values()].map((s) => ({
        name: s.name,
        vips: s.config.vips,
        pooled: s.pooledCount,
        servers: s.servers().length,
        announced: s.announceWanted,
        alert: s.pool.plan.state.alert,
      })),
      bgp: this.bgp?.peers() ?? [],
      vrrp: this.vrrp?.snapshot() ?? [],
      announced: [...this.announced.keys()],
    };
  }

  ipvsTable(): Promise<TableService[]> {
    return this.ipvs.readTable();
  }

  async currentSysctls(): Promise<SysctlStatus[]> {
    if (this.ipvs.mode === 'dry-run') return this.sysctls;
    return checkSysctls(this.config.ipvs.sysctls);
  }

  // ---- reload ---------------------------------------------------------------------

  async reload(next?: DirectorConfig | string): Promise<ReloadResult> {
    const cfg = typeof next === 'object' ? next : await loadConfig(next ?? this.config.file);
    const d = diffServices(this.config, cfg);
    const needsRestart: string[] = [];
    const old = this.config;
    if (JSON.stringify(old.status) !== JSON.stringify(cfg.status)) needsRestart.push('status');
    if (JSON.stringify(old.vrrp) !== JSON.stringify(cfg.vrrp)) needsRestart.push('vrrp');
    if (old.bgp?.localAs !== cfg.bgp?.localAs || old.bgp?.routerId !== cfg.bgp?.routerId || JSON.stringify(old.bgp?.listen) !== JSON.stringify(cfg.bgp?.listen)) needsRestart.push('bgp');
    this.config = { ...cfg, status: old.status, vrrp: old.vrrp, ...(old.bgp === undefined ? {} : { bgp: needsRestart.includes('bgp') ? old.bgp : cfg.bgp }) } as DirectorConfig;
    if (old.bgp === undefined) delete this.config.bgp;

    for (const n of d.removed) {
      const s = this.services.get(n);
      this.services.delete(n);
      await s?.stop();
      this.log.info({ service: n }, 'service removed');
    }
    for (const n of d.changed) {
      const s = this.services.get(n);
      const carry = s?.upHosts();
      await s?.stop();
      const sc = cfg.services.find((x) => x.name === n) as ServiceConfig;
      const ns = this.makeService(sc, carry);
      this.services.set(n, ns);
      await ns.start(this.#opts.signal);
      this.log.info({ service: n }, 'service changed: replaced (servers up before stay up until their checks say otherwise)');
    }
    for (const n of d.added) {
      const sc = cfg.services.find((x) => x.name === n) as ServiceConfig;
      const ns = this.makeService(sc);
      this.services.set(n, ns);
      await ns.start(this.#opts.signal);
      this.log.info({ service: n }, 'service added');
    }
    // BGP peers and announcement defaults.
    if (this.bgp !== undefined && cfg.bgp !== undefined && !needsRestart.includes('bgp')) {
      const oldPeers = new Map((old.bgp?.peers ?? []).map((p) => [p.address, JSON.stringify(p)]));
      const newPeers = new Map(cfg.bgp.peers.map((p) => [p.address, p]));
      for (const [a, j] of oldPeers) if (newPeers.get(a) === undefined || JSON.stringify(newPeers.get(a)) !== j) this.bgp.removePeer(a);
      for (const [a, p] of newPeers) if (oldPeers.get(a) !== JSON.stringify(p)) this.bgp.addPeer(peerConfig(p));
    }
    if (JSON.stringify(old.ipvs.sysctls) !== JSON.stringify(cfg.ipvs.sysctls)) {
      this.sysctls = await applySysctls(cfg.ipvs.sysctls, { dryRun: this.ipvs.mode === 'dry-run', logger: this.log.child({ part: 'sysctl' }) });
    }
    this.reconcile('reload');
    this.updateAnnouncements();
    const r: ReloadResult = { ...d, needsRestart };
    this.log.info(r, 'configuration reloaded');
    if (needsRestart.length > 0) this.log.warn({ sections: needsRestart }, 'these settings changed but only take effect after a restart');
    this.emit('reload', r);
    return r;
  }

  // ---- stop -----------------------------------------------------------------------

  stop(options: { restart?: boolean } = {}): Promise<void> {
    this.#stopping ??= this.#stop(options.restart === true);
    return this.#stopping;
  }

  async #stop(restart: boolean): Promise<void> {
    this.#ready = false;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    const graceful = restart && this.config.bgp?.gracefulRestart !== undefined;
    try {
      if (this.bgp !== undefined) {
        if (graceful) {
          if (this.config.stateDir !== undefined) {
            await mkdir(this.config.stateDir, { recursive: true }).catch(() => undefined);
            await writeFile(join(this.config.stateDir, RESTART_MARKER), `${Date.now()}\n`).catch((e: unknown) => this.log.warn({ err: e }, 'cannot write the restart marker'));
          }
          this.log.info('stopping for a restart: routes stay in the routers (BGP graceful restart)');
          await this.bgp.close({ restart: true });
        } else {
          this.log.info({ prefixes: [...this.announced.keys()] }, 'withdrawing VIPs');
          await this.bgp.close({ message: `director ${this.config.name} stopping` });
        }
      }
      this.announced.clear();
      if (this.vrrp !== undefined) await this.vrrp.stop().catch((e: unknown) => this.log.warn({ err: e }, 'VRRP stop failed'));
      this.vrrpTransport?.close();
      await Promise.all([...this.services.values()].map((s) => s.stop({ forget: false })));
      await this.ipvs.close();
      await this.status_?.close();
    } finally {
      this.log.info({ restart: graceful }, `director ${this.config.name} stopped (IPVS table left as it is)`);
      this.emit('stopped');
      this.#resolveStopped();
    }
  }
}

/**
 * Start a director from a config (object or file path). Resolves once it runs
 * (first IPVS reconcile done); rejects with `ConfigError` or `DirectorError`
 * (codes say what to fix) after undoing whatever had started.
 */
export async function startDirector(config: DirectorConfig | string, options: DirectorOptions = {}): Promise<DirectorHandle> {
  const cfg = typeof config === 'string' ? await loadConfig(config) : config;
  const log: Logger = options.logger ?? createLogger({ level: cfg.log.level, format: cfg.log.format });
  const dry = options.dryRun ?? cfg.dryRun;
  let client;
  if (dry === true) client = undefined;
  else {
    client = await openIpvs();
    if (client === undefined) {
      if (dry === false) throw new DirectorError('ERR_DIRECTOR_IPVS', 'the kernel has no IPVS (modprobe ip_vs), and dryRun is false');
      log.warn('the kernel has no IPVS (ip_vs not loaded): running in dry-run mode');
    }
  }
  const d = new Director(cfg, log, new IpvsDriver(client, { logger: log }), options);
  const onAbort = (): void => void d.stop();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  void d.stopped.then(() => options.signal?.removeEventListener('abort', onAbort));
  try {
    await d.start();
  } catch (e) {
    await d.stop().catch(() => undefined);
    if (e instanceof ConfigError || e instanceof DirectorError) throw e;
    throw startError('start', e);
  }
  return d;
}
