/**
 * The pool-file source on a real filesystem: edited in place, replaced by
 * rename (how editors and config managers write), truncated, half-written,
 * deleted and re-created. The last good pool stays through every bad state.
 */
import { mkdtempSync, renameSync, rmSync, symlinkSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createPoolSource, type PoolStale, type PoolUpdate } from '../../../examples/director/sources/index.js';
import { until } from './etcd-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'lvskit-poolfile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const line = (host: string, weight: number, enabled: boolean): string =>
  `{ 'host': '${host}', 'weight': ${weight}, 'enabled': ${enabled ? 'True' : 'False'} }\n`;

describe('pool file source (real files)', () => {
  it('follows edits and atomic replaces; keeps the last good pool through truncation, garbage and deletion', async () => {
    const path = join(dir, 'text-https');
    writeFileSync(path, `# pool for text-https\n${line('cp1.example', 10, true)}${line('cp2.example', 10, true)}`);
    // pollMs off: every change here must arrive through the directory watch.
    const src = createPoolSource({ type: 'file', path: 'text-https', debounceMs: 100, pollMs: 0 }, { service: 'text-https', baseDir: dir });
    const pools: PoolUpdate[] = [];
    const stale: PoolStale[] = [];
    src.on('pool', (u) => pools.push(u));
    src.on('stale', (s) => stale.push(s));
    await src.start();
    try {
      expect(src.current()?.entries.map((e) => [e.host, e.weight, e.pooled])).toEqual([
        ['cp1.example', 10, 'yes'],
        ['cp2.example', 10, 'yes'],
      ]);
      expect(src.current()?.origin).toBe(path);

      // Edit in place.
      writeFileSync(path, line('cp1.example', 10, true) + line('cp2.example', 10, false));
      await until(() => pools.length === 2, 10_000, 'in-place edit');
      expect(pools[1]!.entries[1]).toEqual({ host: 'cp2.example', weight: 10, enabled: false, pooled: 'no' });

      // Replace by rename: a watch on the old inode would miss this.
      writeFileSync(join(dir, '.text-https.tmp'), line('cp1.example', 5, true) + line('cp2.example', 10, true) + line('cp3.example', 1, true));
      renameSync(join(dir, '.text-https.tmp'), path);
      await until(() => pools.length === 3, 10_000, 'rename replace');
      expect(pools[2]!.entries.map((e) => e.host)).toEqual(['cp1.example', 'cp2.example', 'cp3.example']);

      // Truncated: not an empty pool. (A write can reach us as more than one event
      // on a loaded machine, so each step waits for the latest report to be the one meant.)
      const latest = (): PoolStale | undefined => stale[stale.length - 1];
      truncateSync(path, 0);
      await until(() => latest()?.reason.message.includes('empty') === true, 10_000, 'truncate');
      expect(latest()!.reason.code).toBe('ERR_POOL_PARSE');

      // Half-written: the last line is cut.
      writeFileSync(path, line('cp1.example', 5, true) + `{ 'host': 'cp2.example', 'wei`);
      await until(() => latest()?.reason.line === 2, 10_000, 'half-written');
      expect(latest()!.reason.code).toBe('ERR_POOL_PARSE');
      expect(latest()!.reason.where).toBe(path);

      // Deleted.
      unlinkSync(path);
      await until(() => latest()?.reason.code === 'ERR_POOL_FILE', 10_000, 'deleted');
      expect(latest()!.reason.message).toMatch(/does not exist/);
      expect(latest()!.entries?.length).toBe(3);

      expect(pools.length).toBe(3);
      expect(src.current()?.entries.length).toBe(3);

      // Back, as YAML this time.
      writeFileSync(path, '- host: cp1.example\n  weight: 7\n- host: cp4.example\n  weight: 1\n  pooled: "no"\n');
      await until(() => pools.length === 4, 10_000, 're-created');
      expect(src.status().state).toBe('fresh');
      expect(pools[3]!.entries).toEqual([
        { host: 'cp1.example', weight: 7, enabled: true, pooled: 'yes' },
        { host: 'cp4.example', weight: 1, enabled: false, pooled: 'no' },
      ]);
    } finally {
      await src.stop();
    }
  }, 60_000);

  it('a file missing at start goes stale without a pool; the safety poll picks it up when it appears', async () => {
    const path = join(dir, 'late');
    const src = createPoolSource({ type: 'file', path, pollMs: 100, debounceMs: 20 }, { service: 'late' });
    const pools: PoolUpdate[] = [];
    src.on('pool', (u) => pools.push(u));
    await src.start();
    try {
      expect(src.status().state).toBe('stale');
      expect(src.status().lastError?.code).toBe('ERR_POOL_FILE');
      expect(pools).toEqual([]);
      writeFileSync(path, '{"servers": [{"host": "x.example", "weight": 3}]}');
      await until(() => pools.length === 1, 10_000, 'file appears');
      expect(pools[0]!.entries).toEqual([{ host: 'x.example', weight: 3, enabled: true, pooled: 'yes' }]);
    } finally {
      await src.stop();
    }
  });
});

describe('pool file source through a symlink', () => {
  it('follows changes to the target, and the link being re-pointed', async () => {
    const real1 = mkdtempSync(join(tmpdir(), 'lvskit-pool-target-'));
    const real2 = mkdtempSync(join(tmpdir(), 'lvskit-pool-target-'));
    const linkDir = mkdtempSync(join(tmpdir(), 'lvskit-pool-link-'));
    try {
      writeFileSync(join(real1, 'pool'), line('a.example', 1, true));
      writeFileSync(join(real2, 'pool'), line('b.example', 2, true));
      symlinkSync(join(real1, 'pool'), join(linkDir, 'pool'));
      // pollMs off: changes must come through the watches.
      const src = createPoolSource({ type: 'file', path: join(linkDir, 'pool'), debounceMs: 30, pollMs: 0 }, { service: 'sym' });
      const pools: PoolUpdate[] = [];
      src.on('pool', (u) => pools.push(u));
      await src.start();
      try {
        expect(pools[0]?.entries.map((e) => e.host)).toEqual(['a.example']);
        writeFileSync(join(real1, 'pool'), line('a.example', 5, true));
        await until(() => pools.length === 2, 10_000, 'target edited');
        expect(pools[1]?.entries[0]?.weight).toBe(5);
        symlinkSync(join(real2, 'pool'), join(linkDir, '.pool.new'));
        renameSync(join(linkDir, '.pool.new'), join(linkDir, 'pool'));
        await until(() => pools.length === 3, 10_000, 'link re-pointed');
        expect(pools[2]?.entries.map((e) => e.host)).toEqual(['b.example']);
        writeFileSync(join(real2, 'pool'), line('b.example', 9, true));
        await until(() => pools.length === 4, 10_000, 'new target edited');
        expect(pools[3]?.entries[0]?.weight).toBe(9);
      } finally {
        await src.stop();
      }
    } finally {
      for (const d of [real1, real2, linkDir]) rmSync(d, { recursive: true, force: true });
    }
  });
});
