/**
 * What the kernel-tier files share around one VM run of an in-VM case script: building dist/ when
 * the sources the VM imports are newer, and reading the script's `CASE ok|FAIL <name>` and
 * `FACT <name> <json>` lines.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './vm.js';

/** Newest mtime under a directory (recursive). */
function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** Run `npm run build` when a file under `sources` is newer than any of the `built` files (repo-relative). */
export function ensureBuilt(sources: readonly string[], built: readonly string[]): void {
  const oldest = Math.min(...built.map((f) => statSync(path.join(REPO_ROOT, f), { throwIfNoEntry: false })?.mtimeMs ?? 0));
  if (Math.max(...sources.map((d) => newest(path.join(REPO_ROOT, d)))) <= oldest) return;
  const r = spawnSync('npm', ['run', 'build', '--silent'], { cwd: REPO_ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`npm run build failed:\n${r.stdout}\n${r.stderr}`);
}

/** A case script's output: its FACT values by name, and the CASE line of a case. */
export class CaseOutput {
  readonly facts = new Map<string, unknown>();
  constructor(readonly text: string) {
    for (const m of text.matchAll(/^FACT (\S+) (.*)$/gm)) this.facts.set(m[1] as string, JSON.parse(m[2] as string));
  }
  caseLine(name: string): string | undefined {
    return this.text.split('\n').find((l) => l.startsWith(`CASE ok ${name} `) || l.startsWith(`CASE FAIL ${name}:`));
  }
}
