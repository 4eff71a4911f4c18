// vrrpd's configuration: a YAML file read into the options of lvskit/vrrp's VrrpRouter and
// LinuxVrrpTransport. Keys follow keepalived's names where keepalived has one (snake_case).
// Every problem is reported at once, each with its place (`instances[1].vrid: ...`), as a
// `VrrpdConfigError` (code ERR_VRRPD_CONFIG); nothing here opens a socket.
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { LvskitError } from 'lvskit';
import { parse as parseYaml } from 'yaml';

export class VrrpdConfigError extends LvskitError {
  /** @param {string[]} issues */
  constructor(file, issues) {
    super('ERR_VRRPD_CONFIG', `${file}: ${issues.length} problem${issues.length === 1 ? '' : 's'}:\n  ${issues.join('\n  ')}`);
    this.issues = issues;
  }
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
  let doc;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new VrrpdConfigError(file, [`not YAML: ${e instanceof Error ? e.message : String(e)}`]);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new VrrpdConfigError(file, ['the file must be a mapping with `instances`']);
  for (const k of Object.keys(doc)) if (!TOP_KEYS.has(k)) issues.push(`${k}: unknown key`);
  const logLevel = doc.log_level ?? 'info';
  if (!LEVELS.includes(logLevel)) issues.push(`log_level: '${logLevel}' is not one of ${LEVELS.join(', ')}`);
  const notifyTimeoutMs = durationMs(doc.notify_timeout ?? '10s');
  if (notifyTimeoutMs === undefined || notifyTimeoutMs > 600_000) issues.push(`notify_timeout: '${doc.notify_timeout}' is not a duration up to 10m`);

  const argv = (where, v) => {
    if (v === undefined) return undefined;
    if (typeof v === 'string' && v.length > 0) return [v];
    if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' || typeof x === 'number')) return v.map(String);
    issues.push(`${where}: an argv list (['/path/to/program', 'arg', ...]) or a program path`);
    return undefined;
  };

  const list = doc.instances;
  if (!Array.isArray(list) || list.length === 0) issues.push('instances: a non-empty list of VRRP instances');
  const instances = [];
  const names = new Set();
  for (const [n, raw] of (Array.isArray(list) ? list : []).entries()) {
    const at = `instances[${n}]`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      issues.push(`${at}: a mapping`);
      continue;
    }
    for (const k of Object.keys(raw)) if (!INSTANCE_KEYS.has(k)) issues.push(`${at}.${k}: unknown key`);
    const name = raw.name;
    if (typeof name !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(name)) issues.push(`${at}.name: 1-64 of [A-Za-z0-9_.-]`);
    else if (names.has(name)) issues.push(`${at}.name: '${name}' used twice`);
    else names.add(name);
    if (typeof raw.interface !== 'string' || raw.interface.length === 0) issues.push(`${at}.interface: an interface name`);
    const int = (key, lo, hi, dflt) => {
      const v = raw[key] ?? dflt;
      if (!Number.isInteger(v) || v < lo || v > hi) issues.push(`${at}.${key}: an integer ${lo}..${hi}`);
      return v;
    };
    const vrid = int('vrid', 1, 255, undefined);
    const priority = int('priority', 1, 255, 100);
    const version = int('version', 2, 3, 3);
    const bool = (key, dflt) => {
      const v = raw[key] ?? dflt;
      if (typeof v !== 'boolean') issues.push(`${at}.${key}: true or false`);
      return v;
    };
    const advertIntervalMs = durationMs(raw.advert_interval ?? '1s');
    if (advertIntervalMs === undefined) issues.push(`${at}.advert_interval: a duration (1s, 100ms)`);
    const preemptDelayMs = durationMs(raw.preempt_delay ?? 0);
    if (preemptDelayMs === undefined) issues.push(`${at}.preempt_delay: a duration`);
    const repeatDelayMs = durationMs(raw.garp_repeat_delay ?? '5s');
    if (repeatDelayMs === undefined) issues.push(`${at}.garp_repeat_delay: a duration`);

    // Addresses: `a` or `a/prefix` (default /32, /128, as keepalived's virtual_ipaddress).
    const addresses = [];
    const prefixes = {};
    if (!Array.isArray(raw.addresses) || raw.addresses.length === 0) issues.push(`${at}.addresses: a non-empty list`);
    for (const a of Array.isArray(raw.addresses) ? raw.addresses : []) {
      const m = typeof a === 'string' ? /^([^/\s]+)(?:\/(\d{1,3}))?$/.exec(a) : null;
      const fam = m === null ? 0 : isIP(m[1]);
      if (m === null || fam === 0 || (m[2] !== undefined && Number(m[2]) > (fam === 4 ? 32 : 128))) {
        issues.push(`${at}.addresses: '${a}' is not an address with an optional prefix length`);
        continue;
      }
      addresses.push(m[1]);
      if (m[2] !== undefined) prefixes[m[1]] = Number(m[2]);
    }
    const families = new Set(addresses.map((a) => (isIP(a) === 4 ? 'ipv4' : 'ipv6')));
    if (families.size > 1) issues.push(`${at}.addresses: IPv4 and IPv6 mixed (one instance per family, RFC 9568 §5.2.9)`);
    const family = families.has('ipv6') ? 'ipv6' : 'ipv4';
    const peers = raw.unicast_peers ?? [];
    if (!Array.isArray(peers) || peers.some((p) => typeof p !== 'string' || isIP(p) !== (family === 'ipv4' ? 4 : 6))) {
      issues.push(`${at}.unicast_peers: a list of ${family} addresses`);
    }
    const vmac = raw.vmac ?? false;
    if (typeof vmac !== 'boolean' && !(typeof vmac === 'string' && /^[A-Za-z0-9_.-]{1,15}$/.test(vmac))) issues.push(`${at}.vmac: true, false or an interface name`);
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
        any: argv(`${at}.notify`, raw.notify),
        master: argv(`${at}.notify_master`, raw.notify_master),
        backup: argv(`${at}.notify_backup`, raw.notify_backup),
        fault: argv(`${at}.notify_fault`, raw.notify_fault),
        stop: argv(`${at}.notify_stop`, raw.notify_stop),
      },
    });
  }

  const syncGroups = [];
  for (const [n, g] of (Array.isArray(doc.sync_groups) ? doc.sync_groups : []).entries()) {
    const at = `sync_groups[${n}]`;
    if (typeof g?.name !== 'string' || !Array.isArray(g.instances) || g.instances.length === 0) {
      issues.push(`${at}: { name, instances: [instance names] }`);
      continue;
    }
    for (const i of g.instances) if (!names.has(i)) issues.push(`${at}.instances: no instance '${i}'`);
    syncGroups.push({ name: g.name, instances: g.instances });
  }
  if (doc.sync_groups !== undefined && !Array.isArray(doc.sync_groups)) issues.push('sync_groups: a list');

  if (issues.length > 0) throw new VrrpdConfigError(file, issues);
  return { logLevel, notifyTimeoutMs, instances, syncGroups };
}

/** Read and parse the file. */
export async function loadConfig(file) {
  let text;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new VrrpdConfigError(file, [`cannot read: ${e instanceof Error ? e.message : String(e)}`]);
  }
  return parseConfig(text, file);
}
