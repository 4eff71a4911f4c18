import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  GARP_FRAME_LENGTH,
  NA_FRAME_LENGTH,
  buildGratuitousArp,
  buildUnsolicitedNa,
  parseLinkAnnouncement,
  solicitedNodeAddress,
  virtualMac,
} from '../../../src/vrrp/codec-link.js';
import { VrrpError } from '../../../src/vrrp/errors.js';
import { toHex } from '../../../src/util/bytes.js';
import { KEEPALIVED_GARP, KEEPALIVED_MAC, KEEPALIVED_NA } from './fixtures.js';
import { ipv4, ipv6 } from './arbitraries.js';

describe('virtual router MAC (RFC 9568 §7.3)', () => {
  it('is 00:00:5e:00:01:VRID for IPv4 and 00:00:5e:00:02:VRID for IPv6', () => {
    expect(virtualMac(1, 'ipv4')).toBe('00:00:5e:00:01:01');
    expect(virtualMac(255, 'ipv4')).toBe('00:00:5e:00:01:ff');
    expect(virtualMac(51, 'ipv6')).toBe('00:00:5e:00:02:33');
    expect(() => virtualMac(0, 'ipv4')).toThrow(VrrpError);
    expect(() => virtualMac(256, 'ipv6')).toThrow(VrrpError);
  });
});

describe('gratuitous ARP', () => {
  it('is byte for byte the frame keepalived sends', () => {
    const f = buildGratuitousArp({ mac: KEEPALIVED_MAC, address: '192.0.2.100' });
    expect(f).toHaveLength(GARP_FRAME_LENGTH);
    expect(toHex(f)).toBe(toHex(KEEPALIVED_GARP));
  });

  it('comes from the virtual MAC when asked, and reads back', () => {
    const f = buildGratuitousArp({ mac: virtualMac(7, 'ipv4'), address: '10.1.2.3' });
    expect(parseLinkAnnouncement(f)).toEqual({
      kind: 'garp',
      srcMac: '00:00:5e:00:01:07',
      senderMac: '00:00:5e:00:01:07',
      address: '10.1.2.3',
      targetMac: 'ff:ff:ff:ff:ff:ff',
      op: 1,
    });
    expect(() => buildGratuitousArp({ mac: KEEPALIVED_MAC, address: 'fe80::1' })).toThrow(VrrpError);
  });
});

describe('unsolicited neighbour advertisement', () => {
  it('is byte for byte the frame keepalived sends (Override only, checksum right)', () => {
    const f = buildUnsolicitedNa({ mac: KEEPALIVED_MAC, address: 'fe80::52' });
    expect(f).toHaveLength(NA_FRAME_LENGTH);
    expect(toHex(f)).toBe(toHex(KEEPALIVED_NA));
  });

  it('reads back with the fields RFC 4861 §4.4 and RFC 9568 §6.4.2 care about', () => {
    const na = parseLinkAnnouncement(buildUnsolicitedNa({ mac: virtualMac(52, 'ipv6'), address: '2001:db8::52', router: true }));
    expect(na).toEqual({
      kind: 'na',
      srcMac: '00:00:5e:00:02:34',
      dstMac: '33:33:00:00:00:01',
      src: '2001:db8::52',
      dst: 'ff02::1',
      hopLimit: 255,
      target: '2001:db8::52',
      router: true,
      solicited: false,
      override: true,
      targetMac: '00:00:5e:00:02:34',
      checksumOk: true,
    });
    const kept = parseLinkAnnouncement(KEEPALIVED_NA);
    expect(kept).toMatchObject({ kind: 'na', router: false, override: true, solicited: false, checksumOk: true });
    const bad = KEEPALIVED_NA.slice();
    bad[70] = (bad[70] as number) ^ 1;
    expect(parseLinkAnnouncement(bad)).toMatchObject({ checksumOk: false });
  });

  it('has a valid ICMPv6 checksum for any address and MAC (property)', () => {
    fc.assert(
      fc.property(ipv6, fc.uint8Array({ minLength: 6, maxLength: 6 }), fc.boolean(), (addr, mac, router) => {
        const na = parseLinkAnnouncement(buildUnsolicitedNa({ mac, address: addr, router }));
        expect(na).toMatchObject({ kind: 'na', target: addr, src: addr, checksumOk: true, router, override: true });
      }),
    );
  });
});

describe('link frame parsing', () => {
  it('ignores what is not a GARP or NA, and never throws on random bytes', () => {
    expect(parseLinkAnnouncement(new Uint8Array(10))).toBeUndefined();
    // An ARP request for another address (sender != target) is not an announcement.
    const who = buildGratuitousArp({ mac: KEEPALIVED_MAC, address: '192.0.2.1' });
    who[41] = 2;
    expect(parseLinkAnnouncement(who)).toBeUndefined();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), fc.constantFrom(0x0806, 0x86dd, 0x0800), (b, et) => {
        if (b.length >= 14) {
          b[12] = et >> 8;
          b[13] = et & 0xff;
        }
        if (b.length > 20 && et === 0x86dd) {
          b[14] = 0x60;
          b[20] = 58;
        }
        const r = parseLinkAnnouncement(b);
        expect(r === undefined || r.kind === 'garp' || r.kind === 'na').toBe(true);
      }),
    );
    fc.assert(
      fc.property(ipv4, (a) => {
        expect(parseLinkAnnouncement(buildGratuitousArp({ mac: KEEPALIVED_MAC, address: a }))).toMatchObject({ kind: 'garp', address: a });
      }),
    );
  });
});

describe('solicited-node multicast address (RFC 4291 §2.7.1)', () => {
  it('keeps the low 24 bits', () => {
    expect(solicitedNodeAddress('fe80::52')).toBe('ff02::1:ff00:52');
    expect(solicitedNodeAddress('2001:db8::aabb:ccdd')).toBe('ff02::1:ffbb:ccdd');
  });
});
