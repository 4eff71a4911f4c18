import { LvskitError, type LvskitErrorOptions } from '../util/errors.js';

/**
 * What a receiver does about a malformed UPDATE (RFC 7606 §2):
 * - `session-reset`: send the NOTIFICATION and close the session (RFC 4271 §6).
 * - `treat-as-withdraw`: keep the session; the UPDATE's NLRI are withdrawn.
 * - `attribute-discard`: keep the session; drop the offending attribute.
 */
export type ErrorHandling = 'session-reset' | 'treat-as-withdraw' | 'attribute-discard';

export interface BgpErrorOptions extends LvskitErrorOptions {
  /** NOTIFICATION error code (RFC 4271 §4.5). */
  notificationCode: number;
  /** NOTIFICATION error subcode. */
  notificationSubcode: number;
  /** NOTIFICATION data field (often the offending bytes). */
  data?: Uint8Array;
  /** RFC 7606 handling; defaults to `session-reset`. */
  handling?: ErrorHandling;
}

/**
 * A BGP failure that knows its wire meaning: the NOTIFICATION to send (or that
 * was received) and how RFC 7606 says to handle it.
 */
export class BgpError extends LvskitError {
  readonly notificationCode: number;
  readonly notificationSubcode: number;
  readonly data: Uint8Array;
  readonly handling: ErrorHandling;

  constructor(code: string, message: string, options: BgpErrorOptions) {
    super(code, message, options);
    this.notificationCode = options.notificationCode;
    this.notificationSubcode = options.notificationSubcode;
    this.data = options.data ?? new Uint8Array(0);
    this.handling = options.handling ?? 'session-reset';
  }
}
