/**
 * The director's configuration: one YAML file, read into `DirectorConfig`.
 *
 * Every problem is reported with the file, line, column and key
 * (`ConfigError.issues`), all of them at once: unknown keys (typos), wrong
 * types, impossible values, references to things not defined. Nothing here
 * opens a socket; `loadConfig` only reads the file.
 *
 * Durations (`...Ms` keys) take milliseconds as a number, or text with a unit:
 * `500ms`, `2s`, `1.5m`, `1h`.
 */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { dirname, resolve as resolvePath } from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { isMap, isPair, isScalar, LineCounter, parseDocument, type Document, type Node as YamlNode, type Pair } from 'yaml';
import { ConfigError, type ConfigIssue } from './errors.js';

export type CheckType = 'http' | 'https' | 'tcp' | 'idle' | 'command' | 'dns' | 'udp';

/** One health check of a service, as configured. Options are those of the lvskit/monitors check of that type. */
export interface CheckConfig {
  name: string;
  type: CheckType;
  intervalMs: number;
  fastIntervalMs?: number;
  rise?: number;
  fall?: number;
  /** Check-specific options (see `CHECK_OPTIONS`), already type-checked. */
  options: Record<string, unknown>;
}

/** One real server as configured in the file (pool sources give the same shape). */
export interface ServerConfig {
  /** Name used in the status API and metrics (PyBal's "host"). */
  host: string;
  /** Address to send traffic and checks to; default: `host` when it is an IP literal, else resolved by DNS. */
  address?: string;
  /** Default: the service's port. */
  port?: number;
  /** Default 1. */
  weight: number;
  /** Default true; false keeps the server configured but out of the pool (PyBal `enabled: False`). */
  enabled: boolean;
}

export interface AnnounceConfig {
  /** When to announce the service's VIPs: while it has pooled servers (default), always, or never. */
  when: 'pooled' | 'always' | 'never';
  med?: number;
  /** Extra copies of our AS in the path (a backup director's longer path). */
  prepend?: number;
  communities?: string[];
  largeCommunities?: string[];
}

export interface ServiceConfig {
  name: string;
  /** Service addresses (IPv4 and/or IPv6); one IPVS virtual service per VIP, announced as /32 or /128. */
  vips: string[];
  protocol: 'tcp' | 'udp' | 'sctp';
  /** Virtual port (absent for fwmark services). */
  port?: number;
  /** Firewall mark: the IPVS service is the mark (one per VIP family); the VIPs are still announced. */
  fwmark?: number;
  scheduler: string;
  schedFlags: ('sh-fallback' | 'sh-port' | 'mh-fallback' | 'mh-port' | 'flag-1' | 'flag-2' | 'flag-3')[];
  persistence?: { timeout?: number; netmask?: string | number };
  forwarding: 'route' | 'masq' | 'tunnel';
  depoolThreshold: number;
  /** How long a depooled server stays at weight 0 before it is removed (ms). */
  drainMs: number;
  rise?: number;
  fall?: number;
  initial?: 'down' | 'up' | 'first-result';
  checks: CheckConfig[];
  /** Servers listed in the file (absent when `pool` names a source). */
  servers?: ServerConfig[];
  /** A pool source (file, watched file, HTTP, etcd): passed to examples/director/sources as it stands. */
  pool?: Record<string, unknown>;
  announce: AnnounceConfig;
  /** Name of a VRRP instance (in `vrrp.instances`) that holds this service's VIPs. */
  vrrp?: string;
}

export interface BgpPeerConfig {
  address: string;
  remoteAs: number;
  port?: number;
  localAddress?: string;
  passive?: boolean;
  holdTime?: number;
  families?: ('ipv4' | 'ipv6')[];
  nextHop?: { ipv4?: string; ipv6?: string };
  /** Per-peer changes to every announcement (`{ med: 200, prepend: 2 }` towards one router). */
  exportOverrides?: { med?: number; prepend?: number; communities?: string[] };
}

export interface BgpConfig {
  localAs: number;
  routerId: string;
  listen: { address?: string; port: number } | false;
  holdTime?: number;
  /** Graceful restart (RFC 4724): a restart keeps the routes in the routers for `restartTime` seconds. */
  gracefulRestart?: { restartTime: number };
  peers: BgpPeerConfig[];
  /** Defaults for every service's announcement (a backup director sets a worse `med` here). */
  announce: Omit<AnnounceConfig, 'when'>;
}

export interface VrrpInstanceConfig {
  name: string;
  interface: string;
  version: 2 | 3;
  family: 'ipv4' | 'ipv6';
  vrid: number;
  priority: number;
  advertIntervalMs: number;
  /** Extra virtual addresses; the VIPs of the services naming this instance are added to them. */
  addresses: string[];
  preempt: boolean;
  unicastPeers?: string[];
  /** Default: read from the interface. */
  primaryAddress?: string;
  mac?: string;
}

export interface SyncDaemonConfig {
  state: 'master' | 'backup';
  interface: string;
  syncId?: number;
  group?: string;
  port?: number;
  ttl?: number;
}

/** IPVS sysctls under /proc/sys/net/ipv4/vs the director sets (and watches). */
export const IPVS_SYSCTLS = ['expire_nodest_conn', 'conn_reuse_mode', 'sloppy_tcp', 'sloppy_sctp', 'expire_quiescent_template', 'schedule_icmp'] as const;
export type IpvsSysctl = (typeof IPVS_SYSCTLS)[number];

export interface DirectorConfig {
  /** The file read (for messages and relative paths). */
  file: string;
  /** Directory of `file`: relative paths in the config are resolved from here. */
  baseDir: string;
  /** Director name, in logs. */
  name: string;
  /** `auto` (default): dry run when the kernel has no IPVS. */
  dryRun: 'auto' | boolean;
  /** Where restart markers live (graceful restart); none when absent. */
  stateDir?: string;
  log: { level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'; format: 'auto' | 'json' | 'pretty' };
  status: { address: string; port: number } | false;
  ipvs: {
    sysctls: Partial<Record<IpvsSysctl, number>>;
    syncDaemon?: SyncDaemonConfig;
    /** Read the kernel table and correct drift this often (ms). */
    reconcileIntervalMs: number;
    /** Longest wait for every check's first result before the first IPVS write at start (ms). */
    startupWaitMs: number;
  };
  bgp?: BgpConfig;
  vrrp?: { instances: VrrpInstanceConfig[] };
  services: ServiceConfig[];
}

type Path = (string | number)[];

/** Options each check type takes, with their kind. */
const CHECK_OPTIONS: Record<CheckType, Record<string, Kind>> = {
  http: { path: 'string', host: 'string', port: 'port', method: 'string', expectStatus: 'ints', bodyMatch: 'string', headers: 'strmap', timeoutMs: 'duration', maxBodyBytes: 'int' },
  https: {
    path: 'string', host: 'string', port: 'port', method: 'string', expectStatus: 'ints', bodyMatch: 'string', headers: 'strmap', timeoutMs: 'duration', maxBodyBytes: 'int',
    verify: 'bool', servername: 'string', ca: 'string',
  },
  tcp: { port: 'port', timeoutMs: 'duration', send: 'string', expect: 'string', close: 'string' },
  idle: { port: 'port', connectTimeoutMs: 'duration', initialDelayMs: 'duration', maxDelayMs: 'duration', keepAliveMs: 'duration' },
  command: { argv: 'strings', timeoutMs: 'duration', env: 'strmap', cwd: 'string' },
  dns: { name: 'string', type: 'string', port: 'port', expectRcode: 'ints', expectAnswer: 'string', timeoutMs: 'duration', recursionDesired: 'bool' },
  udp: { port: 'port', payload: 'string', expectReply: 'boolOrString', timeoutMs: 'duration', quietMs: 'duration' },
};
type Kind = 'string' | 'strings' | 'int' | 'ints' | 'port' | 'bool' | 'boolOrString' | 'duration' | 'strmap';
const REQUIRED_CHECK_OPTIONS: Partial<Record<CheckType, string[]>> = { command: ['argv'], dns: ['name'] };

const SCHED_FLAGS = ['sh-fallback', 'sh-port', 'mh-fallback', 'mh-port', 'flag-1', 'flag-2', 'flag-3'] as const;

/** Parse a duration: a number of ms, or `500ms`, `2s`, `1.5m`, `1h`. Undefined when it isn't one. */
export function parseDuration(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v : undefined;
  if (typeof v !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(v);
  if (m === null) return undefined;
  const n = Number(m[1]);
  const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 'ms') as 'ms'];
  return Math.round(n * mult);
}

function keyText(path: Path): string {
  let s = '';
  for (const p of path) {
    if (typeof p === 'number') s += `[${p}]`;
    else s += s === '' ? p : `.${p}`;
  }
  return s;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const typeName = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'a map' : `${typeof v} ${JSON.stringify(v)}`);

/** Reads plain values out of the parsed document, recording issues with their positions. */
class Reader {
  readonly issues: ConfigIssue[] = [];
  constructor(
    readonly doc: Document,
    readonly lc: LineCounter,
  ) {}

  #pos(path: Path, onKey: boolean): { line?: number; column?: number } {
    // The value's node; for a missing or unknown key, the key itself, else the nearest parent.
    let node: unknown;
    if (onKey && path.length > 0) {
      const parent = this.doc.getIn(path.slice(0, -1), true);
      if (isMap(parent)) {
        const pair = parent.items.find((p: Pair) => isScalar(p.key) && p.key.value === path[path.length - 1]);
        if (pair !== undefined && isPair(pair)) node = pair.key;
      }
    }
    for (let i = path.length; node === undefined && i >= 0; i--) {
      const n = i === 0 ? this.doc.contents : this.doc.getIn(path.slice(0, i), true);
      if (n !== null && n !== undefined && typeof n === 'object' && 'range' in n) node = n;
    }
    const range = (node as YamlNode | undefined)?.range;
    if (range === undefined || range === null) return {};
    const p = this.lc.linePos(range[0]);
    return { line: p.line, column: p.col };
  }

  issue(path: Path, message: string, onKey = false): undefined {
    this.issues.push({ key: keyText(path), message, ...this.#pos(path, onKey) });
    return undefined;
  }

  /** A map with only `allowed` keys (others are reported). */
  obj(v: unknown, path: Path, allowed: readonly string[]): Record<string, unknown> | undefined {
    if (!isObj(v)) return this.issue(path, `must be a map, got ${typeName(v)}`);
    for (const k of Object.keys(v)) {
      if (!allowed.includes(k)) {
        const near = allowed.find((a) => a.toLowerCase() === k.toLowerCase().replace(/[-_]/g, '') || a.toLowerCase().replace(/[-_]/g, '') === k.toLowerCase().replace(/[-_]/g, ''));
        this.issue([...path, k], `unknown key${near === undefined ? '' : ` (did you mean ${near}?)`}; allowed here: ${allowed.join(', ')}`, true);
      }
    }
    return v;
  }

  str(v: unknown, path: Path): string | undefined {
    if (typeof v === 'string' && v !== '') return v;
    return this.issue(path, `must be a non-empty string, got ${typeName(v)}`);
  }

  int(v: unknown, path: Path, min: number, max: number): number | undefined {
    if (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max) return v;
    return this.issue(path, `must be an integer from ${min} to ${max}, got ${typeName(v)}`);
  }

  num(v: unknown, path: Path, min: number, max: number): number | undefined {
    if (typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max) return v;
    return this.issue(path, `must be a number from ${min} to ${max}, got ${typeName(v)}`);
  }

  bool(v: unknown, path: Path): boolean | undefined {
    if (typeof v === 'boolean') return v;
    return this.issue(path, `must be true or false, got ${typeName(v)}`);
  }

  oneOf<T extends string>(v: unknown, path: Path, values: readonly T[]): T | undefined {
    if (typeof v === 'string' && (values as readonly string[]).includes(v)) return v as T;
    return this.issue(path, `must be one of ${values.join(', ')}, got ${typeName(v)}`);
  }

  duration(v: unknown, path: Path, minMs = 0): number | undefined {
    const d = parseDuration(v);
    if (d !== undefined && d >= minMs) return d;
    return this.issue(path, `must be a duration (ms as a number, or text like 500ms, 2s, 1m) of at least ${minMs} ms, got ${typeName(v)}`);
  }

  ip(v: unknown, path: Path): string | undefined {
    if (typeof v === 'string' && isIP(v) !== 0) return v;
    return this.issue(path, `must be an IPv4 or IPv6 address, got ${typeName(v)}`);
  }

  list(v: unknown, path: Path): unknown[] | undefined {
    if (Array.isArray(v)) return v;
    return this.issue(path, `must be a list, got ${typeName(v)}`);
  }

  strings(v: unknown, path: Path): string[] | undefined {
    const l = this.list(v, path);
    if (l === undefined) return undefined;
    const out: string[] = [];
    l.forEach((x, i) => {
      const s = this.str(x, [...path, i]);
      if (s !== undefined) out.push(s);
    });
    return out.length === l.length ? out : undefined;
  }

  /** A value of one of the check-option kinds. */
  kind(v: unknown, path: Path, kind: Kind): unknown {
    switch (kind) {
      case 'string':
        return this.str(v, path);
      case 'strings':
        return this.strings(v, path);
      case 'int':
        return this.int(v, path, 0, 2 ** 31 - 1);
      case 'port':
        return this.int(v, path, 1, 65535);
      case 'ints': {
        if (typeof v === 'number') return this.int(v, path, 0, 65535);
        const l = this.list(v, path);
        return l?.map((x, i) => this.int(x, [...path, i], 0, 65535));
      }
      case 'bool':
        return this.bool(v, path);
      case 'boolOrString':
        return typeof v === 'boolean' ? v : this.str(v, path);
      case 'duration':
        return this.duration(v, path);
      case 'strmap': {
        const o = isObj(v) ? v : this.issue(path, `must be a map of strings, got ${typeName(v)}`);
        if (o === undefined) return undefined;
        for (const [k, x] of Object.entries(o)) if (typeof x !== 'string') this.issue([...path, k], `must be a string, got ${typeName(x)}`);
        return o;
      }
    }
  }
}

/** Read and validate the configuration file. Throws `ConfigError` (all issues at once). */
export async function loadConfig(file: string): Promise<DirectorConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new ConfigError(file, [{ key: '', message: code === 'ENOENT' ? 'no such file' : `cannot read: ${(e as Error).message}` }], { cause: e });
  }
  if (text.length >= WORKER_PARSE_CHARS) {
    const cfg = await parseInWorker(text, file);
    if (cfg !== undefined) return cfg;
  }
  return parseConfig(text, file);
}

/**
 * Files this big are parsed in a worker thread. Parsing YAML with positions for every node
 * allocates about 100 times the file's size (a 1.1 MB file of 20,000 servers: about 130 MB), and
 * V8 keeps that heap for the life of the process; in a worker it goes when the worker ends.
 */
const WORKER_PARSE_CHARS = 256 * 1024;
const WORKER_TAG = 'lvskitDirectorParseConfig';

type WorkerAnswer = { config: DirectorConfig } | { issues: ConfigIssue[] } | { failed: string };

/**
 * Parse in a worker running this same module (built form only: the worker loads the file this
 * code is in). `undefined` when that is not possible (sources run by a test runner, the CJS build,
 * a worker that fails): the caller then parses in the main thread.
 */
function parseInWorker(text: string, file: string): Promise<DirectorConfig | undefined> {
  const url = (import.meta as { url?: string }).url;
  if (typeof url !== 'string' || !url.startsWith('file:') || !url.endsWith('.js')) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    let w: Worker;
    try {
      w = new Worker(new URL(url), { workerData: { [WORKER_TAG]: { text, file } }, stdout: true, stderr: true });
    } catch {
      resolve(undefined);
      return;
    }
    w.once('message', (m: WorkerAnswer) => {
      void w.terminate();
      if ('config' in m) resolve(m.config);
      else if ('issues' in m) reject(new ConfigError(file, m.issues));
      else resolve(undefined);
    });
    w.once('error', () => resolve(undefined));
    w.once('exit', () => resolve(undefined));
  });
}

/** In such a worker: parse, answer, and let the worker end. */
export const IN_CONFIG_WORKER = !isMainThread && typeof workerData === 'object' && workerData !== null && WORKER_TAG in workerData;

/** Validate configuration text; `file` names it in errors and anchors relative paths. */
export function parseConfig(text: string, file = 'director.yaml'): DirectorConfig {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => {
        const p = e.linePos?.[0];
        return { key: '', message: `YAML: ${e.message.split('\n')[0]}`, ...(p === undefined ? {} : { line: p.line, column: p.col }) };
      }),
    );
  }
  const raw: unknown = doc.toJS({ maxAliasCount: 100 });
  const r = new Reader(doc, lc);
  const cfg = readConfig(r, raw, file);
  if (r.issues.length > 0 || cfg === undefined) {
    const issues = [...r.issues].sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
    throw new ConfigError(file, issues.length > 0 ? issues : [{ key: '', message: 'empty configuration' }]);
  }
  return cfg;
}

function readConfig(r: Reader, raw: unknown, file: string): DirectorConfig | undefined {
  if (raw === null || raw === undefined) return r.issue([], 'the file is empty: it needs at least `services:`');
  const top = r.obj(raw, [], ['name', 'dryRun', 'stateDir', 'log', 'status', 'ipvs', 'bgp', 'vrrp', 'services']);
  if (top === undefined) return undefined;
  const abs = resolvePath(file);
  const cfg: DirectorConfig = {
    file,
    baseDir: dirname(abs),
    name: top.name === undefined ? 'director' : (r.str(top.name, ['name']) ?? 'director'),
    dryRun: 'auto',
    log: { level: 'info', format: 'auto' },
    status: { address: '127.0.0.1', port: 9090 },
    ipvs: { sysctls: {}, reconcileIntervalMs: 30_000, startupWaitMs: 15_000 },
    services: [],
  };
  if (top.dryRun !== undefined) {
    if (top.dryRun === 'auto' || typeof top.dryRun === 'boolean') cfg.dryRun = top.dryRun;
    else r.issue(['dryRun'], `must be auto, true or false, got ${typeName(top.dryRun)}`);
  }
  if (top.stateDir !== undefined) {
    const s = r.str(top.stateDir, ['stateDir']);
    if (s !== undefined) cfg.stateDir = resolvePath(cfg.baseDir, s);
  }
  if (top.log !== undefined) {
    const l = r.obj(top.log, ['log'], ['level', 'format']);
    if (l?.level !== undefined) cfg.log.level = r.oneOf(l.level, ['log', 'level'], ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const) ?? 'info';
    if (l?.format !== undefined) cfg.log.format = r.oneOf(l.format, ['log', 'format'], ['auto', 'json', 'pretty'] as const) ?? 'auto';
  }
  if (top.status === false) cfg.status = false;
  else if (top.status !== undefined) {
    const s = r.obj(top.status, ['status'], ['address', 'port']);
    if (s !== undefined && cfg.status !== false) {
      if (s.address !== undefined) cfg.status.address = r.ip(s.address, ['status', 'address']) ?? '127.0.0.1';
      if (s.port !== undefined) cfg.status.port = r.int(s.port, ['status', 'port'], 0, 65535) ?? 9090;
    }
  }
  if (top.ipvs !== undefined) readIpvs(r, top.ipvs, cfg);
  if (top.bgp !== undefined) cfg.bgp = readBgp(r, top.bgp);
  if (top.vrrp !== undefined) cfg.vrrp = readVrrp(r, top.vrrp);
  if (top.services === undefined) r.issue(['services'], 'missing: the director needs at least one service', true);
  else {
    const s = r.obj(top.services, ['services'], Object.keys(isObj(top.services) ? top.services : {}));
    if (s !== undefined) {
      if (Object.keys(s).length === 0) r.issue(['services'], 'needs at least one service');
      for (const [name, v] of Object.entries(s)) {
        const svc = readService(r, name, v, cfg);
        if (svc !== undefined) cfg.services.push(svc);
      }
    }
  }
  crossChecks(r, cfg);
  return cfg;
}

function readIpvs(r: Reader, v: unknown, cfg: DirectorConfig): void {
  const o = r.obj(v, ['ipvs'], ['sysctls', 'syncDaemon', 'reconcileIntervalMs', 'startupWaitMs']);
  if (o === undefined) return;
  if (o.reconcileIntervalMs !== undefined) cfg.ipvs.reconcileIntervalMs = r.duration(o.reconcileIntervalMs, ['ipvs', 'reconcileIntervalMs'], 100) ?? 30_000;
  if (o.startupWaitMs !== undefined) cfg.ipvs.startupWaitMs = r.duration(o.startupWaitMs, ['ipvs', 'startupWaitMs']) ?? 15_000;
  if (o.sysctls !== undefined) {
    const s = r.obj(o.sysctls, ['ipvs', 'sysctls'], IPVS_SYSCTLS);
    for (const [k, x] of Object.entries(s ?? {})) {
      if (!(IPVS_SYSCTLS as readonly string[]).includes(k)) continue;
      const max = k === 'conn_reuse_mode' ? 3 : 1;
      const n = r.int(x, ['ipvs', 'sysctls', k], 0, max);
      if (n !== undefined) cfg.ipvs.sysctls[k as IpvsSysctl] = n;
    }
  }
  if (o.syncDaemon !== undefined) {
    const p: Path = ['ipvs', 'syncDaemon'];
    const d = r.obj(o.syncDaemon, p, ['state', 'interface', 'syncId', 'group', 'port', 'ttl']);
    if (d !== undefined) {
      const state = r.oneOf(d.state, [...p, 'state'], ['master', 'backup'] as const);
      const ifname = r.str(d.interface, [...p, 'interface']);
      if (state !== undefined && ifname !== undefined) {
        const sd: SyncDaemonConfig = { state, interface: ifname };
        if (d.syncId !== undefined) sd.syncId = r.int(d.syncId, [...p, 'syncId'], 0, 255) ?? 0;
        if (d.group !== undefined) sd.group = r.ip(d.group, [...p, 'group']) ?? '';
        if (d.port !== undefined) sd.port = r.int(d.port, [...p, 'port'], 1, 65535) ?? 8848;
        if (d.ttl !== undefined) sd.ttl = r.int(d.ttl, [...p, 'ttl'], 1, 255) ?? 1;
        cfg.ipvs.syncDaemon = sd;
      }
    }
  }
}

function readAnnounceAttrs(r: Reader, o: Record<string, unknown>, p: Path, into: Omit<AnnounceConfig, 'when'>): void {
  if (o.med !== undefined) {
    const m = r.int(o.med, [...p, 'med'], 0, 2 ** 32 - 1);
    if (m !== undefined) into.med = m;
  }
  if (o.prepend !== undefined) {
    const n = r.int(o.prepend, [...p, 'prepend'], 0, 32);
    if (n !== undefined) into.prepend = n;
  }
  if (o.communities !== undefined) {
    const c = r.strings(o.communities, [...p, 'communities']);
    c?.forEach((x, i) => {
      if (!/^(\d+:\d+|no-export|no-advertise|no-export-subconfed|no-peer|blackhole|graceful-shutdown)$/i.test(x)) r.issue([...p, 'communities', i], `not a community (ASN:value or a well-known name): ${x}`);
    });
    if (c !== undefined) into.communities = c;
  }
  if (o.largeCommunities !== undefined) {
    const c = r.strings(o.largeCommunities, [...p, 'largeCommunities']);
    c?.forEach((x, i) => {
      if (!/^\d+:\d+:\d+$/.test(x)) r.issue([...p, 'largeCommunities', i], `not a large community (global:local1:local2): ${x}`);
    });
    if (c !== undefined) into.largeCommunities = c;
  }
}

function readBgp(r: Reader, v: unknown): BgpConfig | undefined {
  const p: Path = ['bgp'];
  const o = r.obj(v, p, ['localAs', 'routerId', 'listen', 'holdTime', 'gracefulRestart', 'peers', 'announce']);
  if (o === undefined) return undefined;
  const localAs = r.int(o.localAs, [...p, 'localAs'], 1, 2 ** 32 - 1);
  const routerId = o.routerId === undefined ? r.issue([...p, 'routerId'], 'missing (an IPv4 address naming this director)') : r.ip(o.routerId, [...p, 'routerId']);
  if (routerId !== undefined && isIP(routerId) !== 4) r.issue([...p, 'routerId'], 'must be an IPv4 address (RFC 6286: a 32-bit identifier)');
  const cfg: BgpConfig = { localAs: localAs ?? 0, routerId: routerId ?? '', listen: false, peers: [], announce: {} };
  if (o.listen !== undefined && o.listen !== false) {
    const l = r.obj(o.listen, [...p, 'listen'], ['address', 'port']);
    if (l !== undefined) {
      const listen: { address?: string; port: number } = { port: 179 };
      if (l.address !== undefined) {
        const a = r.ip(l.address, [...p, 'listen', 'address']);
        if (a !== undefined) listen.address = a;
      }
      if (l.port !== undefined) listen.port = r.int(l.port, [...p, 'listen', 'port'], 0, 65535) ?? 179;
      cfg.listen = listen;
    }
  }
  if (o.holdTime !== undefined) {
    const h = r.int(o.holdTime, [...p, 'holdTime'], 0, 65535);
    if (h !== undefined && h > 0 && h < 3) r.issue([...p, 'holdTime'], 'must be 0 or at least 3 seconds (RFC 4271 §4.2)');
    else if (h !== undefined) cfg.holdTime = h;
  }
  if (o.gracefulRestart !== undefined) {
    const g = r.obj(o.gracefulRestart, [...p, 'gracefulRestart'], ['restartTime']);
    if (g !== undefined) {
      const t = r.int(g.restartTime ?? 120, [...p, 'gracefulRestart', 'restartTime'], 1, 4095);
      if (t !== undefined) cfg.gracefulRestart = { restartTime: t };
    }
  }
  if (o.announce !== undefined) {
    const a = r.obj(o.announce, [...p, 'announce'], ['med', 'prepend', 'communities', 'largeCommunities']);
    if (a !== undefined) readAnnounceAttrs(r, a, [...p, 'announce'], cfg.announce);
  }
  const peers = o.peers === undefined ? r.issue([...p, 'peers'], 'missing: list the routers to peer with', true) : r.list(o.peers, [...p, 'peers']);
  peers?.forEach((x, i) => {
    const pp: Path = [...p, 'peers', i];
    const q = r.obj(x, pp, ['address', 'remoteAs', 'port', 'localAddress', 'passive', 'holdTime', 'families', 'nextHop', 'exportOverrides']);
    if (q === undefined) return;
    const address = r.ip(q.address, [...pp, 'address']);
    const remoteAs = r.int(q.remoteAs, [...pp, 'remoteAs'], 1, 2 ** 32 - 1);
    if (address === undefined || remoteAs === undefined) return;
    const peer: BgpPeerConfig = { address, remoteAs };
    if (q.port !== undefined) peer.port = r.int(q.port, [...pp, 'port'], 1, 65535) ?? 179;
    if (q.localAddress !== undefined) peer.localAddress = r.ip(q.localAddress, [...pp, 'localAddress']) ?? '';
    if (q.passive !== undefined) peer.passive = r.bool(q.passive, [...pp, 'passive']) ?? false;
    if (q.holdTime !== undefined) peer.holdTime = r.int(q.holdTime, [...pp, 'holdTime'], 0, 65535) ?? 90;
    if (q.families !== undefined) {
      const f = r.list(q.families, [...pp, 'families']);
      peer.families = (f ?? []).map((y, j) => r.oneOf(y, [...pp, 'families', j], ['ipv4', 'ipv6'] as const) ?? 'ipv4');
    }
    if (q.nextHop !== undefined) {
      const n = r.obj(q.nextHop, [...pp, 'nextHop'], ['ipv4', 'ipv6']);
      if (n !== undefined) {
        peer.nextHop = {};
        if (n.ipv4 !== undefined) peer.nextHop.ipv4 = r.ip(n.ipv4, [...pp, 'nextHop', 'ipv4']) ?? '';
        if (n.ipv6 !== undefined) peer.nextHop.ipv6 = r.ip(n.ipv6, [...pp, 'nextHop', 'ipv6']) ?? '';
      }
    }
    if (q.exportOverrides !== undefined) {
      const e = r.obj(q.exportOverrides, [...pp, 'exportOverrides'], ['med', 'prepend', 'communities']);
      if (e !== undefined) {
        const eo: Omit<AnnounceConfig, 'when'> = {};
        readAnnounceAttrs(r, e, [...pp, 'exportOverrides'], eo);
        peer.exportOverrides = eo;
      }
    }
    if (cfg.peers.some((y) => y.address === address)) r.issue([...pp, 'address'], `peer ${address} is listed twice`);
    cfg.peers.push(peer);
  });
  return cfg;
}

function readVrrp(r: Reader, v: unknown): { instances: VrrpInstanceConfig[] } | undefined {
  const o = r.obj(v, ['vrrp'], ['instances']);
  if (o === undefined) return undefined;
  const out: VrrpInstanceConfig[] = [];
  const list = r.list(o.instances, ['vrrp', 'instances']);
  list?.forEach((x, i) => {
    const p: Path = ['vrrp', 'instances', i];
    const q = r.obj(x, p, ['name', 'interface', 'version', 'family', 'vrid', 'priority', 'advertIntervalMs', 'addresses', 'preempt', 'unicastPeers', 'primaryAddress', 'mac']);
    if (q === undefined) return;
    const name = r.str(q.name, [...p, 'name']);
    const ifname = r.str(q.interface, [...p, 'interface']);
    const vrid = r.int(q.vrid, [...p, 'vrid'], 1, 255);
    if (name === undefined || ifname === undefined || vrid === undefined) return;
    const inst: VrrpInstanceConfig = {
      name,
      interface: ifname,
      version: q.version === undefined ? 3 : ((r.int(q.version, [...p, 'version'], 2, 3) ?? 3) as 2 | 3),
      family: q.family === undefined ? 'ipv4' : (r.oneOf(q.family, [...p, 'family'], ['ipv4', 'ipv6'] as const) ?? 'ipv4'),
      vrid,
      priority: q.priority === undefined ? 100 : (r.int(q.priority, [...p, 'priority'], 1, 255) ?? 100),
      advertIntervalMs: q.advertIntervalMs === undefined ? 1000 : (r.duration(q.advertIntervalMs, [...p, 'advertIntervalMs'], 10) ?? 1000),
      addresses: q.addresses === undefined ? [] : (r.strings(q.addresses, [...p, 'addresses']) ?? []),
      preempt: q.preempt === undefined ? true : (r.bool(q.preempt, [...p, 'preempt']) ?? true),
    };
    inst.addresses.forEach((a, j) => r.ip(a, [...p, 'addresses', j]));
    if (q.unicastPeers !== undefined) inst.unicastPeers = r.strings(q.unicastPeers, [...p, 'unicastPeers']) ?? [];
    if (q.primaryAddress !== undefined) inst.primaryAddress = r.ip(q.primaryAddress, [...p, 'primaryAddress']) ?? '';
    if (q.mac !== undefined) {
      const m = r.str(q.mac, [...p, 'mac']);
      if (m !== undefined && !/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(m)) r.issue([...p, 'mac'], `not a MAC address: ${m}`);
      else if (m !== undefined) inst.mac = m;
    }
    if (out.some((y) => y.name === name)) r.issue([...p, 'name'], `instance ${name} is defined twice`);
    out.push(inst);
  });
  return { instances: out };
}

const SERVICE_KEYS = [
  'vips', 'vip', 'protocol', 'port', 'fwmark', 'scheduler', 'schedFlags', 'persistence', 'forwarding', 'depoolThreshold', 'drainMs',
  'rise', 'fall', 'initial', 'checks', 'servers', 'pool', 'announce', 'vrrp',
];

function readService(r: Reader, name: string, v: unknown, cfg: DirectorConfig): ServiceConfig | undefined {
  const p: Path = ['services', name];
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) r.issue(p, 'a service name is letters, digits, _ . - (it appears in URLs and metrics)', true);
  const o = r.obj(v, p, SERVICE_KEYS);
  if (o === undefined) return undefined;
  let vips: string[] = [];
  if (o.vips !== undefined && o.vip !== undefined) r.issue([...p, 'vip'], 'give vips or vip, not both', true);
  if (o.vip !== undefined) {
    const a = r.ip(o.vip, [...p, 'vip']);
    if (a !== undefined) vips = [a];
  } else if (o.vips !== undefined) {
    const l = r.list(o.vips, [...p, 'vips']);
    l?.forEach((x, i) => {
      const a = r.ip(x, [...p, 'vips', i]);
      if (a !== undefined) vips.push(a);
    });
    if (l !== undefined && l.length === 0) r.issue([...p, 'vips'], 'needs at least one address');
  } else r.issue(p, 'missing vips: the service addresses', true);
  const svc: ServiceConfig = {
    name,
    vips,
    protocol: o.protocol === undefined ? 'tcp' : (r.oneOf(o.protocol, [...p, 'protocol'], ['tcp', 'udp', 'sctp'] as const) ?? 'tcp'),
    scheduler: o.scheduler === undefined ? 'wrr' : (r.str(o.scheduler, [...p, 'scheduler']) ?? 'wrr'),
    schedFlags: [],
    forwarding: o.forwarding === undefined ? 'route' : (r.oneOf(o.forwarding, [...p, 'forwarding'], ['route', 'masq', 'tunnel'] as const) ?? 'route'),
    depoolThreshold: o.depoolThreshold === undefined ? 0.5 : (r.num(o.depoolThreshold, [...p, 'depoolThreshold'], 0, 1) ?? 0.5),
    drainMs: o.drainMs === undefined ? 60_000 : (r.duration(o.drainMs, [...p, 'drainMs']) ?? 60_000),
    checks: [],
    announce: { when: 'pooled' },
  };
  if (o.port !== undefined) {
    const port = r.int(o.port, [...p, 'port'], 0, 65535);
    if (port !== undefined) svc.port = port;
  }
  if (o.fwmark !== undefined) {
    const m = r.int(o.fwmark, [...p, 'fwmark'], 1, 2 ** 32 - 1);
    if (m !== undefined) svc.fwmark = m;
  }
  if (svc.fwmark === undefined && svc.port === undefined && o.port === undefined) r.issue(p, 'missing port (or fwmark)', true);
  if (svc.fwmark !== undefined && svc.port !== undefined) r.issue([...p, 'fwmark'], 'a fwmark service has no port: give one of port or fwmark', true);
  if (o.schedFlags !== undefined) {
    const l = r.list(o.schedFlags, [...p, 'schedFlags']);
    l?.forEach((x, i) => {
      const f = r.oneOf(x, [...p, 'schedFlags', i], SCHED_FLAGS);
      if (f !== undefined) svc.schedFlags.push(f);
    });
  }
  if (o.persistence !== undefined) {
    const q = r.obj(o.persistence, [...p, 'persistence'], ['timeout', 'netmask']);
    if (q !== undefined) {
      svc.persistence = {};
      if (q.timeout !== undefined) svc.persistence.timeout = r.int(q.timeout, [...p, 'persistence', 'timeout'], 1, 2 ** 31 - 1) ?? 300;
      if (q.netmask !== undefined) {
        if (typeof q.netmask === 'number' || typeof q.netmask === 'string') svc.persistence.netmask = q.netmask;
        else r.issue([...p, 'persistence', 'netmask'], 'must be a mask (255.255.255.0) or a prefix length');
      }
    }
  }
  for (const k of ['rise', 'fall'] as const) {
    if (o[k] !== undefined) {
      const n = r.int(o[k], [...p, k], 1, 100);
      if (n !== undefined) svc[k] = n;
    }
  }
  if (o.initial !== undefined) {
    const i = r.oneOf(o.initial, [...p, 'initial'], ['down', 'up', 'first-result'] as const);
    if (i !== undefined) svc.initial = i;
  }
  if (o.checks === undefined) r.issue(p, 'missing checks: a service needs at least one health check', true);
  else {
    const l = r.list(o.checks, [...p, 'checks']);
    if (l !== undefined && l.length === 0) r.issue([...p, 'checks'], 'needs at least one health check');
    l?.forEach((x, i) => {
      const c = readCheck(r, x, [...p, 'checks', i], svc);
      if (c === undefined) return;
      if (svc.checks.some((y) => y.name === c.name)) r.issue([...p, 'checks', i, 'name'], `check name ${c.name} is used twice in this service (give each a name:)`);
      svc.checks.push(c);
    });
  }
  if (o.servers !== undefined && o.pool !== undefined) r.issue([...p, 'pool'], 'give servers or pool, not both', true);
  else if (o.servers === undefined && o.pool === undefined) r.issue(p, 'missing servers (or a pool source)', true);
  if (o.servers !== undefined) {
    const l = r.list(o.servers, [...p, 'servers']);
    const servers: ServerConfig[] = [];
    l?.forEach((x, i) => {
      const s = readServer(r, x, [...p, 'servers', i]);
      if (s === undefined) return;
      if (servers.some((y) => y.host === s.host)) r.issue([...p, 'servers', i, 'host'], `server ${s.host} is listed twice`);
      servers.push(s);
    });
    svc.servers = servers;
  }
  if (o.pool !== undefined) {
    const q = isObj(o.pool) ? o.pool : r.issue([...p, 'pool'], `must be a map describing a pool source, got ${typeName(o.pool)}`);
    if (q !== undefined) svc.pool = q;
  }
  if (o.announce !== undefined) {
    const q = r.obj(o.announce, [...p, 'announce'], ['when', 'med', 'prepend', 'communities', 'largeCommunities']);
    if (q !== undefined) {
      if (q.when !== undefined) svc.announce.when = r.oneOf(q.when, [...p, 'announce', 'when'], ['pooled', 'always', 'never'] as const) ?? 'pooled';
      readAnnounceAttrs(r, q, [...p, 'announce'], svc.announce);
    }
  }
  if (o.vrrp !== undefined) {
    const n = r.str(o.vrrp, [...p, 'vrrp']);
    if (n !== undefined) svc.vrrp = n;
  }
  void cfg;
  return svc;
}

/** Server list entries: a map, or a bare host / IP string. */
function readServer(r: Reader, x: unknown, p: Path): ServerConfig | undefined {
  if (typeof x === 'string') {
    const s = r.str(x, p);
    return s === undefined ? undefined : { host: s, weight: 1, enabled: true, ...(isIP(s) !== 0 ? { address: s } : {}) };
  }
  const q = r.obj(x, p, ['host', 'address', 'port', 'weight', 'enabled']);
  if (q === undefined) return undefined;
  const host = q.host === undefined ? (typeof q.address === 'string' ? q.address : r.issue(p, 'missing host', true)) : r.str(q.host, [...p, 'host']);
  if (host === undefined) return undefined;
  const s: ServerConfig = { host, weight: 1, enabled: true };
  if (q.address !== undefined) {
    const a = r.ip(q.address, [...p, 'address']);
    if (a !== undefined) s.address = a;
  } else if (isIP(host) !== 0) s.address = host;
  if (q.port !== undefined) {
    const n = r.int(q.port, [...p, 'port'], 1, 65535);
    if (n !== undefined) s.port = n;
  }
  if (q.weight !== undefined) s.weight = r.int(q.weight, [...p, 'weight'], 0, 65535) ?? 1;
  if (q.enabled !== undefined) s.enabled = r.bool(q.enabled, [...p, 'enabled']) ?? true;
  return s;
}

function readCheck(r: Reader, x: unknown, p: Path, svc: ServiceConfig): CheckConfig | undefined {
  if (!isObj(x)) return r.issue(p, `must be a map with a type (${Object.keys(CHECK_OPTIONS).join(', ')}), got ${typeName(x)}`);
  const type = r.oneOf(x.type, [...p, 'type'], Object.keys(CHECK_OPTIONS) as CheckType[]);
  if (type === undefined) return undefined;
  const specific = CHECK_OPTIONS[type];
  const o = r.obj(x, p, ['type', 'name', 'intervalMs', 'fastIntervalMs', 'rise', 'fall', ...Object.keys(specific)]);
  if (o === undefined) return undefined;
  const c: CheckConfig = {
    name: o.name === undefined ? type : (r.str(o.name, [...p, 'name']) ?? type),
    type,
    intervalMs: o.intervalMs === undefined ? 2000 : (r.duration(o.intervalMs, [...p, 'intervalMs'], 10) ?? 2000),
    options: {},
  };
  if (o.fastIntervalMs !== undefined) {
    const f = r.duration(o.fastIntervalMs, [...p, 'fastIntervalMs'], 10);
    if (f !== undefined && f > c.intervalMs) r.issue([...p, 'fastIntervalMs'], `must not exceed intervalMs (${c.intervalMs} ms)`);
    else if (f !== undefined) c.fastIntervalMs = f;
  }
  for (const k of ['rise', 'fall'] as const) {
    if (o[k] !== undefined) {
      const n = r.int(o[k], [...p, k], 1, 100);
      if (n !== undefined) c[k] = n;
    }
  }
  for (const [k, kind] of Object.entries(specific)) {
    if (o[k] === undefined) continue;
    const val = r.kind(o[k], [...p, k], kind);
    if (val !== undefined) c.options[k] = val;
  }
  for (const k of REQUIRED_CHECK_OPTIONS[type] ?? []) if (o[k] === undefined) r.issue(p, `a ${type} check needs ${k}`, true);
  if (type === 'http' || type === 'https') {
    if (c.options.method !== undefined && c.options.method !== 'GET' && c.options.method !== 'HEAD') r.issue([...p, 'method'], 'must be GET or HEAD');
    if (typeof c.options.path === 'string' && !c.options.path.startsWith('/')) r.issue([...p, 'path'], 'must start with /');
  }
  if (type === 'tcp' && c.options.close !== undefined && c.options.close !== 'fin' && c.options.close !== 'reset') r.issue([...p, 'close'], 'must be fin or reset');
  if (typeof c.options.timeoutMs === 'number' && c.options.timeoutMs > c.intervalMs * 10) r.issue([...p, 'timeoutMs'], `is more than ten intervals (${c.intervalMs} ms): is a unit missing?`);
  void svc;
  return c;
}

function crossChecks(r: Reader, cfg: DirectorConfig): void {
  const inst = new Set((cfg.vrrp?.instances ?? []).map((i) => i.name));
  const seen = new Map<string, string>();
  for (const s of cfg.services) {
    const p: Path = ['services', s.name];
    if (s.vrrp !== undefined && !inst.has(s.vrrp)) r.issue([...p, 'vrrp'], `no VRRP instance named ${s.vrrp} under vrrp.instances`);
    if (cfg.bgp === undefined && (s.announce.med !== undefined || s.announce.prepend !== undefined || s.announce.communities !== undefined)) {
      r.issue([...p, 'announce'], 'announce attributes need a bgp: section');
    }
    for (const v of s.vips) {
      const id = s.fwmark === undefined ? `${s.protocol} ${v} ${s.port ?? 0}` : `fwmark ${s.fwmark} ${isIP(v)}`;
      const other = seen.get(id);
      if (other !== undefined && !(s.fwmark !== undefined && other === s.name)) r.issue([...p, 'vips'], `${id.replace(/ /g, '/')} is also service ${other}`);
      seen.set(id, s.name);
    }
    if (s.forwarding !== 'tunnel') {
      for (const [i, srv] of (s.servers ?? []).entries()) {
        if (srv.address === undefined) continue;
        const fam = isIP(srv.address);
        if (!s.vips.some((v) => isIP(v) === fam)) r.issue([...p, 'servers', i, 'address'], `an IPv${fam} server needs an IPv${fam} VIP (or forwarding: tunnel)`);
      }
    }
    if (s.forwarding === 'masq' && s.port === undefined && s.fwmark === undefined) r.issue([...p, 'forwarding'], 'masq (NAT) needs a port');
    if (s.forwarding !== 'masq' && s.port !== undefined && s.port !== 0) {
      // Direct routing and tunnelling keep the packet's destination port (ipvsadm refuses another one).
      for (const [i, srv] of (s.servers ?? []).entries()) {
        if (srv.port !== undefined && srv.port !== s.port) r.issue([...p, 'servers', i, 'port'], `${s.forwarding} forwarding keeps the service port ${s.port}: use forwarding: masq to send to another port (checks take their own port:)`);
      }
    }
    if (s.servers !== undefined && s.servers.length > 0 && s.forwarding !== 'tunnel' && s.servers.every((x) => x.address !== undefined)) {
      for (const [i, v] of s.vips.entries()) {
        const fam = isIP(v);
        if (!s.servers.some((x) => x.address !== undefined && isIP(x.address) === fam)) r.issue([...p, 'vips', i], `no IPv${fam} server for this IPv${fam} VIP`);
      }
    }
  }
  if (cfg.ipvs.syncDaemon !== undefined && cfg.ipvs.syncDaemon.interface === 'lo') r.issue(['ipvs', 'syncDaemon', 'interface'], 'the sync daemon needs a multicast interface (not lo)');
}

/** Services whose configuration differs between two configs (by name), plus added and removed ones. */
export function diffServices(a: DirectorConfig, b: DirectorConfig): { added: string[]; removed: string[]; changed: string[]; unchanged: string[] } {
  const ma = new Map(a.services.map((s) => [s.name, s]));
  const mb = new Map(b.services.map((s) => [s.name, s]));
  const out = { added: [] as string[], removed: [] as string[], changed: [] as string[], unchanged: [] as string[] };
  for (const [n, s] of mb) {
    const old = ma.get(n);
    if (old === undefined) out.added.push(n);
    else if (JSON.stringify(old) === JSON.stringify(s)) out.unchanged.push(n);
    else out.changed.push(n);
  }
  for (const n of ma.keys()) if (!mb.has(n)) out.removed.push(n);
  return out;
}

// Last in the file, so that every constant parseConfig uses is initialised.
if (IN_CONFIG_WORKER) {
  const { text, file } = (workerData as Record<string, { text: string; file: string }>)[WORKER_TAG] as { text: string; file: string };
  let answer: WorkerAnswer;
  try {
    answer = { config: parseConfig(text, file) };
  } catch (e) {
    answer = e instanceof ConfigError ? { issues: e.issues } : { failed: (e as Error).message };
  }
  parentPort?.postMessage(answer);
}
