/** fast-check generators for BGP messages, shared by the codec property tests. */
import fc from 'fast-check';
import type { Nlri } from '../../../src/bgp/codec-address.js';
import { formatIPv4, formatIPv6 } from '../../../src/bgp/codec-address.js';
import type { AsPathSegment, PathAttributes, UnknownAttribute } from '../../../src/bgp/codec-attributes.js';
import type { Capability, OpenMessage } from '../../../src/bgp/codec-open.js';
import type { UpdateMessage } from '../../../src/bgp/codec-update.js';
import type { NotificationMessage, RouteRefreshMessage } from '../../../src/bgp/codec-messages.js';

const u8 = fc.integer({ min: 0, max: 255 });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });

export const ipv4 = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => formatIPv4(b));
export const ipv6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => formatIPv6(b));
/** A usable NEXT_HOP (RFC 4271 §6.3: not 0/8, not class D/E). */
export const nextHop4 = fc
  .tuple(fc.integer({ min: 1, max: 223 }), u8, u8, u8)
  .map(([a, b, c, d]) => `${a}.${b}.${c}.${d}`);
export const bgpId = nextHop4;

function maskTo(bytes: Uint8Array, length: number): Uint8Array {
  const out = bytes.slice();
  for (let bit = length; bit < out.length * 8; bit++) out[bit >> 3] = (out[bit >> 3] as number) & ~(0x80 >> (bit & 7));
  return out;
}

export const prefix4 = fc
  .tuple(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.integer({ min: 0, max: 32 }))
  .map(([b, l]) => `${formatIPv4(maskTo(b, l))}/${l}`);
export const prefix6 = fc
  .tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 128 }))
  .map(([b, l]) => `${formatIPv6(maskTo(b, l))}/${l}`);

export function nlriList(prefix: fc.Arbitrary<string>, addPath: boolean, maxLength = 20): fc.Arbitrary<Nlri[]> {
  return fc.array(
    addPath ? fc.record({ prefix, pathId: u32 }) : prefix.map((p) => ({ prefix: p })),
    { maxLength },
  );
}

const segment = (types: AsPathSegment['type'][], asn: fc.Arbitrary<number>): fc.Arbitrary<AsPathSegment> =>
  fc.record({ type: fc.constantFrom(...types), asns: fc.array(asn, { minLength: 1, maxLength: 12 }) });

/** AS paths; confederation segments only in front, as RFC 5065 puts them. */
export function asPath(asn: fc.Arbitrary<number> = u32, confed = true): fc.Arbitrary<AsPathSegment[]> {
  return fc
    .tuple(
      confed ? fc.array(segment(['confed-sequence', 'confed-set'], asn), { maxLength: 2 }) : fc.constant([]),
      fc.array(segment(['sequence', 'set'], asn), { maxLength: 4 }),
    )
    .map(([a, b]) => [...a, ...b]);
}

const KNOWN = new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 14, 15, 16, 17, 18, 32]);
export const unknownAttr: fc.Arbitrary<UnknownAttribute> = fc.record({
  // Optional transitive, Partial set: what the decoder keeps (RFC 4271 §5).
  flags: fc.constant(0xe0),
  type: fc.integer({ min: 19, max: 255 }).filter((t) => !KNOWN.has(t)),
  value: fc.uint8Array({ maxLength: 300 }),
});

export interface AttrGenOptions {
  addPath?: boolean;
  fourOctetAs?: boolean;
}

/** Path attributes; with `fourOctetAs: false` only what survives the AS_TRANS / AS4_PATH round trip. */
export function pathAttributes(o: AttrGenOptions = {}): fc.Arbitrary<PathAttributes> {
  const four = o.fourOctetAs ?? true;
  const asn = u32;
  const ap = o.addPath ?? false;
  return fc.record(
    {
      origin: fc.constantFrom('igp' as const, 'egp' as const, 'incomplete' as const),
      // 2-octet sessions: confederation segments carry only 2-octet ASNs (they are not in AS4_PATH),
      // and AS_TRANS itself is not a real AS.
      asPath: four ? asPath(asn) : asPath(fc.integer({ min: 1, max: 0xffffffff }).filter((a) => a !== 23456), false),
      nextHop: nextHop4,
      med: u32,
      localPref: u32,
      atomicAggregate: fc.constant(true),
      // 2-octet sessions: an AGGREGATOR with a real 2-octet AS makes the receiver ignore AS4_PATH
      // (RFC 6793 §4.2.3), so only 4-octet aggregators survive a round trip there.
      aggregator: fc.record({ asn: four ? asn : fc.integer({ min: 0x10000, max: 0xffffffff }), address: ipv4 }),
      communities: fc.array(u32, { minLength: 1, maxLength: 10 }),
      originatorId: ipv4,
      clusterList: fc.array(ipv4, { minLength: 1, maxLength: 4 }),
      mpReach: fc.oneof(
        fc.record({
          afi: fc.constant(2 as const),
          safi: fc.constant(1),
          nextHop: fc.oneof(fc.tuple(ipv6), fc.tuple(ipv6, ipv6)),
          nlri: nlriList(prefix6, ap),
        }),
        fc.record({ afi: fc.constant(1 as const), safi: fc.constant(1), nextHop: fc.tuple(ipv4), nlri: nlriList(prefix4, ap) }),
      ),
      mpUnreach: fc.oneof(
        fc.record({ afi: fc.constant(2 as const), safi: fc.constant(1), withdrawn: nlriList(prefix6, ap) }),
        fc.record({ afi: fc.constant(1 as const), safi: fc.constant(1), withdrawn: nlriList(prefix4, ap) }),
      ),
      extendedCommunities: fc.array(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), { minLength: 1, maxLength: 6 }),
      largeCommunities: fc.array(fc.record({ globalAdmin: u32, localData1: u32, localData2: u32 }), { minLength: 1, maxLength: 6 }),
      // Sorted by type: the encoder writes attributes in type order (RFC 4271 §5) and the decoder keeps that order.
      unknown: fc.uniqueArray(unknownAttr, { minLength: 1, maxLength: 3, selector: (u) => u.type }).map((l) => l.sort((a, b) => a.type - b.type)),
    },
    { requiredKeys: [] },
  );
}

export function updateMessage(o: AttrGenOptions = {}): fc.Arbitrary<UpdateMessage> {
  return fc.record({
    withdrawn: nlriList(prefix4, o.addPath ?? false, 10),
    attributes: pathAttributes(o),
    nlri: nlriList(prefix4, o.addPath ?? false, 10),
  });
}

const afiSafi = fc.record({ afi: u16, safi: u8 });
export const capability: fc.Arbitrary<Capability> = fc.oneof(
  afiSafi.map((x) => ({ kind: 'multiprotocol' as const, ...x })),
  fc.constant({ kind: 'route-refresh' as const }),
  fc.constant({ kind: 'enhanced-route-refresh' as const }),
  fc.constant({ kind: 'extended-message' as const }),
  u32.map((asn) => ({ kind: 'four-octet-as' as const, asn })),
  fc.record({
    kind: fc.constant('graceful-restart' as const),
    restarting: fc.boolean(),
    notification: fc.boolean(),
    restartTime: fc.integer({ min: 0, max: 4095 }),
    families: fc.array(fc.record({ afi: u16, safi: u8, forwardingPreserved: fc.boolean() }), { maxLength: 4 }),
  }),
  fc.record({
    kind: fc.constant('add-path' as const),
    families: fc.array(
      fc.record({ afi: u16, safi: u8, direction: fc.constantFrom('receive' as const, 'send' as const, 'both' as const) }),
      { minLength: 1, maxLength: 4 },
    ),
  }),
  fc.record({
    kind: fc.constant('unknown' as const),
    code: u8.filter((c) => ![1, 2, 6, 64, 65, 69, 70].includes(c)),
    value: fc.uint8Array({ maxLength: 40 }),
  }),
);

export const openMessage: fc.Arbitrary<OpenMessage> = fc.record({
  version: fc.constant(4),
  myAs: u16,
  holdTime: fc.oneof(fc.constant(0), fc.integer({ min: 3, max: 0xffff })),
  bgpId,
  capabilities: fc.array(capability, { maxLength: 12 }),
});

export const notificationMessage: fc.Arbitrary<NotificationMessage> = fc.record({
  code: u8,
  subcode: u8,
  data: fc.uint8Array({ maxLength: 100 }),
});

export const routeRefreshMessage: fc.Arbitrary<RouteRefreshMessage> = fc.record({ afi: u16, safi: u8, subtype: u8 });
