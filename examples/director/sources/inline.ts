/** Servers written in the director's config file: one read, never stale. */
import { BaseSource } from './base.js';
import { PoolSourceError } from './errors.js';
import { normalizeEntry } from './parse.js';
import type { InlinePoolSpec, PoolEntry, PoolSourceContext } from './types.js';

export class InlineSource extends BaseSource {
  readonly type = 'inline' as const;
  private readonly entries: PoolEntry[];

  constructor(spec: InlinePoolSpec, ctx: PoolSourceContext) {
    super(ctx, 'inline');
    if (!Array.isArray(spec.servers)) throw new PoolSourceError('ERR_POOL_SPEC', `service ${ctx.service}: inline servers must be a list`);
    const seen = new Set<string>();
    this.entries = spec.servers.map((s, i) => {
      const e = normalizeEntry(s, { where: `servers[${i}]` });
      if (seen.has(e.host)) throw new PoolSourceError('ERR_POOL_SPEC', `service ${ctx.service}: server ${e.host} listed twice`);
      seen.add(e.host);
      return e;
    });
  }

  protected async run(): Promise<void> {
    this.good(this.entries);
  }

  protected close(): void {}
}
