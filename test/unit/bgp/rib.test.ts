import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { toHex } from '../../../src/util/bytes.js';
import { decodeUpdate, encodeUpdate, updateLength } from '../../../src/bgp/codec-update.js';
import type { UpdateCodecOptions, UpdateMessage } from '../../../src/bgp/codec-update.js';
import type { PathAttributes } from '../../../src/bgp/codec-attributes.js';
import { attributesKey, planUpdates } from '../../../src/bgp/plan-updates.js';
import { encodeAttributes } from '../../../src/bgp/codec-attributes.js';
import type { OutRoute } from '../../../src/bgp/plan-updates.js';
import { AdjRibIn, AdjRibOut, familiesOf, maxPrefixesNotification, routeKey } from '../../../src/bgp/rib.js';
import { canonicalPrefix } from '../../../src/bgp/codec-address.js';
import { pathAttributes, prefix4, prefix6 } from './arbitraries.js';

const attrsA: PathAttributes = { origin: 'igp', asPath: [{ type: 'sequence', asns: [65001] }], med: 10, communities: [0xfde90064] };
const attrsB: PathAttributes = { origin: 'igp', asPath: [{ type: 'sequence', asns: [65001, 65001, 65001] }], med: 200 };

function v4(i: number, attributes: PathAttributes = attrsA): OutRoute {
  return { prefix: `10.${(i >> 8) & 255}.${i & 255}.0/24`, attributes, nextHop: ['192.0.2.1'] };
}
function v6(i: number, attributes: PathAttributes = attrsA): OutRoute {
  return { prefix: canonicalPrefix(`2001:db8:${i.toString(16)}::/48`), attributes, nextHop: ['2001:db8::1', 'fe80::1'] };
}

/** Decode planned UPDATEs back into (prefix -> signature) and withdrawn prefixes. */
function replay(msgs: UpdateMessage[], opts: UpdateCodecOptions = {}): { routes: Map<string, string>; withdrawn: string[]; sizes: number[] } {
  const rib = new AdjRibIn();
  const withdrawn: string[] = [];
  const sizes: number[] = [];
  for (const m of msgs) {
    const bytes = encodeUpdate(m, opts);
    expect(bytes.length).toBe(updateLength(m, opts));
    sizes.push(bytes.length);
    const v = decodeUpdate(bytes, 0, opts);
    expect(v.kind).toBe('update');
    const ch = rib.apply(v);
    if (v.kind === 'update') {
      withdrawn.push(...v.update.withdrawn.map((n) => n.prefix), ...(v.update.attributes.mpUnreach?.withdrawn.map((n) => n.prefix) ?? []));
    }
    expect(ch.withdrawn).toEqual([]);
  }
  const routes = new Map<string, string>();
  for (const r of rib.routes()) routes.set(routeKey(r.prefix, r.pathId), `${r.nextHop.join(',')}|${JSON.stringify(r.attributes)}`);
  return { routes, withdrawn, sizes };
}

describe('planUpdates', () => {
  it('packs one attribute set into as few UPDATEs as fit in 4096 bytes', () => {
    const routes = Array.from({ length: 2000 }, (_, i) => v4(i));
    const msgs = planUpdates(routes, []);
    const { routes: got, sizes } = replay(msgs);
    expect(got.size).toBe(2000);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(4096);
    // 4 bytes per /24; the header and attributes take 19 + 4 + 35 bytes: 1009 prefixes per message.
    const perMsg = Math.floor((4096 - updateLength({ withdrawn: [], attributes: { ...attrsA, nextHop: '192.0.2.1' }, nlri: [] })) / 4);
    expect(msgs).toHaveLength(Math.ceil(2000 / perMsg));
    expect(sizes.slice(0, -1).every((s) => s > 4096 - 4)).toBe(true); // full but for the last
  });

  it('groups routes by attribute set and next hop, in first-seen order', () => {
    const routes = [v4(1), v4(2, attrsB), v4(3), v6(1), v6(2, attrsB), { ...v4(4), nextHop: ['192.0.2.2'] }];
    const msgs = planUpdates(routes, []);
    expect(msgs.map((m) => [m.nlri.map((n) => n.prefix), m.attributes.mpReach?.nlri.map((n) => n.prefix) ?? []])).toEqual([
      [['10.0.1.0/24', '10.0.3.0/24'], []],
      [['10.0.2.0/24'], []],
      [[], ['2001:db8:1::/48']],
      [[], ['2001:db8:2::/48']],
      [['10.0.4.0/24'], []],
    ]);
    expect(msgs[2]?.attributes.mpReach?.nextHop).toEqual(['2001:db8::1', 'fe80::1']);
  });

  it('treats equal attribute sets in different objects as one set', () => {
    const msgs = planUpdates([v4(1, { ...attrsA }), v4(2, { ...attrsA })], []);
    expect(msgs).toHaveLength(1);
  });

  it('puts withdrawals first, IPv4 in Withdrawn Routes and IPv6 in MP_UNREACH_NLRI, chunked', () => {
    const w = [...Array.from({ length: 1500 }, (_, i) => ({ prefix: v4(i).prefix })), ...Array.from({ length: 600 }, (_, i) => ({ prefix: v6(i).prefix }))];
    const msgs = planUpdates([v4(9000)], w);
    const { withdrawn, sizes } = replay(msgs);
    expect(new Set(withdrawn)).toEqual(new Set(w.map((n) => n.prefix)));
    expect(Math.max(...sizes)).toBeLessThanOrEqual(4096);
    expect(msgs.at(-1)?.nlri).toEqual([{ prefix: '10.35.40.0/24' }]);
    expect(msgs.slice(0, -1).every((m) => m.nlri.length === 0 && m.attributes.mpReach === undefined)).toBe(true);
  });

  it('uses larger messages with extended messages (RFC 8654) and carries path identifiers with ADD-PATH', () => {
    const routes = Array.from({ length: 20000 }, (_, i) => ({ ...v4(i), pathId: i % 3 }));
    const opts = { extendedMessage: true, addPath: { ipv4: true } };
    const msgs = planUpdates(routes, [], opts);
    const { routes: got, sizes } = replay(msgs, opts);
    expect(got.size).toBe(20000);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(65535);
    // 9 bytes per route (path identifier, length, 3 octets): 180,000 bytes in 65,535-byte messages.
    expect(msgs).toHaveLength(3);
  });

  it('refuses attributes that leave no room for a single prefix', () => {
    const huge: PathAttributes = { communities: Array.from({ length: 1020 }, (_, i) => i) };
    expect(() => planUpdates([v4(1, huge)], [])).toThrow(RangeError);
  });

  it('delivers exactly the routes and withdrawals it was given, within the size limit (property)', () => {
    const attrSet = fc.constantFrom(attrsA, attrsB, { origin: 'egp' as const, asPath: [], largeCommunities: [{ globalAdmin: 1, localData1: 2, localData2: 3 }] });
    const route: fc.Arbitrary<OutRoute> = fc.oneof(
      fc.record({ prefix: prefix4, attributes: attrSet, nextHop: fc.constantFrom(['192.0.2.1'], ['198.51.100.1']).map((l) => [...l]) }),
      fc.record({ prefix: prefix6, attributes: attrSet, nextHop: fc.constantFrom(['2001:db8::1'], ['2001:db8::1', 'fe80::1']).map((l) => [...l]) }),
    );
    fc.assert(
      fc.property(fc.uniqueArray(route, { selector: (r) => r.prefix, maxLength: 400 }), fc.uniqueArray(fc.oneof(prefix4, prefix6), { maxLength: 300 }), (routes, wd) => {
        const w = wd.filter((p) => !routes.some((r) => r.prefix === p)).map((prefix) => ({ prefix }));
        const msgs = planUpdates(routes, w);
        const { routes: got, withdrawn, sizes } = replay(msgs);
        expect([...got.keys()].sort()).toEqual(routes.map((r) => r.prefix).sort());
        expect(withdrawn.sort()).toEqual(w.map((n) => n.prefix).sort());
        for (const s of sizes) expect(s).toBeLessThanOrEqual(4096);
        // Few messages: one per attribute group and family, more only when a group fills a message.
        const groups = new Set(routes.map((r) => `${r.prefix.includes(':')}|${r.nextHop.join()}|${JSON.stringify(r.attributes)}`)).size;
        expect(msgs.length).toBeLessThanOrEqual(groups + (w.length > 0 ? 2 : 0) + Math.ceil(routes.length / 150));
      }),
      { numRuns: 100 },
    );
  });
});

describe('attributesKey', () => {
  it('gives equal keys exactly to attribute sets with equal encodings (property)', () => {
    const noMp = pathAttributes().map(({ mpReach: _r, mpUnreach: _u, ...rest }) => rest);
    fc.assert(
      fc.property(noMp, noMp, fc.boolean(), (a, b, same) => {
        const x = a;
        const y = same ? structuredClone(a) : b;
        const keyEq = attributesKey(x) === attributesKey(y);
        const encEq = toHex(encodeAttributes(x)) === toHex(encodeAttributes(y));
        expect(keyEq).toBe(encEq);
      }),
      { numRuns: 500 },
    );
  });
});

describe('AdjRibOut', () => {
  it('sends what changed since the last flush, and nothing twice', () => {
    const out = new AdjRibOut();
    out.set(v4(1));
    out.set(v4(2));
    expect(out.pending).toBe(2);
    let msgs = out.flush();
    expect(msgs.flatMap((m) => m.nlri.map((n) => n.prefix))).toEqual(['10.0.1.0/24', '10.0.2.0/24']);
    expect(out.flush()).toEqual([]);

    out.set(v4(1, { ...attrsA })); // same attributes, new object: nothing to send
    expect(out.flush()).toEqual([]);

    out.set(v4(1, attrsB)); // changed: an implicit withdraw by replacement (RFC 4271 §3.1)
    msgs = out.flush();
    expect(msgs).toHaveLength(1);
    expect(msgs[0]?.attributes.med).toBe(200);

    expect(out.withdraw('10.0.2.0/24')).toBe(true);
    expect(out.withdraw('10.9.9.0/24')).toBe(false);
    msgs = out.flush();
    expect(msgs).toEqual([{ withdrawn: [{ prefix: '10.0.2.0/24' }], attributes: {}, nlri: [] }]);
    expect(out.size).toBe(1);
  });

  it('sends nothing for a route added and removed between flushes', () => {
    const out = new AdjRibOut();
    out.set(v4(5));
    out.withdraw(v4(5).prefix);
    expect(out.flush()).toEqual([]);
  });

  it('sends the whole table again after resend() (new session, route refresh)', () => {
    const out = new AdjRibOut();
    for (let i = 0; i < 50; i++) out.set(i % 2 ? v4(i) : v6(i));
    out.flush();
    out.resend();
    const { routes } = replay(out.flush());
    expect(routes.size).toBe(50);
    expect(familiesOf(out.routes())).toEqual([{ afi: 1, safi: 1 }, { afi: 2, safi: 1 }]);
  });

  it('keys routes by path identifier too (RFC 7911)', () => {
    const out = new AdjRibOut();
    out.set({ ...v4(1), pathId: 1 });
    out.set({ ...v4(1), pathId: 2 });
    expect(out.size).toBe(2);
    out.withdraw(v4(1).prefix, 1);
    expect(out.flush({ addPath: { ipv4: true } }).flatMap((m) => m.nlri)).toEqual([{ prefix: '10.0.1.0/24', pathId: 2 }]);
  });
});

describe('AdjRibIn', () => {
  const ok = (update: UpdateMessage) => ({ kind: 'update' as const, update, discarded: [] });
  const ann = (prefixes: string[], attrs: PathAttributes = attrsA): UpdateMessage => ({
    withdrawn: [],
    attributes: { ...attrs, nextHop: '192.0.2.1' },
    nlri: prefixes.map((prefix) => ({ prefix })),
  });

  it('adds, replaces and withdraws routes of both families and reports each change', () => {
    const rib = new AdjRibIn();
    let ch = rib.apply(ok(ann(['10.0.0.0/8', '192.0.2.0/24'])));
    expect(ch.announced.map((r) => r.prefix)).toEqual(['10.0.0.0/8', '192.0.2.0/24']);
    expect(rib.get('10.0.0.0/8')).toEqual({ prefix: '10.0.0.0/8', afi: 1, nextHop: ['192.0.2.1'], attributes: attrsA, stale: false });

    ch = rib.apply(
      ok({
        withdrawn: [{ prefix: '192.0.2.0/24' }, { prefix: '203.0.113.0/24' }],
        attributes: { ...attrsB, mpReach: { afi: 2, safi: 1, nextHop: ['2001:db8::1'], nlri: [{ prefix: '2001:db8::/32' }] } },
        nlri: [],
      }),
    );
    expect(ch.withdrawn.map((r) => r.prefix)).toEqual(['192.0.2.0/24']); // the unknown one is not reported
    expect(rib.get('2001:db8::/32')).toMatchObject({ afi: 2, nextHop: ['2001:db8::1'], attributes: attrsB });
    expect([...rib.routes(2)].map((r) => r.prefix)).toEqual(['2001:db8::/32']);

    ch = rib.apply(ok({ withdrawn: [], attributes: { mpUnreach: { afi: 2, safi: 1, withdrawn: [{ prefix: '2001:db8::/32' }] } }, nlri: [] }));
    expect(ch.withdrawn.map((r) => r.prefix)).toEqual(['2001:db8::/32']);
    expect(rib.size).toBe(1);
  });

  it('shares one attribute object among routes from different UPDATEs with equal attributes, and frees it with the last route', () => {
    const rib = new AdjRibIn({ localAs: 65000 });
    rib.apply(ok(ann(['10.0.0.0/8'], { ...attrsA })));
    rib.apply(ok(ann(['10.1.0.0/16'], { ...attrsA })));
    rib.apply(ok(ann(['10.2.0.0/16'], attrsB)));
    expect(rib.get('10.0.0.0/8')?.attributes).toBe(rib.get('10.1.0.0/16')?.attributes);
    expect(rib.attributeSets).toBe(2);
    rib.apply(ok(ann(['10.9.0.0/16'], { origin: 'igp', asPath: [{ type: 'sequence', asns: [65000] }] }))); // a loop: not kept
    expect(rib.attributeSets).toBe(2);
    rib.apply(ok(ann(['10.0.0.0/8'], attrsB))); // replaced
    rib.apply(ok({ withdrawn: [{ prefix: '10.1.0.0/16' }], attributes: {}, nlri: [] }));
    expect(rib.attributeSets).toBe(1);
    rib.markStale();
    rib.sweepStale();
    expect(rib.attributeSets).toBe(0);
  });

  it('ignores announcements of families not negotiated, and counts them (RFC 4760 §7)', () => {
    const rib = new AdjRibIn();
    rib.acceptFamilies([1]);
    const ch = rib.apply(ok({ withdrawn: [], attributes: { ...attrsA, nextHop: '192.0.2.1', mpReach: { afi: 2, safi: 1, nextHop: ['2001:db8::1'], nlri: [{ prefix: '2001:db8::/32' }] } }, nlri: [{ prefix: '10.0.0.0/8' }] }));
    expect(ch.ignored).toBe(1);
    expect([...rib.routes()].map((r) => r.prefix)).toEqual(['10.0.0.0/8']);
    rib.acceptFamilies(undefined);
    expect(rib.apply(ok({ withdrawn: [], attributes: { ...attrsA, mpReach: { afi: 2, safi: 1, nextHop: ['2001:db8::1'], nlri: [{ prefix: '2001:db8::/32' }] } }, nlri: [] })).ignored).toBe(0);
    expect(rib.size).toBe(2);
  });

  it('withdraws every prefix of a treat-as-withdraw verdict (RFC 7606 §2)', () => {
    const rib = new AdjRibIn();
    rib.apply(ok(ann(['10.0.0.0/8', '10.1.0.0/16'])));
    const ch = rib.apply({ kind: 'treat-as-withdraw', withdrawn: [{ prefix: '10.1.0.0/16' }], errors: [] });
    expect(ch.withdrawn.map((r) => r.prefix)).toEqual(['10.1.0.0/16']);
    expect(rib.size).toBe(1);
  });

  it('recognizes End-of-RIB', () => {
    const rib = new AdjRibIn();
    expect(rib.apply(ok({ withdrawn: [], attributes: {}, nlri: [] })).endOfRib).toEqual({ afi: 1, safi: 1 });
    expect(rib.apply(ok({ withdrawn: [], attributes: { mpUnreach: { afi: 2, safi: 1, withdrawn: [] } }, nlri: [] })).endOfRib).toEqual({ afi: 2, safi: 1 });
  });

  it('flags the UPDATE that passes the prefix limit, with the RFC 4486 NOTIFICATION data', () => {
    const rib = new AdjRibIn({ maxPrefixes: 3 });
    expect(rib.apply(ok(ann(['10.0.0.0/8', '10.1.0.0/16', '10.2.0.0/16']))).maxPrefixesExceeded).toBe(false);
    expect(rib.apply(ok(ann(['10.2.0.0/16']))).maxPrefixesExceeded).toBe(false); // a replacement, still 3
    expect(rib.apply(ok(ann(['10.3.0.0/16']))).maxPrefixesExceeded).toBe(true);
    expect(toHex(maxPrefixesNotification(1, 1, 3).data)).toBe('0001' + '01' + '00000003');
  });

  it('does not accept routes with our own AS in the path, and a looped replacement withdraws (RFC 4271 §9.1.2)', () => {
    const rib = new AdjRibIn({ localAs: 65000 });
    rib.apply(ok(ann(['10.0.0.0/8'])));
    const looped: PathAttributes = { origin: 'igp', asPath: [{ type: 'sequence', asns: [65001] }, { type: 'set', asns: [65000, 7] }] };
    const ch = rib.apply(ok(ann(['10.0.0.0/8', '10.9.0.0/16'], looped)));
    expect(ch.announced).toEqual([]);
    expect(ch.withdrawn.map((r) => r.prefix)).toEqual(['10.0.0.0/8']);
    expect(rib.size).toBe(0);
  });

  it('keeps routes stale over a graceful restart and sweeps those not refreshed (RFC 4724 §4.2)', () => {
    const rib = new AdjRibIn();
    rib.apply(ok(ann(['10.0.0.0/8', '10.1.0.0/16', '10.2.0.0/16'])));
    rib.apply(ok({ withdrawn: [], attributes: { ...attrsA, mpReach: { afi: 2, safi: 1, nextHop: ['2001:db8::1'], nlri: [{ prefix: '2001:db8::/32' }] } }, nlri: [] }));
    expect(rib.markStale()).toBe(4);
    expect(rib.get('10.0.0.0/8')?.stale).toBe(true);
    rib.apply(ok(ann(['10.1.0.0/16']))); // refreshed by the restarted peer
    expect(rib.get('10.1.0.0/16')?.stale).toBe(false);
    expect(rib.sweepStale(1).map((r) => r.prefix).sort()).toEqual(['10.0.0.0/8', '10.2.0.0/16']);
    expect(rib.get('2001:db8::/32')?.stale).toBe(true); // other family untouched until its End-of-RIB
    expect(rib.sweepStale().map((r) => r.prefix)).toEqual(['2001:db8::/32']);
    expect(rib.clear().map((r) => r.prefix)).toEqual(['10.1.0.0/16']);
    expect(rib.size).toBe(0);
  });
});
