/**
 * BGP sessions over real TCP on loopback: two lvskit sessions with each other,
 * and lvskit against a hand-written misbehaving peer. Timers run on a
 * FakeClock where a test needs protocol time to pass; sockets are real.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, connect as netConnect } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { once } from 'node:events';
import { FakeClock } from '../../../src/util/clock.js';
import { fromHex, toHex } from '../../../src/util/bytes.js';
import { BgpSession } from '../../../src/bgp/session.js';
import type { BgpSessionEvents } from '../../../src/bgp/session.js';
import { defaultCapabilities } from '../../../src/bgp/fsm.js';
import type { FsmConfig } from '../../../src/bgp/fsm.js';
import { planUpdates } from '../../../src/bgp/plan-updates.js';
import { MessageFramer } from '../../../src/bgp/codec-header.js';
import { decodeMessage, encodeMessage } from '../../../src/bgp/codec.js';
import type { DecodedMessage } from '../../../src/bgp/codec.js';
import { describeNotification, shutdownNotification } from '../../../src/bgp/codec-messages.js';

const cleanups: (() => void | Promise<void>)[] = [];
const encodeHex = (m: Parameters<typeof encodeMessage>[0]): string => toHex(encodeMessage(m));
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function fsmConfig(localAs: number, routerId: string, peerAs: number, extra: Partial<FsmConfig> = {}): FsmConfig {
  return {
    localAs,
    routerId,
    peerAs,
    capabilities: defaultCapabilities({ localAs, families: [{ afi: 1, safi: 1 }, { afi: 2, safi: 1 }], extendedMessage: true }),
    jitter: false,
    connectRetry: { initialMs: 200, maxMs: 1000 },
    idleHold: { initialMs: 200, maxMs: 1000 },
    ...extra,
  };
}

/** A listener on a loopback address that hands each connection to `onSocket`. */
async function listen(host: string, onSocket: (s: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(onSocket);
  server.listen(0, host);
  await once(server, 'listening');
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return { server, port: (server.address() as AddressInfo).port };
}

function waitFor<K extends keyof BgpSessionEvents>(s: BgpSession, event: K, ms = 5000): Promise<BgpSessionEvents[K]> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out waiting for ${event}`)), ms);
    s.once(event, ((...args: BgpSessionEvents[K]) => {
      clearTimeout(t);
      resolve(args);
    }) as never);
  });
}

function session(o: ConstructorParameters<typeof BgpSession>[0]): BgpSession {
  const s = new BgpSession(o);
  cleanups.push(() => s.stop());
  return s;
}

/** A raw peer socket that decodes what lvskit sends. */
function rawPeer(sock: Socket): { next: (ms?: number) => Promise<DecodedMessage>; closed: Promise<void> } {
  const framer = new MessageFramer({ maxLength: 65535 });
  const queue: DecodedMessage[] = [];
  const waiters: ((m: DecodedMessage) => void)[] = [];
  sock.on('data', (d: Buffer) => {
    for (const f of framer.push(new Uint8Array(d))) {
      const m = decodeMessage(f, 0, { extendedMessage: true });
      const w = waiters.shift();
      if (w) w(m);
      else queue.push(m);
    }
  });
  sock.on('error', () => undefined);
  const closed = new Promise<void>((r) => sock.once('close', () => r()));
  return {
    next: (ms = 5000) =>
      new Promise((resolve, reject) => {
        const m = queue.shift();
        if (m) return resolve(m);
        const t = setTimeout(() => reject(new Error('no message')), ms);
        waiters.push((x) => {
          clearTimeout(t);
          resolve(x);
        });
      }),
    closed,
  };
}

describe('BGP session over loopback TCP', () => {
  it('establishes between a passive and an active lvskit speaker, carries UPDATEs, and shuts down with a message', async () => {
    const a = session({ fsm: fsmConfig(65001, '10.0.0.1', 65002, { passive: true }), remoteAddress: '127.0.0.2' });
    const { port } = await listen('127.0.0.1', (sock) => a.acceptConnection(sock));
    const b = session({ fsm: fsmConfig(65002, '10.0.0.2', 65001), remoteAddress: '127.0.0.1', remotePort: port, localAddress: '127.0.0.2' });
    const upA = waitFor(a, 'established');
    const upB = waitFor(b, 'established');
    a.start();
    b.start();
    const [[na], [nb]] = await Promise.all([upA, upB]);
    expect(na).toMatchObject({ peerAs: 65002, peerId: '10.0.0.2', holdTime: 90, extendedMessage: true, families: [{ afi: 1, safi: 1 }, { afi: 2, safi: 1 }] });
    expect(nb.peerAs).toBe(65001);

    const got = waitFor(a, 'update');
    const routes = [
      { prefix: '198.51.100.0/24', attributes: { origin: 'igp' as const, asPath: [{ type: 'sequence' as const, asns: [65002] }], med: 20 }, nextHop: ['192.0.2.2'] },
    ];
    expect(b.sendUpdates(planUpdates(routes, [], nb.encodeOptions))).toBe(true);
    const [verdict] = await got;
    expect(verdict.kind === 'update' && verdict.update.nlri).toEqual([{ prefix: '198.51.100.0/24' }]);
    expect(verdict.kind === 'update' && verdict.update.attributes.med).toBe(20);

    const down = waitFor(a, 'down');
    b.stop(shutdownNotification('director maintenance'));
    const [reason] = await down;
    expect(reason.kind).toBe('notification-received');
    expect(reason.kind === 'notification-received' && describeNotification(reason.notification)).toBe('Cease / Administrative Shutdown: "director maintenance"');
    expect(b.state).toBe('Idle');
  });

  it('resolves a connection collision when both sides connect at once (RFC 4271 §6.8), every time', async () => {
    for (let round = 0; round < 5; round++) {
      const peers: { a?: BgpSession; b?: BgpSession } = {};
      const la = await listen('127.0.0.1', (sock) => peers.a?.acceptConnection(sock));
      const lb = await listen('127.0.0.2', (sock) => peers.b?.acceptConnection(sock));
      const a = (peers.a = session({ fsm: fsmConfig(65001, '10.0.0.1', 65002), remoteAddress: '127.0.0.2', remotePort: lb.port, localAddress: '127.0.0.1' }));
      const b = (peers.b = session({ fsm: fsmConfig(65002, '10.0.0.2', 65001), remoteAddress: '127.0.0.1', remotePort: la.port, localAddress: '127.0.0.2' }));
      const ups = Promise.all([waitFor(a, 'established'), waitFor(b, 'established')]);
      a.start();
      b.start();
      await ups;
      await new Promise((r) => setTimeout(r, 50));
      expect([a.state, b.state]).toEqual(['Established', 'Established']);
      // B has the higher identifier: the connection B initiated survives, whichever arrived first.
      expect([a.connectionDirection, b.connectionDirection]).toEqual(['inbound', 'outbound']);
      a.stop();
      b.stop();
    }
  });

  it('answers a bad marker with NOTIFICATION Connection Not Synchronized and closes (RFC 4271 §6.1)', async () => {
    const a = session({ fsm: fsmConfig(65001, '10.0.0.1', 65002, { passive: true }), remoteAddress: '127.0.0.1' });
    const { port } = await listen('127.0.0.1', (sock) => a.acceptConnection(sock));
    a.start();
    const sock = netConnect({ host: '127.0.0.1', port });
    cleanups.push(() => void sock.destroy());
    const peer = rawPeer(sock);
    await once(sock, 'connect');
    expect((await peer.next()).kind).toBe('open');
    sock.write(fromHex('ff'.repeat(15) + '00' + '0013' + '04'));
    const n = await peer.next();
    expect(n.kind === 'notification' && [n.notification.code, n.notification.subcode]).toEqual([1, 1]);
    await peer.closed;
    expect(a.state).not.toBe('Established');
  });

  it('keeps the session up through a malformed UPDATE that RFC 7606 treats as withdraw, and resets for one it cannot', async () => {
    const a = session({ fsm: fsmConfig(65001, '10.0.0.1', 65002, { passive: true }), remoteAddress: '127.0.0.1' });
    const { port } = await listen('127.0.0.1', (sock) => a.acceptConnection(sock));
    a.start();
    const sock = netConnect({ host: '127.0.0.1', port });
    cleanups.push(() => void sock.destroy());
    const peer = rawPeer(sock);
    await once(sock, 'connect');
    expect((await peer.next()).kind).toBe('open');
    sock.write(encodeMessage({ kind: 'open', open: { version: 4, myAs: 65002, holdTime: 90, bgpId: '10.0.0.2', capabilities: defaultCapabilities({ localAs: 65002 }) } }));
    expect((await peer.next()).kind).toBe('keepalive');
    const up = waitFor(a, 'established');
    sock.write(encodeMessage({ kind: 'keepalive' }));
    await up;

    // ORIGIN with value 7: treat-as-withdraw (RFC 7606 §7.1).
    const upd = waitFor(a, 'update');
    const hdr = (len: number): string => 'ff'.repeat(16) + len.toString(16).padStart(4, '0') + '02';
    const attrs = '40010107' + '400206020100' + '00fdea' + '400304c0000202';
    sock.write(fromHex(hdr(19 + 4 + attrs.length / 2 + 4) + '0000' + (attrs.length / 2).toString(16).padStart(4, '0') + attrs + '18c63364'));
    const [v] = await upd;
    expect(v.kind).toBe('treat-as-withdraw');
    expect(v.kind === 'treat-as-withdraw' && v.withdrawn).toEqual([{ prefix: '198.51.100.0/24' }]);
    expect(a.state).toBe('Established');

    // Unrecognized well-known attribute: session reset with 3/2 (RFC 4271 §6.3).
    const down = waitFor(a, 'down');
    const bad = '40630101';
    sock.write(fromHex(hdr(19 + 4 + 4) + '0000' + '0004' + bad));
    const n = await peer.next();
    expect(n.kind === 'notification' && [n.notification.code, n.notification.subcode, toHex(n.notification.data)]).toEqual([3, 2, bad]);
    const [reason] = await down;
    expect(reason.kind).toBe('notification-sent');
  });

  describe('a misbehaving peer gets the RFC reaction and the process stays up', () => {
    const hdr = (len: number, type = 2): string => 'ff'.repeat(16) + len.toString(16).padStart(4, '0') + type.toString(16).padStart(2, '0');
    const update = (attrs: string, nlri = ''): string =>
      hdr(19 + 4 + attrs.length / 2 + nlri.length / 2) + '0000' + (attrs.length / 2).toString(16).padStart(4, '0') + attrs + nlri;
    const BASE = '40010100' + '400206020100' + '00fdea' + '400304c0000202';
    const cases: [string, string, 'reset' | 'withdraw', [number, number]?][] = [
      ['bad message length', hdr(0x1001, 2) + '00', 'reset', [1, 2]],
      ['unknown message type', hdr(19, 9), 'reset', [1, 3]],
      ['KEEPALIVE with a body', hdr(20, 4) + '00', 'reset', [1, 2]],
      ['attribute flags error (ORIGIN marked optional)', update('c0010100' + BASE.slice(8), '18c63364'), 'withdraw'],
      ['attribute length error (MED of 3 bytes)', update(BASE + '800403000001', '18c63364'), 'withdraw'],
      ['MP_REACH_NLRI cut inside its next hop', update('800e0a0002011020010db8' + '40010100'), 'reset', [3, 9]],
      ['MP_REACH_NLRI running past the path attributes', update('800e200002011020010db8'), 'reset', [3, 1]],
      ['MP_REACH_NLRI with a bad next hop length', update('800e0a00020105' + '2001db8000' + '0000' + '40010100' + '400206020100' + '00fdea'), 'reset', [3, 9]],
      ['withdrawn length past the message', hdr(23) + '0009' + '0000', 'reset', [3, 1]],
      ['ROUTE-REFRESH of the wrong length', hdr(24, 5) + '0001000100', 'reset', [7, 1]],
      ['OPEN in Established', encodeHex({ kind: 'open', open: { version: 4, myAs: 65002, holdTime: 90, bgpId: '10.0.0.2', capabilities: [] } }), 'reset', [5, 3]],
    ];
    for (const [name, bytes, outcome, expected] of cases) {
      it(name, async () => {
        const a = session({ fsm: fsmConfig(65001, '10.0.0.1', 65002, { passive: true }), remoteAddress: '127.0.0.1' });
        const { port } = await listen('127.0.0.1', (sock) => a.acceptConnection(sock));
        a.start();
        const sock = netConnect({ host: '127.0.0.1', port });
        cleanups.push(() => void sock.destroy());
        const peer = rawPeer(sock);
        await once(sock, 'connect');
        await peer.next();
        sock.write(encodeMessage({ kind: 'open', open: { version: 4, myAs: 65002, holdTime: 90, bgpId: '10.0.0.2', capabilities: defaultCapabilities({ localAs: 65002 }) } }));
        await peer.next();
        const up = waitFor(a, 'established');
        sock.write(encodeMessage({ kind: 'keepalive' }));
        await up;
        if (outcome === 'withdraw') {
          const got = waitFor(a, 'update');
          sock.write(fromHex(bytes));
          const [v] = await got;
          expect(v.kind).toBe('treat-as-withdraw');
          expect(a.state).toBe('Established');
        } else {
          const down = waitFor(a, 'down');
          sock.write(fromHex(bytes));
          const n = await peer.next();
          expect(n.kind === 'notification' && [n.notification.code, n.notification.subcode]).toEqual(expected);
          expect((await down)[0].kind).toBe('notification-sent');
          await peer.closed;
        }
      });
    }
  });

  it('expires the hold timer on protocol time, with real sockets and a fake clock', async () => {
    const clock = new FakeClock();
    const a = session({ fsm: fsmConfig(65001, '10.0.0.1', 65002, { passive: true, holdTime: 3 }), remoteAddress: '127.0.0.1', clock });
    const { port } = await listen('127.0.0.1', (sock) => a.acceptConnection(sock));
    a.start();
    const sock = netConnect({ host: '127.0.0.1', port });
    cleanups.push(() => void sock.destroy());
    const peer = rawPeer(sock);
    await once(sock, 'connect');
    await peer.next();
    sock.write(encodeMessage({ kind: 'open', open: { version: 4, myAs: 65002, holdTime: 3, bgpId: '10.0.0.2', capabilities: [] } }));
    await peer.next(); // KEEPALIVE
    const up = waitFor(a, 'established');
    sock.write(encodeMessage({ kind: 'keepalive' }));
    await up;
    const down = waitFor(a, 'down');
    clock.advance(1000);
    expect((await peer.next()).kind).toBe('keepalive'); // keepalive every second (3 / 3)
    clock.advance(2000);
    const msgs = [await peer.next(), await peer.next()];
    expect(msgs.map((m) => (m.kind === 'notification' ? `notification ${m.notification.code}` : m.kind))).toEqual(['keepalive', 'notification 4']);
    expect((await down)[0].kind).toBe('hold-timer-expired');
  });
});
