// bench/ipvs.bench.mjs, INSIDE the VM: every case in its own fresh network namespace (`unshare -n`), so
// each load starts from empty IPVS tables with no deleted destinations left by an earlier case (the
// kernel keeps those on a list every new destination searches). Sides alternate (lvskit first for
// 1,000 x 50, ipvsadm first for 10,000 x 10), and each case waits for the kernel to finish tearing
// down the previous namespace's tables before it starts.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const CASE = fileURLToPath(new URL('./vm-case.mjs', import.meta.url));
const cases = (process.env.BENCH_CASES ?? 'apply:1000:50,ipvsadm:1000:50,apply-verify:1000:50,ipvsadm:10000:10,apply:10000:10,apply-verify:10000:10')
  .split(',')
  .map((c) => c.split(':'));

/** Wait until the CPU has been mostly idle for a second (namespace teardown runs in a kernel worker). */
async function settle(maxMs = 120_000) {
  const idle = () => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return { idle: f[3] + f[4], total: f.reduce((a, b) => a + b, 0) };
  };
  const start = performance.now();
  while (performance.now() - start < maxMs) {
    const a = idle();
    await new Promise((r) => setTimeout(r, 1000));
    const b = idle();
    if ((b.idle - a.idle) / Math.max(1, b.total - a.total) > 0.9) return Math.round(performance.now() - start);
  }
  return Math.round(performance.now() - start);
}

let failed = 0;
for (const [mode, n, m] of cases) {
  const waited = await settle();
  console.log(`CASE ${mode} ${n}x${m} (waited ${waited} ms for an idle CPU)`);
  // lo up: a namespace without any address has no local routing table, and the kernel refuses
  // IPv4 direct-routing destinations whose address type it can't look up (EINVAL).
  const r = spawnSync('unshare', ['-n', 'sh', '-c', 'ip link set lo up && exec "$0" "$@"', process.execPath, CASE, mode, n, m], { encoding: 'utf8', maxBuffer: 64 << 20 });
  process.stdout.write(r.stdout);
  if (r.status !== 0) {
    failed++;
    console.log(`CASE FAILED ${mode} ${n}x${m} (exit ${r.status}): ${r.stderr}`);
  }
}
process.exit(failed === 0 ? 0 : 1);
