// vitest globalSetup for the `lab` project: remove leftovers of earlier runs whose owner died
// (only namespaces recorded by this harness; see core.mjs), before and after the tier runs.

import { checkLabPrerequisites, cleanupStale } from './core.mjs';

function sweep(when: string): void {
  try {
    checkLabPrerequisites();
  } catch {
    return; // not root or no `ip`: the tests themselves report the typed error
  }
  const res = cleanupStale();
  for (const r of res.removed) console.warn(`[lab ${when}] removed stale lab ${r.runId}: ${r.namespaces.join(', ') || 'record only'}`);
  for (const f of res.failed) console.warn(`[lab ${when}] could not clean lab ${f.runId}: ${JSON.stringify(f)}`);
  if (res.unowned.length > 0) console.warn(`[lab ${when}] lvk-* namespaces without a record (left alone): ${res.unowned.join(', ')}`);
}

export default function setup(): () => void {
  sweep('setup');
  return () => sweep('teardown');
}
