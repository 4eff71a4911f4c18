// Load the kernel-tier VM harness (test/kernel/harness/vm.ts) from plain node: transpile it with esbuild
// into a temp file whose import of ./image.mjs points back at the real file (so image.mjs still finds
// the repo and its image cache through its own import.meta.url).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { transform } from 'esbuild';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** `{ runInVm, VmError, REPO_ROOT }` from test/kernel/harness/vm.ts. */
export async function loadHarness() {
  const dir = path.join(REPO, 'test/kernel/harness');
  const src = readFileSync(path.join(dir, 'vm.ts'), 'utf8');
  const { code } = await transform(src, { loader: 'ts', format: 'esm', target: 'node20' });
  const image = pathToFileURL(path.join(dir, 'image.mjs')).href;
  const patched = code.replace(/from\s+["']\.\/image\.mjs["']/g, `from ${JSON.stringify(image)}`);
  if (patched === code) throw new Error('vm.ts no longer imports ./image.mjs; update bench/ipvs/harness.mjs');
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'lvskit-bench-harness-'));
  const file = path.join(tmp, 'vm.mjs');
  writeFileSync(file, patched);
  try {
    return await import(pathToFileURL(file).href);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
