/**
 * One entry for every message type: `decodeMessage` dispatches on the header
 * type, `encodeMessage` / `messageLength` on `kind`. Use with `MessageFramer`:
 * frames from the framer go to `decodeMessage` with the options negotiated in
 * the OPEN exchange.
 */
import { BGP_MAX_EXTENDED_MESSAGE_LENGTH, BGP_MAX_MESSAGE_LENGTH, MessageType } from './constants.js';
import { decodeHeader } from './codec-header.js';
import type { OpenMessage } from './codec-open.js';
import { decodeOpen, encodeOpen, openLength } from './codec-open.js';
import type { NotificationMessage, RouteRefreshMessage } from './codec-messages.js';
import {
  decodeKeepalive,
  decodeNotification,
  decodeRouteRefresh,
  encodeKeepalive,
  encodeNotification,
  encodeRouteRefresh,
  keepaliveLength,
  notificationLength,
  routeRefreshLength,
} from './codec-messages.js';
import type { UpdateCodecOptions, UpdateMessage, UpdateVerdict } from './codec-update.js';
import { decodeUpdate, encodeUpdate, updateLength } from './codec-update.js';

/** A message to send. */
export type BgpMessage =
  | { kind: 'open'; open: OpenMessage }
  | { kind: 'update'; update: UpdateMessage }
  | { kind: 'notification'; notification: NotificationMessage }
  | { kind: 'keepalive' }
  | { kind: 'route-refresh'; routeRefresh: RouteRefreshMessage };

/** A message received: as `BgpMessage`, except that an UPDATE comes with its RFC 7606 verdict. */
export type DecodedMessage =
  | { kind: 'open'; open: OpenMessage }
  | { kind: 'update'; update: UpdateVerdict }
  | { kind: 'notification'; notification: NotificationMessage }
  | { kind: 'keepalive' }
  | { kind: 'route-refresh'; routeRefresh: RouteRefreshMessage };

export type CodecOptions = UpdateCodecOptions;

/**
 * Decode the message at `offset` (header included). Throws a `BgpError` whose
 * NOTIFICATION code/subcode/data is the one to send, for anything RFC 4271 §6 /
 * RFC 7606 answer with a session reset.
 */
export function decodeMessage(buf: Uint8Array, offset = 0, opts: CodecOptions = {}): DecodedMessage {
  const max = opts.extendedMessage === true ? BGP_MAX_EXTENDED_MESSAGE_LENGTH : BGP_MAX_MESSAGE_LENGTH;
  const h = decodeHeader(buf, offset, max);
  switch (h.type) {
    case MessageType.OPEN:
      return { kind: 'open', open: decodeOpen(buf, offset) };
    case MessageType.UPDATE:
      return { kind: 'update', update: decodeUpdate(buf, offset, opts) };
    case MessageType.NOTIFICATION:
      return { kind: 'notification', notification: decodeNotification(buf, offset, max) };
    case MessageType.KEEPALIVE:
      decodeKeepalive(buf, offset);
      return { kind: 'keepalive' };
    case MessageType.ROUTE_REFRESH:
      return { kind: 'route-refresh', routeRefresh: decodeRouteRefresh(buf, offset, max) };
  }
}

export function encodeMessage(msg: BgpMessage, opts: CodecOptions = {}): Uint8Array {
  switch (msg.kind) {
    case 'open':
      return encodeOpen(msg.open);
    case 'update':
      return encodeUpdate(msg.update, opts);
    case 'notification':
      return encodeNotification(msg.notification);
    case 'keepalive':
      return encodeKeepalive();
    case 'route-refresh':
      return encodeRouteRefresh(msg.routeRefresh);
  }
}

export function messageLength(msg: BgpMessage, opts: CodecOptions = {}): number {
  switch (msg.kind) {
    case 'open':
      return openLength(msg.open);
    case 'update':
      return updateLength(msg.update, opts);
    case 'notification':
      return notificationLength(msg.notification);
    case 'keepalive':
      return keepaliveLength();
    case 'route-refresh':
      return routeRefreshLength();
  }
}
