#!/usr/bin/env node
// lvskit/bgp benchmark (BGP issue): receive a full table beside GoBGP, FRR and BIRD; send a table to
// BIRD beside ExaBGP and GoBGP; UPDATE encode/decode rates. See BENCHMARKS.md "lvskit/bgp" for what is
// measured and how. Needs root (a network namespace of its own) and bird2, gobgpd, frr, exabgp.
//
//   npm run bench -- bgp                         full run (N = 1,000,000)
//   LVSKIT_BENCH_BGP_N=100000 npm run bench -- bgp
//   LVSKIT_BENCH_BGP_PARTS=codec,receive,send LVSKIT_BENCH_BGP_SHAPES=one,sets
//   LVSKIT_BENCH_BGP_RECEIVERS=lvskit,bird,frr,gobgp LVSKIT_BENCH_BGP_SENDERS=lvskit,exabgp,gobgp
//   LVSKIT_BENCH_BGP_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"   (profile the lvskit process)
//
// Every daemon runs inside the namespace, one at a time, from its own temp directory, and is stopped
// by its PID. Traffic never leaves the namespace's loopback.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { codecBench } from './bgp/codec.mjs';
import {
  ADDR,
  ASN,
  NEXT_HOP4,
  NEXT_HOP6,
  birdImported,
  birdProtocol,
  birdc,
  gobgpReceiverNeighbor,
  gobgpSenderConfig,
  startBirdReceiver,
  startExabgp,
  startFrr,
  startGobgp,
  startSourceBird,
} from './bgp/daemons.mjs';
import { cpuSeconds, createNetns, fmt, peakRssMiB, poll, prefixV4, prefixV6, removeDir, startProcess, stopAll, tempDir, uptime } from './bgp/lib.mjs';
import { writeMrt } from './bgp/mrt.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const env = process.env;
const list = (v, d) => (v ?? d).split(',').filter(Boolean);
const N = Number(env.LVSKIT_BENCH_BGP_N ?? 1_000_000);
const PARTS = list(env.LVSKIT_BENCH_BGP_PARTS, 'codec,receive,send');
const SHAPES = list(env.LVSKIT_BENCH_BGP_SHAPES, 'one,sets');
const RECEIVERS = list(env.LVSKIT_BENCH_BGP_RECEIVERS, 'lvskit,bird,frr,gobgp');
const SENDERS = list(env.LVSKIT_BENCH_BGP_SENDERS, 'lvskit,exabgp,gobgp');
const SEND_V4 = Number(env.LVSKIT_BENCH_BGP_SEND_V4 ?? 100_000);
const SEND_V6 = Number(env.LVSKIT_BENCH_BGP_SEND_V6 ?? 10_000);
const POLL_MS = Number(env.LVSKIT_BENCH_BGP_POLL_MS ?? 200);
const TIMEOUT_MS = Number(env.LVSKIT_BENCH_BGP_TIMEOUT_S ?? 300) * 1000;
const KEEP = env.LVSKIT_BENCH_BGP_KEEP === '1'; // keep temp dirs (configs, logs) for a look afterwards

if (process.getuid?.() !== 0) {
  console.log('bgp benchmark: needs root (it creates a network namespace); skipped');
  process.exit(0);
}

const log = (...a) => console.log(...a);

/** lvskit in a child process, driven over IPC. */
async function startLvskit(ns, mode, args = []) {
  // The shared tree's dist/ is rebuilt (and cleaned first) by anyone's `npm run build`: when the import
  // finds it missing, wait for the build to finish and start again (bounded: 3 tries, 20 s apart).
  for (let attempt = 1; ; attempt++) {
    try {
      return await startLvskitOnce(ns, mode, args);
    } catch (e) {
      if (attempt >= 3 || !/ERR_MODULE_NOT_FOUND|Cannot find|does not provide an export/.test(e.message)) throw e;
      log(`lvskit ${mode}: dist/ was being rebuilt by someone; starting again in 20 s`);
      await new Promise((r) => setTimeout(r, 20_000));
    }
  }
}

async function startLvskitOnce(ns, mode, args) {
  // LVSKIT_BENCH_BGP_NODE_ARGS: extra node flags for the lvskit process (e.g. --cpu-prof --cpu-prof-dir=/tmp/p).
  const nodeArgs = (env.LVSKIT_BENCH_BGP_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const p = startProcess(ns, process.execPath, [...nodeArgs, join(here, 'bgp', 'lvskit-peer.mjs'), mode, ...args], { ipc: true });
  const waiting = new Map();
  let seq = 0;
  p.child.on('message', (m) => {
    if (m.ready) waiting.get('ready')?.();
    else waiting.get('count')?.(m);
  });
  await new Promise((resolve, reject) => {
    waiting.set('ready', resolve);
    p.exited.then((c) => reject(new Error(`lvskit ${mode} exited ${c}: ${p.log()}`)));
  });
  const count = () =>
    new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no answer')), 20_000);
      waiting.set('count', (m) => {
        clearTimeout(t);
        resolve(m);
      });
      p.child.send({ cmd: 'count', seq: seq++ });
    });
  return {
    ...p,
    count: async () => (await count()).count,
    info: count,
    stop: async () => {
      if (p.child.connected) p.child.send({ cmd: 'stop' });
      const t = setTimeout(() => p.child.kill('SIGKILL'), 5000);
      await p.exited;
      clearTimeout(t);
      await p.stop();
    },
  };
}

/**
 * One measured transfer: enable the BIRD protocol `proto` (BIRD connects), take Established from BIRD's
 * `show protocols` (millisecond timestamps), then poll `count()` until it reaches `target`.
 */
async function measure({ birdSock, proto, pid, count, target, alive }) {
  const cpu0 = cpuSeconds(pid);
  await birdc(birdSock, 'enable', proto);
  const est = await poll(() => birdProtocol(birdSock, proto), { intervalMs: 50, timeoutMs: 60_000, done: (p) => p.info === 'Established' });
  if (est === undefined) throw new Error(`${proto}: no session within 60 s`);
  let t99;
  let tAll;
  let last = 0;
  await poll(count, {
    // Every POLL_MS, or every 2 % of the time so far when that is longer: a count can cost the daemon
    // a walk of its table (GoBGP counts its Adj-RIB-In path by path), so probing a slow receiver at a
    // fixed short interval would slow it down; the error stays within 2 % for everyone.
    intervalMs: (elapsed) => Math.max(POLL_MS, elapsed * 0.02),
    timeoutMs: TIMEOUT_MS,
    done: (c) => c >= target,
    alive,
    onValue: (c, t) => {
      if (c === undefined) return;
      last = c;
      if (t99 === undefined && c >= 0.99 * target) t99 = t;
      if (tAll === undefined && c >= target) tAll = t;
    },
  });
  const r = {
    seconds: tAll === undefined ? NaN : (tAll - est.since) / 1000,
    seconds99: t99 === undefined ? NaN : (t99 - est.since) / 1000,
    cpu: cpuSeconds(pid) - cpu0,
    rss: peakRssMiB(pid),
    got: last,
  };
  await birdc(birdSock, 'disable', proto);
  return r;
}

function table(rows, anchorOf, cols) {
  log(`| ${cols.map((c) => c.h).join(' | ')} |`);
  log(`| ${cols.map(() => '---').join(' | ')} |`);
  for (const r of rows) log(`| ${cols.map((c) => c.f(r, anchorOf)).join(' | ')} |`);
}

async function receive(ns, shape) {
  log(`\n### receive: ${N} IPv4 prefixes from BIRD, shape '${shape}'`);
  const srcDir = tempDir('source');
  const t0 = Date.now();
  const source = await startSourceBird(ns, srcDir, { n: N, shape, receivers: RECEIVERS });
  log(`source BIRD loaded ${N} routes in ${fmt((Date.now() - t0) / 1000, 1)} s`);
  const rows = [];
  try {
    for (const name of RECEIVERS) {
      const dir = tempDir(name);
      let recv;
      try {
        if (name === 'lvskit') recv = await startLvskit(ns, 'receive');
        else if (name === 'bird') recv = await startBirdReceiver(ns, dir, { peers: [{ name: 'source', address: ADDR.source, as: ASN.source }] });
        else if (name === 'frr') recv = await startFrr(ns, dir);
        else if (name === 'gobgp') recv = await startGobgp(ns, dir, { neighbors: [gobgpReceiverNeighbor()] });
        else throw new Error(`unknown receiver ${name}`);
        const load = uptime();
        const r = await measure({ birdSock: source.sock, proto: `to_${name}`, pid: recv.pid, count: recv.count, target: N, alive: recv.alive });
        let extra = '';
        if (name === 'lvskit') {
          const info = await recv.info();
          extra = ` (${info.updates} UPDATEs, ${fmt(info.count / info.updates, 1)} prefixes each)`;
        }
        log(`${name}: ${fmt(r.seconds)} s to all, ${fmt(r.seconds99)} s to 99 %, ${fmt(r.cpu)} CPU s, ${fmt(r.rss, 0)} MiB peak RSS, ${r.got} routes${extra}; load before: ${load}`);
        rows.push({ name, ...r });
      } catch (e) {
        log(`${name}: failed: ${e.message}`);
        rows.push({ name, seconds: NaN, seconds99: NaN, cpu: NaN, rss: NaN, got: 0 });
      } finally {
        await recv?.stop();
        if (!KEEP) removeDir(dir);
      }
    }
  } finally {
    await source.stop();
    if (!KEEP) removeDir(srcDir);
  }
  const l = rows.find((r) => r.name === 'lvskit');
  log('');
  table(rows, l, [
    { h: 'receiver', f: (r) => r.name },
    { h: 'Established -> all (s)', f: (r) => fmt(r.seconds) },
    { h: '-> 99 % (s)', f: (r) => fmt(r.seconds99) },
    { h: 'CPU (s)', f: (r) => fmt(r.cpu) },
    { h: 'peak RSS (MiB)', f: (r) => fmt(r.rss, 0) },
    { h: 'lvskit/this time', f: (r) => (l ? fmt(l.seconds / r.seconds) : 'n/a') },
    { h: 'lvskit/this CPU', f: (r) => (l ? fmt(l.cpu / r.cpu) : 'n/a') },
    { h: 'lvskit/this RSS', f: (r) => (l ? fmt(l.rss / r.rss) : 'n/a') },
  ]);
  return rows;
}

async function send(ns) {
  log(`\n### send: ${SEND_V4} IPv4 + ${SEND_V6} IPv6 prefixes to BIRD`);
  const birdDir = tempDir('bird-recv');
  const bird = await startBirdReceiver(ns, birdDir, {
    peers: SENDERS.map((s) => ({ name: s, address: ADDR[s], as: ASN[s], passive: false })),
    families: ['ipv4', 'ipv6'],
  });
  const rows = [];
  try {
    for (const name of SENDERS) {
      const dir = tempDir(name);
      let p;
      try {
        if (name === 'lvskit') p = await startLvskit(ns, 'send', [String(SEND_V4), String(SEND_V6)]);
        else if (name === 'exabgp') p = await startExabgp(ns, dir, { v4: SEND_V4, v6: SEND_V6 });
        else if (name === 'gobgp') {
          p = await startGobgp(ns, dir, gobgpSenderConfig());
          const mrt = join(dir, 'table.mrt');
          writeMrt(mrt, {
            v4: Array.from({ length: SEND_V4 }, (_, i) => prefixV4(i)),
            v6: Array.from({ length: SEND_V6 }, (_, i) => prefixV6(i)),
            nextHop4: NEXT_HOP4,
            nextHop6: NEXT_HOP6,
          });
          await p.gobgp.long('mrt', 'inject', 'global', mrt); // 210,000 records: can take a while on a loaded machine
          const inRib = async (fam) => Number(/Destination: (\d+)/.exec(await p.gobgp('global', 'rib', 'summary', '-a', fam))?.[1] ?? 0);
          const ok = await poll(async () => [await inRib('ipv4'), await inRib('ipv6')], {
            intervalMs: 500,
            timeoutMs: 120_000,
            done: ([a, b]) => a === SEND_V4 && b === SEND_V6,
          });
          if (ok === undefined) throw new Error('gobgp: MRT injection did not load the table');
        } else throw new Error(`unknown sender ${name}`);
        const load = uptime();
        const proto = `from_${name}`;
        const r = await measure({
          birdSock: bird.sock,
          proto,
          pid: p.pid,
          alive: p.alive,
          count: async () => {
            const c = await birdImported(bird.sock, proto);
            return Math.min((c.ipv4 ?? 0) / SEND_V4, (c.ipv6 ?? 0) / SEND_V6);
          },
          target: 1,
        });
        log(`${name}: ${fmt(r.seconds)} s until BIRD has all, ${fmt(r.cpu)} CPU s, ${fmt(r.rss, 0)} MiB peak RSS; load before: ${load}`);
        rows.push({ name, ...r });
      } catch (e) {
        log(`${name}: failed: ${e.message}`);
        rows.push({ name, seconds: NaN, cpu: NaN, rss: NaN });
      } finally {
        await p?.stop();
        if (!KEEP) removeDir(dir);
      }
    }
  } finally {
    await bird.stop();
    if (!KEEP) removeDir(birdDir);
  }
  const l = rows.find((r) => r.name === 'lvskit');
  log('');
  table(rows, l, [
    { h: 'sender', f: (r) => r.name },
    { h: 'Established -> BIRD has all (s)', f: (r) => fmt(r.seconds) },
    { h: 'sender CPU (s)', f: (r) => fmt(r.cpu) },
    { h: 'sender peak RSS (MiB)', f: (r) => fmt(r.rss, 0) },
    { h: 'lvskit/this time', f: (r) => (l ? fmt(l.seconds / r.seconds) : 'n/a') },
  ]);
}

log(`bgp benchmark: N=${N} parts=${PARTS} shapes=${SHAPES} receivers=${RECEIVERS} senders=${SENDERS} poll=${POLL_MS}ms`);
log(`load at start: ${uptime()}`);
if (PARTS.includes('codec')) {
  log('\n### codec: UPDATE encode / decode (prefixes/s, best of 3, in process)');
  for (const shape of SHAPES) {
    const r = codecBench(N, shape);
    log(
      `${shape}: ${r.messages} UPDATEs (${fmt(r.perUpdate, 1)} prefixes each): encode ${fmt(r.encodeRate / 1e6)} M/s, decode ${fmt(r.decodeRate / 1e6)} M/s, framer+decode+Adj-RIB-In ${fmt(r.receiveRate / 1e6)} M/s`,
    );
  }
}
let ns;
const cleanup = async () => {
  await stopAll();
  ns?.destroy();
};
process.on('SIGINT', () => cleanup().then(() => process.exit(130)));
process.on('SIGTERM', () => cleanup().then(() => process.exit(143)));
try {
  if (PARTS.includes('receive') || PARTS.includes('send')) ns = createNetns();
  if (PARTS.includes('receive')) for (const shape of SHAPES) await receive(ns, shape);
  if (PARTS.includes('send')) await send(ns);
} finally {
  await cleanup();
}
log(`\nload at end: ${uptime()}`);
