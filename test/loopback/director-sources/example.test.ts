/** The docs' code example (`followPool`) against a real etcd: it logs the pool, then a change. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { followPool } from '../../../examples/director/sources/example.js';
import { TestEtcd, until } from './etcd-harness.js';

const etcd = new TestEtcd();
beforeAll(() => etcd.start(), 60_000);
afterAll(() => etcd.close());

it('followPool logs the full pool and its changes', async () => {
  await etcd.put('/conftool/v1/pools/eqiad/text/varnish/cp1.example', '{"weight": 10, "pooled": "yes"}');
  const logged: unknown[][] = [];
  const log = { log: (...a: unknown[]) => void logged.push(a), warn: () => undefined, info: () => undefined };
  const ac = new AbortController();
  const done = followPool(etcd.endpoint, ac.signal, log);
  await until(() => logged.length === 1, 10_000, 'first pool');
  expect(logged[0]).toEqual(['varnish', [{ host: 'cp1.example', weight: 10, enabled: true, pooled: 'yes' }]]);
  await etcd.put('/conftool/v1/pools/eqiad/text/varnish/cp1.example', '{"weight": 10, "pooled": "no"}');
  await until(() => logged.length === 2, 10_000, 'change');
  ac.abort();
  expect((await done)?.entries[0]?.pooled).toBe('no');
});
