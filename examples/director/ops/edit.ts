/**
 * Edit one server's entry in a pool document, keeping everything else as it was
 * (pure: text in, text out).
 *
 * - PyBal format: only that host's line is rewritten; comments, order and the
 *   other lines stay byte for byte.
 * - YAML: the node is changed in place (comments and layout of the rest kept).
 * - JSON (PyBal's `host -> {enabled, weight}` or a list): rewritten as JSON.
 *
 * The result is parsed again before it is returned, so a write can never leave
 * a document the pool source would refuse.
 */
import { isMap, isScalar, isSeq, parseDocument, type Node as YamlNode, type YAMLMap } from 'yaml';
import { PoolSourceError } from '../sources/errors.js';
import { looksLikePybal, parsePool, parsePythonDict } from '../sources/parse.js';
import type { PoolEntry, PoolFormat, Pooled } from '../sources/types.js';

export interface EntryChange {
  weight?: number;
  pooled?: Extract<Pooled, 'yes' | 'no'>;
}

export interface EditResult {
  text: string;
  before: PoolEntry;
  after: PoolEntry;
}

function opError(msg: string, where?: string): PoolSourceError {
  return new PoolSourceError('ERR_POOL_OP', msg, { where });
}

export function editPoolText(text: string, format: PoolFormat, host: string, change: EntryChange, where?: string): EditResult {
  const entries = parsePool(text, format, where); // refuses a malformed document before we touch it
  const before = entries.find((e) => e.host === host);
  if (before === undefined) throw opError(`host ${host} is not in the pool (known: ${entries.map((e) => e.host).join(', ') || 'none'})`, where);
  const pybal = format === 'pybal' || (format === 'auto' && looksLikePybal(text) && isPybalParsable(text));
  const out = pybal ? editPybal(text, host, change, where) : editYaml(text, host, change, where);
  const after = parsePool(out, pybal ? 'pybal' : format, where).find((e) => e.host === host);
  if (after === undefined) throw opError(`internal: host ${host} vanished from the edited pool`, where);
  return { text: out, before, after };
}

function isPybalParsable(text: string): boolean {
  try {
    parsePool(text, 'pybal');
    return true;
  } catch {
    return false;
  }
}

function pyRepr(v: unknown): string {
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (v === null) return 'None';
  if (typeof v === 'number') return String(v);
  return `'${String(v).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function editPybal(text: string, host: string, change: EntryChange, where?: string): string {
  const lines = text.split('\n');
  let done = false;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const t = raw.trim();
    if (t === '' || t.startsWith('#')) continue;
    const d = parsePythonDict(raw, i + 1, where);
    if (d['host'] !== host) continue;
    if (change.weight !== undefined) d['weight'] = change.weight;
    if (change.pooled !== undefined) {
      d['enabled'] = change.pooled === 'yes';
      if (d['pooled'] !== undefined) d['pooled'] = change.pooled;
    }
    const indent = /^\s*/.exec(raw)![0];
    const body = Object.entries(d)
      .map(([k, v]) => `${pyRepr(k)}: ${pyRepr(v)}`)
      .join(', ');
    lines[i] = `${indent}{ ${body} }`;
    done = true;
    break;
  }
  if (!done) throw opError(`host ${host} is not in the pool`, where);
  return lines.join('\n');
}

function editYaml(text: string, host: string, change: EntryChange, where?: string): string {
  const doc = parseDocument(text, { uniqueKeys: true });
  const root = doc.contents as YamlNode | null;
  let node: YAMLMap | undefined;
  const findIn = (seq: YamlNode | undefined): void => {
    if (!isSeq(seq)) return;
    for (const item of seq.items) if (isMap(item) && item.get('host') === host) node = item;
  };
  if (isSeq(root)) findIn(root);
  else if (isMap(root)) {
    const servers = root.get('servers', true) as YamlNode | undefined;
    if (servers !== undefined) findIn(servers);
    else {
      for (const pair of root.items) {
        if (isScalar(pair.key) && pair.key.value === host) {
          if (pair.value === null || !isMap(pair.value)) {
            pair.value = doc.createNode({});
          }
          node = pair.value as YAMLMap;
        }
      }
    }
  }
  if (node === undefined) throw opError(`host ${host} is not in the pool`, where);
  if (change.weight !== undefined) node.set('weight', change.weight);
  if (change.pooled !== undefined) {
    const hasPooled = node.has('pooled');
    const hasEnabled = node.has('enabled');
    if (hasPooled) node.set('pooled', change.pooled);
    if (hasEnabled || !hasPooled) node.set('enabled', change.pooled === 'yes');
  }
  const t = text.trimStart();
  if (t.startsWith('{') || t.startsWith('[')) {
    try {
      JSON.parse(text);
      return `${JSON.stringify(doc.toJS(), null, 2)}\n`;
    } catch {
      /* YAML flow style, not JSON: keep YAML */
    }
  }
  return doc.toString();
}
