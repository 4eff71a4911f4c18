import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { arbAdvert } from './arbitraries.js';
import {
  type Advert,
  type AdvertV2,
  type AdvertV3,
  advertLength,
  decodeAdvert,
  encodeAdvert,
  peekVrid,
  simplePasswordAuthData,
  verifyAdvertChecksum,
} from '../../../src/vrrp/codec.js';
import { VrrpError } from '../../../src/vrrp/errors.js';
import { DecodeError } from '../../../src/util/errors.js';
import { fromHex, toHex } from '../../../src/util/bytes.js';
import {
  KEEPALIVED_SRC_V4,
  KEEPALIVED_SRC_V6,
  KEEPALIVED_V2,
  KEEPALIVED_V2_PRIO0,
  KEEPALIVED_V3_V4,
  KEEPALIVED_V3_V4_PRIO0,
  KEEPALIVED_V3_V4_UNICAST,
  KEEPALIVED_V3_V6,
  KEEPALIVED_V3_V6_PRIO0,
} from './fixtures.js';

const GROUP4 = '224.0.0.18';
const GROUP6 = 'ff02::12';

const v3v4: AdvertV3 = {
  version: 3,
  family: 'ipv4',
  vrid: 51,
  priority: 100,
  maxAdvertIntervalCs: 100,
  addresses: ['192.0.2.100', '192.0.2.101'],
};
const v3v6: AdvertV3 = {
  version: 3,
  family: 'ipv6',
  vrid: 52,
  priority: 200,
  maxAdvertIntervalCs: 50,
  addresses: ['fe80::52', '2001:db8::52'],
};
const v2: AdvertV2 = {
  version: 2,
  family: 'ipv4',
  vrid: 53,
  priority: 150,
  advertIntervalS: 2,
  authType: 1,
  authData: simplePasswordAuthData('secret12'),
  addresses: ['192.0.2.153'],
};

describe('advert codec against keepalived captures', () => {
  it('encodes VRRPv3 IPv4 byte for byte as keepalived does (pseudo-header checksum by default)', () => {
    expect(toHex(encodeAdvert(v3v4, { src: KEEPALIVED_SRC_V4, dst: GROUP4 }))).toBe(toHex(KEEPALIVED_V3_V4));
    expect(toHex(encodeAdvert({ ...v3v4, priority: 0 }, { src: KEEPALIVED_SRC_V4, dst: GROUP4 }))).toBe(toHex(KEEPALIVED_V3_V4_PRIO0));
  });

  it('encodes VRRPv3 IPv6 byte for byte (RFC 9568 §5.2.8 pseudo-header)', () => {
    expect(toHex(encodeAdvert(v3v6, { src: KEEPALIVED_SRC_V6, dst: GROUP6 }))).toBe(toHex(KEEPALIVED_V3_V6));
    expect(toHex(encodeAdvert({ ...v3v6, priority: 0 }, { src: KEEPALIVED_SRC_V6, dst: GROUP6 }))).toBe(toHex(KEEPALIVED_V3_V6_PRIO0));
  });

  it('encodes VRRPv2 with a simple password byte for byte (RFC 3768 §5.3.8 checksum, no pseudo-header)', () => {
    expect(toHex(encodeAdvert(v2))).toBe(toHex(KEEPALIVED_V2));
    expect(toHex(encodeAdvert({ ...v2, priority: 0 }))).toBe(toHex(KEEPALIVED_V2_PRIO0));
  });

  it('decodes the captures into the public model', () => {
    expect(decodeAdvert(KEEPALIVED_V3_V4, 0, 'ipv4')).toEqual({ ...v3v4, type: 1, reserved: 0, checksum: 0x42fd });
    expect(decodeAdvert(KEEPALIVED_V3_V6, 0, 'ipv6')).toEqual({ ...v3v6, type: 1, reserved: 0, checksum: 0xdc80 });
    expect(decodeAdvert(KEEPALIVED_V2, 0, 'ipv4')).toEqual({ ...v2, type: 1, checksum: 0x17af });
  });

  it('verifies each capture in the form keepalived sent it', () => {
    expect(verifyAdvertChecksum(KEEPALIVED_V3_V4, { version: 3, family: 'ipv4', src: KEEPALIVED_SRC_V4, dst: GROUP4 })).toBe('pseudo-header');
    expect(verifyAdvertChecksum(KEEPALIVED_V3_V6, { version: 3, family: 'ipv6', src: KEEPALIVED_SRC_V6, dst: GROUP6 })).toBe('pseudo-header');
    expect(verifyAdvertChecksum(KEEPALIVED_V2, { version: 2, family: 'ipv4', src: KEEPALIVED_SRC_V4, dst: GROUP4 })).toBe('plain');
    // The IPv6 pseudo-header binds the source: the same bytes from another address fail.
    expect(verifyAdvertChecksum(KEEPALIVED_V3_V6, { version: 3, family: 'ipv6', src: 'fe80::ff:fe00:b', dst: GROUP6 })).toBeUndefined();
  });
});

describe('VRRPv3 IPv4 checksum forms (RFC 9568 §5.2.8 vs RFC 5798 / keepalived)', () => {
  const ctx = { src: '192.0.2.1', dst: GROUP4 };

  it('sends the RFC 9568 message-only form when asked, and tells the two apart on receive', () => {
    const plain = encodeAdvert(v3v4, { ...ctx, ipv4Checksum: 'plain' });
    const pseudo = encodeAdvert(v3v4, ctx);
    // Same bytes but for the checksum.
    expect(toHex(plain.subarray(8))).toBe(toHex(pseudo.subarray(8)));
    expect(toHex(plain.subarray(0, 6))).toBe(toHex(pseudo.subarray(0, 6)));
    expect(toHex(plain.subarray(6, 8))).not.toBe(toHex(pseudo.subarray(6, 8)));
    expect(verifyAdvertChecksum(plain, { version: 3, family: 'ipv4', ...ctx })).toBe('plain');
    expect(verifyAdvertChecksum(pseudo, { version: 3, family: 'ipv4', ...ctx })).toBe('pseudo-header');
    // Strict receivers.
    expect(verifyAdvertChecksum(plain, { version: 3, family: 'ipv4', ...ctx, accept: ['pseudo-header'] })).toBeUndefined();
    expect(verifyAdvertChecksum(pseudo, { version: 3, family: 'ipv4', ...ctx, accept: ['plain'] })).toBeUndefined();
  });

  it('a plain-form checksum needs no IP context; a pseudo-header one refuses to guess it', () => {
    expect(() => encodeAdvert(v3v4)).toThrow(VrrpError);
    expect(() => encodeAdvert(v3v6)).toThrow(VrrpError);
    expect(encodeAdvert(v3v4, { src: '0.0.0.0', dst: '0.0.0.0', ipv4Checksum: 'plain' })).toHaveLength(16);
  });

  it('keepalived 2.2 to a unicast peer: the pseudo-header names the peer, byte for byte', () => {
    const a: AdvertV3 = { version: 3, family: 'ipv4', vrid: 61, priority: 100, maxAdvertIntervalCs: 100, addresses: ['192.0.2.161'] };
    const ctx = { src: '192.0.2.11', dst: '192.0.2.12' };
    expect(toHex(encodeAdvert(a, ctx))).toBe(toHex(KEEPALIVED_V3_V4_UNICAST));
    expect(verifyAdvertChecksum(KEEPALIVED_V3_V4_UNICAST, { version: 3, family: 'ipv4', ...ctx })).toBe('pseudo-header');
  });

  it('recognises the old keepalived unicast form, whose pseudo-header names the group, not the peer', () => {
    // keepalived before 2.0 (unicast_chksum_compat): sent to 192.0.2.2 but summed as if to 224.0.0.18.
    const compat = encodeAdvert(v3v4, { src: '192.0.2.1', dst: GROUP4 });
    const unicast = { version: 3 as const, family: 'ipv4' as const, src: '192.0.2.1', dst: '192.0.2.2' };
    expect(verifyAdvertChecksum(compat, unicast)).toBe('pseudo-header-group');
    expect(verifyAdvertChecksum(encodeAdvert(v3v4, { src: '192.0.2.1', dst: '192.0.2.2' }), unicast)).toBe('pseudo-header');
    expect(verifyAdvertChecksum(compat, { ...unicast, accept: ['pseudo-header', 'plain'] })).toBeUndefined();
  });

  it('detects any single flipped bit, in every form', () => {
    for (const [pkt, opts] of [
      [encodeAdvert(v3v4, ctx), { version: 3, family: 'ipv4', ...ctx }],
      [encodeAdvert(v3v4, { ...ctx, ipv4Checksum: 'plain' }), { version: 3, family: 'ipv4', ...ctx }],
      [KEEPALIVED_V3_V6, { version: 3, family: 'ipv6', src: KEEPALIVED_SRC_V6, dst: GROUP6 }],
      [KEEPALIVED_V2, { version: 2, family: 'ipv4', src: KEEPALIVED_SRC_V4, dst: GROUP4 }],
    ] as const) {
      for (let bit = 0; bit < pkt.length * 8; bit++) {
        const bad = pkt.slice();
        bad[bit >> 3] = (bad[bit >> 3] as number) ^ (1 << (bit & 7));
        expect(verifyAdvertChecksum(bad, opts), `bit ${bit}`).toBeUndefined();
      }
    }
  });
});

describe('advert codec edges', () => {
  it('advertLength matches the encoding for each form', () => {
    expect(advertLength(v3v4)).toBe(16);
    expect(advertLength(v3v6)).toBe(40);
    expect(advertLength(v2)).toBe(20);
  });

  it('keeps the reserved bits and an unknown type through a round trip (nothing lost)', () => {
    const odd: AdvertV3 = { ...v3v4, reserved: 0xa, type: 7 };
    const d = decodeAdvert(encodeAdvert(odd, { src: '192.0.2.1', dst: GROUP4 }), 0, 'ipv4');
    expect(d).toMatchObject({ reserved: 0xa, type: 7, maxAdvertIntervalCs: 100 });
  });

  it('decodes at an offset inside a larger buffer', () => {
    const buf = new Uint8Array(5 + KEEPALIVED_V2.length);
    buf.set(KEEPALIVED_V2, 5);
    expect(decodeAdvert(buf, 5, 'ipv4').vrid).toBe(53);
    expect(peekVrid(buf, 5)).toBe(53);
    expect(peekVrid(Uint8Array.of(0x31))).toBeUndefined();
  });

  it('throws typed decode errors: short input at every length, unknown version, v2 over IPv6', () => {
    for (const [pkt, fam] of [
      [KEEPALIVED_V3_V4, 'ipv4'],
      [KEEPALIVED_V3_V6, 'ipv6'],
      [KEEPALIVED_V2, 'ipv4'],
    ] as const) {
      for (let n = 0; n < pkt.length; n++) {
        try {
          decodeAdvert(pkt.subarray(0, n), 0, fam);
          expect.unreachable(`decoding ${n} of ${pkt.length} bytes must throw`);
        } catch (e) {
          expect(e).toBeInstanceOf(DecodeError);
          expect((e as DecodeError).code).toBe('ERR_SHORT_INPUT');
        }
      }
    }
    expect(() => decodeAdvert(fromHex('41 01 64 01 0064 0000 c0000201'), 0, 'ipv4')).toThrow(
      expect.objectContaining({ code: 'ERR_VRRP_VERSION' }),
    );
    expect(() => decodeAdvert(KEEPALIVED_V2, 0, 'ipv6')).toThrow(expect.objectContaining({ code: 'ERR_VRRP_V2_IPV6' }));
  });

  it('refuses to encode what does not fit the wire', () => {
    const bad: Advert[] = [
      { ...v3v4, vrid: 256 },
      { ...v3v4, priority: -1 },
      { ...v3v4, maxAdvertIntervalCs: 4096 },
      { ...v3v4, maxAdvertIntervalCs: 1.5 },
      { ...v3v4, reserved: 16 },
      { ...v3v4, type: 16 },
      { ...v3v4, addresses: ['2001:db8::1'] },
      { ...v3v4, addresses: Array.from({ length: 256 }, (_, i) => `10.0.${i >> 8}.${i & 255}`) },
      { ...v2, advertIntervalS: 256 },
      { ...v2, authData: new Uint8Array(7) },
      { ...v2, authType: 300 },
      { ...v2, family: 'ipv6' } as unknown as Advert,
    ];
    for (const a of bad) {
      expect(() => encodeAdvert(a, { src: '192.0.2.1', dst: GROUP4 }), JSON.stringify({ ...a, addresses: a.addresses.length })).toThrow(VrrpError);
    }
  });

  it('builds RFC 2338 simple password data as keepalived does: zero padded, cut at 8 bytes', () => {
    expect(toHex(simplePasswordAuthData('ab'))).toBe('6162000000000000');
    expect(toHex(simplePasswordAuthData('secret1234'))).toBe(toHex(new TextEncoder().encode('secret12')));
  });
});

describe('advert codec properties', () => {
  it('round-trips every advert form, with a valid checksum and the computed length', () => {
    fc.assert(
      fc.property(arbAdvert, fc.boolean(), (a, plain) => {
        const v6 = a.family === 'ipv6';
        const ctx = { src: v6 ? 'fe80::1' : '192.0.2.1', dst: v6 ? GROUP6 : GROUP4, ipv4Checksum: plain ? ('plain' as const) : ('pseudo-header' as const) };
        const bytes = encodeAdvert(a, ctx);
        expect(bytes.length).toBe(advertLength(a));
        const d = decodeAdvert(bytes, 0, a.family);
        const { checksum, ...rest } = d;
        expect(rest).toEqual(a);
        expect(checksum).toBe(((bytes[6] as number) << 8) | (bytes[7] as number));
        const form = verifyAdvertChecksum(bytes, { version: a.version, family: a.family, src: ctx.src, dst: ctx.dst });
        expect(form).toBe(a.version === 2 ? 'plain' : v6 ? 'pseudo-header' : plain ? 'plain' : 'pseudo-header');
      }),
    );
  });

  it('random bytes decode to an advert or a DecodeError, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.constantFrom('ipv4' as const, 'ipv6' as const), (buf, fam) => {
        try {
          const d = decodeAdvert(buf, 0, fam);
          expect(advertLength(d)).toBeLessThanOrEqual(buf.length);
        } catch (e) {
          expect(e).toBeInstanceOf(DecodeError);
        }
      }),
    );
  });
});
