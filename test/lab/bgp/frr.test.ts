// lvskit's BGP speaker against a real FRR 8 (bgpd alone, no zebra) in a lab: what FRR received is
// read back with `vtysh -c '... json'`. One bgpd for the file (its own config, pid file and vty
// socket in a temp dir), a neighbor per case, each case's lvskit speaker on its own address.
// Cases: eBGP with a 4-octet ASN: IPv4 and IPv6 VIPs with every attribute (documentation next
// hops), withdraw; iBGP with LOCAL_PREF; receiving FRR's table (IPv4 and IPv6, attributes set by
// route-maps) route for route; route refresh both ways; TCP MD5 right and wrong; GTSM on both sides,
// and FRR requiring it from a speaker that does not send TTL 255; close().

import { describe, expect, it } from 'vitest';
import { waitFor } from '../harness/probes.js';
import { Frr, byPrefix, usePeerLab, waitRoutes } from './peers.js';
import type { LvskitSpeaker, PlainRoute } from './peers.js';

type Host = 'lvk' | 'frr';
const FRR_AS = 64502;
const FRR = '10.53.0.1';
const A = { ebgp: '10.53.0.11', ibgp: '10.53.0.12', md5: '10.53.0.13', md5bad: '10.53.0.14', gtsm: '10.53.0.15', gtsmbad: '10.53.0.16' } as const;
const AS = { ebgp: 4200000003, ibgp: FRR_AS, md5: 64533, md5bad: 64534, gtsm: 64535, gtsmbad: 64536 } as const;

/** FRR's own routes for the receive case: prefix -> route-map. */
const ORIGINATED: [string, string][] = [
  ['198.18.0.0/24', 'T1'],
  ['198.18.1.0/24', 'T2'],
  ['198.18.2.0/24', 'T3'],
  ['198.18.3.0/24', 'T4'],
  ['198.18.4.128/25', 'T1'],
  ['198.18.5.5/32', 'T3'],
  ['2001:db8:f0::/48', 'T1'],
  ['2001:db8:f1::/48', 'T2'],
  ['2001:db8:f2::/64', 'T3'],
  ['2001:db8:f3::1/128', 'T4'],
];

function frrConfig(): string {
  const n = (name: keyof typeof A, ...lines: string[]) => [
    ` neighbor ${A[name]} remote-as ${AS[name]}`,
    ` neighbor ${A[name]} timers connect 1`,
    ` neighbor ${A[name]} advertisement-interval 0`,
    ...lines.map((l) => ` neighbor ${A[name]} ${l}`),
  ];
  return [
    'frr defaults traditional',
    'hostname lab-frr',
    'log stdout informational',
    '!',
    'route-map T1 permit 10',
    ' set metric 10',
    ' set community 64502:1 64502:2',
    ' set large-community 64502:1:1',
    ' set origin egp',
    'route-map T2 permit 10',
    ' set as-path prepend 65200 65201',
    ' set origin incomplete',
    'route-map T3 permit 10',
    ' set metric 7',
    ' set large-community 4200000003:3:3 64502:0:9',
    ' set community 65000:65000',
    'route-map T4 permit 10',
    '!',
    `router bgp ${FRR_AS}`,
    ` bgp router-id ${FRR}`,
    ' no bgp ebgp-requires-policy',
    ' no bgp network import-check',
    ' timers bgp 10 30',
    ...n('ebgp'),
    ...n('ibgp'),
    ...n('md5', 'password frr-lab-secret'),
    ...n('md5bad', 'password frr-lab-secret'),
    ...n('gtsm', 'ttl-security hops 1'),
    ...n('gtsmbad', 'ttl-security hops 1'),
    ' address-family ipv4 unicast',
    ...ORIGINATED.filter(([p]) => !p.includes(':')).map(([p, rm]) => `  network ${p} route-map ${rm}`),
    ' exit-address-family',
    ' address-family ipv6 unicast',
    ...ORIGINATED.filter(([p]) => p.includes(':')).map(([p, rm]) => `  network ${p} route-map ${rm}`),
    `  neighbor ${A.ebgp} activate`,
    `  neighbor ${A.ibgp} activate`,
    ' exit-address-family',
    '!',
  ].join('\n');
}

const fastRetry = { connectRetry: { initialMs: 500, maxMs: 2_000 }, idleHold: { initialMs: 500, maxMs: 2_000 } };

describe('BGP interop with FRR', () => {
  let frr: Frr<Host>;
  const env = usePeerLab<Host>({
    name: 'frr',
    hosts: {
      lvk: { ipv4: Object.values(A).map((a) => `${a}/24`), ipv6: ['fd00:53::11/64'] },
      frr: { ipv4: [`${FRR}/24`], ipv6: ['fd00:53::1/64'] },
    },
    startPeer: async (lab, dir) => {
      frr = new Frr<Host>(lab, 'frr', dir, frrConfig());
      await frr.start();
      return frr;
    },
  });
  const { speaker } = env;
  let ebgp: LvskitSpeaker;
  async function received(from: string): Promise<PlainRoute[]> {
    return byPrefix([...(await frr.routes('ipv4', from)), ...(await frr.routes('ipv6', from))]);
  }
  const waitReceived = (from: string, pred: (r: PlainRoute[]) => boolean, what: string, timeoutMs = 20_000): Promise<PlainRoute[]> =>
    waitRoutes(() => received(from), pred, `FRR from ${from}: ${what}`, { timeoutMs, intervalMs: 250 });
  const stats = async (address: string): Promise<Record<string, number>> => {
    const j = (await frr.json(`show bgp neighbors ${address}`)) as Record<string, { messageStats?: Record<string, number> }>;
    return j[address]?.messageStats ?? {};
  };


  it('eBGP with a 4-octet ASN: IPv4 and IPv6 VIPs with every attribute (documentation next hops), withdraw', async () => {
    ebgp = await speaker({
      localAs: AS.ebgp,
      routerId: A.ebgp,
      listen: false,
      peers: [{ address: FRR, remoteAs: FRR_AS, localAddress: A.ebgp, nextHop: { ipv4: '192.0.2.1', ipv6: '2001:db8::1' }, ...fastRetry }],
    });
    await ebgp.waitEstablished(FRR);
    await ebgp.announce('198.51.100.10/32', { med: 50, prepend: 1, communities: ['64502:100', 'no-export'], largeCommunities: ['4200000003:1:2'] });
    await ebgp.announce('198.51.100.64/26', { origin: 'egp', asPath: [65040], nextHop: '192.0.2.64' });
    await ebgp.announce('2001:db8:10::10/128', { origin: 'incomplete', med: 60, communities: ['64502:600'], largeCommunities: ['4200000003:6:6', '1:1:1'] });
    await ebgp.announce('2001:db8:20::/48');
    const got = await waitReceived(A.ebgp, (r) => r.length === 4, 'four routes');
    const base = { communities: [] as string[], largeCommunities: [] as string[] };
    expect(got.map(({ localPref: _lp, ...r }) => r)).toEqual(
      byPrefix([
        { ...base, prefix: '198.51.100.10/32', nextHop: ['192.0.2.1'], origin: 'igp', asPath: '4200000003 4200000003', med: 50, communities: ['64502:100', '65535:65281'], largeCommunities: ['4200000003:1:2'] },
        { ...base, prefix: '198.51.100.64/26', nextHop: ['192.0.2.64'], origin: 'egp', asPath: '4200000003 65040' },
        { ...base, prefix: '2001:db8:10::10/128', nextHop: ['2001:db8::1'], origin: 'incomplete', asPath: '4200000003', med: 60, communities: ['64502:600'], largeCommunities: ['1:1:1', '4200000003:6:6'] },
        { ...base, prefix: '2001:db8:20::/48', nextHop: ['2001:db8::1'], origin: 'igp', asPath: '4200000003' },
      ]),
    );
    expect(await ebgp.withdraw('198.51.100.10/32')).toBe(true);
    expect(await ebgp.withdraw('2001:db8:20::/48')).toBe(true);
    const left = await waitReceived(A.ebgp, (r) => r.length === 2, 'two routes left');
    expect(left.map((r) => r.prefix)).toEqual(['198.51.100.64/26', '2001:db8:10::10/128']);
  });

  it('iBGP: LOCAL_PREF and no AS of ours in the path', async () => {
    const s = await speaker({
      localAs: FRR_AS,
      routerId: A.ibgp,
      listen: false,
      peers: [{ address: FRR, remoteAs: FRR_AS, localAddress: A.ibgp, nextHop: { ipv6: '2001:db8::12' }, ...fastRetry }],
    });
    await s.announce('198.51.100.20/32', { localPref: 300, nextHop: '192.0.2.20' });
    await s.announce('2001:db8:21::/48', { med: 4 });
    const got = await waitReceived(A.ibgp, (r) => r.length === 2, 'two routes');
    expect(got.map((r) => [r.prefix, r.asPath, r.localPref, r.nextHop[0]])).toEqual([
      ['198.51.100.20/32', '', 300, '192.0.2.20'],
      ['2001:db8:21::/48', '', 100, '2001:db8::12'],
    ]);
  });

  it("receives FRR's IPv4 and IPv6 table: lvskit's Adj-RIB-In matches FRR's originated routes route for route", async () => {
    // FRR's view of what it originates (attributes from the route-maps), plus what eBGP export
    // adds: its AS in front, itself as next hop.
    // FRR sends MED 0 for a route whose route-map sets none (a `network` route's metric).
    const local = byPrefix([...(await frr.routes('ipv4')), ...(await frr.routes('ipv6'))].filter((r) => ORIGINATED.some(([p]) => p === r.prefix)));
    expect(local.map((r) => r.prefix)).toEqual(byPrefix(ORIGINATED.map(([p]) => ({ prefix: p }))).map((r) => r.prefix));
    // And what FRR says it advertised to us is that whole table.
    for (const f of ['ipv4', 'ipv6']) {
      const adv = (await frr.json(`show bgp ${f} unicast neighbors ${A.ebgp} advertised-routes`)) as { advertisedRoutes?: Record<string, unknown> };
      const mine = ORIGINATED.filter(([p]) => p.includes(':') === (f === 'ipv6')).map(([p]) => p);
      expect(Object.keys(adv.advertisedRoutes ?? {}).filter((p) => mine.includes(p)).length).toBe(mine.length);
    }
    const expected = local.map(({ localPref: _lp, ...r }) => ({
      ...r,
      asPath: [String(FRR_AS), r.asPath].filter((x) => x !== '').join(' '),
      // bgpd without zebra knows no interface addresses: its IPv6 next hop over an IPv4 session
      // is its IPv4 address, mapped (::ffff:a.b.c.d).
      nextHop: [r.prefix.includes(':') ? `::ffff:${FRR}` : FRR],
      med: r.med ?? 0,
      stale: false,
    }));
    const got = await waitFor(
      async () => {
        // FRR also passes on what the iBGP case's speaker announced: only FRR's own routes here.
        const r = byPrefix(await ebgp.routes(FRR)).filter((x) => ORIGINATED.some(([p]) => p === x.prefix));
        return r.length >= ORIGINATED.length ? r : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 250, what: "FRR's table in lvskit" },
    );
    // FRR sends its link-local address as the second IPv6 next hop (RFC 2545): compare the global one.
    expect(got.map((r) => ({ ...r, nextHop: r.nextHop.slice(0, 1) }))).toEqual(expected);
    expect(got.some((r) => r.med === 10 && r.communities.length === 2 && r.largeCommunities.length === 1 && r.origin === 'egp')).toBe(true);
  });

  // FRR taking our request is checked on its counters; that a router re-sends on our request is
  // shown against BIRD and GoBGP (FRR 8.4's update counters did not move for it here).
  it('route refresh (RFC 2918, RFC 7313): FRR takes our request, and lvskit re-sends its routes on FRR’s', async () => {
    const before = await stats(A.ebgp);
    const table = (await ebgp.routes(FRR)).length;
    await ebgp.refresh(FRR);
    await waitFor(async () => ((await stats(A.ebgp)).routeRefreshRecv ?? 0) > (before.routeRefreshRecv ?? 0), { timeoutMs: 15_000, intervalMs: 250, what: 'FRR receiving our ROUTE-REFRESH' });
    expect(await frr.state(A.ebgp)).toBe('Established');
    expect((await ebgp.routes(FRR)).length).toBe(table);
    const mid = await stats(A.ebgp);
    await frr.vtysh(`clear bgp ipv4 unicast ${A.ebgp} soft in`);
    await waitFor(async () => ((await stats(A.ebgp)).updatesRecv ?? 0) > (mid.updatesRecv ?? 0), { timeoutMs: 15_000, intervalMs: 250, what: 'lvskit re-sending its routes' });
    expect((await stats(A.ebgp)).routeRefreshSent ?? 0).toBeGreaterThan(mid.routeRefreshSent ?? 0);
    expect((await received(A.ebgp)).map((r) => r.prefix)).toEqual(['198.51.100.64/26', '2001:db8:10::10/128']);
  });

  it('TCP MD5 (RFC 2385): the right password establishes, a wrong one never does', async () => {
    const [good, bad] = await Promise.all([
      speaker({ localAs: AS.md5, routerId: A.md5, listen: false, peers: [{ address: FRR, remoteAs: FRR_AS, localAddress: A.md5, password: 'frr-lab-secret', families: ['ipv4'], ...fastRetry }] }),
      speaker({ localAs: AS.md5bad, routerId: A.md5bad, listen: false, peers: [{ address: FRR, remoteAs: FRR_AS, localAddress: A.md5bad, password: 'frr-lab-secreT', families: ['ipv4'], ...fastRetry }] }),
    ]);
    await good.announce('198.51.100.40/32');
    await bad.announce('198.51.100.41/32');
    await waitReceived(A.md5, (r) => r.length === 1, 'the route over the signed session');
    expect(await frr.state(A.md5)).toBe('Established');
    await new Promise((r) => setTimeout(r, 5_000));
    expect(await frr.state(A.md5bad)).not.toBe('Established');
    expect((await bad.peers())[0]?.state).not.toBe('Established');
  });

  it('GTSM (RFC 5082): with ttlSecurity the session comes up; FRR requiring TTL 255 from a speaker without it never does', async () => {
    const [good, bad] = await Promise.all([
      speaker({ localAs: AS.gtsm, routerId: A.gtsm, listen: false, peers: [{ address: FRR, remoteAs: FRR_AS, localAddress: A.gtsm, ttlSecurity: true, families: ['ipv4'], ...fastRetry }] }),
      speaker({ localAs: AS.gtsmbad, routerId: A.gtsmbad, listen: false, peers: [{ address: FRR, remoteAs: FRR_AS, localAddress: A.gtsmbad, families: ['ipv4'], ...fastRetry }] }),
    ]);
    await good.announce('198.51.100.50/32');
    await bad.announce('198.51.100.51/32');
    await waitReceived(A.gtsm, (r) => r.length === 1, 'the route');
    await new Promise((r) => setTimeout(r, 4_000));
    expect(await frr.state(A.gtsmbad)).not.toBe('Established');
    expect(await received(A.gtsmbad)).toEqual([]);
  });

  it('close() withdraws every route', async () => {
    await ebgp.close({ message: 'lab: closing' });
    await waitReceived(A.ebgp, (r) => r.length === 0, 'no routes', 10_000);
    const j = (await frr.json(`show bgp neighbors ${A.ebgp}`)) as Record<string, { lastNotificationReason?: string; lastShutdownDescription?: string }>;
    expect(JSON.stringify(j[A.ebgp])).toMatch(/lab: closing|Administrative Shutdown|Cease/i);
  });
});
