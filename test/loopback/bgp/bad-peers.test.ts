/**
 * Bad peers against a whole `BgpSpeaker` on loopback: a hand-written peer opens a real session, then
 * sends one kind of malformed or unacceptable input. Each gets the reaction its RFC gives, the
 * speaker keeps running (it answers, and a well-behaved peer can establish right after), and the
 * routes it had from that peer are what the RFC says they should be.
 *
 *   bad marker                       NOTIFICATION 1/1 Connection Not Synchronized, reset (RFC 4271 §6.1)
 *   bad message length               NOTIFICATION 1/2 Bad Message Length, reset (RFC 4271 §6.1)
 *   bad attribute flags              treat-as-withdraw, session stays (RFC 7606 §3 c, §7.1)
 *   bad attribute length             treat-as-withdraw, session stays (RFC 7606 §7.4 MED)
 *   truncated MP_REACH_NLRI          NOTIFICATION 3/9 Optional Attribute Error, reset (RFC 7606 §7.11, §3 a)
 *   unknown well-known attribute     NOTIFICATION 3/2 Unrecognized Well-known Attribute, reset (RFC 4271 §6.3)
 *   AS_PATH with our own AS (loop)   routes unfeasible: not kept, an earlier route for the prefix withdrawn (RFC 4271 §9.1.2)
 *   more prefixes than allowed       NOTIFICATION 6/1 Maximum Number of Prefixes Reached with AFI/SAFI/limit (RFC 4486 §4)
 */
import { once } from 'node:events';
import type { BgpSpeakerEvents } from '../../../src/bgp/speaker.js';
import { connect as netConnect } from 'node:net';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { fromHex } from '../../../src/util/bytes.js';
import { isLvskitError } from '../../../src/util/errors.js';
import { BgpSpeaker } from '../../../src/bgp/speaker.js';
import { MessageFramer } from '../../../src/bgp/codec-header.js';
import { decodeMessage, encodeMessage } from '../../../src/bgp/codec.js';
import type { DecodedMessage } from '../../../src/bgp/codec.js';
import { defaultCapabilities } from '../../../src/bgp/fsm.js';

const LOCAL_AS = 65001;
const PEER_AS = 65002;
const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The next `event` from the speaker (eventemitter3, so not node:events' once), bounded. */
function nextEvent<K extends keyof BgpSpeakerEvents>(speaker: BgpSpeaker, event: K, ms = 5000): Promise<BgpSpeakerEvents[K]> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${event} event within ${ms} ms`)), ms);
    speaker.once(event, ((...args: BgpSpeakerEvents[K]) => {
      clearTimeout(t);
      resolve(args);
    }) as never);
  });
}

/** A speaker with one passive peer (127.0.0.1) listening on a free loopback port. */
async function startSpeaker(maxPrefixes?: number): Promise<{ speaker: BgpSpeaker; port: number; errors: Error[] }> {
  const speaker = new BgpSpeaker({
    localAs: LOCAL_AS,
    routerId: '10.0.0.1',
    listen: { address: '127.0.0.1', port: 0 },
    peers: [{ address: '127.0.0.1', remoteAs: PEER_AS, passive: true, connectRetry: { initialMs: 50, maxMs: 100 }, idleHold: { initialMs: 50, maxMs: 100 }, ...(maxPrefixes === undefined ? {} : { maxPrefixes }) }],
  });
  const errors: Error[] = [];
  speaker.on('update-error', (_p, e) => errors.push(e));
  await speaker.start();
  cleanups.push(() => speaker.close());
  return { speaker, port: speaker.port as number, errors };
}

interface RawPeer {
  sock: Socket;
  next: (ms?: number) => Promise<DecodedMessage>;
  closed: Promise<void>;
  send: (hex: string) => void;
}

/** Connect to the speaker as AS 65002 and bring the session to Established. */
async function establish(port: number, speaker: BgpSpeaker): Promise<RawPeer> {
  const sock = netConnect({ host: '127.0.0.1', port });
  cleanups.push(() => void sock.destroy());
  const framer = new MessageFramer({ maxLength: 65535 });
  const queue: DecodedMessage[] = [];
  const waiters: ((m: DecodedMessage) => void)[] = [];
  sock.on('data', (d: Buffer) => {
    for (const f of framer.push(new Uint8Array(d))) {
      const m = decodeMessage(f, 0, {});
      const w = waiters.shift();
      if (w) w(m);
      else queue.push(m);
    }
  });
  sock.on('error', () => undefined);
  const closed = new Promise<void>((r) => sock.once('close', () => r()));
  const next = (ms = 5000): Promise<DecodedMessage> =>
    new Promise((resolve, reject) => {
      const m = queue.shift();
      if (m) return resolve(m);
      const t = setTimeout(() => reject(new Error('no message from the speaker')), ms);
      waiters.push((x) => {
        clearTimeout(t);
        resolve(x);
      });
    });
  await once(sock, 'connect');
  const up = nextEvent(speaker, 'peer-up');
  expect((await next()).kind).toBe('open');
  sock.write(encodeMessage({ kind: 'open', open: { version: 4, myAs: PEER_AS, holdTime: 90, bgpId: '10.0.0.2', capabilities: defaultCapabilities({ localAs: PEER_AS }) } }));
  expect((await next()).kind).toBe('keepalive');
  sock.write(encodeMessage({ kind: 'keepalive' }));
  await up;
  return { sock, next, closed, send: (hex) => sock.write(fromHex(hex)) };
}

/** Skip what the speaker sends after Established (End-of-RIB, KEEPALIVEs) until a NOTIFICATION. */
async function nextNotification(p: RawPeer): Promise<[number, number, Uint8Array]> {
  for (let i = 0; i < 20; i++) {
    const m = await p.next();
    if (m.kind === 'notification') return [m.notification.code, m.notification.subcode, m.notification.data];
  }
  throw new Error('no NOTIFICATION within 20 messages');
}

// Hand-built messages (RFC 4271 §4.1 header, §4.3 UPDATE).
const hdr = (len: number, type = 2, marker = 'ff'.repeat(16)): string => marker + len.toString(16).padStart(4, '0') + type.toString(16).padStart(2, '0');
const update = (attrs: string, nlri = ''): string => hdr(19 + 4 + attrs.length / 2 + nlri.length / 2) + '0000' + (attrs.length / 2).toString(16).padStart(4, '0') + attrs + nlri;
const ORIGIN = '40010100'; // well-known transitive, type 1, length 1, IGP
/** AS_PATH: one AS_SEQUENCE of one 4-octet AS (the session negotiated 4-octet ASes, RFC 6793). */
const asPath4 = (asn: number): string => '400206' + '0201' + asn.toString(16).padStart(8, '0');
const NEXT_HOP = '400304c0000202'; // 192.0.2.2
const NLRI_198_51_100 = '18c63364'; // 198.51.100.0/24

/** Announce 198.51.100.0/24 properly, and wait until the speaker holds it. */
async function announceGood(p: RawPeer, speaker: BgpSpeaker): Promise<void> {
  const got = nextEvent(speaker, 'routes');
  p.send(update(ORIGIN + asPath4(PEER_AS) + NEXT_HOP, NLRI_198_51_100));
  await got;
  expect(speaker.routesReceived().map((r) => r.prefix)).toEqual(['198.51.100.0/24']);
}

/** The speaker still runs: it lists its peer, and a well-behaved peer establishes again. */
async function stillServes(speaker: BgpSpeaker, port: number): Promise<void> {
  expect(speaker.peers()).toHaveLength(1);
  // After a reset the passive session sits in Idle for its idle hold time, then listens again (Active).
  for (let i = 0; i < 250 && speaker.peers()[0]?.state !== 'Active'; i++) await new Promise((r) => setTimeout(r, 20));
  expect(speaker.peers()[0]?.state).toBe('Active');
  const again = await establish(port, speaker);
  expect(speaker.peers()[0]?.state).toBe('Established');
  again.sock.destroy();
}

describe('bad peers: each malformed input gets its RFC reaction and the speaker stays up', () => {
  const resets: [string, (port: number) => string, [number, number]][] = [
    ['bad marker', () => hdr(19, 4, 'ff'.repeat(15) + 'fe'), [1, 1]],
    ['bad message length (KEEPALIVE claiming 4096 bytes)', () => hdr(0x1000, 4) + '00', [1, 2]],
    ['bad message length (below the 19-byte header)', () => hdr(18, 4), [1, 2]],
    ['truncated MP_REACH_NLRI (cut inside the next hop)', () => update('800e0a0002011020010db8' + ORIGIN), [3, 9]],
    ['unknown well-known attribute (type 99, optional bit clear)', () => update(ORIGIN + asPath4(PEER_AS) + NEXT_HOP + '40630100', NLRI_198_51_100), [3, 2]],
  ];
  for (const [name, bytes, expected] of resets) {
    it(`${name}: NOTIFICATION ${expected.join('/')}, session reset, routes from the peer gone`, async () => {
      const { speaker, port } = await startSpeaker();
      const p = await establish(port, speaker);
      await announceGood(p, speaker);
      const down = nextEvent(speaker, 'peer-down');
      p.send(bytes(port));
      const [code, subcode] = await nextNotification(p);
      expect([code, subcode]).toEqual(expected);
      const [, reason] = await down;
      expect(reason.kind).toBe('notification-sent');
      await p.closed;
      expect(speaker.routesReceived()).toEqual([]);
      await stillServes(speaker, port);
    });
  }

  const withdraws: [string, string][] = [
    ['bad attribute flags (ORIGIN marked optional)', update('c0010100' + asPath4(PEER_AS) + NEXT_HOP, NLRI_198_51_100)],
    ['bad attribute length (MED of 3 bytes)', update(ORIGIN + asPath4(PEER_AS) + NEXT_HOP + '800403000001', NLRI_198_51_100)],
    ['bad attribute length (ORIGIN of 2 bytes)', update('400102' + '0000' + asPath4(PEER_AS) + NEXT_HOP, NLRI_198_51_100)],
  ];
  for (const [name, bytes] of withdraws) {
    it(`${name}: treat-as-withdraw, the session stays up`, async () => {
      const { speaker, port, errors } = await startSpeaker();
      const p = await establish(port, speaker);
      await announceGood(p, speaker);
      const gone = nextEvent(speaker, 'routes');
      p.send(bytes);
      const [, change] = await gone;
      expect(change.withdrawn.map((r) => r.prefix)).toEqual(['198.51.100.0/24']);
      expect(speaker.routesReceived()).toEqual([]);
      expect(errors.length).toBeGreaterThan(0);
      expect(speaker.peers()[0]?.state).toBe('Established');
      // The session still carries routes.
      await announceGood(p, speaker);
    });
  }

  it('AS_PATH loop (our own AS in the path): the route is unfeasible, the earlier one withdrawn, the session stays up', async () => {
    const { speaker, port } = await startSpeaker();
    const p = await establish(port, speaker);
    await announceGood(p, speaker);
    const gone = nextEvent(speaker, 'routes');
    p.send(update(ORIGIN + '40020a' + '0202' + PEER_AS.toString(16).padStart(8, '0') + LOCAL_AS.toString(16).padStart(8, '0') + NEXT_HOP, NLRI_198_51_100));
    const [, change] = await gone;
    expect(change.announced).toEqual([]);
    expect(change.withdrawn.map((r) => r.prefix)).toEqual(['198.51.100.0/24']);
    // A looped route for a new prefix is not taken either.
    p.send(update(ORIGIN + '40020a' + '0202' + PEER_AS.toString(16).padStart(8, '0') + LOCAL_AS.toString(16).padStart(8, '0') + NEXT_HOP, '18c63365'));
    await announceGood(p, speaker); // ordered after the looped UPDATE on the same stream
    expect(speaker.routesReceived().map((r) => r.prefix)).toEqual(['198.51.100.0/24']);
    expect(speaker.peers()[0]?.state).toBe('Established');
  });

  it('more prefixes than allowed: Cease / Maximum Number of Prefixes Reached naming the family and limit, then the peer may come back', async () => {
    const { speaker, port } = await startSpeaker(3);
    const p = await establish(port, speaker);
    const down = nextEvent(speaker, 'peer-down');
    // Four /24s in one UPDATE: 198.51.100.0, .101, .102, .103.
    p.send(update(ORIGIN + asPath4(PEER_AS) + NEXT_HOP, '18c63364' + '18c63365' + '18c63366' + '18c63367'));
    const [code, subcode, data] = await nextNotification(p);
    expect([code, subcode]).toEqual([6, 1]);
    // RFC 4486 §4: AFI (2 octets), SAFI (1), the limit (4).
    expect([...data]).toEqual([0, 1, 1, 0, 0, 0, 3]);
    await down;
    await p.closed;
    expect(speaker.routesReceived()).toEqual([]);
    await stillServes(speaker, port);
  });
});

describe('bad peer configuration is refused with a typed error before anything connects', () => {
  const base = { address: '127.0.0.1', remoteAs: PEER_AS };
  const cases: [string, Record<string, unknown>][] = [
    ['an empty password', { password: '' }],
    ['a password over 80 bytes (TCP_MD5SIG_MAXKEYLEN)', { password: 'x'.repeat(81) }],
    ['ttlSecurity together with multihop', { ttlSecurity: true, multihop: 2 }],
    ['ttlSecurity of 0 hops', { ttlSecurity: 0 }],
    ['ttlSecurity of 255 hops', { ttlSecurity: 255 }],
    ['multihop of 256', { multihop: 256 }],
    ['multihop of 1.5', { multihop: 1.5 }],
  ];
  for (const [name, extra] of cases) {
    it(name, () => {
      let caught: unknown;
      try {
        new BgpSpeaker({ localAs: LOCAL_AS, routerId: '10.0.0.1', listen: false, peers: [{ ...base, ...extra }] });
      } catch (e) {
        caught = e;
      }
      expect(isLvskitError(caught, 'ERR_BGP_PEER_CONFIG'), String(caught)).toBe(true);
    });
  }

  it('a peer added later is refused the same way, and the speaker keeps its other peers', () => {
    const s = new BgpSpeaker({ localAs: LOCAL_AS, routerId: '10.0.0.1', listen: false, peers: [base] });
    expect(() => s.addPeer({ address: '127.0.0.2', remoteAs: PEER_AS, password: 'y'.repeat(100) })).toThrow(/password/);
    expect(s.peers().map((p) => p.address)).toEqual(['127.0.0.1']);
  });
});
