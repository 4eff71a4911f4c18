/**
 * docs/director-sources.md says what exists: its config blocks pass the
 * director's config reader and the pool spec check, its pool documents parse,
 * its code block is the example file's, and its PyBal example is what the
 * migration prints.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../examples/director/config.js';
import { migratePybal } from '../../../examples/director/pybal/migrate.js';
import { parsePool } from '../../../examples/director/sources/parse.js';
import { checkPoolSpec } from '../../../examples/director/sources/spec.js';

const root = new URL('../../../', import.meta.url).pathname;
const doc = readFileSync(join(root, 'docs/director-sources.md'), 'utf8');
const blocks = [...doc.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1]!, text: m[2]! }));

describe('docs/director-sources.md', () => {
  it('the sources config passes the director config reader, and every pool spec passes checkPoolSpec', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lvskit-docs-'));
    try {
      writeFileSync(join(dir, 'pw'), 'pw\n');
      const text = blocks[0]!.text.replace('/etc/lvskit/etcd-password', join(dir, 'pw'));
      const cfg = parseConfig(text, join(dir, 'director.yaml'));
      expect(cfg.services.map((s) => s.name)).toEqual(['text', 'upload', 'varnish']);
      for (const s of cfg.services) expect(checkPoolSpec(s.pool).issues).toEqual([]);
      expect(checkPoolSpec(cfg.services[2]!.pool).spec).toMatchObject({ type: 'etcd', probeMs: 10_000, auth: { username: 'director', password: 'pw' } });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the pool document examples parse', () => {
    const pybal = blocks.find((b) => b.lang === '' && b.text.includes("'enabled': True"))!;
    expect(parsePool(pybal.text).map((e) => [e.host, e.pooled])).toEqual([
      ['cp1001.example', 'yes'],
      ['cp1002.example', 'no'],
    ]);
    const yaml = blocks.find((b) => b.lang === 'yaml' && b.text.startsWith('servers:'))!;
    expect(parsePool(yaml.text).map((e) => [e.host, e.address, e.pooled])).toEqual([
      ['cp1001.example', undefined, 'yes'],
      ['cp1002.example', '192.0.2.102', 'no'],
    ]);
  });

  it('the code block is the example file (run by the loopback tier)', () => {
    const ts = blocks.find((b) => b.lang === 'ts')!.text;
    const file = readFileSync(join(root, 'examples/director/sources/example.ts'), 'utf8');
    const region = file.slice(file.indexOf('// doc:start\n') + '// doc:start\n'.length, file.indexOf('  // doc:end'));
    expect(ts).toBe(`${region.replace(/^ {2}/gm, '')}await src.stop();\n`);
  });

  it('the PyBal example prints what the doc shows', () => {
    const ini = blocks.find((b) => b.lang === 'ini')!.text;
    const shown = blocks[blocks.findIndex((b) => b.lang === 'ini') + 1]!;
    expect(shown.lang).toBe('yaml');
    expect(migratePybal(ini, () => "{ 'host': 'cp1.example', 'weight': 10, 'enabled': True }\n")).toBe(shown.text);
    expect(parseConfig(shown.text, 'director.yaml').services[0]?.name).toBe('text');
  });
});
