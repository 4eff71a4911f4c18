/**
 * A service's pool in etcd v3, conftool-style:
 * `/conftool/v1/pools/<dc>/<cluster>/<service>/<host>` = `{"weight": N, "pooled": "yes|no|inactive"}`.
 *
 * Cycle: range the prefix (full state at revision R) -> emit it -> watch from R+1,
 * applying each batch of events and emitting the new full state. When the watch
 * ends (etcd died, connection lost, revision compacted) the pool stays as it was
 * (state `stale`, typed error), and the cycle starts again after a backoff
 * (at once after a compaction): a fresh range is the only way back, so no change
 * made while we were away is missed.
 *
 * A key whose value is malformed keeps that host's last good entry (or leaves the
 * host out if it never had one) and reports ERR_POOL_PARSE; the other hosts'
 * changes still apply. A deleted key removes its host: that is an explicit answer.
 */
import { BaseSource, Backoff } from './base.js';
import { PoolSourceError } from './errors.js';
import { EtcdClient, type EtcdKv } from './etcd-client.js';
import { conftoolPrefix, parseConftoolValue } from './parse.js';
import type { EtcdPoolSpec, PoolEntry, PoolSourceContext } from './types.js';

/** The prefix a spec names: `prefix`, or built from dc/cluster/service. */
export function etcdPrefixOf(spec: EtcdPoolSpec, service: string): string {
  if (spec.prefix !== undefined) {
    if (typeof spec.prefix !== 'string' || !spec.prefix.startsWith('/') || !spec.prefix.endsWith('/')) {
      throw new PoolSourceError('ERR_POOL_SPEC', `etcd prefix ${JSON.stringify(spec.prefix)} must start and end with '/'`);
    }
    return spec.prefix;
  }
  if (spec.dc === undefined || spec.cluster === undefined) {
    throw new PoolSourceError('ERR_POOL_SPEC', `service ${service}: etcd source needs either prefix or dc and cluster`);
  }
  try {
    return conftoolPrefix(spec.dc, spec.cluster, spec.service ?? service);
  } catch (err) {
    throw new PoolSourceError('ERR_POOL_SPEC', (err as Error).message, { cause: err });
  }
}

export class EtcdSource extends BaseSource {
  readonly type = 'etcd' as const;
  readonly prefix: string;
  readonly client: EtcdClient;
  private readonly backoff: Backoff;
  private readonly probeMs: number;
  /** host -> last good entry. */
  private readonly hosts = new Map<string, PoolEntry>();
  /** hosts whose latest value is malformed. */
  private readonly broken = new Map<string, PoolSourceError>();
  private ac = new AbortController();
  private firstAttempt: (() => void) | undefined;
  private revision = 0;

  constructor(spec: EtcdPoolSpec, ctx: PoolSourceContext) {
    const prefix = etcdPrefixOf(spec, ctx.service);
    super(ctx, `etcd:${prefix}`);
    this.prefix = prefix;
    this.client = new EtcdClient({ endpoints: spec.endpoints, tls: spec.tls, auth: spec.auth, timeoutMs: spec.timeoutMs });
    this.backoff = new Backoff(spec.backoff);
    this.probeMs = spec.probeMs ?? 10_000;
  }

  /** Revision of the pool state last applied. */
  get appliedRevision(): number {
    return this.revision;
  }

  protected run(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.firstAttempt = resolve;
      void this.loop();
    });
  }

  private attempted(): void {
    const f = this.firstAttempt;
    this.firstAttempt = undefined;
    f?.();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      let delay = 0;
      try {
        const r = await this.client.range(this.prefix, this.ac.signal);
        if (this.stopped) break;
        this.applySnapshot(r.kvs, r.revision);
        this.attempted();
        this.backoff.reset();
        const end = await this.watchWithProbe(r.revision + 1);
        if (this.stopped || end.kind === 'aborted') break;
        if (end.kind === 'compacted') {
          this.bad(new PoolSourceError('ERR_POOL_ETCD_COMPACTED', `watch revision ${r.revision + 1} compacted (now ${end.compactRevision}); re-reading the pool`, { where: this.client.endpoint }));
        } else {
          this.bad(end.error);
          delay = this.backoff.next();
        }
      } catch (err) {
        if (this.stopped) break;
        this.bad(err instanceof PoolSourceError ? err : new PoolSourceError('ERR_POOL_ETCD_UNAVAILABLE', String(err), { cause: err }));
        this.attempted();
        delay = this.backoff.next();
      }
      if (delay > 0) await this.sleep(delay);
    }
    this.attempted();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.stopped) return resolve();
      const t = setTimeout(done, ms);
      const sig = this.ac.signal;
      function done(): void {
        clearTimeout(t);
        sig.removeEventListener('abort', done);
        resolve();
      }
      sig.addEventListener('abort', done, { once: true });
    });
  }

  /**
   * Watch, and probe etcd every `probeMs` meanwhile: a dead etcd closes the
   * socket, but a partitioned host doesn't, and the probe catches that.
   */
  private async watchWithProbe(from: number): Promise<Awaited<ReturnType<EtcdClient['watch']>>> {
    const wac = new AbortController();
    const onStop = (): void => wac.abort();
    this.ac.signal.addEventListener('abort', onStop, { once: true });
    let probeErr: PoolSourceError | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const probe = (): void => {
      timer = setTimeout(() => {
        this.client.probe(wac.signal).then(probe, (err: unknown) => {
          if (wac.signal.aborted) return;
          probeErr = err instanceof PoolSourceError ? err : new PoolSourceError('ERR_POOL_ETCD_UNAVAILABLE', String(err));
          wac.abort();
        });
      }, this.probeMs);
    };
    if (this.probeMs > 0) probe();
    try {
      const end = await this.client.watch(this.prefix, from, (events, revision) => this.applyEvents(events, revision), wac.signal);
      if (end.kind === 'aborted' && probeErr !== undefined && !this.stopped) return { kind: 'failed', error: probeErr };
      return end;
    } finally {
      clearTimeout(timer);
      this.ac.signal.removeEventListener('abort', onStop);
    }
  }

  private hostOf(key: string): string | undefined {
    if (!key.startsWith(this.prefix)) return undefined;
    const host = key.slice(this.prefix.length);
    if (host === '' || host.includes('/')) {
      this.log.debug({ service: this.service, key }, 'ignoring a key below the pool prefix that is not <prefix><host>');
      return undefined;
    }
    return host;
  }

  /** Apply one value; returns the parse error if it was malformed. */
  private applyValue(host: string, value: string, key: string): PoolSourceError | undefined {
    try {
      this.hosts.set(host, parseConftoolValue(host, value, key));
      this.broken.delete(host);
      return undefined;
    } catch (err) {
      const e = err instanceof PoolSourceError ? err : new PoolSourceError('ERR_POOL_PARSE', String(err), { where: key });
      this.broken.set(host, e);
      return e;
    }
  }

  private applySnapshot(kvs: EtcdKv[], revision: number): void {
    const seen = new Set<string>();
    for (const kv of kvs) {
      const host = this.hostOf(kv.key);
      if (host === undefined) continue;
      seen.add(host);
      this.applyValue(host, kv.value, kv.key);
    }
    for (const h of [...this.hosts.keys()]) if (!seen.has(h)) this.hosts.delete(h);
    for (const h of [...this.broken.keys()]) if (!seen.has(h)) this.broken.delete(h);
    this.revision = revision;
    this.publish();
  }

  private applyEvents(events: { type: 'put' | 'delete'; key: string; value: string }[], revision: number): void {
    for (const ev of events) {
      const host = this.hostOf(ev.key);
      if (host === undefined) continue;
      if (ev.type === 'delete') {
        this.hosts.delete(host);
        this.broken.delete(host);
      } else {
        this.applyValue(host, ev.value, ev.key);
      }
    }
    this.revision = Math.max(this.revision, revision);
    this.publish();
  }

  private publish(): void {
    // Malformed values: the rest of the pool applies, but the source stays stale and says why.
    const problem = this.broken.values().next().value;
    this.good([...this.hosts.values()], String(this.revision), problem);
  }

  protected close(): void {
    this.ac.abort();
    this.attempted();
  }
}
