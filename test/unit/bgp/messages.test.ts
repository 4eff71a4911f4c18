import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromHex, toHex } from '../../../src/util/bytes.js';
import {
  decodeKeepalive,
  decodeNotification,
  decodeRouteRefresh,
  describeNotification,
  encodeKeepalive,
  encodeNotification,
  encodeRouteRefresh,
  keepaliveLength,
  notificationFromError,
  notificationLength,
  routeRefreshLength,
  shutdownCommunication,
  shutdownNotification,
} from '../../../src/bgp/codec-messages.js';
import { decodeMessage, encodeMessage, messageLength } from '../../../src/bgp/codec.js';
import type { BgpMessage } from '../../../src/bgp/codec.js';
import { BgpError, bgpError, notificationErrorCode, notificationName } from '../../../src/bgp/errors.js';
import { notificationMessage, openMessage, routeRefreshMessage, updateMessage } from './arbitraries.js';

const MARKER = 'ff'.repeat(16);

describe('KEEPALIVE (RFC 4271 §4.4)', () => {
  it('is a bare 19-byte header', () => {
    expect(toHex(encodeKeepalive())).toBe(MARKER + '0013' + '04');
    expect(keepaliveLength()).toBe(19);
    expect(decodeKeepalive(encodeKeepalive())).toEqual({});
  });
});

describe('NOTIFICATION (RFC 4271 §4.5)', () => {
  it('encodes code, subcode and data', () => {
    const m = { code: 3, subcode: 11, data: new Uint8Array(0) }; // UPDATE Message Error / Malformed AS_PATH
    const bytes = encodeNotification(m);
    expect(toHex(bytes)).toBe(MARKER + '0015' + '03' + '03' + '0b');
    expect(notificationLength(m)).toBe(bytes.length);
    expect(decodeNotification(bytes)).toEqual(m);
  });

  it('names every code and subcode of RFC 4271 §4.5 and its updates', () => {
    const table: [number, number, string][] = [
      [1, 1, 'Message Header Error / Connection Not Synchronized'],
      [1, 2, 'Message Header Error / Bad Message Length'],
      [1, 3, 'Message Header Error / Bad Message Type'],
      [2, 1, 'OPEN Message Error / Unsupported Version Number'],
      [2, 2, 'OPEN Message Error / Bad Peer AS'],
      [2, 3, 'OPEN Message Error / Bad BGP Identifier'],
      [2, 4, 'OPEN Message Error / Unsupported Optional Parameter'],
      [2, 6, 'OPEN Message Error / Unacceptable Hold Time'],
      [2, 7, 'OPEN Message Error / Unsupported Capability'],
      [2, 11, 'OPEN Message Error / Role Mismatch'],
      [3, 1, 'UPDATE Message Error / Malformed Attribute List'],
      [3, 2, 'UPDATE Message Error / Unrecognized Well-known Attribute'],
      [3, 3, 'UPDATE Message Error / Missing Well-known Attribute'],
      [3, 4, 'UPDATE Message Error / Attribute Flags Error'],
      [3, 5, 'UPDATE Message Error / Attribute Length Error'],
      [3, 6, 'UPDATE Message Error / Invalid ORIGIN Attribute'],
      [3, 8, 'UPDATE Message Error / Invalid NEXT_HOP Attribute'],
      [3, 9, 'UPDATE Message Error / Optional Attribute Error'],
      [3, 10, 'UPDATE Message Error / Invalid Network Field'],
      [3, 11, 'UPDATE Message Error / Malformed AS_PATH'],
      [4, 0, 'Hold Timer Expired'],
      [5, 0, 'Finite State Machine Error / Unspecified Error'],
      [5, 1, 'Finite State Machine Error / Receive Unexpected Message in OpenSent State'],
      [5, 2, 'Finite State Machine Error / Receive Unexpected Message in OpenConfirm State'],
      [5, 3, 'Finite State Machine Error / Receive Unexpected Message in Established State'],
      [6, 1, 'Cease / Maximum Number of Prefixes Reached'],
      [6, 2, 'Cease / Administrative Shutdown'],
      [6, 3, 'Cease / Peer De-configured'],
      [6, 4, 'Cease / Administrative Reset'],
      [6, 5, 'Cease / Connection Rejected'],
      [6, 6, 'Cease / Other Configuration Change'],
      [6, 7, 'Cease / Connection Collision Resolution'],
      [6, 8, 'Cease / Out of Resources'],
      [6, 9, 'Cease / Hard Reset'],
      [6, 10, 'Cease / BFD Down'],
      [7, 1, 'ROUTE-REFRESH Message Error / Invalid Message Length'],
    ];
    for (const [c, s, name] of table) expect(notificationName(c, s)).toBe(name);
    expect(notificationName(6, 99)).toBe('Cease / subcode 99');
    expect(notificationName(42, 0)).toBe('Unknown Error Code 42');
  });

  it('derives string error codes from the names', () => {
    expect(notificationErrorCode(4, 0)).toBe('ERR_BGP_HOLD_TIMER_EXPIRED');
    expect(notificationErrorCode(3, 11)).toBe('ERR_BGP_MALFORMED_AS_PATH');
    expect(notificationErrorCode(2, 0)).toBe('ERR_BGP_OPEN_MESSAGE_ERROR');
    expect(notificationErrorCode(6, 2)).toBe('ERR_BGP_ADMINISTRATIVE_SHUTDOWN');
  });

  it('turns a BgpError into the NOTIFICATION to send', () => {
    const e = bgpError(3, 2, 'x', { data: fromHex('406301aa') });
    expect(e).toBeInstanceOf(BgpError);
    expect(notificationFromError(e)).toEqual({ code: 3, subcode: 2, data: fromHex('406301aa') });
  });
});

describe('shutdown communication (RFC 9003)', () => {
  it('encodes a length-prefixed UTF-8 message in Cease / Administrative Shutdown', () => {
    const n = shutdownNotification('maintenance: ticket #42 ✓');
    const text = new TextEncoder().encode('maintenance: ticket #42 ✓');
    expect(n.code).toBe(6);
    expect(n.subcode).toBe(2);
    expect(n.data[0]).toBe(text.length);
    expect(toHex(n.data.subarray(1))).toBe(toHex(text));
    expect(shutdownCommunication(n)).toEqual({ kind: 'ok', message: 'maintenance: ticket #42 ✓', trailing: new Uint8Array(0) });
    expect(describeNotification(decodeNotification(encodeNotification(n)))).toBe('Cease / Administrative Shutdown: "maintenance: ticket #42 ✓"');
  });

  it('cuts a long message at 255 octets on a character boundary (RFC 9003 §2)', () => {
    const n = shutdownNotification('é'.repeat(200), 4); // 400 octets; Administrative Reset
    expect(n.subcode).toBe(4);
    expect(n.data[0]).toBe(254); // 127 two-octet characters
    const sc = shutdownCommunication(n);
    expect(sc?.kind === 'ok' && sc.message).toBe('é'.repeat(127));
  });

  it('reports an invalid communication without failing, for the log (RFC 9003 §2)', () => {
    expect(shutdownCommunication({ code: 6, subcode: 2, data: fromHex('05 6869') })).toEqual({ kind: 'invalid', reason: expect.stringContaining('length 5') });
    expect(shutdownCommunication({ code: 6, subcode: 2, data: fromHex('02 c328') })).toEqual({ kind: 'invalid', reason: 'not valid UTF-8' });
    expect(shutdownCommunication({ code: 6, subcode: 2, data: new Uint8Array(0) })).toBeUndefined();
    expect(shutdownCommunication({ code: 6, subcode: 3, data: fromHex('02 6869') })).toBeUndefined();
    expect(describeNotification({ code: 6, subcode: 2, data: fromHex('05 6869') })).toBe('Cease / Administrative Shutdown');
  });
});

describe('ROUTE-REFRESH (RFC 2918 §3, RFC 7313 §3.2)', () => {
  it('encodes AFI, subtype and SAFI', () => {
    const bytes = encodeRouteRefresh({ afi: 2, safi: 1, subtype: 1 });
    expect(toHex(bytes)).toBe(
      MARKER +
        '0017' + // length 23
        '05' + // type 5 ROUTE-REFRESH
        '0002' + // AFI IPv6
        '01' + // Message Subtype 1: BoRR (RFC 7313 §3.2; "Reserved" in RFC 2918)
        '01', // SAFI unicast
    );
    expect(routeRefreshLength()).toBe(23);
    expect(decodeRouteRefresh(bytes)).toEqual({ afi: 2, safi: 1, subtype: 1 });
  });

  it('answers a wrong length with ROUTE-REFRESH Message Error / Invalid Message Length carrying the message (RFC 7313 §5)', () => {
    const bad = fromHex(MARKER + '0018' + '05' + '0001 00 01 00');
    try {
      decodeRouteRefresh(bad);
      expect.unreachable();
    } catch (e) {
      const be = e as BgpError;
      expect([be.notificationCode, be.notificationSubcode]).toEqual([7, 1]);
      expect(toHex(be.data)).toBe(toHex(bad));
    }
  });
});

describe('every message type', () => {
  const anyMessage: fc.Arbitrary<BgpMessage> = fc.oneof(
    openMessage.map((open) => ({ kind: 'open' as const, open })),
    updateMessage().map((update) => ({ kind: 'update' as const, update })),
    notificationMessage.map((notification) => ({ kind: 'notification' as const, notification })),
    fc.constant({ kind: 'keepalive' as const }),
    routeRefreshMessage.map((routeRefresh) => ({ kind: 'route-refresh' as const, routeRefresh })),
  );

  it('round-trips through encodeMessage / decodeMessage, and messageLength is the encoded length (property)', () => {
    fc.assert(
      fc.property(anyMessage, (m) => {
        const opts = { extendedMessage: true };
        const bytes = encodeMessage(m, opts);
        expect(bytes.length).toBe(messageLength(m, opts));
        const d = decodeMessage(bytes, 0, opts);
        expect(d.kind).toBe(m.kind);
        if (m.kind === 'update' && d.kind === 'update') {
          if (d.update.kind === 'update') expect(d.update.update).toEqual(m.update);
        } else {
          expect(d).toEqual(m);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('decodes at an offset inside a larger buffer', () => {
    const m = encodeRouteRefresh({ afi: 1, safi: 1, subtype: 0 });
    const buf = new Uint8Array(m.length + 7);
    buf.set(m, 5);
    expect(decodeMessage(buf, 5)).toEqual({ kind: 'route-refresh', routeRefresh: { afi: 1, safi: 1, subtype: 0 } });
  });
});
