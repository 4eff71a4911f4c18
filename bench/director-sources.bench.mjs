#!/usr/bin/env node
// examples/director pool sources benchmark: how soon an etcd write reaches the director, through
// our etcd pool source (etcd's JSON gRPC gateway, examples/director/sources), side by side in the
// same run with the anchor: etcd's own Go client, `etcdctl watch --prefix` (gRPC), watching the same
// keys on the same etcd.
//   1. one service, 100 servers: N sequential writes (weight flips); per write, time from sending
//      the put to (a) our source's `pool` event (full pool parsed, sorted, compared) and (b) etcdctl
//      printing the event (read from its stdout pipe here).
//   2. 200 services x 100 servers (20,000 keys): 200 of our sources (one watch each) against one
//      etcdctl watching the whole /conftool/v1/pools/ prefix; time to all 200 fresh, our RSS and CPU,
//      then writes to random services, latency to each side.
// Env: SOURCES_BENCH_WRITES=300 SOURCES_BENCH_SERVICES=200 SOURCES_BENCH_SERVERS=100
// Loopback only; every process started here is stopped here, by its pid.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { startEtcd } from './director-sources/etcd.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.join(HERE, '..');
const WRITES = Number(process.env.SOURCES_BENCH_WRITES ?? 300);
const SERVICES = Number(process.env.SOURCES_BENCH_SERVICES ?? 200);
const SERVERS = Number(process.env.SOURCES_BENCH_SERVERS ?? 100);
const now = () => performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const q = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
};
const fmt = (ms) => `${ms.toFixed(2)} ms`;

// The sources are TypeScript; bundle them (with yaml and eventemitter3, as CJS: yaml requires node builtins) for this process.
const tmp = mkdtempSync(path.join(os.tmpdir(), 'lvskit-bench-sources-'));
const out = path.join(tmp, 'sources.cjs');
await build({ entryPoints: [path.join(ROOT, 'examples/director/sources/index.ts')], bundle: true, platform: 'node', format: 'cjs', target: 'node20', outfile: out, logLevel: 'error' });
const mod = await import(out);
const { createPoolSource } = mod.default ?? mod;

const etcd = await startEtcd();
const children = new Set();
const cleanup = async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await etcd.stop();
  rmSync(tmp, { recursive: true, force: true });
};
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));

/** etcdctl watch --prefix P; calls onKey(key) for each event, at the moment its output arrives. */
function etcdctlWatch(prefix, onKey) {
  const p = spawn('etcdctl', ['--endpoints', etcd.endpoint, 'watch', '--prefix', prefix], { env: { ...process.env, ETCDCTL_API: '3' }, stdio: ['ignore', 'pipe', 'ignore'] });
  children.add(p);
  let buf = '';
  let lineNo = 0;
  p.stdout.setEncoding('utf8');
  p.stdout.on('data', (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      // etcdctl prints: PUT \n key \n value
      if (lineNo % 3 === 1) onKey(line);
      lineNo++;
    }
  });
  return p;
}

function cpuMs() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

try {
  console.log(`load before: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  // ---- 1. one service, 100 servers
  const P1 = '/conftool/v1/pools/bench/one/svc/';
  for (let i = 0; i < SERVERS; i += 100) {
    await etcd.putMany(Array.from({ length: Math.min(100, SERVERS - i) }, (_, j) => [`${P1}h${i + j}.example`, JSON.stringify({ weight: 10, pooled: 'yes' })]));
  }
  let oursAt = 0;
  let ctlAt = 0;
  const src = createPoolSource({ type: 'etcd', endpoints: [etcd.endpoint], prefix: P1, probeMs: 0 }, { service: 'svc' });
  src.on('pool', () => (oursAt = now()));
  await src.start();
  const ctl = etcdctlWatch(P1, () => (ctlAt = now()));
  await sleep(1000); // etcdctl connected and watching
  const ours = [];
  const theirs = [];
  for (let i = 0; i < WRITES + 20; i++) {
    oursAt = 0;
    ctlAt = 0;
    const t0 = now();
    // A new weight for that host every time (an unchanged pool emits no event).
    await etcd.put(`${P1}h${i % SERVERS}.example`, JSON.stringify({ weight: 20 + (i % 50) + (Math.floor(i / SERVERS) % 2) * 50, pooled: 'yes' }));
    const end = now() + 5000;
    while ((oursAt === 0 || ctlAt === 0) && now() < end) await sleep(0);
    if (oursAt === 0 || ctlAt === 0) throw new Error(`write ${i} not seen by ${oursAt === 0 ? 'our source' : 'etcdctl'} within 5 s`);
    if (i >= 20) {
      ours.push(oursAt - t0);
      theirs.push(ctlAt - t0);
    }
  }
  await src.stop();
  ctl.kill('SIGKILL');
  console.log(`\n1. etcd write -> seen, one service of ${SERVERS} servers, ${WRITES} writes (after 20 warm-up)`);
  console.log('   metric            ours (gateway watch)   etcdctl watch (gRPC)   ratio ours/etcdctl (lower is better)');
  for (const [name, p] of [['median', 0.5], ['p95', 0.95], ['p99', 0.99]]) {
    console.log(`   ${name.padEnd(17)} ${fmt(q(ours, p)).padEnd(22)} ${fmt(q(theirs, p)).padEnd(22)} ${(q(ours, p) / q(theirs, p)).toFixed(2)}`);
  }

  // ---- 2. 200 services x 100 servers
  const P = (s) => `/conftool/v1/pools/bench/many/s${s}/`;
  for (let s = 0; s < SERVICES; s++) {
    for (let i = 0; i < SERVERS; i += 100) {
      await etcd.putMany(Array.from({ length: Math.min(100, SERVERS - i) }, (_, j) => [`${P(s)}h${i + j}.example`, JSON.stringify({ weight: 10, pooled: 'yes' })]));
    }
  }
  globalThis.gc?.();
  const rss0 = process.memoryUsage().rss;
  const cpu0 = cpuMs();
  const t0 = now();
  const seen = new Map();
  const sources = [];
  for (let s = 0; s < SERVICES; s++) {
    const x = createPoolSource({ type: 'etcd', endpoints: [etcd.endpoint], prefix: P(s), probeMs: 10_000 }, { service: `s${s}` });
    x.on('pool', () => seen.set(s, now()));
    sources.push(x);
  }
  await Promise.all(sources.map((x) => x.start()));
  const allFresh = now() - t0;
  const cpuStart = cpuMs() - cpu0;
  const rss1 = process.memoryUsage().rss;
  const ctlSeen = new Map();
  const ctl2 = etcdctlWatch('/conftool/v1/pools/bench/many/', (key) => ctlSeen.set(key, now()));
  await sleep(1000);
  const cpuIdle0 = cpuMs();
  await sleep(5000);
  const cpuIdle = (cpuMs() - cpuIdle0) / 5000;
  const ours2 = [];
  const theirs2 = [];
  const WRITES2 = Math.min(WRITES, 200);
  for (let i = 0; i < WRITES2; i++) {
    const s = (i * 7919) % SERVICES;
    const key = `${P(s)}h${i % SERVERS}.example`;
    seen.delete(s);
    ctlSeen.delete(key);
    const w0 = now();
    await etcd.put(key, JSON.stringify({ weight: 20 + (i % 5), pooled: 'yes' }));
    const end = now() + 5000;
    while ((!seen.has(s) || !ctlSeen.has(key)) && now() < end) await sleep(0);
    if (!seen.has(s) || !ctlSeen.has(key)) throw new Error(`write ${i} not seen within 5 s`);
    ours2.push(seen.get(s) - w0);
    theirs2.push(ctlSeen.get(key) - w0);
  }
  await Promise.all(sources.map((x) => x.stop()));
  ctl2.kill('SIGKILL');
  console.log(`\n2. ${SERVICES} services x ${SERVERS} servers (${SERVICES * SERVERS} keys): ${SERVICES} of our sources vs one etcdctl watching them all`);
  console.log(`   ours: all ${SERVICES} pools read and watched in ${fmt(allFresh)} (CPU ${fmt(cpuStart)}), RSS +${((rss1 - rss0) / 2 ** 20).toFixed(1)} MiB, idle CPU ${(cpuIdle * 100).toFixed(2)} % (liveness probe every 10 s per source)`);
  console.log('   metric            ours                   etcdctl watch          ratio ours/etcdctl (lower is better)');
  for (const [name, p] of [['median', 0.5], ['p95', 0.95], ['p99', 0.99]]) {
    console.log(`   ${name.padEnd(17)} ${fmt(q(ours2, p)).padEnd(22)} ${fmt(q(theirs2, p)).padEnd(22)} ${(q(ours2, p) / q(theirs2, p)).toFixed(2)}`);
  }
  console.log(`\nload after: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
} finally {
  await cleanup();
}
