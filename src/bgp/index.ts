/**
 * lvskit/bgp: a BGP-4 speaker.
 *
 * Status: the pure core (codec for every message, RFC 7606 error handling, the
 * RFC 4271 §8 state machine, Adj-RIBs, UPDATE batching) and the drivers: a
 * per-peer `BgpSession` over TCP and a `BgpSpeaker` that announces and
 * withdraws routes to several peers, with per-peer export overrides, graceful
 * restart both ways, route refresh, and session security (TCP MD5 RFC 2385,
 * GTSM RFC 5082, multihop TTL) through lvskit's native addon. Tested speaker to
 * speaker and against hand-written bad peers on loopback, and against BIRD 2,
 * GoBGP and FRR in the lab tier (test/lab/bgp). User docs: docs/bgp.md.
 *
 *   const bgp = new BgpSpeaker({ localAs: 64512, routerId: '192.0.2.10', listen: false,
 *     peers: [{ address: '192.0.2.1', remoteAs: 64500, password: 'secret' }] });
 *   await bgp.start();
 *   bgp.announce('198.51.100.10/32', { communities: ['64500:100'] });
 *   // ... later
 *   await bgp.close({ message: 'maintenance' });
 *
 * Pure files (no sockets, timers, clock or logger):
 * - constants.ts        message types, error codes and subcodes, ports and sizes
 * - errors.ts           `BgpError` (NOTIFICATION code/subcode/data + RFC 7606 handling), names of codes
 * - codec-address.ts    IPv4/IPv6 text (RFC 5952), strict prefixes, NLRI encoding (RFC 4271 §4.3, RFC 7911 §3)
 * - communities.ts      standard (RFC 1997, well-known values), large (RFC 8092), extended (RFC 4360) communities
 * - codec-header.ts     header checks (RFC 4271 §4.1, §6.1) and `MessageFramer` for the TCP stream
 * - codec-open.ts       OPEN and capabilities (RFC 4271 §4.2, RFC 5492, RFC 9072, and the capability RFCs below)
 * - codec-attributes.ts path attributes, table driven, RFC 7606 per attribute, AS4_PATH merge (RFC 6793 §4.2.3)
 * - codec-update.ts     UPDATE with an RFC 7606 verdict, End-of-RIB (RFC 4724 §2)
 * - codec-messages.ts   KEEPALIVE, NOTIFICATION with shutdown communication (RFC 9003), ROUTE-REFRESH (RFC 2918, RFC 7313)
 * - codec.ts            `decodeMessage` / `encodeMessage` / `messageLength` over all types
 * - fsm.ts              the FSM: `step(state, event, now) -> { state, actions }`, capability negotiation
 * - rib.ts              Adj-RIB-In (with graceful restart stale marking, max-prefix) and Adj-RIB-Out
 * - plan-updates.ts     grouping routes by attribute set into few UPDATEs within the size limit
 *
 * Drivers:
 * - session.ts          `BgpSession`: one peer; joins the FSM to a clock, TCP sockets, framer and codec
 * - speaker.ts          `BgpSpeaker`: listener, peers, announce/withdraw, per-peer export overrides, RIBs
 *
 * RFCs implemented: 4271 (BGP-4), 7606 (revised error handling), 4760 (multiprotocol, IPv4/IPv6 unicast),
 * 2545 (IPv6 next hops), 8950 (IPv6 next hop for IPv4, decode), 6793 (4-octet AS), 5492 (capabilities),
 * 9072 (extended optional parameters length), 2918 and 7313 (route refresh, enhanced), 4724 and 8538
 * (graceful restart, notification), 8654 (extended messages), 7911 (ADD-PATH), 1997 (communities),
 * 4360 (extended communities), 8092 (large communities), 4456 (ORIGINATOR_ID, CLUSTER_LIST decode),
 * 4486 (Cease subcodes), 6608 (FSM error subcodes), 9003 (shutdown communication), 6286 (BGP identifier),
 * 5065 (confederation segments in AS_PATH).
 */
export * from './constants.js';
export * from './errors.js';
export {
  BgpInputError,
  canonicalAddress,
  canonicalPrefix,
  familyOf,
  formatAddress,
  formatPrefix,
  parseAddress,
  parsePrefix,
} from './codec-address.js';
export type { AddressFamily, Nlri, PrefixParts } from './codec-address.js';
export * from './communities.js';
export { decodeHeader, encodeHeader, headerLength, MessageFramer } from './codec-header.js';
export type { MessageHeader } from './codec-header.js';
export { CapabilityCode, decodeOpen, encodeOpen, findCapability, myAsField, openAs, openLength, OptionalParameterType } from './codec-open.js';
export type { AddPathDirection, AfiSafi, Capability, OpenMessage } from './codec-open.js';
export { asPathLength, AttributeFlag, attributesLength, AttributeType, encodeAttributes, mergeAs4Path } from './codec-attributes.js';
export type {
  Aggregator,
  AsPathSegment,
  AsPathSegmentType,
  AttributeCodecOptions,
  MpReach,
  MpUnreach,
  Origin,
  PathAttributes,
  UnknownAttribute,
} from './codec-attributes.js';
export { decodeUpdate, encodeUpdate, endOfRib, isEndOfRib, updateLength } from './codec-update.js';
export type { UpdateCodecOptions, UpdateMessage, UpdateVerdict } from './codec-update.js';
export {
  decodeKeepalive,
  decodeNotification,
  decodeRouteRefresh,
  describeNotification,
  encodeKeepalive,
  encodeNotification,
  encodeRouteRefresh,
  keepaliveLength,
  MAX_SHUTDOWN_COMMUNICATION,
  notificationFromError,
  notificationLength,
  routeRefreshLength,
  RouteRefreshSubtype,
  shutdownCommunication,
  shutdownNotification,
} from './codec-messages.js';
export type { NotificationMessage, RouteRefreshMessage } from './codec-messages.js';
export { decodeMessage, encodeMessage, messageLength } from './codec.js';
export type { BgpMessage, CodecOptions, DecodedMessage } from './codec.js';
export { createFsm, defaultCapabilities, LARGE_HOLD_MS, localOpen, negotiate, step } from './fsm.js';
export type {
  Direction,
  DownReason,
  FsmAction,
  FsmConfig,
  FsmEmit,
  FsmEvent,
  FsmState,
  FsmStateName,
  NegotiatedSession,
  StepResult,
  TimerName,
} from './fsm.js';
export { AdjRibIn, AdjRibOut, familiesOf, maxPrefixesNotification, routeKey } from './rib.js';
export type { InRoute, RibInChange } from './rib.js';
export { attributesKey, planUpdates, routeGroupKey } from './plan-updates.js';
export type { OutRoute } from './plan-updates.js';
export { BgpSession } from './session.js';
export type { BgpSessionEvents, BgpSessionOptions } from './session.js';
export { BgpSpeaker } from './speaker.js';
export type { BgpSpeakerEvents, BgpSpeakerOptions, PeerConfig, PeerStatus, RouteAttributes } from './speaker.js';
