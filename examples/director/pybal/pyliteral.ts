/**
 * The Python literals pybal.conf values hold: `[ 'ProxyFetch', 'IdleConnection' ]`,
 * `[ '/etc/check', server.host, '2' ]`, a bare string, numbers. PyBal eval()s
 * these; we parse the literal subset and keep names like `server.host` as references.
 */
import { PybalConfError } from '../sources/errors.js';

export type PyLit = string | number | boolean | null | { ref: string } | PyLit[];

export function parsePyLiteral(text: string, where: string, line: number): PyLit {
  let i = 0;
  const fail = (msg: string): never => {
    throw new PybalConfError(`${msg} in ${JSON.stringify(text.length > 80 ? `${text.slice(0, 77)}...` : text)}`, { where, line });
  };
  const ws = (): void => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const value = (): PyLit => {
    ws();
    const c = text[i];
    if (c === '[' || c === '(') {
      const close = c === '[' ? ']' : ')';
      i++;
      const out: PyLit[] = [];
      for (;;) {
        ws();
        if (text[i] === close) {
          i++;
          return out;
        }
        out.push(value());
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === close) {
          i++;
          return out;
        }
        fail(`expected ',' or '${close}'`);
      }
    }
    if (c === "'" || c === '"') {
      const q = c;
      i++;
      let s = '';
      while (i < text.length && text[i] !== q) {
        if (text[i] === '\\' && i + 1 < text.length) {
          const n = text[i + 1]!;
          s += ({ n: '\n', t: '\t', '\\': '\\', "'": "'", '"': '"' } as Record<string, string>)[n] ?? `\\${n}`;
          i += 2;
        } else s += text[i++];
      }
      if (i >= text.length) fail('unterminated string');
      i++;
      return s;
    }
    const m = /^(True|False|None|[+-]?\d+(?:\.\d+)?|[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*)/.exec(text.slice(i));
    if (!m) return fail('expected a Python literal');
    i += m[0].length;
    if (m[0] === 'True') return true;
    if (m[0] === 'False') return false;
    if (m[0] === 'None') return null;
    if (/^[+-]?\d/.test(m[0])) return Number(m[0]);
    return { ref: m[0] };
  };
  const v = value();
  ws();
  if (i < text.length) fail('unexpected text after the value');
  return v;
}

/** A value PyBal reads with `_getConfigStringList`: one string or a non-empty list of strings. */
export function pyStringList(text: string, key: string, where: string, line: number): string[] {
  const t = text.trim();
  // An unquoted single value (PyBal would eval it and fail; people write it anyway): take it as is.
  if (!/^[[('"]/.test(t)) return [t];
  const v = parsePyLiteral(t, where, line);
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string')) return v as string[];
  throw new PybalConfError(`${key} must be a string or a non-empty list of strings`, { where, line });
}
