/**
 * HTTP and HTTPS check (node:http / node:https).
 *
 * Connects to the real server's address (never resolving the service name)
 * while sending the service's `Host` header and, over TLS, its name as SNI
 * (`servername`); the certificate is verified against that name unless told
 * otherwise. Redirects are never followed: a 301 is just a status, and can be
 * the expected one. The body is read up to `maxBodyBytes` and matched against
 * a string or regex if asked; a connection that breaks mid-body is down.
 * A fresh connection per check (no agent keep-alive), so a check sees what a
 * new client would.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { MonitorError } from './errors.js';
import { DEFAULT_TIMEOUT_MS, describeError, runTimed, targetPort, type Outcome } from './result.js';
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
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** Deadline for the whole exchange, ms (default 5000). */
  timeoutMs?: number;
}

export class HttpCheck implements Check {
  readonly kind: 'http' | 'https';
  readonly #o: HttpCheckOptions;
  readonly #statusOk: (s: number) => boolean;

  constructor(options: HttpCheckOptions = {}) {
    this.#o = options;
    this.kind = options.tls ? 'https' : 'http';
    const e = options.expectStatus;
    if (e === undefined) this.#statusOk = (s) => s >= 200 && s <= 299;
    else if (typeof e === 'number') this.#statusOk = (s) => s === e;
    else if (typeof e === 'function') this.#statusOk = e;
    else {
      const set = new Set(e);
      this.#statusOk = (s) => set.has(s);
    }
    const max = options.maxBodyBytes ?? 65536;
    if (!Number.isInteger(max) || max < 0) throw new MonitorError('ERR_MONITOR_BAD_CONFIG', `maxBodyBytes must be a non-negative integer, got ${max}`);
    if (options.path !== undefined && !options.path.startsWith('/')) {
      throw new MonitorError('ERR_MONITOR_BAD_CONFIG', `path must start with '/', got ${options.path}`);
    }
  }

  check(target: CheckTarget, options?: CheckOptions): Promise<CheckResult> {
    return runTimed((signal) => this.#exchange(target, signal), {
      signal: options?.signal,
      timeoutMs: this.#o.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    });
  }

  #exchange(target: CheckTarget, signal: AbortSignal): Promise<Outcome> {
    const o = this.#o;
    const tls = o.tls === undefined || o.tls === false ? undefined : o.tls === true ? {} : o.tls;
    const port = targetPort(target, o.port, tls ? 443 : 80, this.kind);
    // Without a name, the authority is the address, with the port unless it is the scheme's default (RFC 9110 §7.2).
    const defaultPort = port === (tls ? 443 : 80);
    const hostHeader =
      o.host ?? target.host ?? `${isIP(target.address) === 6 ? `[${target.address}]` : target.address}${defaultPort ? '' : `:${port}`}`;
    const hostName = stripPort(hostHeader);
    const maxBody = o.maxBodyBytes ?? 65536;
    const method = o.method ?? 'GET';
    const req: RequestOptions & Record<string, unknown> = {
      host: target.address,
      port,
      method,
      path: o.path ?? '/',
      headers: { 'user-agent': 'lvskit-monitor', ...o.headers, host: hostHeader, connection: 'close' },
      agent: tls ? HTTPS_AGENT : HTTP_AGENT,
      signal,
    };
    if (tls) {
      const servername = tls.servername ?? hostName;
      // SNI carries names only (RFC 6066 §3); an IP literal is verified against the certificate's IP SANs without SNI.
      req.servername = isIP(servername) ? '' : servername;
      req.rejectUnauthorized = tls.verify ?? true;
      if (tls.ca !== undefined) req.ca = tls.ca;
    }
    const send = tls ? httpsRequest : httpRequest;
    return new Promise<Outcome>((resolve, reject) => {
      let gotStatus: number | undefined;
      const r = send(req, (res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        gotStatus = status;
        const details: Record<string, unknown> = { status };
        const location = res.headers.location;
        if (location !== undefined) details.location = location;
        let statusOk: boolean;
        try {
          statusOk = this.#statusOk(status);
        } catch (e) {
          // A throwing expectStatus predicate is a bug in the caller's config: down, never an uncaught exception.
          res.destroy();
          resolve({ ok: false, reason: `expectStatus threw: ${describeError(e)}`, details });
          return;
        }
        if (method === 'HEAD' || (!statusOk && o.bodyMatch === undefined)) {
          res.destroy();
          resolve({ ok: statusOk, reason: `HTTP ${status}`, details });
          return;
        }
        const chunks: Buffer[] = [];
        let have = 0;
        let capped = false;
        // The body is kept only when it is to be matched; otherwise it is just counted.
        const keep = o.bodyMatch !== undefined;
        const done = (): void => {
          details.bodyBytes = have;
          if (capped) details.bodyCapped = true;
          if (!statusOk) {
            resolve({ ok: false, reason: `HTTP ${status}`, details });
          } else if (o.bodyMatch !== undefined && !matches(Buffer.concat(chunks).toString('utf8'), o.bodyMatch)) {
            resolve({ ok: false, reason: `HTTP ${status}, body did not match ${String(o.bodyMatch)}${capped ? ` in the first ${maxBody} bytes` : ''}`, details });
          } else {
            resolve({ ok: true, reason: `HTTP ${status}`, details });
          }
        };
        res.on('data', (chunk: Buffer) => {
          if (capped) return;
          const room = maxBody - have;
          if (chunk.length >= room) {
            if (keep) chunks.push(chunk.subarray(0, room));
            have += room;
            capped = true;
            res.destroy();
            done();
            return;
          }
          if (keep) chunks.push(chunk);
          have += chunk.length;
        });
        res.on('end', () => {
          if (!capped) done();
        });
        res.on('error', (e) => {
          if (capped) return;
          resolve({ ok: false, reason: `HTTP ${status}, response broken mid-body: ${describeError(e)}`, details });
        });
        res.on('close', () => {
          if (!capped && !res.complete) {
            resolve({ ok: false, reason: `HTTP ${status}, response broken mid-body`, details });
          }
        });
      });
      r.on('error', (e) => {
        if (gotStatus === undefined) reject(e);
        else resolve({ ok: false, reason: `HTTP ${gotStatus}, response broken mid-body: ${describeError(e)}`, details: { status: gotStatus } });
      });
      r.end();
    });
  }
}

// One shared agent per protocol, without keep-alive: every check opens (and closes) its own connection,
// but skips building a throwaway Agent per request as `agent: false` does.
const HTTP_AGENT = new HttpAgent({ keepAlive: false, maxSockets: Infinity });
const HTTPS_AGENT = new HttpsAgent({ keepAlive: false, maxSockets: Infinity, maxCachedSessions: 0 });

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
