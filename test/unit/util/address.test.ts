import { describe, expect, it } from 'vitest';
import { formatIPv4, formatIPv6 } from '../../../src/util/address.js';
import { fromHex } from '../../../src/util/bytes.js';

describe('address text (RFC 5952)', () => {
  it('formats IPv4 at an offset and refuses short input', () => {
    expect(formatIPv4(Uint8Array.of(9, 192, 0, 2, 1), 1)).toBe('192.0.2.1');
    expect(() => formatIPv4(Uint8Array.of(1, 2, 3))).toThrow(RangeError);
  });

  it.each([
    ['20010db8000000000000000000000001', '2001:db8::1'], // §4.2.1: longest run as ::
    ['20010db8000000010000000000000001', '2001:db8:0:1::1'], // §4.2.2: a single zero group stays
    ['20010db8000000000001000000000001', '2001:db8::1:0:0:1'], // §4.2.3: first of equal runs
    ['20010DB8AAAA00BB00CC00DD00EE00FF'.toLowerCase(), '2001:db8:aaaa:bb:cc:dd:ee:ff'], // §4.3 lower case, §4.1 no leading zeros
    ['00000000000000000000000000000000', '::'],
    ['00000000000000000000ffffc0000201', '::ffff:192.0.2.1'], // §5: IPv4-mapped in mixed notation
    ['fe800000000000000000000000000000', 'fe80::'],
  ])('%s -> %s', (hex, text) => {
    expect(formatIPv6(fromHex(hex))).toBe(text);
  });

  it('formats IPv6 at an offset and refuses short input', () => {
    const b = new Uint8Array(18);
    b.set(fromHex('20010db8000000000000000000000001'), 2);
    expect(formatIPv6(b, 2)).toBe('2001:db8::1');
    expect(() => formatIPv6(b, 3)).toThrow(RangeError);
  });
});
