#!/usr/bin/env node
// anycast-announcer: announce prefixes over BGP while a local health check
// passes, withdraw them (or announce them with a worse MED) while it fails.
// The job of ExaBGP's healthcheck, in one small file on lvskit's public API
// (lvskit/bgp and lvskit/monitors, imported by package name).
//
//   node examples/anycast-announcer/announcer.mjs --config announcer.yaml
//
// Logs are pino JSON lines. SIGTERM / SIGINT withdraw everything and stop.
// Exit status: 0 clean stop, 2 usage, 78 bad configuration, 1 anything else.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { LvskitError } from 'lvskit';
import { BgpSpeaker } from 'lvskit/bgp';
import { CommandCheck, HttpCheck, Monitor, TcpCheck } from 'lvskit/monitors';
import { pino } from 'pino';
import { parse as parseYaml } from 'yaml';

/** A configuration mistake, with the key it is about. */
export class AnnouncerConfigError extends LvskitError {
  constructor(key, message) {
    super('ERR_ANNOUNCER_CONFIG', `${key}: ${message}`);
    this.key = key;
  }
}

const isObj = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);
function need(cond, key, message) {
  if (!cond) throw new AnnouncerConfigError(key, message);
}
function onlyKeys(o, key, allowed) {
  for (const k of Object.keys(o)) need(allowed.includes(k), `${key}.${k}`, `unknown key; allowed: ${allowed.join(', ')}`);
}
const isInt = (v, min, max) => Number.isInteger(v) && v >= min && v <= max;

/**
 * Read and check the configuration (plain object from YAML). Returns it with defaults.
 *
 *   bgp: { localAs, routerId, peers: [{ address, remoteAs, port?, localAddress?, passive? }], nextHop?, holdTime? }
 *   prefixes: [192.0.2.53/32, ...]
 *   announce: { med?, communities?, largeCommunities?, prepend? }
 *   whenDown: withdraw | { med: N, communities? }     (default withdraw)
 *   check: { type: http|tcp|command, address?, port?, path?, host?, argv?, intervalMs?, timeoutMs?, rise?, fall? }
 */
export function readConfig(raw) {
  need(isObj(raw), 'config', 'must be a map');
  onlyKeys(raw, 'config', ['bgp', 'prefixes', 'announce', 'whenDown', 'check']);
  const b = raw.bgp;
  need(isObj(b), 'bgp', 'must be a map with localAs, routerId and peers');
  onlyKeys(b, 'bgp', ['localAs', 'routerId', 'peers', 'nextHop', 'holdTime', 'listen']);
  need(isInt(b.localAs, 1, 2 ** 32 - 1), 'bgp.localAs', 'must be an AS number');
  need(isIP(String(b.routerId)) === 4, 'bgp.routerId', 'must be an IPv4 address');
  need(Array.isArray(b.peers) && b.peers.length > 0, 'bgp.peers', 'must list at least one peer');
  b.peers.forEach((p, i) => {
    need(isObj(p), `bgp.peers[${i}]`, 'must be a map');
    onlyKeys(p, `bgp.peers[${i}]`, ['address', 'remoteAs', 'port', 'localAddress', 'passive']);
    need(isIP(String(p.address)) !== 0, `bgp.peers[${i}].address`, 'must be an IP address');
    need(isInt(p.remoteAs, 1, 2 ** 32 - 1), `bgp.peers[${i}].remoteAs`, 'must be an AS number');
  });
  need(b.nextHop === undefined || isIP(String(b.nextHop)) !== 0, 'bgp.nextHop', 'must be an IP address');
  need(Array.isArray(raw.prefixes) && raw.prefixes.length > 0, 'prefixes', 'must list at least one prefix');
  raw.prefixes.forEach((p, i) => {
    const [a, len] = String(p).split('/');
    const fam = isIP(a ?? '');
    need(fam !== 0 && (len === undefined || isInt(Number(len), 0, fam === 4 ? 32 : 128)), `prefixes[${i}]`, `not a prefix: ${p}`);
  });
  const announce = raw.announce ?? {};
  need(isObj(announce), 'announce', 'must be a map');
  onlyKeys(announce, 'announce', ['med', 'communities', 'largeCommunities', 'prepend']);
  const whenDown = raw.whenDown ?? 'withdraw';
  need(whenDown === 'withdraw' || (isObj(whenDown) && isInt(whenDown.med, 0, 2 ** 32 - 1)), 'whenDown', 'must be withdraw or { med: N }');
  const c = raw.check;
  need(isObj(c), 'check', 'must be a map with a type (http, tcp, command)');
  onlyKeys(c, 'check', ['type', 'address', 'port', 'path', 'host', 'argv', 'intervalMs', 'timeoutMs', 'rise', 'fall', 'expectStatus']);
  need(['http', 'tcp', 'command'].includes(c.type), 'check.type', 'must be http, tcp or command');
  need(c.type !== 'command' || (Array.isArray(c.argv) && c.argv.length > 0), 'check.argv', 'a command check needs argv');
  need(c.type === 'command' || isInt(c.port, 1, 65535), 'check.port', 'must be a port number');
  for (const k of ['intervalMs', 'timeoutMs']) need(c[k] === undefined || isInt(c[k], 10, 3_600_000), `check.${k}`, 'must be milliseconds (10 .. 3600000)');
  for (const k of ['rise', 'fall']) need(c[k] === undefined || isInt(c[k], 1, 100), `check.${k}`, 'must be 1 .. 100');
  return { bgp: b, prefixes: raw.prefixes.map(String), announce, whenDown, check: { address: '127.0.0.1', intervalMs: 1000, timeoutMs: 1000, rise: 2, fall: 2, ...c } };
}

function buildCheck(c) {
  if (c.type === 'http') return new HttpCheck({ path: c.path ?? '/', timeoutMs: c.timeoutMs, ...(c.host === undefined ? {} : { host: c.host }), ...(c.expectStatus === undefined ? {} : { expectStatus: c.expectStatus }) });
  if (c.type === 'tcp') return new TcpCheck({ timeoutMs: c.timeoutMs });
  return new CommandCheck({ argv: c.argv, timeoutMs: c.timeoutMs });
}

/**
 * Run the announcer until `signal` aborts. Returns the speaker and monitor (for tests),
 * and `stopped`, which resolves after everything is withdrawn and closed.
 */
export async function runAnnouncer(config, { logger, signal } = {}) {
  const log = logger ?? pino({ base: undefined });
  const { bgp: b, prefixes, announce, whenDown, check } = config;
  const speaker = new BgpSpeaker({
    localAs: b.localAs,
    routerId: b.routerId,
    listen: b.listen ?? false,
    ...(b.holdTime === undefined ? {} : { holdTime: b.holdTime }),
    peers: b.peers.map((p) => ({
      ...p,
      connectRetry: { initialMs: 1000, maxMs: 30_000 },
      ...(b.nextHop === undefined ? {} : { nextHop: isIP(b.nextHop) === 4 ? { ipv4: b.nextHop } : { ipv6: b.nextHop } }),
    })),
    logger: log.child({ part: 'bgp' }),
  });
  speaker.on('peer-up', (peer) => log.info({ peer }, 'BGP session established'));
  speaker.on('peer-down', (peer, reason) => log.warn({ peer, reason: reason.kind }, 'BGP session down'));
  const monitor = new Monitor({ logger: log.child({ part: 'check' }) });
  monitor.add({
    id: 'local',
    target: { address: check.address, ...(check.port === undefined ? {} : { port: check.port }), service: 'anycast' },
    checks: [{ name: check.type, check: buildCheck(check), intervalMs: check.intervalMs }],
    rise: check.rise,
    fall: check.fall,
    initial: 'first-result',
  });
  let state;
  const apply = (up) => {
    if (state === up) return;
    const first = state === undefined;
    state = up;
    for (const p of prefixes) {
      if (up) speaker.announce(p, announce);
      else if (whenDown === 'withdraw') speaker.withdraw(p);
      else speaker.announce(p, { ...announce, ...whenDown });
    }
    log.info({ prefixes, up, action: up ? 'announce' : whenDown === 'withdraw' ? 'withdraw' : `announce with MED ${whenDown.med}` }, up ? 'health check passes: announcing' : first ? 'health check fails: not announcing' : 'health check fails: withdrawing');
  };
  monitor.on('state', (_id, up, ev) => {
    log.info({ up, reason: ev.reason }, 'health changed');
    apply(up);
  });
  await speaker.start();
  monitor.start();
  // Nothing is announced until the check has spoken once.
  await monitor.whenSettled(signal === undefined ? {} : { signal }).catch(() => undefined);
  apply(monitor.state('local')?.up === true);
  const stopped = new Promise((resolve) => {
    const stop = async () => {
      await monitor.stop();
      await speaker.close({ message: 'anycast announcer stopping' });
      log.info('stopped: everything withdrawn');
      resolve();
    };
    if (signal?.aborted) void stop();
    else signal?.addEventListener('abort', () => void stop(), { once: true });
  });
  return { speaker, monitor, stopped };
}

async function main(argv) {
  let args;
  try {
    args = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } } });
  } catch (e) {
    process.stderr.write(`anycast-announcer: ${e.message}\n`);
    return 2;
  }
  if (args.values.help || args.values.config === undefined) {
    (args.values.help ? process.stdout : process.stderr).write('usage: anycast-announcer --config FILE (YAML; see examples/anycast-announcer/README.md)\n');
    return args.values.help ? 0 : 2;
  }
  let config;
  try {
    config = readConfig(parseYaml(readFileSync(args.values.config, 'utf8')));
  } catch (e) {
    process.stderr.write(`anycast-announcer: ${args.values.config}: ${e.message}\n`);
    return 78;
  }
  const ac = new AbortController();
  process.once('SIGTERM', () => ac.abort());
  process.once('SIGINT', () => ac.abort());
  // lvskit's timers don't hold the process open (they are unref'd): this does, until stopped.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  const { stopped } = await runAnnouncer(config, { signal: ac.signal });
  await stopped;
  clearInterval(keepAlive);
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
      setTimeout(() => process.exit(code), 300).unref();
    },
    (e) => {
      process.stderr.write(`anycast-announcer: ${e?.message ?? e}\n`);
      process.exit(e instanceof LvskitError && /EADDRINUSE|EACCES/.test(String(e.cause?.code)) ? 77 : 1);
    },
  );
}
