/**
 * VRRP advertisement codec: VRRPv2 (RFC 3768 §5) and VRRPv3 (RFC 9568 §5), for
 * IPv4 and IPv6, with the checksum rules of each.
 *
 * Wire layout, both versions (RFC 9568 §5.1, RFC 3768 §5.1):
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  v3|(rsvd) |     Max Adver Int     |          Checksum             |
 *  v2|   Auth Type   |   Adver Int   |          Checksum             |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                 IPvX Address(es) (4 or 16 bytes each)         |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  v2|                 Authentication Data (8 bytes)                 |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Checksums:
 * - v2: over the VRRP message alone (RFC 3768 §5.3.8).
 * - v3 over IPv6: over the RFC 8200 §8.1 pseudo-header and the message (RFC 9568 §5.2.8).
 * - v3 over IPv4: RFC 9568 §5.2.8 says the message alone; RFC 5798 §5.2.8 said with
 *   the IPv4 pseudo-header, and keepalived (vrrp.c, unless `v3_checksum_as_v2`)
 *   and FRR still send and require that. The sent form is a setting (default:
 *   pseudo-header, which keepalived accepts); receivers check both (see
 *   `verifyAdvertChecksum`), and also the form older keepalived sends to unicast
 *   peers, whose pseudo-header names the multicast group instead of the peer.
 */
import { ByteReader, ByteWriter } from '../util/bytes.js';
import { internetChecksum, ipv4PseudoHeader, ipv6PseudoHeader } from '../util/checksum.js';
import { DecodeError } from '../util/errors.js';
import { type AddressFamily, addressLength, formatIp, parseIp } from './address.js';
import {
  AUTH_NONE,
  IPPROTO_VRRP,
  MAX_ADDRESSES,
  MAX_ADVERT_INTERVAL_V2_S,
  MAX_ADVERT_INTERVAL_V3_CS,
  VRRP_GROUP_V4,
  VRRP_HEADER_LENGTH,
  VRRP_TYPE_ADVERTISEMENT,
  VRRP_V2_AUTH_DATA_LENGTH,
} from './constants.js';
import { VrrpError } from './errors.js';

interface AdvertCommon {
  /** Virtual Router Identifier, 1..255 (RFC 9568 §5.2.3). 0 is decodable but never valid. */
  vrid: number;
  /** 0 (master stopping) .. 255 (address owner) (RFC 9568 §5.2.4). */
  priority: number;
  /** The virtual addresses, as text, in wire order (RFC 9568 §5.2.9). */
  addresses: string[];
  /** Packet type; 1 (ADVERTISEMENT) is the only one defined (RFC 9568 §5.2.2). Default 1. */
  type?: number;
}

/** A VRRPv3 advertisement (RFC 9568 §5.2). */
export interface AdvertV3 extends AdvertCommon {
  version: 3;
  family: AddressFamily;
  /** Max Advertise Interval in centiseconds, 12 bits (RFC 9568 §5.2.7). */
  maxAdvertIntervalCs: number;
  /** The 4 reserved bits before the interval: sent as 0, kept on decode (RFC 9568 §5.2.6). */
  reserved?: number;
}

/** A VRRPv2 advertisement (RFC 3768 §5.3): IPv4 only. */
export interface AdvertV2 extends AdvertCommon {
  version: 2;
  family: 'ipv4';
  /** Advertisement Interval in seconds, 8 bits (RFC 3768 §5.3.7). */
  advertIntervalS: number;
  /** Auth Type (RFC 3768 §5.3.6): 0 none; 1 is RFC 2338's simple text password. Default 0. */
  authType?: number;
  /** Authentication Data, 8 bytes (RFC 3768 §5.3.10). Default zeros. */
  authData?: Uint8Array;
}

export type Advert = AdvertV2 | AdvertV3;

/** What `decodeAdvert` returns: every optional field filled in, plus the checksum as received. */
export type DecodedAdvert =
  | (Required<AdvertV3> & { checksum: number })
  | (Required<AdvertV2> & { checksum: number });

/**
 * How the v3 IPv4 checksum is computed:
 * - `pseudo-header`: RFC 5798, keepalived and FRR (the default for sending);
 * - `plain`: RFC 9568 §5.2.8 and router vendors: the VRRP message alone;
 * - `pseudo-header-group`: a pseudo-header naming 224.0.0.18 as
 *   destination although the packet was unicast, as keepalived before 2.0.x sent
 *   to unicast peers (its `unicast_chksum_compat`).
 */
export type ChecksumForm = 'pseudo-header' | 'plain' | 'pseudo-header-group';

export interface AdvertChecksumContext {
  /** IP source of the packet (the sender's primary address; v6: its link-local). */
  src: string;
  /** IP destination (the multicast group, or a unicast peer). */
  dst: string;
  /**
   * v3 IPv4 only: the checksum form to send. Default `pseudo-header` (interoperates
   * with keepalived); `plain` for RFC 9568 routers; `pseudo-header-group` for old
   * keepalived unicast peers. `followChecksumForm` picks it from what peers send.
   */
  ipv4Checksum?: ChecksumForm;
}

/** Encoded length of `advert` in bytes. */
export function advertLength(advert: Advert): number {
  const auth = advert.version === 2 ? VRRP_V2_AUTH_DATA_LENGTH : 0;
  return VRRP_HEADER_LENGTH + advert.addresses.length * addressLength(advert.family) + auth;
}

/**
 * Encode an advertisement with its checksum. `ctx` (the IP source and
 * destination) is needed whenever the checksum covers a pseudo-header: v3 over
 * IPv6 always, v3 over IPv4 in the default `pseudo-header` form. With unicast
 * peers the destination differs per peer, and so does the checksum: encode once
 * per peer.
 */
export function encodeAdvert(advert: Advert, ctx?: AdvertChecksumContext): Uint8Array {
  checkAdvert(advert);
  const len = advertLength(advert);
  const w = new ByteWriter(len);
  w.u8((advert.version << 4) | (advert.type ?? VRRP_TYPE_ADVERTISEMENT));
  w.u8(advert.vrid);
  w.u8(advert.priority);
  w.u8(advert.addresses.length);
  if (advert.version === 3) {
    // RFC 9568 §5.2.6-7: 4 reserved bits, then the 12-bit interval.
    w.u16((((advert.reserved ?? 0) & 0x0f) << 12) | advert.maxAdvertIntervalCs);
  } else {
    w.u8(advert.authType ?? AUTH_NONE);
    w.u8(advert.advertIntervalS);
  }
  const checksumAt = w.reserveU16();
  for (const a of advert.addresses) w.bytes(parseIp(a, advert.family));
  if (advert.version === 2) w.bytes(advert.authData ?? new Uint8Array(VRRP_V2_AUTH_DATA_LENGTH));
  const out = w.finish();
  const form = sendForm(advert, ctx);
  w.patchU16(checksumAt, computeChecksum(out, form, advert.family, ctx));
  return out;
}

/**
 * Decode the advertisement at `offset`. `family` comes from the IP header (the
 * packet does not say). Throws `DecodeError`: `ERR_SHORT_INPUT` when the input
 * ends inside the packet, `ERR_VRRP_VERSION` for a version other than 2 and 3,
 * `ERR_VRRP_V2_IPV6` for a v2 packet over IPv6 (RFC 3768 is IPv4 only). The
 * checksum is returned, not checked: see `verifyAdvertChecksum`.
 */
export function decodeAdvert(buf: Uint8Array, offset: number, family: AddressFamily): DecodedAdvert {
  const r = new ByteReader(buf, offset);
  const vt = r.u8('version/type');
  const version = vt >> 4;
  const type = vt & 0x0f;
  if (version !== 2 && version !== 3) {
    throw new DecodeError('ERR_VRRP_VERSION', `VRRP version ${version} is neither 2 nor 3`, offset);
  }
  if (version === 2 && family === 'ipv6') {
    throw new DecodeError('ERR_VRRP_V2_IPV6', 'VRRPv2 is defined for IPv4 only (RFC 3768)', offset);
  }
  const vrid = r.u8('VRID');
  const priority = r.u8('priority');
  const count = r.u8('address count');
  const addrLen = addressLength(family);
  if (version === 3) {
    const word = r.u16('max advertise interval');
    const checksum = r.u16('checksum');
    const addresses = readAddresses(r, count, addrLen);
    return {
      version: 3,
      type,
      family,
      vrid,
      priority,
      reserved: word >> 12,
      maxAdvertIntervalCs: word & 0x0fff,
      addresses,
      checksum,
    };
  }
  const authType = r.u8('auth type');
  const advertIntervalS = r.u8('advertisement interval');
  const checksum = r.u16('checksum');
  const addresses = readAddresses(r, count, addrLen);
  const authData = r.bytes(VRRP_V2_AUTH_DATA_LENGTH, 'authentication data').slice();
  return { version: 2, type, family: 'ipv4', vrid, priority, authType, advertIntervalS, authData, addresses, checksum };
}

function readAddresses(r: ByteReader, count: number, addrLen: number): string[] {
  // Check the whole list is there before reading any of it.
  r.need(count * addrLen, `${count} address(es)`);
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(formatIp(r.bytes(addrLen)));
  return out;
}

/**
 * Which checksum form `packet` (exactly the VRRP message, checksum field as
 * received) satisfies, or undefined when none of `accept` does. `version` and
 * `family` are the packet's; `src`/`dst` its IP addresses. For v2 and for v3 over
 * IPv6 there is one form (`plain` and `pseudo-header`); `accept` matters for v3
 * over IPv4 and defaults to all three forms, the configured sending form first.
 */
export function verifyAdvertChecksum(
  packet: Uint8Array,
  opts: {
    version: 2 | 3;
    family: AddressFamily;
    src: string;
    dst: string;
    accept?: readonly ChecksumForm[];
  },
): ChecksumForm | undefined {
  if (opts.version === 2) return internetChecksum(packet) === 0 ? 'plain' : undefined; // RFC 3768 §5.3.8
  if (opts.family === 'ipv6') {
    // RFC 9568 §5.2.8: IPv6 always with the RFC 8200 §8.1 pseudo-header.
    const ph = ipv6PseudoHeader(parseIp(opts.src, 'ipv6'), parseIp(opts.dst, 'ipv6'), IPPROTO_VRRP, packet.length);
    return internetChecksum(ph, packet) === 0 ? 'pseudo-header' : undefined;
  }
  const accept = opts.accept ?? (['pseudo-header', 'plain', 'pseudo-header-group'] as const);
  for (const form of accept) {
    if (form === 'pseudo-header-group' && opts.dst === VRRP_GROUP_V4) continue; // same as pseudo-header
    if (checksumOf(packet, form, opts.src, opts.dst) === 0) return form;
  }
  return undefined;
}

/** The checksum field value for `packet` (checksum field zero) in the given form. */
function computeChecksum(packet: Uint8Array, form: ChecksumForm, family: AddressFamily, ctx?: AdvertChecksumContext): number {
  if (form === 'plain') return internetChecksum(packet);
  if (ctx === undefined) throw new VrrpError('ERR_VRRP_ENCODE', 'this checksum covers a pseudo-header: give the IP src and dst');
  if (family === 'ipv6') {
    return internetChecksum(ipv6PseudoHeader(parseIp(ctx.src, 'ipv6'), parseIp(ctx.dst, 'ipv6'), IPPROTO_VRRP, packet.length), packet);
  }
  return checksumOf(packet, form, ctx.src, ctx.dst);
}

function checksumOf(packet: Uint8Array, form: ChecksumForm, src: string, dst: string): number {
  if (form === 'plain') return internetChecksum(packet);
  const d = form === 'pseudo-header-group' ? VRRP_GROUP_V4 : dst;
  return internetChecksum(ipv4PseudoHeader(parseIp(src, 'ipv4'), parseIp(d, 'ipv4'), IPPROTO_VRRP, packet.length), packet);
}

function sendForm(advert: Advert, ctx: AdvertChecksumContext | undefined): ChecksumForm {
  if (advert.version === 2) return 'plain'; // RFC 3768 §5.3.8
  if (advert.family === 'ipv6') return 'pseudo-header'; // RFC 9568 §5.2.8
  return ctx?.ipv4Checksum ?? 'pseudo-header';
}

/** Throw `ERR_VRRP_ENCODE` unless every field fits its wire width. */
function checkAdvert(a: Advert): void {
  const bad = (what: string): never => {
    throw new VrrpError('ERR_VRRP_ENCODE', `cannot encode advert: ${what}`);
  };
  if (a.version !== 2 && a.version !== 3) bad(`version ${String((a as { version: unknown }).version)}`);
  if (a.version === 2 && a.family !== 'ipv4') bad('VRRPv2 is IPv4 only (RFC 3768)');
  if (a.family !== 'ipv4' && a.family !== 'ipv6') bad(`family ${String(a.family)}`);
  const u8 = (v: number, what: string): void => {
    if (!Number.isInteger(v) || v < 0 || v > 255) bad(`${what} ${v} is not 0..255`);
  };
  u8(a.vrid, 'VRID');
  u8(a.priority, 'priority');
  const type = a.type ?? VRRP_TYPE_ADVERTISEMENT;
  if (!Number.isInteger(type) || type < 0 || type > 15) bad(`type ${type} is not 0..15`);
  if (a.addresses.length > MAX_ADDRESSES) bad(`${a.addresses.length} addresses, at most ${MAX_ADDRESSES}`);
  if (a.version === 3) {
    const iv = a.maxAdvertIntervalCs;
    if (!Number.isInteger(iv) || iv < 0 || iv > MAX_ADVERT_INTERVAL_V3_CS) bad(`max advertise interval ${iv} cs is not 0..4095`);
    const rsv = a.reserved ?? 0;
    if (!Number.isInteger(rsv) || rsv < 0 || rsv > 15) bad(`reserved ${rsv} is not 0..15`);
  } else {
    if (!Number.isInteger(a.advertIntervalS) || a.advertIntervalS < 0 || a.advertIntervalS > MAX_ADVERT_INTERVAL_V2_S) {
      bad(`advertisement interval ${a.advertIntervalS} s is not 0..255`);
    }
    u8(a.authType ?? AUTH_NONE, 'auth type');
    if (a.authData !== undefined && a.authData.length !== VRRP_V2_AUTH_DATA_LENGTH) bad(`auth data is ${a.authData.length} bytes, not 8`);
  }
}

/**
 * The 8 Authentication Data bytes of an RFC 2338 simple text password (Auth Type 1),
 * as keepalived's `auth_type PASS` sends it: the password's bytes, zero padded,
 * cut at 8 (RFC 2338 §5.3.10).
 */
export function simplePasswordAuthData(password: string): Uint8Array {
  const out = new Uint8Array(VRRP_V2_AUTH_DATA_LENGTH);
  out.set(new TextEncoder().encode(password).subarray(0, VRRP_V2_AUTH_DATA_LENGTH));
  return out;
}

/** The VRID of a VRRP packet without decoding it (for demultiplexing), or undefined when too short. */
export function peekVrid(packet: Uint8Array, offset = 0): number | undefined {
  return packet.length > offset + 1 ? packet[offset + 1] : undefined;
}
