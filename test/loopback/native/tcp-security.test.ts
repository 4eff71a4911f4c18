// TCP MD5 signatures (RFC 2385) and GTSM (RFC 5082) between two sockets on 127.0.0.1 and ::1.
//
// A peer whose segments do not carry the right signature, or arrive with too low a TTL, is dropped
// by the kernel without an answer: the SYN is retransmitted and the connection never establishes.
// Those cases are bounded by a connect timeout (NO_CONNECT_MS) and checked to end in ERR_TIMEOUT,
// and the listener is checked to have accepted nothing. On loopback the TTL a segment is sent with
// is the TTL it arrives with (64 by default), which is what the GTSM cases rely on.

import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { isLvskitError } from '../../../src/util/errors.js';
import { connectTcp, createTcpConnection, listenTcp, setMinTtl, setTcpMd5Sig, setTtl, socketFd } from '../../../src/util/native.js';

/** How long a connection that must not establish is given. A SYN that is answered completes in well under a millisecond here. */
const NO_CONNECT_MS = 1_000;

interface Listener {
  server: net.Server;
  port: number;
  accepted: number;
}

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Serve `echo:<data>` on every connection of `server`, counting connections. */
function serve(server: net.Server): Listener {
  const sockets = new Set<net.Socket>();
  const l: Listener = { server, port: (server.address() as AddressInfo).port, accepted: 0 };
  server.on('connection', (s) => {
    l.accepted++;
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    s.on('data', (d) => s.end(`echo:${d.toString()}`));
  });
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return l;
}

async function nodeListener(host: string): Promise<Listener> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen({ host, port: 0 }, resolve));
  return serve(server);
}

/** Send a line and read the echo; resolves with what came back before the peer closed. */
async function exchange(socket: net.Socket, text: string): Promise<string> {
  cleanups.push(() => {
    socket.destroy();
  });
  socket.setEncoding('utf8');
  socket.write(text);
  let got = '';
  for await (const chunk of socket) got += chunk as string;
  return got;
}

async function expectNoConnect(p: Promise<net.Socket>, l: Listener): Promise<void> {
  const outcome = await p.then(
    (s) => {
      s.destroy();
      return 'connected';
    },
    (e: unknown) => (isLvskitError(e) ? e.code : String(e)),
  );
  expect(outcome).toBe('ERR_TIMEOUT');
  expect(l.accepted).toBe(0);
}

describe.each([
  { family: 4 as const, host: '127.0.0.1' },
  { family: 6 as const, host: '::1' },
])('TCP MD5 over IPv$family', ({ host }) => {
  it('the same key on both sides connects and carries data', async () => {
    const l = serve(await listenTcp({ host, port: 0, md5: [{ address: host, key: 'lvskit-md5' }] }));
    const s = await connectTcp({ host, port: l.port, md5Key: 'lvskit-md5', timeoutMs: 5_000 });
    expect(s.remoteAddress).toBe(host);
    expect(s.remotePort).toBe(l.port);
    expect(await exchange(s, 'hello')).toBe('echo:hello');
    expect(l.accepted).toBe(1);
  });

  it('a wrong key does not connect', async () => {
    const l = serve(await listenTcp({ host, port: 0, md5: [{ address: host, key: 'right' }] }));
    await expectNoConnect(connectTcp({ host, port: l.port, md5Key: 'wrong', timeoutMs: NO_CONNECT_MS }), l);
  });

  it('no key on the client does not connect to a server that expects one', async () => {
    const l = serve(await listenTcp({ host, port: 0, md5: [{ address: host, key: 'right' }] }));
    await expectNoConnect(connectTcp({ host, port: l.port, timeoutMs: NO_CONNECT_MS }), l);
    // Node's own client is dropped just the same.
    const plain = net.connect({ host, port: l.port });
    const outcome = await new Promise<string>((resolve) => {
      const t = setTimeout(() => resolve('no answer'), NO_CONNECT_MS);
      plain.once('connect', () => resolve('connected'));
      plain.once('error', (e) => resolve(e.message));
      cleanups.push(() => {
        clearTimeout(t);
        plain.destroy();
      });
    });
    expect(outcome).toBe('no answer');
    expect(l.accepted).toBe(0);
  });

  it('a key on the client only does not connect to a server without one', async () => {
    const l = await nodeListener(host);
    await expectNoConnect(connectTcp({ host, port: l.port, md5Key: 'unexpected', timeoutMs: NO_CONNECT_MS }), l);
  });

  it('a key added to a listening Node server (setTcpMd5Sig on its descriptor) is required from then on', async () => {
    const l = await nodeListener(host);
    setTcpMd5Sig(socketFd(l.server), { address: host, key: 'added-later' });
    const s = await connectTcp({ host, port: l.port, md5Key: 'added-later', timeoutMs: 5_000 });
    expect(await exchange(s, 'x')).toBe('echo:x');
    expect(l.accepted).toBe(1);
    l.accepted = 0;
    await expectNoConnect(connectTcp({ host, port: l.port, md5Key: 'other', timeoutMs: NO_CONNECT_MS }), l);
  });

  it('a prefix key (TCP_MD5SIG_EXT) covers the peer', async () => {
    const prefix = host === '::1' ? { address: '::', prefixLength: 64 } : { address: '127.0.0.0', prefixLength: 8 };
    const l = serve(await listenTcp({ host, port: 0, md5: [{ ...prefix, key: 'by-prefix' }] }));
    const s = await connectTcp({ host, port: l.port, md5Key: 'by-prefix', timeoutMs: 5_000 });
    expect(await exchange(s, 'p')).toBe('echo:p');
  });
});

describe('TCP MD5 with an IPv4 peer on a dual-stack listener', () => {
  it('the IPv4 key is mapped to ::ffff:127.0.0.1 on the IPv6 socket', async () => {
    const l = serve(await listenTcp({ host: '::', port: 0, md5: [{ address: '127.0.0.1', key: 'mapped' }] }));
    const s = await connectTcp({ host: '127.0.0.1', port: l.port, md5Key: 'mapped', timeoutMs: 5_000 });
    expect(await exchange(s, 'm')).toBe('echo:m');
    await expectNoConnect(connectTcp({ host: '127.0.0.1', port: l.port, md5Key: 'not-mapped', timeoutMs: NO_CONNECT_MS }), { ...l, accepted: 0 });
  });
});

describe.each([
  { family: 4 as const, host: '127.0.0.1' },
  { family: 6 as const, host: '::1' },
])('GTSM (minimum TTL) over IPv$family', ({ family, host }) => {
  it('a listener with minTtl 255 drops a SYN sent with TTL 64 and accepts one sent with TTL 255', async () => {
    const l = serve(await listenTcp({ host, port: 0, minTtl: 255 }));
    await expectNoConnect(connectTcp({ host, port: l.port, ttl: 64, timeoutMs: NO_CONNECT_MS }), l);
    const s = await connectTcp({ host, port: l.port, ttl: 255, timeoutMs: 5_000 });
    expect(await exchange(s, 'ttl')).toBe('echo:ttl');
    expect(l.accepted).toBe(1);
  });

  it('setMinTtl on a listening Node server', async () => {
    const l = await nodeListener(host);
    setMinTtl(socketFd(l.server), family, 255);
    // Node's default client (TTL 64) gets no answer.
    await expectNoConnect(connectTcp({ host, port: l.port, timeoutMs: NO_CONNECT_MS }), l);
    // With TTL 255 from the SYN on, the handshake completes; the accepted socket inherited the minimum
    // TTL, and our data (sent with TTL 255 as well) is answered.
    const s = await connectTcp({ host, port: l.port, ttl: 255, timeoutMs: 5_000 });
    expect(await exchange(s, 'g')).toBe('echo:g');
  });

  it('an accepted connection keeps the minimum TTL: data sent later with TTL 64 is dropped', async () => {
    let serverSide: net.Socket | undefined;
    const received: string[] = [];
    const server = await listenTcp({ host, port: 0, minTtl: 255 });
    server.on('connection', (s) => {
      serverSide = s;
      s.setEncoding('utf8');
      s.on('data', (d: string) => received.push(d));
      s.on('error', () => undefined);
    });
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const port = (server.address() as AddressInfo).port;
    const s = await connectTcp({ host, port, ttl: 255, timeoutMs: 5_000 });
    cleanups.push(() => {
      s.destroy();
      serverSide?.destroy();
    });
    s.write('first');
    for (let i = 0; i < 100 && received.join('') !== 'first'; i++) await new Promise((r) => setTimeout(r, 20));
    expect(received.join('')).toBe('first');
    // Lower our TTL: the next segment is dropped by the server's IP_MINTTL / IPV6_MINHOPCOUNT.
    setTtl(socketFd(s), family, 64);
    s.write('second');
    await new Promise((r) => setTimeout(r, 700));
    expect(received.join('')).toBe('first');
  });
});

describe('device binding', () => {
  it('connectTcp and listenTcp bound to lo work over loopback; an unknown device is ERR_NATIVE_ENODEV', async () => {
    const l = serve(await listenTcp({ host: '127.0.0.1', port: 0, device: 'lo' }));
    const s = await connectTcp({ host: '127.0.0.1', port: l.port, device: 'lo', timeoutMs: 5_000 });
    expect(await exchange(s, 'dev')).toBe('echo:dev');
    await expect(connectTcp({ host: '127.0.0.1', port: l.port, device: 'nosuchdev0', timeoutMs: 5_000 })).rejects.toMatchObject({
      code: 'ERR_NATIVE_ENODEV',
      syscall: 'setsockopt',
    });
  });
});

describe.each([
  { host: '127.0.0.1' },
  { host: '::1' },
])('createTcpConnection (a net.Socket that connects like net.connect) to $host', ({ host }) => {
  /** What the socket does first: 'connect', an error code, or 'no answer' after `ms`. */
  function firstEvent(s: net.Socket, ms: number): Promise<string> {
    cleanups.push(() => {
      s.destroy();
    });
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve('no answer'), ms);
      s.once('connect', () => {
        clearTimeout(t);
        resolve('connect');
      });
      s.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(t);
        resolve(e.code ?? e.message);
      });
    });
  }

  it('returns at once, connecting; emits connect with the right key and TTL, then carries data', async () => {
    const l = serve(await listenTcp({ host, port: 0, md5: [{ address: host, key: 'node-style' }], minTtl: 255 }));
    const s = createTcpConnection({ host, port: l.port, md5Key: 'node-style', ttl: 255 });
    expect(s.connecting).toBe(true);
    expect(await firstEvent(s, 5_000)).toBe('connect');
    expect(s.remoteAddress).toBe(host);
    expect(await exchange(s, 'n')).toBe('echo:n');
  });

  it('a wrong key or a low TTL never connects; destroy() gives up', async () => {
    const l = serve(await listenTcp({ host, port: 0, md5: [{ address: host, key: 'node-style' }], minTtl: 255 }));
    const [wrongKey, lowTtl] = await Promise.all([
      firstEvent(createTcpConnection({ host, port: l.port, md5Key: 'other', ttl: 255 }), NO_CONNECT_MS),
      firstEvent(createTcpConnection({ host, port: l.port, md5Key: 'node-style', ttl: 64 }), NO_CONNECT_MS),
    ]);
    expect([wrongKey, lowTtl]).toEqual(['no answer', 'no answer']);
    expect(l.accepted).toBe(0);
  });

  it('a closed port is an ECONNREFUSED error event, like net.connect; with an MD5 key it is silence', async () => {
    const l = await nodeListener(host);
    const port = l.port;
    await new Promise<void>((resolve) => l.server.close(() => resolve()));
    expect(await firstEvent(createTcpConnection({ host, port, ttl: 255 }), 5_000)).toBe('ECONNREFUSED');
    // The kernel's RST for the closed port carries no signature, and a socket with a key for that
    // peer drops unsigned segments: the attempt just goes unanswered.
    expect(await firstEvent(createTcpConnection({ host, port, md5Key: 'k' }), NO_CONNECT_MS)).toBe('no answer');
  });
});
