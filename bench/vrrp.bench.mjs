#!/usr/bin/env node
// VRRP failover and preemption: lvskit against keepalived, in the same run, on the same lab.
//
//   npm run bench -- vrrp                       (root; keepalived, tcpdump, iproute2, chrt)
//   node bench/vrrp.bench.mjs [--trials N] [--intervals 1000,100,10]
//                             [--pairs keepalived-keepalived,lvskit-lvskit,lvskit-keepalived,keepalived-lvskit]
//                             [--faults clean,kill,cut,partition] [--json out.json]
//   (or the same as VRRP_BENCH_TRIALS, VRRP_BENCH_INTERVALS, VRRP_BENCH_PAIRS, VRRP_BENCH_FAULTS)
//
// One lab for everything (bench/vrrp/lab.mjs): routers r1 (priority 150) and r2 (priority 100),
// a client sending an echo request to the virtual address every 2 ms (bench/vrrp/pinger.mjs);
// VRRPv3, IPv4, one VRID, both daemons at their defaults otherwise. A pair `A-B` runs daemon A on
// r1 (the master) and B on r2 (the backup); the mixed pairs are the interop cases (lvskit master
// with a keepalived backup, and the reverse). For each advert interval and fault, `--trials` times:
// the fault on r1, r2 takes over, then r1 returns and preempts. Faults: `clean` (SIGTERM: priority 0), `kill` (SIGKILL of the daemon's process
// group; the VIP stays on r1, as it does after any crash), `cut` (r1's eth0 down: host death),
// `partition` (r1's bridge port detached: r1 keeps its carrier and stays master, alone; its return
// heals a split brain). Returns: a new daemon (clean, kill), the link up (cut), the port back.
//
// The fault falls at the same phases against r1's adverts for every pair (trial n: a fixed fraction
// of the interval after an advert reached the capture). Figures (ms, median [min–max] over trials) from the fault: the backup's first advert, VIP on
// the backup, its first GARP, the client's neighbour entry on the backup's MAC, the first echo
// reply through the backup (client outage), the longest echo-reply gap and echo requests lost;
// the backup's timer (from the master's priority 0 / last advert on the wire to its own first
// advert) against RFC 9568's Skew_Time / Master_Down_Interval. From the return: r1's first
// advert (preemption), the longest reply gap and requests lost (black hole), and the time both
// routers hold the VIP (dual master). Benchmarks never run in CI.
import { cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { BenchLab, PING_INTERVAL_MS, PRIORITY } from './vrrp/lab.mjs';
import { failoverFigures, masterDownMs, returnFigures, skewMs, stats } from './vrrp/analyze.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function option(name, env, def) {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && process.argv[i + 1] !== undefined) return process.argv[i + 1];
  return process.env[env] ?? def;
}

const TRIALS = Number(option('trials', 'VRRP_BENCH_TRIALS', '10'));
const INTERVALS = option('intervals', 'VRRP_BENCH_INTERVALS', '1000,100,10').split(',').map(Number);
const PAIRS = option('pairs', 'VRRP_BENCH_PAIRS', 'keepalived-keepalived,lvskit-lvskit,lvskit-keepalived,keepalived-lvskit').split(',').map((p) => p.split('-'));
const FAULTS = option('faults', 'VRRP_BENCH_FAULTS', 'clean,kill,cut,partition').split(',');
const JSON_OUT = option('json', 'VRRP_BENCH_JSON', '');

function usage(msg) {
  console.error(`vrrp bench: ${msg}`);
  process.exit(2);
}
if (!(Number.isInteger(TRIALS) && TRIALS >= 1 && TRIALS <= 100)) usage('--trials is 1..100');
for (const iv of INTERVALS) if (!(Number.isInteger(iv / 10) && iv >= 10 && iv <= 40_950)) usage(`interval ${iv} ms: 10..40950 in steps of 10 (VRRPv3)`);
for (const p of PAIRS) if (p.length !== 2 || p.some((x) => x !== 'keepalived' && x !== 'lvskit')) usage(`pair ${p.join('-')}: <keepalived|lvskit>-<keepalived|lvskit>`);
for (const f of FAULTS) if (!['clean', 'kill', 'cut', 'partition'].includes(f)) usage(`fault ${f}: clean, kill, cut or partition`);
if (process.getuid?.() !== 0) usage('needs root (network namespaces)');
for (const tool of ['keepalived', 'tcpdump', 'ip', 'chrt']) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) usage(`${tool} not found (apt-get install keepalived tcpdump iproute2 util-linux)`);
}
if (!existsSync(new URL('../dist/vrrp/index.js', import.meta.url))) usage('dist/ is missing: npm run build (npm run bench does it)');
// The routers load a private copy of the build made now: a `npm run build` elsewhere in the tree
// empties dist/ while it runs, and a router started then would fail. Under node_modules/ so its bare
// imports resolve, and lvskit's package.json (the native addon's root) is found above it.
const SNAPSHOT = fileURLToPath(new URL(`../node_modules/.cache/lvskit-vrrp-bench-${process.pid}/`, import.meta.url));
mkdirSync(`${SNAPSHOT}vrrp`, { recursive: true });
cpSync(fileURLToPath(new URL('../dist/vrrp/index.js', import.meta.url)), `${SNAPSHOT}vrrp/index.js`);
const ROUTER_MODULE = pathToFileURL(`${SNAPSHOT}vrrp/index.js`).href;
process.on('exit', () => rmSync(SNAPSHOT, { recursive: true, force: true }));

const short = { keepalived: 'keepalived', lvskit: 'lvskit' };
const pairName = (p) => `${short[p[0]]}→${short[p[1]]}`;

// netlab.ts is TypeScript: load it through the lab tier's loader.
await import('../test/lab/harness/ts-register.mjs');
const { createLab } = await import('../test/lab/harness/netlab.ts');

const uptime = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');
const loadBefore = uptime();
const started = Date.now();
console.log(`vrrp bench: ${TRIALS} trials, intervals ${INTERVALS.join(', ')} ms, pairs ${PAIRS.map(pairName).join(', ')}, faults ${FAULTS.join(', ')}`);
console.log(`load before: ${loadBefore}`);

const bl = await BenchLab.create(createLab, { routerModule: ROUTER_MODULE });
const results = []; // { pair, iv, fault, trial, failover, ret, error? }

function figuresOf(kind, r) {
  return kind === 'failover' ? r.failover : r.ret;
}

async function runGroup(pair, iv) {
  const label = `${pairName(pair)} ${iv} ms`;
  let d1;
  let d2;
  const start = async () => {
    await bl.reset();
    d2 = await bl.startDaemon('r2', pair[1], iv);
    d1 = await bl.startDaemon('r1', pair[0], iv);
    await bl.until(() => bl.settledOn('r1', 'r2'), 30_000 + 5 * iv, `${label}: r1 master at startup`);
  };
  const stop = async () => {
    await Promise.all([bl.stopDaemon(d1), bl.stopDaemon(d2)]);
  };
  await start();
  const ctx = { ips: bl.ips, macs: bl.macs, ivMs: iv, r2Priority: PRIORITY.r2 };
  const mdi = masterDownMs(PRIORITY.r2, iv);
  for (const fault of FAULTS) {
    let pending; // the previous trial's return, measured up to this trial's fault
    for (let trial = 1; trial <= TRIALS; trial++) {
      const row = { pair: pairName(pair), iv, fault, trial };
      try {
        await bl.until(() => bl.settledOn('r1', 'r2'), 20_000 + 5 * iv, 'r1 master before the fault');
        await sleep(100 + Math.min(iv, 1000));
        // r1 lives through partitions: keep its (and r2's) pending repeat GARPs (5 s) and rate limits
        // from the previous heal out of this trial, so each heal is measured on its own.
        if (fault === 'partition' && pending !== undefined) await sleep(Math.max(0, pending.tRet + 5_500 - bl.clock.now()));
        bl.prune();
        bl.clock.calibrate();
        if (pending !== undefined) {
          finishReturn(results[results.length - 1], pending, ctx);
          pending = undefined;
        }
        // The fault's phase against r1's adverts: right after one of them reached the capture, plus
        // a fraction of the interval that depends only on the trial number (a golden-ratio sequence
        // that covers [0, 1) evenly), so every pair meets the same phases and the comparison between
        // pairs is not left to the luck of 10 random draws.
        await bl.nextAdvert(bl.ips.r1, 2_000 + 5 * iv);
        await sleep(((trial * 0.6180339887) % 1) * iv);
        const t0 = bl.clock.now();
        if (fault === 'clean') bl.term(d1);
        else if (fault === 'kill') bl.kill(d1);
        else if (fault === 'cut') bl.link('r1', false);
        else bl.partition('r1', true);
        await bl.until(() => bl.holds.r2 && bl.neighMac === bl.macs.r2 && bl.lastReplyVia('r2') > t0, mdi + 10_000, 'r2 takes over');
        await sleep(100 + Math.min(2 * iv, 500));
        row.failover = failoverFigures(bl, { ...ctx, t0, tEnd: bl.clock.now(), fault });
        // r1 returns.
        if (fault === 'clean' || fault === 'kill') await d1.p.exited;
        bl.clock.calibrate();
        const tRet = bl.clock.now();
        let ready; // the new daemon runs (lvskit: `ready`; keepalived: it logged its first state)
        if (fault === 'cut') bl.link('r1', true);
        else if (fault === 'partition') bl.partition('r1', false);
        else {
          d1 = await bl.startDaemon('r1', pair[0], iv);
          ready = bl.clock.now() - tRet;
        }
        await bl.until(() => bl.settledOn('r1', 'r2') && bl.lastReplyVia('r1') > Math.max(...bl.addr.slice(-2).map((e) => e.t)), mdi + 20_000, 'r1 preempts');
        pending = { tRet, ready };
        results.push(row);
        const f = row.failover;
        console.log(
          `${label} ${fault} #${trial}: advert ${fmt(f.advert)} vip ${fmt(f.vip)} garp ${fmt(f.garp)} neigh ${fmt(f.neighbour)} reply ${fmt(f.reply)} gap ${fmt(f.gap)} lost ${f.lost} timer ${fmt(f.timer)}/${fmt(f.timerRfc)}`,
        );
      } catch (e) {
        row.error = e instanceof Error ? e.message : String(e);
        results.push(row);
        pending = undefined;
        console.log(`${label} ${fault} #${trial}: FAILED ${row.error}`);
        for (const d of [d1, d2]) if (d !== undefined) console.log(`--- ${d.h} (${d.impl}) output tail:\n${d.p.output.slice(-3000)}`);
        await stop();
        try {
          await start();
        } catch (e2) {
          // The pair cannot even settle (e.g. 10 ms adverts flapping on a starved CPU): give up this group.
          console.log(`${label}: gave up the group: ${e2 instanceof Error ? e2.message : String(e2)}`);
          await stop();
          return;
        }
      }
    }
    if (pending !== undefined) {
      await sleep(Math.max(1000, Math.min(3 * iv, 5000)));
      finishReturn(results[results.length - 1], pending, ctx);
    }
    for (const r of results.filter((x) => x.pair === pairName(pair) && x.iv === iv && x.fault === fault && x.ret !== undefined)) {
      console.log(`${label} ${fault} #${r.trial} return: preempt ${fmt(r.ret.preempt)} gap ${fmt(r.ret.gap)} lost ${r.ret.lost} dual ${fmt(r.ret.dual)}`);
    }
  }
  await stop();
}

/** The return's figures, measured up to now (the next fault, or the end of the group). */
function finishReturn(row, { tRet, ready }, ctx) {
  row.ret = returnFigures(bl, { ...ctx, tRet, tEnd: bl.clock.now() });
  if (ready !== undefined) row.ret.startup = ready;
}

function fmt(x) {
  if (x === undefined || !Number.isFinite(x)) return '–';
  return Math.abs(x) >= 100 ? String(Math.round(x)) : x.toFixed(1);
}

function cell(s) {
  if (s.n === 0) return '–';
  return `${fmt(s.median)} [${fmt(s.min)}–${fmt(s.max)}]`;
}

try {
  for (const iv of INTERVALS) for (const pair of PAIRS) await runGroup(pair, iv);
} finally {
  await bl.destroy();
}

const loadAfter = uptime();
const minutes = ((Date.now() - started) / 60_000).toFixed(1);

// Report: per interval, one row per fault and figure, a column per pair, and lvskit/keepalived.
const METRICS = [
  ['failover', 'stopAdvert', 'stop signal -> priority 0 advert on the wire', ['clean']],
  ['failover', 'timer', "backup's timer: master's priority 0 / last advert -> backup's first advert"],
  ['failover', 'advert', "fault -> backup's first advert"],
  ['failover', 'vip', 'fault -> VIP configured on the backup'],
  ['failover', 'garp', 'fault -> first GARP from the backup'],
  ['failover', 'neighbour', "fault -> client's neighbour entry on the backup's MAC"],
  ['failover', 'reply', 'fault -> first echo reply through the backup (client outage)'],
  ['failover', 'gap', 'longest echo-reply gap'],
  ['failover', 'lost', 'echo requests lost (every 2 ms)'],
  ['ret', 'preempt', "return -> old master's first advert (preemption)"],
  ['ret', 'startup', 'return: daemon started -> running (seen by the bench: `ready` / first state logged)', ['clean', 'kill']],
  ['ret', 'gap', 'return: longest echo-reply gap (black hole)'],
  ['ret', 'lost', 'return: echo requests lost'],
  ['ret', 'dual', 'return: both routers hold the VIP (dual master)'],
  ['ret', 'flaps', 'return: the backup took the VIP back (spurious failovers, count)'],
];

const pairNames = PAIRS.map(pairName);
const anchor = pairNames.find((p) => p === 'keepalived→keepalived');
const ours = pairNames.find((p) => p === 'lvskit→lvskit');
const out = [];
out.push(`machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}, node ${process.version}`);
out.push(`load (1/5/15 min) before: ${loadBefore}; after: ${loadAfter}; ${minutes} min; ${TRIALS} trials per cell; echo request every ${PING_INTERVAL_MS} ms`);
for (const iv of INTERVALS) {
  out.push('');
  out.push(`### ${iv} ms adverts (Skew_Time ${fmt(skewMs(PRIORITY.r2, iv))} ms, Master_Down_Interval ${fmt(masterDownMs(PRIORITY.r2, iv))} ms for the backup at priority ${PRIORITY.r2})`);
  out.push('');
  out.push(`| fault | figure (ms) | ${pairNames.join(' | ')} |${anchor && ours ? ' lvskit / keepalived |' : ''}`);
  out.push(`| --- | --- | ${pairNames.map(() => '---').join(' | ')} |${anchor && ours ? ' --- |' : ''}`);
  for (const fault of FAULTS) {
    for (const [kind, key, what, only] of METRICS) {
      if (only !== undefined && !only.includes(fault)) continue;
      const cells = pairNames.map((p) => stats(results.filter((r) => r.pair === p && r.iv === iv && r.fault === fault && figuresOf(kind, r) !== undefined).map((r) => figuresOf(kind, r)[key])));
      let ratio = '';
      if (anchor && ours) {
        const a = cells[pairNames.indexOf(anchor)].median;
        const o = cells[pairNames.indexOf(ours)].median;
        ratio = a !== undefined && o !== undefined && a > 0 ? ` ${(o / a).toFixed(2)} |` : ' – |';
      }
      const rfc = key === 'timer' ? ` (RFC ${fmt(fault === 'clean' ? skewMs(PRIORITY.r2, iv) : masterDownMs(PRIORITY.r2, iv))})` : '';
      out.push(`| ${fault} | ${what}${rfc} | ${cells.map(cell).join(' | ')} |${ratio}`);
    }
  }
}
const failed = results.filter((r) => r.error !== undefined);
out.push('');
out.push(...bl.notes);
out.push(`failed trials: ${failed.length}${failed.length ? ` (${failed.map((r) => `${r.pair} ${r.iv} ms ${r.fault} #${r.trial}`).join('; ')})` : ''}`);
console.log(`\n${out.join('\n')}`);
if (JSON_OUT !== '') {
  writeFileSync(JSON_OUT, JSON.stringify({ trials: TRIALS, intervals: INTERVALS, pairs: pairNames, faults: FAULTS, loadBefore, loadAfter, results }, null, 1));
  console.log(`raw trials: ${JSON_OUT}`);
}
process.exit(failed.length > 0 ? 1 : 0);
