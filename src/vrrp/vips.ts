/**
 * Virtual addresses and interface facts over rtnetlink (the `netlink` package's
 * `createRtNetlink()`), never by running `ip`. A transport file: it touches
 * netlink and nothing else.
 *
 * - `interfaceInfo(name)`: index, MAC, up / running, and the addresses a VRRP
 *   instance needs: the IPv4 primary address (the first non-secondary one:
 *   the advert source, RFC 9568 §5.1.1.1) and the IPv6 link-local address (the
 *   advert source, RFC 9568 §5.1.2.1).
 * - `addAddresses` / `removeAddresses`: RTM_NEWADDR / RTM_DELADDR, IPv4 as
 *   /32 and IPv6 as /128 unless told otherwise (keepalived's defaults for
 *   `virtual_ipaddress` without a prefix), IPv6 with IFA_F_NODAD so a new master
 *   answers at once (RFC 9568 §8.2.2: the master must accept and answer for the
 *   addresses right away; DAD would hold them tentative for a second). Adding an
 *   address that is there and removing one that is not are no-ops, so the driver
 *   can repeat them.
 * - `createMacvlan` / `setLinkUp` / `deleteLink`: a virtual MAC's macvlan
 *   (IFLA_LINKINFO from netlink-attrs.ts), taken over when a killed earlier run
 *   left the same one behind.
 *
 * Errors are `VrrpError`s: `ERR_VRRP_INTERFACE` (no such interface),
 * `ERR_VRRP_NETLINK` (the kernel refused, with `errno` name in the message and
 * the original error as `cause`), `ERR_VRRP_ADDRESS` (not an address),
 * `ERR_VRRP_CLOSED` (used after `close()`).
 */
import type * as NetlinkPackage from 'netlink';
import { type AddressFamily, addressFamily, formatIp, formatMac, parseIp, parseMac } from './address.js';
import { VrrpError } from './errors.js';
import { type MacvlanMode, macvlanLinkInfo, parseLinkInfo, u32le } from './netlink-attrs.js';

/** Codes this file raises (besides `ERR_VRRP_ADDRESS`). */
export type VrrpLinuxErrorCode = 'ERR_VRRP_INTERFACE' | 'ERR_VRRP_NETLINK' | 'ERR_VRRP_CLOSED' | 'ERR_VRRP_SOCKET' | 'ERR_VRRP_SYSCTL';

const AF_INET = 2;
const AF_INET6 = 10;
/** RT_SCOPE_UNIVERSE / RT_SCOPE_LINK (include/uapi/linux/rtnetlink.h). */
const RT_SCOPE_UNIVERSE = 0;
const RT_SCOPE_LINK = 253;
const DEFAULT_TIMEOUT_MS = 5_000;

type NetlinkModule = typeof NetlinkPackage;
type RtSocket = NetlinkPackage.RtNetlinkSocket;

export interface InterfaceAddress {
  family: AddressFamily;
  address: string;
  prefixLength: number;
  /** IFA_F_SECONDARY (IPv4: not the primary address of its subnet). */
  secondary: boolean;
  /** RT_SCOPE_LINK (IPv6 fe80::/10). */
  linkLocal: boolean;
  /** IFA_F_TENTATIVE: IPv6 DAD still running. */
  tentative: boolean;
}

export interface InterfaceInfo {
  name: string;
  index: number;
  /** `aa:bb:cc:dd:ee:ff`; '' for an interface without one. */
  mac: string;
  /** IFF_UP: administratively up. */
  up: boolean;
  /** IFF_RUNNING: operationally up (carrier). */
  running: boolean;
  addresses: InterfaceAddress[];
  /** The first non-secondary IPv4 address: a v4 instance's advert source. */
  primaryIpv4: string | undefined;
  /** The first non-tentative link-local IPv6 address: a v6 instance's advert source. */
  linkLocalIpv6: string | undefined;
}

export interface LinkChange {
  index: number;
  name: string;
  /** IFF_UP. */
  up: boolean;
  /** IFF_RUNNING (carrier). */
  running: boolean;
}

export interface VipOptions {
  signal?: AbortSignal;
  /** Prefix length per address text (default 32 / 128). */
  prefixLength?: (address: string) => number | undefined;
}

async function loadNetlink(): Promise<NetlinkModule> {
  try {
    const mod = (await import('netlink')) as unknown as { default?: NetlinkModule } & NetlinkModule;
    const nl = mod.createRtNetlink === undefined ? mod.default : mod;
    if (nl?.createRtNetlink === undefined) throw new Error('the netlink package has no createRtNetlink');
    return nl;
  } catch (e) {
    throw new VrrpError('ERR_VRRP_NETLINK', `rtnetlink unavailable: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/** `Request rejected: EEXIST` (the netlink package's message) -> `EEXIST`. */
function errnoOf(e: unknown): string | undefined {
  const m = e instanceof Error ? /Request rejected: (\w+)/.exec(e.message) : null;
  return m?.[1];
}


/** Wait for every promise; reject with the first failure (in order) once all have settled. */
async function settleAll(ps: readonly Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(ps);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}

/** An rtnetlink socket for interface facts and virtual addresses in this process's network namespace. */
export class VipManager {
  readonly #rt: RtSocket;
  readonly #timeoutMs: number;
  #closed = false;
  #watchers = 0;
  #tail: Promise<unknown> = Promise.resolve();
  /** Requests queued or in flight. */
  #inFlight = 0;

  private constructor(rt: RtSocket, timeoutMs: number) {
    this.#rt = rt;
    this.#timeoutMs = timeoutMs;
  }

  /** Open the rtnetlink socket. `timeoutMs` bounds every request (default 5 s). */
  static async open(opts: { timeoutMs?: number } = {}): Promise<VipManager> {
    const nl = await loadNetlink();
    let rt: RtSocket;
    try {
      rt = nl.createRtNetlink();
    } catch (e) {
      throw new VrrpError('ERR_VRRP_NETLINK', `cannot open rtnetlink: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    // An 'error' event without a listener would end the process; requests fail by their own timeout.
    rt.socket.on('error', () => {});
    return new VipManager(rt, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  }

  #check(): void {
    if (this.#closed) throw new VrrpError('ERR_VRRP_CLOSED', 'VipManager is closed');
  }

  /**
   * One request at a time: the netlink package reassembles multipart (dump) replies per socket, not
   * per request, so two dumps in flight would mix. Each request is bounded by `timeoutMs`.
   */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    // Nothing in flight: start now, so the request reaches the kernel before this call returns (the
    // netlink package calls sendmsg at once on an idle socket, and rtnetlink carries out an address
    // change inside sendmsg). A new master's GARP/NA can then follow in the same tick (idle()).
    let run: Promise<T>;
    if (this.#inFlight === 0) {
      try {
        run = fn();
      } catch (e) {
        run = Promise.reject(e as Error);
      }
    } else {
      run = this.#tail.then(fn, fn);
    }
    this.#inFlight++;
    this.#tail = run.then(
      () => void this.#inFlight--,
      () => void this.#inFlight--,
    );
    return run;
  }

  /** No request queued or in flight: the next one starts (and an address change takes effect) before its call returns. */
  get idle(): boolean {
    return this.#inFlight === 0 && !this.#closed;
  }

  async #request<T>(what: string, fn: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    this.#check();
    signal?.throwIfAborted();
    try {
      if (signal === undefined) return await this.#serial(fn);
      let onAbort: (() => void) | undefined;
      const aborted = new Promise<never>((_, reject) => {
        onAbort = () => reject(signal.reason as Error);
        signal.addEventListener('abort', onAbort, { once: true });
      });
      try {
        return await Promise.race([this.#serial(fn), aborted]);
      } finally {
        if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
      }
    } catch (e) {
      if (signal?.aborted === true && e === signal.reason) throw e;
      const errno = errnoOf(e);
      throw new VrrpError('ERR_VRRP_NETLINK', `${what}: ${errno ?? (e instanceof Error ? e.message : String(e))}`, { cause: e });
    }
  }

  /** The interface's index, or `ERR_VRRP_INTERFACE`. */
  async interfaceIndex(name: string, opts: { signal?: AbortSignal } = {}): Promise<number> {
    return (await this.interfaceInfo(name, opts)).index;
  }

  /** Index, MAC, flags and addresses of an interface (by name). */
  async interfaceInfo(name: string, opts: { signal?: AbortSignal } = {}): Promise<InterfaceInfo> {
    const links = await this.#request('RTM_GETLINK', () => this.#rt.getLinks(undefined, undefined, { timeout: this.#timeoutMs }), opts.signal);
    const link = links.find((l) => l.attrs.ifname === name);
    const index = link?.data.index;
    if (link === undefined || index === undefined) throw new VrrpError('ERR_VRRP_INTERFACE', `no interface ${name}`);
    const addresses = await this.addresses(index, opts);
    const primaryIpv4 = addresses.find((a) => a.family === 'ipv4' && !a.secondary)?.address;
    const linkLocalIpv6 = addresses.find((a) => a.family === 'ipv6' && a.linkLocal && !a.tentative)?.address;
    return {
      name,
      index,
      mac: link.attrs.address === undefined ? '' : formatMac(link.attrs.address),
      up: link.data.flags?.up === true,
      running: link.data.flags?.running === true,
      addresses,
      primaryIpv4,
      linkLocalIpv6,
    };
  }

  /** Addresses on the interface with this index, in the kernel's order (IPv4 primary first). */
  async addresses(index: number, opts: { signal?: AbortSignal } = {}): Promise<InterfaceAddress[]> {
    const msgs = await this.#request('RTM_GETADDR', () => this.#rt.getAddresses(undefined, undefined, { timeout: this.#timeoutMs }), opts.signal);
    const out: InterfaceAddress[] = [];
    for (const m of msgs) {
      if (m.data.index !== index) continue;
      const fam = m.data.family === AF_INET ? 'ipv4' : m.data.family === AF_INET6 ? 'ipv6' : undefined;
      // IPv4: IFA_LOCAL is ours (IFA_ADDRESS is the peer on point-to-point); IPv6 has only IFA_ADDRESS.
      const raw = fam === 'ipv4' ? (m.attrs.local ?? m.attrs.address) : m.attrs.address;
      if (fam === undefined || raw === undefined) continue;
      const flags = m.attrs.flags ?? m.data.flags ?? {};
      out.push({
        family: fam,
        address: formatIp(raw),
        prefixLength: m.data.prefixlen ?? 0,
        secondary: flags.secondary === true,
        linkLocal: m.data.scope === RT_SCOPE_LINK,
        tentative: flags.tentative === true,
      });
    }
    return out;
  }

  /**
   * Add addresses (IPv6 with nodad); ones already there are left as they are. The requests go out
   * together (one acknowledgement each); when the manager is `idle`, the kernel has every address
   * before this call returns, and the promise carries the acknowledgements.
   */
  async addAddresses(ifindex: number, addresses: readonly string[], opts: VipOptions = {}): Promise<void> {
    const reqs = addresses.map((a) => ({ a, ...this.#parse(a, opts) }));
    if (reqs.length === 0) return;
    const what = `add ${reqs.map((r) => `${r.a}/${r.prefixLength}`).join(', ')} on ifindex ${ifindex}`;
    await this.#request(
      what,
      () =>
        settleAll(
          reqs.map(({ a, family, bytes, prefixLength }) =>
            this.#rt
              .newAddress(
                {
                  family: family === 'ipv4' ? AF_INET : AF_INET6,
                  prefixlen: prefixLength,
                  index: ifindex,
                  scope: family === 'ipv6' && a.toLowerCase().startsWith('fe80') ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE,
                },
                // IFA_F_NODAD as the u32 IFA_FLAGS attribute (RFC 4862 §5.4: a VIP moves, it is not a new address).
                { local: Buffer.from(bytes), address: Buffer.from(bytes), ...(family === 'ipv6' ? { flags: { nodad: true } } : {}) },
                { timeout: this.#timeoutMs, flags: 0x400 /* NLM_F_CREATE */ | 0x200 /* NLM_F_EXCL */ },
              )
              .catch((e: unknown) => {
                if (errnoOf(e) !== 'EEXIST') throw e;
              }),
          ),
        ),
      opts.signal,
    );
  }

  /** Remove addresses; ones not there are not an error. Sent together, like `addAddresses`. */
  async removeAddresses(ifindex: number, addresses: readonly string[], opts: VipOptions = {}): Promise<void> {
    const reqs = addresses.map((a) => ({ a, ...this.#parse(a, opts) }));
    if (reqs.length === 0) return;
    const what = `remove ${reqs.map((r) => `${r.a}/${r.prefixLength}`).join(', ')} from ifindex ${ifindex}`;
    await this.#request(
      what,
      () =>
        settleAll(
          reqs.map(({ family, bytes, prefixLength }) =>
            this.#rt
              .delAddress(
                { family: family === 'ipv4' ? AF_INET : AF_INET6, prefixlen: prefixLength, index: ifindex },
                { local: Buffer.from(bytes), address: Buffer.from(bytes) },
                { timeout: this.#timeoutMs },
              )
              .catch((e: unknown) => {
                const errno = errnoOf(e);
                // EADDRNOTAVAIL: not on the interface; ENODEV: the interface went away with it.
                if (errno !== 'EADDRNOTAVAIL' && errno !== 'ENODEV') throw e;
              }),
          ),
        ),
      opts.signal,
    );
  }

  #parse(a: string, opts: VipOptions): { family: AddressFamily; bytes: Uint8Array; prefixLength: number } {
    const family = addressFamily(a);
    if (family === undefined) throw new VrrpError('ERR_VRRP_ADDRESS', `'${a}' is not an IPv4 or IPv6 address`);
    const bytes = parseIp(a, family);
    const max = family === 'ipv4' ? 32 : 128;
    const prefixLength = opts.prefixLength?.(a) ?? max;
    if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > max) {
      throw new VrrpError('ERR_VRRP_CONFIG', `prefix length ${prefixLength} for ${a}`);
    }
    return { family, bytes, prefixLength };
  }

  /**
   * Create a macvlan `name` on the interface with index `lower`, with MAC
   * `mac`, in `mode` (default private, as keepalived's VMACs), left down.
   * An interface of that name that is already a macvlan on `lower` with that
   * MAC (left by a killed earlier run) is taken over: `created` is false.
   * Any other interface of that name is `ERR_VRRP_CONFIG`.
   */
  async createMacvlan(
    lower: number,
    name: string,
    mac: string,
    opts: { mode?: MacvlanMode; signal?: AbortSignal } = {},
  ): Promise<{ index: number; created: boolean }> {
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(name)) throw new VrrpError('ERR_VRRP_CONFIG', `'${name}' is not a usable interface name`);
    const macBuf = Buffer.from(parseMac(mac));
    const find = async (): Promise<NetlinkPackage.rt.LinkMessage | undefined> =>
      (await this.#request('RTM_GETLINK', () => this.#rt.getLinks(undefined, undefined, { timeout: this.#timeoutMs }), opts.signal)).find(
        (l) => l.attrs.ifname === name,
      );
    const existing = await find();
    if (existing !== undefined) {
      const info = existing.attrs.linkinfo === undefined ? undefined : parseLinkInfo(existing.attrs.linkinfo);
      const linkIndex = existing.attrs.link === undefined || existing.attrs.link.length < 4 ? undefined : existing.attrs.link.readUInt32LE(0);
      const sameMac = existing.attrs.address !== undefined && Buffer.compare(existing.attrs.address, macBuf) === 0;
      if (info?.kind !== 'macvlan' || linkIndex !== lower || !sameMac || existing.data.index === undefined) {
        throw new VrrpError('ERR_VRRP_CONFIG', `interface ${name} exists and is not a macvlan with MAC ${mac} on ifindex ${lower}`);
      }
      return { index: existing.data.index, created: false };
    }
    await this.#request(
      `create macvlan ${name} on ifindex ${lower}`,
      () =>
        this.#rt.newLink(
          { index: 0 },
          { ifname: name, address: macBuf, link: Buffer.from(u32le(lower)), linkinfo: Buffer.from(macvlanLinkInfo(opts.mode ?? 'private')) },
          { timeout: this.#timeoutMs, flags: 0x400 /* NLM_F_CREATE */ | 0x200 /* NLM_F_EXCL */ },
        ),
      opts.signal,
    );
    const made = await find();
    if (made?.data.index === undefined) throw new VrrpError('ERR_VRRP_NETLINK', `macvlan ${name} not found after creating it`);
    return { index: made.data.index, created: true };
  }

  /** Set an interface administratively up or down (IFF_UP). */
  async setLinkUp(index: number, up: boolean, opts: { signal?: AbortSignal } = {}): Promise<void> {
    await this.#request(
      `set ifindex ${index} ${up ? 'up' : 'down'}`,
      () => this.#rt.setLink({ index, flags: up ? { up: true } : {}, change: { up: true } }, {}, { timeout: this.#timeoutMs }),
      opts.signal,
    );
  }

  /** Delete an interface (a macvlan this process made); one already gone is not an error. */
  async deleteLink(index: number, opts: { signal?: AbortSignal } = {}): Promise<void> {
    try {
      await this.#request(`delete ifindex ${index}`, () => this.#rt.delLink({ index }, {}, { timeout: this.#timeoutMs }), opts.signal);
    } catch (e) {
      if (e instanceof VrrpError && errnoOf(e.cause) === 'ENODEV') return;
      throw e;
    }
  }

  /**
   * Follow link changes (RTNLGRP_LINK): `fn` gets every RTM_NEWLINK the kernel
   * announces, with IFF_UP and IFF_RUNNING (an interface that lost carrier or
   * was set down). Returns the function that stops following.
   */
  watchLinks(fn: (e: LinkChange) => void): () => void {
    this.#check();
    const onMessage = (msgs: readonly { kind: string }[]): void => {
      for (const m of msgs) {
        if (m.kind !== 'link') continue;
        const l = m as NetlinkPackage.rt.LinkMessage;
        const index = l.data.index;
        if (index === undefined) continue;
        fn({ index, name: l.attrs.ifname ?? '', up: l.data.flags?.up === true, running: l.data.flags?.running === true });
      }
    };
    if (this.#watchers++ === 0) this.#rt.addMembership('LINK');
    this.#rt.on('message', onMessage);
    return () => {
      this.#rt.off('message', onMessage);
      if (--this.#watchers === 0 && !this.#closed) this.#rt.dropMembership('LINK');
    };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#rt.socket.close();
    } catch {
      // already closed
    }
  }
}
