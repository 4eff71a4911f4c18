/**
 * IP address text <-> bytes, pure and strict: dotted-quad IPv4 (no leading
 * zeros, as inet_pton) and RFC 4291 §2.2 IPv6 text (with `::` and a trailing
 * dotted quad), formatted back in the RFC 5952 canonical form so that two
 * spellings of one address give one key.
 */
import { formatIPv4, formatIPv6 } from '../util/address.js';
import { IpvsError } from './errors.js';

export type AddressFamily = 'ipv4' | 'ipv6';

/** AF_INET / AF_INET6 as the kernel numbers them (include/linux/socket.h). */
export const AF_INET = 2;
export const AF_INET6 = 10;

export interface ParsedAddress {
  family: AddressFamily;
  /** 4 or 16 bytes, network order. */
  bytes: Uint8Array;
  /** Canonical text (RFC 5952 for IPv6). */
  text: string;
}

function bad(text: string, why: string): IpvsError {
  return new IpvsError('ERR_IPVS_INVALID_ADDRESS', `invalid IP address ${JSON.stringify(text)}: ${why}`);
}

function parseV4(text: string, whole: string): Uint8Array {
  const parts = text.split('.');
  if (parts.length !== 4) throw bad(whole, 'IPv4 needs four dotted decimal parts');
  const out = new Uint8Array(4);
  parts.forEach((p, i) => {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) throw bad(whole, `part ${JSON.stringify(p)} is not a decimal 0..255 without leading zeros`);
    const n = Number(p);
    if (n > 255) throw bad(whole, `part ${p} is above 255`);
    out[i] = n;
  });
  return out;
}

/** The bytes of `t` if it is a canonical dotted quad (no leading zeros); undefined otherwise (then parseV4 decides). */
function canonicalV4(t: string): Uint8Array | undefined {
  const out = new Uint8Array(4);
  let part = 0;
  let v = 0;
  let digits = 0;
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || part === 3) return undefined;
      out[part++] = v;
      v = 0;
      digits = 0;
      continue;
    }
    if (c < 48 || c > 57 || (digits > 0 && v === 0)) return undefined;
    v = v * 10 + (c - 48);
    digits++;
    if (v > 255) return undefined;
  }
  if (part !== 3 || digits === 0) return undefined;
  out[3] = v;
  return out;
}

function parseV6(text: string): Uint8Array {
  if (text.includes('%')) throw bad(text, 'zone ids are not supported');
  const halves = text.split('::');
  if (halves.length > 2) throw bad(text, '"::" appears more than once');
  const groups = (s: string): number[] => {
    if (s === '') return [];
    const out: number[] = [];
    const parts = s.split(':');
    parts.forEach((p, i) => {
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parseV4(p, text);
        out.push(((v4[0] as number) << 8) | (v4[1] as number), ((v4[2] as number) << 8) | (v4[3] as number));
        return;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(p)) throw bad(text, `group ${JSON.stringify(p)} is not 1-4 hex digits`);
      out.push(parseInt(p, 16));
    });
    return out;
  };
  const head = groups(halves[0] ?? '');
  const tail = halves.length === 2 ? groups(halves[1] ?? '') : [];
  if (halves.length === 2 && (halves[1] ?? '').includes('.') && tail.length === 0) throw bad(text, 'bad embedded IPv4');
  if (halves.length === 1 && head.length !== 8) throw bad(text, `${head.length} groups, IPv6 has 8`);
  if (halves.length === 2 && head.length + tail.length > 7) throw bad(text, 'too many groups around "::"');
  // An embedded IPv4 address must come last.
  if (halves.length === 2 && (halves[0] ?? '').includes('.')) throw bad(text, 'embedded IPv4 must be at the end');
  const all = halves.length === 2 ? [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail] : head;
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  return out;
}

/** Parsed addresses by text: a table of 50,000 destinations names far fewer distinct addresses. */
const cache = new Map<string, ParsedAddress>();
const CACHE_MAX = 1 << 16;

/** Parse an IPv4 or IPv6 address; `ERR_IPVS_INVALID_ADDRESS` if it isn't one. Brackets around IPv6 are accepted. */
export function parseAddress(text: string): ParsedAddress {
  const hit = typeof text === 'string' ? cache.get(text) : undefined;
  if (hit !== undefined) return { family: hit.family, bytes: hit.bytes.slice(), text: hit.text };
  const p = parseUncached(text);
  if (cache.size >= CACHE_MAX) cache.clear();
  cache.set(text, p);
  return { family: p.family, bytes: p.bytes.slice(), text: p.text };
}

/**
 * `parseAddress` without the defensive copy: the cached result itself, for
 * internal callers that only read it (normalising 50,000 destinations calls
 * this 100,000 times). Never hand the result to users or write to its bytes.
 */
export function parseAddressShared(text: string): Readonly<ParsedAddress> {
  const hit = typeof text === 'string' ? cache.get(text) : undefined;
  if (hit !== undefined) return hit;
  const p = parseUncached(text);
  if (cache.size >= CACHE_MAX) cache.clear();
  cache.set(text, p);
  return p;
}

function parseUncached(text: string): ParsedAddress {
  if (typeof text !== 'string' || text.length === 0) throw bad(String(text), 'empty');
  let t = text.trim();
  if (t.startsWith('[') && t.endsWith(']')) t = t.slice(1, -1);
  if (!t.includes(':')) {
    // The usual case, a canonical dotted quad: its text is already the canonical one.
    const fast = canonicalV4(t);
    if (fast !== undefined) return { family: 'ipv4', bytes: fast, text: t };
  }
  if (t.includes(':')) {
    const bytes = parseV6(t);
    return { family: 'ipv6', bytes, text: formatAddress(bytes) };
  }
  const bytes = parseV4(t, text);
  return { family: 'ipv4', bytes, text: formatAddress(bytes) };
}

/** Format 4 bytes as dotted quad, 16 bytes as RFC 5952 IPv6 text. */
export function formatAddress(bytes: Uint8Array): string {
  if (bytes.length === 4) return formatIPv4(bytes);
  if (bytes.length !== 16) throw new RangeError(`formatAddress: ${bytes.length} bytes`);
  return formatIPv6(bytes);
}

/** The canonical text of an address (throws `ERR_IPVS_INVALID_ADDRESS`). */
export function canonicalAddress(text: string): string {
  return parseAddress(text).text;
}

/** union nf_inet_addr (16 bytes) for an address: IPv4 in the first 4 bytes. */
export function toInetAddr(a: Readonly<ParsedAddress>): Uint8Array {
  const out = new Uint8Array(16);
  out.set(a.bytes);
  return out;
}

/** Read union nf_inet_addr for `family`. */
export function fromInetAddr(family: AddressFamily, addr: Uint8Array): string {
  const need = family === 'ipv4' ? 4 : 16;
  if (addr.length < need) throw new IpvsError('ERR_IPVS_INVALID_ADDRESS', `address attribute of ${addr.length} bytes for ${family}`);
  if (need === 4) {
    // A dump of 50,000 destinations names far fewer addresses: one string per address (the same
    // string object also makes the reconciler's lookups by text cheaper: its hash is kept).
    const key = (((addr[0] as number) << 24) | ((addr[1] as number) << 16) | ((addr[2] as number) << 8) | (addr[3] as number)) >>> 0;
    let text = v4Text.get(key);
    if (text === undefined) {
      text = formatAddress(addr.subarray(0, 4));
      if (v4Text.size >= CACHE_MAX) v4Text.clear();
      v4Text.set(key, text);
    }
    return text;
  }
  return formatAddress(addr.subarray(0, need));
}
const v4Text = new Map<number, string>();

export function familyToAf(f: AddressFamily): number {
  return f === 'ipv4' ? AF_INET : AF_INET6;
}

export function afToFamily(af: number): AddressFamily {
  if (af === AF_INET) return 'ipv4';
  if (af === AF_INET6) return 'ipv6';
  throw new IpvsError('ERR_IPVS_UNSUPPORTED', `address family ${af} is neither AF_INET nor AF_INET6`);
}
