/**
 * Link-layer frames a new master sends, pure: the gratuitous ARP (IPv4) and the
 * unsolicited Neighbor Advertisement (IPv6) that move clients' neighbour entries
 * to it (RFC 9568 §6.4.1-2, §8.1.2, §8.2.2), built as whole Ethernet frames for an
 * AF_PACKET socket, and the virtual router MAC (RFC 9568 §7.3).
 *
 * Both follow keepalived (vrrp_arp.c, vrrp_ndisc.c), the peer lvskit has to
 * match on the wire:
 * - GARP: an ARP *request* (RFC 5227 §3 "ARP Announcement" style) broadcast,
 *   sender and target protocol address both the VIP, target hardware address
 *   ff:ff:ff:ff:ff:ff, sender hardware address the interface's (or virtual) MAC.
 * - NA: from the VIP to ff02::1 (all-nodes), hop limit 255, Override flag only
 *   (Router flag optional: keepalived sets it when the interface forwards; RFC
 *   9568 §6.4.2 asks for it), Target Link-Layer Address option with the MAC.
 */
import { ByteWriter } from '../util/bytes.js';
import { internetChecksum, ipv6PseudoHeader } from '../util/checksum.js';
import { type AddressFamily, formatIp, formatMac, macBytes, parseIp } from './address.js';
import {
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  ICMPV6_NEIGHBOR_ADVERTISEMENT,
  IPPROTO_ICMPV6,
  VIRTUAL_MAC_PREFIX_V4,
  VIRTUAL_MAC_PREFIX_V6,
} from './constants.js';
import { VrrpError } from './errors.js';

const BROADCAST = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
const ARP_HTYPE_ETHERNET = 1;
const ARP_OP_REQUEST = 1;
const ND_OPT_TARGET_LINK_ADDR = 2;
const NA_FLAG_ROUTER = 0x80;
const NA_FLAG_SOLICITED = 0x40;
const NA_FLAG_OVERRIDE = 0x20;
const ALL_NODES = 'ff02::1';

/** Length of a GARP frame (14 Ethernet + 28 ARP; the NIC pads it to 60 on the wire). */
export const GARP_FRAME_LENGTH = 42;
/** Length of an unsolicited NA frame (14 Ethernet + 40 IPv6 + 24 NA + 8 option). */
export const NA_FRAME_LENGTH = 86;

/** The virtual router MAC: 00:00:5e:00:01:{VRID} for IPv4, 00:00:5e:00:02:{VRID} for IPv6 (RFC 9568 §7.3). */
export function virtualMac(vrid: number, family: AddressFamily): string {
  if (!Number.isInteger(vrid) || vrid < 1 || vrid > 255) throw new VrrpError('ERR_VRRP_CONFIG', `VRID ${vrid} is not 1..255`);
  const mac = new Uint8Array(6);
  mac.set(family === 'ipv4' ? VIRTUAL_MAC_PREFIX_V4 : VIRTUAL_MAC_PREFIX_V6);
  mac[5] = vrid;
  return formatMac(mac);
}

/**
 * A gratuitous ARP for `address`, from `mac` (the interface's, or the virtual
 * router MAC when one is used), as keepalived sends it.
 */
export function buildGratuitousArp(opts: { mac: string | Uint8Array; address: string }): Uint8Array {
  const mac = macBytes(opts.mac);
  const ip = parseIp(opts.address, 'ipv4');
  const w = new ByteWriter(GARP_FRAME_LENGTH);
  w.bytes(BROADCAST).bytes(mac).u16(ETHERTYPE_ARP); // Ethernet II
  w.u16(ARP_HTYPE_ETHERNET).u16(ETHERTYPE_IPV4).u8(6).u8(4).u16(ARP_OP_REQUEST); // RFC 826
  w.bytes(mac).bytes(ip); // sender: us, the VIP
  w.bytes(BROADCAST).bytes(ip); // target: broadcast MAC (keepalived's choice), the VIP
  return w.finish();
}

/**
 * An unsolicited Neighbor Advertisement for `address` (RFC 4861 §4.4, §7.2.6),
 * from `mac`: source the VIP, destination ff02::1, hop limit 255, Override set,
 * Solicited clear, Router as `router` (default false, as keepalived on a
 * non-forwarding host), with a Target Link-Layer Address option.
 */
export function buildUnsolicitedNa(opts: { mac: string | Uint8Array; address: string; router?: boolean }): Uint8Array {
  const mac = macBytes(opts.mac);
  const target = parseIp(opts.address, 'ipv6');
  const dst = parseIp(ALL_NODES, 'ipv6');
  const icmp = new ByteWriter(32);
  icmp.u8(ICMPV6_NEIGHBOR_ADVERTISEMENT).u8(0);
  const ck = icmp.reserveU16();
  icmp.u8(NA_FLAG_OVERRIDE | (opts.router === true ? NA_FLAG_ROUTER : 0)).zeros(3);
  icmp.bytes(target);
  icmp.u8(ND_OPT_TARGET_LINK_ADDR).u8(1).bytes(mac); // RFC 4861 §4.6.1, length in units of 8 bytes
  const body = icmp.finish();
  // ICMPv6 checksum over the RFC 8200 §8.1 pseudo-header (RFC 4443 §2.3).
  icmp.patchU16(ck, internetChecksum(ipv6PseudoHeader(target, dst, IPPROTO_ICMPV6, body.length), body));

  const w = new ByteWriter(NA_FRAME_LENGTH);
  w.bytes(multicastMac(dst)).bytes(mac).u16(ETHERTYPE_IPV6);
  w.u32(0x6000_0000).u16(body.length).u8(IPPROTO_ICMPV6).u8(255); // RFC 4861 §7.1.2: hop limit 255
  w.bytes(target).bytes(dst).bytes(body);
  return w.finish();
}

/** The Ethernet address of an IPv6 multicast group: 33:33 and its last 32 bits (RFC 2464 §7). */
function multicastMac(group: Uint8Array): Uint8Array {
  return Uint8Array.of(0x33, 0x33, group[12] as number, group[13] as number, group[14] as number, group[15] as number);
}

/** The Solicited-Node multicast address of `address` (RFC 4291 §2.7.1), which a master joins (RFC 9568 §6.4.2). */
export function solicitedNodeAddress(address: string): string {
  const b = parseIp(address, 'ipv6');
  const g = parseIp('ff02::1:ff00:0', 'ipv6');
  g.set(b.subarray(13), 13);
  return formatIp(g);
}

/** What `parseLinkAnnouncement` finds in a frame. */
export type LinkAnnouncement =
  | { kind: 'garp'; srcMac: string; senderMac: string; address: string; targetMac: string; op: number }
  | {
      kind: 'na';
      srcMac: string;
      dstMac: string;
      src: string;
      dst: string;
      hopLimit: number;
      target: string;
      router: boolean;
      solicited: boolean;
      override: boolean;
      targetMac: string | undefined;
      checksumOk: boolean;
    };

/**
 * Read a GARP or NA frame back (for tests and for watching a segment in the lab):
 * an ARP frame whose sender and target protocol addresses are equal, or an
 * ICMPv6 Neighbor Advertisement without extension headers. Anything else gives
 * undefined. Never throws.
 */
export function parseLinkAnnouncement(frame: Uint8Array): LinkAnnouncement | undefined {
  if (frame.length < 14) return undefined;
  const at = (i: number): number => frame[i] ?? 0;
  const u16 = (i: number): number => (at(i) << 8) | at(i + 1);
  const mac = (i: number): string => formatMac(frame.subarray(i, i + 6));
  const ethertype = u16(12);
  if (ethertype === ETHERTYPE_ARP) {
    if (frame.length < 42 || u16(14) !== ARP_HTYPE_ETHERNET || u16(16) !== ETHERTYPE_IPV4 || at(18) !== 6 || at(19) !== 4) return undefined;
    const spa = formatIp(frame.subarray(28, 32));
    const tpa = formatIp(frame.subarray(38, 42));
    if (spa !== tpa) return undefined;
    return { kind: 'garp', srcMac: mac(6), senderMac: mac(22), address: spa, targetMac: mac(32), op: u16(20) };
  }
  if (ethertype === ETHERTYPE_IPV6) {
    if (frame.length < 14 + 40 + 24 || at(14) >> 4 !== 6 || at(20) !== IPPROTO_ICMPV6) return undefined;
    const plen = u16(18);
    if (plen < 24 || 54 + plen > frame.length) return undefined;
    const body = frame.subarray(54, 54 + plen);
    if (body[0] !== ICMPV6_NEIGHBOR_ADVERTISEMENT) return undefined;
    const src = frame.subarray(22, 38);
    const dst = frame.subarray(38, 54);
    const checksumOk = internetChecksum(ipv6PseudoHeader(src, dst, IPPROTO_ICMPV6, plen), body) === 0;
    const flags = body[4] ?? 0;
    // Options: type, length in 8-byte units; walk at most plen bytes.
    let targetMac: string | undefined;
    for (let o = 24; o + 8 <= plen; ) {
      const len = (body[o + 1] ?? 0) * 8;
      if (len === 0) break;
      if (body[o] === ND_OPT_TARGET_LINK_ADDR && len >= 8) targetMac = formatMac(body.subarray(o + 2, o + 8));
      o += len;
    }
    return {
      kind: 'na',
      srcMac: mac(6),
      dstMac: mac(0),
      src: formatIp(src),
      dst: formatIp(dst),
      hopLimit: at(21),
      target: formatIp(body.subarray(8, 24)),
      router: (flags & NA_FLAG_ROUTER) !== 0,
      solicited: (flags & NA_FLAG_SOLICITED) !== 0,
      override: (flags & NA_FLAG_OVERRIDE) !== 0,
      targetMac,
      checksumOk,
    };
  }
  return undefined;
}
