/**
 * Pool sources of the director (issue 7, "Config: pool sources").
 *
 * Files:
 * - types.ts   spec shapes (`PoolSourceSpec`), the `PoolSource` interface and its events
 * - errors.ts  `PoolSourceError` (typed codes, line/column), branded like lvskit's errors
 * - parse.ts   PyBal dict-per-line, YAML/JSON and conftool value parsers (pure)
 * - base.ts    last-good-state bookkeeping, change detection, backoff
 * - inline.ts, file.ts, http.ts, etcd.ts   the four sources
 * - etcd-client.ts   etcd v3 over its JSON gRPC gateway (range, put, watch)
 */
import { PoolSourceError } from './errors.js';
import { EtcdSource } from './etcd.js';
import { FileSource } from './file.js';
import { HttpSource } from './http.js';
import { InlineSource } from './inline.js';
import { normalizePoolSpec } from './spec.js';
import type { PoolSource, PoolSourceContext, PoolSourceSpec } from './types.js';

export * from './types.js';
export * from './errors.js';
export { InlineSource, FileSource, HttpSource, EtcdSource };
export { EtcdClient, type EtcdClientOptions, type EtcdKv } from './etcd-client.js';
export { etcdPrefixOf } from './etcd.js';
export { checkPoolSpec, normalizePoolSpec, durationMs, type PoolSpecIssue } from './spec.js';
export { parsePool, parsePybalPool, parseYamlPool, parseConftoolValue, conftoolPrefix, normalizeEntry } from './parse.js';

/**
 * Build the source a spec describes. The spec may come straight from the YAML
 * (durations as `2s`, endpoints as one string): it is checked and normalised
 * first (`normalizePoolSpec`). Throws `PoolSourceError` ERR_POOL_SPEC, listing
 * every issue with its key path, for an invalid spec.
 */
export function createPoolSource(raw: PoolSourceSpec | Record<string, unknown>, ctx: PoolSourceContext): PoolSource {
  const spec = normalizePoolSpec(raw, ctx.service);
  switch (spec.type) {
    case 'inline':
      return new InlineSource(spec, ctx);
    case 'file':
      return new FileSource(spec, ctx);
    case 'http':
      return new HttpSource(spec, ctx);
    case 'etcd':
      return new EtcdSource(spec, ctx);
    default:
      throw new PoolSourceError('ERR_POOL_SPEC', `unknown pool source type ${JSON.stringify((spec as { type?: unknown }).type)}`);
  }
}
