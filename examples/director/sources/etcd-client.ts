/**
 * A small etcd v3 client over etcd's JSON gRPC gateway (`POST /v3/...`), enough
 * for pools: range a prefix, put/delete a key, and a streaming watch.
 *
 * Why the gateway and not the `etcd3` npm package (gRPC): the gateway is part of
 * every etcd v3 server since 3.4 (`/v3/` paths), speaks HTTP/1.1 + JSON with
 * base64 keys and values, and needs no dependency (no @grpc/grpc-js, protobufjs,
 * or their native/bundled parts). Each watch is one HTTP response stream: when
 * etcd dies the socket closes and we know at once; reconnecting, resyncing after
 * compaction and pacing are done by the caller in plain code we test against a
 * real etcd, instead of inside a library's channel state machine.
 *
 * Endpoints are tried in turn: a connection failure moves to the next one.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { netErrorText, PoolSourceError } from './errors.js';
import type { EtcdTlsSpec } from './types.js';

export interface EtcdClientOptions {
  endpoints: string[];
  tls?: EtcdTlsSpec;
  auth?: { username: string; password: string };
  /** Per-request deadline, ms (default 5 000). */
  timeoutMs?: number;
}

export interface EtcdKv {
  key: string;
  value: string;
  modRevision: number;
}

export interface EtcdWatchEvent {
  type: 'put' | 'delete';
  key: string;
  value: string;
  modRevision: number;
}

export type WatchEnd =
  | { kind: 'compacted'; compactRevision: number }
  | { kind: 'aborted' }
  | { kind: 'failed'; error: PoolSourceError };

const MAX_BODY = 64 * 1024 * 1024;

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined): string => (s === undefined ? '' : Buffer.from(s, 'base64').toString('utf8'));

/** The key just past every key starting with `prefix` (etcd's range_end for a prefix). */
export function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix, 'utf8');
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      const out = Buffer.from(b.subarray(0, i + 1));
      out[i] = out[i]! + 1;
      return out;
    }
  }
  return Buffer.from([0]); // every key
}

export class EtcdClient {
  private readonly endpoints: URL[];
  private current = 0;
  private readonly agentOptions: https.AgentOptions | undefined;
  private readonly timeoutMs: number;
  private token: string | undefined;

  constructor(private readonly options: EtcdClientOptions) {
    if (!Array.isArray(options.endpoints) || options.endpoints.length === 0) {
      throw new PoolSourceError('ERR_POOL_SPEC', 'etcd needs at least one endpoint');
    }
    this.endpoints = options.endpoints.map((e) => {
      let u: URL;
      try {
        u = new URL(e);
      } catch (err) {
        throw new PoolSourceError('ERR_POOL_SPEC', `etcd endpoint ${JSON.stringify(e)} is not a URL (write http://host:2379)`, { cause: err });
      }
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new PoolSourceError('ERR_POOL_SPEC', `etcd endpoint ${e} must be http or https`);
      return u;
    });
    this.timeoutMs = options.timeoutMs ?? 5_000;
    if (options.tls) {
      try {
        this.agentOptions = {
          ca: options.tls.ca ? readFileSync(options.tls.ca) : undefined,
          cert: options.tls.cert ? readFileSync(options.tls.cert) : undefined,
          key: options.tls.key ? readFileSync(options.tls.key) : undefined,
          rejectUnauthorized: options.tls.insecureSkipVerify !== true,
        };
      } catch (err) {
        throw new PoolSourceError('ERR_POOL_SPEC', `cannot read etcd TLS files: ${(err as Error).message}`, { cause: err });
      }
    }
  }

  /** The endpoint requests go to now. */
  get endpoint(): string {
    return this.endpoints[this.current]!.origin;
  }

  private rotate(): void {
    this.current = (this.current + 1) % this.endpoints.length;
  }

  private open(path: string, body: unknown, headers: Record<string, string> = {}): http.ClientRequest {
    const base = this.endpoints[this.current]!;
    const url = new URL(path, base);
    const data = JSON.stringify(body);
    const opts: https.RequestOptions = {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), ...headers },
      ...(this.agentOptions ?? {}),
    };
    const req = url.protocol === 'https:' ? https.request(url, opts) : http.request(url, opts);
    req.end(data);
    return req;
  }

  /** One unary call with deadline, endpoint failover and re-authentication. */
  async call<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    let lastErr: PoolSourceError | undefined;
    for (let attempt = 0; attempt < this.endpoints.length + 1; attempt++) {
      if (signal?.aborted) throw new PoolSourceError('ERR_POOL_ETCD_UNAVAILABLE', 'aborted', { cause: signal.reason });
      if (this.options.auth && this.token === undefined && path !== '/v3/auth/authenticate') await this.authenticate(signal);
      try {
        return await this.once<T>(path, body, signal);
      } catch (err) {
        const e = err as PoolSourceError;
        lastErr = e;
        if (e.code === 'ERR_POOL_ETCD_RESPONSE' && /auth token|token is invalid|invalid auth/i.test(e.message) && this.options.auth) {
          this.token = undefined; // expired: authenticate again and retry
          continue;
        }
        if (e.code === 'ERR_POOL_ETCD_UNAVAILABLE' || e.code === 'ERR_POOL_TIMEOUT') {
          this.rotate();
          continue;
        }
        throw e;
      }
    }
    throw lastErr!;
  }

  private async authenticate(signal?: AbortSignal): Promise<void> {
    const auth = this.options.auth!;
    const r = await this.once<{ token?: string }>('/v3/auth/authenticate', { name: auth.username, password: auth.password }, signal);
    if (!r.token) throw new PoolSourceError('ERR_POOL_ETCD_RESPONSE', 'etcd authentication returned no token', { where: this.endpoint });
    this.token = r.token;
  }

  private authHeaders(): Record<string, string> {
    return this.token === undefined ? {} : { authorization: this.token };
  }

  private once<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    const where = `${this.endpoint}${path}`;
    return new Promise<T>((resolve, reject) => {
      const req = this.open(path, body, this.authHeaders());
      const timer = setTimeout(() => {
        req.destroy(new PoolSourceError('ERR_POOL_TIMEOUT', `etcd gave no answer within ${this.timeoutMs} ms`, { where }));
      }, this.timeoutMs);
      const onAbort = (): void => void req.destroy(new PoolSourceError('ERR_POOL_ETCD_UNAVAILABLE', 'aborted', { where, cause: signal?.reason }));
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      req.on('error', (err) => {
        done();
        reject(err instanceof PoolSourceError ? err : new PoolSourceError('ERR_POOL_ETCD_UNAVAILABLE', `etcd unreachable: ${netErrorText(err)}`, { where, cause: err }));
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let total = 0;
        res.on('data', (c: Buffer) => {
          total += c.length;
          if (total > MAX_BODY) req.destroy(new PoolSourceError('ERR_POOL_ETCD_RESPONSE', `etcd answer larger than ${MAX_BODY} bytes`, { where }));
          else chunks.push(c);
        });
        res.on('error', () => undefined); // surfaced through req 'error'
        res.on('end', () => {
          done();
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch (err) {
            return reject(new PoolSourceError('ERR_POOL_ETCD_RESPONSE', `etcd answered HTTP ${res.statusCode} with non-JSON: ${text.slice(0, 80)}`, { where, cause: err, status: res.statusCode }));
          }
          if (res.statusCode !== 200) {
            const p = parsed as { error?: string; message?: string };
            const msg = p.message ?? p.error ?? text.slice(0, 120);
            // 503 (no leader) is "unavailable": fail over rather than give up.
            const code = res.statusCode === 503 ? 'ERR_POOL_ETCD_UNAVAILABLE' : 'ERR_POOL_ETCD_RESPONSE';
            return reject(new PoolSourceError(code, `etcd error: ${msg}`, { where, status: res.statusCode }));
          }
          resolve(parsed as T);
        });
      });
    });
  }

  /** Every key under `prefix`, with the store revision they were read at. */
  async range(prefix: string, signal?: AbortSignal): Promise<{ revision: number; kvs: EtcdKv[] }> {
    type R = { header?: { revision?: string }; kvs?: { key: string; value?: string; mod_revision?: string }[] };
    const r = await this.call<R>('/v3/kv/range', { key: b64(prefix), range_end: prefixEnd(prefix).toString('base64') }, signal);
    const revision = Number(r.header?.revision ?? NaN);
    if (!Number.isInteger(revision)) throw new PoolSourceError('ERR_POOL_ETCD_RESPONSE', 'etcd range answer without a revision', { where: this.endpoint });
    return {
      revision,
      kvs: (r.kvs ?? []).map((kv) => ({ key: unb64(kv.key), value: unb64(kv.value), modRevision: Number(kv.mod_revision ?? 0) })),
    };
  }

  /** One key, or undefined. */
  async get(key: string, signal?: AbortSignal): Promise<EtcdKv | undefined> {
    type R = { kvs?: { key: string; value?: string; mod_revision?: string }[] };
    const r = await this.call<R>('/v3/kv/range', { key: b64(key) }, signal);
    const kv = r.kvs?.[0];
    return kv === undefined ? undefined : { key: unb64(kv.key), value: unb64(kv.value), modRevision: Number(kv.mod_revision ?? 0) };
  }

  /**
   * Write `key` only if it is still at `modRevision` (0: only if absent):
   * a compare-and-swap so two operators never overwrite each other's change blindly.
   * Resolves true when written.
   */
  async putIf(key: string, value: string, modRevision: number, signal?: AbortSignal): Promise<boolean> {
    type R = { succeeded?: boolean };
    const r = await this.call<R>(
      '/v3/kv/txn',
      {
        compare: [{ key: b64(key), target: 'MOD', result: 'EQUAL', mod_revision: String(modRevision) }],
        success: [{ request_put: { key: b64(key), value: b64(value) } }],
      },
      signal,
    );
    return r.succeeded === true;
  }

  async put(key: string, value: string, signal?: AbortSignal): Promise<number> {
    type R = { header?: { revision?: string } };
    const r = await this.call<R>('/v3/kv/put', { key: b64(key), value: b64(value) }, signal);
    return Number(r.header?.revision ?? 0);
  }

  async delete(key: string, signal?: AbortSignal): Promise<void> {
    await this.call('/v3/kv/deleterange', { key: b64(key) }, signal);
  }

  /** Cheap liveness check (the member's status). */
  async probe(signal?: AbortSignal): Promise<void> {
    await this.call('/v3/maintenance/status', {}, signal);
  }

  /**
   * Watch every key under `prefix` from `startRevision`. `onEvents` gets each
   * batch in order. Resolves (never rejects) when the watch ends: compacted,
   * aborted through `signal`, or failed (connection lost, etcd error).
   */
  watch(prefix: string, startRevision: number, onEvents: (events: EtcdWatchEvent[], revision: number) => void, signal: AbortSignal): Promise<WatchEnd> {
    const where = `${this.endpoint}/v3/watch`;
    return new Promise<WatchEnd>((resolve) => {
      let settled = false;
      const finish = (end: WatchEnd): void => {
        if (settled) return;
        settled = true;
        clearTimeout(createTimer);
        signal.removeEventListener('abort', onAbort);
        req.destroy();
        if (end.kind === 'failed' && end.error.code === 'ERR_POOL_ETCD_UNAVAILABLE') this.rotate();
        resolve(end);
      };
      const onAbort = (): void => finish({ kind: 'aborted' });
      if (signal.aborted) {
        resolve({ kind: 'aborted' });
        return;
      }
      const req = this.open(
        '/v3/watch',
        { create_request: { key: b64(prefix), range_end: prefixEnd(prefix).toString('base64'), start_revision: String(startRevision) } },
        this.authHeaders(),
      );
      signal.addEventListener('abort', onAbort, { once: true });
      const createTimer = setTimeout(
        () => finish({ kind: 'failed', error: new PoolSourceError('ERR_POOL_TIMEOUT', `etcd did not create the watch within ${this.timeoutMs} ms`, { where }) }),
        this.timeoutMs,
      );
      req.on('error', (err) =>
        finish({ kind: 'failed', error: new PoolSourceError('ERR_POOL_ETCD_UNAVAILABLE', `etcd watch connection failed: ${netErrorText(err)}`, { where, cause: err }) }),
      );
      req.on('response', (res) => {
        res.socket?.setKeepAlive(true, 5_000);
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          if (buf.length > MAX_BODY) return finish({ kind: 'failed', error: new PoolSourceError('ERR_POOL_ETCD_RESPONSE', 'etcd watch message too large', { where }) });
          let nl: number;
          while (!settled && (nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (line !== '') this.onWatchMessage(line, res.statusCode ?? 0, where, onEvents, finish, () => clearTimeout(createTimer));
          }
        });
        res.on('end', () => {
          const rest = buf.trim();
          if (rest !== '' && !settled) this.onWatchMessage(rest, res.statusCode ?? 0, where, onEvents, finish, () => clearTimeout(createTimer));
          finish({ kind: 'failed', error: new PoolSourceError('ERR_POOL_ETCD_UNAVAILABLE', 'etcd closed the watch stream', { where }) });
        });
        res.on('error', () => finish({ kind: 'failed', error: new PoolSourceError('ERR_POOL_ETCD_UNAVAILABLE', 'etcd watch stream broke', { where }) }));
      });
    });
  }

  private onWatchMessage(
    line: string,
    status: number,
    where: string,
    onEvents: (events: EtcdWatchEvent[], revision: number) => void,
    finish: (end: WatchEnd) => void,
    created: () => void,
  ): void {
    type Msg = {
      result?: {
        header?: { revision?: string };
        created?: boolean;
        canceled?: boolean;
        compact_revision?: string;
        cancel_reason?: string;
        events?: { type?: string; kv?: { key: string; value?: string; mod_revision?: string } }[];
      };
      error?: { message?: string; grpc_code?: number; http_code?: number };
    };
    let msg: Msg;
    try {
      msg = JSON.parse(line) as Msg;
    } catch (err) {
      return finish({ kind: 'failed', error: new PoolSourceError('ERR_POOL_ETCD_RESPONSE', `etcd watch sent non-JSON (HTTP ${status}): ${line.slice(0, 80)}`, { where, cause: err }) });
    }
    if (msg.error || status !== 200) {
      const m = msg.error?.message ?? line.slice(0, 120);
      if (/auth token|invalid auth/i.test(m)) this.token = undefined;
      return finish({ kind: 'failed', error: new PoolSourceError('ERR_POOL_ETCD_RESPONSE', `etcd watch error: ${m}`, { where, status }) });
    }
    const r = msg.result;
    if (!r) return;
    if (r.created) created();
    if (r.canceled) {
      const compact = Number(r.compact_revision ?? 0);
      if (compact > 0) return finish({ kind: 'compacted', compactRevision: compact });
      return finish({ kind: 'failed', error: new PoolSourceError('ERR_POOL_ETCD_RESPONSE', `etcd canceled the watch: ${r.cancel_reason ?? 'no reason given'}`, { where }) });
    }
    const evs = r.events ?? [];
    if (evs.length === 0) return;
    const out: EtcdWatchEvent[] = evs.map((e) => ({
      type: e.type === 'DELETE' ? 'delete' : 'put',
      key: unb64(e.kv?.key),
      value: unb64(e.kv?.value),
      modRevision: Number(e.kv?.mod_revision ?? 0),
    }));
    onEvents(out, Number(r.header?.revision ?? out[out.length - 1]!.modRevision));
  }
}
