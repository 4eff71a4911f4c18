/**
 * A BGP session with one peer: the thin driver that joins the pure FSM
 * (fsm.ts) to a clock, TCP sockets, the framer and the codec.
 *
 * It owns no protocol logic: every decision is the FSM's. It performs the
 * FSM's actions (connect, send, close, timers), turns socket events and
 * decoded messages into FSM events, and re-emits the FSM's emits as typed
 * events. Inbound connections arrive through `acceptConnection(socket)` from
 * whoever listens on port 179 (the speaker), since one listener serves every
 * peer.
 *
 * eventemitter3 does not throw on an unhandled 'error', so failures also show
 * in `state` and in the 'down' / 'attempt-failed' events.
 */
import { connect as netConnect } from 'node:net';
import type { Socket } from 'node:net';
import { EventEmitter } from 'eventemitter3';
import type { Clock, TimerHandle } from '../util/clock.js';
import { realClock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { noopLogger } from '../util/logger.js';
import { BGP_MAX_EXTENDED_MESSAGE_LENGTH, BGP_PORT } from './constants.js';
import { MessageFramer } from './codec-header.js';
import { decodeMessage, encodeMessage } from './codec.js';
import type { BgpMessage } from './codec.js';
import type { NotificationMessage, RouteRefreshMessage } from './codec-messages.js';
import { describeNotification } from './codec-messages.js';
import type { UpdateMessage, UpdateVerdict } from './codec-update.js';
import { BgpError } from './errors.js';
import { createFsm, step } from './fsm.js';
import type { DownReason, FsmAction, FsmConfig, FsmEvent, FsmState, FsmStateName, NegotiatedSession, TimerName } from './fsm.js';

export interface BgpSessionOptions {
  fsm: FsmConfig;
  /** The peer's address, for outbound connections. */
  remoteAddress: string;
  remotePort?: number;
  /** Source address for outbound connections. */
  localAddress?: string;
  clock?: Clock;
  logger?: Logger;
  /** Open an outbound TCP connection (default `net.connect`); for tests and for socket options. */
  connect?: (o: { host: string; port: number; localAddress?: string }) => Socket;
}

export interface BgpSessionEvents {
  state: [to: FsmStateName, from: FsmStateName];
  established: [session: NegotiatedSession];
  down: [reason: DownReason, graceful: boolean];
  'attempt-failed': [reason: DownReason];
  update: [verdict: UpdateVerdict];
  'route-refresh': [message: RouteRefreshMessage];
}

interface Connection {
  socket: Socket;
  framer: MessageFramer;
}

export class BgpSession extends EventEmitter<BgpSessionEvents> {
  readonly #opts: BgpSessionOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  #state: FsmState;
  readonly #conns = new Map<number, Connection>();
  /** Armed timers: `at` when the handle fires, `due` when the FSM wants it (>= at). */
  readonly #timers = new Map<TimerName, { handle: TimerHandle; at: number; due: number }>();
  #pendingConnect: Socket | undefined;
  #nextId = 1;
  #queue: FsmEvent[] = [];
  #dispatching = false;

  constructor(options: BgpSessionOptions) {
    super();
    this.#opts = options;
    this.#clock = options.clock ?? realClock;
    this.#log = (options.logger ?? noopLogger).child({ peer: options.remoteAddress });
    this.#state = createFsm(options.fsm);
  }

  /** The FSM state name. */
  get state(): FsmStateName {
    return this.#state.name;
  }

  /** Direction of the TCP connection the session runs on (after a collision, the surviving one). */
  get connectionDirection(): 'inbound' | 'outbound' | undefined {
    return this.#state.conn?.direction;
  }

  /** Our address on the connection the session runs on (a default next hop). */
  get localAddress(): string | undefined {
    const id = this.#state.conn?.id;
    const a = id === undefined ? undefined : this.#conns.get(id)?.socket.localAddress;
    return a?.startsWith('::ffff:') === true && a.includes('.') ? a.slice(7) : a;
  }

  /** What the OPEN exchange negotiated, from OpenConfirm on. */
  get negotiated(): NegotiatedSession | undefined {
    return this.#state.session;
  }

  start(): void {
    this.#dispatch({ type: 'start' });
  }

  /**
   * ManualStop: send `notification` (default Cease / Administrative Shutdown)
   * and close; with `{ silent: true }` close without a NOTIFICATION (graceful
   * restart: the peer keeps our routes, RFC 4724 §4.2).
   */
  stop(notification?: NotificationMessage, options: { silent?: boolean } = {}): void {
    this.#dispatch({ type: 'stop', ...(notification === undefined ? {} : { notification }), ...(options.silent === true ? { silent: true } : {}) });
  }

  /** AutomaticStop: send `notification`, close, and restart after the idle hold (e.g. maximum prefixes). */
  automaticStop(notification: NotificationMessage): void {
    this.#dispatch({ type: 'automatic-stop', notification });
  }

  /** Hand over an inbound TCP connection from this peer. */
  acceptConnection(socket: Socket): void {
    const id = this.#register(socket);
    this.#dispatch({ type: 'tcp-connected', conn: id, direction: 'inbound' });
  }

  /** Send UPDATEs; false (nothing sent) unless Established. */
  sendUpdates(updates: readonly UpdateMessage[]): boolean {
    return this.#sendEstablished(updates.map((update) => ({ kind: 'update', update })));
  }

  sendRouteRefresh(message: RouteRefreshMessage): boolean {
    return this.#sendEstablished([{ kind: 'route-refresh', routeRefresh: message }]);
  }

  #sendEstablished(msgs: BgpMessage[]): boolean {
    const id = this.#state.conn?.id;
    const c = id === undefined ? undefined : this.#conns.get(id);
    if (this.#state.name !== 'Established' || c === undefined) return false;
    const opts = this.#state.session?.encodeOptions ?? {};
    for (const m of msgs) c.socket.write(encodeMessage(m, opts));
    return true;
  }

  #register(socket: Socket): number {
    const id = this.#nextId++;
    const framer = new MessageFramer();
    this.#conns.set(id, { socket, framer });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#onData(id, chunk));
    socket.on('error', (e) => this.#log.debug({ err: e, conn: id }, 'socket error'));
    socket.on('close', () => {
      if (this.#conns.delete(id)) this.#dispatch({ type: 'tcp-closed', conn: id });
    });
    return id;
  }

  #onData(id: number, chunk: Buffer): void {
    const c = this.#conns.get(id);
    if (c === undefined) return;
    let frames: Uint8Array[];
    try {
      frames = c.framer.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    } catch (e) {
      if (e instanceof BgpError) this.#dispatch({ type: 'decode-error', conn: id, error: e });
      else throw e;
      return;
    }
    for (const f of frames) {
      // Options follow the negotiation: an OPEN changes how the next UPDATE decodes.
      const opts = this.#state.session?.decodeOptions ?? {};
      try {
        this.#dispatch({ type: 'message', conn: id, message: decodeMessage(f, 0, opts) });
      } catch (e) {
        if (!(e instanceof BgpError)) throw e;
        this.#log.warn({ conn: id, code: e.code }, e.message);
        this.#dispatch({ type: 'decode-error', conn: id, error: e });
        return;
      }
      if (!this.#conns.has(id)) return;
    }
  }

  #dispatch(event: FsmEvent): void {
    this.#queue.push(event);
    if (this.#dispatching) return;
    this.#dispatching = true;
    try {
      // Each event's actions may queue more events; the FSM bounds how many (one per action at most).
      for (let n = 0; n < 10_000 && this.#queue.length > 0; n++) {
        const ev = this.#queue.shift() as FsmEvent;
        const r = step(this.#state, ev, this.#clock.now());
        this.#state = r.state;
        for (const a of r.actions) this.#perform(a);
        if (this.#state.session?.extendedMessage === true) {
          for (const c of this.#conns.values()) c.framer.maxLength = BGP_MAX_EXTENDED_MESSAGE_LENGTH;
        }
      }
    } finally {
      this.#dispatching = false;
    }
  }

  #arm(name: TimerName, at: number): void {
    const t = { handle: undefined as TimerHandle | undefined, at, due: at };
    const fire = (): void => {
      if (this.#timers.get(name) !== t) return;
      if (t.due > t.at) {
        t.at = t.due;
        t.handle = this.#clock.setTimer(t.due - this.#clock.now(), fire);
        return;
      }
      this.#timers.delete(name);
      this.#dispatch({ type: 'timer', timer: name });
    };
    this.#timers.set(name, t as { handle: TimerHandle; at: number; due: number });
    t.handle = this.#clock.setTimer(at - this.#clock.now(), fire);
  }

  #perform(a: FsmAction): void {
    switch (a.type) {
      case 'connect': {
        const o = this.#opts;
        const target = { host: o.remoteAddress, port: o.remotePort ?? BGP_PORT, ...(o.localAddress === undefined ? {} : { localAddress: o.localAddress }) };
        let s: Socket;
        try {
          s = (o.connect ?? netConnect)(target);
        } catch (e) {
          // A connect hook that fails at once (a socket option the kernel refuses): a failed attempt,
          // retried after ConnectRetry like a refused connection, never an exception out of a timer.
          this.#log.warn({ err: e }, `cannot open a connection to the peer: ${e instanceof Error ? e.message : String(e)}`);
          this.#dispatch({ type: 'tcp-connect-failed' });
          return;
        }
        this.#pendingConnect = s;
        const onError = (): void => {
          if (this.#pendingConnect !== s) return;
          this.#pendingConnect = undefined;
          s.destroy();
          this.#dispatch({ type: 'tcp-connect-failed' });
        };
        s.once('error', onError);
        s.once('connect', () => {
          if (this.#pendingConnect !== s) {
            s.destroy();
            return;
          }
          this.#pendingConnect = undefined;
          s.off('error', onError);
          const id = this.#register(s);
          this.#dispatch({ type: 'tcp-connected', conn: id, direction: 'outbound' });
        });
        return;
      }
      case 'abort-connect':
        this.#pendingConnect?.destroy();
        this.#pendingConnect = undefined;
        return;
      case 'send': {
        const c = this.#conns.get(a.conn);
        if (c === undefined) return;
        if (a.message.kind === 'notification') this.#log.info({ conn: a.conn }, `sending NOTIFICATION ${describeNotification(a.message.notification)}`);
        c.socket.write(encodeMessage(a.message, this.#state.session?.encodeOptions ?? {}));
        return;
      }
      case 'close': {
        const c = this.#conns.get(a.conn);
        if (c === undefined) return;
        this.#conns.delete(a.conn);
        // end() lets a NOTIFICATION written just before go out; destroy after a grace period regardless.
        c.socket.end();
        const t = this.#clock.setTimer(1000, () => c.socket.destroy());
        c.socket.once('close', () => t.cancel());
        return;
      }
      case 'set-timer': {
        // The hold timer is set again for every UPDATE (a million times for a full table): when it
        // moves later, only its due time changes, and the armed timer re-arms for the rest when it fires.
        const t = this.#timers.get(a.timer);
        if (t !== undefined && a.at >= t.at) {
          t.due = a.at;
          return;
        }
        t?.handle.cancel();
        this.#arm(a.timer, a.at);
        return;
      }
      case 'clear-timer':
        this.#timers.get(a.timer)?.handle.cancel();
        this.#timers.delete(a.timer);
        return;
      case 'emit': {
        const e = a.event;
        switch (e.kind) {
          case 'state':
            this.#log.debug(`${e.from} -> ${e.to}`);
            this.emit('state', e.to, e.from);
            return;
          case 'established':
            this.#log.info({ peerAs: e.session.peerAs, holdTime: e.session.holdTime }, 'session established');
            this.emit('established', e.session);
            return;
          case 'down':
            this.#log.info({ reason: e.reason.kind, graceful: e.graceful }, 'session down');
            this.emit('down', e.reason, e.graceful);
            return;
          case 'attempt-failed':
            this.emit('attempt-failed', e.reason);
            return;
          case 'update':
            this.emit('update', e.verdict);
            return;
          case 'route-refresh':
            this.emit('route-refresh', e.message);
            return;
          case 'collision':
            this.#log.info({ kept: e.kept, closed: e.closed }, 'connection collision resolved');
            return;
        }
      }
    }
  }
}
