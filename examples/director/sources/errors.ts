/**
 * Typed errors of the director's pool sources.
 *
 * The director imports lvskit by package name, but the sources need nothing from
 * it, so they carry their own error class. It is branded with the same
 * `Symbol.for('lvskit.error')` as lvskit's `LvskitError`, so
 * `err instanceof LvskitError` (and `isLvskitError(err, code)`) hold for these too.
 */

const BRAND = Symbol.for('lvskit.error');

/** Every code a pool source, parser, migration or operator command raises. */
export type PoolErrorCode =
  /** A pool document (PyBal dict line, YAML, JSON, etcd value) is malformed. */
  | 'ERR_POOL_PARSE'
  /** A pool source spec is invalid (missing URL, bad endpoint, ...). */
  | 'ERR_POOL_SPEC'
  /** A pool file cannot be read (missing, permission denied, is a directory). */
  | 'ERR_POOL_FILE'
  /** An HTTP pool URL answered with a non-2xx status. */
  | 'ERR_POOL_HTTP_STATUS'
  /** An HTTP pool URL could not be reached (refused, reset, DNS). */
  | 'ERR_POOL_HTTP_UNREACHABLE'
  /** A request (HTTP fetch, etcd call) passed its deadline. */
  | 'ERR_POOL_TIMEOUT'
  /** No etcd endpoint answered. */
  | 'ERR_POOL_ETCD_UNAVAILABLE'
  /** etcd answered with an error (auth, permission, bad request). */
  | 'ERR_POOL_ETCD_RESPONSE'
  /** The watch's revision was compacted: the source re-reads the prefix and watches again. */
  | 'ERR_POOL_ETCD_COMPACTED'
  /** A pybal.conf cannot be migrated (syntax error, unsupported value). */
  | 'ERR_PYBAL_CONF'
  /** An operator command (pool/depool/drain) cannot be carried out. */
  | 'ERR_POOL_OP';

export interface PoolSourceErrorOptions {
  cause?: unknown;
  /** The file or URL the error is about. */
  where?: string;
  /** 1-based line of the offending input, when it has lines. */
  line?: number;
  /** 1-based column, when known. */
  column?: number;
  /** HTTP status, for ERR_POOL_HTTP_STATUS. */
  status?: number;
}

export class PoolSourceError extends Error {
  readonly code: PoolErrorCode;
  readonly where: string | undefined;
  readonly line: number | undefined;
  readonly column: number | undefined;
  readonly status: number | undefined;

  constructor(code: PoolErrorCode, message: string, options: PoolSourceErrorOptions = {}) {
    const at =
      options.where !== undefined
        ? ` (${options.where}${options.line !== undefined ? `:${options.line}` : ''}${options.line !== undefined && options.column !== undefined ? `:${options.column}` : ''})`
        : options.line !== undefined
          ? ` (line ${options.line})`
          : '';
    super(`${message}${at}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.where = options.where;
    this.line = options.line;
    this.column = options.column;
    this.status = options.status;
    Object.defineProperty(this, BRAND, { value: true, enumerable: false });
  }

  override get name(): string {
    return this.constructor.name;
  }
}

/** A malformed pool document; `line` says where. */
export class PoolParseError extends PoolSourceError {
  constructor(message: string, options: PoolSourceErrorOptions = {}) {
    super('ERR_POOL_PARSE', message, options);
  }
}

/** A pybal.conf the migration cannot read. */
export class PybalConfError extends PoolSourceError {
  constructor(message: string, options: PoolSourceErrorOptions = {}) {
    super('ERR_PYBAL_CONF', message, options);
  }
}

export function isPoolSourceError(value: unknown, code?: PoolErrorCode): value is PoolSourceError {
  return value instanceof PoolSourceError && (code === undefined || value.code === code);
}

/** A network error as one readable phrase: its message, with its code when the message lacks it. */
export function netErrorText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const msg = typeof e?.message === 'string' && e.message !== '' ? e.message : String(err);
  return e?.code !== undefined && !msg.includes(e.code) ? `${msg} (${e.code})` : msg;
}
