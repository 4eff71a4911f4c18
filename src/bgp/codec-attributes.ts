/**
 * Path attributes (RFC 4271 §4.3, §5) with the error handling of RFC 7606.
 *
 * One table (`ATTRIBUTES`) names every attribute we understand with its
 * required Optional/Transitive flags and what RFC 7606 says to do when it is
 * malformed. The decoder never throws for an error that RFC 7606 lets the
 * session survive: it collects `treat-as-withdraw` and `attribute-discard`
 * errors and carries on; only `session-reset` errors are thrown.
 *
 * 2-octet AS peers (RFC 6793 §4.2): the encoder puts AS_TRANS into AS_PATH and
 * AGGREGATOR and sends the real numbers in AS4_PATH / AS4_AGGREGATOR; the
 * decoder merges them back (§4.2.3). Between 4-octet speakers AS4_* are
 * discarded on receipt (§4.1).
 */
import { ByteReader, ByteWriter } from '../util/bytes.js';
import { AS_TRANS, Afi, ErrorCode, Safi, UpdateErrorSubcode } from './constants.js';
import type { AddressFamily, Nlri } from './codec-address.js';
import { formatIPv4, formatIPv6, nlriListLength, parseIPv4, parseIPv6, readNlri, writeNlri } from './codec-address.js';
import type { LargeCommunity } from './communities.js';
import { bgpError } from './errors.js';
import type { BgpError, ErrorHandling } from './errors.js';

/** Attribute type codes (RFC 4271 §5.1; 9-10 RFC 4456; 14-15 RFC 4760; 16 RFC 4360; 17-18 RFC 6793; 32 RFC 8092). */
export const AttributeType = {
  ORIGIN: 1,
  AS_PATH: 2,
  NEXT_HOP: 3,
  MULTI_EXIT_DISC: 4,
  LOCAL_PREF: 5,
  ATOMIC_AGGREGATE: 6,
  AGGREGATOR: 7,
  COMMUNITIES: 8,
  ORIGINATOR_ID: 9,
  CLUSTER_LIST: 10,
  MP_REACH_NLRI: 14,
  MP_UNREACH_NLRI: 15,
  EXTENDED_COMMUNITIES: 16,
  AS4_PATH: 17,
  AS4_AGGREGATOR: 18,
  LARGE_COMMUNITY: 32,
} as const;

/** Attribute flags (RFC 4271 §4.3). */
export const AttributeFlag = {
  OPTIONAL: 0x80,
  TRANSITIVE: 0x40,
  PARTIAL: 0x20,
  EXTENDED_LENGTH: 0x10,
} as const;

export type Origin = 'igp' | 'egp' | 'incomplete';
const ORIGINS: Origin[] = ['igp', 'egp', 'incomplete'];

/** AS_PATH segment types (RFC 4271 §4.3; confederation segments RFC 5065 §3). */
export type AsPathSegmentType = 'set' | 'sequence' | 'confed-sequence' | 'confed-set';
const SEGMENT_TYPES: AsPathSegmentType[] = ['set', 'sequence', 'confed-sequence', 'confed-set'];

export interface AsPathSegment {
  type: AsPathSegmentType;
  /** At most 255 per segment (the count is one octet). */
  asns: number[];
}

export interface Aggregator {
  asn: number;
  address: string;
}

/** MP_REACH_NLRI (RFC 4760 §3) for IPv4 or IPv6 unicast. */
export interface MpReach {
  afi: AddressFamily;
  safi: number;
  /** One next hop, or for IPv6 a global and a link-local one (RFC 2545 §3). IPv4 NLRI may have IPv6 next hops (RFC 8950). */
  nextHop: string[];
  nlri: Nlri[];
}

/** MP_UNREACH_NLRI (RFC 4760 §4). Empty `withdrawn` is the End-of-RIB marker (RFC 4724 §2). */
export interface MpUnreach {
  afi: AddressFamily;
  safi: number;
  withdrawn: Nlri[];
}

/** An attribute we do not understand, kept to pass on (RFC 4271 §5: optional transitive, Partial bit set). */
export interface UnknownAttribute {
  /** Optional, Transitive and Partial bits (the Extended Length bit is the encoder's business). */
  flags: number;
  type: number;
  value: Uint8Array;
}

export interface PathAttributes {
  origin?: Origin;
  asPath?: AsPathSegment[];
  /** IPv4 next hop for the NLRI field (RFC 4271 §5.1.3). */
  nextHop?: string;
  med?: number;
  localPref?: number;
  atomicAggregate?: boolean;
  aggregator?: Aggregator;
  /** 32-bit values (RFC 1997); see `parseCommunity`. */
  communities?: number[];
  originatorId?: string;
  clusterList?: string[];
  mpReach?: MpReach;
  mpUnreach?: MpUnreach;
  /** 64-bit values (RFC 4360). */
  extendedCommunities?: bigint[];
  largeCommunities?: LargeCommunity[];
  unknown?: UnknownAttribute[];
}

/** What decoding and encoding depend on, from the capabilities both sides sent. */
export interface AttributeCodecOptions {
  /** Both sides sent the 4-octet AS capability (RFC 6793 §3). Default true. */
  fourOctetAs?: boolean;
  /** NLRI carry path identifiers in this direction, per family (RFC 7911 §3). */
  addPath?: { ipv4?: boolean; ipv6?: boolean };
  /** The peer is in another AS: LOCAL_PREF from it is discarded (RFC 7606 §7.5), confederation segments refused (§7.2). */
  external?: boolean;
}

interface AttrSpec {
  name: string;
  optional: boolean;
  transitive: boolean;
  /** What a malformed instance gets (RFC 7606 §7). */
  malformed: ErrorHandling;
}

const T = AttributeType;
/** RFC 7606 §7 per attribute; MP_* are session reset since their NLRI cannot be trusted (§7.11, §5.3). */
export const ATTRIBUTES: Record<number, AttrSpec> = {
  [T.ORIGIN]: { name: 'ORIGIN', optional: false, transitive: true, malformed: 'treat-as-withdraw' },
  [T.AS_PATH]: { name: 'AS_PATH', optional: false, transitive: true, malformed: 'treat-as-withdraw' },
  [T.NEXT_HOP]: { name: 'NEXT_HOP', optional: false, transitive: true, malformed: 'treat-as-withdraw' },
  [T.MULTI_EXIT_DISC]: { name: 'MULTI_EXIT_DISC', optional: true, transitive: false, malformed: 'treat-as-withdraw' },
  [T.LOCAL_PREF]: { name: 'LOCAL_PREF', optional: false, transitive: true, malformed: 'treat-as-withdraw' },
  [T.ATOMIC_AGGREGATE]: { name: 'ATOMIC_AGGREGATE', optional: false, transitive: true, malformed: 'attribute-discard' },
  [T.AGGREGATOR]: { name: 'AGGREGATOR', optional: true, transitive: true, malformed: 'attribute-discard' },
  [T.COMMUNITIES]: { name: 'COMMUNITIES', optional: true, transitive: true, malformed: 'treat-as-withdraw' },
  [T.ORIGINATOR_ID]: { name: 'ORIGINATOR_ID', optional: true, transitive: false, malformed: 'treat-as-withdraw' },
  [T.CLUSTER_LIST]: { name: 'CLUSTER_LIST', optional: true, transitive: false, malformed: 'treat-as-withdraw' },
  [T.MP_REACH_NLRI]: { name: 'MP_REACH_NLRI', optional: true, transitive: false, malformed: 'session-reset' },
  [T.MP_UNREACH_NLRI]: { name: 'MP_UNREACH_NLRI', optional: true, transitive: false, malformed: 'session-reset' },
  [T.EXTENDED_COMMUNITIES]: { name: 'EXTENDED_COMMUNITIES', optional: true, transitive: true, malformed: 'treat-as-withdraw' },
  // RFC 6793 §7: malformed AS4_PATH / AS4_AGGREGATOR are discarded.
  [T.AS4_PATH]: { name: 'AS4_PATH', optional: true, transitive: true, malformed: 'attribute-discard' },
  [T.AS4_AGGREGATOR]: { name: 'AS4_AGGREGATOR', optional: true, transitive: true, malformed: 'attribute-discard' },
  [T.LARGE_COMMUNITY]: { name: 'LARGE_COMMUNITY', optional: true, transitive: true, malformed: 'treat-as-withdraw' },
};

// ---------------------------------------------------------------------------
// AS paths

/** Number of ASes for path selection and RFC 6793 §4.2.3: a set counts 1, confederation segments 0 (RFC 4271 §9.1.2.2). */
export function asPathLength(path: readonly AsPathSegment[]): number {
  let n = 0;
  for (const s of path) {
    if (s.type === 'sequence') n += s.asns.length;
    else if (s.type === 'set') n += 1;
  }
  return n;
}

function be16(b: Uint8Array, i: number): number {
  return ((b[i] as number) << 8) | (b[i + 1] as number);
}
function be32(b: Uint8Array, i: number): number {
  return (b[i] as number) * 0x1000000 + (((b[i + 1] as number) << 16) | ((b[i + 2] as number) << 8) | (b[i + 3] as number));
}

function readAsPath(v: Uint8Array, asnSize: 2 | 4): AsPathSegment[] | string {
  const out: AsPathSegment[] = [];
  let i = 0;
  // RFC 7606 §7.2: unknown segment type, zero count, overrun, or a lone trailing octet is malformed.
  while (i < v.length) {
    if (v.length - i < 2) return 'a single octet left after the last segment';
    const t = v[i] as number;
    const count = v[i + 1] as number;
    i += 2;
    const type = SEGMENT_TYPES[t - 1];
    if (type === undefined) return `unknown segment type ${t}`;
    if (count === 0) return 'segment of zero ASes';
    if (count * asnSize > v.length - i) return `segment of ${count} ASes overruns the attribute`;
    const asns: number[] = new Array<number>(count);
    for (let k = 0; k < count; k++, i += asnSize) asns[k] = asnSize === 4 ? be32(v, i) : be16(v, i);
    out.push({ type, asns });
  }
  return out;
}

function asPathValueLength(path: readonly AsPathSegment[], asnSize: 2 | 4): number {
  let n = 0;
  for (const s of path) n += 2 + s.asns.length * asnSize;
  return n;
}

function writeAsPath(w: ByteWriter, path: readonly AsPathSegment[], asnSize: 2 | 4): void {
  for (const s of path) {
    if (s.asns.length === 0 || s.asns.length > 255) throw new RangeError(`AS_PATH segment of ${s.asns.length} ASes (1..255)`);
    w.u8(SEGMENT_TYPES.indexOf(s.type) + 1).u8(s.asns.length);
    for (const a of s.asns) {
      if (asnSize === 4) w.u32(a);
      else w.u16(a > 0xffff ? AS_TRANS : a);
    }
  }
}

function needsAs4(path: readonly AsPathSegment[] | undefined, agg: Aggregator | undefined): { path: boolean; agg: boolean } {
  return {
    path: path !== undefined && path.some((s) => s.asns.some((a) => a > 0xffff)),
    agg: agg !== undefined && agg.asn > 0xffff,
  };
}

/** AS4_PATH to send: the path without confederation segments (RFC 6793 §4.2.2; they never go in AS4_PATH, §6). */
function as4PathOf(path: readonly AsPathSegment[]): AsPathSegment[] {
  return path.filter((s) => s.type === 'sequence' || s.type === 'set');
}

/** Rebuild the path from AS_PATH and AS4_PATH received from a 2-octet peer (RFC 6793 §4.2.3). */
export function mergeAs4Path(asPath: readonly AsPathSegment[], as4Path: readonly AsPathSegment[]): AsPathSegment[] {
  // RFC 6793 §6: confederation segments in AS4_PATH are discarded.
  const as4 = as4PathOf(as4Path);
  const n = asPathLength(asPath);
  const n4 = asPathLength(as4);
  if (n < n4) return asPath.map((s) => ({ type: s.type, asns: [...s.asns] }));
  let need = n - n4;
  const lead: AsPathSegment[] = [];
  let prevTaken = false;
  for (let i = 0; i < asPath.length; i++) {
    const s = asPath[i] as AsPathSegment;
    const confed = s.type === 'confed-sequence' || s.type === 'confed-set';
    if (confed) {
      // A confederation segment goes along when it leads or is adjacent to a prepended segment.
      if (i === 0 || prevTaken) {
        lead.push({ type: s.type, asns: [...s.asns] });
        prevTaken = true;
        continue;
      }
      break;
    }
    if (need === 0) break;
    if (s.type === 'set') {
      lead.push({ type: 'set', asns: [...s.asns] });
      need -= 1;
    } else {
      const take = Math.min(need, s.asns.length);
      lead.push({ type: 'sequence', asns: s.asns.slice(0, take) });
      need -= take;
    }
    prevTaken = true;
  }
  const out = [...lead, ...as4.map((s) => ({ type: s.type, asns: [...s.asns] }))];
  // Join the sequence taken from AS_PATH with the one AS4_PATH starts with: same path, tidier.
  const k = lead.length;
  const a = out[k - 1];
  const b = out[k];
  if (k > 0 && a !== undefined && b !== undefined && a.type === 'sequence' && b.type === 'sequence' && a.asns.length + b.asns.length <= 255) {
    out.splice(k - 1, 2, { type: 'sequence', asns: [...a.asns, ...b.asns] });
  }
  return out;
}

// ---------------------------------------------------------------------------
// Decoding

/** Result of decoding the path attributes field. */
export interface AttributesDecoded {
  attributes: PathAttributes;
  /** Errors whose handling is treat-as-withdraw (RFC 7606 §2). */
  withdrawErrors: BgpError[];
  /** Attributes dropped, with why (RFC 7606 §2 attribute discard; also duplicates, §3 g). */
  discarded: BgpError[];
  /** True when the attribute list could not be read to its end (RFC 7606 §4). */
  overrun: boolean;
  /** Type codes present, malformed or not (a malformed attribute is not also "missing"). */
  present: Set<number>;
}

function err(subcode: number, detail: string, handling: ErrorHandling, data?: Uint8Array): BgpError {
  return bgpError(ErrorCode.UPDATE_MESSAGE, subcode, detail, { handling, ...(data === undefined ? {} : { data: data.slice() }) });
}

const SUB = UpdateErrorSubcode;

/**
 * Decode the path attributes field (`r` spans exactly that field). Throws a
 * `BgpError` only for session-reset errors.
 * `nlriFieldPresent` tells whether the UPDATE's NLRI or Withdrawn Routes fields
 * carry anything, which decides what an overrun means (RFC 7606 §4).
 */
export function readAttributes(r: ByteReader, opts: AttributeCodecOptions, nlriFieldPresent: boolean): AttributesDecoded {
  const fourOctet = opts.fourOctetAs ?? true;
  const attrs: PathAttributes = {};
  const withdrawErrors: BgpError[] = [];
  const discarded: BgpError[] = [];
  const seen = new Set<number>();
  let as4Path: AsPathSegment[] | undefined;
  let as4Aggregator: Aggregator | undefined;
  let overrun = false;
  const span: RawSpan = { buf: r.buf, start: 0, end: 0 };

  // Each pass consumes at least 3 bytes or ends the loop: bounded by the field length.
  while (r.remaining > 0) {
    const start = r.offset;
    const flags = r.remaining >= 1 ? (r.peekU8(0) as number) : 0;
    const type = r.peekU8(1);
    const hdr = flags & AttributeFlag.EXTENDED_LENGTH ? 4 : 3;
    let len = -1;
    if (r.remaining >= hdr) {
      len = hdr === 4 ? ((r.peekU8(2) as number) << 8) | (r.peekU8(3) as number) : (r.peekU8(2) as number);
    }
    if (len < 0 || hdr + len > r.remaining) {
      // RFC 7606 §4: attribute header or value runs past the Total Path Attribute Length.
      overrun = true;
      const what = len < 0 ? 'attribute header' : `attribute ${type} of ${len} byte(s)`;
      const mp = type === T.MP_REACH_NLRI || type === T.MP_UNREACH_NLRI;
      // Treat-as-withdraw needs every NLRI located: refuse when the overrun hides (or is) an MP attribute.
      if (mp || (!nlriFieldPresent && attrs.mpReach === undefined && attrs.mpUnreach === undefined)) {
        throw err(SUB.MALFORMED_ATTRIBUTE_LIST, `${what} overruns the path attributes at byte ${start}`, 'session-reset');
      }
      withdrawErrors.push(err(SUB.MALFORMED_ATTRIBUTE_LIST, `${what} overruns the path attributes at byte ${start}`, 'treat-as-withdraw'));
      break;
    }
    r.skipBytes(hdr);
    const value = r.bytes(len);
    const end = r.offset;
    // The whole attribute, for NOTIFICATION data: only cut out when there is an error. One span
    // object per call, moved along (no closure per attribute: this loop runs for every UPDATE).
    span.start = start;
    span.end = end;
    const raw = span;
    const t = type as number;
    const spec = ATTRIBUTES[t];

    // RFC 7606 §3 g: MP_* twice is a session reset; any other repeat is dropped.
    if (seen.has(t)) {
      if (t === T.MP_REACH_NLRI || t === T.MP_UNREACH_NLRI) {
        throw err(SUB.MALFORMED_ATTRIBUTE_LIST, `${spec?.name ?? t} appears twice`, 'session-reset');
      }
      discarded.push(err(SUB.MALFORMED_ATTRIBUTE_LIST, `attribute ${spec?.name ?? t} repeated; later copy dropped`, 'attribute-discard', rawOf(raw)));
      continue;
    }
    seen.add(t);

    if (spec === undefined) {
      if ((flags & AttributeFlag.OPTIONAL) === 0) {
        // RFC 4271 §6.3: an unrecognized well-known attribute.
        throw err(SUB.UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE, `unrecognized well-known attribute ${t}`, 'session-reset', rawOf(raw));
      }
      // RFC 4271 §5: optional non-transitive unknown is quietly ignored; transitive is kept with Partial set.
      if (flags & AttributeFlag.TRANSITIVE) {
        (attrs.unknown ??= []).push({ flags: (flags & 0xe0) | AttributeFlag.PARTIAL, type: t, value: value.slice() });
      }
      continue;
    }

    try {
      // RFC 7606 §3 c: Optional/Transitive bits in conflict with the type make the attribute malformed.
      const o = (flags & AttributeFlag.OPTIONAL) !== 0;
      const tr = (flags & AttributeFlag.TRANSITIVE) !== 0;
      if (o !== spec.optional || tr !== spec.transitive) {
        throw err(SUB.ATTRIBUTE_FLAGS_ERROR, `${spec.name} with flags 0x${flags.toString(16)}`, spec.malformed, rawOf(raw));
      }
      const got = decodeOne(t, spec, value, raw, attrs, fourOctet, opts);
      if (got !== undefined) {
        if (got.as4Path !== undefined) as4Path = got.as4Path;
        if (got.as4Aggregator !== undefined) as4Aggregator = got.as4Aggregator;
      }
    } catch (e) {
      const be = e as BgpError;
      if (be.handling === 'session-reset') throw be;
      if (be.handling === 'treat-as-withdraw') withdrawErrors.push(be);
      else discarded.push(be);
    }
  }

  if (!fourOctet) {
    // RFC 6793 §4.2.3.
    if (attrs.aggregator !== undefined && attrs.aggregator.asn !== AS_TRANS) {
      // An AGGREGATOR without AS_TRANS: AS4_AGGREGATOR and AS4_PATH are ignored.
    } else {
      if (attrs.aggregator !== undefined && as4Aggregator !== undefined) attrs.aggregator = as4Aggregator;
      if (attrs.asPath !== undefined && as4Path !== undefined) attrs.asPath = mergeAs4Path(attrs.asPath, as4Path);
    }
  }
  // Between NEW speakers AS4_PATH / AS4_AGGREGATOR are discarded (RFC 6793 §4.1): nothing kept.
  return { attributes: attrs, withdrawErrors, discarded, overrun, present: seen };
}

/** Where the attribute being decoded sits in the message. */
interface RawSpan {
  buf: Uint8Array;
  start: number;
  end: number;
}

function rawOf(r: RawSpan): Uint8Array {
  return r.buf.subarray(r.start, r.end);
}

function lengthErr(spec: AttrSpec, v: Uint8Array, expected: string, raw: RawSpan): BgpError {
  return err(SUB.ATTRIBUTE_LENGTH_ERROR, `${spec.name} of ${v.length} byte(s), expected ${expected}`, spec.malformed, rawOf(raw));
}

function hasConfed(p: readonly AsPathSegment[]): boolean {
  for (const s of p) if (s.type === 'confed-sequence' || s.type === 'confed-set') return true;
  return false;
}

function decodeOne(
  t: number,
  spec: AttrSpec,
  v: Uint8Array,
  raw: RawSpan,
  attrs: PathAttributes,
  fourOctet: boolean,
  opts: AttributeCodecOptions,
): { as4Path?: AsPathSegment[]; as4Aggregator?: Aggregator } | undefined {
  switch (t) {
    case T.ORIGIN: {
      if (v.length !== 1) throw lengthErr(spec, v, '1', raw);
      const o = ORIGINS[v[0] as number];
      if (o === undefined) throw err(SUB.INVALID_ORIGIN_ATTRIBUTE, `ORIGIN ${v[0]}`, spec.malformed, rawOf(raw));
      attrs.origin = o;
      return;
    }
    case T.AS_PATH: {
      const p = readAsPath(v, fourOctet ? 4 : 2);
      if (typeof p === 'string') throw err(SUB.MALFORMED_AS_PATH, p, spec.malformed);
      // RFC 7606 §7.2 / RFC 5065 §5.0: confederation segments from outside the confederation.
      if (opts.external === true && hasConfed(p)) {
        throw err(SUB.MALFORMED_AS_PATH, 'confederation segment from an external peer', spec.malformed);
      }
      attrs.asPath = p;
      return;
    }
    case T.NEXT_HOP: {
      if (v.length !== 4) throw lengthErr(spec, v, '4', raw);
      // RFC 4271 §6.3 / RFC 7606 §7.3: a next hop that cannot be one (0/8, class D/E, broadcast).
      const a = v[0] as number;
      if (a === 0 || a >= 224) throw err(SUB.INVALID_NEXT_HOP_ATTRIBUTE, `NEXT_HOP ${formatIPv4(v)}`, spec.malformed, rawOf(raw));
      attrs.nextHop = formatIPv4(v);
      return;
    }
    case T.MULTI_EXIT_DISC:
      if (v.length !== 4) throw lengthErr(spec, v, '4', raw);
      attrs.med = be32(v, 0);
      return;
    case T.LOCAL_PREF:
      if (v.length !== 4) throw lengthErr(spec, v, '4', raw);
      // RFC 7606 §7.5 (RFC 4271 §5.1.5): LOCAL_PREF from an external peer is discarded.
      if (opts.external !== true) attrs.localPref = be32(v, 0);
      return;
    case T.ATOMIC_AGGREGATE:
      if (v.length !== 0) throw lengthErr(spec, v, '0', raw);
      attrs.atomicAggregate = true;
      return;
    case T.AGGREGATOR: {
      const n = fourOctet ? 8 : 6;
      if (v.length !== n) throw lengthErr(spec, v, String(n), raw);
      const asn = fourOctet ? be32(v, 0) : be16(v, 0);
      attrs.aggregator = { asn, address: formatIPv4(v, n - 4) };
      return;
    }
    case T.COMMUNITIES: {
      // RFC 7606 §7.8: a non-zero multiple of 4.
      if (v.length === 0 || v.length % 4 !== 0) throw err(SUB.OPTIONAL_ATTRIBUTE_ERROR, `COMMUNITIES of ${v.length} bytes`, spec.malformed, rawOf(raw));
      const c: number[] = [];
      for (let i = 0; i < v.length; i += 4) c.push(be32(v, i));
      attrs.communities = c;
      return;
    }
    case T.ORIGINATOR_ID:
      if (v.length !== 4) throw lengthErr(spec, v, '4', raw);
      attrs.originatorId = formatIPv4(v);
      return;
    case T.CLUSTER_LIST: {
      if (v.length === 0 || v.length % 4 !== 0) throw lengthErr(spec, v, 'a non-zero multiple of 4', raw);
      const c: string[] = [];
      for (let i = 0; i < v.length; i += 4) c.push(formatIPv4(v, i));
      attrs.clusterList = c;
      return;
    }
    case T.MP_REACH_NLRI:
      attrs.mpReach = decodeMpReach(v, raw, opts);
      return;
    case T.MP_UNREACH_NLRI:
      attrs.mpUnreach = decodeMpUnreach(v, raw, opts);
      return;
    case T.EXTENDED_COMMUNITIES: {
      if (v.length === 0 || v.length % 8 !== 0) throw err(SUB.OPTIONAL_ATTRIBUTE_ERROR, `EXTENDED_COMMUNITIES of ${v.length} bytes`, spec.malformed, rawOf(raw));
      const c: bigint[] = [];
      for (let i = 0; i < v.length; i += 8) c.push((BigInt(be32(v, i)) << 32n) | BigInt(be32(v, i + 4)));
      attrs.extendedCommunities = c;
      return;
    }
    case T.LARGE_COMMUNITY: {
      // RFC 8092 §6: a non-zero multiple of 12.
      if (v.length === 0 || v.length % 12 !== 0) throw err(SUB.OPTIONAL_ATTRIBUTE_ERROR, `LARGE_COMMUNITY of ${v.length} bytes`, spec.malformed, rawOf(raw));
      const c: LargeCommunity[] = [];
      for (let i = 0; i < v.length; i += 12) c.push({ globalAdmin: be32(v, i), localData1: be32(v, i + 4), localData2: be32(v, i + 8) });
      attrs.largeCommunities = c;
      return;
    }
    case T.AS4_PATH: {
      if (fourOctet) return; // RFC 6793 §4.1: discarded between NEW speakers.
      const p = readAsPath(v, 4);
      if (typeof p === 'string') throw err(SUB.OPTIONAL_ATTRIBUTE_ERROR, `AS4_PATH: ${p}`, spec.malformed, rawOf(raw));
      return { as4Path: p };
    }
    case T.AS4_AGGREGATOR: {
      if (fourOctet) return;
      if (v.length !== 8) throw lengthErr(spec, v, '8', raw);
      return { as4Aggregator: { asn: be32(v, 0), address: formatIPv4(v, 4) } };
    }
  }
  return;
}

function isUnicastFamily(afi: number, safi: number): afi is AddressFamily {
  return (afi === Afi.IPV4 || afi === Afi.IPV6) && safi === Safi.UNICAST;
}

function addPathFor(opts: AttributeCodecOptions, afi: AddressFamily): boolean {
  return (afi === Afi.IPV4 ? opts.addPath?.ipv4 : opts.addPath?.ipv6) === true;
}

function mpFail(what: string, detail: string, raw: RawSpan): BgpError {
  return err(SUB.OPTIONAL_ATTRIBUTE_ERROR, `${what}: ${detail}`, 'session-reset', rawOf(raw));
}

function decodeMpReach(v: Uint8Array, raw: RawSpan, opts: AttributeCodecOptions): MpReach {
  if (v.length < 5) throw mpFail('MP_REACH_NLRI', `${v.length} byte(s)`, raw);
  const r = new ByteReader(v);
  const afi = r.u16();
  const safi = r.u8();
  if (!isUnicastFamily(afi, safi)) {
    // Not a family we speak: drop it (RFC 4760 §7 lets the session ignore the AFI/SAFI).
    throw err(SUB.OPTIONAL_ATTRIBUTE_ERROR, `MP_REACH_NLRI for AFI ${afi} SAFI ${safi} ignored`, 'attribute-discard', rawOf(raw));
  }
  const nhLen = r.u8();
  if (nhLen + 1 > r.remaining) throw mpFail('MP_REACH_NLRI', `next hop length ${nhLen} overruns the attribute`, raw);
  const nh = r.bytes(nhLen);
  const nextHop: string[] = [];
  // RFC 2545 §3 (16 or 32 for IPv6); RFC 8950 §3 allows 16 or 32 for IPv4 NLRI; 4 for IPv4.
  if (afi === Afi.IPV4 && nhLen === 4) nextHop.push(formatIPv4(nh));
  else if (nhLen === 16) nextHop.push(formatIPv6(nh));
  else if (nhLen === 32) nextHop.push(formatIPv6(nh), formatIPv6(nh, 16));
  else throw mpFail('MP_REACH_NLRI', `next hop length ${nhLen} for AFI ${afi}`, raw); // RFC 7606 §7.11: NLRI cannot be located reliably.
  r.u8(); // Reserved (RFC 4760 §3): ignored on receipt.
  const nlri = readNlri(r, afi, addPathFor(opts, afi));
  if (typeof nlri === 'string') throw mpFail('MP_REACH_NLRI', nlri, raw); // RFC 7606 §5.3
  return { afi, safi, nextHop, nlri };
}

function decodeMpUnreach(v: Uint8Array, raw: RawSpan, opts: AttributeCodecOptions): MpUnreach {
  if (v.length < 3) throw mpFail('MP_UNREACH_NLRI', `${v.length} byte(s)`, raw);
  const r = new ByteReader(v);
  const afi = r.u16();
  const safi = r.u8();
  if (!isUnicastFamily(afi, safi)) {
    throw err(SUB.OPTIONAL_ATTRIBUTE_ERROR, `MP_UNREACH_NLRI for AFI ${afi} SAFI ${safi} ignored`, 'attribute-discard', rawOf(raw));
  }
  const withdrawn = readNlri(r, afi, addPathFor(opts, afi));
  if (typeof withdrawn === 'string') throw mpFail('MP_UNREACH_NLRI', withdrawn, raw);
  return { afi, safi, withdrawn };
}

// ---------------------------------------------------------------------------
// Encoding

export interface Item {
  type: number;
  flags: number;
  length: number;
  write: (w: ByteWriter) => void;
}

function nextHopBytes(nh: readonly string[], afi: AddressFamily): Uint8Array[] {
  return nh.map((s) => {
    const b = afi === Afi.IPV4 && nh.length === 1 ? (parseIPv4(s) ?? parseIPv6(s)) : parseIPv6(s);
    if (b === undefined) throw new RangeError(`MP_REACH_NLRI next hop ${s} is not valid for AFI ${afi}`);
    return b;
  });
}

// (A function, not a closure in `items`: the build wraps named closures, which costs per call.)
function add(list: Item[], type: number, flags: number, length: number, write: (w: ByteWriter) => void): void {
  list.push({ type, flags, length, write });
}

/** The attributes to write, in order: MP_* first (RFC 7606 §5.1), then ascending type code (RFC 4271 §5). */
function items(a: PathAttributes, opts: AttributeCodecOptions): Item[] {
  const four = opts.fourOctetAs ?? true;
  const asnSize = four ? 4 : 2;
  const WK = AttributeFlag.TRANSITIVE;
  const OT = AttributeFlag.OPTIONAL | AttributeFlag.TRANSITIVE;
  const ON = AttributeFlag.OPTIONAL;
  const out: Item[] = [];
  if (a.mpReach !== undefined) {
    const m = a.mpReach;
    const nh = nextHopBytes(m.nextHop, m.afi);
    const nhLen = nh.reduce((n, b) => n + b.length, 0);
    const ap = addPathFor(opts, m.afi);
    add(out, T.MP_REACH_NLRI, ON, 5 + nhLen + nlriListLength(m.nlri, ap), (w) => {
      w.u16(m.afi).u8(m.safi).u8(nhLen);
      for (const b of nh) w.bytes(b);
      w.u8(0);
      writeNlri(w, m.nlri, m.afi, ap);
    });
  }
  if (a.mpUnreach !== undefined) {
    const m = a.mpUnreach;
    const ap = addPathFor(opts, m.afi);
    add(out, T.MP_UNREACH_NLRI, ON, 3 + nlriListLength(m.withdrawn, ap), (w) => {
      w.u16(m.afi).u8(m.safi);
      writeNlri(w, m.withdrawn, m.afi, ap);
    });
  }
  const rest: Item[] = [];
  if (a.origin !== undefined) {
    const o = ORIGINS.indexOf(a.origin);
    if (o < 0) throw new RangeError(`ORIGIN ${String(a.origin)}`);
    add(rest, T.ORIGIN, WK, 1, (w) => w.u8(o));
  }
  const as4 = four ? { path: false, agg: false } : needsAs4(a.asPath, a.aggregator);
  if (a.asPath !== undefined) {
    const p = a.asPath;
    add(rest, T.AS_PATH, WK, asPathValueLength(p, asnSize), (w) => writeAsPath(w, p, asnSize));
    if (as4.path) {
      const p4 = as4PathOf(p);
      add(rest, T.AS4_PATH, OT, asPathValueLength(p4, 4), (w) => writeAsPath(w, p4, 4));
    }
  }
  if (a.nextHop !== undefined) {
    const nh = parseIPv4(a.nextHop);
    if (nh === undefined) throw new RangeError(`NEXT_HOP ${a.nextHop} is not IPv4`);
    add(rest, T.NEXT_HOP, WK, 4, (w) => w.bytes(nh));
  }
  if (a.med !== undefined) {
    const v = a.med;
    add(rest, T.MULTI_EXIT_DISC, ON, 4, (w) => w.u32(v));
  }
  if (a.localPref !== undefined) {
    const v = a.localPref;
    add(rest, T.LOCAL_PREF, WK, 4, (w) => w.u32(v));
  }
  if (a.atomicAggregate === true) add(rest, T.ATOMIC_AGGREGATE, WK, 0, () => undefined);
  if (a.aggregator !== undefined) {
    const g = a.aggregator;
    const addr = parseIPv4(g.address);
    if (addr === undefined) throw new RangeError(`AGGREGATOR address ${g.address} is not IPv4`);
    add(rest, T.AGGREGATOR, OT, asnSize + 4, (w) => {
      if (four) w.u32(g.asn);
      else w.u16(g.asn > 0xffff ? AS_TRANS : g.asn);
      w.bytes(addr);
    });
    if (as4.agg) add(rest, T.AS4_AGGREGATOR, OT, 8, (w) => w.u32(g.asn).bytes(addr));
  }
  if (a.communities !== undefined && a.communities.length > 0) {
    const c = a.communities;
    add(rest, T.COMMUNITIES, OT, 4 * c.length, (w) => {
      for (const x of c) w.u32(x);
    });
  }
  if (a.originatorId !== undefined) {
    const b = parseIPv4(a.originatorId);
    if (b === undefined) throw new RangeError(`ORIGINATOR_ID ${a.originatorId}`);
    add(rest, T.ORIGINATOR_ID, ON, 4, (w) => w.bytes(b));
  }
  if (a.clusterList !== undefined && a.clusterList.length > 0) {
    const ids = a.clusterList.map((s) => {
      const b = parseIPv4(s);
      if (b === undefined) throw new RangeError(`CLUSTER_LIST entry ${s}`);
      return b;
    });
    add(rest, T.CLUSTER_LIST, ON, 4 * ids.length, (w) => {
      for (const b of ids) w.bytes(b);
    });
  }
  if (a.extendedCommunities !== undefined && a.extendedCommunities.length > 0) {
    const c = a.extendedCommunities;
    add(rest, T.EXTENDED_COMMUNITIES, OT, 8 * c.length, (w) => {
      for (const x of c) w.u64(x);
    });
  }
  if (a.largeCommunities !== undefined && a.largeCommunities.length > 0) {
    const c = a.largeCommunities;
    add(rest, T.LARGE_COMMUNITY, OT, 12 * c.length, (w) => {
      for (const x of c) w.u32(x.globalAdmin).u32(x.localData1).u32(x.localData2);
    });
  }
  for (const u of a.unknown ?? []) {
    if (ATTRIBUTES[u.type] !== undefined) throw new RangeError(`unknown attribute list holds known type ${u.type}`);
    const v = u.value;
    add(rest, u.type, u.flags & 0xe0, v.length, (w) => w.bytes(v));
  }
  rest.sort((x, y) => x.type - y.type);
  return [...out, ...rest];
}

function itemSize(i: Item): number {
  return (i.length > 255 ? 4 : 3) + i.length;
}

/** Encoded size of the path attributes field. */
export function attributesLength(a: PathAttributes, opts: AttributeCodecOptions = {}): number {
  return preparedLength(prepareAttributes(a, opts));
}

/** The attributes laid out for writing: compute once, then take the length and write (saves a pass). */
export type PreparedAttributes = readonly Item[];

export function prepareAttributes(a: PathAttributes, opts: AttributeCodecOptions = {}): PreparedAttributes {
  return items(a, opts);
}

export function preparedLength(p: PreparedAttributes): number {
  let n = 0;
  for (const i of p) n += itemSize(i);
  return n;
}

/** Write the path attributes field. */
export function writeAttributes(w: ByteWriter, a: PathAttributes, opts: AttributeCodecOptions = {}): void {
  writePrepared(w, items(a, opts));
}

export function writePrepared(w: ByteWriter, p: PreparedAttributes): void {
  for (const i of p) {
    if (i.length > 0xffff) throw new RangeError(`attribute ${i.type} of ${i.length} bytes exceeds 65535`);
    const ext = i.length > 255;
    w.u8(i.flags | (ext ? AttributeFlag.EXTENDED_LENGTH : 0)).u8(i.type);
    if (ext) w.u16(i.length);
    else w.u8(i.length);
    const before = w.length;
    i.write(w);
    if (w.length - before !== i.length) throw new Error(`internal: attribute ${i.type} wrote ${w.length - before} of ${i.length} bytes`);
  }
}

/** The path attributes field as bytes. */
export function encodeAttributes(a: PathAttributes, opts: AttributeCodecOptions = {}): Uint8Array {
  const w = new ByteWriter(attributesLength(a, opts));
  writeAttributes(w, a, opts);
  return w.finish();
}
