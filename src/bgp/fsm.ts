/**
 * The BGP finite state machine of RFC 4271 §8, pure.
 *
 *   step(state, event, now) -> { state, actions }
 *
 * The FSM never reads a clock, never touches a socket, never draws from
 * `Math.random`: time comes in as `now` (monotonic milliseconds), jitter from a
 * seeded generator kept in the state, and everything it wants done goes out as
 * actions (connect, send, close, set or clear a timer, emit). The session
 * driver performs the actions and feeds back events: TCP outcomes, decoded
 * messages, timer expiries.
 *
 * Decisions, with the RFC text behind each:
 * - States Idle, Connect, Active, OpenSent, OpenConfirm, Established (§8.2.2).
 * - Start with or without passive TCP establishment (§8.1.2 events 1, 3-5):
 *   a passive peer waits in Active and never connects out.
 * - ConnectRetryTimer (§8.2.2) grows exponentially with the number of
 *   consecutive failed attempts, from `connectRetry.initialMs` to `maxMs`, and
 *   is multiplied by a jitter factor in [0.75, 1] (§10).
 * - Automatic restart after an error goes through the IdleHoldTimer
 *   (DampPeerOscillations, §8.1.1): a session that dies within `stableMs` of
 *   reaching Established is a flap, and each flap doubles the idle hold time up
 *   to `idleHold.maxMs`; a session that stayed up resets it.
 * - Hold time negotiation (§4.2, §8.2.2 OpenSent): the smaller of ours and the
 *   peer's; zero means no hold timer and no KEEPALIVEs. Keepalive is a third of
 *   the hold time unless configured lower. After sending OPEN the hold timer is
 *   "a large value", 4 minutes.
 * - DelayOpen (§8.1.1, §8.2.2): with a TCP connection up, wait DelayOpenTime
 *   for the peer's OPEN before sending ours.
 * - Connection collisions (§6.8): a second connection to the same peer runs
 *   beside the first; when an OPEN arrives on one while the other is in
 *   OpenConfirm, the connection initiated by the speaker with the higher BGP
 *   Identifier survives and the other gets Cease / Connection Collision
 *   Resolution (RFC 4486 §4). A new connection while Established is closed the
 *   same way, except that a peer that negotiated graceful restart is taken to
 *   have restarted (RFC 4724 §4.2): the old session ends, the new one proceeds.
 * - OPEN checks against the configuration (§6.2): peer AS (Bad Peer AS), BGP
 *   Identifier equal to ours on iBGP (Bad BGP Identifier, RFC 6286 §2.2).
 * - Unexpected messages get the FSM Error subcodes of RFC 6608 §4.
 */
import { Afi, CeaseSubcode, ErrorCode, FsmErrorSubcode, OpenErrorSubcode, Safi } from './constants.js';
import type { BgpMessage, DecodedMessage } from './codec.js';
import type { Capability, OpenMessage } from './codec-open.js';
import { findCapability, myAsField, openAs } from './codec-open.js';
import type { NotificationMessage, RouteRefreshMessage } from './codec-messages.js';
import { notificationFromError } from './codec-messages.js';
import type { UpdateCodecOptions, UpdateVerdict } from './codec-update.js';
import type { BgpError } from './errors.js';
import { bgpError } from './errors.js';

export type FsmStateName = 'Idle' | 'Connect' | 'Active' | 'OpenSent' | 'OpenConfirm' | 'Established';
export type TimerName = 'connectRetry' | 'hold' | 'keepalive' | 'delayOpen' | 'idleHold';
export type Direction = 'inbound' | 'outbound';

export interface FsmConfig {
  localAs: number;
  /** Our BGP Identifier, dotted quad. */
  routerId: string;
  /** The AS the peer must announce (§6.2 Bad Peer AS). */
  peerAs: number;
  /** Proposed hold time in seconds: 0 or >= 3 (§4.2). Default 90. */
  holdTime?: number;
  /** Keepalive interval in seconds; default a third of the negotiated hold time (§10). */
  keepaliveTime?: number;
  /** Never initiate TCP; wait for the peer (§8.1.1 PassiveTcpEstablishment). */
  passive?: boolean;
  /** Seconds to wait for the peer's OPEN before sending ours (§8.1.1 DelayOpen); 0 or absent: off. */
  delayOpenTime?: number;
  /** ConnectRetryTimer bounds in ms. Default 5 s doubling to 120 s (§10 suggests 120 s). */
  connectRetry?: { initialMs?: number; maxMs?: number };
  /** Idle hold (DampPeerOscillations) in ms. Defaults 5 s doubling to 300 s; `stableMs` 60 s. */
  idleHold?: { initialMs?: number; maxMs?: number; stableMs?: number };
  /** Restart by itself after an error (through the idle hold). Default true. */
  autoRestart?: boolean;
  /** Capabilities to send in our OPEN (see `defaultCapabilities`). */
  capabilities: Capability[];
  /** Seed of the jitter generator; any 32-bit value. Same seed, same timings. */
  seed?: number;
  /** Apply jitter to ConnectRetry and IdleHold (§10). Default true. */
  jitter?: boolean;
}

/** What the OPEN exchange settled (RFC 4271 §4.2, RFC 5492 and the capability RFCs). */
export interface NegotiatedSession {
  peerAs: number;
  peerId: string;
  /** Seconds; 0 means no hold timer and no KEEPALIVEs. */
  holdTime: number;
  keepaliveTime: number;
  peerOpen: OpenMessage;
  fourOctetAs: boolean;
  extendedMessage: boolean;
  routeRefresh: boolean;
  enhancedRouteRefresh: boolean;
  /** Families both sides announced (RFC 4760 §8; without MP capabilities, IPv4 unicast). */
  families: { afi: number; safi: number }[];
  /** Whether NLRI carry path identifiers, per direction and family (RFC 7911 §4). */
  addPath: { receive: { ipv4: boolean; ipv6: boolean }; send: { ipv4: boolean; ipv6: boolean } };
  /** The peer's graceful restart capability, if it sent one (RFC 4724 §3). */
  peerGracefulRestart?: Extract<Capability, { kind: 'graceful-restart' }>;
  /** Options for decoding what the peer sends. */
  decodeOptions: UpdateCodecOptions;
  /** Options for encoding what we send. */
  encodeOptions: UpdateCodecOptions;
}

interface Conn {
  id: number;
  direction: Direction;
  /** Sub-state of a second connection during a collision (§6.8). */
  phase: 'OpenSent' | 'OpenConfirm';
  peerOpen?: OpenMessage;
}

export interface FsmState {
  readonly config: FsmConfig;
  name: FsmStateName;
  /** The connection the state refers to. */
  conn?: { id: number; direction: Direction; peerOpen?: OpenMessage };
  /** A second connection to the same peer, during a collision (§6.8). */
  other?: Conn;
  /** An outbound connect is under way (Connect state). */
  connecting: boolean;
  /** Due times (ms) of the running timers. */
  timers: Partial<Record<TimerName, number>>;
  /** Consecutive attempts that did not reach Established (§8: ConnectRetryCounter). */
  connectRetryCounter: number;
  /** Current idle hold (ms), grown by flaps. */
  idleHoldMs: number;
  /** Started (manually or automatically) and not stopped. */
  enabled: boolean;
  session?: NegotiatedSession;
  establishedAt?: number;
  /** xorshift32 state for jitter. */
  rng: number;
}

export type FsmEvent =
  | { type: 'start' }
  /**
   * ManualStop. `silent`: close the TCP connection without a NOTIFICATION, so a
   * peer that can help keeps our routes over our restart (RFC 4724 §4.2).
   */
  | { type: 'stop'; notification?: NotificationMessage; silent?: boolean }
  /** AutomaticStop (§8.1.2 event 8), e.g. maximum prefixes: send this, close, restart after the idle hold. */
  | { type: 'automatic-stop'; notification: NotificationMessage }
  | { type: 'timer'; timer: TimerName }
  | { type: 'tcp-connected'; conn: number; direction: Direction }
  | { type: 'tcp-connect-failed' }
  | { type: 'tcp-closed'; conn: number }
  | { type: 'message'; conn: number; message: DecodedMessage }
  /** A received message failed to decode with a session-reset error. */
  | { type: 'decode-error'; conn: number; error: BgpError };

export type DownReason =
  | { kind: 'stopped' }
  | { kind: 'automatic-stop' }
  | { kind: 'hold-timer-expired' }
  | { kind: 'notification-received'; notification: NotificationMessage }
  | { kind: 'notification-sent'; notification: NotificationMessage }
  | { kind: 'tcp-closed' }
  | { kind: 'peer-restarted' };

export type FsmEmit =
  | { kind: 'state'; from: FsmStateName; to: FsmStateName }
  | { kind: 'established'; session: NegotiatedSession }
  /** The session left Established. `graceful`: keep the peer's routes as stale (RFC 4724 §4.2, RFC 8538 §3). */
  | { kind: 'down'; reason: DownReason; graceful: boolean }
  | { kind: 'update'; verdict: UpdateVerdict }
  | { kind: 'route-refresh'; message: RouteRefreshMessage }
  /** An attempt failed before Established (for logs and metrics). */
  | { kind: 'attempt-failed'; reason: DownReason }
  | { kind: 'collision'; kept: number; closed: number };

export type FsmAction =
  | { type: 'connect' }
  /** Abandon the outbound connect under way. */
  | { type: 'abort-connect' }
  | { type: 'send'; conn: number; message: BgpMessage }
  | { type: 'close'; conn: number }
  | { type: 'set-timer'; timer: TimerName; at: number }
  | { type: 'clear-timer'; timer: TimerName }
  | { type: 'emit'; event: FsmEmit };

export interface StepResult {
  state: FsmState;
  actions: FsmAction[];
}

/** Large hold time after sending OPEN: 4 minutes (§8.2.2). */
export const LARGE_HOLD_MS = 240_000;

const DEFAULTS = {
  holdTime: 90,
  connectRetryInitialMs: 5_000,
  connectRetryMaxMs: 120_000,
  idleHoldInitialMs: 5_000,
  idleHoldMaxMs: 300_000,
  stableMs: 60_000,
};

/**
 * The capabilities a director sends: multiprotocol for each family, route
 * refresh and enhanced route refresh, 4-octet AS, and graceful restart when
 * given (a restart time of 0 announces helper-only support, RFC 4724 §3).
 */
export function defaultCapabilities(o: {
  localAs: number;
  families?: { afi: number; safi: number }[];
  gracefulRestart?: { restartTime: number; restarting?: boolean; notification?: boolean; forwardingPreserved?: boolean };
  extendedMessage?: boolean;
}): Capability[] {
  const families = o.families ?? [{ afi: Afi.IPV4, safi: Safi.UNICAST }];
  const caps: Capability[] = families.map((f) => ({ kind: 'multiprotocol', afi: f.afi, safi: f.safi }));
  caps.push({ kind: 'route-refresh' }, { kind: 'enhanced-route-refresh' }, { kind: 'four-octet-as', asn: o.localAs });
  if (o.extendedMessage === true) caps.push({ kind: 'extended-message' });
  if (o.gracefulRestart !== undefined) {
    const g = o.gracefulRestart;
    caps.push({
      kind: 'graceful-restart',
      restarting: g.restarting ?? false,
      notification: g.notification ?? true,
      restartTime: g.restartTime,
      families: families.map((f) => ({ ...f, forwardingPreserved: g.forwardingPreserved ?? false })),
    });
  }
  return caps;
}

/** A new FSM in Idle, not started. */
export function createFsm(config: FsmConfig): FsmState {
  const h = config.holdTime ?? DEFAULTS.holdTime;
  if (!(h === 0 || (Number.isInteger(h) && h >= 3 && h <= 0xffff))) throw new RangeError(`hold time ${h}: 0 or 3..65535 (RFC 4271 §4.2)`);
  return {
    config,
    name: 'Idle',
    connecting: false,
    timers: {},
    connectRetryCounter: 0,
    idleHoldMs: 0,
    enabled: false,
    rng: (config.seed ?? 0x9e3779b9) >>> 0 || 1,
  };
}

/** The OPEN this FSM sends (§4.2; My Autonomous System is AS_TRANS for a 4-octet AS, RFC 6793 §4.1). */
export function localOpen(config: FsmConfig): OpenMessage {
  return {
    version: 4,
    myAs: myAsField(config.localAs),
    holdTime: config.holdTime ?? DEFAULTS.holdTime,
    bgpId: config.routerId,
    capabilities: config.capabilities,
  };
}

function ipv4ToNumber(s: string): number {
  const p = s.split('.').map(Number);
  return (((p[0] ?? 0) << 24) >>> 0) + ((p[1] ?? 0) << 16) + ((p[2] ?? 0) << 8) + (p[3] ?? 0);
}

/** Work out the session parameters from both OPENs. */
export function negotiate(config: FsmConfig, peer: OpenMessage): NegotiatedSession {
  const ours = config.capabilities;
  const theirs = peer.capabilities;
  const holdTime = Math.min(config.holdTime ?? DEFAULTS.holdTime, peer.holdTime);
  const keepaliveTime = holdTime === 0 ? 0 : Math.max(1, Math.min(config.keepaliveTime ?? Infinity, Math.floor(holdTime / 3)));
  const mp = (caps: Capability[]): { afi: number; safi: number }[] => {
    const l = caps.filter((c): c is Extract<Capability, { kind: 'multiprotocol' }> => c.kind === 'multiprotocol');
    // RFC 4760 §8 / RFC 4271: a speaker without multiprotocol capabilities does IPv4 unicast.
    return l.length === 0 ? [{ afi: Afi.IPV4, safi: Safi.UNICAST }] : l.map((c) => ({ afi: c.afi, safi: c.safi }));
  };
  const theirFamilies = mp(theirs);
  const families = mp(ours).filter((f) => theirFamilies.some((g) => g.afi === f.afi && g.safi === f.safi));
  const has = (caps: Capability[], kind: Capability['kind']): boolean => caps.some((c) => c.kind === kind);
  const fourOctetAs = has(ours, 'four-octet-as') && has(theirs, 'four-octet-as');
  const extendedMessage = has(ours, 'extended-message') && has(theirs, 'extended-message');
  // RFC 7911 §4: we receive path IDs for a family when we said receive/both and they said send/both.
  const ap = (caps: Capability[], afi: number, dir: 'send' | 'receive'): boolean =>
    findCapability(caps, 'add-path')?.families.some((f) => f.afi === afi && f.safi === Safi.UNICAST && (f.direction === dir || f.direction === 'both')) ??
    false;
  const addPath = {
    receive: { ipv4: ap(ours, Afi.IPV4, 'receive') && ap(theirs, Afi.IPV4, 'send'), ipv6: ap(ours, Afi.IPV6, 'receive') && ap(theirs, Afi.IPV6, 'send') },
    send: { ipv4: ap(ours, Afi.IPV4, 'send') && ap(theirs, Afi.IPV4, 'receive'), ipv6: ap(ours, Afi.IPV6, 'send') && ap(theirs, Afi.IPV6, 'receive') },
  };
  const external = openAs(peer) !== config.localAs;
  const gr = findCapability(theirs, 'graceful-restart');
  return {
    peerAs: openAs(peer),
    peerId: peer.bgpId,
    holdTime,
    keepaliveTime,
    peerOpen: peer,
    fourOctetAs,
    extendedMessage,
    routeRefresh: has(theirs, 'route-refresh'),
    enhancedRouteRefresh: has(ours, 'enhanced-route-refresh') && has(theirs, 'enhanced-route-refresh'),
    families,
    addPath,
    ...(gr === undefined ? {} : { peerGracefulRestart: gr }),
    decodeOptions: { fourOctetAs, extendedMessage, addPath: addPath.receive, external },
    encodeOptions: { fourOctetAs, extendedMessage, addPath: addPath.send, external },
  };
}

/** Check the peer's OPEN against the configuration (§6.2); undefined when acceptable. */
function checkOpen(config: FsmConfig, peer: OpenMessage): BgpError | undefined {
  const as = openAs(peer);
  if (as !== config.peerAs) return bgpError(ErrorCode.OPEN_MESSAGE, OpenErrorSubcode.BAD_PEER_AS, `peer announced AS ${as}, expected ${config.peerAs}`);
  // RFC 6286 §2.2: within an AS the identifiers must differ.
  if (as === config.localAs && peer.bgpId === config.routerId) {
    return bgpError(ErrorCode.OPEN_MESSAGE, OpenErrorSubcode.BAD_BGP_IDENTIFIER, `peer uses our BGP identifier ${peer.bgpId}`);
  }
  return undefined;
}

/** Mutable working copy plus the actions collected during one step. */
class Step {
  readonly s: FsmState;
  readonly actions: FsmAction[] = [];
  readonly now: number;
  constructor(state: FsmState, now: number) {
    this.s = { ...state, timers: { ...state.timers } };
    this.now = now;
  }
  get cfg(): FsmConfig {
    return this.s.config;
  }
  emit(event: FsmEmit): void {
    this.actions.push({ type: 'emit', event });
  }
  go(to: FsmStateName): void {
    const from = this.s.name;
    if (from === to) return;
    this.s.name = to;
    this.emit({ kind: 'state', from, to });
  }
  setTimer(timer: TimerName, ms: number): void {
    const at = this.now + ms;
    this.s.timers[timer] = at;
    this.actions.push({ type: 'set-timer', timer, at });
  }
  clearTimer(timer: TimerName): void {
    if (this.s.timers[timer] === undefined) return;
    delete this.s.timers[timer];
    this.actions.push({ type: 'clear-timer', timer });
  }
  clearAllTimers(): void {
    for (const t of Object.keys(this.s.timers) as TimerName[]) this.clearTimer(t);
  }
  send(conn: number, message: BgpMessage): void {
    this.actions.push({ type: 'send', conn, message });
  }
  close(conn: number): void {
    this.actions.push({ type: 'close', conn });
  }
  /** Jitter factor in [0.75, 1] (§10), from the seeded generator. */
  jitter(): number {
    if (this.cfg.jitter === false) return 1;
    let x = this.s.rng;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    this.s.rng = x;
    return 0.75 + 0.25 * (x / 0xffffffff);
  }
  connectRetryMs(): number {
    const init = this.cfg.connectRetry?.initialMs ?? DEFAULTS.connectRetryInitialMs;
    const max = this.cfg.connectRetry?.maxMs ?? DEFAULTS.connectRetryMaxMs;
    const base = Math.min(max, init * 2 ** Math.min(this.s.connectRetryCounter, 30));
    return Math.round(base * this.jitter());
  }
}

function delayOpenMs(cfg: FsmConfig): number {
  return Math.max(0, (cfg.delayOpenTime ?? 0) * 1000);
}

/** Advance the FSM by one event. Never throws for protocol input; the input state is not modified. */
export function step(state: FsmState, event: FsmEvent, now: number): StepResult {
  const c = new Step(state, now);
  switch (event.type) {
    case 'start':
      onStart(c, true);
      break;
    case 'stop':
      onStop(c, event.silent === true ? undefined : (event.notification ?? { code: ErrorCode.CEASE, subcode: CeaseSubcode.ADMINISTRATIVE_SHUTDOWN, data: new Uint8Array(0) }));
      break;
    case 'automatic-stop':
      teardown(c, { kind: 'automatic-stop' }, event.notification, true);
      break;
    case 'timer':
      onTimer(c, event.timer);
      break;
    case 'tcp-connected':
      onConnected(c, event.conn, event.direction);
      break;
    case 'tcp-connect-failed':
      onConnectFailed(c);
      break;
    case 'tcp-closed':
      onClosed(c, event.conn);
      break;
    case 'message':
      onMessage(c, event.conn, event.message);
      break;
    case 'decode-error':
      onDecodeError(c, event.conn, event.error);
      break;
  }
  return { state: c.s, actions: c.actions };
}

function onStart(c: Step, manual: boolean): void {
  if (c.s.name !== 'Idle') return; // §8.2.2: start events are ignored outside Idle.
  c.s.enabled = true;
  c.clearTimer('idleHold');
  if (manual) {
    c.s.connectRetryCounter = 0;
    c.s.idleHoldMs = 0;
  }
  if (c.cfg.passive === true) {
    // §8.2.2 Idle, events 4/5: listen only.
    c.go('Active');
    return;
  }
  c.setTimer('connectRetry', c.connectRetryMs());
  c.s.connecting = true;
  c.actions.push({ type: 'connect' });
  c.go('Connect');
}

function onStop(c: Step, notification: NotificationMessage | undefined): void {
  // §8.2.2 ManualStop in any state: NOTIFICATION Cease when a connection is up, drop everything, Idle.
  c.s.enabled = false;
  teardown(c, { kind: 'stopped' }, notification, false);
  c.s.connectRetryCounter = 0;
}

/**
 * End the attempt or session: optionally send a NOTIFICATION, close every
 * connection, clear timers, go Idle, and (when allowed) schedule the automatic
 * restart through the idle hold.
 */
function teardown(c: Step, reason: DownReason, notification: NotificationMessage | undefined, restart: boolean, graceful = false): void {
  const wasEstablished = c.s.name === 'Established';
  const openSent = c.s.name === 'OpenSent' || c.s.name === 'OpenConfirm' || wasEstablished;
  if (c.s.conn !== undefined) {
    // A NOTIFICATION only makes sense once our OPEN went out, or to refuse the peer's (§6.2, §8.2.2).
    if (notification !== undefined && (openSent || reason.kind === 'notification-sent')) c.send(c.s.conn.id, { kind: 'notification', notification });
    c.close(c.s.conn.id);
    delete c.s.conn;
  }
  if (c.s.other !== undefined) {
    if (notification !== undefined) c.send(c.s.other.id, { kind: 'notification', notification });
    c.close(c.s.other.id);
    delete c.s.other;
  }
  if (c.s.connecting) {
    c.actions.push({ type: 'abort-connect' });
    c.s.connecting = false;
  }
  c.clearAllTimers();
  if (wasEstablished) {
    // DampPeerOscillations (§8.1.1): a session that did not stay up is a flap.
    const lived = c.now - (c.s.establishedAt ?? c.now);
    const init = c.cfg.idleHold?.initialMs ?? DEFAULTS.idleHoldInitialMs;
    const max = c.cfg.idleHold?.maxMs ?? DEFAULTS.idleHoldMaxMs;
    if (lived < (c.cfg.idleHold?.stableMs ?? DEFAULTS.stableMs)) c.s.idleHoldMs = Math.min(max, c.s.idleHoldMs === 0 ? init : c.s.idleHoldMs * 2);
    else c.s.idleHoldMs = 0;
    c.emit({ kind: 'down', reason, graceful });
    delete c.s.session;
    delete c.s.establishedAt;
  } else if (reason.kind !== 'stopped') {
    c.s.connectRetryCounter++;
    c.emit({ kind: 'attempt-failed', reason });
  }
  c.go('Idle');
  if (restart && c.s.enabled && c.cfg.autoRestart !== false) {
    // Wait the larger of the connect backoff and the flap damping, with jitter (§10).
    const backoff = c.connectRetryMs();
    const hold = Math.round(c.s.idleHoldMs * c.jitter());
    c.setTimer('idleHold', Math.max(backoff, hold));
  }
}

function sendOpen(c: Step, conn: number): void {
  c.send(conn, { kind: 'open', open: localOpen(c.cfg) });
}

function onTimer(c: Step, timer: TimerName): void {
  const due = c.s.timers[timer];
  // A timer we cleared or re-armed since: stale, ignore.
  if (due === undefined || c.now < due) return;
  delete c.s.timers[timer];
  switch (timer) {
    case 'idleHold':
      // §8.1.1: IdleHoldTimer_Expires leads to AutomaticStart.
      if (c.s.name === 'Idle' && c.s.enabled) onStart(c, false);
      return;
    case 'connectRetry':
      if (c.s.name === 'Connect') {
        // §8.2.2 Connect, event 9: drop the attempt, restart the timer, connect again.
        if (c.s.connecting) c.actions.push({ type: 'abort-connect' });
        c.s.connectRetryCounter++;
        c.setTimer('connectRetry', c.connectRetryMs());
        c.s.connecting = true;
        c.actions.push({ type: 'connect' });
      } else if (c.s.name === 'Active') {
        // §8.2.2 Active, event 9: try connecting out.
        c.setTimer('connectRetry', c.connectRetryMs());
        c.s.connecting = true;
        c.actions.push({ type: 'connect' });
        c.go('Connect');
      }
      return;
    case 'delayOpen':
      if ((c.s.name === 'Connect' || c.s.name === 'Active') && c.s.conn !== undefined) {
        // §8.2.2 event 12: send OPEN now.
        sendOpen(c, c.s.conn.id);
        c.setTimer('hold', LARGE_HOLD_MS);
        c.go('OpenSent');
      }
      return;
    case 'hold':
      if (c.s.name === 'OpenSent' || c.s.name === 'OpenConfirm' || c.s.name === 'Established') {
        // §8.2.2 event 10: NOTIFICATION Hold Timer Expired.
        const n = { code: ErrorCode.HOLD_TIMER_EXPIRED, subcode: 0, data: new Uint8Array(0) };
        teardown(c, { kind: 'hold-timer-expired' }, n, true, graceful(c, n));
      }
      return;
    case 'keepalive':
      if ((c.s.name === 'OpenConfirm' || c.s.name === 'Established') && c.s.conn !== undefined) {
        c.send(c.s.conn.id, { kind: 'keepalive' });
        const ka = c.s.session?.keepaliveTime ?? 0;
        if (ka > 0) c.setTimer('keepalive', ka * 1000);
      }
      return;
  }
}

/** Whether the end of this Established session keeps the peer's routes (RFC 4724 §4.2). */
function graceful(c: Step, notification?: NotificationMessage): boolean {
  const gr = c.s.session?.peerGracefulRestart;
  if (c.s.name !== 'Established' || gr === undefined) return false;
  if (notification === undefined) return true;
  // RFC 8538 §3: with the N bit on both sides a NOTIFICATION is graceful too, except Hard Reset.
  const ourN = findCapability(c.cfg.capabilities, 'graceful-restart')?.notification === true;
  return gr.notification && ourN && !(notification.code === ErrorCode.CEASE && notification.subcode === CeaseSubcode.HARD_RESET);
}

function onConnected(c: Step, conn: number, direction: Direction): void {
  const name = c.s.name;
  if (name === 'Idle' || !c.s.enabled) {
    // §8.2.2 Idle: incoming connections are refused.
    c.close(conn);
    return;
  }
  if (c.cfg.passive === true && direction === 'outbound') {
    c.close(conn);
    return;
  }
  if (direction === 'outbound') c.s.connecting = false;
  if ((name === 'Connect' || name === 'Active') && c.s.conn === undefined) {
    c.s.conn = { id: conn, direction };
    c.clearTimer('connectRetry');
    // An outbound attempt still under way is left to finish: if it connects it becomes the second
    // connection of a collision, resolved by §6.8. Dropping it here would kill the connection the
    // peer may have already chosen as its own (both sides would drop theirs).
    const d = delayOpenMs(c.cfg);
    if (d > 0) {
      // §8.2.2 with DelayOpen: wait for the peer's OPEN.
      c.setTimer('delayOpen', d);
      return;
    }
    sendOpen(c, conn);
    c.setTimer('hold', LARGE_HOLD_MS);
    c.go('OpenSent');
    return;
  }
  // A second connection: collision handling (§6.8). Only one extra at a time.
  if (c.s.other !== undefined || c.s.conn === undefined) {
    c.close(conn);
    return;
  }
  if (name === 'Established' && c.s.session?.peerGracefulRestart === undefined) {
    // §6.8: a collision with an Established session closes the new connection.
    c.send(conn, { kind: 'notification', notification: collisionNotification() });
    c.close(conn);
    c.emit({ kind: 'collision', kept: c.s.conn.id, closed: conn });
    return;
  }
  c.s.other = { id: conn, direction, phase: 'OpenSent' };
  if (name === 'Connect' || name === 'Active') {
    // The first connection is still in DelayOpen: the second just waits for its OPEN too. Nothing to send yet.
    return;
  }
  sendOpen(c, conn);
}

function collisionNotification(): NotificationMessage {
  return { code: ErrorCode.CEASE, subcode: CeaseSubcode.CONNECTION_COLLISION_RESOLUTION, data: new Uint8Array(0) };
}

function onConnectFailed(c: Step): void {
  if (!c.s.connecting) return;
  c.s.connecting = false;
  if (c.s.name !== 'Connect' || c.s.conn !== undefined) return;
  // §8.2.2 Connect, event 18: without DelayOpen running, back to Idle.
  teardown(c, { kind: 'tcp-closed' }, undefined, true);
}

function onClosed(c: Step, conn: number): void {
  if (c.s.other?.id === conn) {
    delete c.s.other;
    return;
  }
  if (c.s.conn?.id !== conn) return;
  if (c.s.name === 'OpenSent') {
    // §8.2.2 OpenSent, event 18: close, restart ConnectRetryTimer, go Active.
    delete c.s.conn;
    c.clearTimer('hold');
    c.s.connectRetryCounter++;
    c.emit({ kind: 'attempt-failed', reason: { kind: 'tcp-closed' } });
    if (c.cfg.passive !== true) c.setTimer('connectRetry', c.connectRetryMs());
    promoteOther(c);
    if (c.s.conn === undefined) c.go('Active');
    return;
  }
  if ((c.s.name === 'Connect' || c.s.name === 'Active') && c.s.timers.delayOpen !== undefined) {
    // §8.2.2 Connect/Active, event 18 with DelayOpen running: keep listening in Active.
    delete c.s.conn;
    c.clearTimer('delayOpen');
    if (c.cfg.passive !== true) c.setTimer('connectRetry', c.connectRetryMs());
    c.go('Active');
    return;
  }
  teardown(c, { kind: 'tcp-closed' }, undefined, true, graceful(c));
}

/** When the main connection is gone but a second one is negotiating, carry on with it. */
function promoteOther(c: Step): void {
  const o = c.s.other;
  if (o === undefined) return;
  delete c.s.other;
  c.s.conn = { id: o.id, direction: o.direction, ...(o.peerOpen === undefined ? {} : { peerOpen: o.peerOpen }) };
  c.clearTimer('connectRetry');
  if (o.phase === 'OpenConfirm' && o.peerOpen !== undefined) {
    enterOpenConfirm(c, o.peerOpen, false);
  } else {
    c.setTimer('hold', LARGE_HOLD_MS);
    c.go('OpenSent');
  }
}

function fsmError(c: Step, subcode: number, detail: string): void {
  const e = bgpError(ErrorCode.FSM, subcode, detail);
  teardown(c, { kind: 'notification-sent', notification: notificationFromError(e) }, notificationFromError(e), true, false);
}

function onDecodeError(c: Step, conn: number, error: BgpError): void {
  const n = notificationFromError(error);
  if (c.s.other?.id === conn) {
    c.send(conn, { kind: 'notification', notification: n });
    c.close(conn);
    delete c.s.other;
    return;
  }
  if (c.s.conn?.id !== conn) return;
  teardown(c, { kind: 'notification-sent', notification: n }, n, true, graceful(c, n));
}

function onMessage(c: Step, conn: number, m: DecodedMessage): void {
  if (c.s.other?.id === conn) {
    onOtherMessage(c, m);
    return;
  }
  if (c.s.conn?.id !== conn) return;
  const name = c.s.name;
  if (m.kind === 'notification') {
    // §8.2.2: a NOTIFICATION ends the connection in every state.
    teardown(c, { kind: 'notification-received', notification: m.notification }, undefined, true, graceful(c, m.notification));
    return;
  }
  switch (name) {
    case 'Connect':
    case 'Active': {
      // Only with DelayOpen running is a message possible here (§8.2.2 events 20, 25-28).
      if (m.kind === 'open' && c.s.timers.delayOpen !== undefined) {
        c.clearTimer('delayOpen');
        if (!acceptOpen(c, m.open)) return;
        sendOpen(c, conn);
        enterOpenConfirm(c, m.open, true);
        return;
      }
      fsmError(c, FsmErrorSubcode.UNSPECIFIED, `${m.kind} before OPEN`);
      return;
    }
    case 'OpenSent':
      if (m.kind === 'open') {
        if (!acceptOpen(c, m.open)) return;
        if (resolveCollision(c, 'main', m.open)) return;
        enterOpenConfirm(c, m.open, true);
        return;
      }
      fsmError(c, FsmErrorSubcode.UNEXPECTED_MESSAGE_IN_OPENSENT, `${m.kind} in OpenSent`);
      return;
    case 'OpenConfirm':
      if (m.kind === 'keepalive') {
        // §8.2.2 OpenConfirm, event 26: Established.
        const session = c.s.session as NegotiatedSession;
        if (session.holdTime > 0) c.setTimer('hold', session.holdTime * 1000);
        c.s.connectRetryCounter = 0;
        c.s.establishedAt = c.now;
        c.go('Established');
        c.emit({ kind: 'established', session });
        if (c.s.other !== undefined) {
          // §6.8: the other connection collides with an Established session.
          c.send(c.s.other.id, { kind: 'notification', notification: collisionNotification() });
          c.close(c.s.other.id);
          c.emit({ kind: 'collision', kept: conn, closed: c.s.other.id });
          delete c.s.other;
        }
        return;
      }
      fsmError(c, FsmErrorSubcode.UNEXPECTED_MESSAGE_IN_OPENCONFIRM, `${m.kind} in OpenConfirm`);
      return;
    case 'Established': {
      if (m.kind === 'open') {
        fsmError(c, FsmErrorSubcode.UNEXPECTED_MESSAGE_IN_ESTABLISHED, 'OPEN in Established');
        return;
      }
      // §8.2.2 Established, events 26-27: restart the hold timer.
      const hold = c.s.session?.holdTime ?? 0;
      if (hold > 0) c.setTimer('hold', hold * 1000);
      if (m.kind === 'update') c.emit({ kind: 'update', verdict: m.update });
      else if (m.kind === 'route-refresh') c.emit({ kind: 'route-refresh', message: m.routeRefresh });
      return;
    }
    case 'Idle':
      return;
  }
}

/** Validate the peer's OPEN; on failure send the NOTIFICATION and tear down. */
function acceptOpen(c: Step, open: OpenMessage): boolean {
  const e = checkOpen(c.cfg, open);
  if (e === undefined) return true;
  const n = notificationFromError(e);
  teardown(c, { kind: 'notification-sent', notification: n }, n, true);
  return false;
}

/** §8.2.2 OpenSent, event 19: KEEPALIVE, negotiated timers, OpenConfirm. */
function enterOpenConfirm(c: Step, open: OpenMessage, sendKeepalive: boolean): void {
  const conn = c.s.conn;
  if (conn === undefined) return;
  conn.peerOpen = open;
  const session = negotiate(c.cfg, open);
  c.s.session = session;
  c.clearTimer('connectRetry');
  if (sendKeepalive) c.send(conn.id, { kind: 'keepalive' });
  if (session.holdTime > 0) {
    c.setTimer('hold', session.holdTime * 1000);
    c.setTimer('keepalive', session.keepaliveTime * 1000);
  } else {
    // §8.2.2: a negotiated hold time of zero starts neither timer.
    c.clearTimer('hold');
    c.clearTimer('keepalive');
  }
  c.go('OpenConfirm');
}

function onOtherMessage(c: Step, m: DecodedMessage): void {
  const o = c.s.other as Conn;
  if (m.kind === 'notification') {
    c.close(o.id);
    delete c.s.other;
    return;
  }
  if (m.kind === 'open' && o.peerOpen === undefined) {
    const e = checkOpen(c.cfg, m.open);
    if (e !== undefined) {
      c.send(o.id, { kind: 'notification', notification: notificationFromError(e) });
      c.close(o.id);
      delete c.s.other;
      return;
    }
    if (c.s.name === 'Connect' || c.s.name === 'Active') {
      // The main connection waits in DelayOpen; this one has spoken first: answer it.
      sendOpen(c, o.id);
    }
    o.peerOpen = m.open;
    o.phase = 'OpenConfirm';
    if (resolveCollision(c, 'other', m.open)) return;
    // No decision yet (the main connection has no OPEN): acknowledge and wait.
    c.send(o.id, { kind: 'keepalive' });
    return;
  }
  if (m.kind === 'keepalive') return;
  // Anything else before the collision is resolved: FSM error on that connection.
  c.send(o.id, { kind: 'notification', notification: { code: ErrorCode.FSM, subcode: FsmErrorSubcode.UNSPECIFIED, data: new Uint8Array(0) } });
  c.close(o.id);
  delete c.s.other;
}

/**
 * §6.8 collision detection, run when an OPEN arrives on `which` connection.
 * Returns true when it decided (and so handled the state change).
 */
function resolveCollision(c: Step, which: 'main' | 'other', open: OpenMessage): boolean {
  const main = c.s.conn;
  const other = c.s.other;
  if (main === undefined || other === undefined) return false;
  // Both need the peer's OPEN: the arriving one has it; the other must be in OpenConfirm.
  const otherHasOpen = which === 'main' ? other.peerOpen !== undefined : main.peerOpen !== undefined && c.s.name !== 'OpenSent';
  if (!otherHasOpen && c.s.name !== 'Established') return false;
  if (c.s.name === 'Established') {
    // Reached only for a peer with graceful restart (onConnected closes the others): it restarted (RFC 4724 §4.2).
    if (which !== 'other') return false;
    const oldId = main.id;
    c.close(oldId);
    c.clearAllTimers();
    c.emit({ kind: 'down', reason: { kind: 'peer-restarted' }, graceful: true });
    delete c.s.session;
    delete c.s.establishedAt;
    delete c.s.other;
    c.s.conn = { id: other.id, direction: other.direction, peerOpen: open };
    c.go('OpenSent'); // our OPEN went out when the connection arrived (onConnected)
    enterOpenConfirm(c, open, true);
    return true;
  }
  // The connection initiated by the higher BGP Identifier survives.
  const localHigher = ipv4ToNumber(c.cfg.routerId) > ipv4ToNumber(open.bgpId);
  const keepDirection: Direction = localHigher ? 'outbound' : 'inbound';
  const keepMain = main.direction === keepDirection || main.direction === other.direction;
  const [keep, drop] = keepMain ? [main.id, other.id] : [other.id, main.id];
  c.send(drop, { kind: 'notification', notification: collisionNotification() });
  c.close(drop);
  c.emit({ kind: 'collision', kept: keep, closed: drop });
  if (keepMain) {
    delete c.s.other;
    if (which === 'main') enterOpenConfirm(c, open, true);
    // which === 'other': the main connection is already in OpenConfirm; nothing changes.
    return true;
  }
  // Switch to the other connection.
  delete c.s.other;
  c.s.conn = { id: other.id, direction: other.direction, peerOpen: other.peerOpen ?? open };
  enterOpenConfirm(c, other.peerOpen ?? open, which === 'other');
  return true;
}
