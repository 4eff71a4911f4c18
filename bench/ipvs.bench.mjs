#!/usr/bin/env node
// lvskit/ipvs against ipvsadm, side by side in ONE boot of the kernel-tier VM (a stock Debian kernel
// under QEMU, TCG, one vCPU: test/kernel/harness), each case in its own fresh network namespace:
//   - load 1,000 services x 50 destinations (and 10,000 x 10) from empty: apply() vs ipvsadm -R
//   - dump that table: client.readTable() vs ipvsadm -S -n
//   - one weight change end to end: apply() with the known table (datagrams and requests counted) vs ipvsadm -e
// Run: npm run bench -- ipvs   (or node bench/ipvs.bench.mjs after npm run build); BENCH_CASES picks
// cases (see bench/ipvs/vm-bench.mjs), DUMP_ROUNDS sets the alternating dump pairs per table.
// Needs root-free QEMU and the kernel image the kernel tier uses (scripts/tier.mjs kernel).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO, loadHarness } from './ipvs/harness.mjs';

if (!existsSync(path.join(REPO, 'dist/ipvs/index.js'))) execFileSync('npm', ['run', '--silent', 'build'], { cwd: REPO, stdio: 'inherit' });
const uptime = () => execFileSync('uptime', { encoding: 'utf8' }).trim();
const before = uptime();
console.log(`host: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}`);
console.log(`load before: ${before}`);
const { runInVm } = await loadHarness();
// Progress: the VM's CASE and RESULT lines as they come (the console arrives in arbitrary chunks).
let partial = '';
function progress(chunk) {
  const lines = (partial + chunk.replace(/\r/g, '')).split('\n');
  partial = lines.pop() ?? '';
  for (const line of lines) if (/^(CASE|RESULT)/.test(line.trim())) process.stderr.write(`  vm: ${line.trim()}\n`);
}
const run = await runInVm({
  files: ['bench/ipvs/vm-bench.mjs'],
  include: ['bench/ipvs'],
  modules: ['ip_vs'],
  memoryMb: 2048,
  timeoutMs: 3_600_000,
  env: Object.fromEntries(['BENCH_CASES', 'DUMP_ROUNDS'].filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]])),
  onOutput: process.env.LVSKIT_VM_VERBOSE === '1' ? undefined : progress,
});
const after = uptime();
const out = run.results[0]?.output ?? '';
const results = [...out.matchAll(/^RESULT (.*)$/gm)].map((m) => JSON.parse(m[1]));
const get = (name, table) => results.find((r) => r.name === name && r.table === table);
const kernel = run.image?.kernelPackage ?? 'unknown';
console.log(`\nVM: kernel ${kernel}, QEMU TCG, 1 vCPU, 2048 MiB; VM run ${Math.round(run.durationMs / 1000)} s; exit ${run.results[0]?.exitCode}`);
const fmt = (ms) => (ms === undefined ? 'n/a' : ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${ms} ms`);
const ratio = (a, b) => (a === undefined || b === undefined ? 'n/a' : `${(b / a).toFixed(1)}x`);
const rows = [];
for (const t of ['1000x50', '10000x10']) {
  const a = get('load-apply', t);
  const b = get('load-ipvsadm', t);
  rows.push([`load ${t} from empty`, fmt(a?.ms), fmt(b?.ms), ratio(a?.ms, b?.ms), a ? `${a.sendmsgs} datagrams for ${a.writes} writes` : '']);
}
for (const t of ['1000x50', '10000x10']) {
  const a = get('load-apply-noverify', t);
  const b = get('load-ipvsadm', t);
  if (a) rows.push([`load ${t}, apply({ verify: false }) (never reads back)`, fmt(a.ms), fmt(b?.ms), ratio(a.ms, b?.ms), `${a.sendmsgs} datagrams for ${a.writes} writes`]);
  const v = get('load-apply-verify', t);
  if (v) rows.push([`load ${t}, apply({ verify: true }) (reads the table back and compares)`, fmt(v.ms), fmt(b?.ms), ratio(v.ms, b?.ms), `${v.sendmsgs} datagrams, ${v.requests} requests`]);
}
const ae = get('load-apply-ackeach', '1000x50');
if (ae) rows.push(['load 1000x50, ackEach (an ack per request)', fmt(ae.ms), fmt(get('load-ipvsadm', '1000x50')?.ms), ratio(ae.ms, get('load-ipvsadm', '1000x50')?.ms), `${ae.sendmsgs} datagrams, ${ae.overflows} overflows`]);
for (const t of ['1000x50', '10000x10']) {
  const a = get('dump-client', t);
  const b = get('dump-ipvsadm', t);
  if (a || b) rows.push([`dump ${t}`, fmt(a?.ms), fmt(b?.ms), ratio(a?.ms, b?.ms), `median of the runs, engine ${a?.engine}; client ${a?.all?.join('/')} ms, ipvsadm ${b?.all?.join('/')} ms`]);
  for (const js of ['requests', 'batched']) {
    const e = get(`dump-client-${js}`, t);
    if (e) rows.push([`  same, engine '${js}' (JavaScript; runs after the pairs)`, fmt(e.ms), fmt(b?.ms), ratio(e.ms, b?.ms), `runs ${e.all.join('/')} ms`]);
  }
}
for (const t of ['1000x50', '10000x10']) {
  const a = get('change-apply-known', t);
  const b = get('change-ipvsadm', t);
  const c = get('change-apply-read', t);
  if (a || b) {
    rows.push([`one weight change in ${t}`, fmt(a?.ms), fmt(b?.ms), ratio(a?.ms, b?.ms), `apply({ known }): ${a?.sendmsgs} datagram(s), ${a?.requests} request(s); ipvsadm -e median of 3`]);
    const v = get('change-apply-known-verify', t);
    if (v) rows.push([`  same, apply({ known, verify: true })`, fmt(v.ms), '', '', `${v.sendmsgs} datagrams, ${v.requests} requests (the write, then the touched service read back)`]);
    const h = get('change-apply-known-changed', t);
    if (h) rows.push([`  same, apply({ known, changed: [key] })`, fmt(h.ms), fmt(b?.ms), ratio(h.ms, b?.ms), `${h.sendmsgs} datagram(s), ${h.requests} request(s)`]);
    if (c) rows.push([`  same, apply() reading the table`, fmt(c.ms), '', '', `${c.sendmsgs} datagrams (${c.requests} requests: dumps + 1 write)`]);
  }
}
console.log('\n| case | lvskit | ipvsadm | ipvsadm / lvskit | notes |\n| --- | --- | --- | --- | --- |');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
console.log(`\nload after: ${after}`);
if (run.results[0]?.exitCode !== 0) {
  console.log(out.slice(-4000));
  process.exit(1);
}
