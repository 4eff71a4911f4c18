/**
 * A pool document at an HTTP(S) URL, polled.
 *
 * Each poll is one GET with a deadline; `If-None-Match` carries the last ETag so
 * an unchanged pool costs a 304. A non-2xx status, a refused/hung connection, an
 * oversized or malformed body all keep the last good pool (state `stale`, typed
 * error) and the next try comes sooner (backoff from `backoff.initialMs`, never
 * slower than the regular interval).
 */
import { BaseSource, Backoff } from './base.js';
import { PoolParseError, PoolSourceError } from './errors.js';
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
    const timer = setTimeout(() => ac.abort(new PoolSourceError('ERR_POOL_TIMEOUT', `no complete answer within ${timeoutMs} ms`, { where: this.origin })), timeoutMs);
    try {
      const headers: Record<string, string> = { accept: 'application/yaml, application/json, text/plain;q=0.9', ...(this.spec.headers ?? {}) };
      if (this.etag !== undefined) headers['if-none-match'] = this.etag;
      let res: Response;
      try {
        res = await fetch(this.url, { headers, signal: ac.signal, redirect: 'follow' });
      } catch (err) {
        throw this.networkError(err, ac);
      }
      if (res.status === 304 && this.last !== undefined) {
        await res.body?.cancel();
        this.good(this.last.entries, this.etag);
        this.backoff.reset();
        return true;
      }
      if (res.status < 200 || res.status > 299) {
        await res.body?.cancel().catch(() => undefined);
        throw new PoolSourceError('ERR_POOL_HTTP_STATUS', `pool URL answered HTTP ${res.status}`, { where: this.origin, status: res.status });
      }
      let text: string;
      try {
        text = await readCapped(res, MAX_POOL_BODY_BYTES, this.origin);
      } catch (err) {
        throw err instanceof PoolSourceError ? err : this.networkError(err, ac);
      }
      if (text.trim() === '') throw new PoolParseError('pool URL returned an empty body (serve [] for an intentionally empty pool)', { where: this.origin, line: 1 });
      const entries = parsePool(text, this.spec.format ?? 'auto', this.origin);
      this.etag = res.headers.get('etag') ?? undefined;
      this.good(entries, this.etag);
      this.backoff.reset();
      return true;
    } catch (err) {
      if (this.stopped) return false;
      this.bad(err instanceof PoolSourceError ? err : new PoolSourceError('ERR_POOL_HTTP_UNREACHABLE', String(err), { where: this.origin, cause: err }));
      return false;
    } finally {
      clearTimeout(timer);
      if (this.inflight === ac) this.inflight = undefined;
    }
  }

  private networkError(err: unknown, ac: AbortController): PoolSourceError {
    if (ac.signal.aborted && ac.signal.reason instanceof PoolSourceError) return ac.signal.reason;
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const detail = cause?.code ?? cause?.message ?? (err as Error).message;
    return new PoolSourceError('ERR_POOL_HTTP_UNREACHABLE', `cannot fetch pool URL: ${detail}`, { where: this.origin, cause: err });
  }

  protected close(): void {
    this.inflight?.abort(new PoolSourceError('ERR_POOL_HTTP_UNREACHABLE', 'source stopped', { where: this.origin }));
  }
}

async function readCapped(res: Response, max: number, where: string): Promise<string> {
  const len = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(len) && len > max) {
    await res.body?.cancel();
    throw new PoolSourceError('ERR_POOL_HTTP_STATUS', `pool body of ${len} bytes is larger than ${max}`, { where, status: res.status });
  }
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel();
      throw new PoolSourceError('ERR_POOL_HTTP_STATUS', `pool body larger than ${max} bytes`, { where, status: res.status });
    }
    chunks.push(value);
  }
  const dec = new TextDecoder('utf-8', { fatal: true });
  try {
    return dec.decode(Buffer.concat(chunks));
  } catch (e) {
    throw new PoolParseError('pool body is not valid UTF-8', { where, cause: e });
  }
}
