import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  addressFamily,
  canonicalIp,
  compareIp,
  formatIp,
  formatMac,
  isIpv6LinkLocal,
  macBytes,
  parseIp,
  parseMac,
} from '../../../src/vrrp/address.js';
import { VrrpError } from '../../../src/vrrp/errors.js';
import { toHex } from '../../../src/util/bytes.js';

describe('IP address text', () => {
  it('parses IPv4 dotted quads and refuses anything else', () => {
    expect(toHex(parseIp('192.0.2.254'))).toBe('c00002fe');
    expect(addressFamily('10.0.0.1')).toBe('ipv4');
    for (const bad of ['256.0.0.1', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1.2.3.a', '', ' 1.2.3.4']) {
      expect(addressFamily(bad), bad).toBeUndefined();
      expect(() => parseIp(bad)).toThrow(VrrpError);
    }
  });

  it('parses every RFC 4291 §2.2 IPv6 form', () => {
    expect(toHex(parseIp('fe80::1'))).toBe('fe800000000000000000000000000001');
    expect(toHex(parseIp('2001:DB8:0:0:8:800:200C:417A'))).toBe('20010db80000000000080800200c417a');
    expect(toHex(parseIp('::'))).toBe('0'.repeat(32));
    expect(toHex(parseIp('::ffff:192.0.2.1'))).toBe('00000000000000000000ffffc0000201');
    expect(toHex(parseIp('1::'))).toBe('0001' + '0'.repeat(28));
    for (const bad of ['1:::2', '1::2::3', ':1::', '1:2:3:4:5:6:7:8:9', '12345::', 'g::1', '::1.2.3', '1:2:3:4:5:6:7']) {
      expect(addressFamily(bad), bad).toBeUndefined();
    }
  });

  it('formats IPv6 in RFC 5952 canonical form', () => {
    expect(canonicalIp('2001:0db8:0000:0000:0000:0000:0000:0001')).toBe('2001:db8::1');
    // §4.2.2: a single zero word is not shortened; §4.2.3: the first of equal runs is.
    expect(canonicalIp('2001:db8:0:1:1:1:1:1')).toBe('2001:db8:0:1:1:1:1:1');
    expect(canonicalIp('2001:0:0:1:0:0:0:1')).toBe('2001:0:0:1::1');
    expect(canonicalIp('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1');
    expect(canonicalIp('FE80::A')).toBe('fe80::a');
    expect(canonicalIp('::ffff:c000:0201')).toBe('::ffff:192.0.2.1');
    expect(() => formatIp(new Uint8Array(5))).toThrow(VrrpError);
  });

  it('round-trips any 4 or 16 bytes through text (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ minLength: 16, maxLength: 16 })), (b) => {
        const text = formatIp(b);
        expect(toHex(parseIp(text))).toBe(toHex(b));
        expect(canonicalIp(text)).toBe(text);
      }),
    );
  });

  it('compares addresses as unsigned integers in network order (RFC 9568 §6.4.3)', () => {
    expect(compareIp('10.0.0.2', '10.0.0.10')).toBeLessThan(0);
    expect(compareIp('192.0.2.1', '10.255.255.255')).toBeGreaterThan(0);
    expect(compareIp('fe80::2', 'fe80::2')).toBe(0);
    expect(compareIp('fe80::ff', 'fe80::1:0')).toBeLessThan(0);
  });

  it('recognises IPv6 link-local addresses', () => {
    expect(isIpv6LinkLocal('fe80::1')).toBe(true);
    expect(isIpv6LinkLocal('febf::1')).toBe(true);
    expect(isIpv6LinkLocal('fec0::1')).toBe(false);
    expect(isIpv6LinkLocal('2001:db8::1')).toBe(false);
    expect(isIpv6LinkLocal('169.254.0.1')).toBe(false);
  });
});

describe('MAC address text', () => {
  it('parses and formats', () => {
    expect(toHex(parseMac('00:00:5E:00:01:0a'))).toBe('00005e00010a');
    expect(toHex(parseMac('2-0-5e-0-2-ff'))).toBe('02005e0002ff');
    expect(formatMac(Uint8Array.of(0, 0, 0x5e, 0, 1, 10))).toBe('00:00:5e:00:01:0a');
    expect(() => parseMac('00:00:5e:00:01')).toThrow(VrrpError);
    expect(() => parseMac('00:00:5e:00:01:100')).toThrow(VrrpError);
    expect(() => formatMac(new Uint8Array(7))).toThrow(VrrpError);
    expect(() => macBytes(new Uint8Array(5))).toThrow(VrrpError);
    expect(toHex(macBytes('aa:bb:cc:dd:ee:ff'))).toBe('aabbccddeeff');
  });
});
