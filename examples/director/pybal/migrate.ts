/**
 * PyBal -> lvskit-director: read a pybal.conf (and the pool files it names) and
 * write the equivalent director YAML.
 *
 * What maps (PyBal key -> director key):
 * - [global] bgp, bgp-local-asn, bgp-as-path, bgp-med, bgp-peer-address,
 *   bgp-nexthop-ipv4/-ipv6, bgp-local-ips, bgp-local-port -> `bgp:`;
 *   instrumentation, instrumentation_port, instrumentation_ips -> `status:`;
 *   dryrun -> `dryRun`, debug -> `log.level: debug`.
 * - [service] protocol, ip, port, scheduler, depool-threshold -> the service;
 *   bgp = no -> `announce.when: never`; bgp-med -> `announce.med`;
 *   config = file:// | http:// | etcd:// -> `pool:` (file, http, etcd source);
 *   monitors + <monitor>.<option> -> `checks:` (ProxyFetch -> http/https,
 *   IdleConnection -> idle, RunCommand -> command, DNSQuery -> dns, UDP -> udp).
 * What does not map is listed as a warning (in the YAML's header and in
 * `warnings`), never silently dropped; what cannot work at all is an error.
 *
 * Pool files are read and parsed now: PyBal skipped a malformed line and went on,
 * the director refuses the whole file and keeps its last good pool, which at a
 * first start is none. So a bad line fails the migration, with file and line.
 */
import { isIP } from 'node:net';
import { Document } from 'yaml';
import { PybalConfError, type PoolSourceError } from '../sources/errors.js';
import { parsePool } from '../sources/parse.js';
import type { PoolEntry } from '../sources/types.js';
import { iniBool, parseIni, type IniSection, type IniValue } from './ini.js';
import { parsePyLiteral, pyStringList, type PyLit } from './pyliteral.js';

export interface MigrateOptions {
  /** Name of the pybal.conf, in messages (default `pybal.conf`). */
  confPath?: string;
  /** Copy file pools into the YAML as `servers:` instead of pointing a file source at them. */
  inlinePools?: boolean;
}

export interface MigrateResult {
  yaml: string;
  warnings: string[];
}

/** Reads a pool file named in `config = file://...`; throw (any error) when it can't. */
export type ReadPoolFile = (path: string) => string;

/** PyBal's LoopingCheckMonitoringProtocol interval (s); RunCommand's own. */
const PYBAL_INTERVAL_S = 10;
const RUNCOMMAND_INTERVAL_S = 60;

/** The director YAML for a pybal.conf. */
export function migratePybal(confText: string, readPoolFile: ReadPoolFile, options: MigrateOptions = {}): string {
  return migratePybalDetailed(confText, readPoolFile, options).yaml;
}

export function migratePybalDetailed(confText: string, readPoolFile: ReadPoolFile, options: MigrateOptions = {}): MigrateResult {
  const where = options.confPath ?? 'pybal.conf';
  const ini = parseIni(confText, where);
  const warnings: string[] = [];
  const warn = (section: string, v: IniValue | undefined, msg: string): void => {
    warnings.push(`[${section}]${v ? ` line ${v.line}` : ''}: ${msg}`);
  };
  const global = ini.sections.find((s) => s.name === 'global');
  const out: Record<string, unknown> = {};
  const get = (s: IniSection, k: string): IniValue | undefined => s.values.get(k);
  const bool = (s: IniSection, k: string, dflt: boolean): boolean => {
    const v = get(s, k);
    return v === undefined ? dflt : iniBool(v, `${s.name}.${k}`, where);
  };
  const int = (s: IniSection, k: string, min: number, max: number): number | undefined => {
    const v = get(s, k);
    if (v === undefined) return undefined;
    const n = Number(v.value);
    if (!Number.isInteger(n) || n < min || n > max) throw new PybalConfError(`${k} must be an integer ${min}..${max} (got ${JSON.stringify(v.value)})`, { where, line: v.line });
    return n;
  };

  // ---- [global]
  let bgpOn = false;
  if (global) {
    if (bool(global, 'dryrun', false)) out.dryRun = true;
    if (bool(global, 'debug', false)) out.log = { level: 'debug' };
    if (bool(global, 'instrumentation', false)) {
      const port = int(global, 'instrumentation_port', 1, 65535) ?? 9090;
      let address = '127.0.0.1';
      const ips = get(global, 'instrumentation_ips');
      if (ips) {
        const list = pyStringList(ips.value, 'instrumentation_ips', where, ips.line).filter((x) => x !== '');
        if (list[0] !== undefined) address = list[0];
        if (list.length > 1) warn('global', ips, `the status API listens on one address; using ${address}, not ${list.slice(1).join(', ')}`);
      }
      out.status = { address, port };
    }
    bgpOn = bool(global, 'bgp', false);
    if (bgpOn) out.bgp = migrateBgp(global, where, warn, int);
  }

  // ---- services
  const services: Record<string, unknown> = {};
  for (const s of ini.sections) {
    if (s.name === 'global') continue;
    services[s.name] = migrateService(s, where, warn, bool, int, readPoolFile, options, bgpOn);
  }
  if (Object.keys(services).length === 0) throw new PybalConfError('no service sections (only [global])', { where });
  out.services = services;

  const doc = new Document(out);
  const header = [
    ` Director configuration migrated from ${where} by lvskit-director migrate-pybal.`,
    ' Review it before use: see docs/director-sources.md (PyBal migration).',
  ];
  if (warnings.length > 0) {
    header.push('', ' Not carried over or changed in meaning:');
    for (const w of warnings) header.push(`   - ${w}`);
  }
  doc.commentBefore = header.join('\n');
  return { yaml: doc.toString({ lineWidth: 0 }), warnings };
}

type Warn = (section: string, v: IniValue | undefined, msg: string) => void;
type IntGetter = (s: IniSection, k: string, min: number, max: number) => number | undefined;

function migrateBgp(g: IniSection, where: string, warn: Warn, int: IntGetter): Record<string, unknown> {
  const asnV = g.values.get('bgp-local-asn');
  if (asnV === undefined) throw new PybalConfError('bgp = yes needs bgp-local-asn', { where, line: g.line });
  const localAs = int(g, 'bgp-local-asn', 1, 2 ** 32 - 1)!;
  const bgp: Record<string, unknown> = { localAs };
  const nh4 = g.values.get('bgp-nexthop-ipv4')?.value;
  const nh6 = g.values.get('bgp-nexthop-ipv6')?.value;
  for (const [k, v, fam] of [['bgp-nexthop-ipv4', nh4, 4], ['bgp-nexthop-ipv6', nh6, 6]] as const) {
    if (v !== undefined && isIP(v) !== fam) throw new PybalConfError(`${k} must be an IPv${fam} address (got ${JSON.stringify(v)})`, { where, line: g.values.get(k)!.line });
  }
  if (nh4 !== undefined) bgp.routerId = nh4;
  else {
    bgp.routerId = '192.0.2.1';
    warn('global', undefined, 'PyBal has no BGP router ID and there is no bgp-nexthop-ipv4 to take it from: bgp.routerId is a placeholder (192.0.2.1), set it');
  }
  const localIps = g.values.get('bgp-local-ips');
  const localPort = int(g, 'bgp-local-port', 1, 65535);
  const listen: Record<string, unknown> = { port: localPort ?? 179 };
  if (localIps) {
    const ips = pyStringList(localIps.value, 'bgp-local-ips', where, localIps.line).filter((x) => x !== '');
    if (ips[0] !== undefined) listen.address = ips[0];
    if (ips.length > 1) warn('global', localIps, `the director listens for BGP on one address; using ${ips[0]}, not ${ips.slice(1).join(', ')}`);
  }
  bgp.listen = listen;
  const pathV = g.values.get('bgp-as-path');
  if (pathV) {
    const path = pathV.value.split(/\s+/).filter(Boolean).map(Number);
    if (path.some((n) => !Number.isInteger(n) || n < 1)) throw new PybalConfError(`bgp-as-path must be AS numbers separated by spaces (got ${JSON.stringify(pathV.value)})`, { where, line: pathV.line });
    if (path.every((n) => n === localAs)) {
      if (path.length > 1) bgp.announce = { prepend: path.length - 1 };
    } else {
      warn('global', pathV, `bgp-as-path ${pathV.value} holds other ASes than ${localAs}; the director only prepends its own AS: not carried over`);
    }
  }
  const med = int(g, 'bgp-med', 0, 2 ** 32 - 1);
  if (med !== undefined) bgp.announce = { ...((bgp.announce as object | undefined) ?? {}), med };
  const peersV = g.values.get('bgp-peer-address');
  const peers = peersV === undefined || peersV.value === '' ? [] : pyStringList(peersV.value, 'bgp-peer-address', where, peersV.line);
  if (peers.length === 0) throw new PybalConfError('bgp = yes needs bgp-peer-address', { where, line: g.line });
  bgp.peers = peers.map((address) => {
    if (isIP(address) === 0) throw new PybalConfError(`bgp-peer-address ${JSON.stringify(address)} is not an IP address`, { where, line: peersV!.line });
    const p: Record<string, unknown> = { address, remoteAs: localAs };
    const nextHop: Record<string, string> = {};
    if (nh4 !== undefined) nextHop.ipv4 = nh4;
    if (nh6 !== undefined) nextHop.ipv6 = nh6;
    if (Object.keys(nextHop).length > 0) p.nextHop = nextHop;
    return p;
  });
  warn('global', peersV, `PyBal does not name the routers' AS; every peer's remoteAs is set to ${localAs} (iBGP): change it for eBGP peers`);
  return bgp;
}

function migrateService(
  s: IniSection,
  where: string,
  warn: Warn,
  bool: (s: IniSection, k: string, d: boolean) => boolean,
  int: IntGetter,
  readPoolFile: ReadPoolFile,
  options: MigrateOptions,
  bgpOn: boolean,
): Record<string, unknown> {
  const need = (k: string): IniValue => {
    const v = s.values.get(k);
    if (v === undefined || v.value === '') throw new PybalConfError(`service [${s.name}] has no ${k}`, { where, line: s.line });
    return v;
  };
  const proto = need('protocol');
  if (proto.value !== 'tcp' && proto.value !== 'udp') throw new PybalConfError(`protocol must be tcp or udp (got ${JSON.stringify(proto.value)})`, { where, line: proto.line });
  const ip = need('ip');
  if (isIP(ip.value) === 0) throw new PybalConfError(`ip must be an IPv4 or IPv6 address (got ${JSON.stringify(ip.value)})`, { where, line: ip.line });
  need('port');
  const port = int(s, 'port', 0, 65535)!;
  const sched = need('scheduler');
  const svc: Record<string, unknown> = { vip: ip.value, protocol: proto.value, port, scheduler: sched.value };
  if (s.values.has('ops') && bool(s, 'ops', false)) {
    warn(s.name, s.values.get('ops'), 'ops (one-packet scheduling) is not a director option: not carried over');
  }
  const dt = s.values.get('depool-threshold');
  if (dt) {
    const n = Number(dt.value);
    if (!Number.isFinite(n) || n < 0 || n > 1) throw new PybalConfError(`depool-threshold must be a number 0..1 (got ${JSON.stringify(dt.value)})`, { where, line: dt.line });
    svc.depoolThreshold = n;
  }
  // Checks.
  svc.checks = migrateMonitors(s, where, warn);
  // Pool.
  const cfg = need('config');
  const pool = migratePool(s.name, cfg, where, readPoolFile, options, warn);
  if (Array.isArray(pool)) svc.servers = pool;
  else svc.pool = pool;
  // Announcement.
  const announce: Record<string, unknown> = {};
  if (s.values.has('bgp') && !bool(s, 'bgp', true)) announce.when = 'never';
  const med = int(s, 'bgp-med', 0, 2 ** 32 - 1);
  if (med !== undefined) {
    if (announce.when === 'never' || !bgpOn) warn(s.name, s.values.get('bgp-med'), 'bgp-med given but BGP is off for this service: not carried over');
    else announce.med = med;
  }
  if (Object.keys(announce).length > 0) svc.announce = announce;
  for (const [k, v] of s.values) {
    if (KNOWN_SERVICE_KEYS.has(k) || k.includes('.')) continue;
    if (ignoredHere(k)) continue;
    warn(s.name, v, `${k} is not a PyBal service option the director knows: not carried over`);
  }
  return svc;
}

const KNOWN_SERVICE_KEYS = new Set(['protocol', 'ip', 'port', 'scheduler', 'ops', 'config', 'depool-threshold', 'bgp', 'bgp-med', 'monitors']);
/** Keys that reach a service section from [DEFAULT] or are PyBal-wide. */
function ignoredHere(k: string): boolean {
  return ['dryrun', 'debug'].includes(k) || k.startsWith('bgp-') || k.startsWith('instrumentation');
}

function seconds(v: IniValue | undefined, key: string, where: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v.value);
  if (!Number.isFinite(n) || n < 0) throw new PybalConfError(`${key} must be a number of seconds (got ${JSON.stringify(v.value)})`, { where, line: v.line });
  return n;
}

const dur = (s: number): string => (Number.isInteger(s) ? `${s}s` : `${Math.round(s * 1000)}ms`);

function migrateMonitors(s: IniSection, where: string, warn: Warn): Record<string, unknown>[] {
  const mv = s.values.get('monitors');
  if (mv === undefined) throw new PybalConfError(`service [${s.name}] has no monitors: the director needs at least one check`, { where, line: s.line });
  const names = pyStringList(mv.value, 'monitors', where, mv.line);
  const checks: Record<string, unknown>[] = [];
  const opt = (m: string, k: string): IniValue | undefined => s.values.get(`${m}.${k}`);
  for (const name of names) {
    const m = name.toLowerCase();
    const interval = seconds(opt(m, 'interval'), `${m}.interval`, where) ?? (m === 'runcommand' ? RUNCOMMAND_INTERVAL_S : PYBAL_INTERVAL_S);
    const timeout = seconds(opt(m, 'timeout'), `${m}.timeout`, where);
    const base = (type: string, nameSuffix = ''): Record<string, unknown> => ({ type, name: `${m}${nameSuffix}`, intervalMs: dur(interval) });
    const used = new Set(['interval', 'timeout']);
    switch (m) {
      case 'proxyfetch': {
        const uv = opt(m, 'url');
        if (uv === undefined) throw new PybalConfError(`[${s.name}] ProxyFetch needs proxyfetch.url`, { where, line: mv.line });
        const urls = pyStringList(uv.value, 'proxyfetch.url', where, uv.line);
        const checkAll = opt(m, 'check_all') ? iniBool(opt(m, 'check_all')!, 'proxyfetch.check_all', where) : false;
        const status = opt(m, 'http_status');
        used.add('url').add('check_all').add('http_status').add('max_failures');
        const chosen = checkAll ? urls : urls.slice(0, 1);
        if (!checkAll && urls.length > 1) warn(s.name, uv, `PyBal fetched one of ${urls.length} URLs at random per check; the director checks the first (${urls[0]}) — set check_all or add checks for the others`);
        if (checkAll && opt(m, 'max_failures') && opt(m, 'max_failures')!.value !== '0') warn(s.name, opt(m, 'max_failures'), 'proxyfetch.max_failures: every URL check must pass in the director');
        chosen.forEach((u, idx) => {
          let url: URL;
          try {
            url = new URL(u);
          } catch {
            throw new PybalConfError(`proxyfetch.url ${JSON.stringify(u)} is not a URL`, { where, line: uv.line });
          }
          if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new PybalConfError(`proxyfetch.url ${u} must be http or https`, { where, line: uv.line });
          const c = base(url.protocol === 'https:' ? 'https' : 'http', chosen.length > 1 ? `-${idx + 1}` : '');
          c.path = `${url.pathname}${url.search}`;
          c.host = url.host;
          if (url.port !== '') c.port = Number(url.port);
          if (status) {
            const n = Number(status.value);
            if (!Number.isInteger(n) || n < 100 || n > 599) throw new PybalConfError(`proxyfetch.http_status must be an HTTP status (got ${status.value})`, { where, line: status.line });
            c.expectStatus = n;
          } else c.expectStatus = 200;
          c.timeoutMs = dur(timeout ?? 5);
          checks.push(c);
        });
        break;
      }
      case 'idleconnection': {
        const c = base('idle');
        const md = seconds(opt(m, 'max-delay'), 'idleconnection.max-delay', where);
        if (md !== undefined) c.maxDelayMs = dur(md);
        const ka = opt(m, 'keepalive');
        const kidle = seconds(opt(m, 'keepalive-idle'), 'idleconnection.keepalive-idle', where);
        if (ka !== undefined && !iniBool(ka, 'idleconnection.keepalive', where)) warn(s.name, ka, 'idleconnection.keepalive = false: the director keeps TCP keepalive on');
        else if (kidle !== undefined) c.keepAliveMs = dur(kidle);
        used.add('max-delay').add('keepalive').add('keepalive-idle');
        for (const k of ['timeout-clean-reconnect', 'keepalive-retries', 'keepalive-interval']) {
          if (opt(m, k)) warn(s.name, opt(m, k), `idleconnection.${k} has no director equivalent (the idle check's own defaults apply)`);
          used.add(k);
        }
        if (timeout !== undefined) c.connectTimeoutMs = dur(timeout);
        delete c.intervalMs; // an idle connection is event-driven, not polled
        checks.push(c);
        break;
      }
      case 'runcommand': {
        const cmd = opt(m, 'command');
        if (cmd === undefined || cmd.value === '') throw new PybalConfError(`[${s.name}] RunCommand needs runcommand.command`, { where, line: mv.line });
        const argv = [cmd.value];
        const av = opt(m, 'arguments');
        if (av) {
          const lit = parsePyLiteral(av.value, where, av.line);
          const list = Array.isArray(lit) ? lit : [lit];
          for (const a of list) argv.push(commandArg(a, where, av.line));
        }
        const c = base('command');
        c.argv = argv;
        c.timeoutMs = dur(timeout ?? 20);
        used.add('command').add('arguments').add('log-output');
        checks.push(c);
        break;
      }
      case 'dnsquery': {
        const hv = opt(m, 'hostnames');
        if (hv === undefined) throw new PybalConfError(`[${s.name}] DNSQuery needs dnsquery.hostnames`, { where, line: mv.line });
        const hosts = pyStringList(hv.value, 'dnsquery.hostnames', where, hv.line);
        const nx = opt(m, 'fail-on-nxdomain');
        const failNx = nx ? iniBool(nx, 'dnsquery.fail-on-nxdomain', where) : false;
        used.add('hostnames').add('fail-on-nxdomain');
        if (hosts.length > 1) warn(s.name, hv, `PyBal asked for one of ${hosts.length} names at random per check; the director checks each name (one check per name)`);
        hosts.forEach((h, idx) => {
          const c = base('dns', hosts.length > 1 ? `-${idx + 1}` : '');
          c.name = h;
          // NOERROR, and NXDOMAIN (rcode 3) too unless fail-on-nxdomain: PyBal's meaning.
          c.expectRcode = failNx ? [0] : [0, 3];
          c.timeoutMs = dur(timeout ?? 5);
          checks.push(c);
        });
        break;
      }
      case 'udp': {
        const c = base('udp');
        if (timeout !== undefined) c.timeoutMs = dur(timeout);
        if (opt(m, 'icmp-timeout')) warn(s.name, opt(m, 'icmp-timeout'), 'udp.icmp-timeout: the director counts an ICMP error as one failed check (rise/fall apply) instead of a hold-down time');
        used.add('icmp-timeout');
        checks.push(c);
        break;
      }
      default:
        warn(s.name, mv, `monitor ${name} has no director equivalent: not carried over`);
        continue;
    }
    for (const [k, v] of s.values) {
      if (k.startsWith(`${m}.`) && !used.has(k.slice(m.length + 1))) warn(s.name, v, `${k} is not carried over`);
    }
  }
  if (checks.length === 0) throw new PybalConfError(`service [${s.name}]: none of its monitors (${names.join(', ')}) can be carried over; the director needs at least one check`, { where, line: mv.line });
  return checks;
}

/** A RunCommand argument: strings as is, `server.host` etc. as the command check's placeholders. */
function commandArg(a: PyLit, where: string, line: number): string {
  if (typeof a === 'string') return a;
  if (typeof a === 'number') return String(a);
  if (a !== null && typeof a === 'object' && !Array.isArray(a)) {
    const map: Record<string, string> = { 'server.host': '{host}', 'server.ip': '{address}', 'server.port': '{port}', 'server.lvsservice.name': '{service}' };
    const v = map[a.ref];
    if (v !== undefined) return v;
    throw new PybalConfError(`runcommand.arguments: ${a.ref} has no director equivalent (use server.host, server.ip or server.port)`, { where, line });
  }
  throw new PybalConfError('runcommand.arguments must be strings, numbers or server.host/server.ip/server.port', { where, line });
}

function migratePool(
  service: string,
  cfg: IniValue,
  where: string,
  readPoolFile: ReadPoolFile,
  options: MigrateOptions,
  warn: Warn,
): Record<string, unknown> | Record<string, unknown>[] {
  const url = cfg.value;
  if (url.startsWith('file://')) {
    const path = decodeURIComponent(url.slice('file://'.length));
    if (path === '') throw new PybalConfError('config = file:// names no file', { where, line: cfg.line });
    // PyBal's rule: a name ending in .json is JSON (host -> {enabled, weight}), else dict-per-line.
    const format = path.endsWith('.json') ? 'json' : 'pybal';
    let text: string;
    try {
      text = readPoolFile(path);
    } catch (err) {
      throw new PybalConfError(`cannot read pool file ${path} of [${service}]: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { where, line: cfg.line, cause: err });
    }
    let entries: PoolEntry[];
    try {
      entries = parsePool(text, format, path);
    } catch (err) {
      const e = err as PoolSourceError;
      throw new PybalConfError(`pool file of [${service}] is malformed (PyBal skipped such lines; the director refuses the file): ${e.message}`, {
        where: e.where ?? path,
        line: e.line,
        cause: err,
      });
    }
    if (entries.length === 0) warn(service, cfg, `pool file ${path} lists no servers`);
    if (options.inlinePools) {
      return entries
        .filter((e) => e.pooled !== 'inactive')
        .map((e) => ({ host: e.host, ...(e.address ? { address: e.address } : {}), weight: e.weight, enabled: e.enabled }));
    }
    return { type: 'file', path, format };
  }
  if (url.startsWith('http://') || url.startsWith('https://')) {
    return { type: 'http', url, format: new URL(url).pathname.endsWith('.json') ? 'json' : 'auto' };
  }
  if (url.startsWith('etcd://')) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new PybalConfError(`config ${url} is not a URL`, { where, line: cfg.line });
    }
    const prefix = u.pathname.endsWith('/') ? u.pathname : `${u.pathname}/`;
    if (prefix === '/') throw new PybalConfError(`config ${url} names no key prefix`, { where, line: cfg.line });
    warn(service, cfg, 'PyBal read etcd\'s v2 API; the director watches the v3 key space: the conftool keys must be in v3 (same paths)');
    // PyBal connects with TLS (https) to port 2379 unless the URL says otherwise.
    return { type: 'etcd', endpoints: [`https://${u.hostname}:${u.port === '' ? 2379 : u.port}`], prefix };
  }
  throw new PybalConfError(`config ${JSON.stringify(url)}: PyBal's schemes are file://, http:// and etcd://`, { where, line: cfg.line });
}
