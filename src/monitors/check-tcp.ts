/**
 * TCP check: up when the three-way handshake completes within the deadline.
 *
 * Optionally a short exchange, like HAProxy's `tcp-check send` / `expect`:
 * write `send` once connected, then wait for what the server says to contain
 * `expect` (a string, or a regex tested on the bytes read so far as latin1),
 * so a server that accepts but never answers, or answers the wrong thing, is
 * down. The connection is closed at once after, with a FIN (default) or a RST
 * (`close: 'reset'`, which leaves no TIME_WAIT on the director, as HAProxy does).
 */
import { connect } from 'node:net';
import { deadlineQueue } from './deadlines.js';
import { MonitorError } from './errors.js';
import { probeEngine, PROBE_RESET } from './native-probe.js';
import { DEFAULT_TIMEOUT_MS, describeError, runTimed, targetPort, type Outcome } from './result.js';
import { reportLater, START, type CheckSink, type RunningCheck } from './start.js';
import type { Check, CheckOptions, CheckResult, CheckTarget } from './types.js';

export interface TcpCheckOptions {
  /** Port to connect to; defaults to the target's port. */
  port?: number;
  /** Deadline for the whole check, ms (default 5000). */
  timeoutMs?: number;
  /** How to close: `'fin'` (default) or `'reset'`. */
  close?: 'fin' | 'reset';
  /** Bytes to write once connected. */
  send?: string | Uint8Array;
  /** What the server must say: a substring, or a regex tested on what it said so far (latin1). */
  expect?: string | RegExp;
  /** Bytes read at most while waiting for `expect` (default 4096). */
  maxReadBytes?: number;
}

export class TcpCheck implements Check {
  readonly kind = 'tcp';
  readonly #opts: TcpCheckOptions;
  constructor(options: TcpCheckOptions = {}) {
    const max = options.maxReadBytes ?? 4096;
    if (!Number.isInteger(max) || max < 1) throw new MonitorError('ERR_MONITOR_BAD_CONFIG', `maxReadBytes must be an integer >= 1, got ${max}`);
    this.#opts = options;
  }

  /**
   * The `Monitor`'s fast path (internal): a plain connect check (no `send` / `expect`) runs in the
   * native probe engine (`native-probe.ts`) when it can; otherwise it declines (undefined) and the
   * `Monitor` runs `check()`.
   */
  [START](target: CheckTarget, sink: CheckSink): RunningCheck | undefined {
    const o = this.#opts;
    const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const engine = o.send === undefined && o.expect === undefined && timeoutMs > 0 && Number.isFinite(timeoutMs) ? probeEngine() : null;
    if (engine !== null) {
      let port: number | undefined;
      try {
        port = targetPort(target, o.port, undefined, 'tcp');
      } catch (e) {
        return reportLater(sink, { ok: false, reason: describeError(e), latencyMs: 0 });
      }
      let prepared = this.#native.get(target);
      if (prepared === undefined || prepared.address !== target.address || prepared.port !== port) {
        prepared = { address: target.address, port, packed: engine.prepare(target.address, port, o.close === 'reset' ? PROBE_RESET : 0, 0, NO_STATUSES, undefined) };
        this.#native.set(target, prepared);
      }
      if (prepared.packed !== null) return engine.start(prepared.packed, target.address, port, null, timeoutMs, deadlineQueue(timeoutMs), sink);
    }
    return undefined;
  }

  readonly #native = new WeakMap<CheckTarget, { address: string; port: number; packed: Buffer | null }>();

  check(target: CheckTarget, options?: CheckOptions): Promise<CheckResult> {
    return runTimed((signal) => tcpExchange(target.address, targetPort(target, this.#opts.port, undefined, 'tcp'), signal, this.#opts), {
      signal: options?.signal,
      timeoutMs: this.#opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    });
  }
}

const NO_STATUSES = new Uint8Array(125);

function tcpExchange(host: string, port: number, signal: AbortSignal, o: TcpCheckOptions): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host, port });
    let done = false;
    const end = (fn: () => void): void => {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', onAbort);
      if (o.close === 'reset' && !sock.destroyed) sock.resetAndDestroy();
      else sock.destroy();
      fn();
    };
    const onAbort = (): void => end(() => reject(new Error('aborted')));
    signal.addEventListener('abort', onAbort, { once: true });
    const max = o.maxReadBytes ?? 4096;
    let said = '';
    const heard = (): Outcome | undefined => {
      const exp = o.expect as string | RegExp;
      const hit = typeof exp === 'string' ? said.includes(exp) : ((exp.lastIndex = 0), exp.test(said));
      if (hit) return { ok: true, reason: `connected; got ${JSON.stringify(preview(said))}` };
      if (said.length >= max) return { ok: false, reason: `no ${String(exp)} in the first ${max} bytes: ${JSON.stringify(preview(said))}` };
      return undefined;
    };
    sock.once('connect', () => {
      if (o.send !== undefined) sock.write(o.send);
      if (o.expect === undefined) end(() => resolve({ ok: true, reason: 'connected' }));
    });
    sock.on('data', (d: Buffer) => {
      if (o.expect === undefined || done) return;
      said += d.toString('latin1', 0, Math.min(d.length, max - said.length));
      const v = heard();
      if (v !== undefined) end(() => resolve(v));
    });
    sock.once('end', () => {
      if (o.expect !== undefined) end(() => resolve({ ok: false, reason: `server closed the connection; got ${JSON.stringify(preview(said))}, expected ${String(o.expect)}` }));
    });
    sock.on('error', (e) => end(() => reject(e)));
  });
}

function preview(s: string): string {
  return s.length > 80 ? `${s.slice(0, 80)}...` : s;
}
