// The addon's receive machinery (libuv poll on a descriptor, recvmsg with ancillary data, callbacks
// into JS) on unprivileged UDP sockets over loopback. RawSocket uses the same code path (watch mode
// WATCH_DATAGRAM); only opening a raw socket needs root, which the lab tier covers.
//
// The datagrams come from Node's own dgram sockets, with a TTL / hop limit set on them, so what the
// addon reports is checked against what was sent.

import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { native } from '../../../src/util/native.js';
import type { NativeWatcher, RawMessage } from '../../../src/util/native.js';

const TS_REGISTER = fileURLToPath(new URL('../../lab/harness/ts-register.mjs', import.meta.url));
const CHILD = fileURLToPath(new URL('./fixtures/watch-child.ts', import.meta.url));

/** More than the 64 datagrams the addon reads per readiness event, and within the default receive buffer. */
const BURST = 150;

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A free UDP port on `host` (bound by Node, then released). */
async function freePort(type: 'udp4' | 'udp6', host: string): Promise<number> {
  const s = dgram.createSocket(type);
  await new Promise<void>((resolve) => s.bind(0, host, resolve));
  const { port } = s.address();
  await new Promise<void>((resolve) => s.close(resolve));
  return port;
}

interface Receiver {
  fd: number;
  port: number;
  messages: RawMessage[];
  errors: unknown[];
  watcher: NativeWatcher;
}

/** A UDP socket made by the addon, asking for PKTINFO and TTL / hop limit, watched. */
async function receiver(family: 4 | 6, onMessage?: (r: Receiver, m: RawMessage) => void): Promise<Receiver> {
  const b = native();
  const c = b.constants;
  const host = family === 4 ? '127.0.0.1' : '::1';
  const port = await freePort(family === 4 ? 'udp4' : 'udp6', host);
  const fd = b.socket(family === 4 ? c.AF_INET : c.AF_INET6, c.SOCK_DGRAM, 0);
  if (family === 4) {
    b.setInt(fd, c.IPPROTO_IP, c.IP_PKTINFO, 1);
    b.setInt(fd, c.IPPROTO_IP, c.IP_RECVTTL, 1);
  } else {
    b.setInt(fd, c.IPPROTO_IPV6, c.IPV6_RECVPKTINFO, 1);
    b.setInt(fd, c.IPPROTO_IPV6, c.IPV6_RECVHOPLIMIT, 1);
  }
  b.bindInet(fd, host, port, 0);
  const r: Receiver = { fd, port, messages: [], errors: [], watcher: undefined as unknown as NativeWatcher };
  r.watcher = b.watch(fd, c.WATCH_DATAGRAM, (err, value) => {
    if (err !== undefined) r.errors.push(err);
    else {
      r.messages.push(value as RawMessage);
      onMessage?.(r, value as RawMessage);
    }
  });
  let closed = false;
  cleanups.push(() => {
    if (closed) return;
    closed = true;
    b.unwatch(r.watcher);
    b.close(fd);
  });
  return r;
}

async function sender(family: 4 | 6, ttl: number): Promise<dgram.Socket> {
  const s = dgram.createSocket(family === 4 ? 'udp4' : 'udp6');
  await new Promise<void>((resolve) => s.bind(0, family === 4 ? '127.0.0.1' : '::1', resolve));
  s.setTTL(ttl);
  cleanups.push(() => new Promise<void>((resolve) => s.close(resolve)));
  return s;
}

async function until(cond: () => boolean, what: string, ms = 5_000, progress?: () => unknown): Promise<void> {
  for (let waited = 0; !cond(); waited += 10) {
    if (waited >= ms) throw new Error(`timed out waiting for ${what}${progress ? ` (have ${String(progress())})` : ''}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe.each([
  { family: 4 as const, host: '127.0.0.1' },
  { family: 6 as const, host: '::1' },
])('receiving over IPv$family', ({ family, host }) => {
  it('delivers data, source, destination, the TTL / hop limit it was sent with, and the interface', async () => {
    const rx = await receiver(family);
    const tx = await sender(family, 77);
    await new Promise<void>((resolve, reject) => tx.send(Buffer.from('vrrp?'), rx.port, host, (e) => (e ? reject(e) : resolve())));
    await until(() => rx.messages.length === 1, 'one datagram');
    const [m] = rx.messages;
    expect(m?.data.toString()).toBe('vrrp?');
    expect(m?.src).toBe(host);
    expect(m?.dst).toBe(host);
    expect(m?.ttl).toBe(77);
    expect(m?.ifindex).toBe(1); // lo
    expect(rx.errors).toEqual([]);
  });

  it('a burst of 150 datagrams (more than the addon reads per wake-up) all arrive, in order, while timers keep running', async () => {
    const rx = await receiver(family);
    const tx = await sender(family, 64);
    let ticks = 0;
    const tick = setInterval(() => ticks++, 1);
    cleanups.push(() => clearInterval(tick));
    for (let i = 0; i < BURST; i++) tx.send(Buffer.from(String(i)), rx.port, host);
    await until(() => rx.messages.length === BURST, `${BURST} datagrams`, 5_000, () => rx.messages.length);
    expect(rx.messages.map((m) => Number(m.data.toString()))).toEqual([...Array(BURST).keys()]);
    expect(ticks).toBeGreaterThan(0);
  });

  it('closing from inside the callback stops delivery at once', async () => {
    const b = native();
    const rx = await receiver(family, (r) => {
      b.unwatch(r.watcher);
    });
    const tx = await sender(family, 64);
    for (let i = 0; i < 20; i++) tx.send(Buffer.from(String(i)), rx.port, host);
    await until(() => rx.messages.length >= 1, 'a datagram');
    await new Promise((r) => setTimeout(r, 200));
    expect(rx.messages).toHaveLength(1);
    // Unwatching twice is harmless.
    b.unwatch(rx.watcher);
  });
});

describe('watchers and the process', () => {
  function runChild(mode: string): Promise<{ code: number | null; out: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', TS_REGISTER, CHILD, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`child ${mode} did not exit within 20 s: ${out}`));
      }, 20_000);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, out });
      });
    });
  }

  it('an exception thrown by a listener reaches process uncaughtException, like any callback', async () => {
    const r = await runChild('throw');
    expect(r.out, `exit ${r.code}`).toMatch(/^uncaught boom from listener$/m);
    expect(r.code).toBe(0);
  });

  it('an unref()ed watcher lets the process exit; a ref()ed one keeps it alive until closed', async () => {
    const r = await runChild('unref');
    expect(r.out).toMatch(/^exiting$/m);
    expect(r.code).toBe(0);
    const k = await runChild('ref-then-close');
    expect(k.out).toMatch(/^got ping$/m);
    expect(k.code).toBe(0);
  });

  it('watching a descriptor that is not open fails with a typed error', () => {
    const b = native();
    let err: unknown;
    try {
      b.watch(0x7fff_0000, b.constants.WATCH_DATAGRAM, () => undefined);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ errno: 9, syscall: 'getsockopt' });
    expect(() => b.watch(0, 99, () => undefined)).toThrow(TypeError);
  });
});
