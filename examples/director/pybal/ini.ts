/**
 * pybal.conf reader: the INI dialect of Python 2's SafeConfigParser, which is
 * what PyBal reads its configuration with.
 *
 * - `[section]` headers; `key = value` or `key: value`;
 * - comment lines start with `#` or `;` (a `;` after whitespace ends a value too);
 * - a line starting with whitespace continues the previous value;
 * - keys are case-insensitive (lower-cased);
 * - `[DEFAULT]` values apply to every section;
 * - `%(name)s` interpolates another key of the section (or DEFAULT), `%%` is `%`.
 */
import { PybalConfError } from '../sources/errors.js';

export interface IniValue {
  value: string;
  /** 1-based line of the key. */
  line: number;
}

export interface IniSection {
  name: string;
  line: number;
  /** Keys in file order, lower-cased. */
  values: Map<string, IniValue>;
}

export interface IniFile {
  sections: IniSection[];
  defaults: Map<string, IniValue>;
}

export function parseIni(text: string, where = 'pybal.conf'): IniFile {
  const sections: IniSection[] = [];
  const defaults = new Map<string, IniValue>();
  let current: Map<string, IniValue> | undefined;
  let lastKey: { map: Map<string, IniValue>; key: string } | undefined;
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const lineNo = i + 1;
    if (/^\s*([#;]|$)/.test(raw) || /^rem(\s|$)/i.test(raw)) {
      if (raw.trim() === '') lastKey = undefined;
      return;
    }
    if (/^\s/.test(raw)) {
      if (lastKey === undefined) throw new PybalConfError('continuation line without a key above it', { where, line: lineNo });
      const v = lastKey.map.get(lastKey.key)!;
      v.value = `${v.value}\n${stripComment(raw.trim())}`;
      return;
    }
    const sec = /^\[([^\]]+)\]\s*$/.exec(raw);
    if (sec) {
      const name = sec[1]!.trim();
      if (name === 'DEFAULT') {
        current = defaults;
      } else {
        if (sections.some((s) => s.name === name)) throw new PybalConfError(`section [${name}] appears twice`, { where, line: lineNo });
        const s: IniSection = { name, line: lineNo, values: new Map() };
        sections.push(s);
        current = s.values;
      }
      lastKey = undefined;
      return;
    }
    const kv = /^([^=:]+?)\s*[=:]\s*(.*)$/.exec(raw);
    if (!kv) throw new PybalConfError(`cannot read this line (expected [section] or key = value): ${raw.slice(0, 60)}`, { where, line: lineNo });
    if (current === undefined) throw new PybalConfError('key = value before any [section]', { where, line: lineNo });
    const key = kv[1]!.trim().toLowerCase();
    current.set(key, { value: stripComment(kv[2]!.trim()), line: lineNo });
    lastKey = { map: current, key };
  });
  // Interpolation, section by section.
  for (const s of sections) {
    for (const [k, v] of s.values) v.value = interpolate(v.value, k, s.values, defaults, where, v.line, 0);
    for (const [k, v] of defaults) {
      if (!s.values.has(k)) s.values.set(k, { value: interpolate(v.value, k, s.values, defaults, where, v.line, 0), line: v.line });
    }
  }
  return { sections, defaults };
}

function stripComment(v: string): string {
  // SafeConfigParser (Python 2) ends a value at ' ;' (an inline comment); '#' stays part of the value.
  const i = v.search(/\s;/);
  return (i >= 0 ? v.slice(0, i) : v).trim();
}

function interpolate(value: string, key: string, vals: Map<string, IniValue>, defs: Map<string, IniValue>, where: string, line: number, depth: number): string {
  if (!value.includes('%')) return value;
  if (depth > 10) throw new PybalConfError(`interpolation of '${key}' nests too deep (a loop?)`, { where, line });
  return value.replace(/%(%|\(([^)]+)\)s)/g, (m, _all: string, name: string | undefined) => {
    if (m === '%%') return '%';
    const ref = vals.get(name!.toLowerCase()) ?? defs.get(name!.toLowerCase());
    if (ref === undefined) throw new PybalConfError(`'${key}' refers to %(${name})s, which is not set`, { where, line });
    return interpolate(ref.value, name!, vals, defs, where, line, depth + 1);
  });
}

/** SafeConfigParser.getboolean's words. */
export function iniBool(v: IniValue, key: string, where: string): boolean {
  const s = v.value.toLowerCase();
  if (['1', 'yes', 'true', 'on'].includes(s)) return true;
  if (['0', 'no', 'false', 'off'].includes(s)) return false;
  throw new PybalConfError(`${key} must be yes/no, true/false, on/off or 1/0 (got ${JSON.stringify(v.value)})`, { where, line: v.line });
}
