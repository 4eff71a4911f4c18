/**
 * IP address text from bytes, shared by every module so all of them print an
 * address the same way: dotted quad for IPv4, RFC 5952 text for IPv6 (lower
 * case, no leading zeros, the longest run of two or more zero groups as `::`,
 * the first on a tie, IPv4-mapped addresses in mixed notation).
 */

/** Dotted quad of the 4 bytes at `offset`. */
export function formatIPv4(b: Uint8Array, offset = 0): string {
  if (offset < 0 || offset + 4 > b.length) throw new RangeError(`formatIPv4: no 4 bytes at ${offset} of ${b.length}`);
  return `${b[offset]}.${b[offset + 1]}.${b[offset + 2]}.${b[offset + 3]}`;
}

/** RFC 5952 text of the 16 bytes at `offset`. */
export function formatIPv6(b: Uint8Array, offset = 0): string {
  if (offset < 0 || offset + 16 > b.length) throw new RangeError(`formatIPv6: no 16 bytes at ${offset} of ${b.length}`);
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(((b[offset + i * 2] as number) << 8) | (b[offset + i * 2 + 1] as number));
  // RFC 5952 §5: IPv4-mapped addresses keep the dotted quad.
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return `::ffff:${formatIPv4(b, offset + 12)}`;
  // RFC 5952 §4.2: the longest run of two or more zero groups, the first on a tie.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  if (best === -1) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}
