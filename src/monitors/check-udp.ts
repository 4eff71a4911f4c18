/**
 * UDP check: one datagram to the server's port. An ICMP port unreachable
 * (ECONNREFUSED on the connected socket) marks it down. Without an expected
 * reply it is up when no error comes back within `quietMs`; with one, a reply
 * (optionally matching) must arrive before the deadline.
 */
import { MonitorError } from './errors.js';
import { DEFAULT_TIMEOUT_MS, runTimed, targetPort } from './result.js';
import type { Check, CheckOptions, CheckResult, CheckTarget } from './types.js';
import { udpExchange } from './udp.js';

export interface UdpCheckOptions {
  port?: number;
  /** Datagram to send (default: empty). */
  payload?: Uint8Array | string;
  /** Require a reply: `true` (any), or a string it contains / regex it matches (decoded as latin1). */
  expectReply?: boolean | string | RegExp;
  /** Without `expectReply`: how long to wait for an ICMP error before calling it up (default 200 ms). */
  quietMs?: number;
  /** Deadline, ms (default 5000). */
  timeoutMs?: number;
}

export class UdpCheck implements Check {
  readonly kind = 'udp';
  readonly #o: UdpCheckOptions;
  readonly #payload: Uint8Array;

  constructor(options: UdpCheckOptions = {}) {
    this.#o = options;
    const p = options.payload ?? new Uint8Array(0);
    this.#payload = typeof p === 'string' ? new TextEncoder().encode(p) : p;
    const quiet = options.quietMs ?? 200;
    if (!(quiet >= 0)) throw new MonitorError('ERR_MONITOR_BAD_CONFIG', `quietMs must be >= 0, got ${quiet}`);
  }

  check(target: CheckTarget, options?: CheckOptions): Promise<CheckResult> {
    const o = this.#o;
    const expect = o.expectReply ?? false;
    return runTimed(
      async (signal) =>
        udpExchange({
          address: target.address,
          port: targetPort(target, o.port, undefined, 'udp'),
          payload: this.#payload,
          signal,
          ...(expect === false ? { quietOkAfterMs: o.quietMs ?? 200 } : {}),
          onReply: (msg) => {
            if (expect === false || expect === true) return { ok: true, reason: `reply of ${msg.length} bytes`, details: { replyBytes: msg.length } };
            const text = msg.toString('latin1');
            const hit = typeof expect === 'string' ? text.includes(expect) : ((expect.lastIndex = 0), expect.test(text));
            return hit
              ? { ok: true, reason: `reply of ${msg.length} bytes matched`, details: { replyBytes: msg.length } }
              : { ok: false, reason: `reply did not match ${String(expect)}`, details: { replyBytes: msg.length } };
          },
        }),
      { signal: options?.signal, timeoutMs: o.timeoutMs ?? DEFAULT_TIMEOUT_MS },
    );
  }
}
