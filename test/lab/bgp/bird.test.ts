// lvskit's BGP speaker against a real BIRD 2 in a lab: what BIRD received is read back with birdc.
//
// One lab (host `lvk` runs lvskit speakers, host `bird` runs one BIRD), one BIRD config with a
// protocol per case, each case's speaker on its own address of `lvk` so BIRD tells them apart.
// Cases: the docs/bgp.md example run as written; eBGP with a 4-octet ASN: IPv4 and IPv6 VIPs with
// every attribute, a backup session with export overrides, withdraw; receiving BIRD's table route
// for route; route refresh both ways; iBGP with LOCAL_PREF; passive; TCP MD5 (right and wrong
// password); GTSM (on both sides, and BIRD requiring it from a speaker that does not send TTL 255);
// our graceful restart (BIRD keeps the routes until our End-of-RIB); BIRD restarting (the session
// comes back, routes are announced again); close() withdrawing everything.

import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { TS_REGISTER, waitFor } from '../harness/probes.js';
import { Bird, byPrefix, parseBirdRoutes, usePeerLab, waitRoutes as waitUntilRoutes } from './peers.js';
import type { LvskitSpeaker, PlainRoute } from './peers.js';

type Host = 'lvk' | 'bird';
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIRD_AS = 64500;

// lvskit's addresses, one per case (BIRD tells sessions apart by neighbor address).
const A = {
  docs: '192.0.2.10',
  ebgp: '192.0.2.11',
  ibgp: '192.0.2.12',
  passive: '192.0.2.13',
  md5: '192.0.2.14',
  md5bad: '192.0.2.15',
  gtsm: '192.0.2.16',
  gtsmbad: '192.0.2.17',
  gr: '192.0.2.18',
  backup: '192.0.2.19',
  multihop: '192.0.2.20',
} as const;
const BIRD1 = '192.0.2.1';
const BIRD2 = '192.0.2.2';
const LVK6 = '2001:db8:1::11';
const BIRD6 = '2001:db8:1::1';

/** BIRD's table for the receive case: IPv4 and IPv6 routes with many attribute combinations. */
function staticRoutes(): { v4: string[]; v6: string[] } {
  const v4: string[] = [];
  const v6: string[] = [];
  for (let i = 0; i < 24; i++) {
    const a: string[] = [];
    if (i % 2 === 0) a.push(`bgp_med = ${i * 10};`);
    if (i % 3 === 0) a.push(`bgp_community.add((64500,${i}));`, 'bgp_community.add((65535,65281));');
    if (i % 4 === 0) a.push(`bgp_large_community.add((4200000001,${i},7));`);
    if (i % 5 === 0) a.push('bgp_origin = ORIGIN_INCOMPLETE;');
    if (i % 7 === 0) a.push(`bgp_path.prepend(6550${i % 10});`);
    const attrs = a.length === 0 ? '' : ` { ${a.join(' ')} }`;
    v4.push(`route 198.18.${i}.0/24 blackhole${attrs};`);
    if (i < 12) v6.push(`route 2001:db8:f${i.toString(16)}::/48 blackhole${attrs};`);
  }
  v4.push('route 198.19.0.0/16 blackhole;', 'route 198.19.1.128/25 blackhole { bgp_med = 4294967295; };');
  return { v4, v6 };
}

function birdConfig(): string {
  const s = staticRoutes();
  const proto = (name: string, neighbor: string, as: number, extra = '', channels = 'ipv4 { import all; export none; };') =>
    `protocol bgp lvk_${name} from lab {\n  neighbor ${neighbor} as ${as};\n  ${extra}\n  ${channels}\n}\n`;
  return [
    `router id ${BIRD1};`,
    'log stderr all;',
    'protocol device {}',
    'ipv4 table master4;',
    'ipv6 table master6;',
    `protocol static s4 { ipv4; ${s.v4.join(' ')} }`,
    `protocol static s6 { ipv6; ${s.v6.join(' ')} }`,
    // Short timers: the cases wait for reconnects.
    `template bgp lab {\n  local ${BIRD1} as ${BIRD_AS};\n  hold time 30;\n  connect delay time 1;\n  connect retry time 2;\n  error wait time 1, 4;\n}`,
    proto('docs', A.docs, 64512, '', 'ipv4 { import all; export none; };'),
    proto('ebgp', A.ebgp, 4200000001, '', `ipv4 { import all; export where proto = "s4"; };\n  ipv6 { import all; export where proto = "s6"; next hop address ${BIRD6}; };`),
    proto('backup', A.backup, 4200000001, `local ${BIRD2} as ${BIRD_AS};`, 'ipv4 { import all; export none; };\n  ipv6 { import all; export none; };'),
    proto('ibgp', A.ibgp, BIRD_AS, 'direct;'),
    proto('passive', A.passive, 64513),
    proto('md5', A.md5, 64514, 'password "lab secret 1";'),
    proto('md5bad', A.md5bad, 64515, 'password "lab secret 2";'),
    proto('gtsm', A.gtsm, 64516, 'ttl security on;'),
    proto('gtsmbad', A.gtsmbad, 64517, 'ttl security on;'),
    // GTSM for a peer two hops away: BIRD accepts TTL 254 and up (RFC 5082 §3).
    proto('multihop', A.multihop, 64519, 'multihop 2;\n  ttl security on;'),
    proto('gr', A.gr, 64518, '', 'ipv4 { import all; export none; };\n  ipv6 { import all; export none; };'),
  ].join('\n');
}

/** The ```ts block of docs/bgp.md, with the package import pointed at the sources. */
function docsExample(): string {
  const md = readFileSync(path.join(ROOT, 'docs', 'bgp.md'), 'utf8');
  const m = /```ts\n([\s\S]*?)```/.exec(md);
  if (m === null) throw new Error('docs/bgp.md has no ```ts block');
  const code = m[1] as string;
  if (!code.includes("from 'lvskit/bgp'")) throw new Error("docs/bgp.md's example does not import from 'lvskit/bgp'");
  return code.replace("from 'lvskit/bgp'", `from '${path.join(ROOT, 'src', 'bgp', 'index.ts')}'`);
}

const fastRetry = { connectRetry: { initialMs: 500, maxMs: 2_000 }, idleHold: { initialMs: 500, maxMs: 2_000 } };

describe('BGP interop with BIRD 2', () => {
  let bird: Bird<Host>;
  const env = usePeerLab<Host>({
    name: 'bird',
    hosts: {
      lvk: { ipv4: Object.values(A).map((a) => `${a}/24`), ipv6: [`${LVK6}/64`] },
      bird: { ipv4: [`${BIRD1}/24`, `${BIRD2}/24`], ipv6: [`${BIRD6}/64`] },
    },
    startPeer: async (lab, dir) => {
      bird = new Bird<Host>(lab, 'bird', dir, birdConfig());
      await bird.start();
      return bird;
    },
  });
  const { dir, speaker } = env;
  let ebgp: LvskitSpeaker;
  const routesFrom = async (proto: string): Promise<PlainRoute[]> => byPrefix(await bird.routes(`lvk_${proto}`));
  const waitRoutes = (proto: string, pred: (r: PlainRoute[]) => boolean, what: string, timeoutMs = 20_000): Promise<PlainRoute[]> =>
    waitUntilRoutes(() => routesFrom(proto), pred, `BIRD protocol ${proto}: ${what}`, { timeoutMs });

  it('runs the docs/bgp.md example as written: BIRD gets the VIP, and loses it when the example gets SIGTERM', async () => {
    const file = path.join(dir, 'docs-example.ts');
    writeFileSync(file, docsExample());
    const p = env.lab.spawn('lvk', [process.execPath, '--import', TS_REGISTER, file]);
    await p.waitForOutput(`BGP session with ${BIRD1} established`, { timeoutMs: 60_000 });
    const got = await waitRoutes('docs', (r) => r.length === 1, 'the VIP');
    expect(got).toEqual([
      { prefix: '198.51.100.10/32', nextHop: [A.docs], origin: 'igp', asPath: '64512', med: 100, localPref: 100, communities: ['64500:100'], largeCommunities: [] },
    ]);
    p.child.kill('SIGTERM');
    const exit = await Promise.race([p.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 15_000))]);
    expect(exit, `the example did not exit after SIGTERM; output:\n${p.output}`).toEqual({ code: 0, signal: null });
    expect(await routesFrom('docs')).toEqual([]);
    // The shutdown communication reached BIRD (RFC 9003).
    expect(await bird.birdc(['show', 'protocols', 'all', 'lvk_docs'])).toMatch(/director shutting down/);
  });

  it('eBGP with a 4-octet ASN: IPv4 and IPv6 VIPs with every attribute, a backup session with export overrides, withdraw', async () => {
    ebgp = await speaker({
      localAs: 4200000001,
      routerId: A.ebgp,
      listen: false,
      gracefulRestart: { restartTime: 60 },
      peers: [
        { address: BIRD1, remoteAs: BIRD_AS, localAddress: A.ebgp, nextHop: { ipv6: LVK6 }, ...fastRetry },
        { address: BIRD2, remoteAs: BIRD_AS, localAddress: A.backup, nextHop: { ipv6: LVK6 }, exportOverrides: { med: 500, prepend: 2 }, ...fastRetry },
      ],
    });
    await ebgp.waitEstablished(BIRD1);
    await ebgp.waitEstablished(BIRD2);
    await ebgp.announce('198.51.100.10/32', { med: 50, prepend: 1, communities: ['64500:100', 'no-export'], largeCommunities: ['4200000001:10:20'] });
    await ebgp.announce('198.51.100.0/24', { origin: 'incomplete', asPath: [65010, 65011] });
    await ebgp.announce('2001:db8:10::10/128', { origin: 'egp', med: 60, communities: ['64500:600'], largeCommunities: ['4200000001:6:6'] });
    await ebgp.announce('2001:db8:20::/56', { nextHop: '2001:db8:1::99' });
    const main = await waitRoutes('ebgp', (r) => r.length === 4, 'four routes');
    const base = { localPref: 100, largeCommunities: [] as string[], communities: [] as string[] };
    expect(main).toEqual(
      byPrefix([
        { ...base, prefix: '198.51.100.10/32', nextHop: [A.ebgp], origin: 'igp', asPath: '4200000001 4200000001', med: 50, communities: ['64500:100', '65535:65281'], largeCommunities: ['4200000001:10:20'] },
        { ...base, prefix: '198.51.100.0/24', nextHop: [A.ebgp], origin: 'incomplete', asPath: '4200000001 65010 65011' },
        { ...base, prefix: '2001:db8:10::10/128', nextHop: [LVK6], origin: 'egp', asPath: '4200000001', med: 60, communities: ['64500:600'], largeCommunities: ['4200000001:6:6'] },
        { ...base, prefix: '2001:db8:20::/56', nextHop: ['2001:db8:1::99'], origin: 'igp', asPath: '4200000001' },
      ]),
    );
    // The backup session: the same routes, with the overrides in place of the route's own values:
    // MED 500 and three copies of our AS (prepend 2 on top of the eBGP one).
    const backup = await waitRoutes('backup', (r) => r.length === 4, 'four routes');
    const three = '4200000001 4200000001 4200000001';
    expect(backup.map((r) => [r.prefix, r.med, r.asPath, r.communities])).toEqual([
      ['198.51.100.0/24', 500, `${three} 65010 65011`, []],
      ['198.51.100.10/32', 500, three, ['64500:100', '65535:65281']],
      ['2001:db8:10::10/128', 500, three, ['64500:600']],
      ['2001:db8:20::/56', 500, three, []],
    ]);
    // BIRD prefers the primary (lower MED from the same AS) for every VIP.
    const best = await bird.birdc(['show', 'route', 'primary', 'all']);
    for (const r of main) expect(best).toMatch(new RegExp(`${r.prefix.replace(/[.]/g, '\\.')}\\s+unicast \\[lvk_ebgp `));

    expect(await ebgp.withdraw('198.51.100.10/32')).toBe(true);
    expect(await ebgp.withdraw('2001:db8:20::/56')).toBe(true);
    const after = await waitRoutes('ebgp', (r) => r.length === 2, 'two routes left');
    expect(after.map((r) => r.prefix)).toEqual(['198.51.100.0/24', '2001:db8:10::10/128']);
    await waitRoutes('backup', (r) => r.length === 2, 'two routes left');
  });

  it("receives BIRD's IPv4 and IPv6 table: lvskit's Adj-RIB-In matches what BIRD exports, route for route", async () => {
    // `show route export`: BIRD's routes before its BGP code adds its AS and next hop.
    const exported = byPrefix([...parseBirdRoutes(await bird.birdc(['show', 'route', 'export', 'lvk_ebgp', 'all']))]);
    expect(exported.length).toBe(26 + 12);
    const received = await waitFor(
      async () => {
        const r = byPrefix(await ebgp.routes(BIRD1));
        return r.length >= exported.length ? r : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 200, what: 'all of BIRD’s routes in lvskit' },
    );
    const expected = exported.map((e) => ({
      prefix: e.prefix,
      nextHop: e.prefix.includes(':') ? [BIRD6] : [BIRD1],
      origin: e.origin ?? 'igp',
      asPath: [String(BIRD_AS), e.asPath].filter((x) => x !== '').join(' '),
      ...(e.med === undefined ? {} : { med: e.med }),
      communities: e.communities,
      largeCommunities: e.largeCommunities,
      stale: false,
    }));
    // BIRD sends a MED it did not set in the export filter to eBGP peers only in some cases (it
    // dropped it here when the static route set other attributes too): MED is compared on our
    // announcements above, and in the GoBGP and FRR tables.
    for (const e of expected) delete (e as { med?: number }).med;
    for (const r of received) delete r.med;
    // BIRD adds its link-local address as the second IPv6 next hop (RFC 2545); compare the global one.
    expect(received.map((r) => ({ ...r, nextHop: r.nextHop.slice(0, 1) }))).toEqual(expected);
    expect(received.filter((r) => r.prefix.includes(':')).every((r) => r.nextHop.length === 2 && r.nextHop[1]?.startsWith('fe80:') === true)).toBe(true);
    expect(await ebgp.routes(BIRD2)).toEqual([]); // the backup session exports nothing
  });

  it('honours route refresh both ways (RFC 2918): BIRD re-sends on our request, lvskit re-sends on BIRD’s', async () => {
    const before = await bird.stats('lvk_ebgp');
    await ebgp.refresh(BIRD1);
    // BIRD answers with its whole table again: its export counter grows by at least the table size.
    await waitFor(async () => ((await bird.stats('lvk_ebgp'))['Export updates']?.[0] ?? 0) >= (before['Export updates']?.[0] ?? 0) + 38, {
      timeoutMs: 15_000,
      intervalMs: 200,
      what: 'BIRD re-sending its table',
    });
    expect((await ebgp.routes(BIRD1)).length).toBe(38);
    const imp = (await bird.stats('lvk_ebgp'))['Import updates']?.[0] ?? 0;
    await bird.birdc(['reload', 'in', 'lvk_ebgp']);
    await waitFor(async () => ((await bird.stats('lvk_ebgp'))['Import updates']?.[0] ?? 0) >= imp + 2, {
      timeoutMs: 15_000,
      intervalMs: 200,
      what: 'lvskit re-sending its two routes',
    });
    expect((await routesFrom('ebgp')).map((r) => r.prefix)).toEqual(['198.51.100.0/24', '2001:db8:10::10/128']);
  });

  it('iBGP: LOCAL_PREF and no AS of ours in the path', async () => {
    const s = await speaker({ localAs: BIRD_AS, routerId: A.ibgp, listen: false, peers: [{ address: BIRD1, remoteAs: BIRD_AS, localAddress: A.ibgp, families: ['ipv4'], ...fastRetry }] });
    await s.announce('198.51.100.20/32', { localPref: 250, med: 5 });
    await s.announce('198.51.100.21/32', { asPath: [65020] });
    const got = await waitRoutes('ibgp', (r) => r.length === 2, 'two routes');
    expect(got).toEqual([
      { prefix: '198.51.100.20/32', nextHop: [A.ibgp], origin: 'igp', asPath: '', med: 5, localPref: 250, communities: [], largeCommunities: [] },
      { prefix: '198.51.100.21/32', nextHop: [A.ibgp], origin: 'igp', asPath: '65020', localPref: 100, communities: [], largeCommunities: [] },
    ]);
  });

  it('passive: lvskit waits on its listener and BIRD connects', async () => {
    const s = await speaker({
      localAs: 64513,
      routerId: A.passive,
      listen: { address: A.passive, port: 179 },
      peers: [{ address: BIRD1, remoteAs: BIRD_AS, passive: true, families: ['ipv4'] }],
    });
    await s.announce('198.51.100.30/32');
    await waitRoutes('passive', (r) => r.length === 1, 'the route');
    const up = s.events.find((e) => e.kind === 'peer-state' && e.state === 'Established');
    expect(up).toBeDefined();
    // A passive session never connects out: every state it went through is Idle, Active or past OpenSent.
    expect(s.events.filter((e) => e.kind === 'peer-state').map((e) => e.state)).not.toContain('Connect');
  });

  it('TCP MD5 (RFC 2385): the right password establishes (BIRD connecting to our listener); a wrong one never does', async () => {
    const [good, bad] = await Promise.all([
      speaker({ localAs: 64514, routerId: A.md5, listen: { address: A.md5, port: 179 }, peers: [{ address: BIRD1, remoteAs: BIRD_AS, passive: true, password: 'lab secret 1', families: ['ipv4'] }] }),
      speaker({ localAs: 64515, routerId: A.md5bad, listen: { address: A.md5bad, port: 179 }, peers: [{ address: BIRD1, remoteAs: BIRD_AS, localAddress: A.md5bad, password: 'not the secret', families: ['ipv4'], ...fastRetry }] }),
    ]);
    await good.announce('198.51.100.40/32');
    await waitRoutes('md5', (r) => r.length === 1, 'the route over the signed session');
    expect(await bird.state('lvk_md5')).toBe('Established');
    // Give the wrong password several connection attempts both ways (ours every <= 2 s, BIRD's every 2 s).
    await new Promise((r) => setTimeout(r, 6_000));
    expect(await bird.state('lvk_md5bad')).not.toBe('Established');
    expect((await bad.peers())[0]?.state).not.toBe('Established');
    expect(bad.events.some((e) => e.kind === 'peer-state' && e.state === 'OpenSent')).toBe(false);
  });

  it('GTSM (RFC 5082): with ttlSecurity the session comes up; BIRD requiring TTL 255 from a speaker without it never does; multihop sets our TTL', async () => {
    const [good, bad, multihop] = await Promise.all([
      speaker({ localAs: 64516, routerId: A.gtsm, listen: false, peers: [{ address: BIRD1, remoteAs: BIRD_AS, localAddress: A.gtsm, ttlSecurity: true, families: ['ipv4'], ...fastRetry }] }),
      speaker({ localAs: 64517, routerId: A.gtsmbad, listen: false, peers: [{ address: BIRD1, remoteAs: BIRD_AS, localAddress: A.gtsmbad, families: ['ipv4'], ...fastRetry }] }),
      // TTL 254: what BIRD's GTSM for two hops wants (the system default of 64 is what gtsmbad sends).
      speaker({ localAs: 64519, routerId: A.multihop, listen: false, peers: [{ address: BIRD1, remoteAs: BIRD_AS, localAddress: A.multihop, multihop: 254, families: ['ipv4'], ...fastRetry }] }),
    ]);
    await multihop.announce('198.51.100.52/32');
    await good.announce('198.51.100.50/32');
    await bad.announce('198.51.100.51/32');
    await waitRoutes('gtsm', (r) => r.length === 1, 'the route');
    await waitRoutes('multihop', (r) => r.length === 1, 'the route sent with TTL 254');
    await new Promise((r) => setTimeout(r, 4_000));
    // BIRD sets the minimum TTL on a connection after accepting it, so our first segments (the
    // OPEN) can slip in before and our side may see BIRD's KEEPALIVE; everything later from us is
    // dropped: BIRD never reaches Established and never gets the route.
    expect(await bird.state('lvk_gtsmbad')).not.toBe('Established');
    expect(await routesFrom('gtsmbad')).toEqual([]);
  });

  it('graceful restart of lvskit (RFC 4724): BIRD keeps the routes while we are gone and drops what we do not re-announce at our End-of-RIB', async () => {
    const opts = (restarting: boolean) => ({
      localAs: 64518,
      routerId: A.gr,
      listen: false as const,
      gracefulRestart: { restartTime: 60, restarting },
      peers: [{ address: BIRD1, remoteAs: BIRD_AS, localAddress: A.gr, nextHop: { ipv6: LVK6 }, ...fastRetry }],
    });
    const first = await speaker(opts(false));
    await first.announce('198.51.100.60/32', { med: 1 });
    await first.announce('198.51.100.61/32');
    await first.announce('2001:db8:60::/48');
    await waitRoutes('gr', (r) => r.length === 3, 'three routes');
    await first.close({ restart: true });
    await waitFor(async () => ((await bird.birdc(['show', 'protocols', 'all', 'lvk_gr'])).includes('Neighbor graceful restart active') ? true : undefined), {
      timeoutMs: 10_000,
      intervalMs: 200,
      what: 'BIRD in graceful restart for the gr session',
    });
    // Gone for a while: BIRD still routes to us.
    await new Promise((r) => setTimeout(r, 2_000));
    expect((await routesFrom('gr')).map((r) => r.prefix)).toEqual(['198.51.100.60/32', '198.51.100.61/32', '2001:db8:60::/48']);

    const second = await speaker(opts(true));
    await second.announce('198.51.100.60/32', { med: 2 });
    await second.announce('2001:db8:60::/48');
    const after = await waitRoutes('gr', (r) => r.length === 2 && r[0]?.med === 2, 'only the re-announced routes');
    expect(after.map((r) => r.prefix)).toEqual(['198.51.100.60/32', '2001:db8:60::/48']);
  });

  it('BIRD restarting: the session comes back and lvskit announces its routes again', async () => {
    await bird.stop();
    await waitFor(async () => ((await ebgp.peers()).find((p) => p.address === BIRD1)?.state !== 'Established' ? true : undefined), {
      timeoutMs: 10_000,
      intervalMs: 200,
      what: 'lvskit noticing BIRD gone',
    });
    await bird.start();
    const back = await waitRoutes('ebgp', (r) => r.length === 2, 'the routes again', 30_000);
    expect(back.map((r) => r.prefix)).toEqual(['198.51.100.0/24', '2001:db8:10::10/128']);
    await ebgp.waitEstablished(BIRD1);
    // And BIRD's table reaches us again in full.
    await waitFor(async () => ((await ebgp.routes(BIRD1)).length === 38 ? true : undefined), { timeoutMs: 15_000, intervalMs: 200, what: 'BIRD’s table again' });
  });

  it('close() withdraws every route from every session and says why', async () => {
    await waitRoutes('backup', (r) => r.length === 2, 'the backup routes');
    await ebgp.close({ message: 'lab: closing' });
    expect(await routesFrom('ebgp')).toEqual([]);
    expect(await routesFrom('backup')).toEqual([]);
    expect(await bird.birdc(['show', 'protocols', 'all', 'lvk_ebgp'])).toMatch(/lab: closing/);
  });
});
