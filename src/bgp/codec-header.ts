/**
 * The BGP message header (RFC 4271 §4.1) and a stream framer that cuts a TCP
 * byte stream into whole messages.
 *
 * The framer checks each header as soon as its 19 bytes are in (RFC 4271 §6.1):
 * a bad marker, a length outside the limits or an unknown type raises the
 * `BgpError` to send as a NOTIFICATION before the body is even buffered, so a
 * peer cannot make us hold a bogus 64 KiB "message".
 */
import {
  BGP_HEADER_LENGTH,
  BGP_MAX_EXTENDED_MESSAGE_LENGTH,
  BGP_MAX_MESSAGE_LENGTH,
  ErrorCode,
  HeaderErrorSubcode,
  MessageType,
} from './constants.js';
import { bgpError } from './errors.js';

/** The all-ones marker (RFC 4271 §4.1). */
export const MARKER: Uint8Array = new Uint8Array(16).fill(0xff);

export interface MessageHeader {
  type: MessageType;
  /** Total message length including the 19-byte header. */
  length: number;
}

/** Smallest and largest length of each message type (RFC 4271 §4.2-§4.5, §6.1; RFC 2918 §3). */
const LIMITS: Record<MessageType, { min: number; max?: number }> = {
  [MessageType.OPEN]: { min: 29, max: BGP_MAX_MESSAGE_LENGTH }, // RFC 8654 §4: OPEN stays <= 4096
  [MessageType.UPDATE]: { min: 23 },
  [MessageType.NOTIFICATION]: { min: 21 },
  [MessageType.KEEPALIVE]: { min: 19, max: 19 },
  // RFC 7313 §5 answers a bad ROUTE-REFRESH length with its own error, checked by the message decoder.
  [MessageType.ROUTE_REFRESH]: { min: 19 },
};

export function isMessageType(t: number): t is MessageType {
  return t >= MessageType.OPEN && t <= MessageType.ROUTE_REFRESH;
}

/** Write a header for a message of `length` total bytes into `out` at `offset`. */
export function writeHeader(out: Uint8Array, offset: number, type: MessageType, length: number): void {
  out.set(MARKER, offset);
  out[offset + 16] = length >> 8;
  out[offset + 17] = length & 0xff;
  out[offset + 18] = type;
}

export function encodeHeader(h: MessageHeader): Uint8Array {
  const out = new Uint8Array(BGP_HEADER_LENGTH);
  writeHeader(out, 0, h.type, h.length);
  return out;
}

export function headerLength(): number {
  return BGP_HEADER_LENGTH;
}

/**
 * Decode and check the header at `offset` (the 19 bytes must be there).
 * `maxLength` is 4096, or 65535 once the extended message capability is
 * negotiated (RFC 8654 §4).
 */
export function decodeHeader(buf: Uint8Array, offset = 0, maxLength: number = BGP_MAX_MESSAGE_LENGTH): MessageHeader {
  if (buf.length - offset < BGP_HEADER_LENGTH) {
    throw bgpError(ErrorCode.MESSAGE_HEADER, HeaderErrorSubcode.BAD_MESSAGE_LENGTH, `only ${buf.length - offset} header byte(s)`, {
      data: buf.slice(offset + 16, offset + 18),
    });
  }
  // RFC 4271 §6.1: a marker that is not all ones means the connection is not synchronized.
  // (A loop, not a subarray compare: this runs for every message of a full table, twice.)
  for (let i = offset; i < offset + 16; i++) {
    if (buf[i] !== 0xff) throw bgpError(ErrorCode.MESSAGE_HEADER, HeaderErrorSubcode.CONNECTION_NOT_SYNCHRONIZED, 'marker is not all ones');
  }
  const length = ((buf[offset + 16] as number) << 8) | (buf[offset + 17] as number);
  const type = buf[offset + 18] as number;
  // RFC 4271 §6.1: Bad Message Length carries the erroneous length field as data (copied only then).
  if (length < BGP_HEADER_LENGTH || length > Math.min(maxLength, BGP_MAX_EXTENDED_MESSAGE_LENGTH)) {
    throw bgpError(ErrorCode.MESSAGE_HEADER, HeaderErrorSubcode.BAD_MESSAGE_LENGTH, `length ${length} outside 19..${maxLength}`, {
      data: buf.slice(offset + 16, offset + 18),
    });
  }
  // RFC 4271 §6.1: Bad Message Type carries the type octet as data.
  if (!isMessageType(type)) {
    throw bgpError(ErrorCode.MESSAGE_HEADER, HeaderErrorSubcode.BAD_MESSAGE_TYPE, `unknown message type ${type}`, {
      data: Uint8Array.of(type),
    });
  }
  const lim = LIMITS[type];
  if (length < lim.min || (lim.max !== undefined && length > lim.max)) {
    throw bgpError(
      ErrorCode.MESSAGE_HEADER,
      HeaderErrorSubcode.BAD_MESSAGE_LENGTH,
      `length ${length} is not valid for message type ${type} (${lim.min}..${lim.max ?? maxLength})`,
      { data: buf.slice(offset + 16, offset + 18) },
    );
  }
  return { type, length };
}

/**
 * Cuts a byte stream into whole BGP messages. Feed it chunks as they arrive;
 * it returns each complete message (header included) as its own `Uint8Array`.
 * A bad header throws a `BgpError` (session reset, RFC 4271 §6.1); after that
 * the framer is poisoned and throws the same error again, since the stream
 * cannot be resynchronized.
 */
export class MessageFramer {
  #maxLength: number;
  #buf: Uint8Array = new Uint8Array(0);
  #error: Error | undefined;

  constructor(options: { maxLength?: number } = {}) {
    this.#maxLength = options.maxLength ?? BGP_MAX_MESSAGE_LENGTH;
  }

  /** Raise the limit to 65535 after the extended message capability is negotiated (RFC 8654 §3). */
  set maxLength(n: number) {
    this.#maxLength = n;
  }
  get maxLength(): number {
    return this.#maxLength;
  }

  /** Bytes held waiting for the rest of a message. */
  get buffered(): number {
    return this.#buf.length;
  }

  /** Add `chunk` and return every message it completes, in order. */
  push(chunk: Uint8Array): Uint8Array[] {
    if (this.#error !== undefined) throw this.#error;
    let buf: Uint8Array;
    if (this.#buf.length === 0) buf = chunk;
    else {
      buf = new Uint8Array(this.#buf.length + chunk.length);
      buf.set(this.#buf);
      buf.set(chunk, this.#buf.length);
    }
    const out: Uint8Array[] = [];
    let at = 0;
    // Each pass consumes at least one header (>= 19 bytes) or leaves: bounded by buf.length / 19.
    while (buf.length - at >= BGP_HEADER_LENGTH) {
      let h: MessageHeader;
      try {
        h = decodeHeader(buf, at, this.#maxLength);
      } catch (e) {
        this.#error = e as Error;
        this.#buf = new Uint8Array(0);
        throw e;
      }
      if (buf.length - at < h.length) break;
      // A copy, so the caller may keep it while the socket reuses its buffer.
      out.push(buf.slice(at, at + h.length));
      at += h.length;
    }
    this.#buf = at === buf.length ? new Uint8Array(0) : buf.slice(at);
    return out;
  }
}
