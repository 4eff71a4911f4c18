/**
 * DNS check: one query over UDP to the server (port 53 by default), built and
 * parsed by `codec-dns.ts`. Up when the reply's rcode is an expected one
 * (default NOERROR) and, if asked, an answer matches. A reply with another id
 * or question is not ours and is ignored; a reply that doesn't decode is down;
 * no reply by the deadline is down; ICMP port unreachable is down at once.
 */
import { randomInt } from 'node:crypto';
import { DNS_RCODE, DNS_TYPE, decodeDnsMessage, dnsQuery, encodeDnsMessage, nameToLabels, rcodeName, typeName, type DnsRecord } from './codec-dns.js';
import { MonitorError } from './errors.js';
import { DEFAULT_TIMEOUT_MS, describeError, runTimed, targetPort } from './result.js';
import type { Check, CheckOptions, CheckResult, CheckTarget } from './types.js';
import { udpExchange } from './udp.js';

export interface DnsCheckOptions {
  /** Name to ask for. */
  name: string;
  /** Query type: a name from `DNS_TYPE` or a number (default `A`). */
  type?: keyof typeof DNS_TYPE | number;
  /** Port (default: the target's, else 53). */
  port?: number;
  /** Expected rcode(s) (default NOERROR). */
  expectRcode?: number | readonly number[];
  /**
   * An answer must match: a string equal to a record's decoded value (`192.0.2.7`, `2001:db8::7`,
   * `target.example`), a regex tested on it, or a predicate over the answer section.
   */
  expectAnswer?: string | RegExp | ((answers: DnsRecord[]) => boolean);
  /** Set RD (default true). */
  recursionDesired?: boolean;
  /** Deadline, ms (default 5000). */
  timeoutMs?: number;
}

export class DnsCheck implements Check {
  readonly kind = 'dns';
  readonly #o: DnsCheckOptions;
  readonly #type: number;
  readonly #rcodes: Set<number>;

  constructor(options: DnsCheckOptions) {
    this.#o = options;
    const t = options.type ?? 'A';
    this.#type = typeof t === 'number' ? t : DNS_TYPE[t];
    if (!Number.isInteger(this.#type) || this.#type < 0 || this.#type > 0xffff) throw new MonitorError('ERR_MONITOR_BAD_CONFIG', `bad DNS type ${String(t)}`);
    try {
      nameToLabels(options.name);
    } catch (e) {
      throw new MonitorError('ERR_MONITOR_BAD_CONFIG', `bad DNS name ${options.name}: ${describeError(e)}`, { cause: e });
    }
    const rc = options.expectRcode ?? DNS_RCODE.NOERROR;
    this.#rcodes = new Set(typeof rc === 'number' ? [rc] : rc);
  }

  check(target: CheckTarget, options?: CheckOptions): Promise<CheckResult> {
    const o = this.#o;
    const id = randomInt(0, 0x10000);
    const q = dnsQuery(id, o.name, this.#type);
    q.rd = o.recursionDesired ?? true;
    const payload = encodeDnsMessage(q);
    const wantName = o.name.replace(/\.$/, '').toLowerCase();
    return runTimed(
      async (signal) =>
        udpExchange({
          address: target.address,
          port: targetPort(target, o.port, 53, 'dns'),
          payload,
          signal,
          onReply: (buf) => {
            let m;
            try {
              m = decodeDnsMessage(buf);
            } catch (e) {
              // Only a reply we can tie to our query may judge the server; an undecodable one with our id is down.
              if (buf.length >= 2 && buf.readUInt16BE(0) === id) return { ok: false, reason: `malformed reply: ${describeError(e)}` };
              return undefined;
            }
            const qq = m.questions[0];
            if (m.id !== id || !m.qr) return undefined;
            // RFC 1035 §7.3: a reply must match the question asked; some servers omit it on errors.
            if (qq !== undefined && (qq.name.toLowerCase() !== (wantName === '' ? '.' : wantName) || qq.type !== this.#type)) return undefined;
            const details: Record<string, unknown> = {
              rcode: m.rcode,
              answers: m.answers.map((a) => ({ type: typeName(a.type), ...(a.value !== undefined ? { value: a.value } : {}) })),
            };
            if (!this.#rcodes.has(m.rcode)) return { ok: false, reason: `DNS ${rcodeName(m.rcode)}`, details };
            let matched = true;
            if (o.expectAnswer !== undefined) {
              try {
                matched = answerMatches(m.answers, o.expectAnswer);
              } catch (e) {
                return { ok: false, reason: `expectAnswer threw: ${describeError(e)}`, details };
              }
            }
            if (!matched) {
              return { ok: false, reason: `DNS ${rcodeName(m.rcode)}, no answer matched ${String(o.expectAnswer)}`, details };
            }
            return { ok: true, reason: `DNS ${rcodeName(m.rcode)}, ${m.answers.length} answer(s)`, details };
          },
        }),
      { signal: options?.signal, timeoutMs: o.timeoutMs ?? DEFAULT_TIMEOUT_MS },
    );
  }
}

function answerMatches(answers: DnsRecord[], m: string | RegExp | ((a: DnsRecord[]) => boolean)): boolean {
  if (typeof m === 'function') return m(answers);
  return answers.some((a) => {
    if (a.value === undefined) return false;
    if (typeof m === 'string') return a.value.toLowerCase() === m.toLowerCase();
    m.lastIndex = 0;
    return m.test(a.value);
  });
}
