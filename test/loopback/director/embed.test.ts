/**
 * docs/director.md's embedding example, run as it stands against the built
 * package (`lvskit/director` resolves through the package's own exports map):
 * a director in dry run checking a local web server, its output as the page
 * says.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../../..');

describe('docs/director.md embedding example', () => {
  it('runs and prints what the page says', () => {
    if (!existsSync(join(root, 'dist', 'director', 'index.js'))) execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'ignore' });
    const page = readFileSync(join(root, 'docs', 'director.md'), 'utf8');
    const m = /<!-- run by test\/loopback\/director\/embed\.test\.ts -->\n```js\n([\s\S]*?)```\n\nprints\n\n```text\n([\s\S]*?)```/.exec(page);
    expect(m, 'the example block and its output block').not.toBeNull();
    const [, code = '', expected = ''] = m ?? [];
    // Inside the package, so `lvskit/director` is a self-reference to the built package.
    const dir = join(root, '.cache', `embed-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    try {
      writeFileSync(join(dir, 'embed.mjs'), code);
      const out = execFileSync(process.execPath, [join(dir, 'embed.mjs')], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
      expect(out).toBe(expected);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
