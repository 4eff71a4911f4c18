import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromHex, toHex } from '../../../src/util/bytes.js';
import { decodeOpen, encodeOpen, findCapability, myAsField, openAs, openLength } from '../../../src/bgp/codec-open.js';
import type { OpenMessage } from '../../../src/bgp/codec-open.js';
import { BgpError } from '../../../src/bgp/errors.js';
import { openMessage } from './arbitraries.js';

const MARKER = 'ff'.repeat(16);
const hex = (parts: string[]): string => parts.join('').replace(/\s+/g, '');

/** Wrap an OPEN body (from the version octet) in a header with the right length. */
function openBytes(body: string): Uint8Array {
  const b = fromHex(body);
  const len = 19 + b.length;
  return fromHex(MARKER + len.toString(16).padStart(4, '0') + '01' + toHex(b));
}

function expectOpenError(bytes: Uint8Array, subcode: number, data?: string): BgpError {
  try {
    decodeOpen(bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(BgpError);
    const be = e as BgpError;
    expect([be.notificationCode, be.notificationSubcode]).toEqual([2, subcode]);
    if (data !== undefined) expect(toHex(be.data)).toBe(data);
    return be;
  }
  return expect.unreachable('expected an OPEN error');
}

// An OPEN as a director sends it to a router: every capability lvskit speaks, in one Capabilities parameter.
const CAPS = hex([
  '01 04 0001 00 01', // Multiprotocol: AFI 1 IPv4, reserved, SAFI 1 unicast (RFC 4760 §8)
  '01 04 0002 00 01', // Multiprotocol: AFI 2 IPv6, SAFI 1
  '02 00', // Route Refresh (RFC 2918 §2)
  '46 00', // Enhanced Route Refresh, code 70 (RFC 7313 §3.1)
  '06 00', // Extended Message (RFC 8654 §3)
  '41 04 fa56ea01', // 4-octet AS 4200000001 (RFC 6793 §3)
  '40 06 8078 0001 01 80', // Graceful Restart: R bit, restart time 120; IPv4 unicast with F bit (RFC 4724 §3)
  '45 04 0001 01 03', // ADD-PATH: IPv4 unicast, send/receive 3 = both (RFC 7911 §4)
  '49 05 03 6c 76 73 00', // code 73 (FQDN, not understood here): kept as unknown
]);
const FIXTURE = openBytes(
  hex([
    '04', // version 4 (RFC 4271 §4.2)
    '5ba0', // My Autonomous System: AS_TRANS 23456 (RFC 6793 §4.1)
    '005a', // Hold Time 90
    'c0000201', // BGP Identifier 192.0.2.1
    (2 + CAPS.length / 2).toString(16).padStart(2, '0'), // Opt Parm Len
    '02', // Parm. Type 2: Capabilities (RFC 5492 §4)
    (CAPS.length / 2).toString(16).padStart(2, '0'), // Parm. Length
    CAPS,
  ]),
);
const MODEL: OpenMessage = {
  version: 4,
  myAs: 23456,
  holdTime: 90,
  bgpId: '192.0.2.1',
  capabilities: [
    { kind: 'multiprotocol', afi: 1, safi: 1 },
    { kind: 'multiprotocol', afi: 2, safi: 1 },
    { kind: 'route-refresh' },
    { kind: 'enhanced-route-refresh' },
    { kind: 'extended-message' },
    { kind: 'four-octet-as', asn: 4200000001 },
    { kind: 'graceful-restart', restarting: true, notification: false, restartTime: 120, families: [{ afi: 1, safi: 1, forwardingPreserved: true }] },
    { kind: 'add-path', families: [{ afi: 1, safi: 1, direction: 'both' }] },
    { kind: 'unknown', code: 73, value: fromHex('03 6c7673 00') },
  ],
};

describe('OPEN (RFC 4271 §4.2, RFC 5492)', () => {
  it('decodes the annotated fixture into every capability', () => {
    expect(decodeOpen(FIXTURE)).toEqual(MODEL);
  });

  it('encodes the model to the fixture bytes, and openLength is the encoded length', () => {
    expect(toHex(encodeOpen(MODEL))).toBe(toHex(FIXTURE));
    expect(openLength(MODEL)).toBe(FIXTURE.length);
  });

  it('reads the AS from the 4-octet capability (RFC 6793 §3) and uses AS_TRANS in the 2-octet field', () => {
    expect(openAs(MODEL)).toBe(4200000001);
    expect(openAs({ ...MODEL, myAs: 65001, capabilities: [] })).toBe(65001);
    expect(myAsField(4200000001)).toBe(23456);
    expect(myAsField(65001)).toBe(65001);
    expect(findCapability(MODEL.capabilities, 'graceful-restart')?.restartTime).toBe(120);
    expect(findCapability([], 'route-refresh')).toBeUndefined();
  });

  it('decodes capabilities spread over several parameters, and an OPEN with none', () => {
    const bytes = openBytes(hex(['04 fde9 00b4 0a000001', '08', '02 02 02 00', '02 02 06 00']));
    expect(decodeOpen(bytes).capabilities).toEqual([{ kind: 'route-refresh' }, { kind: 'extended-message' }]);
    const none = openBytes('04 fde9 0000 0a000001 00');
    expect(decodeOpen(none)).toEqual({ version: 4, myAs: 65001, holdTime: 0, bgpId: '10.0.0.1', capabilities: [] });
    expect(toHex(encodeOpen(decodeOpen(none)))).toBe(toHex(none));
  });

  it('decodes the N bit of graceful restart (RFC 8538 §2) and a helper-only capability without families', () => {
    const bytes = openBytes(hex(['04 fde9 005a 0a000001 06', '02 04', '40 02 4000'])); // N bit, time 0, no AFI/SAFI
    expect(decodeOpen(bytes).capabilities).toEqual([
      { kind: 'graceful-restart', restarting: false, notification: true, restartTime: 0, families: [] },
    ]);
  });

  it('uses the RFC 9072 extended optional parameters encoding when they exceed 255 bytes, and decodes it', () => {
    const caps = Array.from({ length: 80 }, (_, i) => ({ kind: 'multiprotocol' as const, afi: i + 1, safi: 1 }));
    const msg: OpenMessage = { version: 4, myAs: 65001, holdTime: 90, bgpId: '10.0.0.1', capabilities: caps };
    const bytes = encodeOpen(msg);
    expect(toHex(bytes.subarray(28, 35))).toBe(
      hex([
        'ff', // Non-Ext OP Len: 255 (RFC 9072 §2)
        'ff', // Non-Ext OP Type: 255, the extended encoding follows
        (3 + 80 * 6).toString(16).padStart(4, '0'), // Extended Opt. Parm. Length
        '02', // Parm. Type: Capabilities
        (80 * 6).toString(16).padStart(4, '0'), // 2-octet Parm. Length
      ]),
    );
    expect(openLength(msg)).toBe(bytes.length);
    expect(decodeOpen(bytes)).toEqual(msg);
  });

  it('treats an ADD-PATH send/receive value other than 1..3 as not understood (RFC 7911 §4)', () => {
    const bytes = openBytes(hex(['04 fde9 005a 0a000001 08', '02 06', '45 04 0001 01 07']));
    expect(decodeOpen(bytes).capabilities).toEqual([{ kind: 'unknown', code: 69, value: fromHex('0001 01 07') }]);
  });

  it('refuses a version other than 4 with data = the version we support (RFC 4271 §6.2)', () => {
    const e = expectOpenError(openBytes('03 fde9 005a 0a000001 00'), 1, '0004');
    expect(e.code).toBe('ERR_BGP_UNSUPPORTED_VERSION_NUMBER');
  });

  it('refuses hold times of 1 and 2 seconds (RFC 4271 §6.2) and accepts 0 and 3', () => {
    expectOpenError(openBytes('04 fde9 0001 0a000001 00'), 6);
    expectOpenError(openBytes('04 fde9 0002 0a000001 00'), 6);
    expect(decodeOpen(openBytes('04 fde9 0003 0a000001 00')).holdTime).toBe(3);
  });

  it('refuses a zero BGP identifier (RFC 6286 §2.1)', () => {
    expectOpenError(openBytes('04 fde9 005a 00000000 00'), 3);
  });

  it('refuses an optional parameter other than Capabilities (RFC 4271 §6.2, RFC 5492 §4)', () => {
    expectOpenError(openBytes('04 fde9 005a 0a000001 04 01 02 aabb'), 4); // type 1: authentication, deprecated
  });

  it('refuses malformed capabilities and parameters with subcode 0, Unspecific (RFC 4271 §6.2)', () => {
    expectOpenError(openBytes('04 fde9 005a 0a000001 06 02 04 41 02 fde9'), 0); // 4-octet AS of 2 bytes
    expectOpenError(openBytes('04 fde9 005a 0a000001 07 02 05 01 03 000100'), 0); // MP of 3 bytes
    expectOpenError(openBytes('04 fde9 005a 0a000001 05 02 03 02 00 aa'), 0); // capability header past the parameter
    expectOpenError(openBytes('04 fde9 005a 0a000001 04 02 02 02 00 ff'), 0); // byte after the parameters
    expectOpenError(openBytes('04 fde9 005a 0a000001 09 02 02 02 00'), 0); // Opt Parm Len past the message
    expectOpenError(openBytes('04 fde9 005a 0a000001 06 02 04 40 03 0000 01'), 0); // GR with a partial family
    expectOpenError(openBytes('04 fde9 005a 0a000001 04 02 02 02 01 00'), 0); // route refresh with a value
  });

  it('round-trips any OPEN and openLength equals the encoded length (property)', () => {
    fc.assert(
      fc.property(openMessage, (m) => {
        const bytes = encodeOpen(m);
        expect(bytes.length).toBe(openLength(m));
        expect(decodeOpen(bytes)).toEqual(m);
      }),
    );
  });
});
