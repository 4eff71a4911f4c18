// Kernel tier, runs INSIDE the VM (test/kernel/harness/vm.ts): lvskit/ipvs against the real kernel,
// checked against ipvsadm. Many cases in one boot; each prints `CASE ok <name>` or `CASE FAIL <name>: why`,
// extra facts print as `FACT <name> <json>`. Exit status 1 when any case failed.
// Driven by test/kernel/ipvs.test.ts, which asserts every case by name.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import {
  IpvsClient,
  apply,
  plan,
  renderTable,
  openGenericSocket,
  decodeNlmsgs,
} from 'lvskit/ipvs';
import { isLvskitError } from 'lvskit';

const only = process.env.IPVS_CASES ? new Set(process.env.IPVS_CASES.split(',')) : undefined;
let failed = 0;
const facts = {};

function ipvsadm(...args) {
  return execFileSync('ipvsadm', args, { encoding: 'utf8', maxBuffer: 256 << 20 });
}
function ipvsadmRestore(text) {
  const r = spawnSync('ipvsadm', ['-R'], { input: text, encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`ipvsadm -R failed (${r.status}): ${r.stderr}`);
}
/** `ipvsadm -S -n` as a sorted list of lines. */
function saved() {
  return ipvsadm('-S', '-n').split('\n').map((l) => l.trim()).filter(Boolean).sort();
}
function lines(text) {
  return text.split('\n').map((l) => l.trim()).filter(Boolean).sort();
}
function fact(name, value) {
  facts[name] = value;
  console.log(`FACT ${name} ${JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}`);
}
async function expectCode(code, fn) {
  try {
    await fn();
  } catch (e) {
    if (isLvskitError(e, code)) return e;
    throw new Error(`expected ${code}, got ${e?.code ?? ''} ${e?.message ?? e}`, { cause: e });
  }
  throw new Error(`expected ${code}, got success`);
}
async function check(name, fn) {
  if (only && !only.has(name)) return;
  const t0 = performance.now();
  try {
    await fn();
    console.log(`CASE ok ${name} (${Math.round(performance.now() - t0)} ms)`);
  } catch (e) {
    failed++;
    console.log(`CASE FAIL ${name}: ${e?.stack ?? e}`);
  }
}

const client = await IpvsClient.open({ timeoutMs: 300_000 });

const web = { protocol: 'tcp', address: '10.0.0.1', port: 80, scheduler: 'wrr' };

await check('family-and-info', async () => {
  assert.equal(client.family.name, 'IPVS');
  assert.equal(client.family.version, 1);
  const info = await client.info();
  assert.equal(info.version, '1.2.1');
  assert.ok(info.connTabSize > 0);
  const head = ipvsadm('-Ln').split('\n')[0];
  assert.equal(head, `IP Virtual Server version ${info.version} (size=${info.connTabSize})`);
  fact('info', info);
});

await check('service-crud', async () => {
  await client.flush();
  await client.addService(web);
  await client.addDestination(web, { address: '10.0.0.2', weight: 10 });
  await client.addDestination(web, { address: '10.0.0.3', weight: 0, upperThreshold: 100, lowerThreshold: 10 });
  await client.addDestination(web, { address: '10.0.0.4', port: 8080, forwarding: 'masq', weight: 3 });
  const out = ipvsadm('-Ln', '--exact');
  assert.match(out, /^TCP {2}10\.0\.0\.1:80 wrr\s*$/m);
  assert.match(out, /^ {2}-> 10\.0\.0\.2:80\s+Route\s+10\s+0\s+0\s*$/m);
  assert.match(out, /^ {2}-> 10\.0\.0\.3:80\s+Route\s+0\s+0\s+0\s*$/m);
  assert.match(out, /^ {2}-> 10\.0\.0\.4:8080\s+Masq\s+3\s+0\s+0\s*$/m);
  const thr = ipvsadm('-Ln', '--thresholds');
  assert.match(thr, /-> 10\.0\.0\.3:80\s+100\s+10\s+0\s+0/); // ipvsadm --thresholds has no Forward column

  const got = await client.getService(web);
  assert.equal(got.scheduler, 'wrr');
  assert.equal(got.address, '10.0.0.1');
  const dests = await client.listDestinations(web);
  assert.deepEqual(
    dests.map((d) => [d.address, d.port, d.forwarding, d.weight, d.upperThreshold, d.lowerThreshold]).sort(),
    [
      ['10.0.0.2', 80, 'route', 10, 0, 0],
      ['10.0.0.3', 80, 'route', 0, 100, 10],
      ['10.0.0.4', 8080, 'masq', 3, 0, 0],
    ],
  );

  // Edit in place: scheduler and persistence change, destinations stay.
  await client.editService({ ...web, scheduler: 'rr', persistence: { timeout: 120, netmask: '255.255.255.0' } });
  assert.match(ipvsadm('-Ln'), /^TCP {2}10\.0\.0\.1:80 rr persistent 120 mask 255\.255\.255\.0\s*$/m);
  assert.equal((await client.listDestinations(web)).length, 3);
  await client.editDestination(web, { address: '10.0.0.2', weight: 7 });
  assert.match(ipvsadm('-Ln'), /-> 10\.0\.0\.2:80\s+Route\s+7\s/);
  await client.deleteDestination(web, { address: '10.0.0.3' });
  assert.doesNotMatch(ipvsadm('-Ln'), /10\.0\.0\.3/);
  await client.deleteService(web);
  assert.doesNotMatch(ipvsadm('-Ln'), /10\.0\.0\.1/);
});

await check('errors-typed', async () => {
  await client.flush();
  await client.addService(web);
  await client.addDestination(web, { address: '10.0.0.2' });
  const ex = await expectCode('ERR_IPVS_EXISTS', () => client.addService(web));
  assert.equal(ex.errno, 17);
  await expectCode('ERR_IPVS_EXISTS', () => client.addDestination(web, { address: '10.0.0.2' }));
  const missing = { protocol: 'tcp', address: '10.9.9.9', port: 1 };
  const nosvc = await expectCode('ERR_IPVS_NO_SERVICE', () => client.deleteService(missing));
  assert.equal(nosvc.errno, 3);
  await expectCode('ERR_IPVS_NO_SERVICE', () => client.getService(missing));
  await expectCode('ERR_IPVS_NO_SERVICE', () => client.addDestination(missing, { address: '10.0.0.2', port: 1 }));
  const nodest = await expectCode('ERR_IPVS_NO_DESTINATION', () => client.deleteDestination(web, { address: '10.0.0.99' }));
  assert.equal(nodest.errno, 2);
  await expectCode('ERR_IPVS_NO_DESTINATION', () => client.editDestination(web, { address: '10.0.0.99', weight: 2 }));
  await expectCode('ERR_IPVS_UNKNOWN_SCHEDULER', () => client.addService({ ...web, port: 81, scheduler: 'nosuch' }));
  await expectCode('ERR_IPVS_UNKNOWN_SCHEDULER', () => client.addService({ ...web, port: 82, scheduler: 'rr', pe: 'nosuchpe' }));
  // The kernel answers a destination dump of a missing service with an empty dump.
  assert.deepEqual(await client.listDestinations(missing), []);
  // The client never crashed the socket: it still works.
  assert.equal((await client.listServices()).length, 1);
});

await check('not-permitted', async () => {
  // CAP_NET_ADMIN is needed (GENL_ADMIN_PERM): run the client as nobody in a child.
  const script = `
    process.setgid(65534); process.setuid(65534);
    const { IpvsClient, isLvskitError } = await import('lvskit/ipvs');
    const c = await IpvsClient.open();
    try { await c.listServices(); console.log('UNEXPECTED success'); }
    catch (e) { console.log('CODE ' + e.code + ' ' + e.errno); }
    try { await c.addService({ protocol: 'tcp', address: '10.7.7.7', port: 7 }); console.log('UNEXPECTED add'); }
    catch (e) { console.log('CODE ' + e.code + ' ' + e.errno); }
    // readTable through the native addon (its own socket) and the JavaScript engine.
    for (const engine of ['native', 'batched']) {
      try { await c.readTable({ engine }); console.log('UNEXPECTED read'); }
      catch (e) { console.log('CODE ' + e.code + ' ' + e.errno); }
    }
    console.log('ENGINE ' + c.readEngine());
    c.close();`;
  // Next to the package so `lvskit/ipvs` resolves (node_modules/lvskit links to /lvskit).
  writeFileSync('/lvskit/eperm-child.mjs', script, { mode: 0o644 });
  const r = spawnSync(process.execPath, ['/lvskit/eperm-child.mjs'], { cwd: '/lvskit', encoding: 'utf8' });
  const codes = (r.stdout.match(/^CODE .*$/gm) ?? []);
  assert.deepEqual(codes, Array(4).fill('CODE ERR_IPVS_NOT_PERMITTED 1'), r.stdout + r.stderr);
  assert.match(r.stdout, /^ENGINE native$/m);
});

// A table with every kind of entry the model has.
const rich = [
  { ...web, destinations: [{ address: '10.0.0.2', weight: 10 }, { address: '10.0.0.3', weight: 0, upperThreshold: 50, lowerThreshold: 5 }] },
  {
    protocol: 'udp', address: '2001:db8::53', port: 53, scheduler: 'sh', schedFlags: ['sh-fallback', 'sh-port'],
    persistence: { timeout: 600, netmask: 64 },
    destinations: [{ address: '2001:db8:1::2', forwarding: 'masq', port: 5353, weight: 2 }, { address: '2001:db8:1::3' }],
  },
  { protocol: 'udp', address: '10.0.0.53', port: 53, scheduler: 'rr', onePacket: true, destinations: [{ address: '10.0.1.2', forwarding: 'masq', port: 53 }] },
  { protocol: 'sctp', address: '10.0.0.9', port: 9, scheduler: 'mh', schedFlags: ['mh-port'], destinations: [{ address: '10.0.1.9' }] },
  { fwmark: 5, scheduler: 'wlc', persistence: { timeout: 300 }, destinations: [{ address: '10.0.2.1', port: 0 }, { address: '10.0.2.2', port: 0, weight: 4 }] },
  { fwmark: 6, family: 'ipv6', scheduler: 'lc', destinations: [{ address: '2001:db8:2::1', port: 0 }] },
  {
    protocol: 'tcp', address: '10.0.0.7', port: 443, scheduler: 'wrr',
    destinations: [
      { address: '10.0.3.1', forwarding: 'tunnel', weight: 5 },
      { address: '10.0.3.2', forwarding: 'tunnel', tunnel: { type: 'gue', port: 6080, checksum: 'csum' } },
      { address: '10.0.3.3', forwarding: 'tunnel', tunnel: { type: 'gre', checksum: 'csum' } },
      { address: '10.0.3.4', forwarding: 'tunnel', tunnel: { type: 'gue', port: 6081, checksum: 'remcsum' } },
      { address: '10.0.3.5', forwarding: 'tunnel', tunnel: { type: 'gre' } },
    ],
  },
];

await check('readback-matches-ipvsadm-save', async () => {
  await client.flush();
  const r = await client.applyOps(plan(rich, []).ops);
  assert.equal(r.failures.length, 0, JSON.stringify(r.failures.map((f) => f.error.message)));
  const table = await client.readTable();
  // What we read, rendered, is what ipvsadm -S prints, except that ipvsadm -S leaves out thresholds
  // (-x/-y): those are checked against ipvsadm -Ln --thresholds.
  const ours = lines(renderTable(table).replace(/ -x \d+| -y \d+/g, ''));
  const theirs = saved();
  fact('ipvsadm-save-rich', theirs);
  assert.deepEqual(ours, theirs);
  assert.match(ipvsadm('-Ln', '--thresholds'), /-> 10\.0\.0\.3:80\s+50\s+5\s/);
  // And it is what we asked for.
  assert.deepEqual(plan(rich, table).ops, []);
});

await check('read-engines-agree', async () => {
  // State from the previous case (every entry kind). readTable's default here is the native addon
  // (the committed prebuild is in the VM): the case above compared it with ipvsadm -S. The
  // JavaScript engines read the same, with and without counters.
  assert.equal(client.readEngine(), 'native');
  for (const stats of [false, true]) {
    const native = await client.readTable({ stats, engine: 'native' });
    const batched = await client.readTable({ stats, engine: 'batched' });
    const requests = await client.readTable({ stats, engine: 'requests' });
    assert.equal(native.length, rich.length);
    const settings = (t) => JSON.stringify(t, (k, v) => (k === 'stats' || typeof v === 'bigint' ? undefined : v));
    assert.equal(settings(batched), settings(native));
    assert.equal(settings(requests), settings(native));
    if (stats) assert.ok(native.every((s) => s.stats !== undefined && s.destinations.every((d) => d.stats !== undefined)));
    else assert.ok(native.every((s) => s.stats === undefined && s.destinations.every((d) => d.stats === undefined)));
  }
  // The dumps the addon ran count in the client's stats: 1 service dump + 1 per service.
  const s0 = client.stats;
  await client.readTable();
  assert.equal(client.stats.requests - s0.requests, 1 + rich.length);
});

await check('dry-run-equals-apply', async () => {
  await client.flush();
  ipvsadmRestore(renderTable(rich));
  const viaIpvsadm = saved();
  const tableViaIpvsadm = await client.readTable();
  await client.flush();
  const r = await apply(rich, { client, verify: true });
  assert.equal(r.failures.length, 0);
  assert.deepEqual(r.remaining, []);
  assert.deepEqual(saved(), viaIpvsadm);
  // ipvsadm -S hides thresholds: compare what the kernel holds, field by field, too.
  assert.deepEqual(plan(tableViaIpvsadm, await client.readTable(), { ownAll: true }).ops, []);
  assert.equal(r.writes, rich.length + rich.reduce((n, s) => n + s.destinations.length, 0));
});

await check('apply-idempotent-drift-edit', async () => {
  // State from the previous case: the same desired table makes zero writes.
  const again = await apply(rich, { client });
  assert.equal(again.writes, 0);
  assert.deepEqual(again.plan.ops, []);
  // Someone removes a destination by hand: drift is reported and repaired.
  ipvsadm('-d', '-t', '10.0.0.1:80', '-r', '10.0.0.2:80');
  const repair = await apply(rich, { client });
  assert.deepEqual(repair.plan.drift, [{ kind: 'destination-missing', key: 'tcp/10.0.0.1:80', destKey: '10.0.0.2:80' }]);
  assert.equal(repair.writes, 1);
  assert.match(ipvsadm('-Ln'), /-> 10\.0\.0\.2:80\s+Route\s+10\s/);
  // A scheduler change is an in-place edit: one write, the destinations stay.
  const changed = rich.map((s) => (s.address === '10.0.0.1' ? { ...s, scheduler: 'lc' } : s));
  const edit = await apply(changed, { client });
  assert.deepEqual(edit.plan.ops.map((o) => o.kind), ['edit-service']);
  assert.match(edit.commands, /^-E -t 10\.0\.0\.1:80 -s lc$/m);
  assert.match(ipvsadm('-Ln'), /^TCP {2}10\.0\.0\.1:80 lc\s*$/m);
  // Foreign services are left alone.
  ipvsadm('-A', '-t', '10.8.8.8:8', '-s', 'rr');
  const withForeign = await apply(changed, { client });
  assert.equal(withForeign.writes, 0);
  assert.deepEqual(withForeign.plan.foreign, ['tcp/10.8.8.8:8']);
  assert.match(ipvsadm('-Ln'), /10\.8\.8\.8:8/);
});

await check('drain-then-remove', async () => {
  await client.flush();
  const desired = [{ ...web, destinations: [{ address: '10.0.0.2', weight: 10 }, { address: '10.0.0.3', weight: 10 }] }];
  await apply(desired, { client });
  let now = 0;
  const clock = { now: () => now, setTimer: () => ({ cancel() {} }) };
  const leaving = [{ ...web, destinations: [{ address: '10.0.0.2', weight: 10 }] }];
  const r1 = await apply(leaving, { client, clock, drain: { graceMs: 1000 } });
  assert.match(r1.commands, /^-e -t 10\.0\.0\.1:80 -r 10\.0\.0\.3:80 -g -w 0$/m);
  assert.match(ipvsadm('-Ln'), /-> 10\.0\.0\.3:80\s+Route\s+0\s/);
  now = 500;
  const r2 = await apply(leaving, { client, clock, drain: { graceMs: 1000 }, drainState: r1.drainState });
  assert.equal(r2.writes, 0);
  now = 1000;
  const r3 = await apply(leaving, { client, clock, drain: { graceMs: 1000 }, drainState: r2.drainState });
  assert.match(r3.commands, /^-d -t 10\.0\.0\.1:80 -r 10\.0\.0\.3:80$/m);
  assert.doesNotMatch(ipvsadm('-Ln'), /10\.0\.0\.3/);
});

await check('timeouts', async () => {
  const before = await client.getTimeouts();
  fact('timeouts-default', before);
  await client.setTimeouts({ tcp: 901, tcpFin: 121, udp: 301 });
  assert.deepEqual(await client.getTimeouts(), { tcp: 901, tcpFin: 121, udp: 301 });
  assert.match(ipvsadm('-L', '--timeout'), /Timeout \(tcp tcpfin udp\): 901 121 301/);
  await client.setTimeouts({ udp: 302 }); // others unchanged
  assert.deepEqual(await client.getTimeouts(), { tcp: 901, tcpFin: 121, udp: 302 });
  await client.setTimeouts(before);
});

await check('zero-and-flush', async () => {
  await client.zero();
  await client.zero(web);
  await expectCode('ERR_IPVS_NO_SERVICE', () => client.zero({ protocol: 'tcp', address: '10.9.9.9', port: 9 }));
  await client.flush();
  assert.deepEqual(await client.listServices(), []);
  assert.deepEqual(saved(), []);
});

await check('sync-daemon', async () => {
  // Record what the kernel says to a daemon on lo (no multicast there), then use a dummy interface.
  const lo = await client.startDaemon({ state: 'master', interface: 'lo', syncId: 1 }).then(() => ({ started: true }), (e) => e);
  fact('daemon-on-lo', { started: lo?.started === true, code: lo?.code, errno: lo?.errno, message: lo?.message });
  await client.stopDaemon('master').catch(() => undefined);
  execFileSync('ip', ['link', 'set', 'dummy0', 'up']);
  await client.startDaemon({ state: 'master', interface: 'dummy0', syncId: 7 });
  const ds = await client.listDaemons();
  assert.equal(ds.length, 1);
  assert.equal(ds[0].state, 'master');
  assert.equal(ds[0].interface, 'dummy0');
  assert.equal(ds[0].syncId, 7);
  fact('daemon', ds[0]);
  assert.match(ipvsadm('-L', '--daemon'), /master sync daemon \(mcast=dummy0, syncid=7[,)]/);
  await expectCode('ERR_IPVS_EXISTS', () => client.startDaemon({ state: 'master', interface: 'dummy0', syncId: 7 }));
  await client.stopDaemon('master');
  assert.deepEqual(await client.listDaemons(), []);
});

await check('golden-dump-bytes', async () => {
  await client.flush();
  await client.addService({ protocol: 'udp', address: '2001:db8::53', port: 53, scheduler: 'sh', schedFlags: ['sh-port'], persistence: { timeout: 600, netmask: 64 } });
  // Capture the raw datagram of a service dump through our own socket wrapper.
  const sock = await openGenericSocket();
  const captured = [];
  const tap = {
    send: (d, cb) => sock.send(d, cb),
    onMessage: (fn) => sock.onMessage((d) => { captured.push(Buffer.from(d).toString('hex')); fn(d); }),
    onError: (fn) => sock.onError(fn),
    localPort: () => sock.localPort(),
    close: () => sock.close(),
  };
  const c2 = await IpvsClient.open({ socket: tap });
  captured.length = 0;
  const [svc] = await c2.listServices();
  c2.close();
  assert.equal(svc.scheduler, 'sh');
  fact('golden-dump-service', { familyId: c2.family.id, hex: captured });
  const msgs = decodeNlmsgs(Buffer.from(captured[0], 'hex'));
  assert.ok(msgs.length >= 1);
});

await check('concurrent-requests-and-dumps', async () => {
  await client.flush();
  const ops = plan([{ ...web, destinations: Array.from({ length: 50 }, (_, i) => ({ address: `10.1.0.${i + 1}` })) }], []).ops;
  await client.applyOps(ops);
  // Two dumps and do-requests in flight at once on one socket.
  const [a, b, info, c, t] = await Promise.all([client.listServices(), client.listDestinations(web), client.info(), client.listDestinations(web), client.getTimeouts()]);
  assert.equal(a.length, 1);
  assert.equal(b.length, 50);
  assert.equal(c.length, 50);
  assert.equal(info.version, '1.2.1');
  assert.ok(t.tcp > 0);
  // An aborted dump doesn't break the next one.
  const ac = new AbortController();
  const p = client.listDestinations(web, { signal: ac.signal });
  ac.abort();
  await expectCode('ERR_ABORTED', () => p);
  assert.equal((await client.listDestinations(web)).length, 50);
});

await check('enobufs-recoverable', async () => {
  await client.flush();
  // A 64 KiB receive buffer (128 KiB once the kernel doubles it) and 2000 requests in one sendmsg, each asking
  // for an ack (ackEach): their acks (one small skb each) overflow it.
  const small = await IpvsClient.open({ recvBufferSize: 65536, batchSize: 2000, ackEach: true, timeoutMs: 120_000 });
  const desired = [{ ...web, destinations: Array.from({ length: 1999 }, (_, i) => ({ address: `10.2.${Math.floor(i / 250)}.${(i % 250) + 1}` })) }];
  const ops = plan(desired, []).ops;
  const r = await small.applyOps(ops);
  fact('enobufs-failures', { count: r.failures.length, codes: [...new Set(r.failures.map((f) => f.error.code))] });
  assert.ok(r.failures.length > 0, 'expected lost acks');
  assert.ok(r.failures.every((f) => f.error.code === 'ERR_IPVS_NO_BUFFERS' && f.error.recoverable));
  // Still usable; apply() re-reads and converges.
  const fixed = await apply(desired, { client: small, retries: 5, verify: true });
  assert.deepEqual(fixed.remaining, []);
  assert.equal((await client.listDestinations(web)).length, 1999);
  small.close();
  // Errors-only acks (the default): the same requests again all fail (EEXIST), and the kernel answers
  // every failure even without NLM_F_ACK; those answers overflow the buffer too. Whatever got through
  // is matched to its request; the rest is recoverable; nothing is counted as done.
  const quiet = await IpvsClient.open({ recvBufferSize: 65536, batchSize: 2000, timeoutMs: 120_000 });
  const again = await quiet.applyOps(ops);
  const codes = [...new Set(again.failures.map((f) => f.error.code))].sort();
  fact('enobufs-errors-only', { failures: again.failures.length, codes, stats: quiet.stats });
  assert.equal(again.failures.length, ops.length, 'every request failed (exists) or is unknown (lost answer)');
  assert.ok(codes.includes('ERR_IPVS_NO_BUFFERS'), `expected lost answers, got ${codes}`);
  assert.ok(again.failures.every((f) => f.error.code === 'ERR_IPVS_NO_BUFFERS' || f.error.code === 'ERR_IPVS_EXISTS'));
  const noop = await apply(desired, { client: quiet });
  assert.equal(noop.writes, 0);
  quiet.close();
});

await check('read-1000x50-vs-ipvsadm', async () => {
  // Not a benchmark (that is bench/ipvs): a table of the benchmark's shape read both ways, for the record.
  // It runs before the 10,000-destination case: after a big flush the kernel keeps the deleted
  // destinations in a trash list that every new destination searches, which slows loading for a while.
  await client.flush();
  const n = Number(process.env.IPVS_READ_SERVICES ?? 1000);
  const desired = Array.from({ length: n }, (_, i) => ({
    protocol: 'tcp', address: `10.${200 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, port: 80, scheduler: 'wrr',
    destinations: Array.from({ length: 50 }, (_, j) => ({ address: `172.16.${j}.${(i % 250) + 1}`, weight: 1 + (j % 3) })),
  }));
  let t0 = performance.now();
  const r = await client.applyOps(plan(desired, []).ops);
  fact('load-1000x50-ms', { services: n, ms: Math.round(performance.now() - t0) });
  assert.equal(r.failures.length, 0);
  t0 = performance.now();
  const table = await client.readTable();
  fact('read-1000x50-ms', { services: n, ms: Math.round(performance.now() - t0) });
  t0 = performance.now();
  const save = ipvsadm('-S', '-n');
  fact('ipvsadm-save-1000x50-ms', { services: n, ms: Math.round(performance.now() - t0) });
  assert.equal(table.length, n);
  assert.equal(save.split('\n').filter((l) => l.startsWith('-a')).length, n * 50);
  assert.deepEqual(plan(desired, table).ops, []);
  t0 = performance.now();
  const noop = await apply(desired, { client });
  fact('apply-noop-1000x50-ms', { services: n, ms: Math.round(performance.now() - t0), writes: noop.writes });
  assert.equal(noop.writes, 0);
  await client.flush();
});

await check('read-table-changing-mid-read', async () => {
  // IPVS dumps resume by position: a table changing while it is read can come back with entries
  // skipped or repeated. Change it from the main socket while readTable's dumps run (the native
  // engine on the threadpool, the batched one on its sockets, the main one shared with the
  // writes): every read is well formed (a service's destinations at most its 5, none twice; a
  // service nobody touched has all 5), and readTable({ stable: true }) afterwards is exactly what
  // ipvsadm -S -n prints.
  await client.flush();
  const svc = (i) => ({ protocol: 'tcp', address: `10.9.${i >> 8}.${i & 255}`, port: 80, scheduler: 'rr', destinations: Array.from({ length: 5 }, (_, j) => ({ address: `10.10.${j}.${(i % 250) + 1}` })) });
  await client.applyOpsOrThrow(plan(Array.from({ length: 300 }, (_, i) => svc(i)), []).ops);
  for (const [round, engine] of [[0, 'native'], [1, 'batched']]) {
    const current = await client.readTable({ stable: true });
    const kept = current.filter((_, i) => i % 3 !== round);
    const untouched = new Set(kept.map((s) => s.address));
    const next = [...kept, ...Array.from({ length: 100 }, (_, i) => svc(1000 + round * 100 + i))];
    const [read, applied] = await Promise.all([client.readTable({ engine, stats: false }), apply(next, { client, ownAll: true, verify: false, known: current })]);
    assert.deepEqual(applied.failures, []);
    for (const s of read) {
      const addrs = new Set(s.destinations.map((d) => d.address));
      assert.ok(s.destinations.length <= 5 && addrs.size === s.destinations.length, `${engine}: ${s.address} read with ${s.destinations.length} destinations`);
      if (untouched.has(s.address)) assert.equal(s.destinations.length, 5, `${engine}: untouched ${s.address}`);
    }
    const keys = read.map((s) => s.address);
    fact(`mid-read-${engine}`, { read: read.length, repeated: keys.length - new Set(keys).size, before: current.length, after: next.length, writes: applied.writes });
    const stable = await client.readTable({ stable: true, engine });
    assert.deepEqual(lines(renderTable(stable)), saved());
    assert.equal(stable.length, next.length);
  }
  await client.flush();
});

await check('read-native-abort', async () => {
  // An aborted native read stops within 50 ms (the addon closes its socket, which ends the dump in
  // the kernel); the next read and the client's own socket work at once, no EBUSY.
  await client.flush();
  await client.applyOpsOrThrow(plan(Array.from({ length: 400 }, (_, i) => ({ protocol: 'udp', address: `10.11.${i >> 8}.${i & 255}`, port: 53, scheduler: 'rr', destinations: Array.from({ length: 20 }, (_, j) => ({ address: `10.12.${j}.${(i % 250) + 1}` })) })), []).ops);
  const ac = new AbortController();
  const p = client.readTable({ signal: ac.signal, engine: 'native' });
  setTimeout(() => ac.abort(), 30);
  const t0 = performance.now();
  await expectCode('ERR_ABORTED', () => p);
  fact('native-abort-ms', { ms: Math.round(performance.now() - t0) });
  await expectCode('ERR_ABORTED', () => client.readTable({ signal: AbortSignal.abort(), engine: 'native' }));
  const [t, list] = await Promise.all([client.readTable({ engine: 'native' }), client.listServices()]);
  assert.equal(t.length, 400);
  assert.equal(t.reduce((n, s) => n + s.destinations.length, 0), 400 * 20);
  assert.equal(list.length, 400);
  // A watchdog that fires: a 1 ms timeout cannot hold 401 dumps under TCG.
  const e = await client.readTable({ engine: 'native', timeoutMs: 1 }).then(() => undefined, (x) => x);
  if (e !== undefined) assert.ok(isLvskitError(e, 'ERR_TIMEOUT'), `${e.code} ${e.message}`);
  fact('native-timeout-1ms', { code: e?.code ?? 'finished' });
  await client.flush();
});

await check('dump-10000-services', async () => {
  await client.flush();
  const n = Number(process.env.IPVS_BIG ?? 10000);
  const desired = Array.from({ length: n }, (_, i) => ({ protocol: 'tcp', address: `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, port: 80, scheduler: 'rr' }));
  let t0 = performance.now();
  const r = await client.applyOps(plan(desired, []).ops);
  fact('load-services-ms', { n, ms: Math.round(performance.now() - t0) });
  assert.equal(r.failures.length, 0);
  t0 = performance.now();
  const list = await client.listServices();
  fact('dump-services-ms', { n, ms: Math.round(performance.now() - t0) });
  assert.equal(list.length, n);
  assert.equal(new Set(list.map((s) => s.address)).size, n);
  const viaIpvsadm = ipvsadm('-Ln').split('\n').filter((l) => l.startsWith('TCP')).length;
  assert.equal(viaIpvsadm, n);
});

await check('dump-10000-destinations', async () => {
  await client.flush();
  const n = Number(process.env.IPVS_BIG ?? 10000);
  const svc = { ...web, scheduler: 'wrr' };
  const desired = [{ ...svc, destinations: Array.from({ length: n }, (_, i) => ({ address: `10.${50 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, weight: (i % 7) + 1 })) }];
  let t0 = performance.now();
  const r = await client.applyOps(plan(desired, []).ops);
  fact('load-destinations-ms', { n, ms: Math.round(performance.now() - t0) });
  assert.equal(r.failures.length, 0);
  t0 = performance.now();
  const dests = await client.listDestinations(svc);
  fact('dump-destinations-ms', { n, ms: Math.round(performance.now() - t0) });
  assert.equal(dests.length, n);
  assert.equal(dests.reduce((s, d) => s + d.weight, 0), desired[0].destinations.reduce((s, d) => s + d.weight, 0));
  await client.flush();
});

client.close();
console.log(`ipvs-client: ${failed === 0 ? 'all ok' : `${failed} failed`}`);
process.exit(failed === 0 ? 0 : 1);
