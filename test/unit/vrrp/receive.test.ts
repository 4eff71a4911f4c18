import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  type ReceiveConfig,
  type ReceivedPacket,
  countVerdict,
  emptyReceiveCounters,
  followChecksumForm,
  validateAdvert,
} from '../../../src/vrrp/codec-receive.js';
import { type AdvertV3, encodeAdvert, simplePasswordAuthData } from '../../../src/vrrp/codec.js';
import { fromHex, toHex } from '../../../src/util/bytes.js';
import { arbAdvert } from './arbitraries.js';
import { KEEPALIVED_SRC_V4, KEEPALIVED_SRC_V6, KEEPALIVED_V2, KEEPALIVED_V3_V4, KEEPALIVED_V3_V4_PRIO0, KEEPALIVED_V3_V6 } from './fixtures.js';

const GROUP4 = '224.0.0.18';
const GROUP6 = 'ff02::12';

// The instances that keepalived's captured adverts are for.
const cfgV3V4: ReceiveConfig = { version: 3, family: 'ipv4', vrid: 51, addresses: ['192.0.2.100', '192.0.2.101'], advertIntervalMs: 1000 };
const cfgV3V6: ReceiveConfig = { version: 3, family: 'ipv6', vrid: 52, addresses: ['fe80::52', '2001:db8::52'], advertIntervalMs: 500 };
const cfgV2: ReceiveConfig = {
  version: 2,
  family: 'ipv4',
  vrid: 53,
  addresses: ['192.0.2.153'],
  advertIntervalMs: 2000,
  authType: 1,
  authData: simplePasswordAuthData('secret12'),
};

const pkt4 = (payload: Uint8Array, over: Partial<ReceivedPacket> = {}): ReceivedPacket => ({
  family: 'ipv4',
  src: KEEPALIVED_SRC_V4,
  dst: GROUP4,
  ttl: 255,
  protocol: 112,
  payload,
  ...over,
});
const pkt6 = (payload: Uint8Array, over: Partial<ReceivedPacket> = {}): ReceivedPacket => ({
  family: 'ipv6',
  src: KEEPALIVED_SRC_V6,
  dst: GROUP6,
  ttl: 255,
  protocol: 112,
  payload,
  ...over,
});

/** A v3 IPv4 advert for cfgV3V4 from 192.0.2.12, with fields overridden. */
function v3(over: Partial<AdvertV3> = {}, form: 'pseudo-header' | 'plain' = 'pseudo-header'): Uint8Array {
  const a: AdvertV3 = { version: 3, family: 'ipv4', vrid: 51, priority: 100, maxAdvertIntervalCs: 100, addresses: ['192.0.2.100', '192.0.2.101'], ...over };
  return encodeAdvert(a, { src: '192.0.2.12', dst: GROUP4, ipv4Checksum: form });
}
const from12 = { src: '192.0.2.12' };

describe('receive validation: keepalived adverts pass', () => {
  it('accepts v3 IPv4, v3 IPv6 and v2 with simple password, reporting the checksum form', () => {
    const a = validateAdvert(pkt4(KEEPALIVED_V3_V4), cfgV3V4);
    expect(a).toMatchObject({ kind: 'ok', src: KEEPALIVED_SRC_V4, checksumForm: 'pseudo-header', intervalMismatch: false, addressMismatch: false });
    expect(a.kind === 'ok' && a.advert.priority).toBe(100);
    expect(validateAdvert(pkt6(KEEPALIVED_V3_V6), cfgV3V6)).toMatchObject({ kind: 'ok', checksumForm: 'pseudo-header' });
    expect(validateAdvert(pkt4(KEEPALIVED_V2), cfgV2)).toMatchObject({ kind: 'ok', checksumForm: 'plain' });
    expect(validateAdvert(pkt4(KEEPALIVED_V3_V4_PRIO0), cfgV3V4)).toMatchObject({ kind: 'ok', advert: { priority: 0 } });
  });

  it('accepts an RFC 9568 router vendor advert (message-only checksum) and says so', () => {
    expect(validateAdvert(pkt4(v3({}, 'plain'), from12), cfgV3V4)).toMatchObject({ kind: 'ok', checksumForm: 'plain' });
  });
});

describe('receive validation: RFC 9568 §7.1 checks, one at a time', () => {
  it('another VRID is "not for us", before any other check (even a bad TTL)', () => {
    expect(validateAdvert(pkt4(KEEPALIVED_V3_V4, { ttl: 1 }), { ...cfgV3V4, vrid: 7 })).toEqual({ kind: 'other-vrid', vrid: 51 });
  });

  it('TTL / hop limit must be 255 (§5.1.1.3, §5.1.2.3), unless the check is off for routed unicast', () => {
    expect(validateAdvert(pkt4(KEEPALIVED_V3_V4, { ttl: 254 }), cfgV3V4)).toMatchObject({ kind: 'invalid', reason: 'ttl' });
    expect(validateAdvert(pkt6(KEEPALIVED_V3_V6, { ttl: 64 }), cfgV3V6)).toMatchObject({ kind: 'invalid', reason: 'ttl', detail: expect.stringContaining('hop limit') });
    expect(validateAdvert(pkt4(KEEPALIVED_V3_V4, { ttl: 254 }), { ...cfgV3V4, checkTtl: false })).toMatchObject({ kind: 'ok' });
  });

  it('the version must be the configured one', () => {
    expect(validateAdvert(pkt4(KEEPALIVED_V3_V4), { ...cfgV3V4, version: 2 })).toMatchObject({ kind: 'invalid', reason: 'version' });
    const v2For51 = fromHex('21 33 64 01 00 01 0000 c0000264 0000000000000000');
    expect(validateAdvert(pkt4(v2For51), cfgV3V4)).toMatchObject({ kind: 'invalid', reason: 'version' });
    // Version 4 is no VRRP at all.
    expect(validateAdvert(pkt4(fromHex('41 33 64 01 0064 0000 c0000264')), cfgV3V4)).toMatchObject({ kind: 'invalid', reason: 'version' });
  });

  it('the type must be 1, ADVERTISEMENT (§5.2.2)', () => {
    expect(validateAdvert(pkt4(v3({ type: 2 }), from12), cfgV3V4)).toMatchObject({ kind: 'invalid', reason: 'type' });
  });

  it('the packet must be complete (§7.1) and exactly as long as its count says', () => {
    for (let n = 0; n < KEEPALIVED_V3_V4.length; n++) {
      const v = validateAdvert(pkt4(KEEPALIVED_V3_V4.subarray(0, n)), cfgV3V4);
      expect(v, `${n} bytes`).toMatchObject({ kind: 'invalid', reason: 'truncated' });
    }
    const long = new Uint8Array(KEEPALIVED_V3_V4.length + 4);
    long.set(KEEPALIVED_V3_V4);
    expect(validateAdvert(pkt4(long), cfgV3V4)).toMatchObject({ kind: 'invalid', reason: 'length' });
  });

  it('the checksum must verify (§5.2.8); IPv6 binds it to source and destination', () => {
    const bad = KEEPALIVED_V3_V4.slice();
    bad[7] = (bad[7] as number) ^ 1;
    expect(validateAdvert(pkt4(bad), cfgV3V4)).toMatchObject({ kind: 'invalid', reason: 'checksum', detail: expect.stringContaining('0x42fc') });
    expect(validateAdvert(pkt6(KEEPALIVED_V3_V6, { src: 'fe80::99' }), cfgV3V6)).toMatchObject({ kind: 'invalid', reason: 'checksum' });
    // A strict RFC 9568 receiver refuses keepalived's form.
    expect(validateAdvert(pkt4(KEEPALIVED_V3_V4), { ...cfgV3V4, acceptChecksum: ['plain'] })).toMatchObject({ kind: 'invalid', reason: 'checksum' });
  });

  it('a zero address count is ignored (§5.2.5, erratum 8299)', () => {
    expect(validateAdvert(pkt4(v3({ addresses: [] }), from12), cfgV3V4)).toMatchObject({ kind: 'invalid', reason: 'address-count' });
  });

  it('a zero Max Advertise Interval is discarded (§7.1, erratum 8301); another interval is kept and flagged', () => {
    expect(validateAdvert(pkt4(v3({ maxAdvertIntervalCs: 0 }), from12), cfgV3V4)).toMatchObject({ kind: 'invalid', reason: 'interval' });
    expect(validateAdvert(pkt4(v3({ maxAdvertIntervalCs: 30 }), from12), cfgV3V4)).toMatchObject({ kind: 'ok', intervalMismatch: true });
  });

  it('v3: a different address list is kept and flagged (§7.1 MAY verify, SHOULD log)', () => {
    expect(validateAdvert(pkt4(v3({ addresses: ['192.0.2.100'] }), from12), cfgV3V4)).toMatchObject({ kind: 'ok', addressMismatch: true });
    // Order does not matter.
    expect(validateAdvert(pkt4(v3({ addresses: ['192.0.2.101', '192.0.2.100'] }), from12), cfgV3V4)).toMatchObject({ kind: 'ok', addressMismatch: false });
  });

  it('checks the IP protocol and the family when the caller gives them', () => {
    expect(validateAdvert(pkt4(KEEPALIVED_V3_V4, { protocol: 51 }), cfgV3V4)).toMatchObject({ kind: 'invalid', reason: 'protocol' });
    expect(validateAdvert(pkt6(KEEPALIVED_V3_V6), cfgV3V4)).toMatchObject({ kind: 'invalid', reason: 'family' });
    expect(validateAdvert(pkt4(KEEPALIVED_V3_V4, { src: 'fe80::1' }), cfgV3V4)).toMatchObject({ kind: 'invalid', reason: 'family' });
    expect(validateAdvert(pkt4(KEEPALIVED_V3_V4, { dst: 'not an address' }), cfgV3V4)).toMatchObject({ kind: 'invalid', reason: 'family' });
    // Even a broken configuration gets a verdict, not an exception.
    expect(validateAdvert(pkt4(KEEPALIVED_V3_V4), { ...cfgV3V4, addresses: undefined as unknown as string[] })).toMatchObject({
      kind: 'invalid',
      reason: 'family',
      detail: expect.stringContaining('cannot validate'),
    });
  });

  it('unicast peers: only their adverts count', () => {
    const cfg = { ...cfgV3V4, unicastPeers: ['192.0.2.12'] };
    expect(validateAdvert(pkt4(KEEPALIVED_V3_V4), cfg)).toMatchObject({ kind: 'invalid', reason: 'source' });
    const fromPeer = encodeAdvert(
      { version: 3, family: 'ipv4', vrid: 51, priority: 100, maxAdvertIntervalCs: 100, addresses: cfgV3V4.addresses.slice() },
      { src: '192.0.2.12', dst: '192.0.2.11' },
    );
    expect(validateAdvert(pkt4(fromPeer, { src: '192.0.2.12', dst: '192.0.2.11' }), cfg)).toMatchObject({ kind: 'ok', checksumForm: 'pseudo-header' });
  });
});

describe('receive validation: VRRPv2 rules (RFC 3768 §7.1)', () => {
  const v2 = (over: Record<string, unknown>): Uint8Array =>
    encodeAdvert({
      version: 2,
      family: 'ipv4',
      vrid: 53,
      priority: 150,
      advertIntervalS: 2,
      authType: 1,
      authData: simplePasswordAuthData('secret12'),
      addresses: ['192.0.2.153'],
      ...over,
    });

  it('the auth type and simple password must match ours', () => {
    expect(validateAdvert(pkt4(KEEPALIVED_V2), { ...cfgV2, authType: 0 })).toMatchObject({ kind: 'invalid', reason: 'auth' });
    expect(validateAdvert(pkt4(KEEPALIVED_V2), { ...cfgV2, authData: simplePasswordAuthData('secret13') })).toMatchObject({ kind: 'invalid', reason: 'auth' });
    expect(validateAdvert(pkt4(v2({ authType: 0, authData: new Uint8Array(8) })), { ...cfgV2, authType: undefined, authData: undefined })).toMatchObject({
      kind: 'ok',
    });
  });

  it('the interval MUST match ours: v2 discards on mismatch', () => {
    expect(validateAdvert(pkt4(v2({ advertIntervalS: 1 })), cfgV2)).toMatchObject({ kind: 'invalid', reason: 'interval' });
  });

  it('a wrong address list is dropped unless the sender is the owner (priority 255)', () => {
    expect(validateAdvert(pkt4(v2({ addresses: ['192.0.2.154'] })), cfgV2)).toMatchObject({ kind: 'invalid', reason: 'address-list' });
    expect(validateAdvert(pkt4(v2({ addresses: ['192.0.2.153', '192.0.2.154'] })), cfgV2)).toMatchObject({ kind: 'invalid', reason: 'address-count' });
    expect(validateAdvert(pkt4(v2({ addresses: ['192.0.2.154'], priority: 255 })), cfgV2)).toMatchObject({ kind: 'ok', addressMismatch: true });
    // keepalived's behaviour, on request: keep it, flag it.
    expect(validateAdvert(pkt4(v2({ addresses: ['192.0.2.154'] })), { ...cfgV2, v2AddressMismatch: 'flag' })).toMatchObject({ kind: 'ok', addressMismatch: true });
  });
});

describe('following the peers\' v3 IPv4 checksum form', () => {
  it('switches to what an accepted advert used, and ignores everything else', () => {
    const plainPeer = validateAdvert(pkt4(v3({}, 'plain'), from12), cfgV3V4);
    expect(followChecksumForm('pseudo-header', plainPeer)).toBe('plain');
    expect(followChecksumForm('plain', validateAdvert(pkt4(KEEPALIVED_V3_V4), cfgV3V4))).toBe('pseudo-header');
    expect(followChecksumForm('plain', validateAdvert(pkt4(KEEPALIVED_V3_V4, { ttl: 1 }), cfgV3V4))).toBe('plain');
    expect(followChecksumForm('plain', validateAdvert(pkt6(KEEPALIVED_V3_V6), cfgV3V6))).toBe('plain');
    // An old keepalived unicast peer: answer in its form, which it then accepts.
    const a: AdvertV3 = { version: 3, family: 'ipv4', vrid: 51, priority: 100, maxAdvertIntervalCs: 100, addresses: ['192.0.2.100', '192.0.2.101'] };
    const old = encodeAdvert(a, { src: '192.0.2.12', dst: '192.0.2.11', ipv4Checksum: 'pseudo-header-group' });
    const v = validateAdvert(pkt4(old, { src: '192.0.2.12', dst: '192.0.2.11' }), cfgV3V4);
    const form = followChecksumForm('pseudo-header', v);
    expect(form).toBe('pseudo-header-group');
    const reply = encodeAdvert({ ...a, priority: 200 }, { src: '192.0.2.11', dst: '192.0.2.12', ipv4Checksum: form });
    expect(validateAdvert(pkt4(reply, { src: '192.0.2.11', dst: '192.0.2.12' }), { ...cfgV3V4, acceptChecksum: [form] })).toMatchObject({ kind: 'ok' });
  });
});

describe('receive counters', () => {
  it('count every verdict kind and flag', () => {
    const c = emptyReceiveCounters();
    countVerdict(c, validateAdvert(pkt4(KEEPALIVED_V3_V4), cfgV3V4));
    countVerdict(c, validateAdvert(pkt4(KEEPALIVED_V3_V4_PRIO0), cfgV3V4));
    countVerdict(c, validateAdvert(pkt4(KEEPALIVED_V3_V4, { ttl: 1 }), cfgV3V4));
    countVerdict(c, validateAdvert(pkt4(KEEPALIVED_V3_V4), { ...cfgV3V4, vrid: 9 }));
    countVerdict(c, validateAdvert(pkt4(v3({ maxAdvertIntervalCs: 5, addresses: ['192.0.2.1'] }), from12), cfgV3V4));
    expect(c).toMatchObject({ ok: 3, 'priority-zero': 1, ttl: 1, 'other-vrid': 1, 'interval-mismatch': 1, 'address-mismatch': 1, checksum: 0 });
  });
});

describe('receive validation properties', () => {
  const cfgs = [cfgV3V4, cfgV3V6, cfgV2];

  it('random bytes always give a verdict, never an exception', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 255 }), (payload, i, ttl) => {
        const cfg = cfgs[i] as ReceiveConfig;
        const p = cfg.family === 'ipv4' ? pkt4(payload, { ttl }) : pkt6(payload, { ttl });
        const v = validateAdvert(p, cfg);
        expect(['ok', 'other-vrid', 'invalid']).toContain(v.kind);
      }),
    );
  });

  it('mutated keepalived adverts always give a verdict, and never ok with a corrupted field', () => {
    const cases = [
      [KEEPALIVED_V3_V4, cfgV3V4, pkt4],
      [KEEPALIVED_V3_V6, cfgV3V6, pkt6],
      [KEEPALIVED_V2, cfgV2, pkt4],
    ] as const;
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 }),
        fc.array(fc.record({ at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: -8, max: 8 }),
        (i, flips, cut) => {
          const [orig, cfg, mk] = cases[i] as (typeof cases)[number];
          let bytes = orig.slice();
          for (const f of flips) {
            const at = f.at % bytes.length;
            bytes[at] = (bytes[at] as number) ^ f.xor;
          }
          if (cut < 0) bytes = bytes.subarray(0, bytes.length + cut);
          else if (cut > 0) bytes = Uint8Array.from([...bytes, ...new Array<number>(cut).fill(0)]);
          const v = validateAdvert(mk(bytes), cfg);
          expect(['ok', 'other-vrid', 'invalid']).toContain(v.kind);
          // A mutated packet passes only if its checksum still holds (the one's complement sum is blind to some
          // changes, e.g. 0x0000 <-> 0xffff words); then the decoded advert must be exactly what is on the wire.
          if (v.kind === 'ok') {
            const p = mk(bytes);
            const again = encodeAdvert(v.advert, { src: p.src, dst: p.dst, ipv4Checksum: v.checksumForm === 'plain' ? 'plain' : 'pseudo-header' });
            expect(toHex(again)).toBe(toHex(bytes));
          }
        },
      ),
    );
  });

  it('every well-formed advert for the instance is ok, whatever its priority and interval', () => {
    fc.assert(
      fc.property(arbAdvert, (a) => {
        if (a.version !== 3 || a.family !== 'ipv4' || a.addresses.length === 0 || a.maxAdvertIntervalCs === 0) return;
        const fixed = { ...a, type: 1, vrid: 51 };
        const v = validateAdvert(pkt4(encodeAdvert(fixed, { src: '192.0.2.12', dst: GROUP4 }), from12), cfgV3V4);
        expect(v.kind).toBe('ok');
      }),
    );
  });
});
