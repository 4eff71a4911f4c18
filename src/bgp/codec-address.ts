/**
 * Addresses and prefixes: text <-> bytes, and the NLRI prefix encoding of
 * RFC 4271 §4.3 (length in bits, then just enough octets), with the path
 * identifier of ADD-PATH in front when negotiated (RFC 7911 §3).
 *
 * The public form of a prefix is its canonical text: `'192.0.2.0/24'`,
 * `'2001:db8::/32'` (IPv6 formatted per RFC 5952 §4). Canonical text is a good
 * map key, and the family shows in it. `parsePrefix` is strict: an address with
 * bits set beyond the prefix length is refused, because `10.0.0.1/8` almost
 * always hides a configuration mistake. On the wire, RFC 4271 §4.3 says the
 * trailing bits of the last octet "are irrelevant": the decoder clears them.
 */
import type { ByteReader, ByteWriter } from '../util/bytes.js';
import { formatIPv4, formatIPv6 } from '../util/address.js';
import { LvskitError } from '../util/errors.js';
import { Afi } from './constants.js';

/** IPv4 or IPv6 (IANA address family numbers). */
export type AddressFamily = typeof Afi.IPV4 | typeof Afi.IPV6;

/** A prefix taken apart: family, length in bits, and the full-width address (host bits zero). */
export interface PrefixParts {
  afi: AddressFamily;
  length: number;
  /** 4 or 16 bytes; every bit past `length` is zero. */
  bytes: Uint8Array;
}

/** One NLRI entry: a prefix in canonical text, and its ADD-PATH path identifier when negotiated (RFC 7911 §3). */
export interface Nlri {
  prefix: string;
  pathId?: number;
}

/** Raised for addresses and prefixes given by the application that are not valid. */
export class BgpInputError extends LvskitError {}

function bad(code: string, msg: string): BgpInputError {
  return new BgpInputError(code, msg);
}

/** Parse dotted-quad IPv4 text into 4 bytes; undefined if it isn't one. */
export function parseIPv4(text: string): Uint8Array | undefined {
  // Hand-written: this runs for every prefix encoded. Decimal only, no leading zeros.
  const out = new Uint8Array(4);
  let part = 0;
  let v = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const ch = i < text.length ? text.charCodeAt(i) : 46; // a final '.' closes the last part
    if (ch === 46) {
      if (digits === 0 || part > 3) return undefined;
      out[part++] = v;
      v = 0;
      digits = 0;
    } else if (ch >= 48 && ch <= 57) {
      if (digits > 0 && v === 0) return undefined; // leading zero
      v = v * 10 + (ch - 48);
      if (++digits > 3 || v > 255) return undefined;
    } else {
      return undefined;
    }
  }
  return part === 4 ? out : undefined;
}

export { formatIPv4, formatIPv6 };

/** Parse IPv6 text (RFC 4291 §2.2, incl. `::` and a trailing dotted quad) into 16 bytes. */
export function parseIPv6(text: string): Uint8Array | undefined {
  if (text.length === 0 || text.length > 45) return undefined;
  let head = text;
  let tail = '';
  const dbl = text.indexOf('::');
  if (dbl >= 0) {
    if (text.indexOf('::', dbl + 1) >= 0) return undefined;
    head = text.slice(0, dbl);
    tail = text.slice(dbl + 2);
  }
  const words = (s: string, allowV4: boolean): number[] | undefined => {
    if (s === '') return [];
    const groups = s.split(':');
    const out: number[] = [];
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i] as string;
      if (allowV4 && i === groups.length - 1 && g.includes('.')) {
        const v4 = parseIPv4(g);
        if (v4 === undefined) return undefined;
        out.push(((v4[0] as number) << 8) | (v4[1] as number), ((v4[2] as number) << 8) | (v4[3] as number));
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
        out.push(parseInt(g, 16));
      }
    }
    return out;
  };
  const h = words(head, dbl < 0);
  const t = words(tail, true);
  if (h === undefined || t === undefined) return undefined;
  let all: number[];
  if (dbl < 0) {
    if (h.length !== 8) return undefined;
    all = h;
  } else {
    if (h.length + t.length > 7) return undefined;
    all = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const w = all[i] as number;
    out[i * 2] = w >> 8;
    out[i * 2 + 1] = w & 0xff;
  }
  return out;
}

/** Parse an address of either family. */
export function parseAddress(text: string): { afi: AddressFamily; bytes: Uint8Array } | undefined {
  const v4 = parseIPv4(text);
  if (v4 !== undefined) return { afi: Afi.IPV4, bytes: v4 };
  const v6 = parseIPv6(text);
  if (v6 !== undefined) return { afi: Afi.IPV6, bytes: v6 };
  return undefined;
}

/** Format 4 or 16 bytes as an address. */
export function formatAddress(b: Uint8Array): string {
  if (b.length === 4) return formatIPv4(b);
  if (b.length === 16) return formatIPv6(b);
  throw new RangeError(`formatAddress: ${b.length} bytes is neither IPv4 nor IPv6`);
}

/** Canonical text of an address; throws `ERR_BGP_INVALID_ADDRESS` when it isn't one. */
export function canonicalAddress(text: string, afi?: AddressFamily): string {
  const a = parseAddress(text);
  if (a === undefined || (afi !== undefined && a.afi !== afi)) {
    throw bad('ERR_BGP_INVALID_ADDRESS', `not an ${afi === Afi.IPV6 ? 'IPv6 ' : afi === Afi.IPV4 ? 'IPv4 ' : ''}address: ${JSON.stringify(text)}`);
  }
  return formatAddress(a.bytes);
}

export function maxPrefixLength(afi: AddressFamily): number {
  return afi === Afi.IPV4 ? 32 : 128;
}

/**
 * Parse `addr/len` strictly: a valid address, a decimal length within the
 * family's width, and no bits set past the length. A bare address means a host
 * route (/32 or /128). Throws `ERR_BGP_INVALID_PREFIX`.
 */
export function parsePrefix(text: string): PrefixParts {
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const a = parseAddress(addrText);
  if (a === undefined) throw bad('ERR_BGP_INVALID_PREFIX', `not a prefix: ${JSON.stringify(text)} (bad address)`);
  const max = maxPrefixLength(a.afi);
  let length = max;
  if (slash >= 0) {
    const lenText = text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(lenText) || Number(lenText) > max) {
      throw bad('ERR_BGP_INVALID_PREFIX', `not a prefix: ${JSON.stringify(text)} (length must be 0..${max})`);
    }
    length = Number(lenText);
  }
  if (!hostBitsZero(a.bytes, length)) {
    throw bad('ERR_BGP_INVALID_PREFIX', `not a prefix: ${JSON.stringify(text)} has bits set past /${length}`);
  }
  return { afi: a.afi, length, bytes: a.bytes };
}

/** Canonical text of a prefix (validated as `parsePrefix` does). */
export function canonicalPrefix(text: string): string {
  return formatPrefix(parsePrefix(text));
}

export function formatPrefix(p: PrefixParts): string {
  return `${formatAddress(p.bytes)}/${p.length}`;
}

/** Family of a canonical prefix or address text (by its separator; no validation). */
export function familyOf(text: string): AddressFamily {
  return text.includes(':') ? Afi.IPV6 : Afi.IPV4;
}

function hostBitsZero(bytes: Uint8Array, length: number): boolean {
  for (let bit = length; bit < bytes.length * 8; ) {
    const i = bit >> 3;
    const within = bit & 7;
    const mask = within === 0 ? 0xff : 0xff >> within;
    if (((bytes[i] as number) & mask) !== 0) return false;
    bit = (i + 1) * 8;
  }
  return true;
}

/**
 * Canonical IPv4 prefix text (`a.b.c.d/len`, decimal without leading zeros,
 * no bits past the length: what `formatPrefix` and the decoder write) as
 * `address * 64 + length`, without allocating; -1 for anything else (IPv6,
 * bad or non-canonical text), which callers then treat the strict way.
 */
export function ipv4PrefixKey(text: string): number {
  let addr = 0;
  let part = 0;
  let v = 0;
  let digits = 0;
  const n = text.length;
  let i = 0;
  // At most 18 characters: bounded.
  for (; i < n && i < 19; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits > 0 && v === 0) return -1; // leading zero
      v = v * 10 + c - 48;
      if (++digits > 3 || v > 255) return -1;
    } else if (c === 46 || c === 47) {
      if (digits === 0) return -1;
      addr = addr * 256 + v;
      v = 0;
      digits = 0;
      part++;
      if (c === 47) break;
      if (part > 3) return -1;
    } else return -1;
  }
  if (part !== 4 || i >= n) return -1;
  let len = 0;
  let ld = 0;
  for (i++; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57 || (ld > 0 && len === 0) || ++ld > 2) return -1;
    len = len * 10 + c - 48;
  }
  if (ld === 0 || len > 32) return -1;
  if (len < 32 && addr % 2 ** (32 - len) !== 0) return -1; // host bits set: not canonical
  return addr * 64 + len;
}

/** Wire size of one NLRI entry (RFC 4271 §4.3; plus 4 for an ADD-PATH identifier, RFC 7911 §3). */
export function nlriLength(length: number, addPath: boolean): number {
  return 1 + ((length + 7) >> 3) + (addPath ? 4 : 0);
}

/**
 * Write NLRI entries of one family (RFC 4271 §4.3; RFC 7911 §3 when `addPath`).
 * Throws `ERR_BGP_INVALID_PREFIX` for a prefix of the wrong family or not canonical.
 */
export function writeNlri(w: ByteWriter, list: readonly Nlri[], afi: AddressFamily, addPath: boolean): void {
  for (const n of list) {
    if (afi === Afi.IPV4) {
      // Fast path for canonical IPv4 text (every prefix of a table); anything else goes the strict way below.
      const k = ipv4PrefixKey(n.prefix);
      if (k >= 0) {
        const len = k % 64;
        const addr = (k - len) / 64;
        if (addPath) w.u32(n.pathId ?? 0);
        w.u8(len);
        for (let i = 0, shift = 24; i < (len + 7) >> 3; i++, shift -= 8) w.u8(Math.floor(addr / 2 ** shift) & 0xff);
        continue;
      }
    }
    const p = parsePrefix(n.prefix);
    if (p.afi !== afi) throw bad('ERR_BGP_INVALID_PREFIX', `${n.prefix} is not ${afi === Afi.IPV4 ? 'IPv4' : 'IPv6'}`);
    if (addPath) w.u32(n.pathId ?? 0);
    w.u8(p.length);
    w.bytes(p.bytes.subarray(0, (p.length + 7) >> 3));
  }
}

/** Encoded size of NLRI entries (prefixes assumed valid). */
export function nlriListLength(list: readonly Nlri[], addPath: boolean): number {
  let n = 0;
  for (const x of list) {
    const slash = x.prefix.lastIndexOf('/');
    const len = slash < 0 ? (x.prefix.includes(':') ? 128 : 32) : Number(x.prefix.slice(slash + 1));
    n += nlriLength(len, addPath);
  }
  return n;
}

/**
 * Read NLRI entries of one family until the reader ends. Returns the entries,
 * or a string saying what is wrong (RFC 7606 §5.3: a prefix length beyond the
 * family's width or running past the field); the caller picks the NOTIFICATION.
 * Bits past the prefix length in the last octet are cleared (RFC 4271 §4.3).
 */
export function readNlri(r: ByteReader, afi: AddressFamily, addPath: boolean): Nlri[] | string {
  const out: Nlri[] = [];
  const max = maxPrefixLength(afi);
  const buf = r.buf;
  // Each entry consumes at least one byte: bounded by the field length.
  while (r.remaining > 0) {
    let pathId: number | undefined;
    if (addPath) {
      if (r.remaining < 5) return `ADD-PATH NLRI truncated at byte ${r.offset}`;
      pathId = r.u32();
    }
    const length = r.u8();
    if (length > max) return `prefix length ${length} exceeds ${max} at byte ${r.offset - 1}`;
    const n = (length + 7) >> 3;
    if (n > r.remaining) return `prefix /${length} needs ${n} byte(s), ${r.remaining} left in the field`;
    const at = r.offset;
    r.skipBytes(n);
    // Hot path (a full table is a million of these): no per-prefix allocation but the string.
    const lastMask = (length & 7) === 0 ? 0xff : (0xff << (8 - (length & 7))) & 0xff;
    let prefix: string;
    if (afi === Afi.IPV4) {
      const o0 = n > 0 ? (buf[at] as number) & (n === 1 ? lastMask : 0xff) : 0;
      const o1 = n > 1 ? (buf[at + 1] as number) & (n === 2 ? lastMask : 0xff) : 0;
      const o2 = n > 2 ? (buf[at + 2] as number) & (n === 3 ? lastMask : 0xff) : 0;
      const o3 = n > 3 ? (buf[at + 3] as number) & lastMask : 0;
      prefix = o0 + '.' + o1 + '.' + o2 + '.' + o3 + '/' + length;
    } else {
      SCRATCH6.fill(0);
      for (let i = 0; i < n; i++) SCRATCH6[i] = buf[at + i] as number;
      if (n > 0) SCRATCH6[n - 1] = (SCRATCH6[n - 1] as number) & lastMask;
      prefix = formatIPv6(SCRATCH6) + '/' + length;
    }
    out.push(pathId === undefined ? { prefix } : { prefix, pathId });
  }
  return out;
}

const SCRATCH6 = new Uint8Array(16);
