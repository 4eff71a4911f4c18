/**
 * `LinuxVrrpTransport`: the `VrrpTransport` of router.ts on Linux, over
 * lvskit's native addon (src/util/native.ts: `RawSocket`, `PacketSocket`) and
 * rtnetlink (vips.ts). The one VRRP file that opens sockets.
 *
 * - Adverts: one raw socket for IP protocol 112 per interface and family
 *   (shared by the instances on it), SO_BINDTODEVICE the interface, multicast
 *   and unicast TTL / hop limit 255 (RFC 9568 §5.1.1.3, §5.1.2.3), multicast
 *   loop off (our own adverts never come back as a peer's), joined to
 *   224.0.0.18 / ff02::12 on the interface (RFC 9568 §5.1.1.2, §5.1.2.2) unless
 *   every instance there uses unicast peers. Sent from the address the driver
 *   gives (the instance's primary address; IPv6 its link-local, RFC 9568
 *   §5.1.2.1) through IP_PKTINFO / IPV6_PKTINFO on the interface. The payload is
 *   summed already, so IPV6_CHECKSUM stays off and a bad checksum from a peer
 *   reaches validation to be counted.
 * - Receiving: each datagram becomes a `ReceivedPacket` (the addon strips the
 *   IPv4 header and reports its TTL; IPv6 hop limit and destination come from
 *   ancillary data; link-local sources come without a zone) and goes to the
 *   attached router with the arrival interface (RFC 9568 §7.1: the VRID must be
 *   configured on the receiving interface). A TTL the addon could not learn
 *   (-1) is passed on as is: validation discards it, which is the safe side.
 * - Frames (gratuitous ARP, unsolicited NA): an AF_PACKET socket per interface,
 *   frames sent as built (codec-link.ts).
 * - Addresses: rtnetlink through `VipManager` (vips.ts), IPv6 with nodad.
 * - Virtual MAC (an instance's `vmac`, keepalived's `use_vmac`): a macvlan
 *   (private mode) on the instance's interface, named `vrrp.<VRID>` (IPv6:
 *   `vrrp6.<VRID>`) unless named, with MAC 00:00:5e:00:01:VRID / 00:00:5e:00:02:VRID
 *   (RFC 9568 §7.3), made over rtnetlink and deleted by `close()`. Adverts,
 *   GARP / NA and the virtual addresses all use it, so the switch learns the
 *   virtual MAC where the master is. The interface gets arp_ignore 1 (it must not
 *   answer ARP for addresses that now live on the macvlan with its own MAC) and
 *   arp_announce 2 (its ARP requests must not name a virtual address as sender,
 *   or neighbours learn the interface's MAC for it), both put back on close; the macvlan arp_ignore 1, rp_filter 0, no
 *   IPv6 address of its own (addr_gen_mode none: both routers' macvlans share a
 *   MAC, an EUI-64 link-local would collide); an IPv6 instance's macvlan gets a
 *   copy of the interface's link-local address, the advert source (RFC 9568
 *   §5.1.2.1). The router's `mac` must be `virtualMac(vrid, family)`:
 *   `macOf(instance)` says which MAC an instance uses.
 * - Accept_Mode (RFC 9568 §6.1): an instance with `accept: false` that is not
 *   the address owner (priority 255) gets nftables rules (accept.ts) dropping
 *   packets to its virtual addresses; default true, as keepalived without
 *   `vrrp_strict`.
 * - Links: with `watchLinks`, RTM_NEWLINK changes become `link` events
 *   (`{ interface, up }`, up meaning IFF_UP and IFF_RUNNING); `attach()` feeds
 *   them to the router as the tracked object `linkObject(interface)`, so an
 *   instance tracking it (weight 0) goes to fault and drops its addresses when
 *   its link dies, as keepalived's FAULT state does.
 */
import { EventEmitter } from 'eventemitter3';
import { type Logger, noopLogger } from '../util/logger.js';
import { PacketSocket, RawSocket, type RawMessage } from '../util/native.js';
import type { AddressFamily } from './address.js';
import type { ReceivedPacket } from './codec-receive.js';
import { IPPROTO_VRRP, VRRP_GROUP_V4, VRRP_GROUP_V6, VRRP_TTL } from './constants.js';
import { VrrpError } from './errors.js';
import type { VrrpTransport } from './router.js';
import { type InterfaceInfo, VipManager } from './vips.js';
import { AcceptFilter } from './accept.js';
import { virtualMac } from './codec-link.js';
import { PRIORITY_OWNER } from './constants.js';
import { readSysctl, writeSysctl } from './sysctl.js';

/** What the transport needs of each instance (`VrrpInstanceOptions` has all of it). */
export interface LinuxTransportInstance {
  name: string;
  interface?: string;
  family: AddressFamily;
  unicastPeers?: readonly string[];
  /** Needed with `vmac`: the virtual MAC's last byte and the macvlan's default name. */
  vrid?: number;
  /** Use a virtual MAC through a macvlan: `true` for `vrrp.<VRID>` / `vrrp6.<VRID>`, or the macvlan's name. */
  vmac?: boolean | string;
  /** RFC 9568 §6.1 Accept_Mode; `false` drops packets to `addresses` (nftables) unless `priority` is 255. Default true. */
  accept?: boolean;
  priority?: number;
  addresses?: readonly string[];
}

/** Name of the macvlan an instance with `vmac: true` gets (keepalived's `vrrp.<VRID>`; IPv6 `vrrp6.<VRID>`). */
export function vmacName(vrid: number, family: AddressFamily): string {
  return family === 'ipv4' ? `vrrp.${vrid}` : `vrrp6.${vrid}`;
}

interface VmacLink {
  name: string;
  index: number;
  lower: string;
  created: boolean;
}

export interface LinuxTransportOptions {
  instances: readonly LinuxTransportInstance[];
  /** Prefix length of a virtual address when added (default 32 / 128). */
  prefixLength?: (instance: string, address: string) => number | undefined;
  /** Follow link changes over rtnetlink (`link` events; `attach` feeds them to the router). Default true. */
  watchLinks?: boolean;
  /** An rtnetlink manager to use (closed with the transport only when opened by it). */
  vips?: VipManager;
  logger?: Logger;
}

/** The tracked-object name `attach()` uses for an interface's link state. */
export function linkObject(ifname: string): string {
  return `link:${ifname}`;
}

export interface LinuxTransportEvents {
  /** A datagram for protocol 112 arrived (before any validation). */
  packet: (packet: ReceivedPacket, from: { interface: string }) => void;
  /** An interface the transport uses went up or down. */
  link: (e: { interface: string; up: boolean }) => void;
  /** A receive failed; the socket keeps receiving. */
  error: (e: { interface: string; error: unknown }) => void;
}

/** What `attach` drives: a `VrrpRouter`. */
export interface ReceivingRouter {
  receive(packet: ReceivedPacket, from?: { interface?: string }): void;
  track(object: string, up: boolean): void;
}

interface Channel {
  ifname: string;
  family: AddressFamily;
  socket: RawSocket;
}

export class LinuxVrrpTransport extends EventEmitter<LinuxTransportEvents> implements VrrpTransport {
  readonly #vips: VipManager;
  readonly #ownVips: boolean;
  readonly #log: Logger;
  readonly #byInstance = new Map<string, { ifname: string; ifindex: number; family: AddressFamily; channel: Channel; mac: string }>();
  readonly #vmacs: VmacLink[] = [];
  /** arp_ignore / arp_announce of interfaces before a macvlan went on them, put back on close. */
  readonly #arpSaved = new Map<string, { ignore: number; announce: number }>();
  #accept: AcceptFilter | undefined;
  readonly #channels: Channel[] = [];
  readonly #frames = new Map<string, PacketSocket>();
  readonly #linkUp = new Map<string, boolean>();
  readonly #joined = new WeakMap<RawSocket, boolean>();
  readonly #prefixLength: LinuxTransportOptions['prefixLength'];
  #unwatch: (() => void) | undefined;
  #closed = false;

  private constructor(vips: VipManager, own: boolean, opts: LinuxTransportOptions) {
    super();
    this.#vips = vips;
    this.#ownVips = own;
    this.#log = opts.logger ?? noopLogger;
    this.#prefixLength = opts.prefixLength;
  }

  /**
   * Open the sockets for every instance's interface and family and join the
   * groups. Throws `VrrpError` (`ERR_VRRP_CONFIG` for an instance without an
   * interface, `ERR_VRRP_INTERFACE`, `ERR_VRRP_SOCKET` with the native error as
   * cause) after closing what it opened.
   */
  static async open(opts: LinuxTransportOptions): Promise<LinuxVrrpTransport> {
    const own = opts.vips === undefined;
    const vips = opts.vips ?? (await VipManager.open());
    const t = new LinuxVrrpTransport(vips, own, opts);
    try {
      await t.#setup(opts);
    } catch (e) {
      await t.close();
      throw e;
    }
    return t;
  }

  async #setup(opts: LinuxTransportOptions): Promise<void> {
    const infos = new Map<string, InterfaceInfo>();
    for (const i of opts.instances) {
      if (i.interface === undefined) throw new VrrpError('ERR_VRRP_CONFIG', `instance ${i.name}: no interface`);
      const ifname = i.interface;
      let info = infos.get(ifname);
      if (info === undefined) {
        info = await this.#vips.interfaceInfo(ifname);
        infos.set(ifname, info);
        this.#linkUp.set(ifname, info.up && info.running);
      }
      // With a virtual MAC, everything but link tracking happens on the macvlan.
      let io = { ifname, index: info.index, mac: info.mac };
      if (i.vmac !== undefined && i.vmac !== false) io = await this.#vmac(i, info);
      const ioName = io.ifname;
      let channel = this.#channels.find((c) => c.ifname === ioName && c.family === i.family);
      if (channel === undefined) {
        channel = this.#openChannel(ioName, i.family, ifname);
        this.#channels.push(channel);
      }
      const group = i.family === 'ipv4' ? VRRP_GROUP_V4 : VRRP_GROUP_V6;
      const joined = this.#joined.get(channel.socket) ?? false;
      if (i.unicastPeers === undefined && !joined) {
        try {
          channel.socket.joinGroup(group, ioName);
        } catch (e) {
          throw new VrrpError('ERR_VRRP_SOCKET', `join ${group} on ${ioName}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
        }
        this.#joined.set(channel.socket, true);
      }
      if (!this.#frames.has(ioName)) {
        try {
          this.#frames.set(ioName, new PacketSocket({ interface: ioName }));
        } catch (e) {
          throw new VrrpError('ERR_VRRP_SOCKET', `packet socket on ${ioName}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
        }
      }
      this.#byInstance.set(i.name, { ifname: ioName, ifindex: io.index, family: i.family, channel, mac: io.mac });
    }
    // RFC 9568 §6.1: Accept_Mode false, and not the owner: drop what is addressed to the virtual addresses.
    const blocked = opts.instances.filter((i) => i.accept === false && i.priority !== PRIORITY_OWNER).flatMap((i) => i.addresses ?? []);
    if (blocked.length > 0) {
      this.#accept = await AcceptFilter.open();
      await this.#accept.set(blocked);
      this.#log.info({ addresses: blocked }, 'accept mode off: packets to the virtual addresses are dropped (nftables)');
    }
    if (opts.watchLinks !== false) {
      const names = new Map([...infos.values()].map((i) => [i.index, i.name]));
      this.#unwatch = this.#vips.watchLinks((l) => {
        const ifname = names.get(l.index);
        if (ifname === undefined) return;
        const up = l.up && l.running;
        if (this.#linkUp.get(ifname) === up) return;
        this.#linkUp.set(ifname, up);
        this.#log.info({ interface: ifname, up }, `link ${ifname} ${up ? 'up' : 'down'}`);
        this.emit('link', { interface: ifname, up });
      });
    }
  }

  /** Make (or take over) an instance's macvlan and set it up; returns where its I/O goes. */
  async #vmac(i: LinuxTransportInstance, base: InterfaceInfo): Promise<{ ifname: string; index: number; mac: string }> {
    if (i.vrid === undefined) throw new VrrpError('ERR_VRRP_CONFIG', `instance ${i.name}: vmac needs vrid`);
    const mac = virtualMac(i.vrid, i.family);
    const name = typeof i.vmac === 'string' ? i.vmac : vmacName(i.vrid, i.family);
    const { index, created } = await this.#vips.createMacvlan(base.index, name, mac);
    this.#vmacs.push({ name, index, lower: base.name, created });
    // The interface must not answer ARP for addresses on the macvlan (with its own MAC), nor the
    // macvlan for the interface's (arp_ignore 1: only for addresses on the receiving interface).
    // And its own ARP requests must not name a virtual address as sender (arp_announce 2): a
    // neighbour that hears one (the master resolving a client it answers) would point its entry for
    // the virtual address at the interface's MAC.
    if (!this.#arpSaved.has(base.name)) {
      const saved = { ignore: await readSysctl(`ipv4/conf/${base.name}/arp_ignore`), announce: await readSysctl(`ipv4/conf/${base.name}/arp_announce`) };
      this.#arpSaved.set(base.name, saved);
      await writeSysctl(`ipv4/conf/${base.name}/arp_ignore`, 1);
      await writeSysctl(`ipv4/conf/${base.name}/arp_announce`, 2);
    }
    await writeSysctl(`ipv4/conf/${name}/arp_ignore`, 1);
    // Replies to the virtual addresses leave by the interface's routes, not the macvlan's.
    await writeSysctl(`ipv4/conf/${name}/rp_filter`, 0);
    // Both routers' macvlans share the MAC: no EUI-64 link-local (it would collide), no DAD.
    await writeSysctl(`ipv6/conf/${name}/addr_gen_mode`, 1);
    await writeSysctl(`ipv6/conf/${name}/accept_dad`, 0);
    if (i.family === 'ipv6') {
      // RFC 9568 §5.1.2.1: adverts come from the link-local address; the kernel only sends from
      // a link-local address configured on the outgoing interface.
      if (base.linkLocalIpv6 === undefined) throw new VrrpError('ERR_VRRP_INTERFACE', `${base.name} has no link-local IPv6 address for ${name}`);
      await this.#vips.addAddresses(index, [base.linkLocalIpv6], { prefixLength: () => 64 });
    }
    await this.#vips.setLinkUp(index, true);
    this.#log.info({ interface: base.name, vmac: name, mac, created }, `virtual MAC ${mac} on ${name}`);
    return { ifname: name, index, mac };
  }

  /** A raw socket on `ifname`; what it receives is reported as arriving on `reportAs` (the instance's interface, under its macvlan). */
  #openChannel(ifname: string, family: AddressFamily, reportAs: string): Channel {
    let socket: RawSocket;
    try {
      socket = new RawSocket({
        family: family === 'ipv4' ? 4 : 6,
        protocol: IPPROTO_VRRP,
        interface: ifname,
        ttl: VRRP_TTL,
        multicastTtl: VRRP_TTL,
        multicastLoop: false,
      });
    } catch (e) {
      throw new VrrpError('ERR_VRRP_SOCKET', `raw socket (${family}, protocol 112) on ${ifname}: ${e instanceof Error ? e.message : String(e)}`, {
        cause: e,
      });
    }
    socket.on('message', (m: RawMessage) => {
      if (m.truncated === true) return;
      const packet: ReceivedPacket = { family, src: m.src, dst: m.dst, ttl: m.ttl, protocol: IPPROTO_VRRP, payload: m.data };
      this.emit('packet', packet, { interface: reportAs });
    });
    socket.on('error', (error) => this.emit('error', { interface: reportAs, error }));
    return { ifname, family, socket };
  }

  /** Link state as last seen (true when not known). */
  linkUp(ifname: string): boolean {
    return this.#linkUp.get(ifname) ?? true;
  }

  /**
   * Hand received packets to the router and feed it link changes as
   * `linkObject(ifname)` (the current state first). Returns a detach function.
   */
  attach(router: ReceivingRouter): () => void {
    const onPacket = (p: ReceivedPacket, from: { interface: string }): void => router.receive(p, from);
    const onLink = (e: { interface: string; up: boolean }): void => router.track(linkObject(e.interface), e.up);
    this.on('packet', onPacket);
    this.on('link', onLink);
    return () => {
      this.off('packet', onPacket);
      this.off('link', onLink);
    };
  }

  /** The interface facts (MAC, primary IPv4, link-local IPv6) an instance's options need. */
  interfaceInfo(ifname: string, opts: { signal?: AbortSignal } = {}): Promise<InterfaceInfo> {
    return this.#vips.interfaceInfo(ifname, opts);
  }

  /** The MAC an instance's GARP / NA must come from: the virtual MAC with `vmac`, else the interface's. */
  macOf(instance: string): string {
    return this.#instance(instance).mac;
  }

  /** The interface an instance's adverts, frames and addresses use (its macvlan with `vmac`). */
  ioInterface(instance: string): string {
    return this.#instance(instance).ifname;
  }

  #instance(name: string): { ifname: string; ifindex: number; family: AddressFamily; channel: Channel; mac: string } {
    if (this.#closed) throw new VrrpError('ERR_VRRP_CLOSED', 'transport is closed');
    const i = this.#byInstance.get(name);
    if (i === undefined) throw new VrrpError('ERR_VRRP_CONFIG', `transport has no instance ${name}`);
    return i;
  }

  sendAdvert(instance: string, packet: { family: AddressFamily; src: string; dst: string; payload: Uint8Array }): void {
    const i = this.#instance(instance);
    // By index: no if_nametoindex per advert.
    i.channel.socket.send(packet.payload, packet.dst, { src: packet.src, interface: i.ifindex });
  }

  sendFrame(instance: string, frame: Uint8Array): void {
    const i = this.#instance(instance);
    const s = this.#frames.get(i.ifname);
    if (s === undefined) throw new VrrpError('ERR_VRRP_CONFIG', `no packet socket on ${i.ifname}`);
    s.send(frame);
  }

  async addAddresses(instance: string, addresses: readonly string[]): Promise<void> {
    const i = this.#instance(instance);
    await this.#vips.addAddresses(i.ifindex, addresses, this.#prefixOpts(instance));
  }

  /**
   * A new master's addresses and GARP/NA, as soon as the kernel has the addresses: with no other
   * rtnetlink request in flight, the RTM_NEWADDRs are carried out inside their sendmsg (before
   * `addAddresses` returns), so the frames leave in the same tick, without waiting a loop turn for
   * the acknowledgements; otherwise after them. The promise carries the acknowledgements.
   */
  claim(instance: string, addresses: readonly string[], frames: readonly Uint8Array[]): Promise<void> {
    const i = this.#instance(instance);
    const now = this.#vips.idle;
    const added = this.#vips.addAddresses(i.ifindex, addresses, this.#prefixOpts(instance));
    if (now) {
      try {
        for (const f of frames) this.sendFrame(instance, f);
      } catch (e) {
        return added.then(() => Promise.reject(e as Error));
      }
      return added;
    }
    return added.then(() => {
      for (const f of frames) this.sendFrame(instance, f);
    });
  }

  async removeAddresses(instance: string, addresses: readonly string[]): Promise<void> {
    const i = this.#instance(instance);
    await this.#vips.removeAddresses(i.ifindex, addresses, this.#prefixOpts(instance));
  }

  #prefixOpts(instance: string): { prefixLength?: (a: string) => number | undefined } {
    const f = this.#prefixLength;
    return f === undefined ? {} : { prefixLength: (a) => f(instance, a) };
  }

  /**
   * Close every socket, delete the macvlans this transport made (and put the
   * interfaces' arp_ignore back), remove accept-mode rules (idempotent). Await
   * it before closing a `VipManager` handed in: the cleanup uses it. Cleanup
   * failures are logged, never thrown.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unwatch?.();
    for (const c of this.#channels) c.socket.close();
    for (const s of this.#frames.values()) s.close();
    this.removeAllListeners();
    const attempt = async (what: string, fn: () => Promise<void>): Promise<void> => {
      try {
        await fn();
      } catch (e) {
        this.#log.warn({ err: e }, `cleanup: ${what} failed`);
      }
    };
    if (this.#accept !== undefined) {
      const accept = this.#accept;
      await attempt('remove accept-mode rules', () => accept.clear());
      accept.close();
    }
    for (const v of this.#vmacs) if (v.created) await attempt(`delete ${v.name}`, () => this.#vips.deleteLink(v.index, { signal: AbortSignal.timeout(5_000) }));
    for (const [ifname, saved] of this.#arpSaved) {
      await attempt(`restore arp_ignore / arp_announce of ${ifname}`, async () => {
        await writeSysctl(`ipv4/conf/${ifname}/arp_ignore`, saved.ignore);
        await writeSysctl(`ipv4/conf/${ifname}/arp_announce`, saved.announce);
      });
    }
    if (this.#ownVips) this.#vips.close();
  }
}
