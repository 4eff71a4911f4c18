/**
 * IPv4 / IPv6 / MAC address text <-> bytes, pure. The public model carries
 * addresses as strings (`'192.0.2.1'`, `'fe80::1'`); the wire carries bytes in
 * network order. IPv6 text is written in the RFC 5952 canonical form so a decode
 * gives one spelling per address; any RFC 4291 §2.2 form is accepted.
 */
import { formatIPv4, formatIPv6 } from '../util/address.js';
import { VrrpError } from './errors.js';

export type AddressFamily = 'ipv4' | 'ipv6';

/** Byte length of an address of `family`. */
export function addressLength(family: AddressFamily): 4 | 16 {
  return family === 'ipv4' ? 4 : 16;
}

/** The family of an address string, or undefined when it is neither. */
export function addressFamily(text: string): AddressFamily | undefined {
  if (parseIpv4(text) !== undefined) return 'ipv4';
  if (parseIpv6(text) !== undefined) return 'ipv6';
  return undefined;
}

/** Parse an IPv4 or IPv6 address; throws `ERR_VRRP_ADDRESS` when it is neither (or not of `family`). */
export function parseIp(text: string, family?: AddressFamily): Uint8Array {
  const b = family === 'ipv6' ? undefined : parseIpv4(text);
  if (b !== undefined) return b;
  const b6 = family === 'ipv4' ? undefined : parseIpv6(text);
  if (b6 !== undefined) return b6;
  throw new VrrpError('ERR_VRRP_ADDRESS', `not an ${family === undefined ? 'IP' : family === 'ipv4' ? 'IPv4' : 'IPv6'} address: ${JSON.stringify(text)}`);
}

/** Format 4 or 16 bytes as an address (IPv6 in RFC 5952 form). */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return formatIPv4(bytes);
  if (bytes.length !== 16) throw new VrrpError('ERR_VRRP_ADDRESS', `an address is 4 or 16 bytes, not ${bytes.length}`);
  return formatIPv6(bytes);
}

/** Canonical text of an address (`'2001:DB8:0::1'` -> `'2001:db8::1'`). */
export function canonicalIp(text: string, family?: AddressFamily): string {
  return formatIp(parseIp(text, family));
}

/** Unsigned comparison in network byte order (RFC 9568 §6.4.3 tie break): negative, 0 or positive. */
export function compareAddressBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** Compare two address strings numerically (see `compareAddressBytes`). */
export function compareIp(a: string, b: string): number {
  return compareAddressBytes(parseIp(a), parseIp(b));
}

/** True for fe80::/10 (RFC 4291 §2.5.6). */
export function isIpv6LinkLocal(text: string): boolean {
  const b = parseIpv6(text);
  return b !== undefined && b[0] === 0xfe && ((b[1] as number) & 0xc0) === 0x80;
}

function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] as string;
    // Decimal only, no leading zeros (which some parsers read as octal).
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    out[i] = v;
  }
  return out;
}

function parseIpv6(text: string): Uint8Array | undefined {
  if (text.length === 0 || text.length > 45) return undefined;
  let head = text;
  const out = new Uint8Array(16);
  // An embedded dotted quad takes the last 32 bits (RFC 4291 §2.2 form 3).
  let tailV4: Uint8Array | undefined;
  const lastColon = text.lastIndexOf(':');
  if (lastColon >= 0 && text.indexOf('.', lastColon) >= 0) {
    tailV4 = parseIpv4(text.slice(lastColon + 1));
    if (tailV4 === undefined) return undefined;
    head = text.slice(0, lastColon + 1) + '0:0';
  }
  const dbl = head.indexOf('::');
  if (dbl >= 0 && head.indexOf('::', dbl + 1) >= 0) return undefined;
  const parseWords = (s: string): number[] | undefined => {
    if (s === '') return [];
    const ws: number[] = [];
    for (const w of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(w)) return undefined;
      ws.push(parseInt(w, 16));
    }
    return ws;
  };
  let words: number[];
  if (dbl >= 0) {
    const left = parseWords(head.slice(0, dbl));
    const right = parseWords(head.slice(dbl + 2));
    if (left === undefined || right === undefined || left.length + right.length > 7) return undefined;
    words = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  } else {
    const all = parseWords(head);
    if (all === undefined || all.length !== 8) return undefined;
    words = all;
  }
  for (let i = 0; i < 8; i++) {
    out[i * 2] = (words[i] as number) >> 8;
    out[i * 2 + 1] = (words[i] as number) & 0xff;
  }
  if (tailV4 !== undefined) out.set(tailV4, 12);
  return out;
}

/** Parse a MAC address (`00:00:5e:00:01:0a`, `-` also accepted as separator). */
export function parseMac(text: string): Uint8Array {
  const parts = text.split(/[:-]/);
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) {
    throw new VrrpError('ERR_VRRP_ADDRESS', `not a MAC address: ${JSON.stringify(text)}`);
  }
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

/** Format 6 bytes as `xx:xx:xx:xx:xx:xx` (lower case). */
export function formatMac(bytes: Uint8Array): string {
  if (bytes.length !== 6) throw new VrrpError('ERR_VRRP_ADDRESS', `a MAC address is 6 bytes, not ${bytes.length}`);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** A MAC given as text or bytes, as 6 bytes. */
export function macBytes(mac: string | Uint8Array): Uint8Array {
  if (typeof mac === 'string') return parseMac(mac);
  if (mac.length !== 6) throw new VrrpError('ERR_VRRP_ADDRESS', `a MAC address is 6 bytes, not ${mac.length}`);
  return mac;
}
