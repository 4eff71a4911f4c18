/**
 * The session's hold timer (RFC 4271 §4.4, §8.2.2) when it is set again by
 * each message: the session moves the due time of the armed timer instead of
 * replacing it, and re-arms for the rest when it fires. Real sockets on
 * loopback, protocol time on a FakeClock.
 */
import { afterEach, expect, it } from 'vitest';
import { createServer, connect as netConnect } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { once } from 'node:events';
import { FakeClock } from '../../../src/util/clock.js';
import { BgpSession } from '../../../src/bgp/session.js';
import type { DownReason } from '../../../src/bgp/fsm.js';
import { defaultCapabilities } from '../../../src/bgp/fsm.js';
import { encodeMessage } from '../../../src/bgp/codec.js';

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      (e: unknown) => (clearTimeout(t), reject(e as Error)),
    );
  });
}

it('a message pushes the hold timer back by the hold time; it expires hold time after the last one', async () => {
  const clock = new FakeClock();
  const s = new BgpSession({
    fsm: { localAs: 65001, routerId: '10.0.0.1', peerAs: 65002, holdTime: 3, passive: true, jitter: false, capabilities: defaultCapabilities({ localAs: 65001 }) },
    remoteAddress: '127.0.0.1',
    clock,
  });
  cleanups.push(() => s.stop());
  const server = createServer((sock: Socket) => s.acceptConnection(sock));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  s.start();
  const sock = netConnect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port });
  cleanups.push(() => void sock.destroy());
  sock.resume(); // what lvskit sends is not looked at here
  await once(sock, 'connect');
  const established = within(new Promise<void>((r) => s.once('established', () => r())), 5000, 'established');
  sock.write(encodeMessage({ kind: 'open', open: { version: 4, myAs: 65002, holdTime: 3, bgpId: '10.0.0.2', capabilities: defaultCapabilities({ localAs: 65002 }) } }));
  sock.write(encodeMessage({ kind: 'keepalive' }));
  await established;
  let down: DownReason | undefined;
  s.on('down', (r) => (down = r));

  // t = 2 s: an UPDATE (End-of-RIB) arrives; the hold timer now runs to t = 5 s, not 3 s.
  clock.advance(2000);
  const update = within(new Promise<void>((r) => s.once('update', () => r())), 5000, 'update');
  sock.write(encodeMessage({ kind: 'update', update: { withdrawn: [], attributes: {}, nlri: [] } }));
  await update;
  clock.advance(2500); // t = 4.5 s: past the first due time
  expect(down).toBeUndefined();
  expect(s.state).toBe('Established');
  clock.advance(400); // t = 4.9 s
  expect(down).toBeUndefined();
  clock.advance(100); // t = 5 s: hold time after the last message
  expect(down?.kind).toBe('hold-timer-expired');
  expect(s.state).not.toBe('Established');
});
