/**
 * `BgpSpeaker`: announce and withdraw service IPs to several peers.
 *
 * Composes the pieces: one `BgpSession` per peer, one TCP listener for all
 * (inbound connections are matched to peers by address), an Adj-RIB-Out per
 * peer (so routes are re-sent after a reconnect or a route refresh, RFC 2918
 * §4) and an Adj-RIB-In per peer (what the peer sends, with a prefix limit,
 * RFC 4486, and stale routes kept over the peer's graceful restart, RFC 4724
 * §4.2).
 *
 * `announce()` / `withdraw()` calls made in the same tick are batched: the
 * flush runs in a microtask and groups routes by attribute set into few
 * UPDATEs (plan-updates.ts).
 *
 * Session security (needs lvskit's native addon, src/util/native.ts): a
 * per-peer TCP MD5 password (RFC 2385) is set on each outbound socket before
 * its SYN and on the listening socket for the peer's address (so accepted
 * connections inherit it); GTSM (RFC 5082) sends with TTL 255 and sets the
 * minimum TTL on the outbound socket before its SYN and on the accepted socket
 * as soon as it is matched to the peer; `multihop` sets the TTL we send with.
 */
import { createServer, isIPv4 } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { EventEmitter } from 'eventemitter3';
import type { Clock, TimerHandle } from '../util/clock.js';
import { realClock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { noopLogger } from '../util/logger.js';
import { LvskitError } from '../util/errors.js';
import { createTcpConnection, listenTcp, native, setMinTtl, setTcpMd5Sig, setTtl, socketFd } from '../util/native.js';
import { Afi, CeaseSubcode, ErrorCode, Safi } from './constants.js';
import type { AddressFamily } from './codec-address.js';
import { canonicalAddress, canonicalPrefix, familyOf } from './codec-address.js';
import type { AsPathSegment, Origin, PathAttributes } from './codec-attributes.js';
import type { LargeCommunity } from './communities.js';
import { parseCommunity, parseLargeCommunity } from './communities.js';
import type { NotificationMessage } from './codec-messages.js';
import { RouteRefreshSubtype, shutdownNotification } from './codec-messages.js';
import { endOfRib } from './codec-update.js';
import { defaultCapabilities } from './fsm.js';
import type { DownReason, FsmStateName, NegotiatedSession } from './fsm.js';
import type { OutRoute } from './plan-updates.js';
import { planUpdates } from './plan-updates.js';
import type { InRoute } from './rib.js';
import { AdjRibIn, AdjRibOut, maxPrefixesNotification } from './rib.js';
import { BgpSession } from './session.js';

/** What the application says about a route; the speaker builds the path attributes per peer. */
export interface RouteAttributes {
  origin?: Origin;
  /** ASes to put after our own (e.g. to originate on behalf of another AS). */
  asPath?: number[];
  /** Extra copies of our AS in front (a backup director announcing a longer path). */
  prepend?: number;
  med?: number;
  /** iBGP only (RFC 4271 §5.1.5); default 100 there. */
  localPref?: number;
  communities?: (string | number)[];
  largeCommunities?: (string | LargeCommunity)[];
  extendedCommunities?: bigint[];
  /** Next hop; default: the peer's configured next hop, else our address on the session. */
  nextHop?: string;
}

export interface PeerConfig {
  /** The peer's address; also how inbound connections are matched to it. */
  address: string;
  remoteAs: number;
  port?: number;
  localAddress?: string;
  passive?: boolean;
  holdTime?: number;
  /** Families to negotiate. Default both IPv4 and IPv6 unicast. */
  families?: ('ipv4' | 'ipv6')[];
  /** Next hops to announce with, per family. */
  nextHop?: { ipv4?: string; ipv6?: string; ipv6LinkLocal?: string };
  /** Per-peer changes to every announcement (e.g. `{ med: 200, prepend: 2 }` on a backup). */
  exportOverrides?: RouteAttributes;
  /** Drop the session (Cease / Maximum Number of Prefixes Reached) past this many routes received. */
  maxPrefixes?: number;
  /**
   * TCP MD5 signature password (RFC 2385), 1-80 bytes; the router must use the same. A connection
   * with a wrong or missing signature never gets past the SYN. Needs the native addon.
   */
  password?: string;
  /**
   * GTSM (RFC 5082): send with TTL 255 and drop segments that arrive with a TTL below 256 - hops.
   * `true` is 1 hop (a directly connected router). Needs the native addon. Not with `multihop`.
   */
  ttlSecurity?: boolean | number;
  /** TTL of what we send (eBGP multihop, 1-255); default the system's (usually 64). Needs the native addon. */
  multihop?: number;
  /** Per-peer FSM timing (tests, tuning). */
  connectRetry?: { initialMs?: number; maxMs?: number };
  idleHold?: { initialMs?: number; maxMs?: number; stableMs?: number };
}

export interface BgpSpeakerOptions {
  localAs: number;
  routerId: string;
  peers?: PeerConfig[];
  /** Where to accept connections; `false` for none (active peers only). Default port 179 on all addresses. */
  listen?: { address?: string; port?: number } | false;
  holdTime?: number;
  /**
   * Announce graceful restart (RFC 4724) with this restart time, and act as helper for peers that do.
   * `forwardingPreserved` sets the F bit for every family: say so when the forwarding state the
   * routes lead to outlives this process (a director's IPVS table in the kernel). Without it a
   * router that kept our routes over a restart drops them the moment the new session is up
   * (RFC 4724 §4.2), before our first UPDATE re-announces them: a short black hole.
   */
  gracefulRestart?: { restartTime: number; restarting?: boolean; forwardingPreserved?: boolean };
  clock?: Clock;
  logger?: Logger;
}

export interface PeerStatus {
  address: string;
  remoteAs: number;
  state: FsmStateName;
  routesReceived: number;
  routesAdvertised: number;
}

export interface BgpSpeakerEvents {
  'peer-state': [peer: string, state: FsmStateName, from: FsmStateName];
  'peer-up': [peer: string, session: NegotiatedSession];
  'peer-down': [peer: string, reason: DownReason, graceful: boolean];
  /** Routes a peer announced or withdrew (including those swept after a graceful restart). */
  routes: [peer: string, change: { announced: InRoute[]; withdrawn: InRoute[] }];
  /** A peer sent something RFC 7606 made us withdraw or discard; the session stayed up. */
  'update-error': [peer: string, error: Error];
}

interface Peer {
  config: PeerConfig;
  address: string;
  ttls: { ttl?: number; minTtl?: number };
  session: BgpSession;
  out: AdjRibOut;
  in: AdjRibIn;
  staleTimer?: TimerHandle;
}

/** TTLs a peer's sockets get: from `ttlSecurity` / `multihop`, checked. */
function socketTtls(config: PeerConfig): { ttl?: number; minTtl?: number } {
  const { ttlSecurity, multihop } = config;
  if (ttlSecurity !== undefined && ttlSecurity !== false) {
    if (multihop !== undefined) throw new LvskitError('ERR_BGP_PEER_CONFIG', `peer ${config.address}: ttlSecurity and multihop exclude each other (GTSM always sends TTL 255)`);
    const hops = ttlSecurity === true ? 1 : ttlSecurity;
    if (!Number.isInteger(hops) || hops < 1 || hops > 254) throw new LvskitError('ERR_BGP_PEER_CONFIG', `peer ${config.address}: ttlSecurity hops must be an integer from 1 to 254, got ${String(hops)}`);
    return { ttl: 255, minTtl: 256 - hops }; // RFC 5082 §3: TTL 255 out, at least 255 - (hops - 1) in
  }
  if (multihop !== undefined) {
    if (!Number.isInteger(multihop) || multihop < 1 || multihop > 255) throw new LvskitError('ERR_BGP_PEER_CONFIG', `peer ${config.address}: multihop must be an integer from 1 to 255, got ${String(multihop)}`);
    return { ttl: multihop };
  }
  return {};
}

function checkPassword(config: PeerConfig): void {
  const p = config.password;
  if (p === undefined) return;
  const n = typeof p === 'string' ? Buffer.byteLength(p) : -1;
  if (n < 1 || n > 80) throw new LvskitError('ERR_BGP_PEER_CONFIG', `peer ${config.address}: password must be a string of 1 to 80 bytes (RFC 2385, TCP_MD5SIG_MAXKEYLEN)`);
}

/** The addon, or a typed error that says which peer option needs it. */
function requireNative(config: PeerConfig, what: string): void {
  try {
    native();
  } catch (e) {
    throw new LvskitError('ERR_BGP_NATIVE_UNAVAILABLE', `peer ${config.address}: ${what} needs lvskit's native addon, which is not available: ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
    });
  }
}

function normalizeRemote(a: string | undefined): string {
  if (a === undefined) return '';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

export class BgpSpeaker extends EventEmitter<BgpSpeakerEvents> {
  readonly #opts: BgpSpeakerOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #peers = new Map<string, Peer>();
  /** Routes announced by the application: prefix -> attributes as given. */
  readonly #local = new Map<string, RouteAttributes>();
  #server: Server | undefined;
  #flushQueued = false;
  #started = false;
  #closed = false;

  constructor(options: BgpSpeakerOptions) {
    super();
    this.#opts = options;
    this.#clock = options.clock ?? realClock;
    this.#log = (options.logger ?? noopLogger).child({ bgp: options.routerId });
    for (const p of options.peers ?? []) this.addPeer(p);
  }

  /** The port the listener is bound to (after `start()`). */
  get port(): number | undefined {
    const a = this.#server?.address();
    return a !== null && typeof a === 'object' ? (a as AddressInfo).port : undefined;
  }

  /** Start listening and bring every peer up. */
  async start(): Promise<void> {
    const l = this.#opts.listen;
    if (l !== false && this.#server === undefined) {
      const server = createServer((sock) => this.#onInbound(sock));
      const keyed = [...this.#peers.values()].filter((p) => p.config.password !== undefined);
      if (keyed.length > 0) {
        // RFC 2385: the keys are on the socket before it listens; accepted connections inherit them.
        const host = l?.address ?? '::';
        const md5 = keyed.filter((p) => this.#keyFits(host, p.address)).map((p) => ({ address: p.address, key: p.config.password as string }));
        await listenTcp({ host, port: l?.port ?? 179, md5, server, ...(host === '::' ? { ipv6Only: false } : {}) });
      } else {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(l?.port ?? 179, l?.address, () => {
            server.off('error', reject);
            resolve();
          });
        });
      }
      this.#server = server;
    }
    this.#started = true;
    for (const p of this.#peers.values()) p.session.start();
  }

  addPeer(config: PeerConfig): void {
    const address = canonicalAddress(config.address);
    if (this.#peers.has(address)) throw new RangeError(`peer ${address} is already configured`);
    checkPassword(config);
    const ttls = socketTtls(config);
    if (config.password !== undefined) requireNative(config, 'a TCP MD5 password');
    else if (ttls.ttl !== undefined) requireNative(config, config.multihop === undefined ? 'ttlSecurity (GTSM)' : 'multihop');
    const secure = config.password !== undefined || ttls.ttl !== undefined;
    const families = (config.families ?? ['ipv4', 'ipv6']).map((f) => ({ afi: f === 'ipv4' ? Afi.IPV4 : Afi.IPV6, safi: Safi.UNICAST }));
    const gr = this.#opts.gracefulRestart;
    const session = new BgpSession({
      fsm: {
        localAs: this.#opts.localAs,
        routerId: this.#opts.routerId,
        peerAs: config.remoteAs,
        holdTime: config.holdTime ?? this.#opts.holdTime ?? 90,
        passive: config.passive ?? false,
        capabilities: defaultCapabilities({
          localAs: this.#opts.localAs,
          families,
          ...(gr === undefined ? {} : { gracefulRestart: { restartTime: gr.restartTime, restarting: gr.restarting ?? false, forwardingPreserved: gr.forwardingPreserved ?? false } }),
        }),
        ...(config.connectRetry === undefined ? {} : { connectRetry: config.connectRetry }),
        ...(config.idleHold === undefined ? {} : { idleHold: config.idleHold }),
      },
      remoteAddress: address,
      ...(config.port === undefined ? {} : { remotePort: config.port }),
      ...(config.localAddress === undefined ? {} : { localAddress: config.localAddress }),
      ...(secure
        ? {
            // Options on the descriptor before the SYN (the key must sign it); failures reach the
            // session as a failed connection attempt.
            connect: (o: { host: string; port: number; localAddress?: string }) =>
              createTcpConnection({ ...o, ...ttls, ...(config.password === undefined ? {} : { md5Key: config.password }) }),
          }
        : {}),
      clock: this.#clock,
      logger: this.#log,
    });
    if (config.password !== undefined && this.#server !== undefined) this.#setListenerKey(address, config.password);
    const peer: Peer = { config, address, ttls, session, out: new AdjRibOut(), in: new AdjRibIn({ maxPrefixes: config.maxPrefixes ?? Infinity, localAs: this.#opts.localAs }) };
    this.#peers.set(address, peer);
    for (const [prefix, attrs] of this.#local) this.#export(peer, prefix, attrs);
    session.on('state', (to, from) => this.emit('peer-state', address, to, from));
    session.on('established', (n) => this.#onEstablished(peer, n));
    session.on('down', (reason, graceful) => this.#onDown(peer, reason, graceful));
    session.on('update', (v) => {
      if (v.kind === 'treat-as-withdraw') for (const e of v.errors) this.emit('update-error', address, e);
      else for (const e of v.discarded) this.emit('update-error', address, e);
      const ch = peer.in.apply(v);
      if (ch.ignored > 0) this.emit('update-error', address, new LvskitError('ERR_BGP_FAMILY_NOT_NEGOTIATED', `${ch.ignored} route(s) of a family not negotiated ignored (RFC 4760 §7)`));
      if (ch.endOfRib !== undefined) {
        // RFC 4724 §4.2: End-of-RIB ends the wait for that family's refreshed routes.
        const gone = peer.in.sweepStale(ch.endOfRib.afi as AddressFamily);
        if (gone.length > 0) this.emit('routes', address, { announced: [], withdrawn: gone });
      }
      if (ch.announced.length > 0 || ch.withdrawn.length > 0) this.emit('routes', address, { announced: ch.announced, withdrawn: ch.withdrawn });
      if (ch.maxPrefixesExceeded) {
        this.#log.warn({ peer: address, limit: config.maxPrefixes }, 'maximum prefixes exceeded');
        // RFC 4486 §4: the data names the family whose limit was passed.
        const afi = ch.announced[ch.announced.length - 1]?.afi ?? Afi.IPV4;
        session.automaticStop(maxPrefixesNotification(afi, Safi.UNICAST, config.maxPrefixes ?? 0));
      }
    });
    session.on('route-refresh', (m) => {
      const afi = m.afi as AddressFamily;
      if (m.subtype === RouteRefreshSubtype.BORR) {
        // RFC 7313 §4.2: the peer re-sends the family; what it does not re-send is gone at EoRR.
        peer.in.markStale(afi);
        return;
      }
      if (m.subtype === RouteRefreshSubtype.EORR) {
        const gone = peer.in.sweepStale(afi);
        if (gone.length > 0) this.emit('routes', address, { announced: [], withdrawn: gone });
        return;
      }
      if (m.subtype !== RouteRefreshSubtype.REQUEST) return; // RFC 7313 §5: ignore unknown subtypes
      this.#refreshOut(peer, afi);
    });
    if (this.#started && !this.#closed) session.start();
  }

  /**
   * Remove a peer: its session ends with Cease / Peer De-configured (RFC 4486
   * §4) and its routes are withdrawn from `routesReceived()`. False when unknown.
   */
  removePeer(address: string): boolean {
    const a = canonicalAddress(address);
    const peer = this.#peers.get(a);
    if (peer === undefined) return false;
    this.#peers.delete(a);
    if (peer.config.password !== undefined && this.#server !== undefined) this.#setListenerKey(a, '');
    peer.staleTimer?.cancel();
    peer.session.stop({ code: ErrorCode.CEASE, subcode: CeaseSubcode.PEER_DECONFIGURED, data: new Uint8Array(0) });
    peer.session.removeAllListeners();
    const gone = peer.in.clear();
    if (gone.length > 0) this.emit('routes', a, { announced: [], withdrawn: gone });
    return true;
  }

  /** Announce `prefix` (IPv4 or IPv6, any length) to every peer, or change its attributes. */
  announce(prefix: string, attributes: RouteAttributes = {}): void {
    const p = canonicalPrefix(prefix);
    this.#local.set(p, attributes);
    for (const peer of this.#peers.values()) this.#export(peer, p, attributes);
    this.#queueFlush();
  }

  /** Withdraw `prefix` from every peer; false when it was not announced. */
  withdraw(prefix: string): boolean {
    const p = canonicalPrefix(prefix);
    if (!this.#local.delete(p)) return false;
    for (const peer of this.#peers.values()) peer.out.withdraw(p);
    this.#queueFlush();
    return true;
  }

  /** Ask peers (or one) to send their routes again (RFC 2918 ROUTE-REFRESH), for each negotiated family. */
  refresh(peer?: string): void {
    const list = peer === undefined ? [...this.#peers.values()] : [this.#peers.get(canonicalAddress(peer))].filter((p): p is Peer => p !== undefined);
    for (const p of list) {
      const n = p.session.negotiated;
      if (n === undefined || !n.routeRefresh) continue;
      for (const f of n.families) p.session.sendRouteRefresh({ afi: f.afi, safi: f.safi, subtype: RouteRefreshSubtype.REQUEST });
    }
  }

  /** Routes received from a peer (or from all). */
  routesReceived(peer?: string): InRoute[] {
    const list = peer === undefined ? [...this.#peers.values()] : [this.#peers.get(canonicalAddress(peer))].filter((p): p is Peer => p !== undefined);
    return list.flatMap((p) => [...p.in.routes()]);
  }

  peers(): PeerStatus[] {
    return [...this.#peers.values()].map((p) => ({
      address: p.address,
      remoteAs: p.config.remoteAs,
      state: p.session.state,
      routesReceived: p.in.size,
      routesAdvertised: p.out.size,
    }));
  }

  /**
   * Withdraw every route, then end every session with Cease / Administrative
   * Shutdown carrying `message` (RFC 9003), and stop listening.
   *
   * `{ restart: true }` is for a planned restart with graceful restart
   * negotiated: routes are not withdrawn and the connections close without a
   * NOTIFICATION, so the peers keep forwarding to us for the restart time
   * (RFC 4724 §4.2). Start the new process with `gracefulRestart.restarting`.
   */
  async close(options: { message?: string; restart?: boolean } = {}): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const restart = options.restart === true;
    if (!restart) {
      for (const p of this.#local.keys()) for (const peer of this.#peers.values()) peer.out.withdraw(p);
      this.#flushAll();
    }
    this.#local.clear();
    const n: NotificationMessage = shutdownNotification(options.message ?? '');
    for (const peer of this.#peers.values()) {
      peer.staleTimer?.cancel();
      if (restart) peer.session.stop(undefined, { silent: true });
      else peer.session.stop(n);
    }
    const server = this.#server;
    this.#server = undefined;
    if (server !== undefined) await new Promise<void>((r) => server.close(() => r()));
  }

  #export(peer: Peer, prefix: string, attrs: RouteAttributes): void {
    const route = this.#outRoute(peer, prefix, attrs);
    if (route === undefined) peer.out.withdraw(prefix);
    else peer.out.set(route);
  }

  /** Build what this peer gets for a route: our AS in front on eBGP (RFC 4271 §5.1.2), LOCAL_PREF on iBGP. */
  #outRoute(peer: Peer, prefix: string, given: RouteAttributes): OutRoute | undefined {
    const a: RouteAttributes = { ...given, ...peer.config.exportOverrides };
    const afi = familyOf(prefix);
    const families = peer.config.families ?? ['ipv4', 'ipv6'];
    if (!families.includes(afi === Afi.IPV4 ? 'ipv4' : 'ipv6')) return undefined;
    // RFC 4760 §7: never send a family the session did not negotiate (a router without an IPv6
    // channel would reset the session). Re-exported when the next session comes up.
    const n = peer.session.negotiated;
    if (n !== undefined && !n.families.some((f) => f.afi === afi && f.safi === Safi.UNICAST)) return undefined;
    const ebgp = peer.config.remoteAs !== this.#opts.localAs;
    const asns = [...new Array<number>(ebgp ? 1 + (a.prepend ?? 0) : (a.prepend ?? 0)).fill(this.#opts.localAs), ...(a.asPath ?? [])];
    const asPath: AsPathSegment[] = asns.length === 0 ? [] : [{ type: 'sequence', asns }];
    const attributes: PathAttributes = { origin: a.origin ?? 'igp', asPath };
    if (a.med !== undefined) attributes.med = a.med;
    if (!ebgp) attributes.localPref = a.localPref ?? 100;
    if (a.communities !== undefined && a.communities.length > 0) attributes.communities = a.communities.map(parseCommunity);
    if (a.largeCommunities !== undefined && a.largeCommunities.length > 0) {
      attributes.largeCommunities = a.largeCommunities.map((c) => (typeof c === 'string' ? parseLargeCommunity(c) : c));
    }
    if (a.extendedCommunities !== undefined && a.extendedCommunities.length > 0) attributes.extendedCommunities = a.extendedCommunities;
    const nh = this.#nextHop(peer, afi, a.nextHop);
    if (nh === undefined) return undefined;
    return { prefix, attributes, nextHop: nh };
  }

  #nextHop(peer: Peer, afi: AddressFamily, given: string | undefined): string[] | undefined {
    const cfg = peer.config.nextHop;
    const local = peer.session.localAddress ?? peer.config.localAddress;
    if (afi === Afi.IPV4) {
      const nh = given ?? cfg?.ipv4 ?? (local !== undefined && familyOf(local) === Afi.IPV4 ? local : undefined);
      return nh === undefined ? undefined : [canonicalAddress(nh, Afi.IPV4)];
    }
    const nh = given ?? cfg?.ipv6 ?? (local !== undefined && familyOf(local) === Afi.IPV6 ? local : undefined);
    if (nh === undefined) return undefined;
    return cfg?.ipv6LinkLocal === undefined ? [canonicalAddress(nh, Afi.IPV6)] : [canonicalAddress(nh, Afi.IPV6), canonicalAddress(cfg.ipv6LinkLocal, Afi.IPV6)];
  }

  #queueFlush(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(() => {
      this.#flushQueued = false;
      this.#flushAll();
    });
  }

  #flushAll(): void {
    for (const peer of this.#peers.values()) this.#flushPeer(peer);
  }

  #flushPeer(peer: Peer): void {
    const n = peer.session.negotiated;
    if (peer.session.state !== 'Established' || n === undefined) return;
    peer.session.sendUpdates(peer.out.flush(n.encodeOptions));
  }

  /** Answer a route refresh request: the family's routes again, between BoRR and EoRR when enhanced (RFC 7313 §4). */
  #refreshOut(peer: Peer, afi: AddressFamily): void {
    const n = peer.session.negotiated;
    if (n === undefined) return;
    this.#flushPeer(peer); // pending changes first, so the re-send below is the whole table
    const routes = [...peer.out.routes()].filter((r) => familyOf(r.prefix) === afi);
    const enhanced = n.enhancedRouteRefresh;
    if (enhanced) peer.session.sendRouteRefresh({ afi, safi: Safi.UNICAST, subtype: RouteRefreshSubtype.BORR });
    peer.session.sendUpdates(planUpdates(routes, [], n.encodeOptions));
    if (enhanced) peer.session.sendRouteRefresh({ afi, safi: Safi.UNICAST, subtype: RouteRefreshSubtype.EORR });
  }

  #onEstablished(peer: Peer, n: NegotiatedSession): void {
    peer.in.acceptFamilies(n.families.filter((f) => f.safi === Safi.UNICAST).map((f) => f.afi as AddressFamily));
    // RFC 4724 §4.2: routes kept stale over the peer's restart stay only for the families whose
    // forwarding state it says it preserved (F bit); the others go now, before its first UPDATE.
    // (Stale routes at session up can only be left from a graceful down: a plain one clears them.)
    const preserved = new Set(n.peerGracefulRestart?.families.filter((f) => f.forwardingPreserved && f.safi === Safi.UNICAST).map((f) => f.afi));
    for (const afi of [Afi.IPV4, Afi.IPV6] as const) {
      if (preserved.has(afi)) continue;
      const gone = peer.in.sweepStale(afi);
      if (gone.length > 0) this.emit('routes', peer.address, { announced: [], withdrawn: gone });
    }
    this.emit('peer-up', peer.address, n);
    // Next hops may depend on the session's local address: rebuild, then send everything and End-of-RIB.
    for (const [prefix, attrs] of this.#local) this.#export(peer, prefix, attrs);
    peer.out.resend();
    this.#flushPeer(peer);
    // RFC 4724 §2: End-of-RIB for each negotiated family after the initial update.
    peer.session.sendUpdates(n.families.filter((f) => f.safi === Safi.UNICAST).map((f) => endOfRib(f.afi as AddressFamily)));
  }

  #onDown(peer: Peer, reason: DownReason, graceful: boolean): void {
    this.emit('peer-down', peer.address, reason, graceful);
    const restartTime = peer.session.negotiated?.peerGracefulRestart?.restartTime;
    if (graceful && this.#opts.gracefulRestart !== undefined) {
      // Helper (RFC 4724 §4.2): keep the peer's routes, stale, for its restart time.
      peer.in.markStale();
      peer.staleTimer?.cancel();
      peer.staleTimer = this.#clock.setTimer((restartTime ?? 120) * 1000, () => {
        const gone = peer.in.sweepStale();
        if (gone.length > 0) this.emit('routes', peer.address, { announced: [], withdrawn: gone });
      });
      return;
    }
    const gone = peer.in.clear();
    if (gone.length > 0) this.emit('routes', peer.address, { announced: [], withdrawn: gone });
  }

  /** Can a key for `peer` go on a socket listening on `host`? (An IPv4 peer fits a dual-stack '::' socket.) */
  #keyFits(host: string, peer: string): boolean {
    return isIPv4(host) === isIPv4(peer) || host === '::';
  }

  /** Add (or with '' remove) a peer's MD5 key on the listening socket, for a peer added or removed after start(). */
  #setListenerKey(address: string, key: string): void {
    const server = this.#server;
    const a = server?.address();
    if (server === undefined || a === null || typeof a !== 'object' || !this.#keyFits(a.address, address)) return;
    // The addon maps an IPv4 peer onto an IPv6 socket (::ffff:a.b.c.d) itself.
    setTcpMd5Sig(socketFd(server), { address, key });
  }

  #onInbound(sock: Socket): void {
    const peer = this.#peers.get(normalizeRemote(sock.remoteAddress));
    if (peer === undefined || this.#closed) {
      this.#log.info({ remote: sock.remoteAddress }, 'connection from an unknown address refused');
      sock.destroy();
      return;
    }
    const { ttl, minTtl } = peer.ttls;
    if (ttl !== undefined) {
      try {
        // RFC 5082 §3: from the first segment we send; the minimum TTL drops anything later from too far.
        // On an IPv6 socket an IPv4 peer is mapped: its packets follow the IPv4 options.
        const fd = socketFd(sock);
        const family = isIPv4(peer.address) ? 4 : 6;
        setTtl(fd, family, ttl);
        if (minTtl !== undefined) setMinTtl(fd, family, minTtl);
      } catch (e) {
        this.#log.warn({ peer: peer.address, err: e }, 'cannot set the TTL options on an inbound connection; closed');
        sock.destroy();
        return;
      }
    }
    peer.session.acceptConnection(sock);
  }
}
