// The native addon's TypeScript layer: lazy loading, typed errors, and argument checks that stop bad
// input before it reaches C. The calls that do reach the kernel here need no privileges (socket
// options on this process's own unprivileged sockets).

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { LvskitError, isLvskitError } from '../../../src/util/errors.js';
import {
  NativeSocketError,
  PacketSocket,
  RawSocket,
  addonCandidates,
  bindToDevice,
  connectTcp,
  createTcpConnection,
  errnoName,
  interfaceIndex,
  interfaceName,
  listenTcp,
  loadNativeFrom,
  native,
  nativeAvailable,
  nativeLoaded,
  packageRoot,
  setMinTtl,
  setTcpMd5Sig,
  setTtl,
  socketFd,
  toNativeError,
} from '../../../src/util/native.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
/** A descriptor number this process does not have open. */
const BAD_FD = 0x7fff_0000;

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function tcpListener(host: string): Promise<net.Server> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen({ host, port: 0 }, resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return server;
}

describe('loading', () => {
  // First test of the file: vitest gives each file fresh modules, and nothing above loaded the addon.
  it('importing the module does not load the addon', () => {
    expect(nativeLoaded()).toBe(false);
    expect(nativeAvailable()).toBe(true);
    expect(nativeLoaded()).toBe(true);
  });

  it('finds the package root and the addon inside it, the committed prebuild included', () => {
    const root = packageRoot();
    expect(root).toBe(path.resolve(REPO).replace(/\/$/, ''));
    const [release, prebuild] = addonCandidates(root as string);
    expect(release).toBe(path.join(REPO, 'build', 'Release', 'lvskit_native.node'));
    expect(prebuild).toBe(path.join(REPO, 'prebuilds', `${process.platform}-${process.arch}`, 'lvskit_native.napi.node'));
    expect(existsSync(prebuild as string)).toBe(true);
  });

  it('the committed prebuild exports every function native/*.c defines (it is not stale)', () => {
    const files = readdirSync(path.join(REPO, 'native')).filter((f) => f.endsWith('.c'));
    expect(files).toEqual(expect.arrayContaining(['lvskit_native.c', 'lvskit_probe.c', 'lvskit_nldump.c']));
    const names: string[] = [];
    for (const f of files) {
      const source = readFileSync(path.join(REPO, 'native', f), 'utf8');
      // lvskit_native.c: `F("name", js_fn),`; the others: `{"name", NULL, js_fn, ...}` property descriptors.
      const found = [...source.matchAll(/^\s+F\("(\w+)", js_\w+\),$|^\s+\{"(\w+)", NULL, js_\w+,/gm)].map((m) => m[1] ?? m[2] ?? '');
      expect(found.length, f).toBeGreaterThan(0);
      names.push(...found);
    }
    expect(names.length).toBeGreaterThan(15);
    const prebuild = addonCandidates(REPO)[1] as string;
    const loaded = createRequire(import.meta.url)(prebuild) as Record<string, unknown>;
    for (const name of names) expect(typeof loaded[name], name).toBe('function');
    expect(Object.keys(loaded).sort()).toEqual([...names, 'constants'].sort());
  });

  it('a root without the addon gives ERR_NATIVE_UNAVAILABLE naming what it tried', () => {
    const root = path.join(os.tmpdir(), `no-lvskit-here-${process.pid}`);
    try {
      loadNativeFrom(root);
      expect.unreachable('must throw');
    } catch (e) {
      expect(isLvskitError(e, 'ERR_NATIVE_UNAVAILABLE')).toBe(true);
      expect((e as Error).message).toContain(path.join(root, 'build', 'Release', 'lvskit_native.node'));
      expect((e as Error).message).toContain('npm run build:native');
    }
  });

  it('exposes the kernel constants the wrappers use', () => {
    const c = native().constants;
    expect(c.AF_INET).toBe(2);
    expect(c.AF_INET6).toBe(10);
    expect(c.IP_MINTTL).toBe(21);
    expect(c.IPV6_MINHOPCOUNT).toBe(73);
    expect(c.TCP_MD5SIG).toBe(14);
    expect(c.ETH_P_ARP).toBe(0x0806);
  });
});

describe('typed errors', () => {
  it('errno numbers get their names', () => {
    expect(errnoName(1)).toBe('EPERM');
    expect(errnoName(os.constants.errno.EADDRNOTAVAIL)).toBe('EADDRNOTAVAIL');
    expect(errnoName(4242)).toBe('ERRNO_4242');
    expect(errnoName(os.constants.errno.EAGAIN)).toBe('EAGAIN');
    expect(errnoName(os.constants.errno.EOPNOTSUPP)).toBe('EOPNOTSUPP');
  });

  it('a failed system call is a NativeSocketError with errno, name and syscall', () => {
    try {
      setTtl(BAD_FD, 4, 64);
      expect.unreachable('must throw');
    } catch (e) {
      expect(e).toBeInstanceOf(NativeSocketError);
      expect(e).toBeInstanceOf(LvskitError);
      const err = e as NativeSocketError;
      expect(err.code).toBe('ERR_NATIVE_EBADF');
      expect(err.errno).toBe(os.constants.errno.EBADF);
      expect(err.errnoName).toBe('EBADF');
      expect(err.syscall).toBe('setsockopt');
      expect(err.message).toMatch(/^setTtl: setsockopt: Bad file descriptor/);
    }
  });

  it('a TCP option on a UDP socket is ENOPROTOOPT, not a crash', () => {
    const b = native();
    const fd = b.socket(b.constants.AF_INET, b.constants.SOCK_DGRAM, 0);
    cleanups.push(() => b.close(fd));
    expect(() => setTcpMd5Sig(fd, { address: '127.0.0.1', key: 'k' })).toThrow(
      expect.objectContaining({ code: 'ERR_NATIVE_ENOPROTOOPT', syscall: 'setsockopt' }),
    );
  });

  it('unknown interfaces are ERR_NATIVE_ENODEV', () => {
    expect(() => interfaceIndex('nosuchif0')).toThrow(expect.objectContaining({ code: 'ERR_NATIVE_ENODEV', syscall: 'if_nametoindex' }));
    expect(interfaceIndex('lo')).toBe(1);
    expect(interfaceName(1)).toBe('lo');
  });

  it('toNativeError leaves errors without errno/syscall alone', () => {
    const t = new TypeError('x');
    expect(toNativeError(t)).toBe(t);
    const wrapped = toNativeError(Object.assign(new Error('sendmsg: No buffer space available'), { errno: 105, syscall: 'sendmsg' }), 'send');
    expect(wrapped).toBeInstanceOf(NativeSocketError);
    expect((wrapped as NativeSocketError).code).toBe('ERR_NATIVE_ENOBUFS');
  });

  it('socketFd needs a connected or listening socket', async () => {
    expect(() => socketFd(new net.Socket())).toThrow(expect.objectContaining({ code: 'ERR_NATIVE_NO_FD' }));
    const server = await tcpListener('127.0.0.1');
    expect(socketFd(server)).toBeGreaterThan(2);
  });
});

describe('socket options reach the kernel', () => {
  it('setTtl and setMinTtl on a Node server, read back with getsockopt', async () => {
    const c = native().constants;
    const v4 = socketFd(await tcpListener('127.0.0.1'));
    setTtl(v4, 4, 255);
    setMinTtl(v4, 4, 254);
    expect(native().getInt(v4, c.IPPROTO_IP, c.IP_TTL)).toBe(255);
    expect(native().getInt(v4, c.IPPROTO_IP, c.IP_MINTTL)).toBe(254);
    setMinTtl(v4, 4, 0);
    expect(native().getInt(v4, c.IPPROTO_IP, c.IP_MINTTL)).toBe(0);

    const v6 = socketFd(await tcpListener('::1'));
    setTtl(v6, 6, 200);
    setMinTtl(v6, 6, 255);
    expect(native().getInt(v6, c.IPPROTO_IPV6, c.IPV6_UNICAST_HOPS)).toBe(200);
    expect(native().getInt(v6, c.IPPROTO_IPV6, c.IPV6_MINHOPCOUNT)).toBe(255);
  });

  it('MD5 keys: add, add for a prefix, remove; an IPv4 peer on an IPv6 socket is mapped', async () => {
    const v4 = socketFd(await tcpListener('127.0.0.1'));
    setTcpMd5Sig(v4, { address: '127.0.0.2', key: 'secret' });
    setTcpMd5Sig(v4, { address: '127.0.0.2', key: '' });
    setTcpMd5Sig(v4, { address: '127.1.0.0', prefixLength: 16, key: new Uint8Array(80).fill(7) });
    // An IPv6 key on an IPv4 socket cannot work.
    expect(() => setTcpMd5Sig(v4, { address: '::1', key: 'x' })).toThrow(expect.objectContaining({ code: 'ERR_NATIVE_EAFNOSUPPORT' }));
    const v6 = socketFd(await tcpListener('::'));
    setTcpMd5Sig(v6, { address: '192.0.2.1', key: 'mapped' });
    setTcpMd5Sig(v6, { address: '2001:db8::1', prefixLength: 64, key: 'six' });
    // A key bound to a device needs a VRF (L3 master); a plain interface is refused by the kernel.
    expect(() => setTcpMd5Sig(v6, { address: '2001:db8::3', key: 'k', vrf: 'lo' })).toThrow(expect.objectContaining({ code: 'ERR_NATIVE_EINVAL' }));
    // Removing a key that is not there is ENOENT.
    expect(() => setTcpMd5Sig(v6, { address: '2001:db8::2', key: '' })).toThrow(expect.objectContaining({ code: 'ERR_NATIVE_ENOENT' }));
  });
});

describe('argument checks', () => {
  it('file descriptors, families and TTLs', () => {
    expect(() => setTtl(-1, 4, 64)).toThrow(RangeError);
    expect(() => setTtl(1.5, 4, 64)).toThrow(RangeError);
    expect(() => setTtl('3' as unknown as number, 4, 64)).toThrow(TypeError);
    expect(() => setTtl(3, 5 as 4, 64)).toThrow(/family must be 4 or 6/);
    expect(() => setTtl(3, 4, 0)).toThrow(/ttl must be an integer from 1 to 255, got 0/);
    expect(() => setTtl(3, 4, 256)).toThrow(RangeError);
    expect(() => setMinTtl(3, 6, -1)).toThrow(RangeError);
    expect(() => setMinTtl(3, 6, Number.NaN)).toThrow(RangeError);
  });

  it('MD5 keys', () => {
    expect(() => setTcpMd5Sig(3, { address: 'localhost', key: 'k' })).toThrow(/md5.address must be an IP address literal/);
    expect(() => setTcpMd5Sig(3, { address: '10.0.0.1%eth0', key: 'k' })).toThrow(TypeError);
    expect(() => setTcpMd5Sig(3, { address: '10.0.0.1', key: 'x'.repeat(81) })).toThrow(/at most 80 bytes/);
    expect(() => setTcpMd5Sig(3, { address: '10.0.0.1', key: 'é'.repeat(41) })).toThrow(/got 82/);
    expect(() => setTcpMd5Sig(3, { address: '10.0.0.1', key: 5 as unknown as string })).toThrow(TypeError);
    expect(() => setTcpMd5Sig(3, { address: '10.0.0.0', prefixLength: 33, key: 'k' })).toThrow(RangeError);
    expect(() => setTcpMd5Sig(3, { address: '2001:db8::', prefixLength: 129, key: 'k' })).toThrow(RangeError);
    expect(() => setTcpMd5Sig(3, null as unknown as { address: string; key: string })).toThrow(TypeError);
  });

  it('interface names', () => {
    expect(() => bindToDevice(3, 'a/b')).toThrow(/interface name/);
    expect(() => bindToDevice(3, 'x'.repeat(16))).toThrow(/interface name/);
    expect(() => bindToDevice(3, 'eth 0')).toThrow(TypeError);
    expect(() => interfaceIndex('')).toThrow(TypeError);
  });

  it('RawSocket and PacketSocket options', () => {
    expect(() => new RawSocket({ family: 4, protocol: 0 })).toThrow(RangeError);
    expect(() => new RawSocket({ family: 4, protocol: 256 })).toThrow(RangeError);
    expect(() => new RawSocket({ family: 5 as 4, protocol: 112 })).toThrow(TypeError);
    expect(() => new RawSocket({ family: 4, protocol: 112, checksumOffset: 6 })).toThrow(/IPv6 raw sockets only/);
    expect(() => new RawSocket({ family: 6, protocol: 112, checksumOffset: 7 })).toThrow(/even/);
    expect(() => new RawSocket({ family: 6, protocol: 112, multicastTtl: 0 })).toThrow(RangeError);
    expect(() => new RawSocket({ family: 6, protocol: 112, source: '10.0.0.1' })).toThrow(/IPv6 address/);
    expect(() => new RawSocket({ family: 4, protocol: 112, interface: 'bad/name' })).toThrow(TypeError);
    expect(() => new RawSocket({ family: 4, protocol: 112, multicastLoop: 1 as unknown as boolean })).toThrow(TypeError);
    expect(() => new PacketSocket({ interface: 0 })).toThrow(RangeError);
    expect(() => new PacketSocket({ interface: 'lo', protocol: 0x10000 })).toThrow(RangeError);
  });

  it('connectTcp and listenTcp', async () => {
    await expect(connectTcp({ host: 'localhost', port: 179 })).rejects.toThrow(/host must be an IP address literal/);
    await expect(connectTcp({ host: '127.0.0.1', port: 0 })).rejects.toThrow(RangeError);
    await expect(connectTcp({ host: '127.0.0.1', port: 179, localAddress: '::1' })).rejects.toThrow(/IPv4 address/);
    await expect(connectTcp({ host: '127.0.0.1', port: 179, md5Key: '' })).rejects.toThrow(/must not be empty/);
    await expect(connectTcp({ host: '127.0.0.1', port: 179, minTtl: 300 })).rejects.toThrow(RangeError);
    await expect(listenTcp({ host: '127.0.0.1', port: 70_000 })).rejects.toThrow(RangeError);
    await expect(listenTcp({ host: '127.0.0.1', port: 0, md5: [{ address: 'peer', key: 'k' }] })).rejects.toThrow(TypeError);
    await expect(listenTcp({ host: '127.0.0.1', port: 0, server: {} as net.Server })).rejects.toThrow(/net.Server/);
    await expect(listenTcp({ host: '127.0.0.1', port: 0, server: await tcpListener('127.0.0.1') })).rejects.toThrow(/already listening/);
  });

  it('createTcpConnection checks synchronously', () => {
    expect(() => createTcpConnection({ host: 'example.org', port: 179 })).toThrow(TypeError);
    expect(() => createTcpConnection({ host: '::1', port: 179, localAddress: '127.0.0.1' })).toThrow(/IPv6 address/);
    expect(() => createTcpConnection({ host: '::1', port: 179, ttl: 0 })).toThrow(RangeError);
    expect(() => createTcpConnection({ host: '::1', port: 179, device: 'nosuchdev0' })).toThrow(expect.objectContaining({ code: 'ERR_NATIVE_ENODEV' }));
  });

  it('an aborted signal stops connectTcp before any socket is made', async () => {
    const ac = new AbortController();
    ac.abort('stop');
    await expect(connectTcp({ host: '127.0.0.1', port: 179, signal: ac.signal })).rejects.toMatchObject({ code: 'ERR_ABORTED' });
  });
});
