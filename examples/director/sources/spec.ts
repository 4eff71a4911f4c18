/**
 * Check a pool source spec as written in the director's YAML (`services.X.pool`)
 * and turn it into a typed `PoolSourceSpec`: every issue at once, each with its
 * key path (so a config reader can point at file:line), durations accepted as
 * milliseconds or `500ms`/`2s`/`1m`/`1h` like the rest of the config.
 */
import { readFileSync } from 'node:fs';
import { PoolSourceError } from './errors.js';
import { normalizeEntry } from './parse.js';
import type { BackoffSpec, PoolEntryInput, PoolFormat, PoolSourceSpec } from './types.js';

export interface PoolSpecIssue {
  /** Path below the spec, e.g. `['backoff', 'maxMs']` or `['servers', 2]`. */
  path: (string | number)[];
  message: string;
}

const KEYS: Record<PoolSourceSpec['type'], string[]> = {
  inline: ['type', 'servers'],
  file: ['type', 'path', 'format', 'debounceMs', 'pollMs'],
  http: ['type', 'url', 'format', 'intervalMs', 'timeoutMs', 'headers', 'backoff'],
  etcd: ['type', 'endpoints', 'prefix', 'dc', 'cluster', 'service', 'tls', 'auth', 'timeoutMs', 'probeMs', 'backoff'],
};
const FORMATS: PoolFormat[] = ['auto', 'pybal', 'yaml', 'json'];

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `2s` -> 2000; numbers are ms. Undefined when it isn't a duration. */
export function durationMs(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v : undefined;
  if (typeof v !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(v);
  if (!m) return undefined;
  return Math.round(Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 'ms') as 'ms']);
}

/** Issues of a raw spec, and the typed spec when there are none. */
export function checkPoolSpec(raw: unknown): { spec?: PoolSourceSpec; issues: PoolSpecIssue[] } {
  const issues: PoolSpecIssue[] = [];
  const issue = (path: (string | number)[], message: string): undefined => {
    issues.push({ path, message });
    return undefined;
  };
  if (!isObj(raw)) return { issues: [{ path: [], message: 'a pool source is a map with a type (inline, file, http, etcd)' }] };
  const type = raw['type'];
  if (typeof type !== 'string' || !(type in KEYS)) {
    return { issues: [{ path: ['type'], message: `type must be one of inline, file, http, etcd (got ${JSON.stringify(type ?? null)})` }] };
  }
  const t = type as PoolSourceSpec['type'];
  for (const k of Object.keys(raw)) if (!KEYS[t].includes(k)) issue([k], `unknown key for a ${t} pool source; allowed: ${KEYS[t].join(', ')}`);
  const str = (k: string, v: unknown, path = [k]): string | undefined =>
    typeof v === 'string' && v !== '' ? v : issue(path, `must be a non-empty string (got ${JSON.stringify(v ?? null)})`);
  const dur = (k: string, min: number, path: (string | number)[] = [k], v: unknown = raw[k]): number | undefined => {
    if (v === undefined) return undefined;
    const ms = durationMs(v);
    if (ms === undefined) return issue(path, `must be a duration (ms, or like 500ms, 2s, 1m), got ${JSON.stringify(v)}`);
    if (ms !== 0 && ms < min) return issue(path, `must be 0 or at least ${min} ms`);
    return ms;
  };
  const format = (): PoolFormat | undefined => {
    const f = raw['format'];
    if (f === undefined) return undefined;
    return FORMATS.includes(f as PoolFormat) ? (f as PoolFormat) : issue(['format'], `must be one of ${FORMATS.join(', ')}`);
  };
  const backoff = (): BackoffSpec | undefined => {
    const b = raw['backoff'];
    if (b === undefined) return undefined;
    if (!isObj(b)) return issue(['backoff'], 'must be a map { initialMs, maxMs }');
    for (const k of Object.keys(b)) if (k !== 'initialMs' && k !== 'maxMs') issue(['backoff', k], 'unknown key; allowed: initialMs, maxMs');
    const out: BackoffSpec = {};
    const i = dur('initialMs', 10, ['backoff', 'initialMs'], b['initialMs']);
    const m = dur('maxMs', 10, ['backoff', 'maxMs'], b['maxMs']);
    if (i !== undefined) out.initialMs = i;
    if (m !== undefined) out.maxMs = m;
    if (i !== undefined && m !== undefined && m < i) issue(['backoff', 'maxMs'], 'must not be less than initialMs');
    return out;
  };
  const set = <T extends object, K extends keyof T>(o: T, k: K, v: T[K] | undefined): void => {
    if (v !== undefined) o[k] = v;
  };
  let spec: PoolSourceSpec | undefined;
  switch (t) {
    case 'inline': {
      const servers = raw['servers'];
      if (!Array.isArray(servers)) {
        issue(['servers'], 'must be a list of servers');
        break;
      }
      const list: PoolEntryInput[] = [];
      const seen = new Set<string>();
      servers.forEach((s, i) => {
        try {
          const e = normalizeEntry(s);
          if (seen.has(e.host)) issue(['servers', i], `server ${e.host} is listed twice`);
          seen.add(e.host);
          list.push(e);
        } catch (err) {
          issue(['servers', i], (err as Error).message);
        }
      });
      spec = { type: 'inline', servers: list };
      break;
    }
    case 'file': {
      const path = str('path', raw['path']);
      const s: PoolSourceSpec = { type: 'file', path: path ?? '' };
      set(s, 'format', format());
      set(s, 'debounceMs', dur('debounceMs', 1));
      set(s, 'pollMs', dur('pollMs', 100));
      spec = s;
      break;
    }
    case 'http': {
      const url = str('url', raw['url']);
      if (url !== undefined) {
        try {
          const u = new URL(url);
          if (u.protocol !== 'http:' && u.protocol !== 'https:') issue(['url'], 'must be an http or https URL');
        } catch {
          issue(['url'], `not a URL: ${url}`);
        }
      }
      const s: PoolSourceSpec = { type: 'http', url: url ?? '' };
      set(s, 'format', format());
      set(s, 'intervalMs', dur('intervalMs', 100));
      set(s, 'timeoutMs', dur('timeoutMs', 10));
      const h = raw['headers'];
      if (h !== undefined) {
        if (!isObj(h)) issue(['headers'], 'must be a map of header names to values');
        else {
          for (const [k, v] of Object.entries(h)) if (typeof v !== 'string' || /[\r\n]/.test(v)) issue(['headers', k], 'must be a string without line breaks');
          s.headers = h as Record<string, string>;
        }
      }
      set(s, 'backoff', backoff());
      spec = s;
      break;
    }
    case 'etcd': {
      let endpoints: string[] = [];
      const e = raw['endpoints'];
      const list = typeof e === 'string' ? [e] : Array.isArray(e) ? e : undefined;
      if (list === undefined || list.length === 0) issue(['endpoints'], 'must list at least one etcd client URL (http://host:2379)');
      else {
        list.forEach((x, i) => {
          try {
            const u = new URL(String(x));
            if (u.protocol !== 'http:' && u.protocol !== 'https:') issue(['endpoints', i], 'must be an http or https URL');
          } catch {
            issue(['endpoints', i], `not a URL: ${JSON.stringify(x)} (write http://host:2379)`);
          }
        });
        endpoints = list.map(String);
      }
      const s: PoolSourceSpec = { type: 'etcd', endpoints };
      for (const k of ['prefix', 'dc', 'cluster', 'service'] as const) {
        if (raw[k] !== undefined) {
          const v = str(k, raw[k]);
          if (v !== undefined) s[k] = v;
        }
      }
      if (s.prefix !== undefined && !(s.prefix.startsWith('/') && s.prefix.endsWith('/'))) issue(['prefix'], "must start and end with '/'");
      if (s.prefix === undefined && (s.dc === undefined || s.cluster === undefined)) issue([], 'an etcd pool source needs prefix, or dc and cluster (prefix /conftool/v1/pools/<dc>/<cluster>/<service>/)');
      for (const k of ['dc', 'cluster', 'service'] as const) if (s[k]?.includes('/')) issue([k], "must not contain '/'");
      const tls = raw['tls'];
      if (tls !== undefined) {
        if (!isObj(tls)) issue(['tls'], 'must be a map { ca, cert, key, insecureSkipVerify }');
        else {
          s.tls = {};
          for (const [k, v] of Object.entries(tls)) {
            if (k === 'insecureSkipVerify') {
              if (typeof v !== 'boolean') issue(['tls', k], 'must be true or false');
              else s.tls.insecureSkipVerify = v;
            } else if (k === 'ca' || k === 'cert' || k === 'key') {
              const p = str(k, v, ['tls', k]);
              if (p !== undefined) s.tls[k] = p;
            } else issue(['tls', k], 'unknown key; allowed: ca, cert, key, insecureSkipVerify');
          }
          if ((s.tls.cert === undefined) !== (s.tls.key === undefined)) issue(['tls'], 'cert and key go together');
        }
      }
      const auth = raw['auth'];
      if (auth !== undefined) {
        if (!isObj(auth)) issue(['auth'], 'must be a map { username, password | passwordFile }');
        else {
          for (const k of Object.keys(auth)) if (!['username', 'password', 'passwordFile'].includes(k)) issue(['auth', k], 'unknown key; allowed: username, password, passwordFile');
          const username = str('username', auth['username'], ['auth', 'username']);
          let password: string | undefined;
          if (auth['password'] !== undefined && auth['passwordFile'] !== undefined) issue(['auth'], 'give password or passwordFile, not both');
          else if (auth['passwordFile'] !== undefined) {
            const f = str('passwordFile', auth['passwordFile'], ['auth', 'passwordFile']);
            if (f !== undefined) {
              try {
                password = readFileSync(f, 'utf8').replace(/\r?\n$/, '');
              } catch (err) {
                issue(['auth', 'passwordFile'], `cannot read ${f}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
              }
            }
          } else password = str('password', auth['password'], ['auth', 'password']);
          if (username !== undefined && password !== undefined) s.auth = { username, password };
        }
      }
      set(s, 'timeoutMs', dur('timeoutMs', 10));
      set(s, 'probeMs', dur('probeMs', 100));
      set(s, 'backoff', backoff());
      spec = s;
      break;
    }
  }
  return issues.length === 0 && spec !== undefined ? { spec, issues } : { issues };
}

/** The typed spec, or a `PoolSourceError` ERR_POOL_SPEC listing every issue with its key path. */
export function normalizePoolSpec(raw: unknown, service?: string): PoolSourceSpec {
  const { spec, issues } = checkPoolSpec(raw);
  if (spec !== undefined) return spec;
  const text = issues.map((i) => `pool${i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('')}: ${i.message}`).join('; ');
  throw new PoolSourceError('ERR_POOL_SPEC', `${service === undefined ? '' : `service ${service}: `}${text}`);
}
