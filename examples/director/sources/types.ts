/**
 * Pool sources of the director: where a service's servers, weights and
 * pooled/enabled state come from, and how changes reach the director.
 *
 * Four kinds (`PoolSourceSpec['type']`):
 * - `inline`: servers written in the director's config file;
 * - `file`:   a pool file (PyBal's dict-per-line format, or YAML/JSON), watched for changes;
 * - `http`:   a URL polled at an interval (same formats);
 * - `etcd`:   etcd v3, conftool-style keys `/conftool/v1/pools/<dc>/<cluster>/<service>/<host>`
 *             holding `{"weight": N, "pooled": "yes|no|inactive"}`, followed with a real watch.
 *
 * Contract of every source (see docs/director-sources.md):
 * - a `pool` event carries the FULL latest state of the service's pool, never a diff;
 * - while the source is unreachable or returns garbage, the last good state stays
 *   (no `pool` event), and `stale`/`error` events say why; the source retries with backoff;
 * - only an explicit, well-formed empty answer emits an empty pool.
 */
import type { EventEmitter } from 'eventemitter3';
import type { PoolSourceError } from './errors.js';

/** conftool's pooled values: `inactive` means "not in the pool at all" (not even at weight 0). */
export type Pooled = 'yes' | 'no' | 'inactive';

/** One server of a pool as a source sees it. */
export interface PoolEntry {
  /** Server name (the pool key). */
  host: string;
  /** Address to use instead of resolving `host`, when the source gives one. */
  address?: string;
  /** Port on the server, when it differs from the service's (YAML/JSON pool files may give one). */
  port?: number;
  /** IPVS weight (>= 0). */
  weight: number;
  /**
   * PyBal's `enabled`: false means the operator took it out. For etcd sources
   * this is `pooled === 'yes'`; for PyBal files it is the `enabled` key.
   */
  enabled: boolean;
  /** conftool's tri-state. PyBal files map enabled true -> 'yes', false -> 'no'. */
  pooled: Pooled;
}

/** A server as written in config / YAML / JSON pool files (defaults: weight 1, enabled true). */
export interface PoolEntryInput {
  host: string;
  address?: string;
  port?: number;
  weight?: number;
  enabled?: boolean;
  pooled?: Pooled;
}

/** Reconnect/retry pacing shared by the remote sources. */
export interface BackoffSpec {
  /** First delay after a failure, ms (default 500). */
  initialMs?: number;
  /** Upper bound of the delay, ms (default 30 000). */
  maxMs?: number;
}

/** Format of a pool document; `auto` sniffs it (a line starting with `{ '` or `{'` is PyBal). */
export type PoolFormat = 'auto' | 'pybal' | 'yaml' | 'json';

export interface InlinePoolSpec {
  type: 'inline';
  servers: PoolEntryInput[];
}

export interface FilePoolSpec {
  type: 'file';
  /** Path of the pool file (relative paths are resolved against `PoolSourceContext.baseDir`). */
  path: string;
  format?: PoolFormat;
  /** Quiet time after the last change before the file is re-read, ms (default 200). */
  debounceMs?: number;
  /** Safety re-read interval, ms, for filesystems where fs.watch misses events (default 30 000, 0 = off). */
  pollMs?: number;
}

export interface HttpPoolSpec {
  type: 'http';
  url: string;
  format?: PoolFormat;
  /** Poll interval, ms (default 10 000). */
  intervalMs?: number;
  /** Per-request deadline, ms (default 5 000). */
  timeoutMs?: number;
  headers?: Record<string, string>;
  backoff?: BackoffSpec;
}

export interface EtcdTlsSpec {
  /** PEM file paths. */
  ca?: string;
  cert?: string;
  key?: string;
  /** Skip server certificate verification (testing only). */
  insecureSkipVerify?: boolean;
}

export interface EtcdPoolSpec {
  type: 'etcd';
  /** Client URLs, e.g. `['https://etcd1.example:2379']`; tried in turn. */
  endpoints: string[];
  /**
   * Key prefix of this service's pool, ending in `/`. Default built from
   * dc/cluster/service: `/conftool/v1/pools/<dc>/<cluster>/<service>/`.
   */
  prefix?: string;
  dc?: string;
  cluster?: string;
  /** conftool service name (defaults to the director's service name). */
  service?: string;
  tls?: EtcdTlsSpec;
  auth?: { username: string; password: string };
  /** Per-request deadline for range/auth calls, ms (default 5 000). */
  timeoutMs?: number;
  /** While watching, check etcd answers every this many ms (default 10 000, 0 = off). */
  probeMs?: number;
  backoff?: BackoffSpec;
}

export type PoolSourceSpec = InlinePoolSpec | FilePoolSpec | HttpPoolSpec | EtcdPoolSpec;
export type PoolSourceType = PoolSourceSpec['type'];

/** The logger the sources accept: the subset of pino they call. */
export interface SourceLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface PoolSourceContext {
  /** The director's name for the service this source feeds. */
  service: string;
  /** Directory relative pool file paths are resolved against (the config file's). */
  baseDir?: string;
  logger?: SourceLogger;
}

/** Payload of `pool`: the whole pool of one service. */
export interface PoolUpdate {
  service: string;
  entries: PoolEntry[];
  /** Where it came from: file path, URL, or etcd prefix. */
  origin: string;
  /** Source-specific version (etcd revision, ETag, file mtime) when known. */
  version?: string;
}

/** Payload of `stale`: the source can't refresh; `entries` are the last good state kept. */
export interface PoolStale {
  service: string;
  origin: string;
  reason: PoolSourceError;
  /** Last good entries still in force (undefined when no good state was ever read). */
  entries: PoolEntry[] | undefined;
  /** Milliseconds since the last good state (undefined when none). */
  sinceMs: number | undefined;
}

export interface PoolSourceEvents {
  /** A new full pool state (emitted only when it differs from the last one). */
  pool: (update: PoolUpdate) => void;
  /** The source went stale: last good state kept; emitted on the transition and per failed retry. */
  stale: (info: PoolStale) => void;
  /** The source is fresh again after being stale. */
  recovered: (info: { service: string; origin: string }) => void;
  /** Every failure, with a typed reason (also reflected in `status()`). */
  error: (err: PoolSourceError) => void;
}

export interface PoolSourceStatus {
  state: 'idle' | 'fresh' | 'stale' | 'stopped';
  origin: string;
  /** Last good state, if any. */
  entries: PoolEntry[] | undefined;
  lastError: PoolSourceError | undefined;
  /** Date.now() of the last good read. */
  lastGoodAt: number | undefined;
}

export interface PoolSource extends EventEmitter<PoolSourceEvents> {
  readonly type: PoolSourceType;
  readonly service: string;
  /**
   * Start reading. Resolves after the first attempt (good or not: an unreachable
   * source does not reject; it goes stale and keeps retrying). Rejects only for an
   * invalid spec. Aborting `signal` stops the source like `stop()`.
   */
  start(options?: { signal?: AbortSignal }): Promise<void>;
  /** Stop timers, watches and requests. Idempotent. */
  stop(): Promise<void>;
  /** Last good state (undefined before the first good read). */
  current(): PoolUpdate | undefined;
  status(): PoolSourceStatus;
}

export type CreatePoolSource = (spec: PoolSourceSpec, ctx: PoolSourceContext) => PoolSource;
