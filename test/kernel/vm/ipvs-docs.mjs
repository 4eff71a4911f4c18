// Kernel tier, runs INSIDE the VM after ipvs-client.mjs: the apply() example of docs/ipvs.md, run as a
// user would run it (its own node process importing 'lvskit/ipvs'), must print the text the doc shows
// under it, and leave the table that text describes (checked with ipvsadm -S -n).
// Prints `CASE ok docs-apply-example ...` or `CASE FAIL docs-apply-example: why`.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';

const t0 = performance.now();
try {
  const doc = readFileSync('docs/ipvs.md', 'utf8');
  const section = doc.slice(doc.indexOf('## Example: apply()'));
  const [code, text] = [...section.matchAll(/```(\w*)\n([\s\S]*?)```/g)].slice(0, 2);
  assert.equal(code?.[1], 'js');
  assert.equal(text?.[1], 'text');
  execFileSync('ipvsadm', ['-C']);
  // Beside the package, so 'lvskit/ipvs' resolves as it does for an installed package.
  const file = 'test/kernel/vm/.ipvs-docs-example.mjs';
  writeFileSync(file, code[2]);
  const r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 300_000 });
  rmSync(file, { force: true });
  assert.equal(r.status, 0, `the example failed (${r.status}): ${r.stderr}`);
  assert.equal(r.stdout, text[2]);
  const saved = execFileSync('ipvsadm', ['-S', '-n'], { encoding: 'utf8' }).split('\n').filter(Boolean).sort();
  assert.deepEqual(saved, [
    '-A -t 192.0.2.10:80 -s wrr',
    '-A -u 192.0.2.10:53 -s rr',
    '-a -t 192.0.2.10:80 -r 10.0.0.11:80 -g -w 10',
    '-a -t 192.0.2.10:80 -r 10.0.0.12:80 -g -w 0',
    '-a -u 192.0.2.10:53 -r 10.0.0.21:53 -g -w 1',
  ].sort());
  execFileSync('ipvsadm', ['-C']);
  console.log(`CASE ok docs-apply-example (${Math.round(performance.now() - t0)} ms)`);
} catch (e) {
  console.log(`CASE FAIL docs-apply-example: ${e?.stack ?? e}`);
  process.exit(1);
}
