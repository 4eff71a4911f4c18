import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeIpv4Packet, decodeIpv6Packet, encodeIpv4Packet, encodeIpv6Packet } from '../../../src/vrrp/codec-ip.js';
import { type ReceiveConfig, validateAdvert } from '../../../src/vrrp/codec-receive.js';
import { VrrpError } from '../../../src/vrrp/errors.js';
import { toHex } from '../../../src/util/bytes.js';
import { KEEPALIVED_V3_V4, KEEPALIVED_V3_V4_IP_HEADER, KEEPALIVED_V3_V6, KEEPALIVED_V3_V6_IP_HEADER } from './fixtures.js';
import { ipv4, ipv6 } from './arbitraries.js';

const cat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(parts.flatMap((p) => [...p]));
const KEEPALIVED_IP4 = cat(KEEPALIVED_V3_V4_IP_HEADER, KEEPALIVED_V3_V4);
const KEEPALIVED_IP6 = cat(KEEPALIVED_V3_V6_IP_HEADER, KEEPALIVED_V3_V6);

describe('IPv4 around adverts', () => {
  it('builds the header byte for byte as keepalived does', () => {
    const pkt = encodeIpv4Packet({ src: '192.0.2.11', dst: '224.0.0.18', id: 1, payload: KEEPALIVED_V3_V4 });
    expect(toHex(pkt)).toBe(toHex(KEEPALIVED_IP4));
  });

  it('reads a raw-socket packet into what validateAdvert takes, and the advert validates', () => {
    const p = decodeIpv4Packet(KEEPALIVED_IP4, { verifyHeaderChecksum: true });
    expect(p).toEqual({ family: 'ipv4', src: '192.0.2.11', dst: '224.0.0.18', ttl: 255, protocol: 112, payload: KEEPALIVED_V3_V4 });
    const cfg: ReceiveConfig = { version: 3, family: 'ipv4', vrid: 51, addresses: ['192.0.2.100', '192.0.2.101'], advertIntervalMs: 1000 };
    expect('kind' in p ? p : validateAdvert(p, cfg)).toMatchObject({ kind: 'ok', checksumForm: 'pseudo-header' });
  });

  it('ignores Ethernet padding after the total length, and skips IP options', () => {
    expect(decodeIpv4Packet(cat(KEEPALIVED_IP4, new Uint8Array(10)))).toMatchObject({ payload: KEEPALIVED_V3_V4 });
    const withOptions = cat(Uint8Array.of(0x46), KEEPALIVED_IP4.subarray(1, 20), Uint8Array.of(1, 1, 1, 0), KEEPALIVED_V3_V4);
    withOptions[3] = 40;
    expect(decodeIpv4Packet(withOptions)).toMatchObject({ payload: KEEPALIVED_V3_V4, ttl: 255 });
  });

  it('gives an ip-header verdict for short, inconsistent or fragmented packets', () => {
    const variants: [string, (b: Uint8Array) => Uint8Array][] = [
      ['short', (b) => b.subarray(0, 19)],
      ['v6', (b) => ((b[0] = 0x65), b)],
      ['ihl<5', (b) => ((b[0] = 0x44), b)],
      ['ihl>len', (b) => ((b[0] = 0x4f), b.subarray(0, 40))],
      ['total>len', (b) => ((b[3] = 0x30), b)],
      ['total<ihl', (b) => ((b[3] = 0x10), b)],
      ['MF', (b) => ((b[6] = 0x20), b)],
      ['offset', (b) => ((b[7] = 0x01), b)],
    ];
    for (const [what, mutate] of variants) {
      expect(decodeIpv4Packet(mutate(KEEPALIVED_IP4.slice())), what).toMatchObject({ kind: 'invalid', reason: 'ip-header' });
    }
    const badSum = KEEPALIVED_IP4.slice();
    badSum[10] = 0;
    expect(decodeIpv4Packet(badSum)).toMatchObject({ family: 'ipv4' });
    expect(decodeIpv4Packet(badSum, { verifyHeaderChecksum: true })).toMatchObject({ kind: 'invalid', reason: 'ip-header' });
  });

  it('round-trips, with a valid header checksum (property)', () => {
    fc.assert(
      fc.property(ipv4, ipv4, fc.uint8Array({ maxLength: 100 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 0xffff }), (src, dst, payload, ttl, id) => {
        const p = decodeIpv4Packet(encodeIpv4Packet({ src, dst, payload, ttl, id }), { verifyHeaderChecksum: true });
        expect(p).toEqual({ family: 'ipv4', src, dst, ttl, protocol: 112, payload });
      }),
    );
    expect(() => encodeIpv4Packet({ src: '1.2.3.4', dst: '1.2.3.5', payload: new Uint8Array(0xffff) })).toThrow(VrrpError);
  });
});

describe('IPv6 around adverts', () => {
  it('reads keepalived packet, hop limit included', () => {
    expect(decodeIpv6Packet(KEEPALIVED_IP6)).toEqual({ family: 'ipv6', src: 'fe80::ff:fe00:a', dst: 'ff02::12', ttl: 255, protocol: 112, payload: KEEPALIVED_V3_V6 });
    expect(decodeIpv6Packet(KEEPALIVED_IP6.subarray(0, 39))).toMatchObject({ reason: 'ip-header' });
    expect(decodeIpv6Packet(KEEPALIVED_IP6.subarray(0, 70))).toMatchObject({ reason: 'ip-header' });
    expect(decodeIpv6Packet(KEEPALIVED_IP4)).toMatchObject({ reason: 'ip-header' });
  });

  it('round-trips (property), with keepalived traffic class', () => {
    fc.assert(
      fc.property(ipv6, ipv6, fc.uint8Array({ maxLength: 100 }), (src, dst, payload) => {
        const bytes = encodeIpv6Packet({ src, dst, payload });
        expect(bytes[0]).toBe(0x6c);
        expect(decodeIpv6Packet(bytes)).toEqual({ family: 'ipv6', src, dst, ttl: 255, protocol: 112, payload });
      }),
    );
  });

  it('random bytes give a packet or a verdict, never an exception (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), (b) => {
        for (const r of [decodeIpv4Packet(b, { verifyHeaderChecksum: true }), decodeIpv6Packet(b)]) {
          if ('kind' in r) expect(r.reason).toBe('ip-header');
          else expect(r.payload.length).toBeLessThanOrEqual(b.length);
        }
      }),
    );
  });
});
