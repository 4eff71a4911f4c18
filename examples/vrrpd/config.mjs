// vrrpd's configuration: a YAML file read into the options of lvskit/vrrp's VrrpRouter and
// LinuxVrrpTransport. Keys follow keepalived's names where keepalived has one (snake_case).
// Every problem is reported at once, each with its file, line, column and key
// (`vrrpd.yaml:7:5: instances[1].vrid: an integer 1..255`), as a `VrrpdConfigError` (code
// ERR_VRRPD_CONFIG); nothing here opens a socket.
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { LvskitError } from 'lvskit';
import { LineCounter, isMap, isScalar, isSeq, parseDocument } from 'yaml';

export class VrrpdConfigError extends LvskitError {
  /** @param {string[]} issues */
  constructor(file, issues) {
    super('ERR_VRRPD_CONFIG', `${file}: ${issues.length} problem${issues.length === 1 ? '' : 's'}:\n  ${issues.join('\n  ')}`);
    this.issues = issues;
  }
}

/** `['instances', 0, 'vrid']` -> `instances[0].vrid`. */
function keyText(path) {
  return path.map((k, n) => (typeof k === 'number' ? `[${k}]` : n === 0 ? k : `.${k}`)).join('');
}

/** Line and column (1-based) of the deepest node on `path` that the document has (a key where the path names one). */
function position(doc, lc, path) {
  let node = doc.contents;
  let at = node?.range?.[0];
  for (const k of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === k);
      if (pair === undefined) break;
      at = pair.key?.range?.[0] ?? at;
      node = pair.value;
    } else if (isSeq(node) && typeof k === 'number') {
      const item = node.items[k];
      if (item === undefined) break;
      at = item.range?.[0] ?? at;
      node = item;
    } else break;
  }
  return at === undefined ? undefined : lc.linePos(at);
}

const TOP_KEYS = new Set(['log_level', 'notify_timeout', 'instances', 'sync_groups']);
const INSTANCE_KEYS = new Set([
  'name', 'interface', 'vrid', 'priority', 'version', 'advert_interval', 'addresses', 'preempt', 'preempt_delay',
  'vmac', 'accept', 'unicast_peers', 'track_interface', 'strict', 'garp_repeat_delay',
  'notify', 'notify_master', 'notify_backup', 'notify_fault', 'notify_stop',
]);
const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

/** `1s`, `100ms`, `1.5m` or a number of milliseconds -> ms; undefined when not a duration. */
export function durationMs(v) {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v : undefined;
  if (typeof v !== 'string') return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m)$/.exec(v.trim());
  if (m === null) return undefined;
  const n = Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[m[2]];
  return Math.round(n);
}

/**
 * Parse YAML text into the daemon's config; throws `VrrpdConfigError` listing every problem.
 * @returns {{ logLevel: string, notifyTimeoutMs: number, instances: object[], syncGroups: { name: string, instances: string[] }[] }}
 */
export function parseConfig(text, file = 'config') {
  const issues = [];
  const lc = new LineCounter();
  const yaml = parseDocument(text, { lineCounter: lc, uniqueKeys: true });
  if (yaml.errors.length > 0) {
    throw new VrrpdConfigError(
      file,
      yaml.errors.map((e) => {
        const p = e.linePos?.[0];
        return `${file}${p === undefined ? '' : `:${p.line}:${p.col}`}: not YAML: ${e.message.split('\n')[0]}`;
      }),
    );
  }
  const doc = yaml.toJS();
  /** One problem at `path` (an array of keys and indexes), with its place in the file. */
  const bad = (path, what) => {
    const p = position(yaml, lc, path);
    issues.push({ order: p === undefined ? Infinity : p.line * 1e6 + p.col, text: `${file}${p === undefined ? '' : `:${p.line}:${p.col}`}: ${keyText(path)}: ${what}` });
  };
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new VrrpdConfigError(file, [`${file}: the file must be a mapping with \`instances\``]);
  for (const k of Object.keys(doc)) if (!TOP_KEYS.has(k)) bad([k], 'unknown key');
  const logLevel = doc.log_level ?? 'info';
  if (!LEVELS.includes(logLevel)) bad(['log_level'], `'${logLevel}' is not one of ${LEVELS.join(', ')}`);
  const notifyTimeoutMs = durationMs(doc.notify_timeout ?? '10s');
  if (notifyTimeoutMs === undefined || notifyTimeoutMs > 600_000) bad(['notify_timeout'], `'${doc.notify_timeout}' is not a duration up to 10m`);

  const argv = (where, v) => {
    if (v === undefined) return undefined;
    if (typeof v === 'string' && v.length > 0) return [v];
    if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' || typeof x === 'number')) return v.map(String);
    bad(where, "an argv list (['/path/to/program', 'arg', ...]) or a program path");
    return undefined;
  };

  const list = doc.instances;
  if (!Array.isArray(list) || list.length === 0) bad(['instances'], 'a non-empty list of VRRP instances');
  const instances = [];
  const names = new Set();
  /** interface/family/VRID -> where first used: one virtual router per VRID and family on an interface. */
  const vrids = new Map();
  for (const [n, raw] of (Array.isArray(list) ? list : []).entries()) {
    const at = ['instances', n];
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      bad(at, 'a mapping');
      continue;
    }
    for (const k of Object.keys(raw)) if (!INSTANCE_KEYS.has(k)) bad([...at, k], 'unknown key');
    const name = raw.name;
    if (typeof name !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(name)) bad([...at, 'name'], '1-64 of [A-Za-z0-9_.-]');
    else if (names.has(name)) bad([...at, 'name'], `'${name}' used twice`);
    else names.add(name);
    if (typeof raw.interface !== 'string' || raw.interface.length === 0) bad([...at, 'interface'], 'an interface name');
    const int = (key, lo, hi, dflt) => {
      const v = raw[key] ?? dflt;
      if (!Number.isInteger(v) || v < lo || v > hi) bad([...at, key], `an integer ${lo}..${hi}`);
      return v;
    };
    const vrid = int('vrid', 1, 255, undefined);
    const priority = int('priority', 1, 255, 100);
    const version = int('version', 2, 3, 3);
    const bool = (key, dflt) => {
      const v = raw[key] ?? dflt;
      if (typeof v !== 'boolean') bad([...at, key], 'true or false');
      return v;
    };
    const advertIntervalMs = durationMs(raw.advert_interval ?? '1s');
    if (advertIntervalMs === undefined) bad([...at, 'advert_interval'], 'a duration (1s, 100ms)');
    const preemptDelayMs = durationMs(raw.preempt_delay ?? 0);
    if (preemptDelayMs === undefined) bad([...at, 'preempt_delay'], 'a duration');
    const repeatDelayMs = durationMs(raw.garp_repeat_delay ?? '5s');
    if (repeatDelayMs === undefined) bad([...at, 'garp_repeat_delay'], 'a duration');

    // Addresses: `a` or `a/prefix` (default /32, /128, as keepalived's virtual_ipaddress).
    const addresses = [];
    const prefixes = {};
    if (!Array.isArray(raw.addresses) || raw.addresses.length === 0) bad([...at, 'addresses'], 'a non-empty list');
    for (const [k, a] of (Array.isArray(raw.addresses) ? raw.addresses : []).entries()) {
      const m = typeof a === 'string' ? /^([^/\s]+)(?:\/(\d{1,3}))?$/.exec(a) : null;
      const fam = m === null ? 0 : isIP(m[1]);
      if (m === null || fam === 0 || (m[2] !== undefined && Number(m[2]) > (fam === 4 ? 32 : 128))) {
        bad([...at, 'addresses', k], `'${a}' is not an address with an optional prefix length`);
        continue;
      }
      addresses.push(m[1]);
      if (m[2] !== undefined) prefixes[m[1]] = Number(m[2]);
    }
    const families = new Set(addresses.map((a) => (isIP(a) === 4 ? 'ipv4' : 'ipv6')));
    if (families.size > 1) bad([...at, 'addresses'], 'IPv4 and IPv6 mixed (one instance per family, RFC 9568 §5.2.9)');
    const family = families.has('ipv6') ? 'ipv6' : 'ipv4';
    const peers = raw.unicast_peers ?? [];
    if (!Array.isArray(peers) || peers.some((p) => typeof p !== 'string' || isIP(p) !== (family === 'ipv4' ? 4 : 6))) {
      bad([...at, 'unicast_peers'], `a list of ${family} addresses`);
    }
    const vmac = raw.vmac ?? false;
    if (typeof vmac !== 'boolean' && !(typeof vmac === 'string' && /^[A-Za-z0-9_.-]{1,15}$/.test(vmac))) bad([...at, 'vmac'], 'true, false or an interface name');
    const vkey = `${raw.interface}/${family}/${vrid}`;
    if (Number.isInteger(vrid) && vrids.has(vkey)) bad([...at, 'vrid'], `VRID ${vrid} (${family}) is already used on ${raw.interface} by ${vrids.get(vkey)}`);
    else vrids.set(vkey, keyText(at));
    instances.push({
      name,
      interface: raw.interface,
      vrid,
      priority,
      version,
      family,
      advertIntervalMs,
      addresses,
      prefixes,
      preempt: bool('preempt', true),
      preemptDelayMs,
      vmac,
      accept: bool('accept', true),
      strict: bool('strict', true),
      trackInterface: bool('track_interface', true),
      repeatDelayMs,
      ...(Array.isArray(peers) && peers.length > 0 ? { unicastPeers: peers } : {}),
      notify: {
        any: argv([...at, 'notify'], raw.notify),
        master: argv([...at, 'notify_master'], raw.notify_master),
        backup: argv([...at, 'notify_backup'], raw.notify_backup),
        fault: argv([...at, 'notify_fault'], raw.notify_fault),
        stop: argv([...at, 'notify_stop'], raw.notify_stop),
      },
    });
  }

  const syncGroups = [];
  const grouped = new Map();
  for (const [n, g] of (Array.isArray(doc.sync_groups) ? doc.sync_groups : []).entries()) {
    const at = ['sync_groups', n];
    if (typeof g?.name !== 'string' || !Array.isArray(g.instances) || g.instances.length === 0) {
      bad(at, '{ name, instances: [instance names] }');
      continue;
    }
    if (syncGroups.some((o) => o.name === g.name)) bad([...at, 'name'], `'${g.name}' used twice`);
    for (const [k, i] of g.instances.entries()) {
      if (!names.has(i)) bad([...at, 'instances', k], `no instance '${i}'`);
      else if (grouped.has(i)) bad([...at, 'instances', k], `'${i}' is already in sync group '${grouped.get(i)}'`);
      else grouped.set(i, g.name);
    }
    syncGroups.push({ name: g.name, instances: g.instances });
  }
  if (doc.sync_groups !== undefined && !Array.isArray(doc.sync_groups)) bad(['sync_groups'], 'a list');

  if (issues.length > 0) throw new VrrpdConfigError(file, issues.sort((a, b) => a.order - b.order).map((i) => i.text));
  return { logLevel, notifyTimeoutMs, instances, syncGroups };
}

/** Read and parse the file. */
export async function loadConfig(file) {
  let text;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new VrrpdConfigError(file, [`${file}: cannot read: ${e instanceof Error ? e.message : String(e)}`]);
  }
  return parseConfig(text, file);
}
