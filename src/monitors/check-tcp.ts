/**
 * TCP connect check: up when the three-way handshake completes within the
 * deadline. The connection is closed at once, with a FIN (default) or a RST
 * (`close: 'reset'`, which leaves no TIME_WAIT on the director, as HAProxy does).
 */
import { connect } from 'node:net';
import { DEFAULT_TIMEOUT_MS, runTimed, targetPort, type Outcome } from './result.js';
import type { Check, CheckOptions, CheckResult, CheckTarget } from './types.js';

export interface TcpCheckOptions {
  /** Port to connect to; defaults to the target's port. */
  port?: number;
  /** Deadline for the connect, ms (default 5000). */
  timeoutMs?: number;
  /** How to close after connecting: `'fin'` (default) or `'reset'`. */
  close?: 'fin' | 'reset';
}

export class TcpCheck implements Check {
  readonly kind = 'tcp';
  readonly #opts: TcpCheckOptions;
  constructor(options: TcpCheckOptions = {}) {
    this.#opts = options;
  }

  check(target: CheckTarget, options?: CheckOptions): Promise<CheckResult> {
    return runTimed((signal) => tcpConnect(target.address, targetPort(target, this.#opts.port, undefined, 'tcp'), signal, this.#opts.close ?? 'fin'), {
      signal: options?.signal,
      timeoutMs: this.#opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    });
  }
}

function tcpConnect(host: string, port: number, signal: AbortSignal, close: 'fin' | 'reset'): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host, port });
    const onAbort = (): void => {
      sock.destroy();
      reject(new Error('aborted'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    sock.once('connect', () => {
      signal.removeEventListener('abort', onAbort);
      if (close === 'reset') sock.resetAndDestroy();
      else sock.destroy();
      resolve({ ok: true, reason: 'connected' });
    });
    sock.once('error', (e) => {
      signal.removeEventListener('abort', onAbort);
      sock.destroy();
      reject(e);
    });
  });
}
