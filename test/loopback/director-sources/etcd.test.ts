/**
 * The etcd pool source against a real etcd (/usr/bin/etcd on loopback): the
 * conftool keys are read, watched, survive etcd being killed and restarted, and
 * a compacted revision is resynced from a fresh read.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPoolSource, EtcdClient, isPoolSourceError, type PoolSource, type PoolStale, type PoolUpdate } from '../../../examples/director/sources/index.js';
import { TestEtcd, until } from './etcd-harness.js';

const PREFIX = '/conftool/v1/pools/eqiad/text/varnish/';
const key = (h: string): string => `${PREFIX}${h}`;
const val = (weight: number, pooled: string): string => JSON.stringify({ weight, pooled });

describe('etcd pool source (real etcd)', () => {
  const etcd = new TestEtcd();
  beforeAll(() => etcd.start(), 60_000);
  afterAll(() => etcd.close());

  function source(): { src: PoolSource; pools: PoolUpdate[]; stale: PoolStale[] } {
    const src = createPoolSource(
      { type: 'etcd', endpoints: [etcd.endpoint], dc: 'eqiad', cluster: 'text', timeoutMs: 5_000, probeMs: 1_000, backoff: { initialMs: 100, maxMs: 500 } },
      { service: 'varnish' },
    );
    const pools: PoolUpdate[] = [];
    const stale: PoolStale[] = [];
    src.on('pool', (u) => pools.push(u));
    src.on('stale', (s) => stale.push(s));
    return { src, pools, stale };
  }

  it('reads the prefix, follows puts, pooled changes and deletes, and ignores other services', async () => {
    await etcd.put(key('cp1001.example'), val(10, 'yes'));
    await etcd.put(key('cp1002.example'), val(5, 'no'));
    await etcd.put('/conftool/v1/pools/eqiad/text/other/cp9.example', val(1, 'yes'));
    const { src, pools } = source();
    await src.start();
    try {
      expect(src.current()?.entries).toEqual([
        { host: 'cp1001.example', weight: 10, enabled: true, pooled: 'yes' },
        { host: 'cp1002.example', weight: 5, enabled: false, pooled: 'no' },
      ]);
      expect(src.status().state).toBe('fresh');

      await etcd.put(key('cp1002.example'), val(5, 'yes'));
      await until(() => src.current()?.entries[1]?.pooled === 'yes', 10_000, 'pooled yes');
      await etcd.put(key('cp1003.example'), val(0, 'inactive'));
      await until(() => src.current()?.entries.length === 3, 10_000, 'third host');
      expect(src.current()?.entries[2]).toEqual({ host: 'cp1003.example', weight: 0, enabled: false, pooled: 'inactive' });
      await etcd.del(key('cp1001.example'));
      await until(() => src.current()?.entries.length === 2, 10_000, 'delete');
      expect(src.current()?.entries.map((e) => e.host)).toEqual(['cp1002.example', 'cp1003.example']);
      // Every update carried the full pool, never a diff; no update was empty.
      expect(pools.length).toBeGreaterThanOrEqual(4);
      for (const p of pools) expect(p.entries.length).toBeGreaterThan(0);
    } finally {
      await src.stop();
      for (const h of ['cp1002.example', 'cp1003.example']) await etcd.del(key(h));
    }
  });

  it('a malformed value keeps that host at its last good entry and reports ERR_POOL_PARSE; others still apply', async () => {
    await etcd.put(key('a.example'), val(10, 'yes'));
    await etcd.put(key('b.example'), val(10, 'yes'));
    const { src, stale } = source();
    await src.start();
    try {
      await etcd.put(key('a.example'), '{"weight": "heavy", "pooled": "yes"}');
      await until(() => stale.length > 0, 10_000, 'stale');
      expect(isPoolSourceError(stale[0]!.reason, 'ERR_POOL_PARSE')).toBe(true);
      expect(stale[0]!.reason.message).toMatch(/a\.example.*weight/);
      expect(src.current()?.entries.find((e) => e.host === 'a.example')?.weight).toBe(10);
      await etcd.put(key('b.example'), val(3, 'yes'));
      await until(() => src.current()?.entries.find((e) => e.host === 'b.example')?.weight === 3, 10_000, 'b changed');
      expect(src.status().state).toBe('stale');
      await etcd.put(key('a.example'), 'not json');
      await etcd.put(key('a.example'), val(7, 'yes'));
      await until(() => src.status().state === 'fresh', 10_000, 'fresh again');
      expect(src.current()?.entries.find((e) => e.host === 'a.example')?.weight).toBe(7);
    } finally {
      await src.stop();
      await etcd.del(key('a.example'));
      await etcd.del(key('b.example'));
    }
  });

  it('etcd killed mid-watch: last good state kept, never emptied; after restart the watch resumes and sees new changes', async () => {
    await etcd.put(key('cp1.example'), val(10, 'yes'));
    await etcd.put(key('cp2.example'), val(10, 'yes'));
    const { src, pools, stale } = source();
    await src.start();
    const recovered: unknown[] = [];
    src.on('recovered', (r) => recovered.push(r));
    try {
      expect(src.current()?.entries.length).toBe(2);
      const before = pools.length;
      await etcd.kill();
      await until(() => stale.length > 0, 15_000, 'stale after kill');
      expect(src.status().state).toBe('stale');
      expect(stale[0]!.entries?.map((e) => e.host)).toEqual(['cp1.example', 'cp2.example']);
      expect(['ERR_POOL_ETCD_UNAVAILABLE', 'ERR_POOL_TIMEOUT']).toContain(stale[0]!.reason.code);
      // Several retries fail while etcd is down; the pool stays as it was.
      await until(() => stale.length >= 3, 15_000, 'retries while down');
      expect(pools.length).toBe(before);
      expect(src.current()?.entries.length).toBe(2);

      await etcd.start();
      await until(() => recovered.length > 0, 20_000, 'recovered');
      await etcd.put(key('cp2.example'), val(10, 'no'));
      await until(() => src.current()?.entries.find((e) => e.host === 'cp2.example')?.pooled === 'no', 10_000, 'change after restart');
      for (const p of pools) expect(p.entries.length).toBe(2);
    } finally {
      await src.stop();
      await etcd.del(key('cp1.example'));
      await etcd.del(key('cp2.example'));
    }
  }, 60_000);

  it('etcd frozen (SIGSTOP: sockets open, no answers): the liveness probe notices, pool kept; thawed, the watch resumes', async () => {
    await etcd.put(key('f1.example'), val(10, 'yes'));
    const { src, pools, stale } = source();
    const recovered: unknown[] = [];
    src.on('recovered', (r) => recovered.push(r));
    await src.start();
    try {
      const before = pools.length;
      etcd.freeze(true);
      try {
        await until(() => stale.length > 0, 15_000, 'stale while frozen');
        expect(['ERR_POOL_TIMEOUT', 'ERR_POOL_ETCD_UNAVAILABLE']).toContain(stale[0]!.reason.code);
        expect(src.current()?.entries.map((e) => e.host)).toEqual(['f1.example']);
        expect(pools.length).toBe(before);
      } finally {
        etcd.freeze(false);
      }
      await until(() => recovered.length > 0, 20_000, 'recovered after thaw');
      await etcd.put(key('f1.example'), val(4, 'yes'));
      await until(() => src.current()?.entries[0]?.weight === 4, 10_000, 'change after thaw');
    } finally {
      await src.stop();
      await etcd.del(key('f1.example'));
    }
  }, 60_000);

  it('a watch from a compacted revision ends as compacted (the source then re-reads the prefix)', async () => {
    const r1 = await etcd.put(key('c.example'), val(1, 'yes'));
    const r2 = await etcd.put(key('c.example'), val(2, 'yes'));
    await etcd.compact(r2);
    const client = new EtcdClient({ endpoints: [etcd.endpoint], timeoutMs: 5_000 });
    const ac = new AbortController();
    const end = await client.watch(PREFIX, r1, () => undefined, ac.signal);
    expect(end).toEqual({ kind: 'compacted', compactRevision: r2 });
    await etcd.del(key('c.example'));
  });

  it('an explicit empty prefix is an empty pool; stop() ends the watch; an unreachable endpoint never yields a pool', async () => {
    const { src, pools, stale } = source();
    await src.start();
    // The prefix holds no keys now: a well-formed, explicit empty answer.
    expect(pools).toEqual([{ service: 'varnish', entries: [], origin: `etcd:${PREFIX}`, version: expect.any(String) }]);
    expect(stale).toEqual([]);
    await src.stop();
    expect(src.status().state).toBe('stopped');
    const dead = createPoolSource(
      { type: 'etcd', endpoints: ['http://127.0.0.1:1'], prefix: PREFIX, timeoutMs: 500, backoff: { initialMs: 50, maxMs: 100 } },
      { service: 'varnish' },
    );
    const deadPools: PoolUpdate[] = [];
    dead.on('pool', (u) => deadPools.push(u));
    const errs: string[] = [];
    dead.on('error', (e) => errs.push(e.code));
    await dead.start();
    await until(() => errs.length >= 2, 10_000, 'errors');
    await dead.stop();
    expect(deadPools).toEqual([]);
    expect(dead.current()).toBeUndefined();
    expect(errs[0]).toBe('ERR_POOL_ETCD_UNAVAILABLE');
    expect(dead.status().lastError?.message).toMatch(/ECONNREFUSED/);
  });
});
