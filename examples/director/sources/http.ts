/**
 * A pool document at an HTTP(S) URL, polled.
 *
 * Each poll is one GET with a deadline; `If-None-Match` carries the last ETag so
 * an unchanged pool costs a 304. A non-2xx status, a refused/hung connection, an
 * oversized or malformed body all keep the last good pool (state `stale`, typed
 * error) and the next try comes sooner (backoff from `backoff.initialMs`, never
 * slower than the regular interval).
 */
import http from 'node:http';
import https from 'node:https';
import { BaseSource, Backoff } from './base.js';
import { netErrorText, PoolParseError, PoolSourceError } from './errors.js';
import { parsePool } from './parse.js';
import type { HttpPoolSpec, PoolSourceContext } from './types.js';

export const MAX_POOL_BODY_BYTES = 16 * 1024 * 1024;

export class HttpSource extends BaseSource {
  readonly type = 'http' as const;
  private readonly spec: HttpPoolSpec;
  private readonly url: URL;
  private readonly backoff: Backoff;
  private etag: string | undefined;
  private inflight: AbortController | undefined;

  constructor(spec: HttpPoolSpec, ctx: PoolSourceContext) {
    let url: URL;
    try {
      url = new URL(spec.url);
    } catch (e) {
      throw new PoolSourceError('ERR_POOL_SPEC', `service ${ctx.service}: pool URL ${JSON.stringify(spec.url)} is not a URL`, { cause: e });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new PoolSourceError('ERR_POOL_SPEC', `service ${ctx.service}: pool URL must be http or https, not ${url.protocol}`);
    }
    super(ctx, url.href);
    this.spec = spec;
    this.url = url;
    this.backoff = new Backoff(spec.backoff);
  }

  protected async run(): Promise<void> {
    await this.pollLoop();
  }

  private async pollLoop(): Promise<void> {
    const ok = await this.fetchOnce();
    const interval = this.spec.intervalMs ?? 10_000;
    this.later(ok ? interval : Math.min(this.backoff.next(), interval), () => void this.pollLoop());
  }

  /** One poll; true when the source is fresh afterwards. */
  async fetchOnce(): Promise<boolean> {
    if (this.stopped) return false;
    const timeoutMs = this.spec.timeoutMs ?? 5_000;
    const ac = new AbortController();
    this.inflight = ac;
    try {
      const headers: Record<string, string> = { accept: 'application/yaml, application/json, text/plain;q=0.9', ...(this.spec.headers ?? {}) };
      if (this.etag !== undefined && this.last !== undefined) headers['if-none-match'] = this.etag;
      const res = await httpGet(this.url, headers, timeoutMs, MAX_POOL_BODY_BYTES, ac.signal);
      if (res.status === 304 && this.last !== undefined) {
        this.good(this.last.entries, this.etag);
        this.backoff.reset();
        return true;
      }
      if (res.status < 200 || res.status > 299) {
        throw new PoolSourceError('ERR_POOL_HTTP_STATUS', `pool URL answered HTTP ${res.status}`, { where: this.origin, status: res.status });
      }
      let text: string;
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(res.body);
      } catch (e) {
        throw new PoolParseError('pool body is not valid UTF-8', { where: this.origin, cause: e });
      }
      if (text.trim() === '') throw new PoolParseError('pool URL returned an empty body (serve [] for an intentionally empty pool)', { where: this.origin, line: 1 });
      const entries = parsePool(text, this.spec.format ?? 'auto', this.origin);
      this.etag = res.etag;
      this.good(entries, this.etag);
      this.backoff.reset();
      return true;
    } catch (err) {
      if (this.stopped) return false;
      this.bad(err instanceof PoolSourceError ? err : new PoolSourceError('ERR_POOL_HTTP_UNREACHABLE', String(err), { where: this.origin, cause: err }));
      return false;
    } finally {
      if (this.inflight === ac) this.inflight = undefined;
    }
  }

  protected close(): void {
    this.inflight?.abort(new PoolSourceError('ERR_POOL_HTTP_UNREACHABLE', 'source stopped', { where: this.origin }));
  }
}

interface HttpAnswer {
  status: number;
  etag: string | undefined;
  body: Buffer;
}

/**
 * GET with a deadline over the whole exchange, a body cap, and up to 3 redirects.
 * node:http rather than fetch: fetch refuses some ports outright ("bad port":
 * 6000, 6665-6669, 10080, ...), which a pool server may well use.
 */
function httpGet(url: URL, headers: Record<string, string>, timeoutMs: number, max: number, signal: AbortSignal, redirects = 3): Promise<HttpAnswer> {
  const where = url.href;
  return new Promise<HttpAnswer>((resolve, reject) => {
    let done = false;
    const finish = (err: PoolSourceError | undefined, value?: HttpAnswer): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      if (err) {
        req.destroy();
        reject(err);
      } else resolve(value!);
    };
    const onAbort = (): void => finish(new PoolSourceError('ERR_POOL_HTTP_UNREACHABLE', 'request aborted (source stopped)', { where }));
    const timer = setTimeout(() => finish(new PoolSourceError('ERR_POOL_TIMEOUT', `no complete answer within ${timeoutMs} ms`, { where })), timeoutMs);
    signal.addEventListener('abort', onAbort, { once: true });
    const get = url.protocol === 'https:' ? https.get : http.get;
    const req = get(url, { headers }, (res) => {
      const status = res.statusCode ?? 0;
      const loc = res.headers.location;
      if (status >= 300 && status < 400 && status !== 304 && loc !== undefined) {
        res.resume();
        if (redirects <= 0) return finish(new PoolSourceError('ERR_POOL_HTTP_STATUS', `too many redirects (last HTTP ${status})`, { where, status }));
        let next: URL;
        try {
          next = new URL(loc, url);
        } catch {
          return finish(new PoolSourceError('ERR_POOL_HTTP_STATUS', `redirect to an invalid URL ${JSON.stringify(loc)}`, { where, status }));
        }
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        done = true;
        httpGet(next, headers, timeoutMs, max, signal, redirects - 1).then(resolve, reject);
        return;
      }
      const len = Number(res.headers['content-length'] ?? NaN);
      if (Number.isFinite(len) && len > max) {
        return finish(new PoolSourceError('ERR_POOL_HTTP_STATUS', `pool body of ${len} bytes is larger than ${max}`, { where, status }));
      }
      const chunks: Buffer[] = [];
      let total = 0;
      res.on('data', (c: Buffer) => {
        total += c.length;
        if (total > max) finish(new PoolSourceError('ERR_POOL_HTTP_STATUS', `pool body larger than ${max} bytes`, { where, status }));
        else chunks.push(c);
      });
      res.on('error', (err) => finish(new PoolSourceError('ERR_POOL_HTTP_UNREACHABLE', `answer cut short: ${netErrorText(err)}`, { where, cause: err })));
      res.on('aborted', () => finish(new PoolSourceError('ERR_POOL_HTTP_UNREACHABLE', 'answer cut short (connection closed)', { where })));
      res.on('end', () => {
        const etag = res.headers.etag;
        finish(undefined, { status, etag: typeof etag === 'string' ? etag : undefined, body: Buffer.concat(chunks) });
      });
    });
    req.on('error', (err) =>
      finish(new PoolSourceError('ERR_POOL_HTTP_UNREACHABLE', `cannot fetch pool URL: ${netErrorText(err)}`, { where, cause: err })),
    );
  });
}
