/**
 * The logger lvskit accepts: the subset of pino's interface the library calls.
 * A pino instance fits as is; so does anything with these methods. The library
 * never creates its own logger: without one it logs nothing.
 */

export type LogFn = {
  (obj: object, msg?: string): void;
  (msg: string): void;
};

export interface Logger {
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  fatal: LogFn;
  /** A logger whose records carry `bindings` (e.g. `{ peer: '192.0.2.1' }`). */
  child(bindings: Record<string, unknown>): Logger;
}

const noop: LogFn = () => undefined;

/** A logger that drops everything. */
export const noopLogger: Logger = {
  trace: noop,
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  fatal: noop,
  child: () => noopLogger,
};
