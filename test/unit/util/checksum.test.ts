import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checksumPartial, internetChecksum, ipv4PseudoHeader, ipv6PseudoHeader } from '../../../src/util/checksum.js';
import { fromHex } from '../../../src/util/bytes.js';

describe('internet checksum (RFC 1071)', () => {
  it('matches the RFC 1071 §3 worked example', () => {
    // 00 01 f2 03 f4 f5 f6 f7: one's complement sum 0xddf2, checksum its complement.
    const data = fromHex('0001 f203 f4f5 f6f7');
    expect(checksumPartial(data)).toBe(0xddf2);
    expect(internetChecksum(data)).toBe(0x220d);
  });

  it('computes a real IPv4 header checksum', () => {
    // IPv4 header of a UDP packet 192.168.0.1 -> 192.168.0.199, checksum field (b861) zeroed.
    const header = fromHex(
      '4500 0073' + // version 4, IHL 5, TOS 0, total length 115
        '0000 4000' + // id 0, flags DF
        '4011 0000' + // TTL 64, protocol 17 (UDP), checksum 0 for computing
        'c0a8 0001' + // source 192.168.0.1
        'c0a8 00c7', // destination 192.168.0.199
    );
    expect(internetChecksum(header)).toBe(0xb861);
    // With the checksum in place the whole header sums to zero.
    header[10] = 0xb8;
    header[11] = 0x61;
    expect(internetChecksum(header)).toBe(0);
  });

  it('pads an odd last byte with zero', () => {
    expect(internetChecksum(fromHex('ab'))).toBe(~0xab00 & 0xffff);
  });

  it('gives the same result for parts as for their concatenation, odd lengths included (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 33 }), { maxLength: 5 }), (parts) => {
        const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
        let at = 0;
        for (const p of parts) {
          all.set(p, at);
          at += p.length;
        }
        expect(internetChecksum(...parts)).toBe(internetChecksum(all));
      }),
    );
  });

  it('verifies to zero once the checksum is inserted (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 2, maxLength: 200 }).filter((b) => b.length % 2 === 0), (buf) => {
        buf[0] = 0;
        buf[1] = 0;
        const c = internetChecksum(buf);
        buf[0] = c >> 8;
        buf[1] = c & 0xff;
        expect(internetChecksum(buf)).toBe(0);
      }),
    );
  });

  it('stays exact on inputs whose sum exceeds 32 bits', () => {
    const big = new Uint8Array(1 << 20).fill(0xff); // 524288 words of 0xffff
    expect(internetChecksum(big)).toBe(0);
  });
});

describe('pseudo-headers', () => {
  it('lays out the IPv4 pseudo-header', () => {
    const h = ipv4PseudoHeader(fromHex('c0000201'), fromHex('e0000012'), 112, 20);
    expect(Array.from(h)).toEqual([192, 0, 2, 1, 224, 0, 0, 18, 0, 112, 0, 20]);
  });

  it('lays out the IPv6 pseudo-header (RFC 8200 §8.1)', () => {
    const src = fromHex('fe80000000000000 0000000000000001');
    const dst = fromHex('ff02000000000000 0000000000000012');
    const h = ipv6PseudoHeader(src, dst, 112, 0x01020304);
    expect(h.length).toBe(40);
    expect(Array.from(h.subarray(32))).toEqual([1, 2, 3, 4, 0, 0, 0, 112]);
    expect(() => ipv6PseudoHeader(src.subarray(1), dst, 112, 1)).toThrow(RangeError);
  });
});
