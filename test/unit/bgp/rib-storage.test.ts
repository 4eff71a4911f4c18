/**
 * The compact Adj-RIB-In storage (rib.ts) and the IPv4 fast paths it shares
 * with the codec (codec-address.ts `ipv4PrefixKey`, `writeNlri`): IPv4 routes
 * live in int-keyed maps per prefix length, everything else under its text;
 * both must behave exactly like one map keyed by prefix text.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ByteReader, ByteWriter } from '../../../src/util/bytes.js';
import { AdjRibIn } from '../../../src/bgp/rib.js';
import type { InRoute } from '../../../src/bgp/rib.js';
import { ipv4PrefixKey, parsePrefix, readNlri, writeNlri } from '../../../src/bgp/codec-address.js';
import type { Nlri } from '../../../src/bgp/codec-address.js';
import type { PathAttributes } from '../../../src/bgp/codec-attributes.js';
import type { UpdateMessage } from '../../../src/bgp/codec-update.js';
import { prefix4, prefix6 } from './arbitraries.js';

const attrs: PathAttributes = { origin: 'igp', asPath: [{ type: 'sequence', asns: [65001] }] };
const ok = (update: UpdateMessage) => ({ kind: 'update' as const, update, discarded: [] });
const ann4 = (nlri: Nlri[], a: PathAttributes = attrs, nextHop = '192.0.2.1'): UpdateMessage => ({ withdrawn: [], attributes: { ...a, nextHop }, nlri });
const ann6 = (nlri: Nlri[], a: PathAttributes = attrs): UpdateMessage => ({
  withdrawn: [],
  attributes: { ...a, mpReach: { afi: 2, safi: 1, nextHop: ['2001:db8::1'], nlri } },
  nlri: [],
});
const wd4 = (withdrawn: Nlri[]): UpdateMessage => ({ withdrawn, attributes: {}, nlri: [] });
const wd6 = (withdrawn: Nlri[]): UpdateMessage => ({ withdrawn: [], attributes: { mpUnreach: { afi: 2, safi: 1, withdrawn } }, nlri: [] });
const key = (r: { prefix: string; pathId?: number }): string => (r.pathId === undefined ? r.prefix : `${r.prefix}#${r.pathId}`);
const sorted = (rs: Iterable<InRoute>): string[] => [...rs].map(key).sort();

describe('ipv4PrefixKey', () => {
  it('gives canonical IPv4 prefixes their address and length, and -1 to anything else', () => {
    expect(ipv4PrefixKey('0.0.0.0/0')).toBe(0);
    expect(ipv4PrefixKey('10.0.0.0/8')).toBe(0x0a000000 * 64 + 8);
    expect(ipv4PrefixKey('255.255.255.255/32')).toBe(0xffffffff * 64 + 32);
    expect(ipv4PrefixKey('128.0.0.0/1')).toBe(0x80000000 * 64 + 1);
    for (const bad of ['10.0.0.1/8', '010.0.0.0/8', '10.0.0.0/08', '10.0.0.0/33', '10.0.0.0', '10.0.0/8', '10.0.0.0.0/8', '256.0.0.0/8', '10.0.0.0/', '/8', '2001:db8::/32', '', 'a.b.c.d/1', '1.2.3.4/32 ', '1111.0.0.0/8']) {
      expect(ipv4PrefixKey(bad)).toBe(-1);
    }
  });

  it('agrees with parsePrefix on every canonical IPv4 prefix (property)', () => {
    fc.assert(
      fc.property(prefix4, (p) => {
        const parts = parsePrefix(p);
        const addr = (parts.bytes[0]! * 2 ** 24) + (parts.bytes[1]! << 16) + (parts.bytes[2]! << 8) + parts.bytes[3]!;
        expect(ipv4PrefixKey(p)).toBe(addr * 64 + parts.length);
      }),
    );
  });

  it('writeNlri: the IPv4 fast path writes what the strict path reads back, and still refuses bad text', () => {
    fc.assert(
      fc.property(fc.array(prefix4, { maxLength: 30 }), fc.boolean(), (list, addPath) => {
        const nlri = list.map((prefix, i) => (addPath ? { prefix, pathId: i * 7 } : { prefix }));
        const w = new ByteWriter(16);
        writeNlri(w, nlri, 1, addPath);
        expect(readNlri(new ByteReader(w.finish()), 1, addPath)).toEqual(nlri);
      }),
    );
    expect(() => writeNlri(new ByteWriter(8), [{ prefix: '10.0.0.1/8' }], 1, false)).toThrow(/bits set/);
    expect(() => writeNlri(new ByteWriter(8), [{ prefix: '2001:db8::/32' }], 1, false)).toThrow(/not IPv4/);
  });
});

describe('AdjRibIn storage', () => {
  it('keeps IPv4 routes across the whole address space, /0 to /32, and gives each back as it came', () => {
    const rib = new AdjRibIn();
    const prefixes = ['0.0.0.0/0', '128.0.0.0/1', '255.255.255.255/32', '10.0.0.0/8', '10.0.0.0/9', '192.0.2.128/25', '224.0.0.0/4'];
    const ch = rib.apply(ok(ann4(prefixes.map((prefix) => ({ prefix })))));
    expect(ch.announced.map((r) => r.prefix)).toEqual(prefixes);
    expect(rib.size).toBe(prefixes.length);
    expect(sorted(rib.routes())).toEqual([...prefixes].sort());
    expect(rib.get('255.255.255.255/32')).toEqual({ prefix: '255.255.255.255/32', afi: 1, nextHop: ['192.0.2.1'], attributes: attrs, stale: false });
    expect(rib.get('10.0.0.0/9')?.prefix).toBe('10.0.0.0/9');
    expect(rib.get('10.0.0.0/10')).toBeUndefined();
    expect(rib.apply(ok(wd4([{ prefix: '128.0.0.0/1' }, { prefix: '0.0.0.0/0' }]))).withdrawn.map((r) => r.prefix)).toEqual(['128.0.0.0/1', '0.0.0.0/0']);
    expect(rib.size).toBe(prefixes.length - 2);
  });

  it('keeps ADD-PATH routes apart from plain ones, and text that is not canonical under its own text', () => {
    const rib = new AdjRibIn();
    rib.apply(ok(ann4([{ prefix: '10.0.0.0/8' }, { prefix: '10.0.0.0/8', pathId: 1 }, { prefix: '10.0.0.0/8', pathId: 2 }, { prefix: '10.0.0.1/8' }])));
    expect(rib.size).toBe(4);
    expect(rib.get('10.0.0.0/8', 2)?.pathId).toBe(2);
    expect(rib.get('10.0.0.0/8')?.pathId).toBeUndefined();
    expect(rib.get('10.0.0.1/8')?.prefix).toBe('10.0.0.1/8');
    expect(sorted(rib.routes())).toEqual(['10.0.0.0/8', '10.0.0.0/8#1', '10.0.0.0/8#2', '10.0.0.1/8']);
    rib.apply(ok(wd4([{ prefix: '10.0.0.0/8', pathId: 1 }])));
    expect(sorted(rib.routes())).toEqual(['10.0.0.0/8', '10.0.0.0/8#2', '10.0.0.1/8']);
  });

  it('keeps 100,000 attribute sets apart (interned by a 32-bit hash: at this count a collision or two is likely) and shares each among its routes', () => {
    const rib = new AdjRibIn();
    const n = 100_000;
    for (let i = 0; i < n; i++) {
      const prefixes = [0, 1].map((k) => ({ prefix: `${10 + (i >> 15)}.${(i >> 7) & 255}.${((i & 127) << 1) | k}.0/24` }));
      rib.apply(ok(ann4(prefixes, { ...attrs, med: i })));
    }
    expect(rib.size).toBe(2 * n);
    expect(rib.attributeSets).toBe(n);
    for (let i = 0; i < n; i += 997) {
      const a = rib.get(`${10 + (i >> 15)}.${(i >> 7) & 255}.${(i & 127) << 1}.0/24`);
      const b = rib.get(`${10 + (i >> 15)}.${(i >> 7) & 255}.${((i & 127) << 1) | 1}.0/24`);
      expect(a?.attributes.med).toBe(i);
      expect(b?.attributes).toBe(a?.attributes);
    }
    const meds = new Set([...rib.routes()].map((r) => r.attributes.med));
    expect(meds.size).toBe(n);
  }, 60_000);

  it('matches a plain map of prefix -> route over random announce / withdraw / stale sequences (property)', () => {
    type Op =
      | { op: 'ann'; prefixes: string[]; set: number; nh: number }
      | { op: 'wd'; prefixes: string[] }
      | { op: 'stale'; afi?: 1 | 2 }
      | { op: 'sweep'; afi?: 1 | 2 };
    const anyPrefix = fc.oneof(prefix4, prefix4, prefix6, fc.constantFrom('10.0.0.0/8', '2001:db8::/32', '0.0.0.0/0'));
    const sets: PathAttributes[] = [attrs, { ...attrs, med: 5 }, { ...attrs, communities: [1, 2] }];
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ op: fc.constant('ann' as const), prefixes: fc.array(anyPrefix, { maxLength: 8 }), set: fc.integer({ min: 0, max: 2 }), nh: fc.integer({ min: 1, max: 2 }) }),
      fc.record({ op: fc.constant('wd' as const), prefixes: fc.array(anyPrefix, { maxLength: 8 }) }),
      fc.record({ op: fc.constant('stale' as const), afi: fc.option(fc.constantFrom(1 as const, 2 as const), { nil: undefined }) }),
      fc.record({ op: fc.constant('sweep' as const), afi: fc.option(fc.constantFrom(1 as const, 2 as const), { nil: undefined }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 25 }), (ops) => {
        const rib = new AdjRibIn();
        const model = new Map<string, { afi: 1 | 2; set: number; nh: string; stale: boolean }>();
        for (const o of ops) {
          if (o.op === 'ann') {
            const v4 = o.prefixes.filter((p) => !p.includes(':')).map((prefix) => ({ prefix }));
            const v6 = o.prefixes.filter((p) => p.includes(':')).map((prefix) => ({ prefix }));
            const a = sets[o.set] as PathAttributes;
            if (v4.length > 0) rib.apply(ok(ann4(v4, a, `192.0.2.${o.nh}`)));
            if (v6.length > 0) rib.apply(ok(ann6(v6, a)));
            for (const n of v4) model.set(n.prefix, { afi: 1, set: o.set, nh: `192.0.2.${o.nh}`, stale: false });
            for (const n of v6) model.set(n.prefix, { afi: 2, set: o.set, nh: '2001:db8::1', stale: false });
          } else if (o.op === 'wd') {
            rib.apply(ok(wd4(o.prefixes.filter((p) => !p.includes(':')).map((prefix) => ({ prefix })))));
            rib.apply(ok(wd6(o.prefixes.filter((p) => p.includes(':')).map((prefix) => ({ prefix })))));
            for (const p of o.prefixes) model.delete(p);
          } else if (o.op === 'stale') {
            const n = rib.markStale(o.afi);
            let m = 0;
            for (const r of model.values()) {
              if (o.afi !== undefined && r.afi !== o.afi) continue;
              r.stale = true;
              m++;
            }
            expect(n).toBe(m);
          } else {
            const gone = rib.sweepStale(o.afi).map((r) => r.prefix).sort();
            const want = [...model].filter(([, r]) => r.stale && (o.afi === undefined || r.afi === o.afi)).map(([p]) => p).sort();
            expect(gone).toEqual(want);
            for (const p of want) model.delete(p);
          }
          expect(rib.size).toBe(model.size);
        }
        for (const [p, m] of model) {
          const r = rib.get(p);
          expect(r).toMatchObject({ prefix: p, afi: m.afi, stale: m.stale, nextHop: [m.nh] });
          const want = sets[m.set] as PathAttributes;
          expect(r?.attributes).toEqual(want);
        }
        expect(sorted(rib.routes())).toEqual([...model.keys()].sort());
        // Path sets and attribute sets go with their last route.
        const distinct = new Set([...model.values()].map((m) => m.set)).size;
        expect(rib.attributeSets).toBe(distinct);
        rib.clear();
        expect(rib.attributeSets).toBe(0);
        expect(rib.size).toBe(0);
      }),
      { numRuns: 200 },
    );
  });
});
