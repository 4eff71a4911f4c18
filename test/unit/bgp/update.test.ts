import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromHex, toHex } from '../../../src/util/bytes.js';
import { decodeUpdate, encodeUpdate, endOfRib, isEndOfRib, updateLength } from '../../../src/bgp/codec-update.js';
import type { UpdateCodecOptions, UpdateMessage, UpdateVerdict } from '../../../src/bgp/codec-update.js';
import { asPathLength, mergeAs4Path } from '../../../src/bgp/codec-attributes.js';
import { BgpError } from '../../../src/bgp/errors.js';
import { parseCommunity, WellKnownCommunity } from '../../../src/bgp/communities.js';
import { updateMessage } from './arbitraries.js';

const MARKER = 'ff'.repeat(16);
const clean = (s: string): string => s.replace(/\s+/g, '');

/** An UPDATE from its three fields in hex: header and the two length fields are computed. */
function upd(withdrawn: string, attrs: string, nlri: string): Uint8Array {
  const w = clean(withdrawn);
  const a = clean(attrs);
  const n = clean(nlri);
  const len = 19 + 2 + w.length / 2 + 2 + a.length / 2 + n.length / 2;
  const h = (v: number): string => v.toString(16).padStart(4, '0');
  return fromHex(MARKER + h(len) + '02' + h(w.length / 2) + w + h(a.length / 2) + a + n);
}

function ok(v: UpdateVerdict): UpdateMessage {
  if (v.kind !== 'update') throw new Error(`expected an update, got ${v.kind}: ${v.errors.map((e) => e.message).join('; ')}`);
  return v.update;
}

function withdraw(v: UpdateVerdict): { prefixes: string[]; errors: [number, number][] } {
  if (v.kind !== 'treat-as-withdraw') throw new Error('expected treat-as-withdraw');
  for (const e of v.errors) {
    expect(e).toBeInstanceOf(BgpError);
    expect(e.handling).toBe('treat-as-withdraw');
  }
  return { prefixes: v.withdrawn.map((n) => n.prefix), errors: v.errors.map((e) => [e.notificationCode, e.notificationSubcode]) };
}

function reset(bytes: Uint8Array, opts: UpdateCodecOptions = {}): BgpError {
  try {
    decodeUpdate(bytes, 0, opts);
  } catch (e) {
    expect(e).toBeInstanceOf(BgpError);
    expect((e as BgpError).handling).toBe('session-reset');
    return e as BgpError;
  }
  return expect.unreachable('expected a session reset');
}

// Common attribute pieces, each annotated once.
const ORIGIN_IGP = '40 01 01 00'; // flags 0x40 well-known transitive, type 1 ORIGIN, length 1, IGP (RFC 4271 §5.1.1)
const AS_PATH_65001 = '40 02 06 02 01 0000fde9'; // AS_PATH: AS_SEQUENCE of 1, AS 65001 in 4 octets (RFC 6793 §3)
const NEXT_HOP = '40 03 04 c0000201'; // NEXT_HOP 192.0.2.1 (RFC 4271 §5.1.3)
const NLRI_24 = '18 c63364'; // 198.51.100.0/24
const BASE = ORIGIN_IGP + AS_PATH_65001 + NEXT_HOP;

describe('UPDATE fixtures (RFC 4271 §4.3)', () => {
  // IPv4 announcement as a director sends it over eBGP with 4-octet ASNs.
  const V4 = upd(
    '',
    [
      ORIGIN_IGP,
      '40 02 0e 02 03 0000fde9 0000fde9 fa56ea01', // AS_PATH: AS_SEQUENCE of 3: 65001 65001 (a prepend) 4200000001
      NEXT_HOP,
      '80 04 04 00000064', // MULTI_EXIT_DISC 100: optional non-transitive (RFC 4271 §5.1.4)
      '40 06 00', // ATOMIC_AGGREGATE, length 0 (RFC 4271 §5.1.6)
      'c0 07 08 0000fde9 c0000201', // AGGREGATOR: AS 65001, 192.0.2.1, 4-octet form (RFC 6793 §3)
      'c0 08 08 fde90064 ffffff01', // COMMUNITIES: 65001:100, NO_EXPORT (RFC 1997)
      'c0 10 08 0002fde900000064', // EXTENDED_COMMUNITIES: route target 65001:100 (RFC 4360 §4)
      'c0 20 0c 0000fde9 00000001 00000002', // LARGE_COMMUNITY 65001:1:2 (RFC 8092 §3)
    ].join(''),
    NLRI_24 + '20 cb007107', // 198.51.100.0/24, 203.0.113.7/32
  );
  const V4_MODEL: UpdateMessage = {
    withdrawn: [],
    attributes: {
      origin: 'igp',
      asPath: [{ type: 'sequence', asns: [65001, 65001, 4200000001] }],
      nextHop: '192.0.2.1',
      med: 100,
      atomicAggregate: true,
      aggregator: { asn: 65001, address: '192.0.2.1' },
      communities: [parseCommunity('65001:100'), WellKnownCommunity.NO_EXPORT],
      extendedCommunities: [0x0002fde900000064n],
      largeCommunities: [{ globalAdmin: 65001, localData1: 1, localData2: 2 }],
    },
    nlri: [{ prefix: '198.51.100.0/24' }, { prefix: '203.0.113.7/32' }],
  };

  it('decodes an IPv4 announcement with every common attribute', () => {
    const v = decodeUpdate(V4);
    expect(ok(v)).toEqual(V4_MODEL);
    expect(v.kind === 'update' && v.discarded).toEqual([]);
  });

  it('encodes it back byte for byte, and updateLength is the encoded length', () => {
    expect(toHex(encodeUpdate(V4_MODEL))).toBe(toHex(V4));
    expect(updateLength(V4_MODEL)).toBe(V4.length);
  });

  // IPv6 announcement: MP_REACH_NLRI first (RFC 7606 §5.1) with a global and a link-local next hop (RFC 2545 §3).
  const V6 = upd(
    '',
    [
      '80 0e 33', // MP_REACH_NLRI, optional non-transitive, length 51 (RFC 4760 §3)
      '0002 01', // AFI 2 IPv6, SAFI 1 unicast
      '20', // next hop length 32: global + link-local
      '20010db8000000000000000000000001', // 2001:db8::1
      'fe800000000000000000000000000001', // fe80::1
      '00', // reserved
      '20 20010db8', // 2001:db8::/32
      '40 20010db800010000', // 2001:db8:1::/64
      ORIGIN_IGP,
      AS_PATH_65001,
      '40 05 04 00000064', // LOCAL_PREF 100 (iBGP; RFC 4271 §5.1.5)
    ].join(''),
    '',
  );
  const V6_MODEL: UpdateMessage = {
    withdrawn: [],
    attributes: {
      mpReach: {
        afi: 2,
        safi: 1,
        nextHop: ['2001:db8::1', 'fe80::1'],
        nlri: [{ prefix: '2001:db8::/32' }, { prefix: '2001:db8:1::/64' }],
      },
      origin: 'igp',
      asPath: [{ type: 'sequence', asns: [65001] }],
      localPref: 100,
    },
    nlri: [],
  };

  it('decodes and encodes an IPv6 announcement in MP_REACH_NLRI (RFC 4760 §3, RFC 2545 §3)', () => {
    expect(ok(decodeUpdate(V6))).toEqual(V6_MODEL);
    expect(toHex(encodeUpdate(V6_MODEL))).toBe(toHex(V6));
  });

  it('discards LOCAL_PREF from an external peer (RFC 7606 §7.5) without calling it an error', () => {
    const v = decodeUpdate(V6, 0, { external: true });
    expect(ok(v).attributes.localPref).toBeUndefined();
    expect(v.kind === 'update' && v.discarded).toEqual([]);
  });

  it('decodes withdrawals in both families', () => {
    const bytes = upd(
      '18 c63364', // withdrawn 198.51.100.0/24
      '80 0f 08 0002 01 20 20010db8', // MP_UNREACH_NLRI: IPv6 unicast, 2001:db8::/32 (RFC 4760 §4)
      '',
    );
    const m = ok(decodeUpdate(bytes));
    expect(m).toEqual({
      withdrawn: [{ prefix: '198.51.100.0/24' }],
      attributes: { mpUnreach: { afi: 2, safi: 1, withdrawn: [{ prefix: '2001:db8::/32' }] } },
      nlri: [],
    });
    expect(toHex(encodeUpdate(m))).toBe(toHex(bytes));
  });

  it('writes and reads path identifiers with ADD-PATH (RFC 7911 §3)', () => {
    const bytes = upd('', BASE, '00000001 18 c63364 00000002 18 c63364');
    const m = ok(decodeUpdate(bytes, 0, { addPath: { ipv4: true } }));
    expect(m.nlri).toEqual([
      { prefix: '198.51.100.0/24', pathId: 1 },
      { prefix: '198.51.100.0/24', pathId: 2 },
    ]);
    expect(toHex(encodeUpdate(m, { addPath: { ipv4: true } }))).toBe(toHex(bytes));
  });

  it('uses the extended length flag for attributes over 255 bytes (RFC 4271 §4.3)', () => {
    const communities = Array.from({ length: 70 }, (_, i) => i);
    const bytes = encodeUpdate({ withdrawn: [], attributes: { communities }, nlri: [] });
    // withdrawn length 0, attribute length 284, then flags 0xd0 (optional transitive extended), type 8, length 280
    expect(toHex(bytes.subarray(19, 27))).toBe('0000011cd0080118');
    expect(ok(decodeUpdate(bytes)).attributes.communities).toEqual(communities);
  });

  it('keeps an unknown optional transitive attribute with the Partial bit set, drops an unknown non-transitive one (RFC 4271 §5)', () => {
    const bytes = upd('', BASE + 'c0 63 02 abcd' + '80 64 01 ff', NLRI_24);
    expect(ok(decodeUpdate(bytes)).attributes.unknown).toEqual([{ flags: 0xe0, type: 99, value: fromHex('abcd') }]);
  });

  it('limits UPDATEs to 4096 bytes unless extended messages are negotiated (RFC 8654 §4)', () => {
    const m: UpdateMessage = { withdrawn: [], attributes: { communities: Array.from({ length: 1100 }, (_, i) => i) }, nlri: [] };
    expect(() => encodeUpdate(m)).toThrow(RangeError);
    const bytes = encodeUpdate(m, { extendedMessage: true });
    expect(bytes.length).toBe(updateLength(m));
    expect(ok(decodeUpdate(bytes, 0, { extendedMessage: true })).attributes.communities).toHaveLength(1100);
    expect(() => decodeUpdate(bytes)).toThrow(BgpError);
  });
});

describe('End-of-RIB (RFC 4724 §2)', () => {
  it('is an empty UPDATE for IPv4 unicast', () => {
    const bytes = encodeUpdate(endOfRib(1));
    expect(toHex(bytes)).toBe(MARKER + '0017' + '02' + '0000' + '0000'); // 23 bytes, both lengths zero
    expect(isEndOfRib(ok(decodeUpdate(bytes)))).toEqual({ afi: 1, safi: 1 });
  });

  it('is an UPDATE with only an empty MP_UNREACH_NLRI for IPv6', () => {
    const bytes = encodeUpdate(endOfRib(2));
    expect(toHex(bytes)).toBe(MARKER + '001d' + '02' + '0000' + '0006' + '800f03' + '000201'); // 29 bytes
    expect(isEndOfRib(ok(decodeUpdate(bytes)))).toEqual({ afi: 2, safi: 1 });
  });

  it('is not any other UPDATE', () => {
    expect(isEndOfRib({ withdrawn: [{ prefix: '10.0.0.0/8' }], attributes: {}, nlri: [] })).toBeUndefined();
    expect(isEndOfRib({ withdrawn: [], attributes: { origin: 'igp' }, nlri: [] })).toBeUndefined();
    expect(isEndOfRib({ withdrawn: [], attributes: { mpUnreach: { afi: 2, safi: 1, withdrawn: [{ prefix: '::/0' }] } }, nlri: [] })).toBeUndefined();
  });
});

describe('4-octet AS with 2-octet peers (RFC 6793 §4.2)', () => {
  const two = { fourOctetAs: false };

  it('sends AS_TRANS in AS_PATH and AGGREGATOR with the real numbers in AS4_PATH and AS4_AGGREGATOR', () => {
    const m: UpdateMessage = {
      withdrawn: [],
      attributes: {
        origin: 'igp',
        asPath: [{ type: 'sequence', asns: [65001, 4200000001] }],
        nextHop: '192.0.2.1',
        aggregator: { asn: 4200000001, address: '192.0.2.9' },
      },
      nlri: [{ prefix: '198.51.100.0/24' }],
    };
    const bytes = encodeUpdate(m, two);
    const expected = upd(
      '',
      [
        ORIGIN_IGP,
        '40 02 06 02 02 fde9 5ba0', // AS_PATH with 2-octet ASNs: 65001, AS_TRANS 23456
        NEXT_HOP,
        'c0 07 06 5ba0 c0000209', // AGGREGATOR: AS_TRANS, 192.0.2.9
        'c0 11 0a 02 02 0000fde9 fa56ea01', // AS4_PATH (17): 65001 4200000001
        'c0 12 08 fa56ea01 c0000209', // AS4_AGGREGATOR (18)
      ].join(''),
      NLRI_24,
    );
    expect(toHex(bytes)).toBe(toHex(expected));
    expect(updateLength(m, two)).toBe(bytes.length);
    expect(ok(decodeUpdate(bytes, 0, two))).toEqual(m);
  });

  it('sends no AS4_PATH when every AS fits in 2 octets', () => {
    const m: UpdateMessage = { withdrawn: [], attributes: { origin: 'igp', asPath: [{ type: 'sequence', asns: [65001] }], nextHop: '192.0.2.1' }, nlri: [] };
    expect(toHex(encodeUpdate(m, two))).toBe(toHex(upd('', ORIGIN_IGP + '40 02 04 02 01 fde9' + NEXT_HOP, '')));
  });

  it('rebuilds the path from the leading part of AS_PATH and all of AS4_PATH (§4.2.3)', () => {
    // An OLD speaker prepended 65010 in front of a path that a NEW speaker had sent with AS4_PATH.
    const bytes = upd(
      '',
      ORIGIN_IGP + '40 02 08 02 03 fdf2 5ba0 5ba0' + NEXT_HOP + 'c0 11 0a 02 02 fa56ea01 fa56ea02',
      NLRI_24,
    );
    expect(ok(decodeUpdate(bytes, 0, two)).attributes.asPath).toEqual([{ type: 'sequence', asns: [65010, 4200000001, 4200000002] }]);
  });

  it('ignores AS4_PATH that is longer than AS_PATH (§4.2.3)', () => {
    const bytes = upd('', ORIGIN_IGP + '40 02 04 02 01 5ba0' + NEXT_HOP + 'c0 11 0a 02 02 fa56ea01 fa56ea02', NLRI_24);
    expect(ok(decodeUpdate(bytes, 0, two)).attributes.asPath).toEqual([{ type: 'sequence', asns: [23456] }]);
  });

  it('ignores AS4_PATH and AS4_AGGREGATOR when AGGREGATOR holds a real 2-octet AS (§4.2.3)', () => {
    const bytes = upd(
      '',
      ORIGIN_IGP + '40 02 04 02 01 5ba0' + NEXT_HOP + 'c0 07 06 fde9 c0000209' + 'c0 11 06 02 01 fa56ea01' + 'c0 12 08 fa56ea01 c0000209',
      NLRI_24,
    );
    const a = ok(decodeUpdate(bytes, 0, two)).attributes;
    expect(a.asPath).toEqual([{ type: 'sequence', asns: [23456] }]);
    expect(a.aggregator).toEqual({ asn: 65001, address: '192.0.2.9' });
  });

  it('discards AS4_PATH and AS4_AGGREGATOR between 4-octet speakers (§4.1)', () => {
    const bytes = upd('', BASE + 'c0 11 06 02 01 fa56ea01', NLRI_24);
    const v = decodeUpdate(bytes);
    expect(ok(v).attributes.asPath).toEqual([{ type: 'sequence', asns: [65001] }]);
    expect(ok(v).attributes.unknown).toBeUndefined();
  });

  it('discards a malformed AS4_PATH and keeps the UPDATE (RFC 6793 §7: attribute discard)', () => {
    const bytes = upd('', ORIGIN_IGP + '40 02 04 02 01 5ba0' + NEXT_HOP + 'c0 11 03 02 01 fa', NLRI_24);
    const v = decodeUpdate(bytes, 0, two);
    expect(ok(v).attributes.asPath).toEqual([{ type: 'sequence', asns: [23456] }]);
    expect(v.kind === 'update' && v.discarded.map((e) => [e.notificationSubcode, e.handling])).toEqual([[9, 'attribute-discard']]);
  });

  it('keeps leading confederation segments, drops confederation segments inside AS4_PATH (§4.2.3, §6)', () => {
    expect(
      mergeAs4Path(
        [
          { type: 'confed-sequence', asns: [64512] },
          { type: 'sequence', asns: [23456, 65002] },
        ],
        [
          { type: 'confed-sequence', asns: [64999] },
          { type: 'sequence', asns: [4200000001, 65002] },
        ],
      ),
    ).toEqual([
      { type: 'confed-sequence', asns: [64512] },
      { type: 'sequence', asns: [4200000001, 65002] },
    ]);
    expect(asPathLength([{ type: 'set', asns: [1, 2, 3] }, { type: 'sequence', asns: [4, 5] }, { type: 'confed-sequence', asns: [6] }])).toBe(3);
  });
});

describe('RFC 7606 error handling', () => {
  it('treat-as-withdraw for an invalid ORIGIN value, withdrawing every prefix of the UPDATE (§7.1)', () => {
    const bytes = upd('20 0a000001', '40 01 01 03' + AS_PATH_65001 + NEXT_HOP, NLRI_24);
    expect(withdraw(decodeUpdate(bytes))).toEqual({ prefixes: ['10.0.0.1/32', '198.51.100.0/24'], errors: [[3, 6]] });
  });

  it('treat-as-withdraw for attribute length errors, with the attribute as data (RFC 4271 §6.3)', () => {
    const v = decodeUpdate(upd('', '40 01 02 0000' + AS_PATH_65001 + NEXT_HOP, NLRI_24));
    expect(withdraw(v).errors).toEqual([[3, 5]]);
    expect(v.kind === 'treat-as-withdraw' && toHex(v.errors[0]?.data ?? new Uint8Array())).toBe('40010200' + '00');
    expect(withdraw(decodeUpdate(upd('', ORIGIN_IGP + AS_PATH_65001 + '40 03 05 c000020100', NLRI_24))).errors).toEqual([[3, 5]]);
    expect(withdraw(decodeUpdate(upd('', BASE + '80 04 02 0001', NLRI_24))).errors).toEqual([[3, 5]]);
    expect(withdraw(decodeUpdate(upd('', BASE + '40 05 03 000001', NLRI_24))).errors).toEqual([[3, 5]]);
  });

  it('treat-as-withdraw for a malformed AS_PATH (§7.2)', () => {
    for (const asPath of [
      '40 02 02 02 00', // zero-length segment
      '40 02 06 05 01 0000fde9', // segment type 5
      '40 02 06 02 02 0000fde9', // count overruns the attribute
      '40 02 07 02 01 0000fde9 02', // a lone octet after the last segment
    ]) {
      expect(withdraw(decodeUpdate(upd('', ORIGIN_IGP + asPath + NEXT_HOP, NLRI_24))).errors, asPath).toEqual([[3, 11]]);
    }
  });

  it('treat-as-withdraw for confederation segments from an external peer (§7.2)', () => {
    const bytes = upd('', ORIGIN_IGP + '40 02 06 03 01 0000fc00' + NEXT_HOP, NLRI_24);
    expect(ok(decodeUpdate(bytes)).attributes.asPath).toEqual([{ type: 'confed-sequence', asns: [64512] }]);
    expect(withdraw(decodeUpdate(bytes, 0, { external: true })).errors).toEqual([[3, 11]]);
  });

  it('treat-as-withdraw for a NEXT_HOP that cannot be one (§7.3)', () => {
    for (const nh of ['00000000', 'e0000001', 'ffffffff']) {
      expect(withdraw(decodeUpdate(upd('', ORIGIN_IGP + AS_PATH_65001 + '40 03 04 ' + nh, NLRI_24))).errors).toEqual([[3, 8]]);
    }
  });

  it('treat-as-withdraw for missing well-known attributes, with the type code as data (§3 d)', () => {
    const v = decodeUpdate(upd('', ORIGIN_IGP + AS_PATH_65001, NLRI_24));
    expect(withdraw(v)).toEqual({ prefixes: ['198.51.100.0/24'], errors: [[3, 3]] });
    expect(v.kind === 'treat-as-withdraw' && toHex(v.errors[0]?.data ?? new Uint8Array())).toBe('03');
    expect(withdraw(decodeUpdate(upd('', '', NLRI_24))).errors).toEqual([[3, 3], [3, 3], [3, 3]]);
  });

  it('needs no NEXT_HOP when the routes are in MP_REACH_NLRI (RFC 4760 §3), and no attributes for withdrawals', () => {
    // MP_REACH_NLRI of 26 bytes: IPv6 unicast, next hop 2001:db8::1, reserved, 2001:db8::/32.
    const bytes = upd('', '80 0e 1a 0002 01 10 20010db8000000000000000000000001 00 20 20010db8' + ORIGIN_IGP + AS_PATH_65001, '');
    expect(ok(decodeUpdate(bytes)).attributes.mpReach?.nlri).toEqual([{ prefix: '2001:db8::/32' }]);
    expect(ok(decodeUpdate(upd(NLRI_24, '', ''))).withdrawn).toEqual([{ prefix: '198.51.100.0/24' }]);
  });

  it('treat-as-withdraw when Optional/Transitive flags conflict with the type (§3 c), with the attribute as data', () => {
    const v = decodeUpdate(upd('', 'c0 01 01 00' + AS_PATH_65001 + NEXT_HOP, NLRI_24));
    expect(withdraw(v).errors).toEqual([[3, 4]]); // present though malformed: not also "missing"
    expect(v.kind === 'treat-as-withdraw' && toHex(v.errors[0]?.data ?? new Uint8Array())).toBe('c0010100');
    expect(withdraw(decodeUpdate(upd('', BASE + 'c0 04 04 00000064', NLRI_24))).errors).toEqual([[3, 4]]); // MED marked transitive
  });

  it('treat-as-withdraw for bad COMMUNITIES, EXTENDED_COMMUNITIES, LARGE_COMMUNITY lengths (§7.8, §7.14, RFC 8092 §6)', () => {
    for (const a of ['c0 08 05 0000000000', 'c0 08 00', 'c0 10 07 00000000000000', 'c0 20 0d 00000000000000000000000000', 'c0 20 00']) {
      expect(withdraw(decodeUpdate(upd('', BASE + a, NLRI_24))).errors, a).toEqual([[3, 9]]);
    }
  });

  it('attribute discard for bad ATOMIC_AGGREGATE and AGGREGATOR (§7.6, §7.7): the route stays', () => {
    const v = decodeUpdate(upd('', BASE + '40 06 01 00' + 'c0 07 07 00000001 0a0000', NLRI_24));
    const m = ok(v);
    expect(m.nlri).toEqual([{ prefix: '198.51.100.0/24' }]);
    expect(m.attributes.atomicAggregate).toBeUndefined();
    expect(m.attributes.aggregator).toBeUndefined();
    expect(v.kind === 'update' && v.discarded.map((e) => [e.notificationSubcode, e.handling])).toEqual([
      [5, 'attribute-discard'],
      [5, 'attribute-discard'],
    ]);
  });

  it('keeps the first of repeated attributes and drops the rest (§3 g)', () => {
    const v = decodeUpdate(upd('', BASE + '80 04 04 00000001' + '80 04 04 00000002', NLRI_24));
    expect(ok(v).attributes.med).toBe(1);
    expect(v.kind === 'update' && v.discarded).toHaveLength(1);
  });

  it('resets the session for a repeated MP_REACH_NLRI (§3 g)', () => {
    const one = '80 0e 1a 0002 01 10 20010db8000000000000000000000001 00 20 20010db8';
    expect(reset(upd('', one + one + ORIGIN_IGP + AS_PATH_65001, '')).notificationSubcode).toBe(1);
  });

  it('resets the session for an unrecognized well-known attribute, with the attribute as data (RFC 4271 §6.3)', () => {
    const e = reset(upd('', BASE + '40 63 01 aa', NLRI_24));
    expect([e.notificationCode, e.notificationSubcode]).toEqual([3, 2]);
    expect(toHex(e.data)).toBe('406301aa');
    expect(e.code).toBe('ERR_BGP_UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE');
  });

  it('resets the session for a malformed MP_REACH_NLRI or MP_UNREACH_NLRI (§7.11, §5.3)', () => {
    // Next hop length 5 for IPv6.
    expect(reset(upd('', '80 0e 0a 0002 01 05 2001db8000 00 00' + ORIGIN_IGP + AS_PATH_65001, '')).notificationSubcode).toBe(9);
    // NLRI /64 with only 3 octets.
    expect(reset(upd('', '80 0e 19 0002 01 10 20010db8000000000000000000000001 00 40 200db8' + ORIGIN_IGP + AS_PATH_65001, '')).notificationSubcode).toBe(9);
    // MP_UNREACH too short to hold AFI/SAFI.
    expect(reset(upd('', '80 0f 02 0002', '')).notificationSubcode).toBe(9);
    // Prefix length 129.
    expect(reset(upd('', '80 0f 04 0002 01 81', '')).notificationSubcode).toBe(9);
  });

  it('ignores MP attributes of families it does not speak (attribute discard)', () => {
    const v = decodeUpdate(upd('', '80 0f 05 0001 80 0000', ''));
    expect(ok(v).attributes.mpUnreach).toBeUndefined();
    expect(v.kind === 'update' && v.discarded.map((e) => e.handling)).toEqual(['attribute-discard']);
  });

  it('resets the session when field lengths do not add up (RFC 4271 §6.3 Malformed Attribute List)', () => {
    const good = upd('', BASE, NLRI_24);
    const badWithdrawn = good.slice();
    badWithdrawn[20] = 0xff; // withdrawn routes length 255
    expect(reset(badWithdrawn).notificationSubcode).toBe(1);
    const badAttrs = good.slice();
    badAttrs[22] = 0xff; // total path attribute length 255
    expect(reset(badAttrs).notificationSubcode).toBe(1);
  });

  it('resets the session for unparseable NLRI or withdrawn routes (§5.3: Invalid Network Field)', () => {
    expect(reset(upd('', BASE, '21 c6336400 00')).notificationSubcode).toBe(10); // /33
    expect(reset(upd('18 c633', '', '')).notificationSubcode).toBe(10); // /24 with 2 octets
  });

  it('treats an attribute overrunning the attribute field as withdraw when NLRI are known, else resets (§4)', () => {
    const v = decodeUpdate(upd('', BASE + '80 04 08 00000064', NLRI_24));
    expect(withdraw(v)).toEqual({ prefixes: ['198.51.100.0/24'], errors: [[3, 1]] });
    expect(reset(upd('', ORIGIN_IGP + '40 02 40 00', '')).notificationSubcode).toBe(1);
    expect(reset(upd('', ORIGIN_IGP + '40', '')).notificationSubcode).toBe(1);
    // The overrunning attribute is MP_REACH: its NLRI cannot be located.
    expect(reset(upd('', ORIGIN_IGP + '80 0e 40 0002 01', NLRI_24)).notificationSubcode).toBe(1);
  });

  it('picks the strongest handling: a session reset wins over treat-as-withdraw (§3)', () => {
    expect(reset(upd('', '40 01 01 07' + '40 63 01 aa' + AS_PATH_65001 + NEXT_HOP, NLRI_24)).notificationSubcode).toBe(2);
  });
});

describe('UPDATE properties', () => {
  const cases: [string, UpdateCodecOptions][] = [
    ['4-octet AS', {}],
    ['2-octet AS', { fourOctetAs: false }],
    ['ADD-PATH', { addPath: { ipv4: true, ipv6: true } }],
  ];
  for (const [name, opts] of cases) {
    it(`round-trips any UPDATE, ${name}, and updateLength equals the encoded length (property)`, () => {
      fc.assert(
        fc.property(updateMessage({ fourOctetAs: opts.fourOctetAs ?? true, addPath: opts.addPath !== undefined }), (m) => {
          const o = { ...opts, extendedMessage: true };
          const bytes = encodeUpdate(m, o);
          expect(bytes.length).toBe(updateLength(m, o));
          const v = decodeUpdate(bytes, 0, o);
          // Mandatory attributes may be missing from a random model: then the verdict withdraws.
          if (v.kind === 'update') expect(v.update).toEqual(m);
          else expect(v.errors.every((e) => e.notificationSubcode === 3)).toBe(true);
        }),
        { numRuns: 300 },
      );
    });
  }
});
