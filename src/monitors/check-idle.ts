/**
 * Idle connection check (PyBal's IdleConnection): one long-lived TCP
 * connection per server, held open and idle. It is stateful and pushes state
 * changes (`StatefulCheck.watch`) instead of being polled:
 *
 * - connected: up;
 * - lost uncleanly (reset, error, keepalive timeout): down at once, then
 *   reconnect with exponential backoff up to `maxDelayMs`;
 * - closed cleanly by the server (FIN), e.g. a restart or an idle timeout:
 *   not down yet, reconnect after `quickReconnectMs`; down only if that fails,
 *   or if the connection had lasted less than `minLifetimeMs` (a server that
 *   accepts and closes at once is not healthy and must not cause a storm);
 *   after a failure, a new connection counts as up once it has held for
 *   `minLifetimeMs`, and only then is the backoff reset;
 * - connect refused or timed out: down, retry with backoff.
 *
 * TCP keepalive (SO_KEEPALIVE, with TCP_KEEPIDLE = `keepAliveMs`) finds peers
 * that vanished without a word; Node sets the probe interval (1 s) and count
 * (10) itself and offers no way to change them. Timers run on the injected clock.
 */
import { connect, type Socket } from 'node:net';
import { realClock, type Clock, type TimerHandle } from '../util/clock.js';
import { MonitorError } from './errors.js';
import { describeError, targetPort } from './result.js';
import type { CheckResult, CheckTarget, StatefulCheck } from './types.js';

export interface IdleConnectionOptions {
  port?: number;
  /** Deadline for each connect, ms (default 5000). */
  connectTimeoutMs?: number;
  /** Delay before reconnecting after a clean close, ms (default 100). */
  quickReconnectMs?: number;
  /** A clean close sooner than this after connecting counts as a failure, ms (default 1000). */
  minLifetimeMs?: number;
  /** First retry delay after a failure, ms (default 1000); doubles each failure. */
  initialDelayMs?: number;
  /** Retry delay ceiling, ms (default 30000). */
  maxDelayMs?: number;
  /** TCP keepalive idle time, ms (default 10000); `false` turns keepalive off. */
  keepAliveMs?: number | false;
  /** Clock for retry and connect timers (default: real time). */
  clock?: Clock;
}

/** Delay before retry number `failures` (1-based): initial x 2^(failures-1), at most max. */
export function backoffDelay(failures: number, initialMs: number, maxMs: number): number {
  if (failures <= 1) return Math.min(initialMs, maxMs);
  return Math.min(maxMs, initialMs * Math.pow(2, Math.min(failures - 1, 40)));
}

export class IdleConnectionCheck implements StatefulCheck {
  readonly kind = 'idle';
  readonly #o: IdleConnectionOptions;

  constructor(options: IdleConnectionOptions = {}) {
    const o = options;
    for (const [k, v] of Object.entries({ connectTimeoutMs: o.connectTimeoutMs, initialDelayMs: o.initialDelayMs, maxDelayMs: o.maxDelayMs })) {
      if (v !== undefined && !(v > 0)) throw new MonitorError('ERR_MONITOR_BAD_CONFIG', `${k} must be > 0, got ${v}`);
    }
    this.#o = options;
  }

  watch(target: CheckTarget, onResult: (result: CheckResult) => void, options: { signal: AbortSignal }): void {
    new IdleWatcher(target, this.#o, onResult, options.signal).start();
  }
}

class IdleWatcher {
  readonly #target: CheckTarget;
  readonly #port: number;
  readonly #clock: Clock;
  readonly #o: Required<Omit<IdleConnectionOptions, 'port' | 'clock'>>;
  readonly #push: (r: CheckResult) => void;
  readonly #signal: AbortSignal;
  #sock: Socket | undefined;
  #timer: TimerHandle | undefined;
  #up: boolean | undefined;
  #failures = 0;
  #stopped = false;

  constructor(target: CheckTarget, o: IdleConnectionOptions, push: (r: CheckResult) => void, signal: AbortSignal) {
    this.#target = target;
    this.#port = targetPort(target, o.port, undefined, 'idle');
    this.#clock = o.clock ?? realClock;
    this.#o = {
      connectTimeoutMs: o.connectTimeoutMs ?? 5000,
      quickReconnectMs: o.quickReconnectMs ?? 100,
      minLifetimeMs: o.minLifetimeMs ?? 1000,
      initialDelayMs: o.initialDelayMs ?? 1000,
      maxDelayMs: o.maxDelayMs ?? 30_000,
      keepAliveMs: o.keepAliveMs ?? 10_000,
    };
    this.#push = push;
    this.#signal = signal;
  }

  start(): void {
    if (this.#signal.aborted) return;
    this.#signal.addEventListener('abort', () => this.#stop(), { once: true });
    this.#connect();
  }

  #stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#sock?.destroy();
    this.#sock = undefined;
  }

  #report(ok: boolean, reason: string, latencyMs: number, details?: Record<string, unknown>): void {
    if (this.#stopped || this.#up === ok) return;
    this.#up = ok;
    const r: CheckResult = { ok, reason, latencyMs };
    if (details !== undefined) r.details = details;
    this.#push(r);
  }

  #retry(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer?.cancel();
    this.#timer = this.#clock.setTimer(delayMs, () => this.#connect());
  }

  #failed(reason: string, latencyMs: number, extra?: Record<string, unknown>): void {
    this.#failures++;
    const delay = backoffDelay(this.#failures, this.#o.initialDelayMs, this.#o.maxDelayMs);
    this.#report(false, reason, latencyMs, { ...extra, retryInMs: delay, failures: this.#failures });
    this.#retry(delay);
  }

  #connect(): void {
    if (this.#stopped) return;
    const t0 = this.#clock.now();
    const sock = connect({ host: this.#target.address, port: this.#port });
    this.#sock = sock;
    let connectedAt: number | undefined;
    let stable: TimerHandle | undefined;
    let settled = false;
    const connectTimer = this.#clock.setTimer(this.#o.connectTimeoutMs, () => {
      if (connectedAt !== undefined || settled) return;
      settled = true;
      sock.destroy();
      this.#failed(`connect timed out after ${this.#o.connectTimeoutMs} ms`, this.#clock.now() - t0);
    });
    sock.on('connect', () => {
      connectTimer.cancel();
      if (settled) return;
      connectedAt = this.#clock.now();
      if (this.#o.keepAliveMs !== false) sock.setKeepAlive(true, this.#o.keepAliveMs);
      const latency = connectedAt - t0;
      if (this.#failures === 0) this.#report(true, 'connected', latency);
      else {
        // Recovering: the connection must hold for minLifetimeMs before it counts, so a server
        // that accepts and drops at once neither flaps the state nor resets the backoff.
        stable = this.#clock.setTimer(this.#o.minLifetimeMs, () => {
          this.#failures = 0;
          this.#report(true, 'connected', latency);
        });
      }
    });
    sock.on('data', () => undefined); // idle: whatever the server says is read and dropped
    let error: Error | undefined;
    sock.on('error', (e) => {
      error = e;
    });
    sock.on('close', (hadError) => {
      connectTimer.cancel();
      stable?.cancel();
      if (this.#sock === sock) this.#sock = undefined;
      if (settled || this.#stopped) return;
      settled = true;
      const now = this.#clock.now();
      if (connectedAt === undefined) {
        this.#failed(error ? describeError(error) : 'connection closed before it was established', now - t0);
        return;
      }
      const lived = now - connectedAt;
      if (lived >= this.#o.minLifetimeMs) this.#failures = 0;
      // A lost connection has no latency of its own; how long it lived goes in the details.
      if (hadError || error !== undefined) {
        this.#failed(`connection lost: ${error ? describeError(error) : 'error'}`, 0, { livedMs: lived });
      } else if (lived < this.#o.minLifetimeMs) {
        this.#failed(`server closed the connection after ${Math.round(lived)} ms`, 0, { livedMs: lived });
      } else {
        // Clean close of a connection that lived: reconnect quickly; down only if that fails.
        this.#retry(this.#o.quickReconnectMs);
      }
    });
  }
}
