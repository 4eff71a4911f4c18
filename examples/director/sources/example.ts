/**
 * The example of docs/director-sources.md ("Using a source from code"), run by
 * test/loopback/director-sources/example.test.ts against a real etcd. The text
 * between the doc markers is the doc's code block, word for word (checked by
 * test/unit/director-sources/docs.test.ts).
 */
import { createPoolSource } from './index.js';
import type { PoolUpdate } from './types.js';

export async function followPool(endpoint: string, signal: AbortSignal, log: Pick<Console, 'log' | 'warn' | 'info'> = console): Promise<PoolUpdate | undefined> {
  // doc:start
  const src = createPoolSource({ type: 'etcd', endpoints: [endpoint], dc: 'eqiad', cluster: 'text' }, { service: 'varnish' });
  src.on('pool', (u) => log.log(u.service, u.entries)); // the full state, only when it changed
  src.on('stale', (s) => log.warn(s.reason.code, s.reason.message, 'keeping', s.entries?.length));
  src.on('recovered', () => log.info('fresh again'));
  await src.start({ signal }); // resolves after the first attempt, good or not
  // src.current(), src.status() -> { state: 'fresh' | 'stale' | ..., lastError, lastGoodAt }
  // doc:end
  await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
  const last = src.current();
  await src.stop();
  return last;
}
