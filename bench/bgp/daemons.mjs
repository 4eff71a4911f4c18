// The daemons of the BGP benchmark: configuration, start (inside our namespace), readiness, and the
// probes that count routes. Every daemon gets its own temp directory for its configuration and control
// socket, and is stopped by its PID (lib.mjs startProcess).
import { writeFileSync, createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { poll, prefixV4, prefixV6, runAsync, sleep, startProcess } from './lib.mjs';

/** Addresses on the namespace's loopback: the table source is .1, each daemon has its own. */
export const ADDR = { source: '127.0.0.1', lvskit: '127.0.0.2', frr: '127.0.0.3', gobgp: '127.0.0.4', bird: '127.0.0.5', exabgp: '127.0.0.6' };
export const ASN = { source: 65001, lvskit: 65002, frr: 65003, gobgp: 65004, bird: 65005, exabgp: 65006 };
export const NEXT_HOP4 = '192.0.2.1';
export const NEXT_HOP6 = '2001:db8::1';

const BIRD_TIME = 'timeformat protocol "%F %T.%3f";';

async function writeLines(file, n, line) {
  const s = createWriteStream(file);
  for (let i = 0; i < n; i++) {
    if (!s.write(line(i))) await once(s, 'drain');
  }
  s.end();
  await once(s, 'finish');
}

// ---------------------------------------------------------------------------------------------------
// BIRD

/** birdc against a socket; `show protocols` times have millisecond resolution (BIRD_TIME). */
export function birdc(sock, ...args) {
  return runAsync('birdc', ['-s', sock, ...args]);
}

/** When a BIRD protocol last changed state (ms since the epoch), and its state text. */
export async function birdProtocol(sock, name) {
  const out = await birdc(sock, 'show', 'protocols', name);
  const line = out.split('\n').find((l) => l.startsWith(`${name} `));
  if (!line) return undefined;
  const m = /(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})\s+(\S+)?/.exec(line);
  return m ? { since: new Date(m[1].replace(' ', 'T')).getTime(), info: m[2] ?? '', line } : undefined;
}

/** Routes imported by a BIRD BGP protocol, per channel (`show protocols all`). */
export async function birdImported(sock, name) {
  const out = await birdc(sock, 'show', 'protocols', 'all', name);
  const counts = {};
  let channel = 'ipv4';
  for (const l of out.split('\n')) {
    const c = /^\s+Channel (ipv4|ipv6)/.exec(l);
    if (c) channel = c[1];
    const m = /^\s+Routes:\s+(\d+) imported/.exec(l);
    if (m) counts[channel] = Number(m[1]);
  }
  return counts;
}

/**
 * The table source: BIRD originating `n` IPv4 /24s from a static protocol, with one protocol (disabled
 * until enabled) per receiver. Shape 'one': every route has the same attributes, so BIRD packs UPDATEs
 * full. Shape 'sets': 10 consecutive prefixes share an attribute set, n/10 sets in all, told apart by
 * MED, two communities and a large community (set in the export filter from the MED).
 */
export async function startSourceBird(ns, dir, { n, shape, receivers }) {
  const routes = join(dir, 'routes.conf');
  await writeLines(routes, n, shape === 'one' ? (i) => `route ${prefixV4(i)} blackhole;\n` : (i) => `route ${prefixV4(i)} blackhole { bgp_med = ${Math.floor(i / 10)}; };\n`);
  const protos = receivers
    .map(
      (r) => `protocol bgp to_${r} {
  disabled;
  local ${ADDR.source} as ${ASN.source};
  neighbor ${ADDR[r]} as ${ASN[r]};
  multihop; strict bind;
  connect delay time 1; connect retry time 1;
  ipv4 { import none; export filter to_receiver; };
}
`,
    )
    .join('');
  const conf = join(dir, 'bird.conf');
  writeFileSync(
    conf,
    `router id 10.255.0.1;
${BIRD_TIME}
protocol device {}
protocol static s4 {
  ipv4;
  include "${routes}";
}
filter to_receiver {
  bgp_next_hop = ${NEXT_HOP4};
  ${
    shape === 'one'
      ? ''
      : `bgp_community.add((65000, bgp_med - (bgp_med / 65536) * 65536));
  bgp_community.add((65001, bgp_med / 1000));
  bgp_large_community.add((65001, bgp_med, 100));`
  }
  accept;
}
${protos}`,
  );
  const sock = join(dir, 'bird.ctl');
  const p = startProcess(ns, 'bird', ['-f', '-c', conf, '-s', sock, '-P', join(dir, 'bird.pid')], { logFile: join(dir, 'bird.log') });
  const loaded = await poll(() => birdImported(sock, 's4'), { intervalMs: 500, timeoutMs: 300_000, done: (c) => c.ipv4 === n, alive: p.alive });
  if (loaded === undefined) throw new Error(`source BIRD did not load ${n} routes: ${p.log().slice(-2000)}`);
  return { ...p, sock };
}

/** BIRD as a passive receiver of `families` from the given peers (one protocol each, named after them). */
export async function startBirdReceiver(ns, dir, { peers, families = ['ipv4'] }) {
  const conf = join(dir, 'bird.conf');
  const chans = families.map((f) => `  ${f} { import all; export none; };\n`).join('');
  const protos = peers
    .map(
      (peer) => `protocol bgp from_${peer.name} {
  local ${ADDR.bird} as ${ASN.bird};
  neighbor ${peer.address} as ${peer.as};
  multihop; strict bind;
${peer.passive === false ? `  disabled;\n  connect delay time 1; connect retry time 1;\n` : '  passive;\n'}${chans}}
`,
    )
    .join('');
  writeFileSync(conf, `router id 10.255.0.5;\n${BIRD_TIME}\nprotocol device {}\n${protos}`);
  const sock = join(dir, 'bird.ctl');
  const p = startProcess(ns, 'bird', ['-f', '-c', conf, '-s', sock, '-P', join(dir, 'bird.pid')], { logFile: join(dir, 'bird.log') });
  const up = await poll(() => birdc(sock, 'show', 'status'), { intervalMs: 100, timeoutMs: 20_000, done: (o) => o.includes('Daemon is up'), alive: p.alive });
  if (up === undefined) throw new Error(`BIRD receiver did not start: ${p.log().slice(-2000)}`);
  return { ...p, sock, count: async () => (await birdImported(sock, `from_${peers[0].name}`)).ipv4 ?? 0 };
}

// ---------------------------------------------------------------------------------------------------
// FRR (bgpd alone, without zebra)

export async function startFrr(ns, dir) {
  const conf = join(dir, 'bgpd.conf');
  writeFileSync(
    conf,
    `frr defaults traditional
hostname lvkbench
log stdout warnings
router bgp ${ASN.frr}
 bgp router-id 10.255.0.3
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor ${ADDR.source} remote-as ${ASN.source}
 neighbor ${ADDR.source} passive
 neighbor ${ADDR.source} ebgp-multihop 5
 neighbor ${ADDR.source} update-source ${ADDR.frr}
 address-family ipv4 unicast
  neighbor ${ADDR.source} activate
 exit-address-family
`,
  );
  const p = startProcess(
    ns,
    '/usr/lib/frr/bgpd',
    ['-f', conf, '-i', join(dir, 'bgpd.pid'), '-z', join(dir, 'zserv.api'), '--vty_socket', dir, '-Z', '-S', '-P', '0', '-l', ADDR.frr, '-p', '179', '--limit-fds', '1024'],
    { logFile: join(dir, 'bgpd.log') },
  );
  const vtysh = (cmd) => runAsync('vtysh', ['--vty_socket', dir, '-d', 'bgpd', '-c', cmd]);
  const count = async () => {
    const j = JSON.parse(await vtysh('show bgp ipv4 unicast summary json'));
    return j.peers?.[ADDR.source]?.pfxRcd ?? 0;
  };
  const up = await poll(() => vtysh('show bgp summary json'), { intervalMs: 200, timeoutMs: 20_000, done: () => true, alive: p.alive });
  if (up === undefined) throw new Error(`FRR bgpd did not start: ${p.log().slice(-2000)}`);
  return { ...p, count };
}

// ---------------------------------------------------------------------------------------------------
// GoBGP

function gobgpNeighbor(address, as, { passive, local, exportPolicy }) {
  return `[[neighbors]]
  [neighbors.config]
    neighbor-address = "${address}"
    peer-as = ${as}
  [neighbors.transport.config]
    passive-mode = ${passive}
    local-address = "${local}"
  [neighbors.ebgp-multihop.config]
    enabled = true
    multihop-ttl = 5
${exportPolicy ? `  [neighbors.apply-policy.config]\n    export-policy-list = ["${exportPolicy}"]\n    default-export-policy = "accept-route"\n` : ''}  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
`;
}

export async function startGobgp(ns, dir, { neighbors, policies = '' }) {
  const conf = join(dir, 'gobgpd.toml');
  writeFileSync(
    conf,
    `[global.config]
  as = ${ASN.gobgp}
  router-id = "10.255.0.4"
  port = 179
  local-address-list = ["${ADDR.gobgp}"]
${policies}
${neighbors.join('')}`,
  );
  const target = `unix://${join(dir, 'gobgp.sock')}`;
  const p = startProcess(ns, 'gobgpd', ['-f', conf, '--api-hosts', target, '--pprof-disable', '-p', '-l', 'warn'], { logFile: join(dir, 'gobgpd.log') });
  const gobgp = (...args) => runAsync('gobgp', ['--target', target, ...args]);
  gobgp.long = (...args) => runAsync('gobgp', ['--target', target, ...args], 300_000);
  const up = await poll(() => gobgp('global'), { intervalMs: 200, timeoutMs: 20_000, done: () => true, alive: p.alive });
  if (up === undefined) throw new Error(`gobgpd did not start: ${p.log().slice(-2000)}`);
  const count = async () => {
    // Adj-RIB-In count for the source, as the neighbor's state reports it.
    const j = JSON.parse(await gobgp('neighbor', ADDR.source, '-j'));
    const fam = (j.afi_safis ?? []).find((a) => a.config?.family?.afi === 1 || a.state?.family?.afi === 1);
    return fam?.state?.received ?? 0;
  };
  return { ...p, gobgp, count, target };
}

export function gobgpReceiverNeighbor() {
  return gobgpNeighbor(ADDR.source, ASN.source, { passive: true, local: ADDR.gobgp });
}

/** GoBGP as sender to BIRD: next hops left as injected (the MRT file's documentation addresses). */
export function gobgpSenderConfig() {
  return {
    policies: `[[policy-definitions]]
  name = "keep-nh"
  [[policy-definitions.statements]]
    name = "keep"
    [policy-definitions.statements.actions]
      route-disposition = "accept-route"
    [policy-definitions.statements.actions.bgp-actions]
      set-next-hop = "unchanged"
`,
    neighbors: [gobgpNeighbor(ADDR.bird, ASN.bird, { passive: true, local: ADDR.gobgp, exportPolicy: 'keep-nh' })],
  };
}

// ---------------------------------------------------------------------------------------------------
// ExaBGP (routes in its configuration)

export async function startExabgp(ns, dir, { v4, v6 }) {
  const conf = join(dir, 'exabgp.conf');
  const lines = [];
  lines.push(`neighbor ${ADDR.bird} {
  router-id 10.255.0.6;
  local-address ${ADDR.exabgp};
  local-as ${ASN.exabgp};
  peer-as ${ASN.bird};
  passive;
  family { ipv4 unicast; ipv6 unicast; }
  static {
`);
  writeFileSync(conf, lines.join(''));
  const s = createWriteStream(conf, { flags: 'a' });
  for (let i = 0; i < v4; i++) if (!s.write(`    route ${prefixV4(i)} next-hop ${NEXT_HOP4};\n`)) await once(s, 'drain');
  for (let i = 0; i < v6; i++) if (!s.write(`    route ${prefixV6(i)} next-hop ${NEXT_HOP6};\n`)) await once(s, 'drain');
  s.end('  }\n}\n');
  await once(s, 'finish');
  const env = {
    ...process.env,
    exabgp_tcp_bind: ADDR.exabgp,
    exabgp_tcp_port: '179',
    exabgp_daemon_user: 'root',
    exabgp_daemon_drop: 'false',
    exabgp_api_cli: 'false',
    exabgp_log_level: 'WARNING',
  };
  const p = startProcess(ns, 'exabgp', [conf], { logFile: join(dir, 'exabgp.log'), env });
  // Ready when it listens on its address (it parses the configuration first).
  const up = await poll(() => runAsync('ip', ['netns', 'exec', ns.name, 'ss', '-Hltn', `src ${ADDR.exabgp}:179`]), {
    intervalMs: 250,
    timeoutMs: 120_000,
    done: (o) => o.includes(':179'),
    alive: p.alive,
  });
  if (up === undefined) throw new Error(`exabgp did not start listening: ${p.log().slice(-2000)}`);
  await sleep(200);
  return p;
}
