import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ByteReader, ByteWriter, fromHex, toHex } from '../../../src/util/bytes.js';
import { isLvskitError } from '../../../src/util/errors.js';
import {
  canonicalAddress,
  canonicalPrefix,
  familyOf,
  formatIPv6,
  nlriListLength,
  parseIPv4,
  parseIPv6,
  parsePrefix,
  readNlri,
  writeNlri,
} from '../../../src/bgp/codec-address.js';
import { prefix4, prefix6 } from './arbitraries.js';

describe('addresses', () => {
  it('parses dotted quads strictly', () => {
    expect(Array.from(parseIPv4('192.0.2.1') ?? [])).toEqual([192, 0, 2, 1]);
    for (const bad of ['192.0.2', '192.0.2.1.5', '256.0.0.1', '01.2.3.4', '1.2.3.-4', '1.2.3.a', '', '1..2.3']) {
      expect(parseIPv4(bad), bad).toBeUndefined();
    }
  });

  it('parses IPv6 with :: and an embedded IPv4 tail', () => {
    expect(toHex(parseIPv6('2001:db8::1') as Uint8Array)).toBe('20010db8000000000000000000000001');
    expect(toHex(parseIPv6('::') as Uint8Array)).toBe('0'.repeat(32));
    expect(toHex(parseIPv6('::ffff:192.0.2.1') as Uint8Array)).toBe('00000000000000000000ffffc0000201');
    expect(toHex(parseIPv6('fe80::') as Uint8Array)).toBe('fe80' + '0'.repeat(28));
    for (const bad of ['2001:db8::1::2', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', 'g::1', '12345::', ':1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8::']) {
      expect(parseIPv6(bad), bad).toBeUndefined();
    }
  });

  it('formats IPv6 as RFC 5952 §4 says', () => {
    const f = (s: string): string => formatIPv6(parseIPv6(s) as Uint8Array);
    expect(f('2001:0DB8:0000:0000:0000:0000:0000:0001')).toBe('2001:db8::1'); // §4.1 no leading zeros, §4.3 lower case
    expect(f('2001:db8:0:1:1:1:1:1')).toBe('2001:db8:0:1:1:1:1:1'); // §4.2.2 one zero group stays
    expect(f('2001:0:0:1:0:0:0:1')).toBe('2001:0:0:1::1'); // §4.2.3 the longest run
    expect(f('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1'); // §4.2.3 the first of equal runs
    expect(f('0:0:0:0:0:0:0:0')).toBe('::');
  });

  it('canonicalizes and checks the family', () => {
    expect(canonicalAddress('2001:DB8:0::1')).toBe('2001:db8::1');
    expect(() => canonicalAddress('192.0.2.1', 2)).toThrow(/IPv6/);
    expect(familyOf('2001:db8::/32')).toBe(2);
    expect(familyOf('192.0.2.0/24')).toBe(1);
  });
});

describe('prefixes', () => {
  it('parses canonical and host-route forms', () => {
    expect(parsePrefix('10.0.0.0/8')).toEqual({ afi: 1, length: 8, bytes: Uint8Array.of(10, 0, 0, 0) });
    expect(canonicalPrefix('192.0.2.7')).toBe('192.0.2.7/32');
    expect(canonicalPrefix('2001:DB8::/32')).toBe('2001:db8::/32');
    expect(canonicalPrefix('0.0.0.0/0')).toBe('0.0.0.0/0');
    expect(canonicalPrefix('::/0')).toBe('::/0');
  });

  it('refuses host bits past the length, bad lengths and bad addresses', () => {
    for (const bad of ['10.0.0.1/8', '192.0.2.128/24', '2001:db8::1/64', '10.0.0.0/33', '::/129', '10.0.0.0/08', '10.0.0.0/', 'x/8', '10.0.0.0/-1']) {
      try {
        parsePrefix(bad);
        expect.unreachable(bad);
      } catch (e) {
        expect(isLvskitError(e, 'ERR_BGP_INVALID_PREFIX'), bad).toBe(true);
      }
    }
  });

  it('encodes NLRI in the fewest octets (RFC 4271 §4.3)', () => {
    const w = new ByteWriter();
    writeNlri(w, [{ prefix: '10.0.0.0/8' }, { prefix: '192.0.2.0/25' }, { prefix: '0.0.0.0/0' }], 1, false);
    expect(toHex(w.finish())).toBe(
      [
        '08 0a', // /8: one octet (RFC 4271 §4.3)
        '19 c0000200', // /25: four octets
        '00', // /0: no octets
      ].join('').replace(/ /g, ''),
    );
  });

  it('puts the path identifier first with ADD-PATH (RFC 7911 §3)', () => {
    const w = new ByteWriter();
    writeNlri(w, [{ prefix: '2001:db8::/32', pathId: 7 }], 2, true);
    expect(toHex(w.finish())).toBe('00000007' + '20' + '20010db8');
  });

  it('clears bits the sender left set past the prefix length (RFC 4271 §4.3: irrelevant)', () => {
    const got = readNlri(new ByteReader(fromHex('12 0a00ff')), 1, false); // /18 with the last 6 bits set
    expect(got).toEqual([{ prefix: '10.0.192.0/18' }]);
  });

  it('reports lengths past the family width or past the field (RFC 7606 §5.3)', () => {
    expect(readNlri(new ByteReader(fromHex('21 0a000000 00')), 1, false)).toMatch(/exceeds 32/);
    expect(readNlri(new ByteReader(fromHex('18 0a00')), 1, false)).toMatch(/needs 3/);
    expect(readNlri(new ByteReader(fromHex('81' + '00'.repeat(17))), 2, false)).toMatch(/exceeds 128/);
    expect(readNlri(new ByteReader(fromHex('000000')), 1, true)).toMatch(/ADD-PATH/);
  });

  it('round-trips any prefix list, and the computed length is the written length (property)', () => {
    fc.assert(
      fc.property(fc.array(prefix4), fc.array(prefix6), fc.boolean(), (p4, p6, ap) => {
        for (const [list, afi] of [[p4, 1], [p6, 2]] as const) {
          const nl = list.map((prefix, i) => (ap ? { prefix, pathId: i } : { prefix }));
          const w = new ByteWriter();
          writeNlri(w, nl, afi, ap);
          const bytes = w.finish();
          expect(bytes.length).toBe(nlriListLength(nl, ap));
          expect(readNlri(new ByteReader(bytes), afi, ap)).toEqual(nl);
          for (const p of list) expect(canonicalPrefix(p)).toBe(p);
        }
      }),
    );
  });

  it('parses every canonical text it formats and nothing throws but a typed error (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 50 }), (s) => {
        try {
          const p = parsePrefix(s);
          expect(parsePrefix(canonicalPrefix(s))).toEqual(p);
        } catch (e) {
          expect(isLvskitError(e, 'ERR_BGP_INVALID_PREFIX')).toBe(true);
        }
      }),
    );
  });
});
