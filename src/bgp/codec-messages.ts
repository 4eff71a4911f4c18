/**
 * The small messages: KEEPALIVE (RFC 4271 §4.4), NOTIFICATION (RFC 4271 §4.5,
 * shutdown communication RFC 9003) and ROUTE-REFRESH (RFC 2918 §3, subtypes
 * RFC 7313 §3.2). Each function works on the whole message, header included.
 */
import { BGP_HEADER_LENGTH, CeaseSubcode, ErrorCode, MessageType, RouteRefreshErrorSubcode } from './constants.js';
import { decodeHeader, writeHeader } from './codec-header.js';
import type { BgpError } from './errors.js';
import { bgpError, notificationName } from './errors.js';

// ---------------------------------------------------------------------------
// KEEPALIVE

export function keepaliveLength(): number {
  return BGP_HEADER_LENGTH;
}

export function encodeKeepalive(): Uint8Array {
  const out = new Uint8Array(BGP_HEADER_LENGTH);
  writeHeader(out, 0, MessageType.KEEPALIVE, BGP_HEADER_LENGTH);
  return out;
}

/** Check a KEEPALIVE at `offset` (the header check enforces its length of exactly 19, RFC 4271 §6.1). */
export function decodeKeepalive(buf: Uint8Array, offset = 0): Record<string, never> {
  const h = decodeHeader(buf, offset);
  if (h.type !== MessageType.KEEPALIVE) throw new RangeError(`decodeKeepalive: message type ${h.type} is not KEEPALIVE`);
  return {};
}

// ---------------------------------------------------------------------------
// NOTIFICATION

export interface NotificationMessage {
  code: number;
  subcode: number;
  data: Uint8Array;
}

export function notificationLength(msg: NotificationMessage): number {
  return BGP_HEADER_LENGTH + 2 + msg.data.length;
}

export function encodeNotification(msg: NotificationMessage): Uint8Array {
  const length = notificationLength(msg);
  if (length > 4096) throw new RangeError(`NOTIFICATION of ${length} bytes exceeds 4096`);
  const out = new Uint8Array(length);
  writeHeader(out, 0, MessageType.NOTIFICATION, length);
  out[19] = msg.code;
  out[20] = msg.subcode;
  out.set(msg.data, 21);
  return out;
}

/**
 * Decode a NOTIFICATION. Its contents are not checked: RFC 4271 §6.4 says a
 * NOTIFICATION is never answered by another, and unknown codes still close the
 * session. The extended length limit applies once negotiated (RFC 8654 §4).
 */
export function decodeNotification(buf: Uint8Array, offset = 0, maxLength = 4096): NotificationMessage {
  const h = decodeHeader(buf, offset, maxLength);
  if (h.type !== MessageType.NOTIFICATION) throw new RangeError(`decodeNotification: message type ${h.type} is not NOTIFICATION`);
  if (offset + h.length > buf.length) {
    throw bgpError(ErrorCode.MESSAGE_HEADER, 2, `NOTIFICATION of ${h.length} bytes is truncated`);
  }
  return {
    code: buf[offset + 19] as number,
    subcode: buf[offset + 20] as number,
    data: buf.slice(offset + 21, offset + h.length),
  };
}

/** The NOTIFICATION that reports `e` to the peer (RFC 4271 §6). */
export function notificationFromError(e: BgpError): NotificationMessage {
  return { code: e.notificationCode, subcode: e.notificationSubcode, data: e.data };
}

/** A one-line description, e.g. `Cease / Administrative Shutdown: "maintenance"`. */
export function describeNotification(msg: NotificationMessage): string {
  const name = notificationName(msg.code, msg.subcode);
  const sc = shutdownCommunication(msg);
  return sc !== undefined && sc.kind === 'ok' && sc.message !== '' ? `${name}: ${JSON.stringify(sc.message)}` : name;
}

/** Longest shutdown communication (RFC 9003 §2: 255 octets of UTF-8). */
export const MAX_SHUTDOWN_COMMUNICATION = 255;

/**
 * The NOTIFICATION for an administrative shutdown or reset carrying a message
 * (RFC 9003 §2). The message is cut to 255 octets of UTF-8 at a character
 * boundary rather than refused: shutting down must not fail for a long reason.
 */
export function shutdownNotification(
  message: string,
  subcode: typeof CeaseSubcode.ADMINISTRATIVE_SHUTDOWN | typeof CeaseSubcode.ADMINISTRATIVE_RESET = CeaseSubcode.ADMINISTRATIVE_SHUTDOWN,
): NotificationMessage {
  let bytes = new TextEncoder().encode(message);
  if (bytes.length > MAX_SHUTDOWN_COMMUNICATION) {
    let n = MAX_SHUTDOWN_COMMUNICATION;
    // Back up over UTF-8 continuation bytes (10xxxxxx) so the cut falls between characters.
    while (n > 0 && ((bytes[n] as number) & 0xc0) === 0x80) n--;
    bytes = bytes.slice(0, n);
  }
  const data = new Uint8Array(1 + bytes.length);
  data[0] = bytes.length;
  data.set(bytes, 1);
  return { code: ErrorCode.CEASE, subcode, data };
}

/**
 * The shutdown communication of a Cease / Administrative Shutdown or Reset
 * (RFC 9003 §2): `undefined` for other NOTIFICATIONs or an empty data field;
 * `{ kind: 'invalid' }` when the length or UTF-8 is wrong, which RFC 9003 §2
 * says to log and otherwise ignore, never to act on.
 */
export function shutdownCommunication(
  msg: NotificationMessage,
): { kind: 'ok'; message: string; trailing: Uint8Array } | { kind: 'invalid'; reason: string } | undefined {
  if (msg.code !== ErrorCode.CEASE) return undefined;
  if (msg.subcode !== CeaseSubcode.ADMINISTRATIVE_SHUTDOWN && msg.subcode !== CeaseSubcode.ADMINISTRATIVE_RESET) return undefined;
  if (msg.data.length === 0) return undefined;
  const len = msg.data[0] as number;
  if (1 + len > msg.data.length) return { kind: 'invalid', reason: `length ${len} exceeds the ${msg.data.length - 1} byte(s) present` };
  try {
    const message = new TextDecoder('utf-8', { fatal: true }).decode(msg.data.subarray(1, 1 + len));
    return { kind: 'ok', message, trailing: msg.data.slice(1 + len) };
  } catch {
    return { kind: 'invalid', reason: 'not valid UTF-8' };
  }
}

// ---------------------------------------------------------------------------
// ROUTE-REFRESH

/** Message subtypes (RFC 7313 §3.2). */
export const RouteRefreshSubtype = {
  REQUEST: 0,
  /** Beginning of Route Refresh */
  BORR: 1,
  /** End of Route Refresh */
  EORR: 2,
} as const;

export interface RouteRefreshMessage {
  afi: number;
  safi: number;
  /** 0 request, 1 BoRR, 2 EoRR; others are to be ignored by the receiver (RFC 7313 §5). */
  subtype: number;
}

export function routeRefreshLength(): number {
  return BGP_HEADER_LENGTH + 4;
}

export function encodeRouteRefresh(msg: RouteRefreshMessage): Uint8Array {
  const out = new Uint8Array(BGP_HEADER_LENGTH + 4);
  writeHeader(out, 0, MessageType.ROUTE_REFRESH, out.length);
  out[19] = msg.afi >> 8;
  out[20] = msg.afi & 0xff;
  out[21] = msg.subtype;
  out[22] = msg.safi;
  return out;
}

/**
 * Decode a ROUTE-REFRESH. A length other than 23 is the ROUTE-REFRESH Message
 * Error / Invalid Message Length of RFC 7313 §5, whose data is the whole message.
 */
export function decodeRouteRefresh(buf: Uint8Array, offset = 0, maxLength = 4096): RouteRefreshMessage {
  const h = decodeHeader(buf, offset, maxLength);
  if (h.type !== MessageType.ROUTE_REFRESH) throw new RangeError(`decodeRouteRefresh: message type ${h.type} is not ROUTE-REFRESH`);
  if (h.length !== BGP_HEADER_LENGTH + 4) {
    throw bgpError(ErrorCode.ROUTE_REFRESH_MESSAGE, RouteRefreshErrorSubcode.INVALID_MESSAGE_LENGTH, `length ${h.length}, expected 23`, {
      data: buf.slice(offset, Math.min(buf.length, offset + h.length)),
    });
  }
  if (offset + h.length > buf.length) {
    throw bgpError(ErrorCode.MESSAGE_HEADER, 2, 'ROUTE-REFRESH is truncated');
  }
  return {
    afi: ((buf[offset + 19] as number) << 8) | (buf[offset + 20] as number),
    subtype: buf[offset + 21] as number,
    safi: buf[offset + 22] as number,
  };
}
