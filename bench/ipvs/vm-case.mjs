// One case of bench/ipvs.bench.mjs, run INSIDE the VM by bench/ipvs/vm-bench.mjs under `unshare -n`:
// a fresh network namespace has its own empty IPVS tables (and no deleted destinations left over from
// an earlier case, which would slow every add). Prints `RESULT <json>` lines.
//
//   node vm-case.mjs apply   <services> <dests>   load with apply(), then dumps and one weight change
//   node vm-case.mjs apply-noverify|apply-verify|apply-ackeach <services> <dests>   load only, apply({ verify: false }) / apply({ verify: true }) / ackEach
//   node vm-case.mjs ipvsadm <services> <dests>   load with ipvsadm -R
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { IpvsClient, apply, plan, renderOps, renderTable, serviceKey } from 'lvskit/ipvs';

const [mode, servicesArg, destsArg] = process.argv.slice(2);
const n = Number(servicesArg);
const m = Number(destsArg);
assert.ok(Number.isInteger(n) && n > 0 && n <= 65536 && Number.isInteger(m) && m > 0 && m <= 250, 'usage: vm-case.mjs apply|apply-ackeach|ipvsadm <services> <dests>');

/** The benchmark's table: n TCP services on 10.200.0.0/16 (wrr), m direct-routing destinations each. */
const desired = Array.from({ length: n }, (_, i) => ({
  protocol: 'tcp',
  address: `10.${200 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`,
  port: 80,
  scheduler: 'wrr',
  destinations: Array.from({ length: m }, (_, j) => ({ address: `172.16.${j}.${(i % 250) + 1}`, weight: 1 + (j % 3) })),
}));
const label = `${n}x${m}`;

function result(name, value) {
  console.log(`RESULT ${JSON.stringify({ name, table: label, ...value })}`);
}

function run(cmd, args, input) {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', maxBuffer: 512 << 20 });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return { ms, stdout: r.stdout };
}

/** Lines of `ipvsadm -S -n` that add destinations. */
function destLines(save) {
  return save.split('\n').filter((l) => l.startsWith('-a ')).length;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (x) => Math.round(x);

if (mode === 'ipvsadm') {
  const text = renderTable(desired);
  const r = run('ipvsadm', ['-R'], text);
  result('load-ipvsadm', { ms: round(r.ms), lines: text.split('\n').length - 1 });
  // Not timed: check the load.
  assert.equal(destLines(run('ipvsadm', ['-S', '-n']).stdout), n * m);
  process.exit(0);
}

if (!['apply', 'apply-ackeach', 'apply-noverify', 'apply-verify'].includes(mode)) throw new Error(`unknown mode ${mode}`);
const client = await IpvsClient.open({ timeoutMs: 600_000, ...(mode === 'apply-ackeach' ? { ackEach: true } : {}) });
let s0 = client.stats;
let t0 = performance.now();
// apply (the default since dc079d7) and apply-noverify: what ipvsadm -R does (write, every ack checked, no
// read-back unless an operation failed); apply-verify: read the whole table back and compare it too.
const loaded = await apply(desired, { client, ...(mode === 'apply-noverify' ? { verify: false } : mode === 'apply-verify' ? { verify: true } : {}) });
const loadMs = performance.now() - t0;
let s1 = client.stats;
assert.deepEqual(loaded.failures, []);
assert.deepEqual(loaded.remaining, []);
result(mode === 'apply' ? 'load-apply' : `load-${mode}`, {
  ms: round(loadMs),
  writes: loaded.writes,
  sendmsgs: s1.sendmsgs - s0.sendmsgs,
  requests: s1.requests - s0.requests,
  overflows: s1.overflows - s0.overflows,
  note: mode === 'apply-verify' ? 'apply({ verify: true }) from empty: read, plan, write, read back to verify' : `${mode === 'apply-noverify' ? 'apply({ verify: false })' : 'apply()'} from empty: read, plan, write (no read-back: every op acked)`,
});
if (mode !== 'apply') {
  // Not timed: the load is all there.
  assert.equal(destLines(run('ipvsadm', ['-S', '-n']).stdout), n * m);
  process.exit(0);
}

// Dumps of the same table, alternating, 3 each: the client's readTable (settings, no counters: what
// ipvsadm -S prints; its default engine, the native addon when it loads) and ipvsadm -S -n (a
// process: start, resolve the family, dump, print).
const ours = [];
const theirs = [];
const rounds = Number(process.env.DUMP_ROUNDS ?? (n * m > 50_000 || n > 5000 ? 1 : 3));
const engine = client.readEngine();
for (let i = 0; i < rounds; i++) {
  t0 = performance.now();
  const table = await client.readTable({ stats: false });
  ours.push(performance.now() - t0);
  assert.equal(table.length, n);
  assert.equal(table.reduce((a, s) => a + (s.destinations?.length ?? 0), 0), n * m);
  const r = run('ipvsadm', ['-S', '-n']);
  theirs.push(r.ms);
  assert.equal(destLines(r.stdout), n * m);
}
result('dump-client', { ms: round(median(ours)), all: ours.map(round), engine });
// The JavaScript engines, after the pairs ('requests' is the fallback when the addon can't load;
// 'batched' is opt-in): their code is warmer by then (compare with care).
if (engine === 'native') {
  for (const js of ['requests', 'batched']) {
    const times = [];
    for (let i = 0; i < rounds; i++) {
      t0 = performance.now();
      const table = await client.readTable({ stats: false, engine: js });
      times.push(performance.now() - t0);
      assert.equal(table.reduce((a, s) => a + (s.destinations?.length ?? 0), 0), n * m);
    }
    result(`dump-client-${js}`, { ms: round(median(times)), all: times.map(round) });
  }
}
result('dump-ipvsadm', { ms: round(median(theirs)), all: theirs.map(round) });

// One weight change end to end. apply() against the table the load left (`known`): plan, one request.
const changed = JSON.parse(JSON.stringify(desired));
const svc = Math.floor(n / 2);
changed[svc].destinations[7 % m].weight = 9;
s0 = client.stats;
t0 = performance.now();
const one = await apply(changed, { client, known: loaded.table });
const oneMs = performance.now() - t0;
s1 = client.stats;
assert.equal(one.writes, 1);
assert.deepEqual(one.failures, []);
result('change-apply-known', { ms: round(oneMs), writes: one.writes, sendmsgs: s1.sendmsgs - s0.sendmsgs, requests: s1.requests - s0.requests, command: one.commands.trim() });
// The same with a read-back of the touched service only (verify: true with known).
changed[svc].destinations[7 % m].weight = 6;
s0 = client.stats;
t0 = performance.now();
const checked = await apply(changed, { client, known: one.table, verify: true });
const checkedMs = performance.now() - t0;
s1 = client.stats;
assert.equal(checked.writes, 1);
assert.deepEqual(checked.remaining, []);
result('change-apply-known-verify', { ms: round(checkedMs), writes: checked.writes, sendmsgs: s1.sendmsgs - s0.sendmsgs, requests: s1.requests - s0.requests });
// The same with the caller naming the changed service (`changed`): the other services' destinations aren't compared.
changed[svc].destinations[7 % m].weight = 5;
s0 = client.stats;
t0 = performance.now();
const hinted = await apply(changed, { client, known: checked.table, changed: [serviceKey(changed[svc])] });
const hintedMs = performance.now() - t0;
s1 = client.stats;
assert.equal(hinted.writes, 1);
result('change-apply-known-changed', { ms: round(hintedMs), writes: hinted.writes, sendmsgs: s1.sendmsgs - s0.sendmsgs, requests: s1.requests - s0.requests });
// The same without `known`: apply() reads the whole table first (and verifies after): two full
// dumps, so only for the smaller table count (10,000 services: set CHANGE_READ=1).
changed[svc].destinations[7 % m].weight = 8;
if (n <= 5000 || process.env.CHANGE_READ === '1') {
  s0 = client.stats;
  t0 = performance.now();
  const full = await apply(changed, { client });
  const fullMs = performance.now() - t0;
  s1 = client.stats;
  assert.equal(full.writes, 1);
  result('change-apply-read', { ms: round(fullMs), writes: full.writes, sendmsgs: s1.sendmsgs - s0.sendmsgs, requests: s1.requests - s0.requests });
}
// ipvsadm -e of the same destination (a process: start, resolve the family, one request).
changed[svc].destinations[7 % m].weight = 7;
const edit = renderOps(plan(changed, await client.readTable({ stats: false })).ops).trim();
assert.match(edit, /^-e /);
const times = [];
for (let i = 0; i < 3; i++) times.push(run('ipvsadm', edit.split(' ')).ms);
result('change-ipvsadm', { ms: round(median(times)), all: times.map(round), command: `ipvsadm ${edit}` });
assert.equal((await client.listDestinations(desired[svc])).find((d) => d.address === desired[svc].destinations[7 % m].address)?.weight, 7);
client.close();
