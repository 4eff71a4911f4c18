#!/usr/bin/env node
// lvskit demo: a load-balancer director in about twenty seconds, on any machine.
//
// It starts three demo web servers on 127.0.0.1, a demo router (an lvskit BGP
// speaker on 127.0.0.1), and the example director (examples/director, built
// into dist/director) in dry-run mode: the director checks the servers, decides
// the IPVS table, prints the ipvsadm commands it would run, announces the
// service address to the router over BGP, and serves its status API. Then one
// server fails and recovers, most servers fail at once, and the director stops.
// Nothing outside loopback is touched; the kernel's IPVS is never written.
//
//   npm run demo                 the whole story, then exit (about 20 s)
//   npm run demo -- --keep       stay up afterwards (status API) until Ctrl-C
//   npm run demo -- --no-bgp     no demo router
//   npm run demo -- --bgp-peer 127.0.0.1:1179:65000
//                                peer with your own local router (BIRD, GoBGP, FRR) instead
import { mkdtempSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BgpSpeaker } from 'lvskit/bgp';
import { IpvsClient } from 'lvskit/ipvs';
import { pino } from 'pino';
/* global fetch */
import { startDirector } from '../../dist/director/index.js';

const { values: opt } = parseArgs({
  options: { keep: { type: 'boolean' }, 'no-bgp': { type: 'boolean' }, 'bgp-peer': { type: 'string' }, fast: { type: 'boolean' } },
});
// --fast: shorter pauses (the loopback test uses it); the story is the same.
const PAUSE = opt.fast ? 300 : 1500;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const t0 = Date.now();
const ts = () => `${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s`;
const say = (s = '') => console.log(s);
const event = (s) => console.log(`${ts()}  ${s}`);
const step = async (title) => {
  await sleep(PAUSE);
  say(`\n== ${title}`);
};
async function until(what, fn, ms = 15_000) {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`demo: timed out waiting for ${what}`);
    await sleep(50);
  }
}

say('lvskit demo: a load-balancer director');
say(`
A director sits in front of a group of real servers that all serve one service
address (the VIP). It health-checks the servers, keeps the kernel's IPVS load
balancer pointed at the healthy ones (weights, draining), tells the routers
over BGP that it can take traffic for the VIP, and reports what it sees.
This demo runs all of that on 127.0.0.1, with IPVS in dry run.`);

// ---- demo servers -------------------------------------------------------------
const backends = [];
for (const [name, weight] of [['web1', 10], ['web2', 10], ['web3', 20]]) {
  const b = { name, weight, healthy: true, port: 0 };
  b.server = createServer((req, res) => {
    res.writeHead(b.healthy ? 200 : 503, { 'content-type': 'text/plain' });
    res.end(b.healthy ? `${name} ok\n` : `${name} is sick\n`);
  });
  await new Promise((r) => b.server.listen(0, '127.0.0.1', r));
  b.port = b.server.address().port;
  backends.push(b);
}
const byName = Object.fromEntries(backends.map((b) => [b.name, b]));
const nameOfPort = new Map(backends.map((b) => [b.port, b.name]));

await step('setup');
say(`  real servers   ${backends.map((b) => `${b.name} 127.0.0.1:${b.port} (weight ${b.weight})`).join(', ')}`);
say('                 demo web servers answering GET /healthz with 200, or 503 when told to fail');

// ---- demo router --------------------------------------------------------------
let router;
let peer;
if (opt['bgp-peer'] !== undefined) {
  const [address, port, as] = opt['bgp-peer'].split(':');
  peer = { address, port: Number(port), remoteAs: Number(as) };
  say(`  router         your BGP peer at ${address} port ${port}, AS ${as}`);
} else if (opt['no-bgp'] !== true) {
  router = new BgpSpeaker({ localAs: 65000, routerId: '10.255.0.1', listen: { address: '127.0.0.1', port: 0 }, peers: [{ address: '127.0.0.2', remoteAs: 64512, passive: true }] });
  await router.start();
  peer = { address: '127.0.0.1', port: router.port, remoteAs: 65000, localAddress: '127.0.0.2' };
  say(`  router         a demo BGP router (an lvskit speaker, AS 65000) on 127.0.0.1:${router.port}`);
} else say('  router         none (--no-bgp): the VIP would be announced to nobody');

let ipvsNote = 'dry run (the demo never writes the kernel table)';
try {
  const c = await IpvsClient.open({ timeoutMs: 2000 });
  c.close();
  ipvsNote += '; this kernel has IPVS, a real director would program it';
} catch (e) {
  ipvsNote += `; this kernel has no IPVS (${e.code ?? e.message}): a real director would also run in dry run here`;
}
say(`  IPVS           ${ipvsNote}`);

// ---- the director's configuration --------------------------------------------
const dir = mkdtempSync(join(tmpdir(), 'lvskit-demo-'));
const configFile = join(dir, 'director.yaml');
const logFile = join(dir, 'director.log');
const config = `# The demo director: one service, three servers, HTTP checks, BGP to the demo router.
name: demo
dryRun: true
status: { address: 127.0.0.1, port: 0 }
ipvs:
  sysctls: { expire_nodest_conn: 1, conn_reuse_mode: 0 }
  startupWaitMs: 5s
${peer === undefined ? '' : `bgp:
  localAs: 64512
  routerId: 10.255.0.2
  announce: { med: 100, communities: ["64512:80"] }
  peers:
    - { address: ${peer.address}, port: ${peer.port}, remoteAs: ${peer.remoteAs}${peer.localAddress ? `, localAddress: ${peer.localAddress}` : ''}, nextHop: { ipv4: 192.0.2.2 } }
`}services:
  web:
    vips: [192.0.2.80]
    port: 80
    protocol: tcp
    scheduler: wrr
    forwarding: masq
    depoolThreshold: 0.5
    drainMs: 2s
    rise: 2
    fall: 2
    checks:
      - { type: http, path: /healthz, intervalMs: 300, timeoutMs: 1s }
    servers:
${backends.map((b) => `      - { host: ${b.name}, address: 127.0.0.1, port: ${b.port}, weight: ${b.weight} }`).join('\n')}
`;
writeFileSync(configFile, config);
say(`  config         ${configFile} (one YAML file; the same daemon runs as: lvskit-director --config FILE)`);
say(`  full JSON log  ${logFile}`);

// ---- run ---------------------------------------------------------------------
const logStream = createWriteStream(logFile);
const portName = (cmd) => cmd.replace(/127\.0\.0\.1:(\d+)/g, (m, p) => (nameOfPort.has(Number(p)) ? `${m}(${nameOfPort.get(Number(p))})` : m));

await step('1. start: check every server, then write IPVS, then announce the VIP');
let printIpvs = true;
// The director logs JSON to the file; a few records are also told here as they happen
// (the first IPVS write happens inside start, once every server was checked).
const director = await startDirector(configFile, { logger: pino({ base: undefined }, { write: (line) => {
  logStream.write(line);
  const rec = JSON.parse(line);
  if (rec.msg === 'would run' && rec.part === 'ipvs' && printIpvs) event(`IPVS   ${portName(rec.cmd)}`);
  else if (rec.msg === 'first health check round done: reconciling IPVS') event(`checks every server answered once (${rec.waitedMs} ms): writing the first IPVS table`);
  else if (rec.msg === 'BGP session established') event(`BGP    session with ${rec.peer} established`);
} }), dryRun: true });
director.on('member', (e) => {
  const what = { pooled: 'pooled (gets traffic)', held: 'held: failing, but kept pooled by the depool threshold', draining: 'draining: weight 0, no new connections', out: 'out of the pool' }[e.to];
  event(`pool   ${e.id}: ${e.from} -> ${what}   (${e.reason})`);
});
// The drain time runs from the moment IPVS has the weight 0: when it ends, on the demo's clock and the wall clock.
director.on('drain', (e) => {
  const at = `${((e.until - t0) / 1000).toFixed(1)}s`;
  event(`pool   ${e.id}: weight 0 is in IPVS; open connections get ${((e.until - e.since) / 1000).toFixed(0)} s, until ${at.trim()} (${new Date(e.until).toISOString().slice(11, 19)} UTC), then it is removed`);
});
director.on('announce', (e) => event(`BGP    ${e.prefix} ${e.announced ? 'announced' : 'withdrawn'}`));
await until('servers pooled', async () => (await director.ipvsTable()).flatMap((s) => s.destinations ?? []).length === 3);
if (router !== undefined) {
  await until('the route at the router', () => router.routesReceived().length > 0);
  const r = router.routesReceived()[0];
  event(`router has ${r.prefix} via ${r.nextHop.join(',')}, AS path ${r.attributes.asPath?.flatMap((s) => s.asns).join(' ')}, MED ${r.attributes.med}: traffic for the VIP now comes to this director`);
}
const url = director.statusUrl;
const show = async (path) => {
  const body = await (await fetch(`${url}${path}`)).text();
  say(`  $ curl ${url}${path}`);
  for (const l of body.trimEnd().split('\n')) say(`    ${l}`);
};
await show('/pools/web');

await step('2. web2 starts failing its health check (HTTP 503)');
byName.web2.healthy = false;
await until('web2 removed', async () => {
  const t = await director.ipvsTable();
  return !t.some((s) => (s.destinations ?? []).some((d) => d.port === byName.web2.port));
});
await show('/pools/web');
say('  web2 went to weight 0 first (no new connections, existing ones finish), then was removed 2 s after IPVS had the weight 0.');

await step('3. web2 recovers');
byName.web2.healthy = true;
await until('web2 back', async () => (await director.ipvsTable()).some((s) => (s.destinations ?? []).some((d) => d.port === byName.web2.port && d.weight > 0)));
await show('/pools/web');

await step('4. web1 and web2 fail together: the depool threshold (0.5) keeps two of three servers pooled');
byName.web1.healthy = false;
byName.web2.healthy = false;
await until('an alert', async () => (await (await fetch(`${url}/alerts`)).text()).startsWith('CRITICAL'));
await show('/pools/web');
await show('/alerts');
say('  Depooling every failing server would pile all traffic onto web3; the director keeps a floor and raises an alert instead.');
say('  Now web1 and web2 recover:');
byName.web1.healthy = true;
byName.web2.healthy = true;
await until('all back', async () => (await (await fetch(`${url}/pools/web`)).text()).split('\n').filter((l) => l.endsWith('enabled/up/pooled')).length === 3);
await until('alerts clear', async () => (await (await fetch(`${url}/alerts`)).text()).startsWith('OK'));
await sleep(100);
event('all servers healthy again: /alerts says OK');

await step('5. metrics for Prometheus (a few of the series)');
const metrics = (await (await fetch(`${url}/metrics`)).text()).split('\n');
for (const l of metrics.filter((x) => /^(lvskit_director_server_weight|lvskit_director_bgp_peer_up|lvskit_pool_servers\{service="web",status="pooled"\}|lvskit_monitor_server_up)/.test(x)).slice(0, 8)) say(`    ${l}`);

if (opt.keep === true) {
  say(`\nThe director keeps running: try curl ${url}/pools/web, ${url}/alerts, ${url}/metrics. Ctrl-C to stop.`);
  await new Promise((r) => process.once('SIGINT', r));
}

await step('6. stop: the director withdraws the VIP, so routers send the traffic to another director');
await director.stop();
if (router !== undefined) {
  await until('the route withdrawn', () => router.routesReceived().length === 0);
  event('router has no route for 192.0.2.80/32 any more');
  await router.close();
}
printIpvs = false;
for (const b of backends) b.server.close();
logStream.end();
rmSync(dir, { recursive: true, force: true });
say(`
Done in ${((Date.now() - t0) / 1000).toFixed(0)} s. On a real director the same daemon runs with
  lvskit-director --config /etc/lvskit/director.yaml
writes IPVS over generic netlink instead of printing ipvsadm commands, and peers
with real routers. See docs/director.md.`);
