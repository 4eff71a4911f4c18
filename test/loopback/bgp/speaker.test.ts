/**
 * Two BgpSpeakers on loopback: a "director" announcing service IPs and a
 * "router" receiving them (both lvskit). Checks what the router's Adj-RIB-In
 * holds, route by route.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BgpSpeaker } from '../../../src/bgp/speaker.js';
import type { BgpSpeakerEvents, PeerConfig } from '../../../src/bgp/speaker.js';
import type { InRoute } from '../../../src/bgp/rib.js';
import { formatCommunity, formatLargeCommunity } from '../../../src/bgp/communities.js';
import { describeNotification } from '../../../src/bgp/codec-messages.js';

const speakers: BgpSpeaker[] = [];
afterEach(async () => {
  for (const s of speakers.splice(0)) await s.close();
});

const fast: Partial<PeerConfig> = { connectRetry: { initialMs: 100, maxMs: 500 }, idleHold: { initialMs: 100, maxMs: 500 } };

function waitFor<K extends keyof BgpSpeakerEvents>(s: BgpSpeaker, event: K, pred: (...a: BgpSpeakerEvents[K]) => boolean = () => true, ms = 5000): Promise<BgpSpeakerEvents[K]> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      s.off(event, h as never);
      reject(new Error(`timed out waiting for ${event}`));
    }, ms);
    const h = (...args: BgpSpeakerEvents[K]): void => {
      if (!pred(...args)) return;
      clearTimeout(t);
      s.off(event, h as never);
      resolve(args);
    };
    s.on(event, h as never);
  });
}

/** Poll until `fn` holds (bounded). */
async function until(fn: () => boolean, ms = 5000): Promise<void> {
  for (let waited = 0; !fn(); waited += 20) {
    if (waited > ms) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function summary(routes: InRoute[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of routes.sort((a, b) => a.prefix.localeCompare(b.prefix))) {
    const a = r.attributes;
    out[r.prefix] = [
      `nh=${r.nextHop.join(',')}`,
      `path=${a.asPath?.flatMap((s) => s.asns).join(' ')}`,
      a.med !== undefined ? `med=${a.med}` : '',
      a.localPref !== undefined ? `lp=${a.localPref}` : '',
      a.communities ? `c=${a.communities.map(formatCommunity).join(',')}` : '',
      a.largeCommunities ? `lc=${a.largeCommunities.map(formatLargeCommunity).join(',')}` : '',
    ]
      .filter(Boolean)
      .join(' ');
  }
  return out;
}

async function pair(o: { directorAs?: number; routerAs?: number; director?: Partial<PeerConfig>; gracefulRestart?: boolean } = {}): Promise<{ router: BgpSpeaker; director: BgpSpeaker }> {
  const directorAs = o.directorAs ?? 4200000001;
  const routerAs = o.routerAs ?? 65000;
  const gr = o.gracefulRestart === true ? { gracefulRestart: { restartTime: 30 } } : {};
  const router = new BgpSpeaker({
    localAs: routerAs,
    routerId: '10.0.0.254',
    listen: { address: '127.0.0.1', port: 0 },
    peers: [{ address: '127.0.0.2', remoteAs: directorAs, passive: true, ...fast }],
    ...gr,
  });
  speakers.push(router);
  await router.start();
  const director = new BgpSpeaker({
    localAs: directorAs,
    routerId: '10.0.0.1',
    listen: false,
    peers: [
      {
        address: '127.0.0.1',
        port: router.port as number,
        localAddress: '127.0.0.2',
        remoteAs: routerAs,
        nextHop: { ipv4: '192.0.2.10', ipv6: '2001:db8::10' },
        ...fast,
        ...o.director,
      },
    ],
    ...gr,
  });
  speakers.push(director);
  return { router, director };
}

describe('BgpSpeaker over loopback', () => {
  it('announces IPv4 and IPv6 VIPs with attributes, batches them, withdraws one, and withdraws all on close()', async () => {
    const { router, director } = await pair();
    const up = waitFor(router, 'peer-up');
    director.announce('198.51.100.10/32', { communities: ['65000:100', 'no-export'], largeCommunities: ['4200000001:1:2'], med: 10 });
    director.announce('198.51.100.11', { med: 10 });
    director.announce('2001:db8:100::10/128', { med: 10 });
    director.announce('203.0.113.0/24', { prepend: 2 });
    await director.start();
    await up;
    await until(() => router.routesReceived().length === 4);
    expect(summary(router.routesReceived('127.0.0.2'))).toEqual({
      '198.51.100.10/32': 'nh=192.0.2.10 path=4200000001 med=10 c=65000:100,no-export lc=4200000001:1:2',
      '198.51.100.11/32': 'nh=192.0.2.10 path=4200000001 med=10',
      '2001:db8:100::10/128': 'nh=2001:db8::10 path=4200000001 med=10',
      '203.0.113.0/24': 'nh=192.0.2.10 path=4200000001 4200000001 4200000001',
    });
    expect(director.peers()).toEqual([{ address: '127.0.0.1', remoteAs: 65000, state: 'Established', routesReceived: 0, routesAdvertised: 4 }]);

    const gone = waitFor(router, 'routes', (_p, ch) => ch.withdrawn.length > 0);
    expect(director.withdraw('198.51.100.11/32')).toBe(true);
    expect(director.withdraw('192.0.2.99/32')).toBe(false);
    expect((await gone)[1].withdrawn.map((r) => r.prefix)).toEqual(['198.51.100.11/32']);

    const down = waitFor(router, 'peer-down');
    await director.close({ message: 'director going down for maintenance' });
    const [, reason] = await down;
    expect(reason.kind === 'notification-received' && describeNotification(reason.notification)).toBe(
      'Cease / Administrative Shutdown: "director going down for maintenance"',
    );
    expect(router.routesReceived()).toEqual([]);
  });

  it('applies per-peer export overrides (a backup director: higher MED, longer path) and LOCAL_PREF on iBGP', async () => {
    const { router, director } = await pair({ director: { exportOverrides: { med: 200, prepend: 3 } } });
    director.announce('198.51.100.20/32', { med: 10 });
    await director.start();
    await until(() => router.routesReceived().length === 1);
    expect(summary(router.routesReceived())).toEqual({ '198.51.100.20/32': 'nh=192.0.2.10 path=4200000001 4200000001 4200000001 4200000001 med=200' });

    const ibgp = await pair({ directorAs: 65000, routerAs: 65000 });
    ibgp.director.announce('198.51.100.30/32', { localPref: 150 });
    await ibgp.director.start();
    await until(() => ibgp.router.routesReceived().length === 1);
    expect(summary(ibgp.router.routesReceived())).toEqual({ '198.51.100.30/32': 'nh=192.0.2.10 path= lp=150' });
  });

  it('re-sends its routes after the session comes back', async () => {
    const { router, director } = await pair();
    director.announce('198.51.100.40/32');
    await director.start();
    await until(() => router.routesReceived().length === 1);
    // The router drops the session (its side restarts the peer); the director reconnects and re-announces.
    expect(router.peers()[0]?.state).toBe('Established');
    const port = router.port as number;
    await router.close();
    speakers.splice(speakers.indexOf(router), 1);
    const router2 = new BgpSpeaker({
      localAs: 65000,
      routerId: '10.0.0.254',
      listen: { address: '127.0.0.1', port },
      peers: [{ address: '127.0.0.2', remoteAs: 4200000001, passive: true, ...fast }],
    });
    speakers.push(router2);
    await router2.start();
    await until(() => router2.routesReceived().length === 1, 8000);
    expect(router2.routesReceived()[0]?.prefix).toBe('198.51.100.40/32');
  });

  it('answers a route refresh with the routes again, between BoRR and EoRR (RFC 2918, RFC 7313), and ignores looped paths', async () => {
    const { router, director } = await pair();
    director.announce('198.51.100.50/32');
    director.announce('198.51.100.51/32', { asPath: [65000] }); // the router's own AS: a loop for it
    await director.start();
    await until(() => router.routesReceived().length === 1);
    await new Promise((r) => setTimeout(r, 50));
    expect(router.routesReceived().map((r) => r.prefix)).toEqual(['198.51.100.50/32']);
    const again = waitFor(router, 'routes', (_p, ch) => ch.announced.length > 0);
    router.refresh('127.0.0.2');
    expect((await again)[1].announced.map((r) => r.prefix)).toEqual(['198.51.100.50/32']);
    await new Promise((r) => setTimeout(r, 50));
    // EoRR swept nothing that was re-sent: the table is the same.
    expect(router.routesReceived().map((r) => [r.prefix, r.stale])).toEqual([['198.51.100.50/32', false]]);
  });

  it('restarts gracefully: the router keeps the routes stale, the new director refreshes them, End-of-RIB sweeps the rest (RFC 4724)', async () => {
    const { router, director } = await pair({ gracefulRestart: true });
    director.announce('198.51.100.60/32');
    director.announce('198.51.100.61/32');
    const up1 = waitFor(router, 'peer-up');
    await director.start();
    // forwardingPreserved not given: the F bit is clear for every family.
    expect((await up1)[1].peerGracefulRestart?.families.map((f) => f.forwardingPreserved)).toEqual([false, false]);
    await until(() => router.routesReceived().length === 2);

    const down = waitFor(router, 'peer-down');
    await director.close({ restart: true });
    const [, reason, graceful] = await down;
    expect([reason.kind, graceful]).toEqual(['tcp-closed', true]);
    expect(router.routesReceived().map((r) => [r.prefix, r.stale]).sort()).toEqual([
      ['198.51.100.60/32', true],
      ['198.51.100.61/32', true],
    ]);

    // The new process announces only one of the two, then End-of-RIB.
    const next = new BgpSpeaker({
      localAs: 4200000001,
      routerId: '10.0.0.1',
      listen: false,
      gracefulRestart: { restartTime: 30, restarting: true, forwardingPreserved: true },
      peers: [{ address: '127.0.0.1', port: router.port as number, localAddress: '127.0.0.2', remoteAs: 65000, nextHop: { ipv4: '192.0.2.10' }, ...fast }],
    });
    speakers.push(next);
    const up = waitFor(router, 'peer-up');
    let atUp: [string, boolean][] = [];
    router.once('peer-up', () => (atUp = router.routesReceived().map((r) => [r.prefix, r.stale])));
    next.announce('198.51.100.60/32');
    await next.start();
    const [, n] = await up;
    // F bit set: the router still holds both, stale, when the new session comes up.
    expect(atUp.sort()).toEqual([
      ['198.51.100.60/32', true],
      ['198.51.100.61/32', true],
    ]);
    expect(n.peerGracefulRestart).toMatchObject({ restarting: true, restartTime: 30 });
    // F bit per family (RFC 4724 §3): without it a router drops the kept routes at session up.
    expect(n.peerGracefulRestart?.families.map((f) => f.forwardingPreserved)).toEqual([true, true]);
    await until(() => router.routesReceived().length === 1);
    expect(router.routesReceived().map((r) => [r.prefix, r.stale])).toEqual([['198.51.100.60/32', false]]);
  });

  it("as helper, drops a restarted peer's stale routes at session up when its F bit is clear (RFC 4724 §4.2)", async () => {
    const { router, director } = await pair({ gracefulRestart: true });
    director.announce('198.51.100.62/32');
    director.announce('2001:db8:62::/48');
    await director.start();
    await until(() => router.routesReceived().length === 2);
    const down = waitFor(router, 'peer-down');
    await director.close({ restart: true });
    await down;
    expect(router.routesReceived().every((r) => r.stale)).toBe(true);

    // The new process announces graceful restart with the R bit but preserved no forwarding state
    // (F bit clear for both families), and has nothing to send.
    const next = new BgpSpeaker({
      localAs: 4200000001,
      routerId: '10.0.0.1',
      listen: false,
      gracefulRestart: { restartTime: 30, restarting: true },
      peers: [{ address: '127.0.0.1', port: router.port as number, localAddress: '127.0.0.2', remoteAs: 65000, nextHop: { ipv4: '192.0.2.10' }, ...fast }],
    });
    speakers.push(next);
    const withdrawn: string[] = [];
    router.on('routes', (_peer, ch) => withdrawn.push(...ch.withdrawn.map((r) => r.prefix)));
    let atUp: string[] = ['not up'];
    router.once('peer-up', () => (atUp = router.routesReceived().map((r) => r.prefix)));
    const up = waitFor(router, 'peer-up');
    await next.start();
    const [, n] = await up;
    expect(n.peerGracefulRestart?.families.map((f) => f.forwardingPreserved)).toEqual([false, false]);
    // Gone when the session came up, not at End-of-RIB or after the restart time.
    expect(atUp).toEqual([]);
    expect(withdrawn.sort()).toEqual(['198.51.100.62/32', '2001:db8:62::/48']);
  });

  it('runs over IPv6 transport (::1), carrying IPv4 and IPv6 routes', async () => {
    const router = new BgpSpeaker({
      localAs: 65000,
      routerId: '10.0.0.254',
      listen: { address: '::1', port: 0 },
      peers: [{ address: '::1', remoteAs: 65010, passive: true, ...fast }],
    });
    speakers.push(router);
    await router.start();
    const director = new BgpSpeaker({
      localAs: 65010,
      routerId: '10.0.0.1',
      listen: false,
      peers: [{ address: '::1', port: router.port as number, remoteAs: 65000, nextHop: { ipv4: '192.0.2.10' }, ...fast }],
    });
    speakers.push(director);
    director.announce('198.51.100.70/32');
    director.announce('2001:db8:70::/48'); // next hop: our address on the session, ::1
    await director.start();
    await until(() => router.routesReceived().length === 2);
    expect(summary(router.routesReceived())).toEqual({
      '198.51.100.70/32': 'nh=192.0.2.10 path=65010',
      '2001:db8:70::/48': 'nh=::1 path=65010',
    });
  });

  it('brings up a peer added after start(), also without a listener', async () => {
    const { router, director } = await pair({ director: { address: '127.0.0.3', port: 9 } }); // a loopback peer with nothing listening
    await director.start();
    director.addPeer({ address: '127.0.0.1', port: router.port as number, localAddress: '127.0.0.2', remoteAs: 65000, nextHop: { ipv4: '192.0.2.10' }, ...fast });
    director.announce('198.51.100.80/32');
    await until(() => router.routesReceived().length === 1);
    expect(director.peers().map((p) => p.address).sort()).toEqual(['127.0.0.1', '127.0.0.3']);
  });

  it('sends no routes of a family the session did not negotiate (RFC 4760 §7)', async () => {
    const router = new BgpSpeaker({
      localAs: 65000,
      routerId: '10.0.0.254',
      listen: { address: '127.0.0.1', port: 0 },
      peers: [{ address: '127.0.0.2', remoteAs: 65010, passive: true, families: ['ipv4'], ...fast }],
    });
    speakers.push(router);
    await router.start();
    const errors: Error[] = [];
    router.on('update-error', (_p, e) => errors.push(e));
    const director = new BgpSpeaker({
      localAs: 65010,
      routerId: '10.0.0.1',
      listen: false,
      peers: [{ address: '127.0.0.1', port: router.port as number, localAddress: '127.0.0.2', remoteAs: 65000, nextHop: { ipv4: '192.0.2.10', ipv6: '2001:db8::10' }, ...fast }],
    });
    speakers.push(director);
    const up = waitFor(director, 'peer-up');
    director.announce('198.51.100.90/32');
    director.announce('2001:db8:90::/48');
    await director.start();
    const [, n] = await up;
    expect(n.families).toEqual([{ afi: 1, safi: 1 }]);
    await until(() => router.routesReceived().length === 1);
    await new Promise((r) => setTimeout(r, 100));
    expect(router.routesReceived().map((r) => r.prefix)).toEqual(['198.51.100.90/32']);
    expect(errors).toEqual([]);
    expect(director.peers()[0]?.state).toBe('Established');
  });

  it('removes a peer with Cease / Peer De-configured and forgets its routes', async () => {
    const { router, director } = await pair();
    director.announce('198.51.100.95/32');
    await director.start();
    await until(() => router.routesReceived().length === 1);
    const down = waitFor(director, 'peer-down');
    const gone = waitFor(router, 'routes', (_p, ch) => ch.withdrawn.length > 0);
    expect(router.removePeer('127.0.0.2')).toBe(true);
    expect(router.removePeer('127.0.0.2')).toBe(false);
    const [, reason] = await down;
    expect(reason.kind === 'notification-received' && [reason.notification.code, reason.notification.subcode]).toEqual([6, 3]);
    expect((await gone)[1].withdrawn.map((r) => r.prefix)).toEqual(['198.51.100.95/32']);
    expect(router.routesReceived()).toEqual([]);
    expect(router.peers()).toEqual([]);
  });

  it('drops a peer that sends more prefixes than allowed (RFC 4486) and keeps running', async () => {
    const { router, director } = await pair();
    // Reconfigure: the router accepts at most 2 prefixes from the director.
    const port = router.port as number;
    await router.close();
    speakers.splice(speakers.indexOf(router), 1);
    const strict = new BgpSpeaker({
      localAs: 65000,
      routerId: '10.0.0.254',
      listen: { address: '127.0.0.1', port },
      peers: [{ address: '127.0.0.2', remoteAs: 4200000001, passive: true, maxPrefixes: 2, ...fast }],
    });
    speakers.push(strict);
    await strict.start();
    const down = waitFor(director, 'peer-down');
    director.announce('198.51.100.1/32');
    director.announce('198.51.100.2/32');
    director.announce('198.51.100.3/32');
    await director.start();
    const [, reason] = await down;
    expect(reason.kind === 'notification-received' && [reason.notification.code, reason.notification.subcode]).toEqual([6, 1]);
  });
});
