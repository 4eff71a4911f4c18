/**
 * The VRRP driver: runs a router's instances (fsm-group.ts) on the injected
 * clock and carries out their actions through a `VrrpTransport`, the only part
 * that touches sockets and netlink (a raw-socket / rtnetlink implementation
 * lives apart; tests use an in-memory one).
 *
 * What it adds to the pure core:
 * - timers: one clock timer per instance and timer name, replaced on re-arm; on
 *   real time, the one that decides a takeover (master-down) is a `PreciseClock`
 *   timer (precise-timer.ts), within a fraction of a millisecond of its deadline;
 * - receiving: demultiplexing by family and VRID, `validateAdvert` with the
 *   instance's settings, counters per instance, rate-limited logs for the
 *   "SHOULD log" cases of RFC 9568 §7.1, optional following of the peers'
 *   v3 IPv4 checksum form;
 * - sending: adverts encoded per destination (the group, or each unicast peer),
 *   GARP / NA frames built from the instance's MAC;
 * - ordering: an instance's address changes and announcements run one after
 *   another (the first at once when none is in flight), so GARP/NA never leave
 *   before the addresses are configured (RFC 9568 §8.1.2, §8.2.2); adverts go
 *   out at once. A new master sends its first advert, then configures its
 *   addresses and sends GARP/NA, in the order of RFC 9568 §6.4.1-2 and in the
 *   same tick when the transport can (`claim`): see #step for why;
 * - typed events (eventemitter3): `transition` with its reason (for notify
 *   hooks), `notice`, `invalid` (a discarded packet), `transport-error`.
 *   Transport failures and throwing listeners never stop the state machine;
 *   they are events and logs.
 */
import { EventEmitter } from 'eventemitter3';
import { abortReason, throwIfAborted } from '../util/abort.js';
import { type Clock, type TimerHandle, realClock } from '../util/clock.js';
import { type Logger, noopLogger } from '../util/logger.js';
import { type AddressFamily, macBytes, parseIp } from './address.js';
import { type ChecksumForm, encodeAdvert, peekVrid } from './codec.js';
import { buildGratuitousArp, buildUnsolicitedNa } from './codec-link.js';
import {
  type ReceiveConfig,
  type ReceiveCounters,
  type ReceivedPacket,
  type ReceiveVerdict,
  countVerdict,
  emptyReceiveCounters,
  followChecksumForm,
  validateAdvert,
} from './codec-receive.js';
import { VRRP_GROUP_V4, VRRP_GROUP_V6 } from './constants.js';
import { VrrpError } from './errors.js';
import { PreciseClock } from './precise-timer.js';
import { type NoticeCode, type StateName, type TransitionReason, type VrrpAction, receiveConfigFor } from './fsm.js';
import {
  type RouterConfig,
  type RouterEvent,
  type RouterInstanceConfig,
  type RouterState,
  type SyncGroupConfig,
  initialRouterState,
  routerStep,
} from './fsm-group.js';

/**
 * What the driver needs from the network. Every method may throw or reject; the
 * driver reports and carries on. `RawSocket` and `PacketSocket` of
 * src/util/native.ts (lvskit's addon) cover the sockets: a `RawMessage`
 * `{ data, src, dst, ttl }` is a `ReceivedPacket` with `family`, `protocol: 112`
 * and `payload: data` (its IPv4 header already stripped; addresses without a
 * `%zone`). What a Linux implementation has to do (as keepalived does):
 * - IPv4 adverts: a raw socket for protocol 112 bound to the interface
 *   (SO_BINDTODEVICE), IP_MULTICAST_IF the primary address, IP_MULTICAST_TTL 255
 *   (IP_TTL 255 for unicast peers), IP_MULTICAST_LOOP 0, IP_ADD_MEMBERSHIP
 *   224.0.0.18 on the interface (a bare raw socket hands over the IP header too:
 *   `decodeIpv4Packet` reads it). The payload handed to `sendAdvert` already
 *   has its checksum.
 * - IPv6 adverts: a raw socket for protocol 112, IPV6_MULTICAST_IF,
 *   IPV6_MULTICAST_HOPS 255 (IPV6_UNICAST_HOPS for peers), IPV6_MULTICAST_LOOP 0,
 *   IPV6_JOIN_GROUP ff02::12, source the link-local address; leave IPV6_CHECKSUM
 *   off (the payload is summed already); IPV6_RECVHOPLIMIT and IPV6_RECVPKTINFO
 *   give the hop limit and destination of what arrives.
 * - Frames: an AF_PACKET raw socket on the interface (for a virtual MAC, the
 *   macvlan), sent as they are.
 * - Addresses: RTM_NEWADDR / RTM_DELADDR over rtnetlink (IPv6 with nodad, so a
 *   new master can answer at once).
 */
export interface VrrpTransport {
  /** Send a VRRP packet (the IP payload) with TTL / hop limit 255 and IP protocol 112. */
  sendAdvert(instance: string, packet: { family: AddressFamily; src: string; dst: string; payload: Uint8Array }): void | Promise<void>;
  /** Send a whole Ethernet frame (GARP / NA) on the instance's interface. */
  sendFrame(instance: string, frame: Uint8Array): void | Promise<void>;
  /** Configure the virtual addresses on the instance's interface (rtnetlink). */
  addAddresses(instance: string, addresses: readonly string[]): void | Promise<void>;
  /** Remove them; removing an address that is not there is not an error. */
  removeAddresses(instance: string, addresses: readonly string[]): void | Promise<void>;
  /**
   * Optional, a new master's hot path: configure the addresses, then send the frames (GARP / NA)
   * as soon as the addresses are in place, without waiting for more than that (LinuxVrrpTransport:
   * in the same tick when no other rtnetlink request is in flight). Without it the driver runs
   * `addAddresses`, waits for it, then sends the frames.
   */
  claim?(instance: string, addresses: readonly string[], frames: readonly Uint8Array[]): void | Promise<void>;
}

export interface VrrpInstanceOptions extends RouterInstanceConfig {
  /** Source MAC of GARP / NA frames: the interface's, or `virtualMac(vrid, family)` with a macvlan. */
  mac: string;
  /** Send adverts to these peers instead of the multicast group. */
  unicastPeers?: readonly string[];
  /**
   * v3 IPv4 checksum form to send (codec.ts): `pseudo-header` (default, keepalived),
   * `plain` (RFC 9568), `pseudo-header-group`, or `follow` to start with
   * `pseudo-header` and answer in the form peers use.
   */
  ipv4Checksum?: ChecksumForm | 'follow';
  /** Receive-only settings (TTL check, accepted checksum forms, v2 address mismatch). */
  receive?: Pick<ReceiveConfig, 'checkTtl' | 'acceptChecksum' | 'v2AddressMismatch'>;
  /** Set the Router flag in unsolicited NAs (RFC 9568 §6.4.2 asks for it; keepalived sets it when forwarding). Default false. */
  naRouterFlag?: boolean;
  /**
   * Virtual MAC (RFC 9568 §7.3; keepalived `use_vmac`), carried out by the transport: `true` for a
   * macvlan `vrrp.<VRID>` / `vrrp6.<VRID>`, or its name. `mac` must then be `virtualMac(vrid, family)`
   * (`LinuxVrrpTransport.macOf(name)` gives it). Default: none, the interface's MAC.
   */
  vmac?: boolean | string;
  /**
   * RFC 9568 §6.1 Accept_Mode, carried out by the transport: `false` keeps a master that is not the
   * address owner from accepting packets to the virtual addresses (keepalived `no_accept`). Default
   * true (keepalived's default without `vrrp_strict`).
   */
  accept?: boolean;
  /** Gap between two GARP / NA frames (keepalived `garp_interval` / `gna_interval`), for switches that drop bursts. Default 0. */
  frameIntervalMs?: number;
  /**
   * A new master's order (see VrrpRouter #step): `advert-first` (RFC 9568 §6.4.1-2: the advert,
   * then the addresses and GARP/NA) or `addresses-first` (addresses and GARP/NA, then the advert, in
   * the same tick when the transport has `claim` and nothing else is queued).
   */
  takeoverOrder?: 'advert-first' | 'addresses-first';
}

export interface VrrpRouterOptions {
  instances: readonly VrrpInstanceOptions[];
  syncGroups?: readonly SyncGroupConfig[];
  /** Tracked objects down before the first `track()` call. */
  initiallyDown?: readonly string[];
  transport: VrrpTransport;
  clock?: Clock;
  logger?: Logger;
  /** Least time between two logs of the same misconfiguration or discard reason, per instance (default 60 s). */
  logIntervalMs?: number;
}

export interface VrrpRouterEvents {
  transition: (e: { instance: string; from: StateName; to: StateName; reason: TransitionReason; at: number }) => void;
  notice: (e: { instance: string; code: NoticeCode; detail: string }) => void;
  invalid: (e: { instance: string; verdict: Extract<ReceiveVerdict, { kind: 'invalid' }> }) => void;
  'transport-error': (e: { instance: string; op: 'sendAdvert' | 'sendFrame' | 'addAddresses' | 'removeAddresses'; error: unknown }) => void;
}

interface InstanceRuntime {
  opts: VrrpInstanceOptions;
  log: Logger;
  counters: ReceiveCounters;
  timers: Map<string, TimerHandle>;
  /** Address changes and announcements, in order. */
  chain: Promise<void>;
  /** Operations on `chain` not finished yet (0: the next one starts at once). */
  queued: number;
  checksumForm: ChecksumForm;
  lastLogged: Map<string, number>;
  lastTransition: { from: StateName; to: StateName; reason: TransitionReason; at: number } | undefined;
  transitions: number;
}

/** One instance as a status API or metrics exporter shows it. */
export interface VrrpInstanceSnapshot {
  name: string;
  vrid: number;
  family: AddressFamily;
  version: 2 | 3;
  state: StateName;
  /** Priority in use (after tracking) and as configured. */
  priority: number;
  basePriority: number;
  /** The master last heard while backup. */
  master: { address: string; priority: number } | undefined;
  masterAdverIntervalMs: number;
  lastTransition: { from: StateName; to: StateName; reason: TransitionReason; at: number } | undefined;
  transitions: number;
  counters: ReceiveCounters;
  /** v3 IPv4: the checksum form sent now. */
  checksumForm: ChecksumForm;
}

export class VrrpRouter extends EventEmitter<VrrpRouterEvents> {
  readonly #transport: VrrpTransport;
  readonly #clock: Clock;
  /** For the master-down timer: the injected clock, or a PreciseClock on real time. */
  readonly #takeoverClock: Clock;
  readonly #log: Logger;
  readonly #logIntervalMs: number;
  readonly #rt = new Map<string, InstanceRuntime>();
  #state: RouterState;
  /** Packets for no instance of this router. */
  #unclaimed = 0;
  #stepping = false;
  readonly #pending: RouterEvent[] = [];

  constructor(opts: VrrpRouterOptions) {
    super();
    this.#transport = opts.transport;
    this.#clock = opts.clock ?? realClock;
    this.#takeoverClock = opts.clock ?? new PreciseClock();
    this.#log = opts.logger ?? noopLogger;
    this.#logIntervalMs = opts.logIntervalMs ?? 60_000;
    const config: RouterConfig = {
      instances: opts.instances,
      ...(opts.syncGroups !== undefined ? { syncGroups: opts.syncGroups } : {}),
      ...(opts.initiallyDown !== undefined ? { initiallyDown: opts.initiallyDown } : {}),
    };
    this.#state = initialRouterState(config);
    for (const i of opts.instances) {
      // Check now what would otherwise fail inside a timer callback.
      try {
        macBytes(i.mac);
        for (const p of i.unicastPeers ?? []) parseIp(p, i.family);
      } catch (e) {
        throw new VrrpError('ERR_VRRP_CONFIG', `instance ${i.name}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
      if (i.takeoverOrder !== undefined && i.takeoverOrder !== 'advert-first' && i.takeoverOrder !== 'addresses-first') {
        throw new VrrpError('ERR_VRRP_CONFIG', `instance ${i.name}: takeoverOrder ${String(i.takeoverOrder)} is not 'advert-first' or 'addresses-first'`);
      }
      const gap = i.frameIntervalMs ?? 0;
      if (!(gap >= 0 && gap <= 10_000)) throw new VrrpError('ERR_VRRP_CONFIG', `instance ${i.name}: frameIntervalMs ${gap} is not 0..10000`);
      const form = i.ipv4Checksum ?? 'pseudo-header';
      this.#rt.set(i.name, {
        opts: i,
        log: this.#log.child({ vrrp: i.name, vrid: i.vrid }),
        counters: emptyReceiveCounters(),
        timers: new Map(),
        chain: Promise.resolve(),
        queued: 0,
        checksumForm: form === 'follow' ? 'pseudo-header' : form,
        lastLogged: new Map(),
        lastTransition: undefined,
        transitions: 0,
      });
    }
  }

  /** Start every instance (RFC 9568 §6.4.1 Startup). */
  start(): void {
    this.#step({ type: 'startup' });
  }

  /**
   * Shut every instance down (masters send priority 0 at once) and wait for
   * their address removals; `signal` stops the waiting (with an `AbortError`),
   * not the shutdown.
   */
  async stop(opts: { signal?: AbortSignal } = {}): Promise<void> {
    this.#step({ type: 'shutdown' });
    await this.idle(opts);
  }

  /** Feed a tracked object's state (an interface, a health signal). */
  track(object: string, up: boolean): void {
    this.#step({ type: 'track', object, up });
  }

  /**
   * New settings for a running instance, applied in place (a daemon's config reload; see
   * `reconfigure` in fsm-group.ts): priority, addresses, tracking, timers, MAC, unicast peers.
   * Interface, VRID, family and version cannot change. Throws `ERR_VRRP_CONFIG` and changes
   * nothing when the settings are refused.
   */
  reconfigure(instance: VrrpInstanceOptions): void {
    const rt = this.#rt.get(instance.name);
    if (rt === undefined) throw new VrrpError('ERR_VRRP_CONFIG', `no instance ${instance.name}`);
    try {
      macBytes(instance.mac);
      for (const p of instance.unicastPeers ?? []) parseIp(p, instance.family);
      const gap = instance.frameIntervalMs ?? 0;
      if (!(gap >= 0 && gap <= 10_000)) throw new Error(`frameIntervalMs ${gap} is not 0..10000`);
      routerStep(this.#state, { type: 'reconfigure', instance }, this.#clock.now()); // a dry run: throws for what the core refuses
    } catch (e) {
      if (e instanceof VrrpError) throw e;
      throw new VrrpError('ERR_VRRP_CONFIG', `instance ${instance.name}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    rt.opts = instance;
    this.#step({ type: 'reconfigure', instance });
  }

  /**
   * Hand over a received packet (see codec-ip.ts for raw IPv4 bytes) and the
   * interface it came in on; the interface may be left out while no VRID runs on
   * two interfaces of this router.
   */
  receive(packet: ReceivedPacket, from: { interface?: string } = {}): void {
    const vrid = peekVrid(packet.payload);
    const matches = [...this.#rt.entries()].filter(([n, rt]) => {
      const c = this.#state.instances[n]?.config;
      if (c === undefined || c.family !== packet.family || c.vrid !== vrid) return false;
      return from.interface === undefined || (rt.opts.interface ?? '') === from.interface;
    });
    // RFC 9568 §7.1: the VRID must be configured on the receiving interface; none, or
    // an ambiguous match (same VRID on two interfaces, arrival interface unknown), is not ours.
    const name = matches.length === 1 ? matches[0]?.[0] : undefined;
    if (name === undefined) {
      this.#unclaimed++;
      return;
    }
    const rt = this.#rt.get(name) as InstanceRuntime;
    const state = this.#state.instances[name];
    if (state === undefined) return;
    const extra: Partial<ReceiveConfig> = { ...rt.opts.receive };
    if (rt.opts.unicastPeers !== undefined) extra.unicastPeers = rt.opts.unicastPeers;
    const verdict = validateAdvert(packet, receiveConfigFor(state, extra));
    countVerdict(rt.counters, verdict);
    if (verdict.kind === 'invalid') {
      this.#rateLimited(rt, `invalid:${verdict.reason}`, () => rt.log.warn({ src: packet.src, reason: verdict.reason }, `discarded advert: ${verdict.detail}`));
      this.#emit(rt, 'invalid', { instance: name, verdict });
      return;
    }
    if (verdict.kind !== 'ok') return;
    // RFC 9568 §7.1: SHOULD log (rate-limited) interval and address mismatches.
    if (verdict.intervalMismatch) {
      this.#rateLimited(rt, 'interval', () => rt.log.warn({ src: verdict.src }, 'advert interval differs from ours (RFC 9568 §7.1)'));
    }
    if (verdict.addressMismatch) {
      this.#rateLimited(rt, 'addresses', () => rt.log.warn({ src: verdict.src, addresses: verdict.advert.addresses }, 'advert addresses differ from ours'));
    }
    if (rt.opts.ipv4Checksum === 'follow') {
      const next = followChecksumForm(rt.checksumForm, verdict);
      if (next !== rt.checksumForm) rt.log.info({ from: rt.checksumForm, to: next }, 'following the peer checksum form');
      rt.checksumForm = next;
    }
    this.#step({ type: 'instance', instance: name, event: { type: 'advert', advert: verdict.advert, src: verdict.src } });
  }

  /** State of an instance. */
  stateOf(instance: string): StateName {
    const s = this.#state.instances[instance];
    if (s === undefined) throw new VrrpError('ERR_VRRP_CONFIG', `no instance ${instance}`);
    return s.name;
  }

  /** The instance's full state (priority, master heard, timers). */
  instanceState(instance: string): RouterState['instances'][string] | undefined {
    return this.#state.instances[instance];
  }

  /** Receive counters of an instance (a copy). */
  counters(instance: string): ReceiveCounters {
    const rt = this.#rt.get(instance);
    if (rt === undefined) throw new VrrpError('ERR_VRRP_CONFIG', `no instance ${instance}`);
    return { ...rt.counters };
  }

  /** Every instance's state, priority, master, last transition and counters (copies). */
  snapshot(): VrrpInstanceSnapshot[] {
    return [...this.#rt.entries()].map(([name, rt]) => {
      const s = this.#state.instances[name];
      if (s === undefined) throw new VrrpError('ERR_VRRP_CONFIG', `no instance ${name}`);
      return {
        name,
        vrid: s.config.vrid,
        family: s.config.family,
        version: s.config.version,
        state: s.name,
        priority: s.priority,
        basePriority: s.config.priority,
        master: s.master === undefined ? undefined : { ...s.master },
        masterAdverIntervalMs: s.masterAdverIntervalMs,
        lastTransition: rt.lastTransition === undefined ? undefined : { ...rt.lastTransition },
        transitions: rt.transitions,
        counters: { ...rt.counters },
        checksumForm: rt.checksumForm,
      };
    });
  }

  /** Packets that matched no instance. */
  get unclaimed(): number {
    return this.#unclaimed;
  }

  /** Resolve when every queued address change and announcement has run (or reject when `signal` fires first). */
  async idle(opts: { signal?: AbortSignal } = {}): Promise<void> {
    const { signal } = opts;
    throwIfAborted(signal);
    let onAbort: (() => void) | undefined;
    const aborted =
      signal === undefined
        ? undefined
        : new Promise<never>((_, reject) => {
            onAbort = () => reject(abortReason(signal));
            signal.addEventListener('abort', onAbort, { once: true });
          });
    try {
      // Chains may grow while awaited: loop until a pass adds nothing (bounded by the work queued).
      for (let i = 0; i < 1000; i++) {
        const chains = [...this.#rt.values()].map((r) => r.chain);
        const all = Promise.all(chains);
        await (aborted === undefined ? all : Promise.race([all, aborted]));
        if ([...this.#rt.values()].every((r, k) => r.chain === chains[k])) return;
      }
    } finally {
      if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
    }
  }

  #step(event: RouterEvent): void {
    // A transport (or a listener) that calls back in while actions are carried
    // out gets its event queued behind the current one, never interleaved.
    this.#pending.push(event);
    if (this.#stepping) return;
    this.#stepping = true;
    try {
      for (let n = 0; n < 10_000; n++) {
        const next = this.#pending.shift();
        if (next === undefined) return;
        const now = this.#clock.now();
        const { state, actions } = routerStep(this.#state, next, now);
        this.#state = state;
        // Becoming master (a step that adds addresses, then announces them). The decision, measured
        // by bench/vrrp (BENCHMARKS.md, lvskit/vrrp): by default RFC 9568 §6.4.1 / §6.4.2's order,
        // "Send an ADVERTISEMENT", then for each address "broadcast a gratuitous ARP request" (IPv6:
        // unsolicited NA) once it is configured (§8.1.2, §8.2.2): the advert first, then the
        // addresses and GARP/NA through the transport's `claim`, in this tick (the addresses are in
        // place when sendmsg returns; the GARP does not wait a loop turn for the acknowledgement).
        // A preempted master drops the addresses when it hears the advert, so the two never hold
        // them together (dual master: 0 ms median against lvskit and keepalived). What remains is
        // a black hole as long as this process is kept off the CPU between the advert and the GARP
        // (the advert wakes the peer and the observers, which may run first): none on an idle host,
        // 2-3 requests of 2 ms (median) on a 2-core host at load 10. `takeoverOrder:
        // 'addresses-first'` (keepalived's order: addresses and GARP, then the advert) turns the
        // same delays into dual-master time instead: no request lost, both routers hold the
        // addresses for the old master's reaction plus any such delay (6-8 ms median at load 10).
        // No order gives both zeros: the client's entry must move while someone holds the address.
        // (Until fbd6415 the advert followed the addresses, the GARP and the rtnetlink
        // acknowledgement: 3-11 ms of dual master; before 2a96ed9 the advert went first but the
        // GARP waited for the acknowledgement: a 21 ms black hole.)
        let claims: Map<string, number> | undefined;
        if (this.#transport.claim !== undefined) {
          for (const [k, x] of actions.entries()) {
            if (x.action.type !== 'add-addresses' || (this.#rt.get(x.instance)?.opts.frameIntervalMs ?? 0) > 0) continue;
            const j = actions.findIndex((y, m) => m > k && y.instance === x.instance && y.action.type === 'announce');
            if (j > k) (claims ??= new Map()).set(x.instance, j);
          }
        }
        const held = new Map<string, VrrpAction>();
        for (const [k, { instance, action }] of actions.entries()) {
          const j = claims?.get(instance);
          if (j === k) continue; // the announcement went with the claim
          const addressesFirst = j !== undefined && this.#rt.get(instance)?.opts.takeoverOrder === 'addresses-first';
          if (addressesFirst && action.type === 'send-advert' && action.advert.priority > 0 && !held.has(instance)) {
            held.set(instance, action);
            continue;
          }
          if (j !== undefined && action.type === 'add-addresses') {
            const ann = actions[j]?.action;
            if (ann?.type === 'announce') this.#claim(instance, action.addresses, ann);
            const advert = held.get(instance);
            // Right after the claim (in this tick if it ran at once; never later than that).
            if (advert !== undefined) this.#carryOut(instance, advert, now);
            continue;
          }
          this.#carryOut(instance, action, now);
        }
      }
      this.#pending.length = 0;
      throw new VrrpError('ERR_VRRP_CONFIG', 'events kept feeding back into the router; dropped the rest');
    } finally {
      this.#stepping = false;
    }
  }

  /** A new master's addresses and first GARP/NA burst through the transport's `claim` (see #step). */
  #claim(name: string, addresses: readonly string[], ann: Extract<VrrpAction, { type: 'announce' }>): void {
    const rt = this.#rt.get(name) as InstanceRuntime;
    const claim = this.#transport.claim;
    if (claim === undefined) return;
    const frames = this.#frames(rt, ann);
    this.#queue(rt, name, 'addAddresses', () => {
      // Queued behind earlier changes and no longer master: the removal queued after this one wins anyway.
      if (this.#state.instances[name]?.name !== 'master') return this.#transport.addAddresses(name, addresses);
      return claim.call(this.#transport, name, addresses, frames);
    });
  }

  /** GARP / NA frames of an announcement; keepalived's order: each round covers every address once. */
  #frames(rt: InstanceRuntime, a: Extract<VrrpAction, { type: 'announce' }>): Uint8Array[] {
    const frames: Uint8Array[] = [];
    for (let i = 0; i < a.count; i++) {
      for (const address of a.addresses) {
        frames.push(
          a.family === 'ipv4'
            ? buildGratuitousArp({ mac: rt.opts.mac, address })
            : buildUnsolicitedNa({ mac: rt.opts.mac, address, router: rt.opts.naRouterFlag ?? false }),
        );
      }
    }
    return frames;
  }

  #carryOut(name: string, a: VrrpAction, now: number): void {
    const rt = this.#rt.get(name) as InstanceRuntime;
    const state = this.#state.instances[name];
    if (state === undefined) return;
    switch (a.type) {
      case 'set-timer': {
        rt.timers.get(a.timer)?.cancel();
        const timer = a.timer;
        const clock = timer === 'master-down' ? this.#takeoverClock : this.#clock;
        rt.timers.set(
          timer,
          clock.setTimer(a.at - now, () => {
            rt.timers.delete(timer);
            this.#step({ type: 'instance', instance: name, event: { type: 'timer', timer } });
          }),
        );
        return;
      }
      case 'cancel-timer':
        rt.timers.get(a.timer)?.cancel();
        rt.timers.delete(a.timer);
        return;
      case 'send-advert': {
        const c = state.config;
        const dsts = rt.opts.unicastPeers ?? [c.family === 'ipv4' ? VRRP_GROUP_V4 : VRRP_GROUP_V6];
        for (const dst of dsts) {
          let payload: Uint8Array;
          try {
            payload = encodeAdvert(a.advert, { src: c.primaryAddress, dst, ipv4Checksum: rt.checksumForm });
          } catch (error) {
            this.#transportError(rt, name, 'sendAdvert', error);
            continue;
          }
          this.#now(rt, name, 'sendAdvert', () => this.#transport.sendAdvert(name, { family: c.family, src: c.primaryAddress, dst, payload }));
        }
        return;
      }
      case 'add-addresses': {
        const addrs = a.addresses;
        this.#queue(rt, name, 'addAddresses', () => this.#transport.addAddresses(name, addrs));
        return;
      }
      case 'remove-addresses': {
        const addrs = a.addresses;
        this.#queue(rt, name, 'removeAddresses', () => this.#transport.removeAddresses(name, addrs));
        return;
      }
      case 'announce': {
        const frames = this.#frames(rt, a);
        const gap = rt.opts.frameIntervalMs ?? 0;
        if (gap === 0) {
          // A burst: all at once (in this tick when nothing is queued before it).
          this.#queue(rt, name, 'sendFrame', () => {
            // Never claim the addresses after stepping down (a queued burst can outlive mastership).
            if (this.#state.instances[name]?.name !== 'master') return;
            const pending: Promise<void>[] = [];
            for (const f of frames) {
              const p = this.#transport.sendFrame(name, f);
              if (p !== undefined) pending.push(p);
            }
            return pending.length === 0 ? undefined : Promise.all(pending).then(() => undefined);
          });
          return;
        }
        this.#queue(rt, name, 'sendFrame', async () => {
          for (const [i, f] of frames.entries()) {
            if (i > 0) await new Promise<void>((resolve) => this.#clock.setTimer(gap, resolve));
            if (this.#state.instances[name]?.name !== 'master') return;
            await this.#transport.sendFrame(name, f);
          }
        });
        return;
      }
      case 'transition':
        rt.lastTransition = { from: a.from, to: a.to, reason: a.reason, at: a.at };
        rt.transitions++;
        rt.log.info({ from: a.from, to: a.to, reason: a.reason }, `${a.from} -> ${a.to} (${a.reason})`);
        this.#emit(rt, 'transition', { instance: name, from: a.from, to: a.to, reason: a.reason, at: a.at });
        return;
      case 'notice':
        this.#rateLimited(rt, `notice:${a.code}`, () => rt.log.warn({ code: a.code }, a.detail));
        this.#emit(rt, 'notice', { instance: name, code: a.code, detail: a.detail });
        return;
      case 'want-master':
        rt.log.debug({ want: a.want, cause: a.cause }, a.want ? 'wants master; waiting for its sync group' : 'no longer wants master');
        return;
    }
  }

  /** Run a transport call now; report a throw or rejection. */
  #now(rt: InstanceRuntime, name: string, op: 'sendAdvert', fn: () => void | Promise<void>): void {
    try {
      const p = fn();
      if (p !== undefined) p.catch((error: unknown) => this.#transportError(rt, name, op, error));
    } catch (error) {
      this.#transportError(rt, name, op, error);
    }
  }

  /**
   * Run a transport call after the instance's earlier queued ones; at once (in this tick) when none
   * is unfinished, so an address change or a burst is not held back a microtask or a loop turn.
   */
  #queue(rt: InstanceRuntime, name: string, op: VrrpRouterEventsOp, fn: () => void | Promise<void>): void {
    const report = (error: unknown): void => this.#transportError(rt, name, op, error);
    let run: Promise<void>;
    if (rt.queued === 0) {
      let p: void | Promise<void>;
      try {
        p = fn();
      } catch (error) {
        report(error);
        return;
      }
      if (p === undefined) return;
      run = p.then(() => undefined, report);
    } else {
      run = rt.chain.then(async () => {
        try {
          await fn();
        } catch (error) {
          report(error);
        }
      });
    }
    rt.queued++;
    rt.chain = run.then(() => void rt.queued--);
  }

  #transportError(rt: InstanceRuntime, name: string, op: VrrpRouterEventsOp, error: unknown): void {
    rt.log.error({ op, err: error }, `transport ${op} failed`);
    this.#emit(rt, 'transport-error', { instance: name, op, error });
  }

  /** Emit to listeners; a throwing listener is logged and never stops the router mid-step. */
  #emit<E extends keyof VrrpRouterEvents>(rt: InstanceRuntime, event: E, arg: Parameters<VrrpRouterEvents[E]>[0]): void {
    try {
      (this.emit as (e: E, a: Parameters<VrrpRouterEvents[E]>[0]) => boolean)(event, arg);
    } catch (error) {
      rt.log.error({ err: error, event }, `a '${event}' listener threw`);
    }
  }

  #rateLimited(rt: InstanceRuntime, key: string, log: () => void): void {
    const now = this.#clock.now();
    const last = rt.lastLogged.get(key);
    if (last !== undefined && now - last < this.#logIntervalMs) return;
    rt.lastLogged.set(key, now);
    log();
  }
}

type VrrpRouterEventsOp = Parameters<VrrpRouterEvents['transport-error']>[0]['op'];
