/**
 * docs/ipvs.md says what exists: its dry-run block runs (against the sources, through the
 * `lvskit/ipvs` alias) and prints the text shown under it, and that text is valid `ipvsadm -R`
 * input as the renderer writes it. The apply() block runs in the kernel tier
 * (test/kernel/vm/ipvs-docs.mjs, asserted by test/kernel/ipvs.test.ts).
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { plan, renderOps } from '../../../src/ipvs/index.js';

const root = new URL('../../../', import.meta.url).pathname;
const doc = readFileSync(join(root, 'docs/ipvs.md'), 'utf8');
const blocks = [...doc.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1]!, text: m[2]! }));

/** The code block of the section titled `title` and the text block after it. */
function example(title: string): { code: string; output: string } {
  const at = doc.indexOf(`## ${title}`);
  expect(at, `section ${title}`).toBeGreaterThan(0);
  const inSection = [...doc.slice(at).matchAll(/```(\w*)\n([\s\S]*?)```/g)];
  expect(inSection[0]?.[1]).toBe('js');
  expect(inSection[1]?.[1]).toBe('text');
  return { code: inSection[0]![2]!, output: inSection[1]![2]! };
}

describe('docs/ipvs.md', () => {
  it('has the apply() and dry-run examples', () => {
    expect(blocks.filter((b) => b.lang === 'js')).toHaveLength(2);
  });

  it('the dry-run example runs and prints the text under it', async () => {
    const { code, output } = example('Example: dry run');
    const file = join(root, `test/unit/ipvs/.docs-dry-run-${process.pid}.mjs`);
    writeFileSync(file, code);
    const printed: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      printed.push(String(chunk));
      return true;
    });
    try {
      await import(file);
    } finally {
      spy.mockRestore();
      rmSync(file, { force: true });
    }
    expect(printed.join('')).toBe(output);
  });

  it('the apply() example prints, for its first apply, what plan() renders from an empty table', () => {
    const { code, output } = example('Example: apply()');
    const literal = code.slice(code.indexOf('const desired = ') + 'const desired = '.length, code.indexOf('];\n') + 1);
    const desired = new Function(`return ${literal};`)() as Parameters<typeof plan>[0];
    const ops = plan(desired, []).ops;
    expect(output.startsWith(`wrote ${ops.length}:\n${renderOps(ops)}\n`)).toBe(true);
  });
});
