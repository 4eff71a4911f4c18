#!/usr/bin/env node
// lvskit/monitors benchmark: N HTTP servers on loopback (one listener per
// 127.20.x.y:8080, served by a few HAProxy web-server processes and one node
// process for the servers it breaks, all started here), each
// health-checked every second, measured side by side with the anchors the
// monitors issue names, in the same run, on the same servers:
//   - lvskit: a Monitor with one HttpCheck per server (own process, `bench/monitors/checker.mjs`),
//     on the native probe engine (native/lvskit_probe.c) as a Monitor uses it by default
//   - lvskit (node sockets): the same Monitor with LVSKIT_MONITORS_NATIVE=0, i.e. on node's net.Socket
//   - HAProxy (/usr/sbin/haproxy, config generated here): `check inter 1s fall 3 rise 2`,
//     `option httpchk`, a new TCP connection per check, nbthread 1
//   - naive: the same HttpCheck one at a time (keepalived-style baseline, concurrency 1)
// Figures per checker: sustained checks/s (requests the backends answered in the
// window), CPU ms per 1,000 checks (utime+stime from /proc/<pid>/stat), RSS,
// event-loop delay p99 (lvskit, perf_hooks), and detection: time from a
// server's failure (listener closed, 503, or accepted and never answered) to
// the checker marking it down, against interval x fall + timeout + 50 ms.
//
//   - node net floor: bare node sockets doing the same exchanges at the same rate, without
//     parsing, deadlines, state or metrics (where lvskit's CPU goes: most of it is here)
// Env: MONITORS_BENCH_COALESCE_MS=10 (the lvskit Monitor's coalesceMs)
//      MONITORS_BENCH_SIZES=10000,1000  MONITORS_BENCH_WINDOW_S=20  MONITORS_BENCH_ONLY=lvskit,node,haproxy,floor,naive
//      MONITORS_BENCH_PROFILE=1 (lvskit checker writes a --cpu-prof profile to /tmp/lvskit-monitors-prof)
// Loopback addresses only. Every process started here is stopped here, by its pid.
import { spawn, execFileSync } from 'node:child_process';
import { connect as netConnect } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.join(HERE, '..');
const SIZES = (process.env.MONITORS_BENCH_SIZES ?? '10000,1000').split(',').map(Number);
const WINDOW_S = Number(process.env.MONITORS_BENCH_WINDOW_S ?? 20);
const ONLY = (process.env.MONITORS_BENCH_ONLY ?? 'lvskit,node,haproxy,floor,naive').split(',');
const WEB_PROCESSES = 2;
const FAILURES = 30;
const INTERVAL_MS = 1000;
const TIMEOUT_MS = 1000;
const FALL = 3;
const RISE = 2;
const BOUND_MS = INTERVAL_MS * FALL + TIMEOUT_MS + 50;
// Monitor option: checks due within 10 ms of each other start in one event-loop turn (early, never late).
const COALESCE_MS = Number(process.env.MONITORS_BENCH_COALESCE_MS ?? 10);
const CONCURRENCY = Number(process.env.MONITORS_BENCH_CONCURRENCY ?? 256);
const HAPROXY = '/usr/sbin/haproxy';
const HZ = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const epoch = () => performance.timeOrigin + performance.now();
const children = new Set();
let stopping = false;

function cleanup() {
  stopping = true;
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { cleanup(); process.exit(130); });

/** Start `argv` under `ulimit -n 65536` where the hard limit allows raising it (root), with an IPC channel if asked. */
function start(argv, { ipc = false, stdout = 'inherit', env } = {}) {
  const c = spawn('sh', ['-c', 'ulimit -n 65536 2>/dev/null || ulimit -n 20000 2>/dev/null; exec "$0" "$@"', ...argv], {
    stdio: ['ignore', stdout, stdout === 'inherit' ? 'inherit' : 'pipe', ...(ipc ? ['ipc'] : [])],
    cwd: ROOT,
    env: env === undefined ? process.env : { ...process.env, ...env },
  });
  children.add(c);
  c.on('exit', (code, sig) => {
    children.delete(c);
    if (!stopping && code !== 0 && sig !== 'SIGTERM' && sig !== 'SIGKILL' && !c.expectedExit) {
      console.error(`child ${argv.join(' ')} exited: ${code ?? sig}`);
    }
  });
  return c;
}

/** Send `msg` and wait for the reply whose cmd is `want` (within `ms`). */
function ask(child, msg, want, ms = 60_000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      child.off('message', on);
      reject(new Error(`no '${want}' reply to ${msg.cmd} within ${ms} ms`));
    }, ms);
    const on = (m) => {
      if (m.cmd !== want && !(want === 'up' && m.cmd === 'not-up')) return;
      clearTimeout(t);
      child.off('message', on);
      resolve(m);
    };
    child.on('message', on);
    child.send(msg);
  });
}

function procCpuTicks(pid) {
  const [u, s] = procUserSys(pid);
  return u + s;
}
/** [utime, stime] of a process (all threads), in clock ticks. */
function procUserSys(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return [Number(rest[11]), Number(rest[12])];
}
function procRssMiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}
function timeWait() {
  try {
    return Number(/timewait (\d+)/.exec(execFileSync('ss', ['-s']).toString())?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}
const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');

/** Server i: 127.20.(i / 200).(i % 200 + 10):8080. */
function serverList(n) {
  return Array.from({ length: n }, (_, i) => [`s${i}`, `127.20.${Math.floor(i / 200)}.${(i % 200) + 10}`, 8080]);
}

/**
 * The servers: most are served by a few HAProxy processes acting as plain web
 * servers (one `bind` per address, `http-request return` 200), which cost far
 * less CPU per request than node would on this 2-core machine; the servers
 * the benchmark breaks are served by one node process (`backend.mjs`) that
 * can close a listener, answer 503 or stop answering on command.
 */
async function startBackends(servers, breakable, dir) {
  const control = start([process.execPath, path.join(HERE, 'monitors', 'backend.mjs')], { ipc: true });
  const mine = servers.filter(([id]) => breakable.has(id));
  const listening = ask(control, { cmd: 'listen', servers: mine }, 'listening', 120_000);
  const rest = servers.filter(([id]) => !breakable.has(id));
  const webs = [];
  for (let k = 0; k < WEB_PROCESSES; k++) {
    const part = rest.filter((_, i) => i % WEB_PROCESSES === k);
    const sock = path.join(dir, `web${k}.sock`);
    const cfg = path.join(dir, `web${k}.cfg`);
    writeFileSync(
      cfg,
      [
        'global',
        '  nbthread 1',
        '  maxconn 4000',
        `  stats socket ${sock} level admin`,
        'defaults',
        '  mode http',
        '  timeout connect 1s',
        '  timeout client 5s',
        '  timeout server 5s',
        '  timeout http-request 5s',
        'frontend web',
        ...part.map(([, a, p]) => `  bind ${a}:${p}`),
        '  http-request return status 200 content-type text/plain string "healthy\\n"',
        '',
      ].join('\n'),
    );
    const c = start([HAPROXY, '-db', '-f', cfg], { stdout: 'pipe' });
    c.stdout.on('data', () => undefined);
    c.stderr.on('data', () => undefined);
    webs.push({ c, sock });
  }
  await listening;
  // Wait until every web process answers on its stats socket (its binds are then up).
  for (const w of webs) {
    for (let i = 0; i < 200; i++) {
      if ((await haproxyInfo(w.sock).catch(() => undefined)) !== undefined) break;
      await sleep(100);
    }
  }
  return { control, webs };
}

/** `show info` from a HAProxy stats socket, as a map. */
function haproxyInfo(sock) {
  return new Promise((resolve, reject) => {
    const c = netConnect(sock);
    let out = '';
    c.setTimeout(5000, () => c.destroy(new Error('stats socket timeout')));
    c.on('connect', () => c.write('show info\n'));
    c.on('data', (d) => (out += d));
    c.on('error', reject);
    c.on('end', () => resolve(new Map(out.split('\n').filter((l) => l.includes(': ')).map((l) => [l.slice(0, l.indexOf(': ')), l.slice(l.indexOf(': ') + 2)]))));
  });
}

async function backendRequests(backends) {
  const [own, ...infos] = await Promise.all([ask(backends.control, { cmd: 'count' }, 'count'), ...backends.webs.map((w) => haproxyInfo(w.sock))]);
  return own.requests + infos.reduce((a, m) => a + Number(m.get('CumReq') ?? NaN), 0);
}
async function backendCpu(backends) {
  const own = await ask(backends.control, { cmd: 'cpu' }, 'cpu');
  return own.ticks + backends.webs.reduce((a, w) => a + procCpuTicks(w.c.pid), 0);
}
function stopBackends(backends) {
  for (const c of [backends.control, ...backends.webs.map((w) => w.c)]) {
    c.expectedExit = true;
    c.kill('SIGTERM');
  }
}

/** Break `ids` in three ways (a third each): listener closed, 503, accepted and never answered. Returns id -> failure time. */
async function fail(backends, ids) {
  const modes = ['refuse', '503', 'hang'];
  const at = new Map();
  await Promise.all(
    modes.map(async (mode, k) => {
      const mine = ids.filter((_, i) => i % 3 === k);
      if (mine.length === 0) return;
      const r = await ask(backends.control, { cmd: 'fail', ids: mine, mode }, 'failed');
      for (const id of mine) at.set(id, { at: r.at, mode });
    }),
  );
  return at;
}
async function heal(backends) {
  await ask(backends.control, { cmd: 'heal' }, 'healed');
}

function detectionSummary(failedAt, downAt, waitedMs) {
  const d = [];
  const byMode = {};
  for (const [id, { at, mode }] of failedAt) {
    const t = downAt.get(id);
    const v = t === undefined ? Infinity : t - at;
    d.push(v);
    (byMode[mode] ??= []).push(v);
  }
  const max = (a) => Math.max(...a);
  const fmt = (v) => (v === Infinity ? `not within ${Math.round(waitedMs)} ms` : `${Math.round(v)} ms`);
  const modes = Object.entries(byMode).map(([m, a]) => `${m} max ${fmt(max(a))}`).join(', ');
  const late = d.filter((v) => v > BOUND_MS).length;
  return { n: d.length, maxMs: max(d), minMs: Math.min(...d), late, text: `${d.length} failed: min ${fmt(Math.min(...d))}, max ${fmt(max(d))} (${modes}); ${late} later than ${BOUND_MS} ms` };
}

function pickFailures(servers, k) {
  const step = Math.floor(servers.length / k);
  return Array.from({ length: k }, (_, i) => servers[i * step + 7][0]);
}

async function runLvskit(servers, backends, mode) {
  const label = mode === 'naive' ? 'naive (one at a time)' : mode === 'floor' ? 'node net floor' : mode === 'node' ? 'lvskit (node sockets)' : 'lvskit';
  const argv = [process.execPath];
  if (process.env.MONITORS_BENCH_PROFILE && mode !== 'naive') argv.push('--cpu-prof', '--cpu-prof-dir=/tmp/lvskit-monitors-prof');
  argv.push(path.join(HERE, 'monitors', 'checker.mjs'));
  // 'node': the same Monitor and checks with the native probe engine switched off (node's net.Socket).
  const c = start(argv, { ipc: true, env: { LVSKIT_MONITORS_NATIVE: mode === 'node' ? '0' : '1' } });
  const up = await ask(
    c,
    { cmd: 'start', servers, mode, intervalMs: INTERVAL_MS, timeoutMs: TIMEOUT_MS, fall: FALL, rise: RISE, concurrency: CONCURRENCY, coalesceMs: COALESCE_MS },
    'up',
    60_000,
  );
  if (up.cmd === 'not-up') console.log(`  ${label}: only ${up.up}/${up.n} servers up after ${Math.round(up.ms)} ms`);
  await sleep(3000);
  const window = mode === 'lvskit' || mode === 'node' ? WINDOW_S : Math.min(WINDOW_S, 10);
  const req0 = await backendRequests(backends);
  const bcpu0 = await backendCpu(backends);
  c.send({ cmd: 'window' });
  const t0 = performance.now();
  await sleep(window * 1000);
  const rep = await ask(c, { cmd: 'report' }, 'report');
  const req = (await backendRequests(backends)) - req0;
  const bcpu = (await backendCpu(backends)) - bcpu0;
  const secs = (performance.now() - t0) / 1000;
  const tw = timeWait();
  let det = { n: 0, maxMs: NaN, text: 'n/a (no server state: a reference for the socket cost only)' };
  // Detection: fail a few servers now and wait for their state changes.
  if (mode !== 'floor') {
    const ids = pickFailures(servers, FAILURES).slice(0, mode === 'naive' ? 6 : FAILURES);
    const downAt = new Map();
    c.on('message', (m) => {
      if (m.cmd === 'state' && !m.up && !downAt.has(m.id)) downAt.set(m.id, m.at);
    });
    c.send({ cmd: 'watch', ids });
    const failedAt = await fail(backends, ids);
    const waitMs = mode === 'naive' ? 30_000 : BOUND_MS + 3000;
    const tf = performance.now();
    while (downAt.size < ids.length && performance.now() - tf < waitMs) await sleep(50);
    det = detectionSummary(failedAt, downAt, performance.now() - tf);
  }
  c.expectedExit = true;
  c.send({ cmd: 'stop' });
  await new Promise((r) => (c.exitCode !== null ? r() : c.once('exit', r)));
  await heal(backends);
  const cpuS = rep.cpuTicks / HZ;
  return {
    label,
    checksPerS: req / secs,
    resultsPerS: rep.checks / rep.elapsedMs * 1000,
    okShare: rep.checks ? rep.ok / rep.checks : 0,
    cpuMsPer1000: (cpuS * 1e6) / req,
    sysMsPer1000: ((rep.sysTicks / HZ) * 1e6) / req,
    cpuCores: cpuS / secs,
    mainCores: rep.mainTicks / HZ / secs,
    rssMiB: rep.rssMiB,
    eldP99Ms: rep.eldP99Ms,
    eldMaxMs: rep.eldMaxMs,
    backendCpuMsPer1000: ((bcpu / HZ) * 1e6) / req,
    timeWait: tw,
    det,
    reasons: rep.reasons,
    waiting: rep.waiting,
    slots: rep.slots,
    epollFds: rep.epollFds,
  };
}

function haproxyConfig(servers, dir) {
  const lines = [
    'global',
    '  nbthread 1',
    '  maxconn 2000',
    '  log stdout format raw local0',
    'defaults',
    '  mode http',
    '  log global',
    '  timeout connect 1s',
    '  timeout check 1s',
    '  timeout client 5s',
    '  timeout server 5s',
    // HAProxy will not start without a listener: one unix socket nobody connects to.
    'frontend fe',
    `  bind ${path.join(dir, 'fe.sock')}`,
    '  default_backend be',
    'backend be',
    '  option httpchk',
    '  http-check send meth GET uri /health ver HTTP/1.1 hdr Host svc.bench',
    '  http-check expect status 200',
    `  default-server check inter ${INTERVAL_MS}ms fall ${FALL} rise ${RISE}`,
    ...servers.map(([id, a, p]) => `  server ${id} ${a}:${p}`),
  ];
  return lines.join('\n') + '\n';
}

async function runHaproxy(servers, backends) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lvskit-bench-haproxy-'));
  try {
    const cfg = path.join(dir, 'haproxy.cfg');
    writeFileSync(cfg, haproxyConfig(servers, dir));
    const c = start([HAPROXY, '-db', '-f', cfg], { stdout: 'pipe' });
    const downAt = new Map();
    let out = '';
    const onData = (d) => {
      const t = epoch();
      out += d.toString();
      let nl;
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        const m = /Server be\/(s\d+) is DOWN/.exec(line);
        if (m && !downAt.has(m[1])) downAt.set(m[1], t);
      }
    };
    c.stdout.on('data', onData);
    c.stderr.on('data', onData);
    // HAProxy starts servers up and spreads its first checks over one interval; give it time to settle.
    await sleep(5000);
    if (c.exitCode !== null) throw new Error(`haproxy exited: ${c.exitCode}`);
    const pid = c.pid; // sh exec'd haproxy: same pid
    const req0 = await backendRequests(backends);
    const bcpu0 = await backendCpu(backends);
    const cpu0 = procCpuTicks(pid);
    const sys0 = procUserSys(pid)[1];
    const t0 = performance.now();
    await sleep(WINDOW_S * 1000);
    const cpu = procCpuTicks(pid) - cpu0;
    const sys = procUserSys(pid)[1] - sys0;
    const req = (await backendRequests(backends)) - req0;
    const bcpu = (await backendCpu(backends)) - bcpu0;
    const secs = (performance.now() - t0) / 1000;
    const rss = procRssMiB(pid);
    const tw = timeWait();
    downAt.clear();
    const ids = pickFailures(servers, FAILURES);
    const failedAt = await fail(backends, ids);
    const tf = performance.now();
    while (ids.some((id) => !downAt.has(id)) && performance.now() - tf < BOUND_MS + 3000) await sleep(50);
    const det = detectionSummary(failedAt, new Map(ids.filter((id) => downAt.has(id)).map((id) => [id, downAt.get(id)])), performance.now() - tf);
    c.expectedExit = true;
    c.kill('SIGTERM');
    await new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', r)));
    await heal(backends);
    const cpuS = cpu / HZ;
    return {
      label: 'HAProxy',
      checksPerS: req / secs,
      cpuMsPer1000: (cpuS * 1e6) / req,
      sysMsPer1000: ((sys / HZ) * 1e6) / req,
      cpuCores: cpuS / secs,
      rssMiB: rss,
      backendCpuMsPer1000: ((bcpu / HZ) * 1e6) / req,
      timeWait: tw,
      det,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : String(x));
const f0 = (x) => (Number.isFinite(x) ? Math.round(x).toString() : String(x));

function printRun(n, r) {
  console.log(
    `  ${r.label.padEnd(22)} checks/s ${f0(r.checksPerS).padStart(6)}  CPU ${f1(r.cpuMsPer1000).padStart(6)} ms/1000 checks (sys ${f1(r.sysMsPer1000)}; ${r.cpuCores.toFixed(2)} cores${r.mainCores === undefined ? '' : `, main thread ${r.mainCores.toFixed(2)}`})` +
      `  RSS ${f0(r.rssMiB)} MiB` +
      (r.eldP99Ms !== undefined ? `  loop delay p99 ${f1(r.eldP99Ms)} ms (max ${f1(r.eldMaxMs)})` : '') +
      `  [backends ${f1(r.backendCpuMsPer1000)} ms/1000, TIME_WAIT ${r.timeWait}]`,
  );
  if (r.okShare !== undefined && r.okShare < 0.999) {
    console.log(`    warning: only ${(r.okShare * 100).toFixed(2)} % of the checks were ok; ${r.waiting} servers waiting for a slot at the end; failures: ${r.reasons.map(([k, v]) => `${k} x${v}`).join('; ')}`);
  }
  if (r.epollFds !== undefined) console.log(`    epoll descriptors in the checker: ${r.epollFds} (the native probe engine adds one to node's own)`);
  if (r.slots !== undefined && r.label !== 'node net floor') {
    const s = r.slots;
    console.log(`    concurrency: at most ${s.maxRunning} checks running; servers waiting for a slot in ${s.waitingSamples} of ${s.samples} samples (max ${s.maxWaiting})`);
  }
  console.log(`    detection: ${r.det.text}`);
}

async function main() {
  console.log(`monitors: HTTP check every ${INTERVAL_MS} ms, timeout ${TIMEOUT_MS} ms, fall ${FALL}, rise ${RISE}; detection bound interval x fall + timeout + 50 = ${BOUND_MS} ms`);
  console.log(`lvskit Monitor: concurrency ${CONCURRENCY}, coalesceMs ${COALESCE_MS}, jitter 0.1 (defaults otherwise)`);
  console.log(`machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}, ${execFileSync(HAPROXY, ['-v']).toString().split('\n')[0]}`);
  console.log(`load before: ${load()}`);
  for (const n of SIZES) {
    const servers = serverList(n);
    console.log(`\n${n} servers (${WEB_PROCESSES} HAProxy web processes + 1 node process for the ${FAILURES} servers that fail; window ${WINDOW_S} s)`);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lvskit-bench-web-'));
    const backends = await startBackends(servers, new Set(pickFailures(servers, FAILURES)), dir);
    const results = [];
    try {
      for (const what of ONLY) {
        const r = what === 'haproxy' ? await runHaproxy(servers, backends) : await runLvskit(servers, backends, what);
        printRun(n, r);
        results.push(r);
        await sleep(2000);
      }
    } finally {
      stopBackends(backends);
      rmSync(dir, { recursive: true, force: true });
    }
    const h = results.find((r) => r.label === 'HAProxy');
    for (const l of results.filter((r) => r.label === 'lvskit' || r.label === 'lvskit (node sockets)')) {
      if (!h) break;
      console.log(
        `  ratio ${l.label}/HAProxy: CPU per check ${(l.cpuMsPer1000 / h.cpuMsPer1000).toFixed(2)}x (lower is better, goal <= 2), checks/s ${(l.checksPerS / h.checksPerS).toFixed(3)}x, worst detection ${f0(l.det.maxMs)} vs ${f0(h.det.maxMs)} ms (bound ${BOUND_MS}), ${l.det.late} late`,
      );
    }
    await sleep(1000);
  }
  console.log(`\nload after: ${load()}`);
}

await main();
cleanup();
