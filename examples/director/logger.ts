/**
 * Logs: pino JSON lines (what log shippers want), or a short pretty form for
 * a terminal. The pretty form is a tiny formatter of our own over pino's JSON
 * (pino-pretty is not a dependency): `12:00:01.234 INFO  msg  key=value ...`.
 */
import { Writable } from 'node:stream';
import { pino, type Logger as PinoLogger } from 'pino';

export type LogFormat = 'auto' | 'json' | 'pretty';

export interface LoggerOptions {
  level?: string;
  format?: LogFormat;
  /** Where the lines go (default stdout). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Colours in pretty mode (default: the stream is a TTY and NO_COLOR is unset). */
  color?: boolean;
}

const LEVELS: Record<number, [string, string]> = {
  10: ['TRACE', '\x1b[90m'],
  20: ['DEBUG', '\x1b[36m'],
  30: ['INFO ', '\x1b[32m'],
  40: ['WARN ', '\x1b[33m'],
  50: ['ERROR', '\x1b[31m'],
  60: ['FATAL', '\x1b[35m'],
};
const OMIT = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'name']);

function fmtValue(v: unknown): string {
  if (typeof v === 'string') return /[\s"=]/.test(v) || v === '' ? JSON.stringify(v) : v;
  if (typeof v === 'object' && v !== null) {
    const e = v as { type?: string; message?: string; code?: string };
    if (typeof e.message === 'string' && typeof e.type === 'string') return JSON.stringify(`${e.code ?? e.type}: ${e.message}`);
    return JSON.stringify(v);
  }
  return String(v);
}

/** One pino JSON line in the pretty form. */
export function prettyLine(line: string, color = false): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const t = typeof rec.time === 'number' ? new Date(rec.time).toISOString().slice(11, 23) : '';
  const [name, c] = LEVELS[rec.level as number] ?? ['?    ', ''];
  const lvl = color ? `${c}${name}\x1b[0m` : name;
  const extras = Object.entries(rec)
    .filter(([k]) => !OMIT.has(k))
    .map(([k, v]) => `${color ? `\x1b[90m${k}=\x1b[0m` : `${k}=`}${fmtValue(v)}`);
  return `${t} ${lvl} ${String(rec.msg ?? '')}${extras.length > 0 ? `  ${extras.join(' ')}` : ''}`;
}

/** A writable that turns pino's JSON lines into pretty lines on `out`. */
export function prettyStream(out: NodeJS.WritableStream, color = false): Writable {
  let buf = '';
  return new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      buf += chunk.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line !== '') out.write(`${prettyLine(line, color)}\n`);
      }
      cb();
    },
  });
}

/** The director's logger: JSON unless the format is pretty (or auto on a terminal). */
export function createLogger(options: LoggerOptions = {}): PinoLogger {
  const out = options.stream ?? process.stdout;
  const tty = (out as { isTTY?: boolean }).isTTY === true;
  const pretty = options.format === 'pretty' || (options.format !== 'json' && tty);
  const level = options.level ?? 'info';
  const base = { base: undefined, level };
  if (!pretty) return pino(base, out as NodeJS.WritableStream as never);
  const color = options.color ?? (tty && process.env.NO_COLOR === undefined);
  return pino(base, prettyStream(out, color));
}
