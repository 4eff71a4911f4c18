#!/usr/bin/env node
// examples/director benchmark: the director (dist/director/cli.js, its own process, IPVS dry run)
// with 200 services x 100 servers = 20,000 HTTP checks against 100 HTTP listeners on 127.0.0.1
// (bench/director/backends.mjs, another process), measured side by side with the anchor in the
// same run, on the same backends, one after the other:
//   - HAProxy (/usr/sbin/haproxy): the same 200 x 100 servers as backends, `option httpchk GET /`,
//     `check inter I fall 2 rise 2`, nbthread 1: the usual health checker of load-balancer setups.
// Figures per checker: CPU (utime+stime from /proc/<pid>/stat) over a window once every check has
// run, RSS (VmRSS), checks/s the backends answered in the window, time to the first full pool
// (director: first IPVS table written with all 20,000 destinations), and detection: one backend
// starts answering 503 (it serves one server of every service: 200 servers fail at once), time
// until each of the 200 is taken out. Director: the dry run's `ipvsadm -e ... -w 0` line for that
// server (i.e. failure -> IPVS weight change, the issue's figure); HAProxy: its "Server x/y is DOWN".
// Expected bound for both: interval x fall + timeout.
//
// Env: DIRECTOR_BENCH_SERVICES=200 DIRECTOR_BENCH_SERVERS=100 DIRECTOR_BENCH_INTERVAL_MS=10000
//      DIRECTOR_BENCH_WINDOW_S=30 DIRECTOR_BENCH_ONLY=director,haproxy
//      DIRECTOR_BENCH_PROFILE=1 (the director writes a --cpu-prof profile to /tmp/lvskit-director-prof)
// Loopback only. Every process started here is stopped here, by its pid.
/* global fetch */
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.join(HERE, '..');
const SERVICES = Number(process.env.DIRECTOR_BENCH_SERVICES ?? 200);
const SERVERS = Number(process.env.DIRECTOR_BENCH_SERVERS ?? 100);
const INTERVAL_MS = Number(process.env.DIRECTOR_BENCH_INTERVAL_MS ?? 10_000);
const WINDOW_S = Number(process.env.DIRECTOR_BENCH_WINDOW_S ?? 30);
const ONLY = (process.env.DIRECTOR_BENCH_ONLY ?? 'director,haproxy').split(',');
const TIMEOUT_MS = 1000;
const FALL = 2;
const BOUND_MS = INTERVAL_MS * FALL + TIMEOUT_MS;
const HZ = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const epoch = () => performance.timeOrigin + performance.now();
const children = new Set();

function cleanup() {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}
process.on('exit', cleanup);
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});

function track(c) {
  children.add(c);
  c.on('exit', () => children.delete(c));
  return c;
}

function cpuTicks(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]); // utime, stime (fields 14, 15)
}
function rssMiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? NaN : Number(m[1]) / 1024;
}
const loadavg = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');
function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
const f0 = (x) => (Number.isFinite(x) ? x.toFixed(0) : 'n/a');
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');

// ---- backends ------------------------------------------------------------------------
const backends = track(spawn(process.execPath, [path.join(HERE, 'director', 'backends.mjs')], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
const pending = [];
backends.on('message', (m) => {
  const i = pending.findIndex((p) => p.cmd === m.cmd);
  if (i >= 0) pending.splice(i, 1)[0].resolve(m);
});
const ask = (msg, reply) => new Promise((resolve) => {
  pending.push({ cmd: reply, resolve });
  backends.send(msg);
});
const { ports } = await ask({ cmd: 'listen', n: SERVERS }, 'listening');
const vip = (i) => `10.${100 + Math.floor(i / 250)}.${i % 250}.1`;

function lineReader(stream, onLine) {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const l = buf.slice(0, i);
      buf = buf.slice(i + 1);
      onLine(l, epoch());
    }
  });
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'lvskit-director-bench-'));
const results = {};

/** Run one checker: start, wait for the full pool, measure the window, then the failure of one backend. */
async function measure(name, start) {
  console.log(`\n-- ${name}: starting (load ${loadavg()})`);
  const t0 = epoch();
  const c = await start();
  // Bounded: a checker that can't keep up never pools everything.
  const limit = sleep(INTERVAL_MS * 4 + 60_000).then(() => undefined);
  const readyAt = await Promise.race([c.ready, limit]);
  const readyMs = readyAt === undefined ? NaN : readyAt - t0;
  if (readyAt === undefined) console.log(`   NOT every server pooled within ${INTERVAL_MS * 4 + 60_000} ms (${c.pooled?.() ?? '?'} of ${SERVICES * SERVERS}): it does not keep up`);
  else console.log(`   full pool after ${f0(readyMs)} ms; letting every check run once more`);
  await sleep(INTERVAL_MS + 2000);
  const r0 = (await ask({ cmd: 'count' }, 'count')).requests;
  const pids = c.pids ?? [c.pid];
  const c0 = pids.reduce((a, p) => a + cpuTicks(p), 0);
  const w0 = epoch();
  await sleep(WINDOW_S * 1000);
  const c1 = pids.reduce((a, p) => a + cpuTicks(p), 0);
  const r1 = (await ask({ cmd: 'count' }, 'count')).requests;
  const secs = (epoch() - w0) / 1000;
  const cpuPct = ((c1 - c0) / HZ / secs) * 100;
  const rss = pids.reduce((a, p) => a + rssMiB(p), 0);
  const checksPerS = (r1 - r0) / secs;
  console.log(`   window ${f1(secs)} s: CPU ${f1(cpuPct)} %, RSS ${f0(rss)} MiB, ${f0(checksPerS)} checks/s answered`);
  const mem = (await c.memory?.()) ?? undefined;
  if (mem !== undefined) console.log(`   ${name}'s own view (/metrics): RSS ${f0(mem.rss)} MiB, V8 heap ${f0(mem.heapUsed)} MiB used of ${f0(mem.heapTotal)} MiB, external ${f0(mem.external)} MiB`);
  // Detection: one backend port (one server of every service) answers 503 from now on.
  const port = ports[7];
  c.downs.clear();
  const { at } = await ask({ cmd: 'fail', port }, 'failed');
  const deadline = at + BOUND_MS + 5000;
  while (c.downs.size < SERVICES && epoch() < deadline) await sleep(50);
  const lat = [...c.downs.values()].map((t) => t - at);
  await ask({ cmd: 'heal', port }, 'healed');
  console.log(`   detection (${lat.length}/${SERVICES} servers): first ${f0(pct(lat, 0))} ms, median ${f0(pct(lat, 50))} ms, max ${f0(pct(lat, 100))} ms (bound ${BOUND_MS} ms)`);
  results[name] = { readyMs, cpuPct, rss, checksPerS, lat, detected: lat.length, mem };
  await c.stop();
}

// ---- lvskit director -----------------------------------------------------------------
async function startDirector() {
  const cfg = path.join(dir, 'director.yaml');
  const lines = [
    'name: bench',
    'dryRun: true',
    'status: { address: 127.0.0.1, port: 0 }',
    'log: { level: info }',
    `ipvs: { startupWaitMs: ${INTERVAL_MS * 3} }`,
    'services:',
  ];
  for (let i = 0; i < SERVICES; i++) {
    lines.push(`  s${i}:`, `    vip: ${vip(i)}`, '    port: 80', '    forwarding: masq', '    scheduler: wrr', `    fall: ${FALL}`, '    rise: 2', '    drainMs: 60s');
    lines.push(`    checks: [{ type: http, path: /, intervalMs: ${INTERVAL_MS}, timeoutMs: ${TIMEOUT_MS} }]`);
    lines.push('    servers:');
    for (const [j, p] of ports.entries()) lines.push(`      - { host: r${j}, address: 127.0.0.1, port: ${p} }`);
  }
  writeFileSync(cfg, `${lines.join('\n')}\n`);
  const prof = process.env.DIRECTOR_BENCH_PROFILE === '1' ? ['--cpu-prof', '--cpu-prof-dir', '/tmp/lvskit-director-prof'] : [];
  const p = track(spawn(process.execPath, [...prof, path.join(ROOT, 'dist', 'director', 'cli.js'), '--config', cfg, '--log-format', 'json'], { stdio: ['ignore', 'pipe', 'inherit'] }));
  const downs = new Map();
  const dead = `-r 127.0.0.1:${ports[7]} -m -w 0`;
  let resolveReady;
  const ready = new Promise((r) => (resolveReady = r));
  let adds = 0;
  let statusUrl;
  lineReader(p.stdout, (l, t) => {
    if (statusUrl === undefined && l.includes('"status API listening"')) statusUrl = /"url":"([^"]+)"/.exec(l)?.[1];
    if (!l.includes('"would run"')) return;
    const cmd = /"cmd":"([^"]+)"/.exec(l)?.[1] ?? '';
    if (cmd.startsWith('ipvsadm -a ')) {
      adds++;
      if (adds === SERVICES * SERVERS) resolveReady(t);
    } else if (cmd.startsWith('ipvsadm -e ') && cmd.includes(dead)) {
      const v = /-t (\S+):80/.exec(cmd)?.[1];
      if (v !== undefined && !downs.has(v)) downs.set(v, t);
    }
  });
  return {
    pid: p.pid,
    ready,
    downs,
    pooled: () => adds,
    // Its /metrics process figures (MiB), to tell the V8 heap from the rest of RSS.
    memory: async () => {
      if (statusUrl === undefined) return undefined;
      const text = await (await fetch(`${statusUrl}/metrics`)).text();
      const g = (n) => Number(new RegExp(`^${n} (\\S+)$`, 'm').exec(text)?.[1]) / 1048576;
      return { rss: g('process_resident_memory_bytes'), heapUsed: g('nodejs_heap_size_used_bytes'), heapTotal: g('nodejs_heap_size_total_bytes'), external: g('nodejs_external_memory_bytes') };
    },
    stop: async () => {
      const t = epoch();
      p.kill('SIGTERM');
      await new Promise((r) => p.once('exit', r));
      console.log(`   stopped in ${f0(epoch() - t)} ms`);
    },
  };
}

// ---- HAProxy -------------------------------------------------------------------------
async function startHaproxy() {
  // One HAProxy process holds a descriptor per check: 20,000 checks need more than this machine's
  // hard limit (20,000, which we may not raise), so the services are split over a few processes
  // of at most HAPROXY_SERVICES_PER_PROCESS x SERVERS checks each; CPU and RSS are their sums.
  const per = Math.max(1, Math.floor(15_000 / SERVERS));
  const procs = [];
  const downs = new Map();
  const dead = `/r7 is DOWN`;
  for (let first = 0; first < SERVICES; first += per) {
    const cfg = path.join(dir, `haproxy-${first}.cfg`);
    const lines = [
      'global',
      '  maxconn 100',
      '  nbthread 1',
      '  max-spread-checks 10s',
      'defaults',
      '  mode http',
      `  timeout connect ${TIMEOUT_MS}`,
      `  timeout check ${TIMEOUT_MS}`,
      '  timeout client 10s',
      '  timeout server 10s',
      'frontend f',
      `  bind ${path.join(dir, `haproxy-${first}.sock`)}`,
      `  default_backend s${first}`,
    ];
    for (let i = first; i < Math.min(SERVICES, first + per); i++) {
      lines.push(`backend s${i}`, '  option httpchk GET /', '  balance roundrobin');
      for (const [j, p] of ports.entries()) lines.push(`  server r${j} 127.0.0.1:${p} check inter ${INTERVAL_MS} fall ${FALL} rise 2`);
    }
    writeFileSync(cfg, `${lines.join('\n')}\n`);
    const p = track(spawn('/usr/sbin/haproxy', ['-f', cfg, '-db'], { stdio: ['ignore', 'pipe', 'pipe'] }));
    lineReader(p.stdout, () => undefined);
    lineReader(p.stderr, (l, t) => {
      if (l.includes('[ALERT]')) console.log(`   haproxy: ${l}`);
      const m = /Server (s\d+)\/(r\d+) is DOWN/.exec(l);
      if (m !== null && l.includes('[WARNING]') && `/${m[2]} is DOWN` === dead && !downs.has(m[1])) downs.set(m[1], t);
    });
    procs.push(p);
  }
  console.log(`   ${procs.length} HAProxy process(es), ${per * SERVERS} checks at most each`);
  // HAProxy starts every server up and checks it within the spread: ready once one interval has passed.
  const ready = sleep(INTERVAL_MS).then(() => epoch());
  return {
    pid: procs[0].pid,
    pids: procs.map((p) => p.pid),
    ready,
    downs,
    stop: async () => {
      for (const p of procs) p.kill('SIGTERM');
      await Promise.all(procs.map((p) => (p.exitCode === null ? new Promise((r) => p.once('exit', r)) : undefined)));
    },
  };
}

console.log(`director benchmark: ${SERVICES} services x ${SERVERS} servers = ${SERVICES * SERVERS} HTTP checks, interval ${INTERVAL_MS} ms, timeout ${TIMEOUT_MS} ms, fall ${FALL}; window ${WINDOW_S} s`);
console.log(`load before: ${loadavg()}`);
try {
  if (ONLY.includes('director')) await measure('director', startDirector);
  if (ONLY.includes('haproxy')) await measure('haproxy', startHaproxy);
} finally {
  backends.disconnect();
  cleanup();
  rmSync(dir, { recursive: true, force: true });
}
console.log(`load after: ${loadavg()}`);

const d = results.director;
const h = results.haproxy;
const row = (m, a, b, fmt, better) => console.log(`| ${m} | ${a === undefined ? 'n/a' : fmt(a)} | ${b === undefined ? 'n/a' : fmt(b)} | ${a !== undefined && b !== undefined ? (a / b).toFixed(2) : 'n/a'} | ${better} |`);
console.log('\n| metric | lvskit director | HAProxy | ratio (director/HAProxy) | better |');
console.log('| --- | --- | --- | --- | --- |');
row('CPU, % of one core (steady state)', d?.cpuPct, h?.cpuPct, f1, 'lower');
row('RSS, MiB', d?.rss, h?.rss, f0, 'lower');
row('checks/s answered', d?.checksPerS, h?.checksPerS, f0, `same (${SERVICES * SERVERS} per interval)`);
row('failure -> out, median ms', d === undefined ? undefined : pct(d.lat, 50), h === undefined ? undefined : pct(h.lat, 50), f0, 'lower');
row('failure -> out, max ms', d === undefined ? undefined : pct(d.lat, 100), h === undefined ? undefined : pct(h.lat, 100), f0, 'lower');
row(`servers detected (of ${SERVICES})`, d?.detected, h?.detected, f0, 'all');
console.log(`\ndirector: first full IPVS table ${f0(d?.readyMs)} ms after start (every check answered once, then one reconcile of ${SERVICES * SERVERS} destinations)`);
