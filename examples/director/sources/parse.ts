/**
 * Pool document parsers (pure: no I/O).
 *
 * - PyBal's format: one Python dict literal per line,
 *   `{ 'host': 'a.example', 'weight': 10, 'enabled': True }`; blank lines and
 *   `#` comments skipped (PyBal reads these files line by line the same way).
 * - YAML or JSON (JSON is YAML): a list of servers, `{ servers: [...] }`, or a
 *   mapping `host: { weight, enabled|pooled }`.
 * - etcd/conftool values: `{"weight": N, "pooled": "yes|no|inactive"}`.
 *
 * Every malformed input raises a `PoolParseError` carrying the line (and column
 * where known); nothing else escapes.
 */
import { isMap, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { PoolParseError } from './errors.js';
import type { PoolEntry, PoolEntryInput, PoolFormat, Pooled } from './types.js';

/** Largest weight we accept: ipvsadm's range (0..65535), the same the director's config takes. */
export const MAX_WEIGHT = 65_535;
const POOLED: readonly Pooled[] = ['yes', 'no', 'inactive'];

interface Where {
  where?: string;
  line?: number;
  column?: number;
}

/** Check and complete one server (defaults: weight 1, enabled true, pooled from enabled). */
export function normalizeEntry(raw: unknown, at: Where = {}): PoolEntry {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new PoolParseError('a server must be a mapping with at least a host', at);
  }
  const r = raw as Record<string, unknown>;
  const { host, address, port, weight, enabled, pooled } = r;
  if (typeof host !== 'string' || host.trim() === '') throw new PoolParseError(`server without a host (got ${show(host)})`, at);
  if (/\s|\//.test(host)) throw new PoolParseError(`host ${show(host)} contains whitespace or '/'`, at);
  if (address !== undefined && (typeof address !== 'string' || address === '')) {
    throw new PoolParseError(`server ${host}: address must be a string (got ${show(address)})`, at);
  }
  if (port !== undefined && (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535)) {
    throw new PoolParseError(`server ${host}: port must be an integer 1..65535 (got ${show(port)})`, at);
  }
  if (weight !== undefined && (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 0 || weight > MAX_WEIGHT)) {
    throw new PoolParseError(`server ${host}: weight must be an integer 0..${MAX_WEIGHT} (got ${show(weight)})`, at);
  }
  if (enabled !== undefined && typeof enabled !== 'boolean') {
    throw new PoolParseError(`server ${host}: enabled must be true or false (got ${show(enabled)})`, at);
  }
  if (pooled !== undefined && !POOLED.includes(pooled as Pooled)) {
    throw new PoolParseError(`server ${host}: pooled must be one of yes, no, inactive (got ${show(pooled)})`, at);
  }
  const p: Pooled = (pooled as Pooled | undefined) ?? (enabled === false ? 'no' : 'yes');
  const entry: PoolEntry = {
    host,
    weight: (weight as number | undefined) ?? 1,
    enabled: (enabled as boolean | undefined) ?? p === 'yes',
    pooled: p,
  };
  if (typeof address === 'string') entry.address = address;
  if (typeof port === 'number') entry.port = port;
  return entry;
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
  } catch {
    return String(v);
  }
}

function noDuplicates(entries: PoolEntry[], lines: number[], where?: string): void {
  const seen = new Map<string, number>();
  entries.forEach((e, i) => {
    const prev = seen.get(e.host);
    if (prev !== undefined) {
      throw new PoolParseError(`server ${e.host} listed twice (first at line ${prev})`, { where, line: lines[i] });
    }
    seen.set(e.host, lines[i] ?? 0);
  });
}

// ---------------------------------------------------------------------------
// PyBal: one Python dict literal per line.

type PyValue = string | number | boolean | null;

/** Parse one line holding a Python dict literal of scalars. Columns are 1-based. */
export function parsePythonDict(text: string, lineNo = 1, where?: string): Record<string, PyValue> {
  let i = 0;
  const fail = (msg: string): never => {
    throw new PoolParseError(msg, { where, line: lineNo, column: i + 1 });
  };
  const ws = (): void => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\r')) i++;
  };
  const str = (): string => {
    const q = text[i];
    i++;
    let out = '';
    while (i < text.length && text[i] !== q) {
      const c = text[i]!;
      if (c === '\\') {
        const n = text[i + 1];
        if (n === undefined) fail('unterminated string');
        const esc: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', '0': '\0' };
        if (esc[n!] === undefined) fail(`unsupported escape \\${n}`);
        out += esc[n!];
        i += 2;
      } else {
        out += c;
        i++;
      }
    }
    if (i >= text.length) fail('unterminated string');
    i++;
    return out;
  };
  const value = (): PyValue => {
    const c = text[i];
    if (c === "'" || c === '"') return str();
    const m = /^(?:True|False|None|[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)(?![\w.])/.exec(text.slice(i));
    if (!m) return fail(`expected a string, number, True, False or None, found ${show(text.slice(i, i + 12))}`);
    i += m[0].length;
    if (m[0] === 'True') return true;
    if (m[0] === 'False') return false;
    if (m[0] === 'None') return null;
    return Number(m[0]);
  };
  ws();
  if (text[i] !== '{') fail(`expected '{' (one Python dict per line)`);
  i++;
  const out: Record<string, PyValue> = {};
  ws();
  if (text[i] === '}') {
    i++;
  } else {
    for (;;) {
      ws();
      if (text[i] === '}') {
        i++; // trailing comma
        break;
      }
      if (text[i] !== "'" && text[i] !== '"') fail('expected a quoted key');
      const k = str();
      ws();
      if (text[i] !== ':') fail(`expected ':' after key '${k}'`);
      i++;
      ws();
      if (Object.hasOwn(out, k)) fail(`key '${k}' given twice`);
      out[k] = value();
      ws();
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === '}') {
        i++;
        break;
      }
      fail(`expected ',' or '}'`);
    }
  }
  ws();
  if (i < text.length && text[i] !== '#') fail(`unexpected text after the dict: ${show(text.slice(i, i + 20))}`);
  return out;
}

/** Parse a whole PyBal pool file. */
export function parsePybalPool(text: string, where?: string): PoolEntry[] {
  const entries: PoolEntry[] = [];
  const lines: number[] = [];
  const all = text.split('\n');
  all.forEach((raw, idx) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const lineNo = idx + 1;
    const d = parsePythonDict(raw, lineNo, where);
    const { host, weight, enabled } = d;
    const input: Record<string, unknown> = { host, weight, enabled };
    if (d['address'] !== undefined) input['address'] = d['address'];
    if (d['pooled'] !== undefined) input['pooled'] = d['pooled'];
    if (d['port'] !== undefined) input['port'] = d['port'];
    // PyBal requires these three; defaults would hide a typo in a production pool.
    for (const k of ['host', 'weight', 'enabled'] as const) {
      if (d[k] === undefined) throw new PoolParseError(`missing '${k}'`, { where, line: lineNo });
    }
    entries.push(normalizeEntry(input, { where, line: lineNo }));
    lines.push(lineNo);
  });
  noDuplicates(entries, lines, where);
  return entries;
}

/** True when the text looks like PyBal's format: every content line is `{...}` with a quoted key. */
export function looksLikePybal(text: string): boolean {
  let any = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (!/^\{\s*(['"]|\})/.test(line)) return false;
    any = true;
  }
  return any;
}

// ---------------------------------------------------------------------------
// YAML / JSON.

function nodeLine(node: YamlNode | null | undefined, lc: LineCounter): { line?: number; column?: number } {
  const start = node?.range?.[0];
  if (start === undefined) return {};
  const p = lc.linePos(start);
  return { line: p.line, column: p.col };
}

/** Parse the YAML/JSON form. An empty document is an error; `[]` or `servers: []` is an explicit empty pool. */
export function parseYamlPool(text: string, where?: string): PoolEntry[] {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const err = doc.errors[0];
  if (err) {
    const p = err.linePos?.[0] ?? lc.linePos(err.pos[0]);
    throw new PoolParseError(`not valid YAML/JSON: ${err.message.split('\n')[0]}`, { where, line: p?.line, column: p?.col });
  }
  const root = doc.contents as YamlNode | null;
  if (root === null || root === undefined) throw new PoolParseError('empty pool document (write [] for an empty pool)', { where, line: 1 });
  let list: YamlNode | null = null;
  const entries: PoolEntry[] = [];
  const lines: number[] = [];
  if (isSeq(root)) {
    list = root;
  } else if (isMap(root)) {
    const servers = root.get('servers', true) as YamlNode | undefined;
    if (servers !== undefined) {
      if (!isSeq(servers)) throw new PoolParseError("'servers' must be a list", { where, ...nodeLine(servers, lc) });
      list = servers;
    } else {
      // host: { weight, enabled | pooled }
      for (const pair of root.items) {
        const k = pair.key as YamlNode & { value?: unknown };
        const at = { where, ...nodeLine(k, lc) };
        const host = k && 'value' in k ? k.value : undefined;
        const v = pair.value as YamlNode | null;
        const body = v === null ? {} : (v as { toJSON(): unknown }).toJSON();
        if (typeof body !== 'object' || body === null || Array.isArray(body)) {
          throw new PoolParseError(`server ${show(host)}: expected a mapping like { weight: 10, pooled: yes }`, at);
        }
        if ('host' in body) throw new PoolParseError(`server ${show(host)}: 'host' is the key here, not a field`, at);
        entries.push(normalizeEntry({ ...body, host }, at));
        lines.push(at.line ?? 0);
      }
    }
  } else {
    throw new PoolParseError('expected a list of servers, a { servers: [...] } mapping, or a host -> server mapping', { where, ...nodeLine(root, lc) });
  }
  if (list !== null && isSeq(list)) {
    for (const item of list.items as YamlNode[]) {
      const at = { where, ...nodeLine(item, lc) };
      const value = item === null ? null : (item as { toJSON(): unknown }).toJSON();
      entries.push(normalizeEntry(value, at));
      lines.push(at.line ?? 0);
    }
  }
  noDuplicates(entries, lines, where);
  return entries;
}

/** Parse a pool document in the given (or sniffed) format. */
export function parsePool(text: string, format: PoolFormat = 'auto', where?: string): PoolEntry[] {
  switch (format) {
    case 'pybal':
      return parsePybalPool(text, where);
    case 'yaml':
    case 'json':
      return parseYamlPool(text, where);
    case 'auto': {
      if (!looksLikePybal(text)) return parseYamlPool(text, where);
      // `{"servers": [...]}` on one line also looks like PyBal; when PyBal's reading of
      // a one-line document fails and YAML/JSON's succeeds, that was it. Otherwise
      // (and always for several dict lines) PyBal's error is the useful one.
      try {
        return parsePybalPool(text, where);
      } catch (err) {
        if (text.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#')).length > 1) throw err;
        try {
          return parseYamlPool(text, where);
        } catch {
          throw err;
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------
// etcd / conftool.

/** Parse a conftool pool value `{"weight": N, "pooled": "yes|no|inactive"}` for `host`. */
export function parseConftoolValue(host: string, text: string, where?: string): PoolEntry {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new PoolParseError(`value of ${host} is not JSON: ${(e as Error).message}`, { where, cause: e });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new PoolParseError(`value of ${host} must be a JSON object like {"weight": 10, "pooled": "yes"}`, { where });
  }
  const o = v as Record<string, unknown>;
  if (o['weight'] === undefined) throw new PoolParseError(`value of ${host} has no weight`, { where });
  if (o['pooled'] === undefined) throw new PoolParseError(`value of ${host} has no pooled`, { where });
  const e = normalizeEntry({ host, weight: o['weight'], pooled: o['pooled'] }, { where });
  return e;
}

/** The conftool value of an entry. */
export function conftoolValue(weight: number, pooled: Pooled): string {
  return JSON.stringify({ weight, pooled });
}

/** conftool's pool prefix for a service. */
export function conftoolPrefix(dc: string, cluster: string, service: string): string {
  for (const [k, v] of [['dc', dc], ['cluster', cluster], ['service', service]] as const) {
    if (v === '' || v.includes('/')) throw new PoolParseError(`etcd ${k} ${show(v)} must be non-empty and without '/'`);
  }
  return `/conftool/v1/pools/${dc}/${cluster}/${service}/`;
}

export type { PoolEntryInput };
