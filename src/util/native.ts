/**
 * lvskit's native addon: the socket features Node does not have, for the BGP and VRRP drivers.
 *
 * - `RawSocket`: raw IPv4/IPv6 sockets for one IP protocol (VRRP is 112), bound to an interface,
 *   joined to multicast groups, sending with a chosen TTL / hop limit and source address, and
 *   receiving `{ data, src, dst, ttl, ifindex }` events (the TTL / hop limit a datagram arrived with,
 *   for RFC 9568's "TTL must be 255" check). Event driven (libuv poll on the descriptor).
 * - `PacketSocket`: AF_PACKET on one interface, to send prebuilt Ethernet frames (gratuitous ARP,
 *   unsolicited NA, from a virtual MAC) and optionally receive frames of one EtherType.
 * - TCP socket options on descriptors of Node sockets: `setTcpMd5Sig` (RFC 2385), `setMinTtl`
 *   (GTSM, RFC 5082), `setTtl` (multihop), `bindToDevice`; and `connectTcp` / `listenTcp`, which
 *   create the descriptor in the addon so options that must precede the handshake (an MD5 key, a
 *   minimum TTL) are in place before the first SYN, then hand it to Node as a `net.Socket` /
 *   `net.Server`.
 *
 * The addon (native/lvskit_native.c, plain C on Node-API) loads lazily on first use: importing lvskit
 * never fails on a machine where it cannot load; using one of these features there throws an
 * `LvskitError` with code `ERR_NATIVE_UNAVAILABLE`. It is looked for in the package root, first in
 * `build/Release/` (a local `node-gyp` build) and then in `prebuilds/<platform>-<arch>/` (the
 * committed prebuild, `npm run build:native`). Failed system calls throw `NativeSocketError`
 * (`ERR_NATIVE_<ERRNO>`, with `errno` and `syscall`); bad arguments throw `TypeError` / `RangeError`
 * here, before reaching C. Everything here needs CAP_NET_RAW (raw and packet sockets) or
 * CAP_NET_ADMIN (MD5 keys need none; SO_BINDTODEVICE needs CAP_NET_RAW) as the kernel decides.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventEmitter } from 'eventemitter3';
import { abortReason, withTimeout } from './abort.js';
import { LvskitError } from './errors.js';
import type { LvskitErrorOptions } from './errors.js';

// ---------------------------------------------------------------------------------------------
// the binding

/** What native/lvskit_native.c exports (see the comment at its top). */
export interface NativeBinding {
  socket(domain: number, type: number, protocol: number): number;
  close(fd: number): void;
  setInt(fd: number, level: number, name: number, value: number): void;
  getInt(fd: number, level: number, name: number): number;
  bindToDevice(fd: number, ifname: string): void;
  bindInet(fd: number, address: string, port: number, scopeId: number): void;
  bindPacket(fd: number, ifindex: number, protocol: number): void;
  connect(fd: number, address: string, port: number, scopeId: number): boolean;
  membership(fd: number, group: string, ifindex: number, join: boolean): void;
  sendInet(fd: number, data: Uint8Array, dst: string, scopeId: number, src: string | null, ifindex: number): number;
  sendPacket(fd: number, data: Uint8Array, ifindex: number, protocol: number, dstMac: Uint8Array): number;
  tcpMd5Sig(fd: number, address: string, prefixLength: number, key: Uint8Array, ifindex: number): void;
  ifNameToIndex(name: string): number;
  ifIndexToName(index: number): string;
  watch(fd: number, mode: number, callback: (err: unknown, value: unknown) => void): NativeWatcher;
  unwatch(watcher: NativeWatcher): void;
  watchRef(watcher: NativeWatcher, ref: boolean): void;
  readonly constants: Readonly<Record<NativeConstant, number>>;
}

/** Opaque handle of a libuv poll on a descriptor. */
export type NativeWatcher = { readonly __brand: 'NativeWatcher' };

export type NativeConstant =
  | 'AF_INET' | 'AF_INET6' | 'AF_PACKET' | 'SOCK_RAW' | 'SOCK_DGRAM' | 'SOCK_STREAM'
  | 'SOL_SOCKET' | 'IPPROTO_IP' | 'IPPROTO_IPV6' | 'IPPROTO_TCP' | 'IPPROTO_RAW'
  | 'SO_REUSEADDR' | 'SO_RCVBUF' | 'SO_SNDBUF' | 'SO_DOMAIN' | 'SO_TYPE' | 'SO_ERROR'
  | 'IP_TTL' | 'IP_MULTICAST_TTL' | 'IP_MULTICAST_LOOP' | 'IP_MULTICAST_ALL' | 'IP_PKTINFO' | 'IP_RECVTTL'
  | 'IP_MINTTL' | 'IP_FREEBIND'
  | 'IPV6_UNICAST_HOPS' | 'IPV6_MULTICAST_HOPS' | 'IPV6_MULTICAST_LOOP' | 'IPV6_MULTICAST_IF'
  | 'IPV6_RECVPKTINFO' | 'IPV6_RECVHOPLIMIT' | 'IPV6_CHECKSUM' | 'IPV6_V6ONLY' | 'IPV6_MINHOPCOUNT'
  | 'TCP_MD5SIG' | 'TCP_MD5SIG_EXT' | 'TCP_MD5SIG_MAXKEYLEN'
  | 'ETH_P_ALL' | 'ETH_P_ARP' | 'ETH_P_IP' | 'ETH_P_IPV6'
  | 'WATCH_DATAGRAM' | 'WATCH_PACKET' | 'WATCH_WRITABLE';

const ADDON_FILE = 'lvskit_native.node';
const PREBUILD_FILE = 'lvskit_native.napi.node';

let binding: NativeBinding | undefined;
let loadFailure: LvskitError | undefined;

/** The directory holding lvskit's package.json, searched upwards from this file (src/util or dist/<entry>). */
export function packageRoot(): string | undefined {
  let dir = typeof __dirname === 'string' ? __dirname : path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === 'lvskit') return dir;
      } catch {
        // unreadable package.json: keep looking upwards
      }
    }
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

/** Candidate addon paths under a package root, in the order they are tried. */
export function addonCandidates(root: string): string[] {
  return [
    path.join(root, 'build', 'Release', ADDON_FILE),
    path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, PREBUILD_FILE),
  ];
}

/**
 * Load the addon from a package root (no caching). Throws `ERR_NATIVE_UNAVAILABLE` naming every path
 * tried and why each failed.
 */
export function loadNativeFrom(root: string): NativeBinding {
  if (process.platform !== 'linux') {
    throw new LvskitError('ERR_NATIVE_UNAVAILABLE', `lvskit's native addon is Linux-only (this is ${process.platform})`);
  }
  const req = createRequire(path.join(root, 'package.json'));
  const problems: string[] = [];
  let lastError: unknown;
  for (const file of addonCandidates(root)) {
    if (!existsSync(file)) {
      problems.push(`${file}: not found`);
      continue;
    }
    try {
      const b = req(file) as NativeBinding;
      if (typeof b.watch !== 'function' || typeof b.constants !== 'object') throw new Error('not lvskit_native (exports missing)');
      return b;
    } catch (err) {
      lastError = err;
      problems.push(`${file}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  throw new LvskitError(
    'ERR_NATIVE_UNAVAILABLE',
    `lvskit's native addon could not be loaded (run \`npm run build:native\` in lvskit to build it): ${problems.join('; ')}`,
    { cause: lastError },
  );
}

/** The addon, loaded on first call; throws `ERR_NATIVE_UNAVAILABLE` (every time) when it cannot load. */
export function native(): NativeBinding {
  if (binding !== undefined) return binding;
  if (loadFailure !== undefined) throw loadFailure;
  try {
    const root = packageRoot();
    if (root === undefined) throw new LvskitError('ERR_NATIVE_UNAVAILABLE', "lvskit's native addon: package root (package.json named lvskit) not found");
    binding = loadNativeFrom(root);
    return binding;
  } catch (err) {
    loadFailure = err instanceof LvskitError ? err : new LvskitError('ERR_NATIVE_UNAVAILABLE', String(err), { cause: err });
    throw loadFailure;
  }
}

/** True when the addon is loaded or can be loaded now. Never throws. */
export function nativeAvailable(): boolean {
  try {
    native();
    return true;
  } catch {
    return false;
  }
}

/** True once the addon has been loaded (importing this module does not load it). */
export function nativeLoaded(): boolean {
  return binding !== undefined;
}

// ---------------------------------------------------------------------------------------------
// errors

let errnoNames: Map<number, string> | undefined;

/** `EPERM` for 1, ... (from `os.constants.errno`); `ERRNO_<n>` for numbers it does not name. */
export function errnoName(errno: number): string {
  if (errnoNames === undefined) {
    // Linux aliases: EAGAIN = EWOULDBLOCK (the first listed wins), ENOTSUP = EOPNOTSUPP (sockets say the latter).
    errnoNames = new Map([[os.constants.errno.EOPNOTSUPP, 'EOPNOTSUPP']]);
    for (const [name, value] of Object.entries(os.constants.errno)) {
      if (!errnoNames.has(value)) errnoNames.set(value, name);
    }
  }
  return errnoNames.get(errno) ?? `ERRNO_${errno}`;
}

/** A system call in the native addon failed. `code` is `ERR_NATIVE_<ERRNO>`, e.g. `ERR_NATIVE_EPERM`. */
export class NativeSocketError extends LvskitError {
  /** Positive errno value. */
  readonly errno: number;
  /** `EPERM`, `EADDRNOTAVAIL`, ... */
  readonly errnoName: string;
  /** The failing call: `socket`, `setsockopt`, `bind`, `sendmsg`, `recvmsg`, `connect`, ... */
  readonly syscall: string;
  constructor(errno: number, syscall: string, message: string, options?: LvskitErrorOptions) {
    const name = errnoName(errno);
    super(`ERR_NATIVE_${name}`, message, options);
    this.errno = errno;
    this.errnoName = name;
    this.syscall = syscall;
  }
}

/** Turn what the addon threw into a `NativeSocketError`; anything else (a TypeError) is returned as is. */
export function toNativeError(err: unknown, context?: string): unknown {
  if (err instanceof NativeSocketError) return err;
  const e = err as { errno?: unknown; syscall?: unknown; message?: unknown } | null;
  if (typeof e === 'object' && e !== null && typeof e.errno === 'number' && typeof e.syscall === 'string') {
    const message = typeof e.message === 'string' ? e.message : `${e.syscall} failed`;
    return new NativeSocketError(e.errno, e.syscall, context === undefined ? message : `${context}: ${message}`, { cause: err });
  }
  return err;
}

function call<T>(context: string, fn: (b: NativeBinding) => T): T {
  const b = native();
  try {
    return fn(b);
  } catch (err) {
    throw toNativeError(err, context);
  }
}

// ---------------------------------------------------------------------------------------------
// argument checks (before anything reaches C)

function checkInt(value: unknown, min: number, max: number, name: string): number {
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number, got ${typeof value}`);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
  return value;
}

function checkFd(fd: unknown): number {
  return checkInt(fd, 0, 0x7fff_ffff, 'fd');
}

function checkFamily(family: unknown): 4 | 6 {
  if (family !== 4 && family !== 6) throw new TypeError(`family must be 4 or 6, got ${String(family)}`);
  return family;
}

/** An IP literal, optionally with a `%zone` (interface name or index) for IPv6; returns address and scope id. */
function checkAddress(value: unknown, name: string, family?: 4 | 6, allowZone = false): { address: string; family: 4 | 6; scopeId: number } {
  if (typeof value !== 'string') throw new TypeError(`${name} must be an IP address string, got ${typeof value}`);
  let address = value;
  let zone: string | undefined;
  const pct = value.indexOf('%');
  if (pct >= 0) {
    address = value.slice(0, pct);
    zone = value.slice(pct + 1);
  }
  const f = net.isIP(address);
  if (f === 0 || (zone !== undefined && (f !== 6 || !allowZone || zone === ''))) {
    throw new TypeError(`${name} must be an IP address literal${allowZone ? ' (IPv6 may carry %zone)' : ''}, got '${value}'`);
  }
  if (family !== undefined && f !== family) throw new TypeError(`${name} must be an IPv${family} address, got '${value}'`);
  let scopeId = 0;
  if (zone !== undefined) scopeId = /^\d+$/.test(zone) ? checkInt(Number(zone), 1, 0x7fff_ffff, `${name} zone`) : interfaceIndex(zone);
  return { address, family: f as 4 | 6, scopeId };
}

const IFNAME_RE = /^[^\s/:\0]{1,15}$/;

function checkIfname(value: unknown, name = 'interface'): string {
  if (typeof value !== 'string') throw new TypeError(`${name} must be an interface name, got ${typeof value}`);
  if (!IFNAME_RE.test(value) || Buffer.byteLength(value) > 15 || value === '.' || value === '..') {
    throw new TypeError(`${name} must be an interface name (1-15 bytes, no '/', ':' or spaces), got '${value}'`);
  }
  return value;
}

/** An interface given by name or index -> its index. */
function resolveInterface(value: unknown, name = 'interface'): number {
  if (typeof value === 'number') return checkInt(value, 1, 0x7fff_ffff, name);
  return interfaceIndex(checkIfname(value, name));
}

function checkBytes(value: unknown, name: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  return value;
}

function checkBool(value: unknown, name: string): boolean {
  if (typeof value !== 'boolean') throw new TypeError(`${name} must be a boolean`);
  return value;
}

// ---------------------------------------------------------------------------------------------
// small helpers

/** `if_nametoindex`: the index of an interface in this process's network namespace. */
export function interfaceIndex(name: string): number {
  checkIfname(name);
  return call(`interface ${name}`, (b) => b.ifNameToIndex(name));
}

/** `if_indextoname`. */
export function interfaceName(index: number): string {
  checkInt(index, 1, 0x7fff_ffff, 'index');
  return call(`interface index ${index}`, (b) => b.ifIndexToName(index));
}

// ---------------------------------------------------------------------------------------------
// RawSocket

export interface RawSocketOptions {
  /** 4 (AF_INET) or 6 (AF_INET6). */
  family: 4 | 6;
  /** IP protocol number, 1-255 (VRRP: 112). */
  protocol: number;
  /**
   * Interface (name or index): SO_BINDTODEVICE (by name), and the default for `joinGroup` and for
   * the outgoing interface of `send` (IP_PKTINFO / IPV6_PKTINFO).
   */
  interface?: string | number;
  /** Local address to bind, which becomes the source of sent datagrams (IPv6 link-local: give `interface`). */
  source?: string;
  /** TTL / hop limit of unicast sends (IP_TTL / IPV6_UNICAST_HOPS). */
  ttl?: number;
  /** TTL / hop limit of multicast sends (IP_MULTICAST_TTL / IPV6_MULTICAST_HOPS). */
  multicastTtl?: number;
  /** Receive our own multicast sends (default false). */
  multicastLoop?: boolean;
  /**
   * IPv6 only: IPV6_CHECKSUM, the offset of the checksum field the kernel fills in on send and verifies
   * on receive (VRRP: 6). Off by default: a driver that counts bad checksums computes them itself.
   */
  checksumOffset?: number;
  /** SO_RCVBUF in bytes. */
  receiveBufferSize?: number;
  /** Start receiving at once (default true); `message` events carry what arrives. */
  receive?: boolean;
}

export interface RawMessage {
  /** The IP payload (a raw IPv4 socket receives the IPv4 header too; it is stripped here). */
  data: Buffer;
  /** Source address (IPv6 link-local without zone: see `scopeId`). */
  src: string;
  /** Destination address the datagram was sent to (a multicast group, or ours); '' when unknown. */
  dst: string;
  /** TTL (IPv4, from the header) or hop limit (IPv6, IPV6_HOPLIMIT) it arrived with; -1 when unknown. */
  ttl: number;
  /** Interface it arrived on; -1 when unknown. */
  ifindex: number;
  /** IPv6 scope id of the source (the ifindex for link-local), else 0. */
  scopeId: number;
  /** Set when the datagram was larger than the receive buffer (64 KiB) and got cut. */
  truncated?: boolean;
}

export interface SendOptions {
  /** Source address for this datagram (IP_PKTINFO / IPV6_PKTINFO); must be configured on this host. */
  src?: string;
  /** Outgoing interface for this datagram (name or index); default the socket's `interface`. */
  interface?: string | number;
}

export interface RawSocketEvents {
  message: (msg: RawMessage) => void;
  /** A receive failed (the socket keeps receiving). Also counted in `receiveErrors`. */
  error: (err: NativeSocketError) => void;
}

/** A raw IPv4/IPv6 socket for one IP protocol (CAP_NET_RAW). */
export class RawSocket extends EventEmitter<RawSocketEvents> {
  readonly family: 4 | 6;
  readonly protocol: number;
  /** The socket's descriptor (for options not wrapped here); -1 once closed. */
  #fd: number;
  /** Index of `options.interface`, 0 when none. */
  readonly ifindex: number;
  #watcher: NativeWatcher | undefined;
  #refed = true;
  /** Receive errors seen so far. */
  receiveErrors = 0;

  constructor(options: RawSocketOptions) {
    super();
    if (typeof options !== 'object' || options === null) throw new TypeError('RawSocket options must be an object');
    const family = checkFamily(options.family);
    const protocol = checkInt(options.protocol, 1, 255, 'protocol');
    if (options.ttl !== undefined) checkInt(options.ttl, 1, 255, 'ttl');
    if (options.multicastTtl !== undefined) checkInt(options.multicastTtl, 1, 255, 'multicastTtl');
    if (options.multicastLoop !== undefined) checkBool(options.multicastLoop, 'multicastLoop');
    if (options.receive !== undefined) checkBool(options.receive, 'receive');
    if (options.receiveBufferSize !== undefined) checkInt(options.receiveBufferSize, 1, 0x7fff_ffff, 'receiveBufferSize');
    if (options.checksumOffset !== undefined) {
      if (family !== 6) throw new TypeError('checksumOffset is for IPv6 raw sockets only');
      checkInt(options.checksumOffset, 0, 0xfffe, 'checksumOffset');
      if (options.checksumOffset % 2 !== 0) throw new RangeError('checksumOffset must be even');
    }
    let ifname: string | undefined;
    let ifindex = 0;
    if (options.interface !== undefined) {
      ifindex = resolveInterface(options.interface);
      ifname = typeof options.interface === 'string' ? options.interface : interfaceName(ifindex);
    }
    const source = options.source === undefined ? undefined : checkAddress(options.source, 'source', family);

    this.family = family;
    this.protocol = protocol;
    this.ifindex = ifindex;
    const b = native();
    const c = b.constants;
    this.#fd = call('RawSocket', (n) => n.socket(family === 4 ? c.AF_INET : c.AF_INET6, c.SOCK_RAW, protocol));
    try {
      const fd = this.#fd;
      call('RawSocket', (n) => {
        if (family === 4) {
          n.setInt(fd, c.IPPROTO_IP, c.IP_PKTINFO, 1);
          // Only groups this socket joined, not every group joined on the host.
          n.setInt(fd, c.IPPROTO_IP, c.IP_MULTICAST_ALL, 0);
          n.setInt(fd, c.IPPROTO_IP, c.IP_MULTICAST_LOOP, options.multicastLoop === true ? 1 : 0);
          if (options.ttl !== undefined) n.setInt(fd, c.IPPROTO_IP, c.IP_TTL, options.ttl);
          if (options.multicastTtl !== undefined) n.setInt(fd, c.IPPROTO_IP, c.IP_MULTICAST_TTL, options.multicastTtl);
        } else {
          n.setInt(fd, c.IPPROTO_IPV6, c.IPV6_RECVPKTINFO, 1);
          n.setInt(fd, c.IPPROTO_IPV6, c.IPV6_RECVHOPLIMIT, 1);
          n.setInt(fd, c.IPPROTO_IPV6, c.IPV6_MULTICAST_LOOP, options.multicastLoop === true ? 1 : 0);
          if (options.ttl !== undefined) n.setInt(fd, c.IPPROTO_IPV6, c.IPV6_UNICAST_HOPS, options.ttl);
          if (options.multicastTtl !== undefined) n.setInt(fd, c.IPPROTO_IPV6, c.IPV6_MULTICAST_HOPS, options.multicastTtl);
          if (ifindex > 0) n.setInt(fd, c.IPPROTO_IPV6, c.IPV6_MULTICAST_IF, ifindex);
          if (options.checksumOffset !== undefined) n.setInt(fd, c.IPPROTO_IPV6, c.IPV6_CHECKSUM, options.checksumOffset);
        }
        if (options.receiveBufferSize !== undefined) n.setInt(fd, c.SOL_SOCKET, c.SO_RCVBUF, options.receiveBufferSize);
        if (ifname !== undefined) n.bindToDevice(fd, ifname);
        if (source !== undefined) n.bindInet(fd, source.address, 0, source.scopeId || (source.address.startsWith('fe80:') ? ifindex : 0));
      });
      if (options.receive !== false) this.#startReceive();
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /** The descriptor, or -1 once closed. */
  get fd(): number {
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  #open(what: string): number {
    if (this.#fd < 0) throw new LvskitError('ERR_NATIVE_CLOSED', `RawSocket.${what}: socket is closed`);
    return this.#fd;
  }

  #startReceive(): void {
    const fd = this.#open('receive');
    const b = native();
    this.#watcher = call('RawSocket', (n) =>
      n.watch(fd, b.constants.WATCH_DATAGRAM, (err, value) => {
        if (err !== undefined && err !== null) {
          this.receiveErrors++;
          const e = toNativeError(err, 'RawSocket receive');
          if (e instanceof NativeSocketError) this.emit('error', e);
          return;
        }
        this.emit('message', value as RawMessage);
      }),
    );
    if (!this.#refed) b.watchRef(this.#watcher, false);
  }

  /** Join a multicast group (224.0.0.18, ff02::12) on an interface (default: the socket's). */
  joinGroup(group: string, iface?: string | number): void {
    this.#membership(group, iface, true);
  }

  /** Leave a multicast group joined with `joinGroup`. */
  leaveGroup(group: string, iface?: string | number): void {
    this.#membership(group, iface, false);
  }

  #membership(group: string, iface: string | number | undefined, join: boolean): void {
    const g = checkAddress(group, 'group', this.family);
    const isMulticast = this.family === 4 ? /^2(2[4-9]|3\d)\./.test(g.address) : /^ff/i.test(g.address);
    if (!isMulticast) throw new TypeError(`group must be a multicast address, got '${group}'`);
    const ifindex = iface === undefined ? this.ifindex : resolveInterface(iface);
    if (this.family === 6 && ifindex === 0) throw new TypeError('an IPv6 group needs an interface');
    const fd = this.#open(join ? 'joinGroup' : 'leaveGroup');
    call(`${join ? 'join' : 'leave'} ${group}`, (n) => n.membership(fd, g.address, ifindex, join));
  }

  /** TTL / hop limit of unicast sends. */
  setTtl(ttl: number): void {
    checkInt(ttl, 1, 255, 'ttl');
    const fd = this.#open('setTtl');
    call('setTtl', (n) =>
      this.family === 4 ? n.setInt(fd, n.constants.IPPROTO_IP, n.constants.IP_TTL, ttl) : n.setInt(fd, n.constants.IPPROTO_IPV6, n.constants.IPV6_UNICAST_HOPS, ttl),
    );
  }

  /** TTL / hop limit of multicast sends. */
  setMulticastTtl(ttl: number): void {
    checkInt(ttl, 1, 255, 'ttl');
    const fd = this.#open('setMulticastTtl');
    call('setMulticastTtl', (n) =>
      this.family === 4
        ? n.setInt(fd, n.constants.IPPROTO_IP, n.constants.IP_MULTICAST_TTL, ttl)
        : n.setInt(fd, n.constants.IPPROTO_IPV6, n.constants.IPV6_MULTICAST_HOPS, ttl),
    );
  }

  /** Whether our own multicast sends come back to this host's sockets. */
  setMulticastLoop(on: boolean): void {
    checkBool(on, 'on');
    const fd = this.#open('setMulticastLoop');
    call('setMulticastLoop', (n) =>
      this.family === 4
        ? n.setInt(fd, n.constants.IPPROTO_IP, n.constants.IP_MULTICAST_LOOP, on ? 1 : 0)
        : n.setInt(fd, n.constants.IPPROTO_IPV6, n.constants.IPV6_MULTICAST_LOOP, on ? 1 : 0),
    );
  }

  /**
   * Send one datagram (the IP payload; the kernel writes the IP header) to `dst`. Returns the bytes
   * sent. Throws `NativeSocketError` (e.g. `ERR_NATIVE_EADDRNOTAVAIL` for a source not on this host,
   * `ERR_NATIVE_ENETUNREACH`, `ERR_NATIVE_EAGAIN` when the send buffer is full).
   */
  send(data: Uint8Array, dst: string, options: SendOptions = {}): number {
    checkBytes(data, 'data');
    if (data.length > 65_535 - 40) throw new RangeError(`data too long for one datagram: ${data.length} bytes`);
    const d = checkAddress(dst, 'dst', this.family, true);
    const src = options.src === undefined ? null : checkAddress(options.src, 'src', this.family).address;
    const ifindex = options.interface === undefined ? this.ifindex : resolveInterface(options.interface);
    const scopeId = d.scopeId !== 0 ? d.scopeId : this.family === 6 && /^fe[89ab]/i.test(d.address) ? ifindex : 0;
    const fd = this.#open('send');
    return call(`send to ${dst}`, (n) => n.sendInet(fd, data, d.address, scopeId, src, ifindex));
  }

  /** Let the process exit while this socket is open (like `dgram.Socket.unref`). */
  unref(): this {
    this.#refed = false;
    if (this.#watcher !== undefined) native().watchRef(this.#watcher, false);
    return this;
  }

  ref(): this {
    this.#refed = true;
    if (this.#watcher !== undefined) native().watchRef(this.#watcher, true);
    return this;
  }

  /** Stop receiving and close the descriptor. Idempotent. */
  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    const b = native();
    if (this.#watcher !== undefined) b.unwatch(this.#watcher);
    this.#watcher = undefined;
    call('RawSocket.close', (n) => n.close(fd));
  }
}

// ---------------------------------------------------------------------------------------------
// PacketSocket

/** EtherTypes (host order). */
export const ETH_P = { ALL: 0x0003, IP: 0x0800, ARP: 0x0806, IPV6: 0x86dd } as const;

/** sll_pkttype of a received frame. */
export const PACKET_TYPE = { HOST: 0, BROADCAST: 1, MULTICAST: 2, OTHERHOST: 3, OUTGOING: 4 } as const;

export interface PacketSocketOptions {
  /** Interface (name or index) frames are sent on and received from. */
  interface: string | number;
  /**
   * EtherType to receive (host order: `ETH_P.ARP`, `ETH_P.IPV6`, `ETH_P.ALL`). Default 0: send only,
   * the kernel queues nothing for this socket.
   */
  protocol?: number;
}

export interface PacketFrame {
  /** The whole frame from the Ethernet header on. */
  data: Buffer;
  ifindex: number;
  /** EtherType (host order). */
  protocol: number;
  /** `PACKET_TYPE.*`. */
  pktType: number;
  /** Source MAC, `aa:bb:cc:dd:ee:ff`. */
  srcMac: string;
  truncated?: boolean;
}

export interface PacketSocketEvents {
  frame: (frame: PacketFrame) => void;
  error: (err: NativeSocketError) => void;
}

/** An AF_PACKET socket on one interface for whole Ethernet frames (CAP_NET_RAW). */
export class PacketSocket extends EventEmitter<PacketSocketEvents> {
  readonly ifindex: number;
  readonly protocol: number;
  #fd: number;
  #watcher: NativeWatcher | undefined;
  receiveErrors = 0;

  constructor(options: PacketSocketOptions) {
    super();
    if (typeof options !== 'object' || options === null) throw new TypeError('PacketSocket options must be an object');
    const protocol = options.protocol === undefined ? 0 : checkInt(options.protocol, 0, 0xffff, 'protocol');
    const ifindex = resolveInterface(options.interface);
    this.ifindex = ifindex;
    this.protocol = protocol;
    const b = native();
    this.#fd = call('PacketSocket', (n) => n.socket(b.constants.AF_PACKET, b.constants.SOCK_RAW, protocol));
    try {
      const fd = this.#fd;
      call('PacketSocket', (n) => n.bindPacket(fd, ifindex, protocol));
      if (protocol !== 0) {
        this.#watcher = call('PacketSocket', (n) =>
          n.watch(fd, b.constants.WATCH_PACKET, (err, value) => {
            if (err !== undefined && err !== null) {
              this.receiveErrors++;
              const e = toNativeError(err, 'PacketSocket receive');
              if (e instanceof NativeSocketError) this.emit('error', e);
              return;
            }
            const v = value as Omit<PacketFrame, 'srcMac'> & { srcMac: Buffer };
            this.emit('frame', { ...v, srcMac: formatMac(v.srcMac) });
          }),
        );
      }
    } catch (err) {
      this.close();
      throw err;
    }
  }

  get fd(): number {
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  /**
   * Send one Ethernet frame as given (destination MAC, source MAC, EtherType, payload; the source MAC
   * may be a virtual one). Returns the bytes sent.
   */
  send(frame: Uint8Array): number {
    checkBytes(frame, 'frame');
    if (frame.length < 14) throw new RangeError(`an Ethernet frame has at least 14 bytes, got ${frame.length}`);
    if (frame.length > 65_535) throw new RangeError(`frame too long: ${frame.length} bytes`);
    if (this.#fd < 0) throw new LvskitError('ERR_NATIVE_CLOSED', 'PacketSocket.send: socket is closed');
    const fd = this.#fd;
    const etherType = ((frame[12] ?? 0) << 8) | (frame[13] ?? 0);
    return call('PacketSocket.send', (n) => n.sendPacket(fd, frame, this.ifindex, etherType, frame.subarray(0, 6)));
  }

  unref(): this {
    if (this.#watcher !== undefined) native().watchRef(this.#watcher, false);
    return this;
  }

  ref(): this {
    if (this.#watcher !== undefined) native().watchRef(this.#watcher, true);
    return this;
  }

  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    const b = native();
    if (this.#watcher !== undefined) b.unwatch(this.#watcher);
    this.#watcher = undefined;
    call('PacketSocket.close', (n) => n.close(fd));
  }
}

function formatMac(bytes: Uint8Array): string {
  return [...bytes].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

// ---------------------------------------------------------------------------------------------
// TCP socket options (BGP session security)

export interface TcpMd5Key {
  /** The peer's address (a key is per peer); an IPv4 peer on an IPv6 socket is mapped for you. */
  address: string;
  /** Cover a prefix of peers instead of one (TCP_MD5SIG_EXT, Linux 4.13+). */
  prefixLength?: number;
  /** The password, 1-80 bytes (a string is taken as UTF-8). Empty removes the key for `address`. */
  key: string | Uint8Array;
  /**
   * Only for connections in this VRF (an L3 master device, name or index; TCP_MD5SIG_FLAG_IFINDEX,
   * Linux 5.6+). The kernel refuses (EINVAL) any other kind of interface: a key for a link-local
   * peer needs none, the address alone selects it.
   */
  vrf?: string | number;
}

/** Add (or, with an empty key, remove) an RFC 2385 TCP MD5 signature key on a TCP socket. */
export function setTcpMd5Sig(fd: number, md5: TcpMd5Key): void {
  checkFd(fd);
  const { address, prefixLength, key } = checkMd5(md5);
  const ifindex = md5.vrf === undefined ? 0 : resolveInterface(md5.vrf, 'md5.vrf');
  call(`TCP MD5 key for ${md5.address}`, (n) => n.tcpMd5Sig(fd, address, prefixLength, key, ifindex));
}

function checkMd5(md5: TcpMd5Key): { address: string; prefixLength: number; key: Uint8Array } {
  if (typeof md5 !== 'object' || md5 === null) throw new TypeError('md5 must be an object { address, key }');
  const a = checkAddress(md5.address, 'md5.address');
  const prefixLength = md5.prefixLength === undefined ? -1 : checkInt(md5.prefixLength, 0, a.family === 4 ? 32 : 128, 'md5.prefixLength');
  let key: Uint8Array;
  if (typeof md5.key === 'string') key = Buffer.from(md5.key, 'utf8');
  else if (md5.key instanceof Uint8Array) key = md5.key;
  else throw new TypeError('md5.key must be a string or a Uint8Array');
  if (key.length > 80) throw new RangeError(`md5.key is at most 80 bytes (TCP_MD5SIG_MAXKEYLEN), got ${key.length}`);
  return { address: a.address, prefixLength, key };
}

/**
 * GTSM (RFC 5082): drop segments that arrive with a TTL / hop limit below `ttl` (IP_MINTTL /
 * IPV6_MINHOPCOUNT; 0 turns it off). Set it on a listening socket to cover the handshake. On an
 * IPv6 socket with IPv4-mapped peers use family 4 as well (IPv4 packets are checked by IP_MINTTL).
 */
export function setMinTtl(fd: number, family: 4 | 6, ttl: number): void {
  checkFd(fd);
  checkFamily(family);
  checkInt(ttl, 0, 255, 'ttl');
  call('setMinTtl', (n) =>
    family === 4 ? n.setInt(fd, n.constants.IPPROTO_IP, n.constants.IP_MINTTL, ttl) : n.setInt(fd, n.constants.IPPROTO_IPV6, n.constants.IPV6_MINHOPCOUNT, ttl),
  );
}

/** TTL / hop limit of what the socket sends (IP_TTL / IPV6_UNICAST_HOPS): 255 for GTSM, or the eBGP multihop count. */
export function setTtl(fd: number, family: 4 | 6, ttl: number): void {
  checkFd(fd);
  checkFamily(family);
  checkInt(ttl, 1, 255, 'ttl');
  call('setTtl', (n) =>
    family === 4 ? n.setInt(fd, n.constants.IPPROTO_IP, n.constants.IP_TTL, ttl) : n.setInt(fd, n.constants.IPPROTO_IPV6, n.constants.IPV6_UNICAST_HOPS, ttl),
  );
}

/** SO_BINDTODEVICE: only traffic through `ifname` ('' unbinds). */
export function bindToDevice(fd: number, ifname: string): void {
  checkFd(fd);
  if (ifname !== '') checkIfname(ifname, 'ifname');
  call(`bind to device ${ifname}`, (n) => n.bindToDevice(fd, ifname));
}

/**
 * The descriptor behind a connected `net.Socket` or a listening `net.Server` (Node keeps it at
 * `_handle.fd` on Unix). Throws `ERR_NATIVE_NO_FD` before connect / listen or after close.
 */
export function socketFd(s: net.Socket | net.Server): number {
  const fd = (s as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    throw new LvskitError('ERR_NATIVE_NO_FD', 'socket has no descriptor (not yet connected or listening, or closed)');
  }
  return fd;
}

/** Options applied to a TCP descriptor before it connects or listens. */
export interface TcpSecurityOptions {
  /** TTL / hop limit of sent segments (255 for GTSM; the multihop count for eBGP multihop). */
  ttl?: number;
  /** GTSM: lowest TTL / hop limit accepted (RFC 5082); 255 for directly connected peers. */
  minTtl?: number;
  /** SO_BINDTODEVICE. */
  device?: string;
}

export interface ConnectTcpOptions extends TcpSecurityOptions {
  /** Peer address literal (IPv6 link-local: `fe80::1%eth0`). */
  host: string;
  port: number;
  localAddress?: string;
  localPort?: number;
  /** RFC 2385 password for the peer (1-80 bytes), set before the SYN is sent. */
  md5Key?: string | Uint8Array;
  signal?: AbortSignal;
  /** Give up connecting after this long (`ERR_TIMEOUT`). */
  timeoutMs?: number;
}

/**
 * Connect a TCP socket whose options (MD5 key, TTL, minimum TTL, device, local address) are set
 * before the SYN, and hand it to Node: resolves with a connected `net.Socket` (made with
 * `new net.Socket({ fd })`; no 'connect' event follows, it is connected already). The connect runs
 * non-blocking in the addon and is watched with libuv; abort or `timeoutMs` closes the descriptor
 * and rejects (`ERR_ABORTED` / `ERR_TIMEOUT`). A refused or unreachable peer rejects with
 * `NativeSocketError` (`ERR_NATIVE_ECONNREFUSED`, ...). A peer that drops our SYNs (wrong MD5 key,
 * GTSM) never answers: only the timeout or signal ends the attempt. With an MD5 key even a closed
 * port is silence, not ECONNREFUSED: the peer's unsigned RST is dropped like any unsigned segment.
 */
export async function connectTcp(options: ConnectTcpOptions): Promise<net.Socket> {
  if (typeof options !== 'object' || options === null) throw new TypeError('connectTcp options must be an object');
  const peer = checkAddress(options.host, 'host', undefined, true);
  const port = checkInt(options.port, 1, 65_535, 'port');
  const local = options.localAddress === undefined ? undefined : checkAddress(options.localAddress, 'localAddress', peer.family, true);
  const localPort = options.localPort === undefined ? 0 : checkInt(options.localPort, 0, 65_535, 'localPort');
  checkSecurity(options, peer.family);
  const md5 = options.md5Key === undefined ? undefined : checkMd5({ address: peer.address, key: options.md5Key });
  if (md5 !== undefined && md5.key.length === 0) throw new RangeError('md5Key must not be empty');
  if (options.timeoutMs !== undefined) checkInt(options.timeoutMs, 0, 0x7fff_ffff, 'timeoutMs');
  const signal = withTimeout(options.signal, options.timeoutMs);
  if (signal?.aborted) throw abortReason(signal, options.timeoutMs);

  const b = native();
  const c = b.constants;
  const fd = call('connectTcp', (n) => n.socket(peer.family === 4 ? c.AF_INET : c.AF_INET6, c.SOCK_STREAM, 0));
  let owned = true;
  try {
    applySecurity(fd, peer.family, options);
    if (md5 !== undefined) call(`TCP MD5 key for ${peer.address}`, (n) => n.tcpMd5Sig(fd, peer.address, -1, md5.key, 0));
    if (local !== undefined || localPort !== 0) {
      const addr = local?.address ?? (peer.family === 4 ? '0.0.0.0' : '::');
      call('connectTcp bind', (n) => n.bindInet(fd, addr, localPort, local?.scopeId ?? 0));
    }
    const connected = call(`connect to ${options.host} port ${port}`, (n) => n.connect(fd, peer.address, port, peer.scopeId));
    if (!connected) await waitWritable(b, fd, signal, options.timeoutMs, `connect to ${options.host} port ${port}`);
    const socket = new net.Socket({ fd, readable: true, writable: true });
    owned = false;
    return socket;
  } finally {
    if (owned) b.close(fd);
  }
}

export type CreateTcpConnectionOptions = Omit<ConnectTcpOptions, 'signal' | 'timeoutMs'>;

/**
 * `net.createConnection` with the options of `connectTcp` applied to the descriptor first: returns at
 * once a `net.Socket` that is connecting and behaves like Node's own (`'connect'` when established,
 * `'error'` with `ECONNREFUSED` ..., `setTimeout`, `destroy()` to give up). The descriptor is made and
 * configured (and bound to `localAddress`) by the addon, wrapped with `new net.Socket({ fd,
 * manualStart: true })` so Node does not start reading an unconnected socket, and then connected by
 * Node's `socket.connect()`. Bad arguments and failing options throw synchronously. For drivers with
 * a synchronous connect hook (the BGP session's `connect` option).
 */
export function createTcpConnection(options: CreateTcpConnectionOptions): net.Socket {
  if (typeof options !== 'object' || options === null) throw new TypeError('createTcpConnection options must be an object');
  const peer = checkAddress(options.host, 'host', undefined, true);
  const port = checkInt(options.port, 1, 65_535, 'port');
  const local = options.localAddress === undefined ? undefined : checkAddress(options.localAddress, 'localAddress', peer.family, true);
  const localPort = options.localPort === undefined ? 0 : checkInt(options.localPort, 0, 65_535, 'localPort');
  checkSecurity(options, peer.family);
  const md5 = options.md5Key === undefined ? undefined : checkMd5({ address: peer.address, key: options.md5Key });
  if (md5 !== undefined && md5.key.length === 0) throw new RangeError('md5Key must not be empty');

  const b = native();
  const c = b.constants;
  const fd = call('createTcpConnection', (n) => n.socket(peer.family === 4 ? c.AF_INET : c.AF_INET6, c.SOCK_STREAM, 0));
  let socket: net.Socket;
  try {
    applySecurity(fd, peer.family, options);
    if (md5 !== undefined) call(`TCP MD5 key for ${peer.address}`, (n) => n.tcpMd5Sig(fd, peer.address, -1, md5.key, 0));
    if (local !== undefined || localPort !== 0) {
      const addr = local?.address ?? (peer.family === 4 ? '0.0.0.0' : '::');
      call('createTcpConnection bind', (n) => n.bindInet(fd, addr, localPort, local?.scopeId ?? 0));
    }
    // `manualStart` (honoured by Node's net.Socket since v0.x, not in its typings) keeps the
    // constructor from reading the not yet connected descriptor; connect() starts reading.
    socket = new net.Socket({ fd, manualStart: true } as net.SocketConstructorOpts);
  } catch (err) {
    b.close(fd);
    throw err;
  }
  return socket.connect({ host: options.host, port });
}

function waitWritable(b: NativeBinding, fd: number, signal: AbortSignal | undefined, timeoutMs: number | undefined, what: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let watcher: NativeWatcher | undefined;
    const onAbort = (): void => {
      if (watcher !== undefined) b.unwatch(watcher);
      reject(abortReason(signal as AbortSignal, timeoutMs));
    };
    try {
      watcher = b.watch(fd, b.constants.WATCH_WRITABLE, (err) => {
        signal?.removeEventListener('abort', onAbort);
        if (err !== undefined && err !== null) reject(toNativeError(err, what));
        else resolve();
      });
    } catch (err) {
      reject(toNativeError(err, what));
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function checkSecurity(o: TcpSecurityOptions, _family: 4 | 6): void {
  if (o.ttl !== undefined) checkInt(o.ttl, 1, 255, 'ttl');
  if (o.minTtl !== undefined) checkInt(o.minTtl, 0, 255, 'minTtl');
  if (o.device !== undefined) checkIfname(o.device, 'device');
}

function applySecurity(fd: number, family: 4 | 6, o: TcpSecurityOptions): void {
  if (o.device !== undefined) bindToDevice(fd, o.device);
  if (o.ttl !== undefined) setTtl(fd, family, o.ttl);
  if (o.minTtl !== undefined) {
    setMinTtl(fd, family, o.minTtl);
    // IPv4-mapped peers of an IPv6 socket are checked against IP_MINTTL.
    if (family === 6) setMinTtl(fd, 4, o.minTtl);
  }
}

export interface ListenTcpOptions extends TcpSecurityOptions {
  /** Local address literal to listen on ('0.0.0.0', '::', '127.0.0.1', 'fe80::1%eth0'). */
  host: string;
  /** 0 for a port the kernel picks (see `server.address()`). */
  port: number;
  backlog?: number;
  /** RFC 2385 keys, one per peer (or prefix), in place before the socket listens. More: `setTcpMd5Sig(socketFd(server), ...)`. */
  md5?: readonly TcpMd5Key[];
  /** IPV6_V6ONLY for '::' (default: the system's, usually dual-stack). */
  ipv6Only?: boolean;
  /** The server to listen with (its 'connection' listeners already attached); default a new `net.Server`. */
  server?: net.Server;
}

/**
 * A listening TCP server whose descriptor got its MD5 keys, TTLs and device before it was bound and
 * listening, handed to Node with `server.listen({ fd }, backlog)` (Node calls listen(2) on it). Accepted connections inherit the keys and the minimum TTL.
 */
export async function listenTcp(options: ListenTcpOptions): Promise<net.Server> {
  if (typeof options !== 'object' || options === null) throw new TypeError('listenTcp options must be an object');
  const local = checkAddress(options.host, 'host', undefined, true);
  const port = checkInt(options.port, 0, 65_535, 'port');
  const backlog = options.backlog === undefined ? 511 : checkInt(options.backlog, 1, 65_535, 'backlog');
  checkSecurity(options, local.family);
  const md5 = (options.md5 ?? []).map((k) => ({ ...checkMd5(k), ifindex: k.vrf === undefined ? 0 : resolveInterface(k.vrf, 'md5.vrf') }));
  if (options.ipv6Only !== undefined) checkBool(options.ipv6Only, 'ipv6Only');
  if (options.server !== undefined && !(options.server instanceof net.Server)) throw new TypeError('server must be a net.Server');
  if (options.server?.listening === true) throw new TypeError('server is already listening');

  const b = native();
  const c = b.constants;
  const fd = call('listenTcp', (n) => n.socket(local.family === 4 ? c.AF_INET : c.AF_INET6, c.SOCK_STREAM, 0));
  let owned = true;
  try {
    call('listenTcp', (n) => n.setInt(fd, c.SOL_SOCKET, c.SO_REUSEADDR, 1));
    if (options.ipv6Only !== undefined && local.family === 6) {
      call('listenTcp', (n) => n.setInt(fd, c.IPPROTO_IPV6, c.IPV6_V6ONLY, options.ipv6Only ? 1 : 0));
    }
    applySecurity(fd, local.family, options);
    for (const k of md5) call(`TCP MD5 key for ${k.address}`, (n) => n.tcpMd5Sig(fd, k.address, k.prefixLength, k.key, k.ifindex));
    call(`bind ${options.host} port ${port}`, (n) => n.bindInet(fd, local.address, port, local.scopeId));
    const server = options.server ?? net.createServer();
    // From here the descriptor is Node's: it closes it when listen fails or the server closes.
    owned = false;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      server.listen({ fd }, backlog, () => {
        server.off('error', onError);
        resolve();
      });
    });
    return server;
  } finally {
    if (owned) b.close(fd);
  }
}
