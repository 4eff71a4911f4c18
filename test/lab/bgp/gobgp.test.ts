// lvskit's BGP speaker against a real GoBGP (gobgpd 3.x) in a lab: what GoBGP received is read back
// with `gobgp -j`. One gobgpd for the file, a neighbor per case, each case's lvskit speaker on its own
// address. Next hops are documentation addresses (attributes only, nothing is sent to them; GoBGP
// treats a 127/8 IPv4 next hop as a withdraw).
// Cases: eBGP with a 4-octet ASN: IPv4 and IPv6 VIPs with every attribute, withdraw; receiving a
// table GoBGP originates (IPv4 and IPv6, many attributes) route for route against GoBGP's Adj-RIB-Out;
// our route refresh request; passive; TCP MD5 right and wrong; our graceful restart (GoBGP marks the
// routes stale and drops what we do not re-announce at our End-of-RIB); gobgpd restarting; close().

import { describe, expect, it } from 'vitest';
import { waitFor } from '../harness/probes.js';
import type { BgpSpeakerOptions } from '../../../src/bgp/speaker.js';
import { Gobgp, byPrefix, plainGobgpPath, usePeerLab, waitRoutes } from './peers.js';
import type { LvskitSpeaker, PlainRoute } from './peers.js';

type Host = 'lvk' | 'gobgp';
const GOBGP_AS = 64501;
const GOBGP = '10.52.0.1';
const GOBGP6 = 'fd00:52::1';
const A = { ebgp: '10.52.0.11', passive: '10.52.0.12', md5: '10.52.0.13', md5bad: '10.52.0.14', gr: '10.52.0.15' } as const;

function neighbor(address: string, as: number, extra: { password?: string; gracefulRestart?: boolean; passive?: boolean } = {}): string {
  const fam = (name: string) =>
    `  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = "${name}"\n` +
    (extra.gracefulRestart === true ? '    [neighbors.afi-safis.mp-graceful-restart.config]\n      enabled = true\n' : '');
  return [
    '[[neighbors]]',
    '  [neighbors.config]',
    `    neighbor-address = "${address}"`,
    `    peer-as = ${as}`,
    ...(extra.password === undefined ? [] : [`    auth-password = "${extra.password}"`]),
    '  [neighbors.timers.config]',
    '    connect-retry = 1',
    '    idle-hold-time-after-reset = 1',
    '    hold-time = 30',
    ...(extra.passive === true ? ['  [neighbors.transport.config]', '    passive-mode = true'] : []),
    ...(extra.gracefulRestart === true ? ['  [neighbors.graceful-restart.config]', '    enabled = true', '    helper-only = true'] : []),
    fam('ipv4-unicast') + fam('ipv6-unicast'),
  ].join('\n');
}

function gobgpConfig(): string {
  return [
    '[global.config]',
    `  as = ${GOBGP_AS}`,
    `  router-id = "${GOBGP}"`,
    neighbor(A.ebgp, 4200000002),
    neighbor(A.passive, 64521),
    neighbor(A.md5, 64522, { password: 'gobgp lab secret' }),
    neighbor(A.md5bad, 64523, { password: 'gobgp lab secret' }),
    neighbor(A.gr, 64524, { gracefulRestart: true }),
  ].join('\n');
}

const fastRetry = { connectRetry: { initialMs: 500, maxMs: 2_000 }, idleHold: { initialMs: 500, maxMs: 2_000 } };

describe('BGP interop with GoBGP', () => {
  let gobgp: Gobgp<Host>;
  const env = usePeerLab<Host>({
    name: 'gobgp',
    hosts: {
      lvk: { ipv4: Object.values(A).map((a) => `${a}/24`), ipv6: ['fd00:52::11/64'] },
      gobgp: { ipv4: [`${GOBGP}/24`], ipv6: [`${GOBGP6}/64`] },
    },
    startPeer: async (lab, dir) => {
      gobgp = new Gobgp<Host>(lab, 'gobgp', dir, gobgpConfig());
      await gobgp.start();
      return gobgp;
    },
  });
  const { speaker } = env;
  let ebgp: LvskitSpeaker;
  /** What GoBGP holds from one of our sessions, both families. */
  async function received(from: string): Promise<PlainRoute[]> {
    const res: PlainRoute[] = [];
    for (const f of ['ipv4', 'ipv6'] as const) {
      const j = ((await gobgp.json(['global', 'rib', '-a', f])) ?? {}) as Record<string, { attrs: never[]; stale?: boolean; 'neighbor-ip'?: string }[]>;
      for (const [prefix, paths] of Object.entries(j)) {
        for (const p of paths) if (p['neighbor-ip'] === from) res.push(plain(prefix, p));
      }
    }
    return byPrefix(res);
  }
  const plain = (prefix: string, p: { attrs: never[]; stale?: boolean }): PlainRoute => plainGobgpPath(prefix, p);
  const waitReceived = (from: string, pred: (r: PlainRoute[]) => boolean, what: string, timeoutMs = 20_000): Promise<PlainRoute[]> =>
    waitRoutes(() => received(from), pred, `GoBGP from ${from}: ${what}`, { timeoutMs });

  it('eBGP with a 4-octet ASN: IPv4 and IPv6 VIPs with every attribute (documentation next hops), withdraw', async () => {
    ebgp = await speaker({
      localAs: 4200000002,
      routerId: A.ebgp,
      listen: false,
      peers: [{ address: GOBGP, remoteAs: GOBGP_AS, localAddress: A.ebgp, nextHop: { ipv4: '192.0.2.1', ipv6: '2001:db8::1' }, ...fastRetry }],
    });
    await ebgp.waitEstablished(GOBGP);
    await ebgp.announce('198.51.100.10/32', { med: 50, prepend: 2, communities: ['64501:100', 'no-advertise'], largeCommunities: ['4200000002:1:2', '64501:0:7'] });
    await ebgp.announce('198.51.100.128/25', { origin: 'egp', nextHop: '192.0.2.77' });
    await ebgp.announce('2001:db8:10::10/128', { origin: 'incomplete', med: 0, communities: ['65000:1'], largeCommunities: ['1:2:3'] });
    await ebgp.announce('2001:db8:20::/48', { asPath: [65030, 65031] });
    const got = await waitReceived(A.ebgp, (r) => r.length === 4, 'four routes');
    const base = { communities: [] as string[], largeCommunities: [] as string[], stale: false };
    expect(got).toEqual(
      byPrefix([
        { ...base, prefix: '198.51.100.10/32', nextHop: ['192.0.2.1'], origin: 'igp', asPath: '4200000002 4200000002 4200000002', med: 50, communities: ['64501:100', '65535:65282'], largeCommunities: ['4200000002:1:2', '64501:0:7'] },
        { ...base, prefix: '198.51.100.128/25', nextHop: ['192.0.2.77'], origin: 'egp', asPath: '4200000002' },
        { ...base, prefix: '2001:db8:10::10/128', nextHop: ['2001:db8::1'], origin: 'incomplete', asPath: '4200000002', med: 0, communities: ['65000:1'], largeCommunities: ['1:2:3'] },
        { ...base, prefix: '2001:db8:20::/48', nextHop: ['2001:db8::1'], origin: 'igp', asPath: '4200000002 65030 65031' },
      ]),
    );
    expect(await ebgp.withdraw('198.51.100.10/32')).toBe(true);
    expect(await ebgp.withdraw('2001:db8:20::/48')).toBe(true);
    const left = await waitReceived(A.ebgp, (r) => r.length === 2, 'two routes left');
    expect(left.map((r) => r.prefix)).toEqual(['198.51.100.128/25', '2001:db8:10::10/128']);
  });

  it("receives a table GoBGP originates (IPv4 and IPv6, many attributes): lvskit's Adj-RIB-In matches GoBGP's Adj-RIB-Out route for route", async () => {
    const cmds: string[] = [];
    for (let i = 0; i < 20; i++) {
      const a: string[] = ['origin', ['igp', 'egp', 'incomplete'][i % 3] as string];
      if (i % 2 === 0) a.push('med', String(i * 1000));
      if (i % 3 === 0) a.push('community', `64501:${i},65000:${i + 1}`);
      if (i % 4 === 0) a.push('large-community', `64501:${i}:1,4200000000:2:${i}`);
      if (i % 5 === 0) a.push('aspath', `65100,${65100 + i}`);
      cmds.push(`gobgp -p ${gobgp.api} global rib add -a ipv4 198.18.${i}.0/24 nexthop 192.0.2.${i + 1} ${a.join(' ')}`);
      if (i < 10) cmds.push(`gobgp -p ${gobgp.api} global rib add -a ipv6 2001:db8:f${i}::/48 nexthop 2001:db8::${i + 1} ${a.join(' ')}`);
    }
    await env.lab.exec('gobgp', ['sh', '-ec', cmds.join('\n')], { timeoutMs: 30_000, check: true });
    const out: PlainRoute[] = [];
    for (const f of ['ipv4', 'ipv6'] as const) {
      const j = ((await gobgp.json(['neighbor', A.ebgp, 'adj-out', '-a', f])) ?? {}) as Record<string, { attrs: never[] }[]>;
      for (const [prefix, paths] of Object.entries(j)) for (const p of paths) out.push(plain(prefix, p));
    }
    expect(out.length).toBe(30);
    const got = await waitFor(
      async () => {
        const r = byPrefix(await ebgp.routes(GOBGP));
        return r.length >= 30 ? r : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 200, what: "GoBGP's table in lvskit" },
    );
    expect(got.map(({ stale: _s, ...r }) => r)).toEqual(byPrefix(out).map(({ stale: _s, ...r }) => r));
    // Every attribute kind made it, so the comparison above compared something.
    expect(got.filter((r) => r.med !== undefined && r.communities.length > 0 && r.largeCommunities.length > 0).length).toBeGreaterThan(0);
    expect(got.some((r) => r.prefix.includes(':') && r.asPath.split(' ').length === 3)).toBe(true);
  });

  // The other direction (a router asking lvskit) runs against BIRD and FRR: GoBGP's `softresetin`
  // re-runs its policy over the Adj-RIB-In it keeps and sends no ROUTE-REFRESH.
  it('asks GoBGP for its routes again (RFC 2918 ROUTE-REFRESH) and gets the whole table', async () => {
    const counters = async (): Promise<{ rx: number; tx: number }> => {
      const n = await gobgp.neighbor(A.ebgp);
      return { rx: Number(n.state.messages?.received?.update ?? 0), tx: Number(n.state.messages?.sent?.update ?? 0) };
    };
    const before = await counters();
    await ebgp.refresh(GOBGP);
    await waitFor(async () => ((await counters()).tx >= before.tx + 30 ? true : undefined), { timeoutMs: 15_000, intervalMs: 200, what: 'GoBGP re-sending its table' });
    expect((await ebgp.routes(GOBGP)).length).toBe(30);
    expect((await counters()).rx).toBe(before.rx); // we only asked
  });

  it('passive: lvskit waits on its listener and gobgpd connects', async () => {
    const s = await speaker({
      localAs: 64521,
      routerId: A.passive,
      listen: { address: A.passive, port: 179 },
      peers: [{ address: GOBGP, remoteAs: GOBGP_AS, passive: true, nextHop: { ipv6: '2001:db8::12' } }],
    });
    await s.announce('198.51.100.30/32', { med: 3 });
    await s.announce('2001:db8:30::/64');
    const got = await waitReceived(A.passive, (r) => r.length === 2, 'two routes');
    expect(got.map((r) => [r.prefix, r.nextHop[0], r.med])).toEqual([
      ['198.51.100.30/32', A.passive, 3],
      ['2001:db8:30::/64', '2001:db8::12', undefined],
    ]);
    expect(s.events.filter((e) => e.kind === 'peer-state').map((e) => e.state)).not.toContain('Connect');
  });

  it('TCP MD5 (RFC 2385): the right password establishes, a wrong one never does', async () => {
    const [good, bad] = await Promise.all([
      speaker({ localAs: 64522, routerId: A.md5, listen: false, peers: [{ address: GOBGP, remoteAs: GOBGP_AS, localAddress: A.md5, password: 'gobgp lab secret', families: ['ipv4'], ...fastRetry }] }),
      speaker({ localAs: 64523, routerId: A.md5bad, listen: false, peers: [{ address: GOBGP, remoteAs: GOBGP_AS, localAddress: A.md5bad, password: 'gobgp lab secreT', families: ['ipv4'], ...fastRetry }] }),
    ]);
    await good.announce('198.51.100.40/32', { nextHop: '192.0.2.40' });
    await bad.announce('198.51.100.41/32', { nextHop: '192.0.2.41' });
    await waitReceived(A.md5, (r) => r.length === 1, 'the route over the signed session');
    expect(await gobgp.sessionState(A.md5)).toBe(6);
    await new Promise((r) => setTimeout(r, 5_000));
    expect(await gobgp.sessionState(A.md5bad)).not.toBe(6);
    expect(await received(A.md5bad)).toEqual([]);
    expect((await bad.peers())[0]?.state).not.toBe('Established');
  });

  it('graceful restart of lvskit (RFC 4724): GoBGP keeps our routes as stale while we are gone, End-of-RIB drops what we did not re-announce', async () => {
    const opts = (restarting: boolean): BgpSpeakerOptions => ({
      localAs: 64524,
      routerId: A.gr,
      listen: false,
      gracefulRestart: { restartTime: 60, restarting },
      peers: [{ address: GOBGP, remoteAs: GOBGP_AS, localAddress: A.gr, nextHop: { ipv4: '192.0.2.60', ipv6: '2001:db8::60' }, ...fastRetry }],
    });
    const first = await speaker(opts(false));
    await first.announce('198.51.100.60/32', { med: 1 });
    await first.announce('198.51.100.61/32');
    await first.announce('2001:db8:60::/48');
    await waitReceived(A.gr, (r) => r.length === 3, 'three routes');
    await first.close({ restart: true });
    const stale = await waitReceived(A.gr, (r) => r.length === 3 && r.every((x) => x.stale === true), 'three stale routes', 10_000);
    expect(stale.map((r) => r.prefix)).toEqual(['198.51.100.60/32', '198.51.100.61/32', '2001:db8:60::/48']);

    const second = await speaker(opts(true));
    await second.announce('198.51.100.60/32', { med: 2 });
    await second.announce('2001:db8:60::/48');
    const after = await waitReceived(A.gr, (r) => r.length === 2 && r.every((x) => x.stale === false), 'only the re-announced routes, fresh');
    expect(after.map((r) => [r.prefix, r.med])).toEqual([
      ['198.51.100.60/32', 2],
      ['2001:db8:60::/48', undefined],
    ]);
  });

  it('gobgpd restarting: the session comes back and lvskit announces its routes again', async () => {
    await gobgp.stop();
    await waitFor(async () => ((await ebgp.peers())[0]?.state !== 'Established' ? true : undefined), { timeoutMs: 10_000, intervalMs: 200, what: 'lvskit noticing gobgpd gone' });
    await gobgp.start();
    const back = await waitReceived(A.ebgp, (r) => r.length === 2, 'the routes again', 30_000);
    expect(back.map((r) => r.prefix)).toEqual(['198.51.100.128/25', '2001:db8:10::10/128']);
  });

  it('close() withdraws every route', async () => {
    await ebgp.close({ message: 'lab: closing' });
    await waitReceived(A.ebgp, (r) => r.length === 0, 'no routes', 10_000);
  });
});
