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

/** Names of the NOTIFICATION codes and subcodes, for messages and string error codes. */
const CODE_NAMES: Record<number, string> = {
  1: 'Message Header Error',
  2: 'OPEN Message Error',
  3: 'UPDATE Message Error',
  4: 'Hold Timer Expired',
  5: 'Finite State Machine Error',
  6: 'Cease',
  7: 'ROUTE-REFRESH Message Error',
};

const SUBCODE_NAMES: Record<number, Record<number, string>> = {
  // RFC 4271 §6.1
  1: { 1: 'Connection Not Synchronized', 2: 'Bad Message Length', 3: 'Bad Message Type' },
  // RFC 4271 §6.2; 7 RFC 5492 §5; 11 RFC 9234 §4.2
  2: {
    0: 'Unspecific',
    1: 'Unsupported Version Number',
    2: 'Bad Peer AS',
    3: 'Bad BGP Identifier',
    4: 'Unsupported Optional Parameter',
    6: 'Unacceptable Hold Time',
    7: 'Unsupported Capability',
    11: 'Role Mismatch',
  },
  // RFC 4271 §6.3
  3: {
    0: 'Unspecific',
    1: 'Malformed Attribute List',
    2: 'Unrecognized Well-known Attribute',
    3: 'Missing Well-known Attribute',
    4: 'Attribute Flags Error',
    5: 'Attribute Length Error',
    6: 'Invalid ORIGIN Attribute',
    8: 'Invalid NEXT_HOP Attribute',
    9: 'Optional Attribute Error',
    10: 'Invalid Network Field',
    11: 'Malformed AS_PATH',
  },
  // RFC 6608 §4
  5: {
    0: 'Unspecified Error',
    1: 'Receive Unexpected Message in OpenSent State',
    2: 'Receive Unexpected Message in OpenConfirm State',
    3: 'Receive Unexpected Message in Established State',
  },
  // RFC 4486 §4, RFC 8538 §5, RFC 9384
  6: {
    1: 'Maximum Number of Prefixes Reached',
    2: 'Administrative Shutdown',
    3: 'Peer De-configured',
    4: 'Administrative Reset',
    5: 'Connection Rejected',
    6: 'Other Configuration Change',
    7: 'Connection Collision Resolution',
    8: 'Out of Resources',
    9: 'Hard Reset',
    10: 'BFD Down',
  },
  // RFC 7313 §5
  7: { 1: 'Invalid Message Length' },
};

/** Human name of a NOTIFICATION code/subcode pair, e.g. `UPDATE Message Error / Malformed AS_PATH`. */
export function notificationName(code: number, subcode: number): string {
  const c = CODE_NAMES[code] ?? `Unknown Error Code ${code}`;
  const s = SUBCODE_NAMES[code]?.[subcode];
  if (s !== undefined) return `${c} / ${s}`;
  return subcode === 0 ? c : `${c} / subcode ${subcode}`;
}

/**
 * The string error code for a NOTIFICATION pair: the subcode's name in upper
 * snake case (`ERR_BGP_MALFORMED_AS_PATH`), or the code's when the subcode has
 * none (`ERR_BGP_HOLD_TIMER_EXPIRED`).
 */
export function notificationErrorCode(code: number, subcode: number): string {
  const name = SUBCODE_NAMES[code]?.[subcode] ?? CODE_NAMES[code] ?? 'NOTIFICATION';
  const snake = name
    .replace(/[^A-Za-z0-9]+/g, '_')
    .replace(/^_|_$/g, '')
    .toUpperCase();
  return `ERR_BGP_${snake === 'UNSPECIFIC' || snake === 'UNSPECIFIED_ERROR' ? (CODE_NAMES[code] ?? 'ERROR').replace(/[^A-Za-z0-9]+/g, '_').toUpperCase() : snake}`;
}

/**
 * A `BgpError` for a NOTIFICATION pair, with the string code derived from it.
 * `detail` explains what exactly was wrong (it goes into the message, not on the wire).
 */
export function bgpError(
  code: number,
  subcode: number,
  detail: string,
  options: { data?: Uint8Array; handling?: ErrorHandling; cause?: unknown } = {},
): BgpError {
  return new BgpError(notificationErrorCode(code, subcode), `${notificationName(code, subcode)}: ${detail}`, {
    notificationCode: code,
    notificationSubcode: subcode,
    ...options,
  });
}
