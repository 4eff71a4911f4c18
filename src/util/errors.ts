/**
 * The one error base of lvskit.
 *
 * Every error the library raises is an `LvskitError` with a string `code`
 * (`ERR_BGP_HOLD_TIMER_EXPIRED`, `ERR_IPVS_NO_SERVICE`, ...), an optional `cause`,
 * and a brand stored under `Symbol.for('lvskit.error')`. The brand makes
 * `instanceof LvskitError` true across the ESM and CJS builds of the package,
 * which otherwise hold two distinct class objects when both get loaded.
 */

const BRAND: unique symbol = Symbol.for('lvskit.error') as never;

export interface LvskitErrorOptions {
  cause?: unknown;
}

export class LvskitError extends Error {
  /** Stable machine-readable code, `ERR_<MODULE>_<WHAT>`. */
  readonly code: string;

  constructor(code: string, message: string, options?: LvskitErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    Object.defineProperty(this, BRAND, { value: true, enumerable: false });
  }

  override get name(): string {
    return this.constructor.name;
  }

  /**
   * Brand check. A value is an instance when it carries the lvskit brand and,
   * for subclasses, when a class of the same name is on its prototype chain.
   * This holds across the ESM and CJS builds (two copies of every class) and
   * across two installed copies of the package, where a plain prototype check
   * would fail. Class names are kept in the build (tsup `keepNames`).
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== 'object' || value === null) return false;
    if ((value as Record<symbol, unknown>)[BRAND] !== true) return false;
    if (this.name === 'LvskitError') return true;
    for (let p = Object.getPrototypeOf(value) as object | null; p !== null; p = Object.getPrototypeOf(p) as object | null) {
      const ctor = (p as { constructor?: unknown }).constructor;
      if (ctor === this || (typeof ctor === 'function' && ctor.name === this.name)) return true;
    }
    return false;
  }
}

/** True when `value` is an lvskit error, optionally with a given code. */
export function isLvskitError(value: unknown, code?: string): value is LvskitError {
  return value instanceof LvskitError && (code === undefined || value.code === code);
}

/** Raised when an `AbortSignal` ends an operation; `cause` holds the signal's reason. */
export class AbortError extends LvskitError {
  constructor(reason?: unknown) {
    super('ERR_ABORTED', reasonMessage(reason), { cause: reason });
  }
}

/** Raised when an operation's own deadline passes. */
export class TimeoutError extends LvskitError {
  readonly timeoutMs: number;
  constructor(timeoutMs: number, what = 'operation') {
    super('ERR_TIMEOUT', `${what} timed out after ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
  }
}

/** Raised by byte readers and codecs when input ends early or is malformed. */
export class DecodeError extends LvskitError {
  /** Byte offset into the input at which decoding failed. */
  readonly offset: number;
  constructor(code: string, message: string, offset: number, options?: LvskitErrorOptions) {
    super(code, `${message} (at byte ${offset})`, options);
    this.offset = offset;
  }
}

function reasonMessage(reason: unknown): string {
  if (reason instanceof Error) return `aborted: ${reason.message}`;
  if (reason === undefined) return 'aborted';
  return `aborted: ${String(reason)}`;
}
