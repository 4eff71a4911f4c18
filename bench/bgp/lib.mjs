// Helpers for bench/bgp.bench.mjs: a network namespace of our own, daemons started and stopped by PID,
// per-process CPU and peak RSS from /proc, and bounded polling. Nothing here talks to anything outside
// the namespace the benchmark creates (its loopback is 127.0.0.0/8 and ::1, private to it).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Clock ticks per second for /proc/<pid>/stat (getconf CLK_TCK; 100 on Linux). */
const TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** CPU seconds (user + system) of one process, or NaN when it is gone. */
export function cpuSeconds(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICKS; // fields 14 and 15 (utime, stime)
  } catch {
    return NaN;
  }
}

/** Peak resident set (VmHWM) in MiB, or NaN when the process is gone. */
export function peakRssMiB(pid) {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: opts.timeout ?? 30_000, maxBuffer: 64 * 2 ** 20 });
  if (opts.check !== false && r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}: ${(r.stderr || r.stdout || '').trim().slice(0, 500)}`);
  }
  return r.stdout ?? '';
}

/** A network namespace of our own with loopback up. `exec` prefixes a command to run inside it. */
export function createNetns() {
  const name = `lvkbench-${process.pid}`;
  run('ip', ['netns', 'add', name]);
  run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return {
    name,
    exec: (cmd, args) => ['ip', ['netns', 'exec', name, cmd, ...args]],
    destroy: () => run('ip', ['netns', 'del', name], { check: false }),
  };
}

export function tempDir(tag) {
  return mkdtempSync(join(tmpdir(), `lvkbench-${tag}-`));
}

export function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true });
}

const started = new Set();

/**
 * Start a process (in the namespace when `ns` is given; `ip netns exec` execs, so the PID is the
 * daemon's own). Output goes to `logFile`. Returns { pid, child, stop() }.
 */
export function startProcess(ns, cmd, args, { logFile, ipc = false, env } = {}) {
  const [c, a] = ns ? ns.exec(cmd, args) : [cmd, args];
  const stdio = ['ignore', 'pipe', 'pipe'];
  if (ipc) stdio.push('ipc');
  const child = spawn(c, a, { stdio, env: env ?? process.env });
  let log = '';
  const keep = (d) => {
    log += d.toString();
    if (log.length > 200_000) log = log.slice(-100_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const proc = {
    pid: child.pid,
    alive: () => child.exitCode === null && child.signalCode === null,
    child,
    exited: new Promise((r) => child.once('exit', (code, sig) => r(code ?? sig))),
    log: () => log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await proc.exited;
        clearTimeout(t);
      }
      started.delete(proc);
      try {
        if (logFile) writeFileSync(logFile, log);
      } catch {
        // its temp dir is already gone (interrupted run)
      }
    },
  };
  started.add(proc);
  return proc;
}

/** Stop everything still running that we started (by PID, through our own child handles). */
export async function stopAll() {
  for (const p of [...started]) {
    try {
      await p.stop();
    } catch (e) {
      console.error(`stopping PID ${p.pid}: ${e.message}`);
      p.child.kill('SIGKILL');
    }
  }
}

/**
 * Poll `probe()` every `intervalMs` (a number, or a function of the time elapsed) until `done(value)` or `timeoutMs` passes; calls `onValue(value, t)`
 * for each answer, `t` being when the answer arrived (the value was true by then). Bounded by time and
 * therefore by count. Gives up (undefined) early when `alive()` turns false (the daemon died).
 */
export async function poll(probe, { intervalMs, timeoutMs, done, onValue, alive }) {
  const t0 = Date.now();
  for (;;) {
    if (alive !== undefined && !alive()) return undefined;
    const t = Date.now();
    let v;
    try {
      v = await probe();
    } catch {
      v = undefined;
    }
    onValue?.(v, Date.now());
    if (v !== undefined && done(v)) return v;
    if (Date.now() - t0 > timeoutMs) return undefined;
    const every = typeof intervalMs === 'function' ? intervalMs(Date.now() - t0) : intervalMs;
    await sleep(Math.max(0, every - (Date.now() - t)));
  }
}

/** Run a command and return its stdout, asynchronously (so polling does not block our event loop). */
export function runAsync(cmd, args, timeoutMs = 20_000) {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (err += d));
    const t = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    c.on('close', (code) => {
      clearTimeout(t);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')}: ${code} ${err.trim().slice(0, 300)}`));
    });
  });
}

export function uptime() {
  return run('uptime', [], { check: false }).trim();
}

/** The i-th benchmark IPv4 prefix: /24s from 11.0.0.0 up (a million of them fit below 27.0.0.0). */
export function prefixV4(i) {
  return `${11 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.0/24`;
}

/** The i-th benchmark IPv6 prefix: /48s in the documentation range 2001:db8::/32. */
export function prefixV6(i) {
  return `2001:db8:${i.toString(16)}::/48`;
}

export function fmt(x, digits = 2) {
  return Number.isFinite(x) ? x.toFixed(digits) : 'n/a';
}
