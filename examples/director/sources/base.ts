/**
 * What every pool source shares: the last good state, the fresh/stale bookkeeping,
 * "emit `pool` only on change", and backoff pacing.
 */
import { EventEmitter } from 'eventemitter3';
import type { PoolSourceError } from './errors.js';
import type {
  BackoffSpec,
  PoolEntry,
  PoolSource,
  PoolSourceContext,
  PoolSourceEvents,
  PoolSourceStatus,
  PoolSourceType,
  PoolUpdate,
  SourceLogger,
} from './types.js';

const noop = (): void => undefined;
export const noopSourceLogger: SourceLogger = { debug: noop, info: noop, warn: noop, error: noop };

/** Entries in a canonical order (by host) so two reads of the same pool compare equal. */
export function sortEntries(entries: PoolEntry[]): PoolEntry[] {
  return [...entries].sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
}

export function sameEntries(a: readonly PoolEntry[], b: readonly PoolEntry[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.host !== y.host || x.address !== y.address || x.port !== y.port || x.weight !== y.weight || x.enabled !== y.enabled || x.pooled !== y.pooled) return false;
  }
  return true;
}

/** Exponential backoff with jitter: initial, x2 per failure, capped. */
export class Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  private failures = 0;
  constructor(spec: BackoffSpec = {}) {
    this.initialMs = spec.initialMs ?? 500;
    this.maxMs = spec.maxMs ?? 30_000;
  }
  next(): number {
    const base = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.failures, 30));
    this.failures++;
    // +-20% jitter so several directors don't hammer a returning etcd in step.
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }
  reset(): void {
    this.failures = 0;
  }
}

export abstract class BaseSource extends EventEmitter<PoolSourceEvents> implements PoolSource {
  abstract readonly type: PoolSourceType;
  readonly service: string;
  protected readonly log: SourceLogger;
  protected last: PoolUpdate | undefined;
  protected lastGoodAt: number | undefined;
  protected lastError: PoolSourceError | undefined;
  protected state: PoolSourceStatus['state'] = 'idle';
  protected stopped = false;
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private abortListener: { signal: AbortSignal; fn: () => void } | undefined;

  constructor(
    ctx: PoolSourceContext,
    readonly origin: string,
  ) {
    super();
    this.service = ctx.service;
    this.log = ctx.logger ?? noopSourceLogger;
  }

  async start(options: { signal?: AbortSignal } = {}): Promise<void> {
    const { signal } = options;
    if (signal?.aborted) {
      await this.stop();
      return;
    }
    if (signal) {
      const fn = (): void => void this.stop();
      signal.addEventListener('abort', fn, { once: true });
      this.abortListener = { signal, fn };
    }
    await this.run();
  }

  /** Begin reading/watching; resolve after the first attempt. */
  protected abstract run(): Promise<void>;
  /** Release sockets, watchers, requests. */
  protected abstract close(): Promise<void> | void;

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.state = 'stopped';
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (this.abortListener) {
      this.abortListener.signal.removeEventListener('abort', this.abortListener.fn);
      this.abortListener = undefined;
    }
    await this.close();
  }

  current(): PoolUpdate | undefined {
    return this.last;
  }

  status(): PoolSourceStatus {
    return {
      state: this.state,
      origin: this.origin,
      entries: this.last?.entries,
      lastError: this.lastError,
      lastGoodAt: this.lastGoodAt,
    };
  }

  /** A timer that `stop()` clears. */
  protected later(ms: number, fn: () => void): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopped) fn();
    }, ms);
    this.timers.add(t);
  }

  /**
   * A good, well-formed read. Emits `pool` when it differs from the last one.
   * `problem`: the read applied but part of it was bad (an etcd key with a
   * malformed value): the source stays `stale` and reports it instead of recovering.
   */
  protected good(entries: PoolEntry[], version?: string, problem?: PoolSourceError): void {
    if (this.stopped) return;
    const sorted = sortEntries(entries);
    const wasStale = this.state === 'stale';
    this.state = 'fresh';
    this.lastGoodAt = Date.now();
    this.lastError = undefined;
    if (problem !== undefined) {
      this.state = 'stale';
      this.lastError = problem;
    } else if (wasStale) {
      this.log.info({ service: this.service, origin: this.origin }, 'pool source recovered');
      this.emit('recovered', { service: this.service, origin: this.origin });
    }
    if (this.last !== undefined && sameEntries(this.last.entries, sorted)) {
      if (version !== undefined) this.last = { ...this.last, version };
      if (problem !== undefined) this.bad(problem);
      return;
    }
    const update: PoolUpdate = { service: this.service, entries: sorted, origin: this.origin };
    if (version !== undefined) update.version = version;
    this.last = update;
    this.log.info({ service: this.service, origin: this.origin, servers: sorted.length, version }, 'pool updated');
    this.emit('pool', update);
    if (problem !== undefined) this.bad(problem);
  }

  /** A failed read: keep the last good state, report it. */
  protected bad(err: PoolSourceError): void {
    if (this.stopped) return;
    this.lastError = err;
    this.state = 'stale';
    this.log.warn({ service: this.service, origin: this.origin, code: err.code, err: err.message }, 'pool source stale, keeping last good state');
    this.emit('error', err);
    this.emit('stale', {
      service: this.service,
      origin: this.origin,
      reason: err,
      entries: this.last?.entries,
      sinceMs: this.lastGoodAt === undefined ? undefined : Date.now() - this.lastGoodAt,
    });
  }
}
