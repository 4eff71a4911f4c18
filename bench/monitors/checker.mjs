// The lvskit side of the monitors benchmark, in its own process so its CPU
// time is its own: a Monitor running one HttpCheck per server every interval,
// or (mode 'naive') the same checks one at a time (keepalived-style baseline), or (mode 'node', run
// with LVSKIT_MONITORS_NATIVE=0) the same Monitor on node's sockets instead of the native probe engine,
// or (mode 'floor') bare node sockets doing the same exchanges (see startFloor).
//
// IPC: parent sends { cmd: 'start', servers: [[id, address, port], ...], mode, intervalMs, timeoutMs, fall, rise, concurrency, coalesceMs }
//   -> { cmd: 'up', n, ms } once every server is up (or { cmd: 'not-up', up, n } after 30 s)
// { cmd: 'window' }   -> starts a measurement window (checks, CPU ticks, event-loop delay)
// { cmd: 'report' }   -> { cmd: 'report', checks, ok, cpuTicks, sysTicks, mainTicks (main thread only), elapsedMs, eldP99Ms, eldMaxMs, rssMiB }
// { cmd: 'watch', ids } -> from now on sends { cmd: 'state', id, up, at } for these servers
// Loopback addresses only (the parent picks them).
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { HttpCheck, Monitor } from 'lvskit/monitors';

/** [utime, stime] of this process (all threads), in clock ticks. */
function cpuTicks() {
  return statTicks('/proc/self/stat');
}
/** [utime, stime] of the main thread alone (the event loop; V8's GC and compiler helpers run on others). */
function mainTicks() {
  return statTicks(`/proc/self/task/${process.pid}/stat`);
}
function statTicks(file) {
  const f = readFileSync(file, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return [Number(rest[11]), Number(rest[12])];
}
const now = () => performance.timeOrigin + performance.now();
/** epoll descriptors this process holds: lvskit's native probe engine adds one to node's own. */
function epollFds() {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === 'anon_inode:[eventpoll]') n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

let monitor;
let checks = 0;
let ok = 0;
let win;
let slots;
let sampler;
/** Failure reasons seen in the window, with counts. */
const reasons = new Map();
const watched = new Set();
const eld = monitorEventLoopDelay({ resolution: 10 });

process.on('message', (m) => {
  if (m.cmd === 'start') start(m);
  else if (m.cmd === 'window') {
    eld.reset();
    reasons.clear();
    eld.enable();
    win = { checks, ok, cpu: cpuTicks(), main: mainTicks(), t: performance.now() };
    // How often the concurrency limit made servers wait: sampled every 20 ms over the window.
    slots = { samples: 0, waitingSamples: 0, maxWaiting: 0, maxRunning: 0 };
    clearInterval(sampler);
    sampler = setInterval(() => {
      slots.samples++;
      if (monitor.waiting > 0) slots.waitingSamples++;
      slots.maxWaiting = Math.max(slots.maxWaiting, monitor.waiting);
      slots.maxRunning = Math.max(slots.maxRunning, monitor.running ?? 0);
    }, 20);
  } else if (m.cmd === 'report') {
    eld.disable();
    clearInterval(sampler);
    process.send({
      cmd: 'report',
      checks: checks - win.checks,
      ok: ok - win.ok,
      cpuTicks: cpuTicks()[0] + cpuTicks()[1] - win.cpu[0] - win.cpu[1],
      sysTicks: cpuTicks()[1] - win.cpu[1],
      mainTicks: mainTicks()[0] + mainTicks()[1] - win.main[0] - win.main[1],
      elapsedMs: performance.now() - win.t,
      eldP99Ms: eld.percentile(99) / 1e6,
      eldMaxMs: eld.max / 1e6,
      rssMiB: process.memoryUsage().rss / 2 ** 20,
      waiting: monitor.waiting,
      slots,
      reasons: [...reasons].sort((a, b) => b[1] - a[1]).slice(0, 4),
      epollFds: epollFds(),
    });
  } else if (m.cmd === 'watch') {
    for (const id of m.ids) watched.add(id);
  } else if (m.cmd === 'stop') {
    void monitor.stop().then(() => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));

/**
 * Mode 'floor': what node's net module alone costs for the same traffic, as a
 * reference for where lvskit's CPU goes: every server gets, once per interval
 * (spread over 10 ms ticks), a connect, the same request written once, the
 * first read of the answer, and a RST close. No parsing, no deadline, no
 * state, no metrics. Counts a check when the first bytes of an answer arrive.
 */
function startFloor(m) {
  const req = Buffer.from('GET /health HTTP/1.1\r\nhost: svc.bench\r\nuser-agent: lvskit-monitor\r\nconnection: close\r\n\r\n');
  const buffer = Buffer.allocUnsafe(65536);
  const onread = { buffer, callback: onFloorRead };
  const servers = m.servers;
  const perTick = servers.length / (m.intervalMs / 10);
  let next = 0;
  let credit = 0;
  monitor = { waiting: 0, running: 0, stop: async () => clearInterval(tick) };
  const tick = setInterval(() => {
    credit += perTick;
    for (; credit >= 1; credit--) {
      const [, host, port] = servers[next];
      next = (next + 1) % servers.length;
      const sock = connect({ host, port, onread });
      sock.write(req);
      sock.on('error', onFloorError);
    }
  }, 10);
  process.send({ cmd: 'up', up: servers.length, n: servers.length, ms: 0 });
}
function onFloorRead(n) {
  if (n > 0) {
    checks++;
    ok++;
  }
  this.resetAndDestroy();
  return false;
}
function onFloorError() {
  checks++;
}

function start(m) {
  if (m.mode === 'floor') {
    startFloor(m);
    return;
  }
  const naive = m.mode === 'naive';
  const http = new HttpCheck({ path: '/health', host: 'svc.bench', timeoutMs: m.timeoutMs });
  monitor = new Monitor({ concurrency: naive ? 1 : m.concurrency, coalesceMs: m.coalesceMs });
  for (const [id, address, port] of m.servers) {
    monitor.add({
      id,
      target: { address, port, service: 'bench' },
      checks: [{ name: 'http', check: http, intervalMs: m.intervalMs }],
      rise: m.rise,
      fall: m.fall,
      initial: 'first-result',
    });
  }
  let up = 0;
  monitor.on('result', (_id, _c, r) => {
    checks++;
    if (r.ok) ok++;
    else if (win !== undefined) {
      const k = r.reason.replace(/\d+/g, 'N');
      reasons.set(k, (reasons.get(k) ?? 0) + 1);
    }
  });
  monitor.on('state', (id, isUp) => {
    up += isUp ? 1 : -1;
    if (watched.has(id)) process.send({ cmd: 'state', id, up: isUp, at: now() });
  });
  const t0 = performance.now();
  monitor.start();
  // Naive mode may never see every server within a few seconds: report after the first full pass instead.
  const poll = setInterval(() => {
    const all = up === m.servers.length;
    if (all || (naive && monitor.settled) || performance.now() - t0 > 30_000) {
      clearInterval(poll);
      process.send({ cmd: all || naive ? 'up' : 'not-up', up, n: m.servers.length, ms: performance.now() - t0 });
    }
  }, 50);
}
