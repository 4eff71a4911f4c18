/**
 * HTTP and HTTPS check, with a small HTTP/1.1 client of its own over
 * `net.connect` / `tls.connect` (`http-client.ts`): node:http's request and
 * response objects cost several times more CPU per check than the exchange
 * itself, which shows at thousands of checks a second.
 *
 * Connects to the real server's address (never resolving the service name)
 * while sending the service's `Host` header and, over TLS, its name as SNI
 * (`servername`); the certificate is verified against that name unless told
 * otherwise. Redirects are never followed: a 301 is just a status, and can be
 * the expected one. The body is read up to `maxBodyBytes` and matched against
 * a string or regex if asked; a connection that breaks mid-body is down.
 * A fresh connection per check (`Connection: close`, no keep-alive), so a
 * check sees what a new client would; the connection is closed as soon as the
 * answer is known, by default with a RST as HAProxy does (`close`).
 */
import { isIP } from 'node:net';
import { MonitorError } from './errors.js';
import { abortReason } from '../util/abort.js';
import { deadlineQueue, type DeadlineQueue } from './deadlines.js';
import { exchangeHttp, startHttp, type HttpExchange, type HttpJudge } from './http-client.js';
import { checkTimeout, DEFAULT_TIMEOUT_MS, describeError, targetPort, type Outcome } from './result.js';
import { reportLater, START, type CheckSink, type RunningCheck } from './start.js';
import { bodyStatuses, probeEngine, PROBE_HEAD, PROBE_HTTP, PROBE_RESET } from './native-probe.js';
import type { Check, CheckOptions, CheckResult, CheckTarget } from './types.js';

export interface HttpTlsOptions {
  /** CA certificate(s) (PEM) to verify the server against, instead of the system store. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Verify the server certificate (default true). `false` skips verification. */
  verify?: boolean;
  /** SNI and verification name; defaults to the Host header's name. */
  servername?: string;
}

export interface HttpCheckOptions {
  /** Request path (with query), default `/`. */
  path?: string;
  /** `GET` (default) or `HEAD`. */
  method?: 'GET' | 'HEAD';
  /** Host header (service name, may carry `:port`); defaults to the target's host, else its address (and port unless 80/443). */
  host?: string;
  /** Port; defaults to the target's port, else 80 / 443. */
  port?: number;
  /** HTTPS when set (`true` or TLS options). */
  tls?: boolean | HttpTlsOptions;
  /** Expected status codes: a code, a list, or a predicate. Default 200..299. Redirects are not followed. */
  expectStatus?: number | readonly number[] | ((status: number) => boolean);
  /** The body (first `maxBodyBytes`) must contain this string or match this regex. */
  bodyMatch?: string | RegExp;
  /** Body bytes read at most (default 65536); the rest is not read. */
  maxBodyBytes?: number;
  /** Extra request headers (names and values without CR or LF). `Host` and `Connection` are the check's own. */
  headers?: Record<string, string>;
  /** Deadline for the whole exchange, ms (default 5000). */
  timeoutMs?: number;
  /**
   * How to close the connection once the answer is known: `'reset'` (default
   * for plain HTTP) sends a RST, as HAProxy's checks do, so neither side keeps
   * the connection in TIME_WAIT (thousands of checks a second would otherwise
   * fill the kernel's table); `'fin'` closes cleanly, for servers that log
   * resets. HTTPS always closes with a FIN (after TLS close_notify).
   */
  close?: 'reset' | 'fin';
}

/** The request bytes and connection facts for one target, kept while the target stays the same. */
interface Prepared {
  address: string;
  port: number | undefined;
  host: string | undefined;
  exchange: HttpExchange;
  /** Packed for the native engine (`native-probe.ts`): undefined until first wanted, null when it cannot take this target. */
  native?: Buffer | null;
}

// RFC 9110 §5.1 field names are tokens; values carry no CR, LF or NUL (RFC 9110 §5.5).
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_VALUE = /[\r\n]|\0/;
// A request-target in origin form: no spaces or control characters (RFC 9112 §3.2).
const badPath = (p: string): boolean => {
  for (let i = 0; i < p.length; i++) {
    const c = p.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) return true;
  }
  return false;
};

export class HttpCheck implements Check {
  readonly kind: 'http' | 'https';
  readonly #o: HttpCheckOptions;
  readonly #statusOk: (s: number) => boolean;
  readonly #tls: HttpTlsOptions | undefined;
  /** Header lines after Host (user agent, extra headers, Connection: close), ready to send. */
  readonly #tail: string;
  readonly #prepared = new WeakMap<CheckTarget, Prepared>();
  readonly #judge: HttpJudge;
  readonly #timeoutMs: number;
  readonly #deadlines: DeadlineQueue;
  /** For the native engine: the statuses whose body is read; undefined when this configuration needs the Node path. */
  readonly #bodyStatuses: Uint8Array | undefined;

  constructor(options: HttpCheckOptions = {}) {
    this.#o = options;
    this.#tls = options.tls === undefined || options.tls === false ? undefined : options.tls === true ? {} : options.tls;
    this.kind = this.#tls ? 'https' : 'http';
    const e = options.expectStatus;
    if (e === undefined) this.#statusOk = (s) => s >= 200 && s <= 299;
    else if (typeof e === 'number') this.#statusOk = (s) => s === e;
    else if (typeof e === 'function') this.#statusOk = e;
    else {
      const set = new Set(e);
      this.#statusOk = (s) => set.has(s);
    }
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    checkTimeout(this.#timeoutMs);
    this.#deadlines = deadlineQueue(this.#timeoutMs);
    const max = options.maxBodyBytes ?? 65536;
    if (!Number.isInteger(max) || max < 0) throw new MonitorError('ERR_MONITOR_BAD_CONFIG', `maxBodyBytes must be a non-negative integer, got ${max}`);
    if (options.path !== undefined && (!options.path.startsWith('/') || badPath(options.path))) {
      throw new MonitorError('ERR_MONITOR_BAD_CONFIG', `path must start with '/' and hold no spaces or control characters, got ${JSON.stringify(options.path)}`);
    }
    if (options.method !== undefined && options.method !== 'GET' && options.method !== 'HEAD') {
      throw new MonitorError('ERR_MONITOR_BAD_CONFIG', `method must be GET or HEAD, got ${String(options.method)}`);
    }
    if (options.close !== undefined && options.close !== 'reset' && options.close !== 'fin') {
      throw new MonitorError('ERR_MONITOR_BAD_CONFIG', `close must be 'reset' or 'fin', got ${String(options.close)}`);
    }
    if (options.host !== undefined) checkHost(options.host);
    const headers: Record<string, string> = { 'user-agent': 'lvskit-monitor' };
    for (const [name, value] of Object.entries(options.headers ?? {})) {
      if (!TOKEN.test(name)) throw new MonitorError('ERR_MONITOR_BAD_CONFIG', `header name ${JSON.stringify(name)} is not a token (RFC 9110 §5.1)`);
      if (typeof value !== 'string' || BAD_VALUE.test(value)) throw new MonitorError('ERR_MONITOR_BAD_CONFIG', `header ${name} has CR, LF or NUL in its value`);
      const lower = name.toLowerCase();
      if (lower === 'host' || lower === 'connection' || lower === 'content-length' || lower === 'transfer-encoding') continue;
      if (lower === 'user-agent') delete headers['user-agent'];
      headers[name] = value;
    }
    this.#judge = new Verdicts(this.#statusOk, options.bodyMatch, options.method === 'HEAD', max);
    // The native engine takes plain HTTP without a body match, with expected statuses known in advance
    // (a predicate is called per check, in JS: Node path). The body is read exactly when the judge wants it.
    const head = options.method === 'HEAD';
    this.#bodyStatuses =
      this.#tls === undefined && options.bodyMatch === undefined && typeof e !== 'function' && max <= 0x7fffffff
        ? bodyStatuses((s) => !head && this.#statusOk(s)) : undefined;
    this.#tail = `${Object.entries(headers)
      .map(([n, v]) => `${n}: ${v}\r\n`)
      .join('')}connection: close\r\n\r\n`;
  }

  check(target: CheckTarget, options?: CheckOptions): Promise<CheckResult> {
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    let ex: HttpExchange;
    try {
      ex = this.#prepare(target).exchange;
    } catch (e) {
      return Promise.resolve({ ok: false, reason: describeError(e), latencyMs: 0 });
    }
    return exchangeHttp(ex, this.#judge, this.#timeoutMs, signal);
  }

  /** The `Monitor`'s fast path (internal): same exchange, reported to `sink`, stopped by `cancel()`. */
  [START](target: CheckTarget, sink: CheckSink): RunningCheck {
    let p: Prepared;
    try {
      p = this.#prepare(target);
    } catch (e) {
      return reportLater(sink, { ok: false, reason: describeError(e), latencyMs: 0 });
    }
    const ex = p.exchange;
    // The native engine when it can take this check (see native-probe.ts), else Node's sockets.
    if (this.#bodyStatuses !== undefined) {
      const engine = probeEngine();
      if (engine !== null) {
        if (p.native === undefined) {
          const flags = PROBE_HTTP | (ex.reset ? PROBE_RESET : 0) | (ex.head ? PROBE_HEAD : 0);
          p.native = engine.prepare(ex.address, ex.port, flags, ex.maxBodyBytes, this.#bodyStatuses, ex.request);
        }
        if (p.native !== null) return engine.start(p.native, ex.address, ex.port, this.#judge, this.#timeoutMs, this.#deadlines, sink);
      }
    }
    return startHttp(ex, this.#judge, this.#timeoutMs, this.#deadlines, sink);
  }

  #prepare(target: CheckTarget): Prepared {
    const p = this.#prepared.get(target);
    if (p !== undefined && p.address === target.address && p.port === target.port && p.host === target.host) return p;
    const o = this.#o;
    const tls = this.#tls;
    const port = targetPort(target, o.port, tls ? 443 : 80, this.kind);
    // Without a name, the authority is the address, with the port unless it is the scheme's default (RFC 9110 §7.2).
    const defaultPort = port === (tls ? 443 : 80);
    const hostHeader =
      o.host ?? target.host ?? `${isIP(target.address) === 6 ? `[${target.address}]` : target.address}${defaultPort ? '' : `:${port}`}`;
    checkHost(hostHeader);
    const method = o.method ?? 'GET';
    const exchange: HttpExchange = {
      address: target.address,
      port,
      request: Buffer.from(`${method} ${o.path ?? '/'} HTTP/1.1\r\nhost: ${hostHeader}\r\n${this.#tail}`, 'latin1'),
      head: method === 'HEAD',
      maxBodyBytes: o.maxBodyBytes ?? 65536,
      keepBody: o.bodyMatch !== undefined,
      reset: (o.close ?? 'reset') === 'reset',
    };
    if (tls) {
      const servername = tls.servername ?? stripPort(hostHeader);
      exchange.tls = { servername, verify: tls.verify ?? true };
      if (tls.ca !== undefined) exchange.tls.ca = tls.ca;
    }
    const prepared: Prepared = { address: target.address, port: target.port, host: target.host, exchange };
    this.#prepared.set(target, prepared);
    return prepared;
  }
}

/** What a response means for one check configuration: status first, then (if needed) the body. */
class Verdicts implements HttpJudge {
  readonly #statusOk: (s: number) => boolean;
  readonly #bodyMatch: string | RegExp | undefined;
  readonly #head: boolean;
  readonly #maxBody: number;
  constructor(statusOk: (s: number) => boolean, bodyMatch: string | RegExp | undefined, head: boolean, maxBody: number) {
    this.#statusOk = statusOk;
    this.#bodyMatch = bodyMatch;
    this.#head = head;
    this.#maxBody = maxBody;
  }

  #ok(status: number): boolean | Error {
    try {
      return this.#statusOk(status);
    } catch (e) {
      return e instanceof Error ? e : new Error(String(e));
    }
  }

  onStatus(status: number, _location: string | undefined, details: Record<string, unknown>): Outcome | undefined {
    const ok = this.#ok(status);
    // A throwing expectStatus predicate is a bug in the caller's config: down, never an uncaught exception.
    if (ok instanceof Error) return { ok: false, reason: `expectStatus threw: ${describeError(ok)}`, details };
    if (this.#head || (!ok && this.#bodyMatch === undefined)) return { ok, reason: statusReason(status), details };
    return undefined;
  }

  onBody(status: number, body: string | undefined, bytes: number, capped: boolean, details: Record<string, unknown>): Outcome {
    details.bodyBytes = bytes;
    if (capped) details.bodyCapped = true;
    if (this.#ok(status) !== true) return { ok: false, reason: statusReason(status), details };
    const m = this.#bodyMatch;
    if (m !== undefined && !matches(body ?? '', m)) {
      return { ok: false, reason: `HTTP ${status}, body did not match ${String(m)}${capped ? ` in the first ${this.#maxBody} bytes` : ''}`, details };
    }
    return { ok: true, reason: statusReason(status), details };
  }
}

/** `HTTP 200` and the like, built once per status code. */
const REASONS: string[] = [];
function statusReason(status: number): string {
  if (status < 100 || status > 999) return `HTTP ${status}`;
  return (REASONS[status] ??= `HTTP ${status}`);
}

/** A check that cannot start: its result, reported from a later turn as `START` promises. */
function checkHost(host: string): void {
  if (host === '' || /[\s\0]/.test(host)) throw new MonitorError('ERR_MONITOR_BAD_CONFIG', `Host ${JSON.stringify(host)} is empty or has whitespace or NUL`);
}

function matches(body: string, m: string | RegExp): boolean {
  if (typeof m === 'string') return body.includes(m);
  m.lastIndex = 0;
  return m.test(body);
}

/** `example.org:8080` -> `example.org`, `[2001:db8::1]:80` -> `2001:db8::1`. */
function stripPort(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end > 0 ? host.slice(1, end) : host;
  }
  const colon = host.indexOf(':');
  return colon >= 0 && host.indexOf(':', colon + 1) < 0 ? host.slice(0, colon) : host;
}
