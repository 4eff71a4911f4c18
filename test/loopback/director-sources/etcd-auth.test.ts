/**
 * The etcd source with etcd authentication on (a real etcd, user and role made
 * through its API): it authenticates, reports a wrong password as a typed error
 * without touching the pool, and re-authenticates when a restart voids its token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPoolSource, EtcdClient, type PoolStale } from '../../../examples/director/sources/index.js';
import { TestEtcd, until } from './etcd-harness.js';

const PREFIX = '/conftool/v1/pools/auth/c/s/';

describe('etcd pool source with authentication (real etcd)', () => {
  const etcd = new TestEtcd();
  beforeAll(async () => {
    await etcd.start();
    await etcd.put(`${PREFIX}h1.example`, JSON.stringify({ weight: 3, pooled: 'yes' }));
    const call = async (path: string, body: unknown): Promise<void> => {
      const r = await fetch(`${etcd.endpoint}${path}`, { method: 'POST', body: JSON.stringify(body) });
      if (!r.ok) throw new Error(`${path}: ${await r.text()}`);
    };
    await call('/v3/auth/user/add', { name: 'root', password: 'rootpw' });
    await call('/v3/auth/role/add', { name: 'root' });
    await call('/v3/auth/user/grant', { user: 'root', role: 'root' });
    await call('/v3/auth/enable', {});
  }, 60_000);
  afterAll(() => etcd.close());

  it('reads with the right password, survives a restart (token voided), and a wrong password is a typed error', async () => {
    const spec = { type: 'etcd' as const, endpoints: [etcd.endpoint], prefix: PREFIX, timeoutMs: 5_000, probeMs: 1_000, backoff: { initialMs: 100, maxMs: 400 } };
    const src = createPoolSource({ ...spec, auth: { username: 'root', password: 'rootpw' } }, { service: 's' });
    const recovered: unknown[] = [];
    src.on('recovered', (r) => recovered.push(r));
    await src.start();
    try {
      expect(src.current()?.entries).toEqual([{ host: 'h1.example', weight: 3, enabled: true, pooled: 'yes' }]);
      await etcd.kill();
      await until(() => src.status().state === 'stale', 15_000, 'stale');
      await etcd.start();
      await until(() => recovered.length > 0, 20_000, 'recovered with a new token');
      const writer = new EtcdClient({ endpoints: [etcd.endpoint], auth: { username: 'root', password: 'rootpw' } });
      await writer.put(`${PREFIX}h1.example`, JSON.stringify({ weight: 8, pooled: 'yes' }));
      await until(() => src.current()?.entries[0]?.weight === 8, 10_000, 'change after restart');
    } finally {
      await src.stop();
    }

    const wrong = createPoolSource({ ...spec, auth: { username: 'root', password: 'nope' } }, { service: 's' });
    const stale: PoolStale[] = [];
    wrong.on('stale', (s) => stale.push(s));
    await wrong.start();
    await wrong.stop();
    expect(wrong.current()).toBeUndefined();
    expect(stale[0]?.reason.code).toBe('ERR_POOL_ETCD_RESPONSE');
    expect(stale[0]?.reason.message).toMatch(/authentication failed/);
    // Without credentials etcd refuses the read: also typed, no pool.
    const none = createPoolSource(spec, { service: 's' });
    await none.start();
    await none.stop();
    expect(none.current()).toBeUndefined();
    expect(none.status().lastError?.message).toMatch(/user name is empty|permission denied/);
  }, 60_000);
});
