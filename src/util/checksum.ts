/**
 * The internet checksum (RFC 1071): the 16-bit one's complement of the one's
 * complement sum of the data taken as big-endian 16-bit words, an odd last byte
 * padded with zero. Used by VRRP (RFC 9568 §5.2.8) with or without the IPv4/IPv6
 * pseudo-header (RFC 8200 §8.1), and by ICMPv6 for neighbour advertisements.
 */

/** Add `data` to a running 32-bit partial sum (not yet folded or inverted). */
export function checksumPartial(data: Uint8Array, sum = 0): number {
  const n = data.length;
  let i = 0;
  for (; i + 1 < n; i += 2) sum += ((data[i] as number) << 8) | (data[i + 1] as number);
  if (i < n) sum += (data[i] as number) << 8;
  return fold(sum);
}

/** Fold a partial sum to 16 bits and take its one's complement. */
export function checksumFinish(sum: number): number {
  return ~fold(sum) & 0xffff;
}

// Arithmetic, not bitwise: the partial sum may exceed 32 bits for long inputs.
function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

/** Checksum of the concatenation of `parts` (pseudo-header first, then payload). */
export function internetChecksum(...parts: Uint8Array[]): number {
  // 16-bit words run across part boundaries: an odd-length part (other than the
  // last) shifts the alignment of the next, so join the parts in that case.
  if (parts.slice(0, -1).some((p) => p.length % 2 !== 0)) {
    const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    return checksumFinish(checksumPartial(all));
  }
  let sum = 0;
  for (const p of parts) sum = checksumPartial(p, sum);
  return checksumFinish(sum);
}

/**
 * IPv4 pseudo-header for upper-layer checksums: source, destination, zero,
 * protocol, upper-layer length (RFC 768 / RFC 793 layout).
 */
export function ipv4PseudoHeader(src: Uint8Array, dst: Uint8Array, protocol: number, length: number): Uint8Array {
  if (src.length !== 4 || dst.length !== 4) throw new RangeError('ipv4PseudoHeader: addresses must be 4 bytes');
  const h = new Uint8Array(12);
  h.set(src, 0);
  h.set(dst, 4);
  h[9] = protocol & 0xff;
  h[10] = (length >>> 8) & 0xff;
  h[11] = length & 0xff;
  return h;
}

/** IPv6 pseudo-header (RFC 8200 §8.1): source, destination, 32-bit length, 3 zero bytes, next header. */
export function ipv6PseudoHeader(src: Uint8Array, dst: Uint8Array, nextHeader: number, length: number): Uint8Array {
  if (src.length !== 16 || dst.length !== 16) throw new RangeError('ipv6PseudoHeader: addresses must be 16 bytes');
  const h = new Uint8Array(40);
  h.set(src, 0);
  h.set(dst, 16);
  h[32] = (length >>> 24) & 0xff;
  h[33] = (length >>> 16) & 0xff;
  h[34] = (length >>> 8) & 0xff;
  h[35] = length & 0xff;
  h[39] = nextHeader & 0xff;
  return h;
}
