// Kernel tier, runs INSIDE the VM (test/kernel/harness/vm.ts): the example director end to end, with real
// traffic through the real IPVS of a stock kernel. Driven by test/kernel/director-e2e.test.ts, which
// asserts every case by name. Each case prints `CASE ok <name> (<ms> ms)` or `CASE FAIL <name>: why`;
// measurements print as `FACT <name> <json>`. Exit status 1 when any case failed.
//
// Network namespaces (iproute2's `ip`), one bridge `br0` in the root namespace as the server LAN:
//
//   client 10.0.1.2 ── 10.0.1.1 router (BIRD, AS 64500) 10.0.0.1 ──┐
//                                                                  br0 10.0.0.0/24
//   dir1 10.0.0.10 (director + IPVS + etcd) ───────────────────────┤
//   dir2 10.0.0.11 (second director, active-active case) ──────────┤
//   b1 10.0.0.21, b2 10.0.0.22, b3 10.0.0.23 (HTTP, echo servers) ──┘
//
// Services: web-dr  10.99.0.1:80 direct routing (pool from etcd conftool keys; the backends hold the VIP
//           on lo with arp_ignore/arp_announce), rr;
//           web-nat 10.99.0.2:80 NAT to backend :8080 (servers inline; the backends send :8080 replies
//           back through the director by a source-port rule), rr.
// The director announces the VIPs over BGP to BIRD, which installs them in the router's kernel table:
// the client reaches a VIP only through the route BIRD learnt.
// Active-active (the last cases): dir1 and dir2 both announce 10.99.0.1 with equal attributes; BIRD
// merges the paths (ECMP) and the router hashes flows on ports too; both directors run web-dr and an
// echo service (10.99.0.1:7, busybox nc) with the consistent `mh` scheduler (mh-port) and sloppy_tcp,
// the same pool (dir2 reads dir1's etcd), so a flow that moves director keeps its server.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';

const HERE = new URL('.', import.meta.url).pathname;
const NODE = process.execPath;
const VIP_DR = '10.99.0.1';
const VIP_NAT = '10.99.0.2';
const BACKENDS = [
  { ns: 'b1', host: 'b1.e2e', address: '10.0.0.21' },
  { ns: 'b2', host: 'b2.e2e', address: '10.0.0.22' },
  { ns: 'b3', host: 'b3.e2e', address: '10.0.0.23' },
];
const INTERVAL_MS = 1000;
// Generous: under TCG on a shared CPU a healthy server's check can stall for seconds. A killed backend
// refuses at once, so the timeout does not slow its detection (fall x interval).
const TIMEOUT_MS = 8000;
const DRAIN_MS = 6000;
const ETCD_PREFIX = '/conftool/v1/pools/vm/e2e/web-dr/';
const only = process.env.DIRECTOR_CASES ? new Set(process.env.DIRECTOR_CASES.split(',')) : undefined;
const T_START = Date.now();

let failed = 0;
const children = new Set();

function fact(name, value) {
  console.log(`FACT ${name} ${JSON.stringify(value)}`);
}
function note(msg) {
  console.log(`# ${((Date.now() - T_START) / 1000).toFixed(1)}s ${msg}`);
}
async function check(name, fn) {
  if (only && !only.has(name)) return;
  const t0 = performance.now();
  note(`case ${name}`);
  try {
    await fn();
    console.log(`CASE ok ${name} (${Math.round(performance.now() - t0)} ms)`);
  } catch (e) {
    failed++;
    console.log(`CASE FAIL ${name}: ${e?.stack ?? e}`);
    try {
      const t = fs.readFileSync('/tmp/dir1.log', 'utf8').trim().split('\n').slice(-40);
      console.log(`----- /tmp/dir1.log (last 40 lines) -----\n${t.map((l) => l.slice(0, 400)).join('\n')}`);
    } catch { /* no log yet */ }
  }
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, fn, ms = 20_000, stepMs = 100) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for: ${what}`);
    await sleep(stepMs);
  }
}

// ---- processes --------------------------------------------------------------------------------

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000, ...opts });
  if (r.status !== 0 && !opts.allowFail) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr}${r.error ?? ''}`);
  return r.stdout;
}
const inNs = (ns, cmd, ...args) => sh('ip', ['netns', 'exec', ns, cmd, ...args]);

/** A process in a namespace (`ip netns exec` execs it: the PID is the process's own). */
function spawnIn(ns, argv, { ipc = false, log } = {}) {
  const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe', ...(ipc ? ['ipc'] : [])] });
  children.add(child);
  child.output = '';
  const out = log ? fs.createWriteStream(log, { flags: 'a' }) : undefined;
  for (const s of [child.stdout, child.stderr]) {
    s.setEncoding('utf8');
    s.on('data', (c) => {
      child.output = (child.output + c).slice(-20_000);
      out?.write(c);
    });
  }
  child.exited = new Promise((r) => child.once('exit', (code, sig) => { children.delete(child); r({ code, sig }); }));
  return child;
}
async function killChild(child, sig = 'SIGKILL') {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(sig); // by PID: a process this script started
  await Promise.race([child.exited, sleep(10_000)]);
}

/** IPC peer: request/response by id, events to a list (with listeners). */
function ipcPeer(child, label) {
  let next = 1;
  const pending = new Map();
  const events = [];
  const ready = new Promise((resolve, reject) => {
    child.on('message', (m) => {
      if (m.ready) return resolve();
      if (m.event) {
        events.push(m);
        return;
      }
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if (m.ok) p.resolve(m);
      else p.reject(new Error(`${label}: ${m.error}`));
    });
    child.exited.then(({ code, sig }) => {
      const err = new Error(`${label} exited (${code ?? sig}): ${child.output.slice(-3000)}`);
      reject(err);
      for (const p of pending.values()) p.reject(err);
      pending.clear();
    });
  });
  const call = (msg, ms = 120_000) => new Promise((resolve, reject) => {
    const id = next++;
    const t = setTimeout(() => { pending.delete(id); reject(new Error(`${label}: ${msg.op} got no answer in ${ms} ms`)); }, ms);
    pending.set(id, { resolve: (v) => { clearTimeout(t); resolve(v); }, reject: (e) => { clearTimeout(t); reject(e); } });
    child.send({ id, ...msg });
  });
  return { child, call, events, ready };
}

// ---- the network ------------------------------------------------------------------------------

function buildNetwork() {
  const t0 = Date.now();
  // iproute2 keeps named namespaces in /var/run/netns; the initramfs has /run only.
  if (!fs.existsSync('/var/run')) {
    fs.mkdirSync('/var', { recursive: true });
    fs.symlinkSync('/run', '/var/run');
  }
  fs.writeFileSync('/etc/hosts', `127.0.0.1 localhost\n${BACKENDS.map((b) => `${b.address} ${b.host}\n`).join('')}`);
  const lan = [['router', '10.0.0.1'], ['dir1', '10.0.0.10'], ['dir2', '10.0.0.11'], ...BACKENDS.map((b) => [b.ns, b.address])];
  // Batches (`ip -batch`, one per namespace) and one shell per namespace for sysctls: each process
  // costs a lot under TCG, so about twenty of them instead of a hundred.
  const nss = ['client', ...lan.map(([n]) => n)];
  const root = [...nss.map((ns) => `netns add ${ns}`), 'link add br0 type bridge', 'link set br0 up'];
  const per = new Map(nss.map((ns) => [ns, ['link set lo up']]));
  const sysctls = new Map(nss.map((ns) => [ns, []]));
  const sysctl = (ns, key, value) => sysctls.get(ns).push(`echo ${value} > /proc/sys/${key.replace(/\./g, '/')}`);
  for (const [ns, addr] of lan) {
    root.push(`link add v-${ns} type veth peer name eth0 netns ${ns}`, `link set v-${ns} master br0 up`);
    per.get(ns).push(`addr add ${addr}/24 dev eth0`, 'link set eth0 up');
  }
  root.push('link add eth0 netns client type veth peer name eth1 netns router');
  per.get('client').push('addr add 10.0.1.2/24 dev eth0', 'link set eth0 up', 'route add default via 10.0.1.1');
  per.get('router').push('addr add 10.0.1.1/24 dev eth1', 'link set eth1 up');
  sysctl('router', 'net.ipv4.ip_forward', 1);
  // ECMP over the two directors by flow (addresses and ports), not by address pair only.
  sysctl('router', 'net.ipv4.fib_multipath_hash_policy', 1);
  for (const ns of ['dir1', 'dir2']) {
    // The VIPs are local on the director (IPVS takes packets in LOCAL_IN); it forwards NAT replies.
    per.get(ns).push(`addr add ${VIP_DR}/32 dev lo`, `addr add ${VIP_NAT}/32 dev lo`, 'route add default via 10.0.0.1');
    sysctl(ns, 'net.ipv4.ip_forward', 1);
  }
  for (const b of BACKENDS) {
    // Direct routing: the VIP on lo, never answered for in ARP nor used as an ARP source.
    per.get(b.ns).push(`addr add ${VIP_DR}/32 dev lo`);
    for (const k of ['all', 'eth0']) {
      sysctl(b.ns, `net.ipv4.conf.${k}.arp_ignore`, 1);
      sysctl(b.ns, `net.ipv4.conf.${k}.arp_announce`, 2);
    }
    per.get(b.ns).push(
      'route add default via 10.0.0.1',
      // NAT: replies from the NAT port go back through the director (which undoes the rewrite).
      'route add default via 10.0.0.10 table 100',
      'rule add ipproto 6 sport 8080 lookup 100',
    );
    // The servers' content: each answer names the backend and the port it was asked on.
    for (const port of [80, 8080]) {
      const dir = `/tmp/www-${b.ns}-${port}`;
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(`${dir}/index.html`, `${b.ns} ${port}\n`);
      fs.writeFileSync(`${dir}/healthz`, 'ok\n');
    }
  }
  const opts = { timeout: 180_000 };
  sh('ip', ['-batch', '-'], { ...opts, input: `${root.join('\n')}\n` });
  for (const [ns, cmds] of per) sh('ip', ['-n', ns, '-batch', '-'], { ...opts, input: `${cmds.join('\n')}\n` });
  for (const [ns, cmds] of sysctls) if (cmds.length) sh('ip', ['netns', 'exec', ns, 'sh', '-ec', cmds.join('\n')], opts);
  fact('network-setup-ms', Date.now() - t0);
}

// ---- daemons ----------------------------------------------------------------------------------

const BIRD_CONF = `
log "/tmp/bird.log" all;
router id 10.0.0.1;
protocol device { scan time 10; }
protocol kernel {
  ipv4 { import none; export all; };
  merge paths on;
}
template bgp director {
  local 10.0.0.1 as 64500;
  ipv4 { import all; export none; };
  graceful restart on;
  connect delay time 1;
  connect retry time 2;
  error wait time 1, 3;
  hold time 30;
}
protocol bgp dir1 from director { neighbor 10.0.0.10 as 64600; }
protocol bgp dir2 from director { neighbor 10.0.0.11 as 64600; }
`;
const BIRD_SOCK = '/tmp/bird.ctl';

function birdc(...args) {
  return sh('ip', ['netns', 'exec', 'router', 'birdc', '-s', BIRD_SOCK, ...args], { allowFail: true });
}
/** BIRD's routes for a prefix: one entry per path (`via` lines), empty when it has none. */
function birdRoutes(prefix) {
  const out = birdc('show', 'route', prefix, 'all');
  if (!/Table master4|Network not found/.test(out) && !/^BIRD .* ready\.\s*$/s.test(out)) return undefined; // birdc got no answer: unknown
  return out.split('\n').filter((l) => /\[(dir[12]) /.test(l)).map((l) => /\[(dir[12]) /.exec(l)[1]);
}
/** The router's kernel route for a VIP (what BIRD installed). */
function kernelRoute(vip) {
  return sh('ip', ['-n', 'router', 'route', 'show', `${vip}/32`]).trim();
}
function ipvsSave(ns = 'dir1') {
  return inNs(ns, 'ipvsadm', '-S', '-n').split('\n').map((l) => l.trim()).filter(Boolean).sort();
}
/** Destinations of a virtual service: { 'addr:port': weight }. */
function ipvsDests(vip, port = 80, ns = 'dir1') {
  const out = inNs(ns, 'ipvsadm', '-L', '-n', '-t', `${vip}:${port}`);
  const d = {};
  for (const m of out.matchAll(/->\s+(\d+\.\d+\.\d+\.\d+:\d+)\s+\S+\s+(\d+)/g)) d[m[1]] = Number(m[2]);
  return d;
}
/** Per-destination connection counters (ipvsadm --stats --exact): { 'vip:port>addr:port': conns }. */
function ipvsConns(ns = 'dir1') {
  const out = inNs(ns, 'ipvsadm', '-L', '-n', '--stats', '--exact');
  const c = {};
  let svc = '';
  for (const line of out.split('\n')) {
    const s = /^TCP\s+(\S+)\s+(\d+)/.exec(line);
    if (s) { svc = s[1]; c[svc] = Number(s[2]); continue; }
    const d = /^\s+->\s+(\S+)\s+(\d+)/.exec(line);
    if (d) c[`${svc}>${d[1]}`] = Number(d[2]);
  }
  return c;
}

/** IPVS connection entries to a virtual service: [{ client: 'addr:port', state, dest: 'addr:port' }]. */
function ipvsConnEntries(ns, vip, port) {
  const out = inNs(ns, 'ipvsadm', '-L', '-n', '-c');
  const rows = [];
  for (const m of out.matchAll(/^TCP\s+\S+\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$/gm)) {
    if (m[3] === `${vip}:${port}`) rows.push({ client: m[2], state: m[1], dest: m[4] });
  }
  return rows;
}
/** The destinations of a virtual service in the kernel's list order (mh builds its table in that order). */
function ipvsDestOrder(ns, vip, port) {
  return [...inNs(ns, 'ipvsadm', '-L', '-n', '-t', `${vip}:${port}`).matchAll(/->\s+(\d+\.\d+\.\d+\.\d+:\d+)/g)].map((m) => m[1]);
}
const readSysctl = (ns, key) => inNs(ns, 'cat', `/proc/sys/${key.replace(/\./g, '/')}`).trim();
/** A counter or gauge from the director's /metrics (no labels). */
async function metric(agent, name) {
  const body = (await agent.call({ op: 'get', path: '/metrics' })).body;
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(body);
  if (!m) throw new Error(`no ${name} in /metrics`);
  return Number(m[1]);
}

/**
 * A backend: two real HTTP servers (busybox httpd, far cheaper than node to start under TCG) in its
 * namespace, :80 for direct routing and :8080 for NAT. Ready once both answer on the backend's address.
 */
const backends = new Map();
async function startBackend(b) {
  const procs = [80, 8080].map((port) => spawnIn(b.ns, ['httpd', '-f', '-p', `0.0.0.0:${port}`, '-h', `/tmp/www-${b.ns}-${port}`]));
  backends.set(b.ns, procs);
  await until(`backend ${b.ns} answers`, () => {
    for (const p of procs) if (p.exitCode !== null) throw new Error(`httpd in ${b.ns} exited: ${p.output}`);
    return [80, 8080].every((port) => spawnSync('ip', ['netns', 'exec', b.ns, 'wget', '-q', '-O', '-', `http://${b.address}:${port}/healthz`], { encoding: 'utf8' }).stdout === 'ok\n');
  }, 30_000, 100);
}
async function killBackend(b) {
  await Promise.all(backends.get(b.ns).map((p) => killChild(p)));
}

/**
 * A director's config. `aa`: the active-active layout (web-dr on `mh` with mh-port, sloppy_tcp, the echo
 * service); `nat: false` leaves web-nat out (its replies route back through dir1 only); `etcd`: where
 * the pool is read.
 */
function directorConfig(name, address, { aa = false, nat = true, etcd = 'http://127.0.0.1:2379' } = {}) {
  const scheduler = aa ? 'mh\n    schedFlags: [mh-port]' : 'rr';
  return `name: ${name}
dryRun: false
stateDir: /tmp/${name}-state
log: { level: info, format: json }
status: { address: 127.0.0.1, port: 9090 }
ipvs:
  sysctls: { expire_nodest_conn: 1${aa ? ', sloppy_tcp: 1' : ''} }
  startupWaitMs: 30s
  reconcileIntervalMs: 60s
bgp:
  localAs: 64600
  routerId: ${address}
  holdTime: 30
  gracefulRestart: { restartTime: 120 }
  peers:
    - { address: 10.0.0.1, remoteAs: 64500, nextHop: { ipv4: ${address} } }
services:
  web-dr:
    vip: ${VIP_DR}
    port: 80
    scheduler: ${scheduler}
    forwarding: route
    depoolThreshold: 0.5
    drainMs: ${DRAIN_MS}
    rise: 2
    fall: 2
    checks:
      - { type: http, path: /healthz, intervalMs: ${INTERVAL_MS}, timeoutMs: ${TIMEOUT_MS} }
    pool: { type: etcd, endpoints: ["${etcd}"], dc: vm, cluster: e2e }
${aa ? `  echo:
    vip: ${VIP_DR}
    port: 7
    scheduler: mh
    schedFlags: [mh-port]
    forwarding: route
    depoolThreshold: 0.5
    drainMs: ${DRAIN_MS}
    rise: 1
    fall: 1
    checks:
      - { type: idle, connectTimeoutMs: ${TIMEOUT_MS} }
    servers:
${BACKENDS.map((b) => `      - { host: ${b.host}, address: ${b.address}, port: 7, weight: 10 }`).join('\n')}
` : ''}${nat ? `  web-nat:
    vip: ${VIP_NAT}
    port: 80
    scheduler: rr
    forwarding: masq
    depoolThreshold: 0.5
    drainMs: ${DRAIN_MS}
    rise: 2
    fall: 2
    checks:
      - { type: http, path: /healthz, intervalMs: ${INTERVAL_MS}, timeoutMs: ${TIMEOUT_MS} }
    servers:
${BACKENDS.map((b) => `      - { host: ${b.host}, address: ${b.address}, port: 8080, weight: 10 }`).join('\n')}
` : ''}`;
}

async function startEtcd(ns) {
  const child = spawnIn(ns, ['/usr/bin/etcd', '--name', 'e2e', '--data-dir', `/tmp/etcd-${ns}`,
    // Also on the LAN address: dir2 reads the same pool (active-active).
    '--listen-client-urls', 'http://127.0.0.1:2379,http://10.0.0.10:2379', '--advertise-client-urls', 'http://127.0.0.1:2379',
    '--listen-peer-urls', 'http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380',
    '--initial-cluster', 'e2e=http://127.0.0.1:2380', '--log-level', 'warn', '--logger', 'zap'], { log: `/tmp/etcd-${ns}.log` });
  await until(`etcd in ${ns} answers`, () => {
    if (child.exitCode !== null) throw new Error(`etcd exited: ${child.output}`);
    const r = spawnSync('ip', ['netns', 'exec', ns, 'wget', '-q', '-O', '-', 'http://127.0.0.1:2379/health'], { encoding: 'utf8' });
    return r.status === 0 && /"health":\s*"true"/.test(r.stdout);
  }, 60_000, 300);
  return child;
}

/** A director agent process, started and importing dist/director, not yet running a director. */
function spawnAgent(name) {
  const child = spawnIn(name, [NODE, `${HERE}director-agent.mjs`, name], { ipc: true });
  return ipcPeer(child, name);
}
async function startDirectorAgent(name, address, agent = spawnAgent(name), configOpts = {}) {
  await agent.ready;
  const t0 = Date.now();
  const r = await agent.call({ op: 'start', config: directorConfig(name, address, configOpts) }, 300_000);
  agent.startMs = Date.now() - t0;
  agent.mode = r.mode;
  return agent;
}

/** A put through etcd's JSON gateway with busybox wget (before any director runs). */
function etcdPutWget(ns, key, value) {
  const b64 = (x) => Buffer.from(x).toString('base64');
  inNs(ns, 'wget', '-q', '-O', '-', '--header', 'Content-Type: application/json', '--post-data', JSON.stringify({ key: b64(key), value: b64(value) }), 'http://127.0.0.1:2379/v3/kv/put');
}
const etcdPut = (agent, host, weight, pooled) => agent.call({ op: 'etcd-put', key: `${ETCD_PREFIX}${host}`, value: JSON.stringify({ weight, pooled }) });

// ---- cases --------------------------------------------------------------------------------------

let client;
let dir1;
/** The next dir1 process, spawned early so its node start and imports overlap other cases (TCG is slow). */
let dir1Next;
let dir2Agent;
const echoServers = [];
const ADDR = { dir1: '10.0.0.10', dir2: '10.0.0.11' };
const dests = (vip, port = 80) => Object.fromEntries(Object.entries(ipvsDests(vip, port)).sort());
/** The director's own read of the kernel table (cheap to poll): { vip: { 'addr:port': weight } }. */
const table = async (agent = dir1) => (await agent.call({ op: 'dests' })).dests;
const allUp = async () => {
  const t = await table();
  return BACKENDS.every((b) => t[VIP_DR]?.[`${b.address}:80`] === 10 && t[VIP_NAT]?.[`${b.address}:8080`] === 10);
};
const balancedBy = (byBody, port, n) => BACKENDS.every((b) => (byBody[`${b.ns} ${port}`] ?? 0) >= n / 3 - 1);

try {
  await check('setup', async () => {
    buildNetwork();
    let t = Date.now();
    fs.writeFileSync('/tmp/bird.conf', BIRD_CONF);
    spawnIn('router', ['/usr/sbin/bird', '-f', '-c', '/tmp/bird.conf', '-s', BIRD_SOCK], { log: '/tmp/bird.out' });
    // Backends, the client and etcd start side by side.
    const cl = spawnIn('client', [NODE, `${HERE}director-client.mjs`], { ipc: true });
    client = ipcPeer(cl, 'client');
    const timed = async (name, p) => { await p; fact(name, Date.now() - t); };
    await Promise.all([timed('backends-start-ms', Promise.all(BACKENDS.map(startBackend))), timed('client-start-ms', client.ready), timed('etcd-start-ms', startEtcd('dir1'))]);
    // Echo servers for the active-active case's long-lived connections (busybox nc, one cat per connection).
    for (const b of BACKENDS) echoServers.push(spawnIn(b.ns, ['nc', '-ll', '-p', '7', '-e', '/bin/cat']));
    // The first answer shows the client cannot reach the VIP before any route exists.
    const before = await client.call({ op: 'burst', url: `http://${VIP_DR}/`, n: 1 });
    assert.equal(before.failures.length, 1, 'the VIP is unreachable before BGP');
    for (const b of BACKENDS) etcdPutWget('dir1', `${ETCD_PREFIX}${b.host}`, JSON.stringify({ weight: 10, pooled: 'yes' }));
    t = Date.now();
    dir1 = await startDirectorAgent('dir1', '10.0.0.10');
    fact('director-start-ms', { total: Date.now() - t, startDirector: dir1.startMs });
    assert.equal(dir1.mode, 'kernel');
    await until('BIRD learnt both VIPs from dir1', () => birdRoutes(`${VIP_DR}/32`)?.includes('dir1') && birdRoutes(`${VIP_NAT}/32`)?.includes('dir1'), 30_000, 250);
    await until('the router kernel has the VIP routes', () => kernelRoute(VIP_DR).includes('10.0.0.10') && kernelRoute(VIP_NAT).includes('10.0.0.10'), 10_000);
    fact('ipvs-after-start', ipvsSave());
    fact('bird-route', birdc('show', 'route', `${VIP_DR}/32`, 'all').split('\n').slice(0, 12));
    fact('first-announce-ms', Date.now() - t);
    dir1Next = spawnAgent('dir1');
    dir2Agent = spawnAgent('dir2'); // started (node, imports) now, runs a director in the active-active case
  });
  if (dir1 === undefined) throw new Error('setup failed: the other cases need the director');

  await check('balance-dr', async () => {
    assert.deepEqual(dests(VIP_DR), Object.fromEntries(BACKENDS.map((b) => [`${b.address}:80`, 10])));
    assert.ok(ipvsSave().some((l) => l.startsWith(`-a -t ${VIP_DR}:80 -r 10.0.0.21:80 -g`)), 'direct routing (-g)');
    const r = await client.call({ op: 'burst', url: `http://${VIP_DR}/`, n: 12 });
    fact('balance-dr', r.byBody);
    assert.deepEqual(r.failures, []);
    assert.ok(balancedBy(r.byBody, 80, 12), `rr over 3 backends: ${JSON.stringify(r.byBody)}`);
  });

  await check('balance-nat', async () => {
    assert.deepEqual(dests(VIP_NAT), Object.fromEntries(BACKENDS.map((b) => [`${b.address}:8080`, 10])));
    assert.ok(ipvsSave().some((l) => l.startsWith(`-a -t ${VIP_NAT}:80 -r 10.0.0.21:8080 -m`)), 'masquerading (-m)');
    const r = await client.call({ op: 'burst', url: `http://${VIP_NAT}/`, n: 12 });
    fact('balance-nat', r.byBody);
    assert.deepEqual(r.failures, []);
    // The backends saw :8080 (rewritten by the director), the client spoke to VIP:80.
    assert.ok(balancedBy(r.byBody, 8080, 12), `rr over 3 backends on :8080: ${JSON.stringify(r.byBody)}`);
  });

  await check('etcd-depool', async () => {
    const b3 = `${BACKENDS[2].address}:80`;
    await until('all backends pooled', allUp, 30_000, 200);
    // The agents spawned at the end of setup (dir1Next, dir2Agent: node start and the director's imports)
    // share the VM's one vCPU for seconds; measured while they start, the write -> weight 0 figure was
    // 0.9-1.9 s against 0.1-0.4 s for the repool seconds later (natively both are ~15 ms,
    // test/loopback/director-sources/etcd-depool.test.ts). Let them finish so the figure is the director's.
    const t0 = Date.now();
    await Promise.all([dir1Next?.ready, dir2Agent?.ready]);
    fact('etcd-depool-waited-for-agent-starts-ms', Date.now() - t0);
    const from = dir1.events.length;
    const { at } = await etcdPut(dir1, BACKENDS[2].host, 10, 'no');
    try {
    const ev = await until('an IPVS change setting b3 to weight 0', () => dir1.events.slice(from).find((e) => e.event === 'ipvs' && e.done >= at && e.commands.some((c) => c.includes(`-r ${b3}`) && / -w 0\b/.test(c))), 30_000, 20);
    const ms = ev.done - at;
    fact('etcd-write-to-ipvs-ms', ms);
    assert.equal(dests(VIP_DR)[b3], 0, 'b3 at weight 0 in the kernel');
    // A second is the goal; under TCG on a shared CPU it is recorded (FACT above), bounded by the wait.
    const r = await client.call({ op: 'burst', url: `http://${VIP_DR}/`, n: 12 });
    assert.deepEqual(r.failures, []);
    assert.equal(r.byBody['b3 80'], undefined, `no new connection to a depooled server: ${JSON.stringify(r.byBody)}`);
    await until('b3 removed after the drain time', async () => !(b3 in (await table())[VIP_DR]), DRAIN_MS + 15_000, 200);
    // The kernel can show the removal before the director's event arrives: apply() reads the table
    // back before it reports, and the event then crosses the agent's IPC (slow under TCG).
    const gone = await until('the director reporting b3 removed', () => dir1.events.slice(from).find((e) => e.event === 'ipvs' && e.commands.some((c) => c.includes(`-d -t ${VIP_DR}:80 -r ${b3}`))), 15_000, 50);
    fact('etcd-depool-drain-ms', gone.done - ev.done);
    // Pooled again: back at its weight once up (it stayed checked while disabled).
    const from2 = dir1.events.length;
    const back = await etcdPut(dir1, BACKENDS[2].host, 10, 'yes');
    const ev2 = await until('b3 added back at weight 10', () => dir1.events.slice(from2).find((e) => e.event === 'ipvs' && e.commands.some((c) => c.startsWith(`ipvsadm -a -t ${VIP_DR}:80 -r ${b3}`) && / -w 10\b/.test(c))), 30_000, 50);
    fact('etcd-repool-to-ipvs-ms', ev2.done - back.at);
    assert.equal(dests(VIP_DR)[b3], 10);
    // Once more, now that the depool's code has run once in this process (an emulated CPU compiles it slowly).
    const from3 = dir1.events.length;
    const again = await etcdPut(dir1, BACKENDS[2].host, 10, 'no');
    const ev3 = await until('b3 at weight 0 again', () => dir1.events.slice(from3).find((e) => e.event === 'ipvs' && e.done >= again.at && e.commands.some((c) => c.includes(`-r ${b3}`) && / -w 0\b/.test(c))), 30_000, 20);
    fact('etcd-write-to-ipvs-ms-second', ev3.done - again.at);
    const from4 = dir1.events.length;
    await etcdPut(dir1, BACKENDS[2].host, 10, 'yes');
    await until('b3 back at weight 10', () => dir1.events.slice(from4).find((e) => e.event === 'ipvs' && e.commands.some((c) => c.includes(`-r ${b3}`) && / -w 10\b/.test(c))), 30_000, 50);
    } finally {
      await etcdPut(dir1, BACKENDS[2].host, 10, 'yes'); // whatever happened, the next cases start from a full pool
    }
  });

  await check('kill-backend', async () => {
    await until('all backends pooled', allUp, 30_000, 200);
    const b1 = `${BACKENDS[0].address}:80`;
    const from = dir1.events.length;
    const isW0 = (e) => e.event === 'ipvs' && e.commands.some((c) => c.includes(`-t ${VIP_DR}:80 -r ${b1}`) && / -w 0\b/.test(c));
    const isRm = (e) => e.event === 'ipvs' && e.commands.some((c) => c.includes(`-d -t ${VIP_DR}:80 -r ${b1}`));
    await client.call({ op: 'loop', url: `http://${VIP_DR}/`, gapMs: 50 });
    let records;
    let killedAt;
    let w0;
    let rm;
    let seenAtZero = false;
    try {
      await sleep(1500);
      killedAt = Date.now();
      await killBackend(BACKENDS[0]);
      w0 = await until('b1 at weight 0 in IPVS', () => dir1.events.slice(from).find(isW0), 30_000, 20);
      // The kernel holds it at weight 0 while it drains (the director's own netlink read, then removal).
      rm = await until('b1 removed after the drain time', async () => {
        const r = dir1.events.slice(from).find(isRm);
        if (!r && (await table())[VIP_DR][b1] === 0) seenAtZero = true;
        return r;
      }, DRAIN_MS + 30_000, 100);
      await sleep(1000);
    } finally {
      records = (await client.call({ op: 'stop' })).records;
    }
    const restarted = startBackend(BACKENDS[0]); // the next case starts from three live backends
    const toWeight0 = w0.done - killedAt;
    fact('backend-failure-to-ipvs-ms', toWeight0);
    fact('backend-weight0-to-removal-ms', rm.done - w0.done);
    assert.ok(seenAtZero, 'the kernel table showed b1 at weight 0 before its removal');
    const bad = records.filter((r) => !r.ok);
    const after = bad.filter((r) => r.t0 > w0.done);
    const startedInWindow = records.filter((r) => r.t0 >= killedAt - 100 && r.t0 <= w0.done).length;
    fact('kill-backend-requests', { total: records.length, failed: bad.length, startedBetweenKillAndWeight0: startedInWindow, errors: [...new Set(bad.map((r) => r.err))] });
    // Interval + timeout is the goal; a shared CPU under TCG gets wide headroom (the figure is recorded above).
    assert.ok(toWeight0 <= INTERVAL_MS + TIMEOUT_MS + 20_000, `weight 0 after ${toWeight0} ms`);
    assert.ok(bad.every((r) => r.t0 >= killedAt - 100), 'no failure before the kill');
    assert.deepEqual(after, [], 'no failure once b1 was at weight 0 (drain and removal included)');
    assert.ok(bad.length <= startedInWindow, 'failures only among requests started while b1 was still scheduled');
    const later = records.filter((r) => r.ok && r.t0 > w0.done);
    assert.ok(later.length > 5, 'requests kept flowing');
    assert.ok(later.every((r) => r.body !== 'b1 80'), 'no request reached b1 after weight 0');
    await restarted;
  });

  await check('depool-threshold', async () => {
    // Two of three fail: threshold 0.5 keeps ceil(1.5) = 2 pooled, so one failed server is held.
    await until('all backends pooled', allUp, 60_000, 300);
    const from = dir1.events.length;
    await killBackend(BACKENDS[0]);
    await until('the director saw b1 fail', () => dir1.events.slice(from).some((e) => e.event === 'member' && e.service === 'web-dr' && e.id === 'b1.e2e'), 30_000, 50);
    await killBackend(BACKENDS[1]);
    try {
    await until('the director saw b2 fail', () => dir1.events.slice(from).some((e) => e.event === 'member' && e.service === 'web-dr' && e.id === 'b2.e2e'), 30_000, 50);
    await until('alerts CRITICAL', async () => /^CRITICAL/.test((await dir1.call({ op: 'get', path: '/alerts' })).body), 20_000, 200);
    const alerts = await dir1.call({ op: 'get', path: '/alerts' });
    fact('alerts-threshold', alerts.body.split('\n'));
    assert.match(alerts.body, /depool threshold/);
    const pool = await dir1.call({ op: 'get', path: '/pools/web-dr' });
    fact('pools-threshold', pool.body.split('\n'));
    assert.match(pool.body, /b2\.e2e: enabled\/down\/pooled/);
    assert.match(pool.body, /b3\.e2e: enabled\/up\/pooled/);
    await sleep(INTERVAL_MS * 2);
    const d = dests(VIP_DR);
    assert.equal(d[`${BACKENDS[1].address}:80`], 10, 'b2 held at its weight by the threshold');
    assert.equal(d[`${BACKENDS[2].address}:80`], 10);
    assert.ok(!(`${BACKENDS[0].address}:80` in d) || d[`${BACKENDS[0].address}:80`] === 0);
    const metrics = await dir1.call({ op: 'get', path: '/metrics' });
    assert.match(metrics.body, /lvskit_director_service_pooled_servers\{[^}]*web-dr[^}]*\} 2/);
    } finally {
      // Recover: both back, pooled at full weight.
      await Promise.all([startBackend(BACKENDS[0]), startBackend(BACKENDS[1])]);
    }
    await until('all backends pooled again', allUp, 60_000, 300);
    await until('alerts OK', async () => /^OK/.test((await dir1.call({ op: 'get', path: '/alerts' })).body), 20_000, 300);
  });

  await check('graceful-restart-no-flush', async () => {
    const before = ipvsSave();
    const connsBefore = ipvsConns();
    await client.call({ op: 'loop', url: `http://${VIP_DR}/`, gapMs: 100 });
    const routeSeen = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        routeSeen.push({ at: Date.now(), paths: birdRoutes(`${VIP_DR}/32`), kernel: kernelRoute(VIP_DR) });
        await sleep(250);
      }
    })();
    const stopAt = Date.now();
    let downFor;
    let upAt;
    let endedAt;
    let records;
    try {
      await dir1.call({ op: 'stop', restart: true });
      await dir1.child.exited;
      downFor = Date.now();
      await sleep(2000); // nobody home: BIRD keeps the route stale (RFC 4724), IPVS keeps forwarding
      note('graceful: starting dir1 again');
      dir1 = await startDirectorAgent('dir1', '10.0.0.10', dir1Next);
      upAt = Date.now();
      note('graceful: dir1 started again');
      dir1Next = spawnAgent('dir1'); // for the plain restart
      await until('BGP back up with dir1', () => /Established/.test(birdc('show', 'protocols', 'dir1')), 30_000, 250);
      // BIRD's graceful restart ends at our End-of-RIB (stale routes swapped for the fresh ones).
      await until('BIRD done with the graceful restart', () => !/graceful restart active/i.test(birdc('show', 'protocols', 'all', 'dir1')), 30_000, 250);
      endedAt = Date.now();
      await sleep(1500);
    } finally {
      polling = false;
      await poller;
      records = (await client.call({ op: 'stop' })).records;
    }
    const during = routeSeen.filter((r) => r.at > downFor && r.at < upAt);
    const after = ipvsSave();
    const connsAfter = ipvsConns();
    fact('graceful-restart', { processDownMs: upAt - stopAt, upToEndOfRestartMs: endedAt - upAt, routePolls: routeSeen.length, pollsAfterUp: routeSeen.filter((r) => r.at >= upAt).length, birdcNoAnswer: routeSeen.filter((r) => r.paths === undefined).length, requests: records.length, failed: records.filter((r) => !r.ok).map((r) => ({ err: r.err, afterUpMs: r.t0 - upAt })) });
    assert.ok(during.length > 0);
    // RFC 4724: the route stays while the director is down, and (the new process setting the F bit:
    // its IPVS table was preserved) also when the new session comes up, until our End-of-RIB swaps the
    // stale route for the fresh one. Without the F bit BIRD dropped it at session up (§4.2), before our
    // first UPDATE: polls saw it missing and requests failed with ENETUNREACH.
    const missing = (r) => (r.paths !== undefined && !r.paths.includes('dir1')) || !r.kernel.includes('10.0.0.10');
    assert.deepEqual(routeSeen.filter(missing).map((r) => ({ ...r, afterUpMs: r.at - upAt })), [], 'the route never left BIRD nor the router kernel, before, during or after the restart');
    assert.ok(routeSeen.filter((r) => r.at > downFor && r.at < upAt && r.paths?.includes('dir1')).length > 0, 'BIRD answered with the route while no director ran');
    assert.ok(records.filter((r) => r.ok && r.t0 >= downFor && r.t1 <= upAt).length > 5, 'requests were served while no director ran');
    assert.ok(records.filter((r) => r.ok && r.t0 >= upAt).length > 5, 'requests were served after the new process was up');
    assert.deepEqual(records.filter((r) => !r.ok).map((r) => ({ err: r.err, afterUpMs: r.t0 - upAt })), [], 'no request failed across the whole restart');
    assert.deepEqual(after, before, 'ipvsadm -S -n unchanged');
    const writes = dir1.events.filter((e) => e.event === 'ipvs');
    assert.deepEqual(writes, [], 'the new process wrote nothing to IPVS');
    for (const [k, v] of Object.entries(connsBefore)) assert.ok((connsAfter[k] ?? -1) >= v, `counter ${k} kept (${v} -> ${connsAfter[k]}): no flush, no re-add`);
    fact('conns-counters', { before: connsBefore, after: connsAfter });
  });

  await check('plain-restart', async () => {
    await until('all backends pooled', allUp, 60_000, 300);
    const b3 = `${BACKENDS[2].address}:80`;
    const before = ipvsSave();
    const countersBefore = ipvsConns();
    const stopAt = Date.now();
    await dir1.call({ op: 'stop' });
    await dir1.child.exited;
    await until('BIRD withdrew both VIPs', () => birdRoutes(`${VIP_DR}/32`)?.length === 0 && birdRoutes(`${VIP_NAT}/32`)?.length === 0, 20_000, 100);
    const withdrawnMs = Date.now() - stopAt;
    await until('the router kernel dropped the route', () => kernelRoute(VIP_DR) === '', 10_000, 100);
    assert.deepEqual(ipvsSave(), before, 'a plain stop leaves the IPVS table as it is');
    // While no director runs, b3's weight changes in etcd, and the new process starts with the
    // active-active config (web-dr on mh, an echo service; it is the next case's layout, and a fresh
    // process adds the echo servers in one write, in the same order as dir2 will). Its first reconcile
    // then has exactly these to write, nothing else; the routers must not get the VIPs before.
    note('dir1 stopped and withdrawn; b3 to weight 20 in etcd; starting dir1 again');
    etcdPutWget('dir1', `${ETCD_PREFIX}${BACKENDS[2].host}`, JSON.stringify({ weight: 20, pooled: 'yes' }));
    const destLines = (t) => t.filter((l) => l.startsWith('-a ')).sort();
    const expected = [
      ...destLines(before).map((l) => (l.startsWith(`-a -t ${VIP_DR}:80 -r ${b3} `) ? l.replace(/-w 10$/, '-w 20') : l)),
      ...BACKENDS.map((b) => `-a -t ${VIP_DR}:7 -r ${b.address}:7 -g -w 10`),
    ].sort();
    assert.ok(destLines(before).some((l) => l.startsWith(`-a -t ${VIP_DR}:80 -r ${b3} `) && l.endsWith('-w 10')), 'b3 is in the table at weight 10');
    // BIRD first, then the kernel table: when a poll sees the route, the new process announced it
    // before that poll's IPVS read, so the read must show the write if the write came first.
    const polls = [];
    let polling = true;
    const poller = (async () => {
      const end = Date.now() + 120_000;
      while (polling && Date.now() < end) {
        const at = Date.now();
        const routed = birdRoutes(`${VIP_DR}/32`)?.includes('dir1') === true;
        polls.push({ at, routed, w: ipvsDests(VIP_DR)[b3] });
        if (routed) return;
        await sleep(250);
      }
    })();
    const startAt = Date.now();
    try {
      dir1 = await startDirectorAgent('dir1', ADDR.dir1, dir1Next, { aa: true });
      note('dir1 started again');
      dir1Next = spawnAgent('dir1'); // for the active-active case
      await until('BIRD has the VIP from the new process', () => polls.some((p) => p.routed), 60_000, 100);
    } finally {
      polling = false;
      await poller;
    }
    try {
      const seen = polls.find((p) => p.routed);
      await until('the router kernel has the routes again', () => kernelRoute(VIP_DR).includes('10.0.0.10') && kernelRoute(VIP_NAT).includes('10.0.0.10'), 20_000, 100);
      const ops = await metric(dir1, 'lvskit_director_ipvs_operations_total');
      const applies = await metric(dir1, 'lvskit_director_ipvs_applies_total');
      const countersAfter = ipvsConns();
      fact('plain-restart', { stopToWithdrawnMs: withdrawnMs, startToRouteMs: seen.at - startAt, polls: polls.length, pollsWithoutRoute: polls.filter((p) => !p.routed).length, weightWhenRouted: seen.w, ipvsApplies: applies, ipvsOperations: ops });
      assert.ok(polls.filter((p) => !p.routed && p.at >= startAt).length > 0, 'polled while the new process started without the route');
      assert.deepEqual(polls.filter((p) => p.routed && p.w !== 20), [], 'BIRD never had the route before the new process had written IPVS');
      const after = ipvsSave();
      assert.deepEqual(destLines(after), expected, 'the servers as before with b3 at weight 20, plus the echo servers: reconciled, not flushed');
      assert.ok(after.some((l) => l.startsWith(`-A -t ${VIP_DR}:80 -s mh`)), `web-dr edited to mh: ${after.join('; ')}`);
      assert.ok(after.some((l) => l.startsWith(`-A -t ${VIP_NAT}:80 -s rr`)), 'web-nat as it was');
      assert.ok(applies >= 1, 'the new process reconciled');
      // The scheduler edit, the weight edit, the echo service and its three servers: nothing re-added.
      assert.equal(ops, 6, 'six IPVS operations in the new process');
      // A re-added destination starts its counters from 0.
      for (const [k, v] of Object.entries(countersBefore)) assert.ok((countersAfter[k] ?? -1) >= v, `counter ${k} kept (${v} -> ${countersAfter[k]})`);
      assert.ok(Object.values(countersBefore).some((v) => v > 0), 'the counters had counted something');
      const r = await client.call({ op: 'burst', url: `http://${VIP_DR}/`, n: 3 });
      assert.deepEqual(r.failures, [], 'the VIP answers again');
    } finally {
      const from = dir1.events.length;
      await etcdPut(dir1, BACKENDS[2].host, 10, 'yes');
      await until('b3 back at weight 10', () => dir1.events.slice(from).some((e) => e.event === 'ipvs' && e.commands.some((c) => c.includes(`-r ${b3}`) && / -w 10\b/.test(c))), 30_000, 50);
    }
  });

  await check('active-active', async () => {
    // dir1 runs the active-active config since the plain restart; dir2 starts with the same (no
    // web-nat: its replies come back through dir1 only), reading the pool from dir1's etcd.
    const echo = echoServers;
    const t0 = Date.now();
    let dir2 = dir2Agent;
    await startDirectorAgent('dir2', ADDR.dir2, dir2Agent, { aa: true, nat: false, etcd: `http://${ADDR.dir1}:2379` });
    fact('aa-dir2-start-ms', Date.now() - t0);
    note('dir2 running');
    for (const p of echo) assert.equal(p.exitCode, null, `echo server: ${p.output}`);
    // The directors' own netlink reads (no process to spawn: cheap to poll under TCG).
    const ipvsOf = async (agent) => (await agent.call({ op: 'ipvs' })).services;
    const full = async (agent) => {
      const t = await ipvsOf(agent);
      return BACKENDS.every((b) => t[`${VIP_DR}:7`]?.dests[`${b.address}:7`] === 10 && t[`${VIP_DR}:80`]?.dests[`${b.address}:80`] === 10);
    };
    await until('both directors have the echo and web pools in IPVS', async () => (await full(dir1)) && (await full(dir2)), 60_000, 300);
    note('both pools in IPVS');
    const bothPaths = () => {
      const r = birdRoutes(`${VIP_DR}/32`);
      const k = kernelRoute(VIP_DR);
      return r?.includes('dir1') && r.includes('dir2') && k.includes(ADDR.dir1) && k.includes(ADDR.dir2);
    };
    await until('BIRD merged both paths into an ECMP route in the router kernel', bothPaths, 60_000, 250);
    note('ECMP route');
    fact('aa-route', kernelRoute(VIP_DR).split('\n').map((l) => l.trim()));
    for (const ns of ['dir1', 'dir2']) {
      assert.equal(readSysctl(ns, 'net.ipv4.vs.sloppy_tcp'), '1', `sloppy_tcp set in ${ns}`);
      assert.ok(ipvsSave(ns).some((l) => l.startsWith(`-A -t ${VIP_DR}:7 -s mh`)), `echo on mh in ${ns}: ${ipvsSave(ns).join('; ')}`);
    }
    // mh builds its lookup table from the destinations in list order: the same pool in the same order
    // on both directors gives every flow the same server on both.
    assert.deepEqual(ipvsDestOrder('dir1', VIP_DR, 7), ipvsDestOrder('dir2', VIP_DR, 7), 'echo destinations in the same order on both directors');

    const webConns = async (agent) => (await ipvsOf(agent))[`${VIP_DR}:80`]?.conns ?? 0;
    const web0 = { dir1: await webConns(dir1), dir2: await webConns(dir2) };
    await client.call({ op: 'loop', url: `http://${VIP_DR}/`, gapMs: 50 });
    let records;
    const losses = [];
    try {
      // Long-lived connections to the echo service, spread over both directors by the router's hash.
      const sideOf = () => {
        const m = new Map();
        for (const ns of ['dir1', 'dir2']) for (const e of ipvsConnEntries(ns, VIP_DR, 7)) if (e.client.startsWith('10.0.1.2:')) m.set(Number(e.client.split(':')[1]), { ns, dest: e.dest });
        return m;
      };
      const held = [];
      for (let i = 0; i < 16; i++) {
        held.push(await client.call({ op: 'hold', address: VIP_DR, port: 7 }));
        if (held.length < 6) continue;
        const sides = sideOf();
        const n = (ns) => held.filter((h) => sides.get(h.port)?.ns === ns).length;
        if (n('dir1') >= 2 && n('dir2') >= 2) break;
      }
      note(`${held.length} held connections open`);
      await until('every held connection echoes', async () => (await client.call({ op: 'holds' })).holds.every((h) => h.replies >= 3 && h.intact), 30_000, 300);
      const first = sideOf();
      const on = (ns) => held.filter((h) => first.get(h.port)?.ns === ns).map((h) => h.port);
      assert.ok(on('dir1').length > 0 && on('dir2').length > 0, `held connections on both directors: ${JSON.stringify([...first])}`);
      await until('both directors scheduled web requests', async () => (await webConns(dir1)) > web0.dir1 + 2 && (await webConns(dir2)) > web0.dir2 + 2, 30_000, 300);
      fact('aa-spread', { held: held.length, heldOnDir1: on('dir1').length, heldOnDir2: on('dir2').length, webConnsDir1: (await webConns(dir1)) - web0.dir1, webConnsDir2: (await webConns(dir2)) - web0.dir2 });

      /** Stop a director (it withdraws), then cut its link: what crossed it must now cross the other. */
      const lose = async (name, agent, otherAgent) => {
        const other = name === 'dir1' ? 'dir2' : 'dir1';
        const moving = held.filter((h) => first.get(h.port)?.ns === name).map((h) => h.port);
        const at = Date.now();
        await agent.call({ op: 'stop' });
        await agent.child.exited;
        await until(`the router routes ${VIP_DR} over ${other} only`, () => {
          const k = kernelRoute(VIP_DR);
          return !k.includes(ADDR[name]) && k.includes(ADDR[other]);
        }, 30_000, 50);
        const singleMs = Date.now() - at;
        sh('ip', ['-n', name, 'link', 'set', 'eth0', 'down']);
        const cutAt = Date.now();
        const webAtCut = await webConns(otherAgent);
        // Until every held connection has answered a few times since the cut (or failed: asserted below)
        // and the other director has scheduled new requests.
        await until(`traffic through ${other} after ${name}'s link was cut`, async () => {
          const now = (await client.call({ op: 'holds', since: cutAt })).holds;
          return now.every((h) => h.repliesSince >= 3 || !h.open || h.errors.length > 0) && (await webConns(otherAgent)) >= webAtCut + 5;
        }, 30_000, 250);
        const hs = (await client.call({ op: 'holds', since: at })).holds;
        const loss = { at, lost: name, stopToSinglePathMs: singleMs, moved: moving.length, maxReplyGapMs: Math.max(...hs.map((h) => h.maxGapMs)), movedMaxReplyGapMs: Math.max(...hs.filter((h) => moving.includes(h.port)).map((h) => h.maxGapMs)) };
        losses.push(loss);
        fact(`aa-lose-${name}`, loss);
        for (const h of hs) {
          assert.ok(h.open && h.errors.length === 0, `held connection ${h.port} still open without error: ${JSON.stringify(h)}`);
          assert.ok(h.intact, `held connection ${h.port}: the echo is what was sent`);
          assert.ok(h.lastReplyAt > cutAt, `held connection ${h.port} answered after ${name}'s link was cut`);
        }
        // The moved flows now cross the other director: it scheduled them mid-connection (sloppy_tcp), to
        // the server the lost director had chosen (mh), or the server would have reset them.
        const entries = ipvsConnEntries(other, VIP_DR, 7);
        for (const port of moving) {
          const e = entries.find((x) => x.client === `10.0.1.2:${port}`);
          assert.ok(e, `flow ${port} from ${name} is in ${other}'s IPVS connection table`);
          assert.equal(e.dest, first.get(port).dest, `flow ${port} kept its server`);
        }
      };
      note(`held connections: ${on('dir1').length} on dir1, ${on('dir2').length} on dir2; losing dir1`);
      await lose('dir1', dir1, dir2);
      // dir1 back (link up, a new process with the same config), then lose dir2.
      sh('ip', ['-n', 'dir1', 'link', 'set', 'eth0', 'up']);
      sh('ip', ['-n', 'dir1', 'route', 'replace', 'default', 'via', '10.0.0.1']);
      note('dir1 link up, starting dir1 again');
      dir1 = await startDirectorAgent('dir1', ADDR.dir1, dir1Next, { aa: true });
      await until('the ECMP route over both again', bothPaths, 60_000, 250);
      const web1 = await webConns(dir1);
      await until('dir1 scheduling web requests again', async () => (await webConns(dir1)) > web1 + 2, 30_000, 300);
      note('losing dir2');
      await lose('dir2', dir2, dir1);
      dir2 = undefined;
    } finally {
      records = (await client.call({ op: 'stop' })).records;
      await client.call({ op: 'hold-end' }).catch(() => undefined);
      // Whatever happened, the last case starts with dir1 alone.
      if (dir2 !== undefined && dir2.child.exitCode === null) {
        await dir2.call({ op: 'stop' }).catch(() => undefined);
        await Promise.race([dir2.child.exited, sleep(20_000)]);
      }
      sh('ip', ['-n', 'dir1', 'link', 'set', 'eth0', 'up']);
      sh('ip', ['-n', 'dir1', 'route', 'replace', 'default', 'via', '10.0.0.1']);
    }
    const bad = records.filter((r) => !r.ok);
    fact('aa-requests', { total: records.length, failed: bad.map((r) => ({ err: r.err, t0: r.t0 })), losses: losses.map((l) => l.lost) });
    assert.equal(losses.length, 2, 'both directors were lost in turn');
    for (const l of losses) {
      assert.ok(l.moved > 0, `flows moved when ${l.lost} was lost`);
      assert.ok(records.filter((r) => r.ok && r.t0 > l.at + l.stopToSinglePathMs).length > 5, `requests served through the other director once ${l.lost} was lost`);
    }
  });

  await check('stop-withdraws', async () => {
    const before = ipvsSave();
    const stopAt = Date.now();
    await dir1.call({ op: 'stop' });
    await dir1.child.exited;
    await until('BIRD withdrew both VIPs', () => birdRoutes(`${VIP_DR}/32`)?.length === 0 && birdRoutes(`${VIP_NAT}/32`)?.length === 0, 15_000, 100);
    fact('stop-to-withdrawn-ms', Date.now() - stopAt);
    assert.equal(kernelRoute(VIP_DR), '', 'the router kernel dropped the route');
    const r = await client.call({ op: 'burst', url: `http://${VIP_DR}/`, n: 1 });
    assert.equal(r.failures.length, 1, 'the VIP is unreachable once withdrawn');
    assert.deepEqual(ipvsSave(), before, 'stop leaves the IPVS table as it is');
  });
} catch (e) {
  failed++;
  console.log(`CASE FAIL harness: ${e?.stack ?? e}`);
} finally {
  if (failed) {
    for (const f of ['/tmp/dir1.log', '/tmp/dir2.log', '/tmp/bird.log', '/tmp/bird.out', '/tmp/etcd-dir1.log']) {
      try {
        const t = fs.readFileSync(f, 'utf8');
        console.log(`----- ${f} (tail) -----\n${t.split('\n').slice(-60).join('\n')}`);
      } catch { /* not there */ }
    }
  }
  for (const c of [...children]) await killChild(c);
  fact('total-ms', Date.now() - T_START);
}
process.exit(failed ? 1 : 0);
