import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromHex, toHex } from '../../../src/util/bytes.js';
import { decodeHeader, encodeHeader, MessageFramer } from '../../../src/bgp/codec-header.js';
import { encodeKeepalive, encodeNotification, encodeRouteRefresh } from '../../../src/bgp/codec-messages.js';
import { encodeOpen } from '../../../src/bgp/codec-open.js';
import { encodeUpdate } from '../../../src/bgp/codec-update.js';
import { BgpError } from '../../../src/bgp/errors.js';

const MARKER = 'ff'.repeat(16);

function expectBgpError(fn: () => unknown, code: number, subcode: number, data?: string): BgpError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(BgpError);
    const be = e as BgpError;
    expect([be.notificationCode, be.notificationSubcode]).toEqual([code, subcode]);
    if (data !== undefined) expect(toHex(be.data)).toBe(data);
    expect(be.handling).toBe('session-reset');
    return be;
  }
  return expect.unreachable('expected a BgpError');
}

describe('message header (RFC 4271 §4.1)', () => {
  it('encodes and decodes a KEEPALIVE header', () => {
    const bytes = fromHex(
      MARKER + // marker: all ones (RFC 4271 §4.1)
        '0013' + // length 19
        '04', // type 4 KEEPALIVE
    );
    expect(decodeHeader(bytes)).toEqual({ type: 4, length: 19 });
    expect(toHex(encodeHeader({ type: 4, length: 19 }))).toBe(toHex(bytes));
  });

  it('answers a bad marker with Connection Not Synchronized (RFC 4271 §6.1)', () => {
    const e = expectBgpError(() => decodeHeader(fromHex('ff'.repeat(15) + 'fe' + '0013' + '04')), 1, 1);
    expect(e.code).toBe('ERR_BGP_CONNECTION_NOT_SYNCHRONIZED');
  });

  it('answers bad lengths with Bad Message Length carrying the length field (RFC 4271 §6.1)', () => {
    expectBgpError(() => decodeHeader(fromHex(MARKER + '0012' + '04')), 1, 2, '0012'); // < 19
    expectBgpError(() => decodeHeader(fromHex(MARKER + '1001' + '02')), 1, 2, '1001'); // 4097 without RFC 8654
    expect(decodeHeader(fromHex(MARKER + '1001' + '02'), 0, 65535)).toEqual({ type: 2, length: 4097 }); // with it
    expectBgpError(() => decodeHeader(fromHex(MARKER + '0014' + '04')), 1, 2, '0014'); // KEEPALIVE must be 19
    expectBgpError(() => decodeHeader(fromHex(MARKER + '001c' + '01')), 1, 2, '001c'); // OPEN < 29
    expectBgpError(() => decodeHeader(fromHex(MARKER + '1001' + '01'), 0, 65535), 1, 2, '1001'); // OPEN > 4096 (RFC 8654 §4)
    expectBgpError(() => decodeHeader(fromHex(MARKER + '0016' + '02')), 1, 2, '0016'); // UPDATE < 23
    expectBgpError(() => decodeHeader(fromHex(MARKER + '0014' + '03')), 1, 2, '0014'); // NOTIFICATION < 21
  });

  it('answers an unknown type with Bad Message Type carrying the type (RFC 4271 §6.1)', () => {
    expectBgpError(() => decodeHeader(fromHex(MARKER + '0013' + '06')), 1, 3, '06');
    expectBgpError(() => decodeHeader(fromHex(MARKER + '0013' + '00')), 1, 3, '00');
  });
});

describe('MessageFramer', () => {
  const stream = [
    encodeOpen({ version: 4, myAs: 65001, holdTime: 90, bgpId: '192.0.2.1', capabilities: [{ kind: 'route-refresh' }] }),
    encodeKeepalive(),
    encodeUpdate({ withdrawn: [], attributes: { origin: 'igp', asPath: [], nextHop: '192.0.2.1' }, nlri: [{ prefix: '198.51.100.0/24' }] }),
    encodeRouteRefresh({ afi: 1, safi: 1, subtype: 0 }),
    encodeNotification({ code: 6, subcode: 2, data: new Uint8Array(0) }),
  ];
  const all = new Uint8Array(stream.reduce((n, m) => n + m.length, 0));
  stream.reduce((at, m) => (all.set(m, at), at + m.length), 0);

  it('yields the same messages whatever byte offset the stream is split at', () => {
    for (let cut = 0; cut <= all.length; cut++) {
      const f = new MessageFramer();
      const got = [...f.push(all.subarray(0, cut)), ...f.push(all.subarray(cut))];
      expect(got.map(toHex), `cut at ${cut}`).toEqual(stream.map(toHex));
      expect(f.buffered).toBe(0);
    }
  });

  it('yields the same messages for the stream split at every pair of offsets and byte by byte', () => {
    for (let a = 0; a <= all.length; a += 3) {
      for (let b = a; b <= all.length; b += 5) {
        const f = new MessageFramer();
        const got = [...f.push(all.subarray(0, a)), ...f.push(all.subarray(a, b)), ...f.push(all.subarray(b))];
        expect(got.length).toBe(stream.length);
      }
    }
    const f = new MessageFramer();
    const got: Uint8Array[] = [];
    for (const byte of all) got.push(...f.push(Uint8Array.of(byte)));
    expect(got.map(toHex)).toEqual(stream.map(toHex));
  });

  it('fails on a bad header as soon as the header is in, before buffering the body, and stays failed', () => {
    const f = new MessageFramer();
    expect(f.push(fromHex(MARKER + 'ff'))).toEqual([]);
    expectBgpError(() => f.push(fromHex('ff 02')), 1, 2, 'ffff'); // 65535 > 4096
    expect(f.buffered).toBe(0);
    expectBgpError(() => f.push(encodeKeepalive()), 1, 2);
  });

  it('accepts large messages once extended messages are negotiated (RFC 8654)', () => {
    const big = new Uint8Array(5000);
    big.set(fromHex(MARKER + '1388' + '02' + '0000' + '1371')); // UPDATE of 5000 bytes, 4977 bytes of attributes
    const f = new MessageFramer();
    expectBgpError(() => f.push(big), 1, 2, '1388');
    const g = new MessageFramer();
    g.maxLength = 65535;
    expect(g.push(big).map((m) => m.length)).toEqual([5000]);
  });

  it('never throws anything but a BgpError on random input, and never loops (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 80 }), { maxLength: 10 }), fc.boolean(), (chunks, validPrefix) => {
        const f = new MessageFramer();
        try {
          if (validPrefix) f.push(all);
          for (const c of chunks) f.push(c);
        } catch (e) {
          expect(e).toBeInstanceOf(BgpError);
        }
      }),
    );
  });
});
