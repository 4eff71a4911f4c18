/**
 * IP headers around VRRP packets, pure. A raw IPv4 socket hands over the whole
 * IP packet, header included (IPv6 raw sockets hand over the payload and give
 * the hop limit and addresses as ancillary data), and one opened with
 * IP_HDRINCL, or an AF_PACKET socket, sends whole packets. These turn bytes into
 * the `ReceivedPacket` that `validateAdvert` takes, and build headers as
 * keepalived does (vrrp.c `vrrp_build_ip4`): TOS 0xc0 (network control), no DF,
 * TTL 255 (RFC 9568 §5.1.1.3).
 */
import { ByteWriter } from '../util/bytes.js';
import { internetChecksum } from '../util/checksum.js';
import { formatIp, parseIp } from './address.js';
import type { ReceiveVerdict, ReceivedPacket } from './codec-receive.js';
import { IPPROTO_VRRP, VRRP_TTL } from './constants.js';
import { VrrpError } from './errors.js';

/** IPv4 Type of Service keepalived sends adverts with: precedence 6, "internetwork control". */
export const VRRP_TOS = 0xc0;

const IPV4_HEADER_MIN = 20;
const IPV6_HEADER = 40;

type Invalid = Extract<ReceiveVerdict, { kind: 'invalid' }>;

function bad(detail: string): Invalid {
  return { kind: 'invalid', reason: 'ip-header', detail };
}

/**
 * Read an IPv4 packet (header and payload) into a `ReceivedPacket`, or an
 * `ip-header` verdict: not IPv4, a header or total length that does not fit,
 * a fragment (an advert is never fragmented), or, when `verifyHeaderChecksum`,
 * a bad header checksum (the kernel has checked it for raw sockets already).
 * Bytes after the total length (Ethernet padding) are ignored. Never throws.
 */
export function decodeIpv4Packet(buf: Uint8Array, opts: { verifyHeaderChecksum?: boolean } = {}): ReceivedPacket | Invalid {
  if (buf.length < IPV4_HEADER_MIN) return bad(`${buf.length} bytes: no IPv4 header`);
  const at = (i: number): number => buf[i] as number;
  const version = at(0) >> 4;
  if (version !== 4) return bad(`IP version ${version}, not 4`);
  const ihl = (at(0) & 0x0f) * 4;
  if (ihl < IPV4_HEADER_MIN || ihl > buf.length) return bad(`header length ${ihl} of ${buf.length} bytes`);
  const total = (at(2) << 8) | at(3);
  if (total < ihl || total > buf.length) return bad(`total length ${total}, header ${ihl}, ${buf.length} bytes received`);
  const flagsFrag = (at(6) << 8) | at(7);
  // MF set, or a non-zero fragment offset (RFC 791 §3.1).
  if ((flagsFrag & 0x2000) !== 0 || (flagsFrag & 0x1fff) !== 0) return bad('a fragment');
  if (opts.verifyHeaderChecksum === true && internetChecksum(buf.subarray(0, ihl)) !== 0) return bad('bad header checksum');
  return {
    family: 'ipv4',
    src: formatIp(buf.subarray(12, 16)),
    dst: formatIp(buf.subarray(16, 20)),
    ttl: at(8),
    protocol: at(9),
    payload: buf.subarray(ihl, total),
  };
}

/**
 * Read an IPv6 packet with the VRRP payload right after the fixed header
 * (extension headers give `ip-header`: adverts carry none). Never throws.
 */
export function decodeIpv6Packet(buf: Uint8Array): ReceivedPacket | Invalid {
  if (buf.length < IPV6_HEADER) return bad(`${buf.length} bytes: no IPv6 header`);
  const at = (i: number): number => buf[i] as number;
  if (at(0) >> 4 !== 6) return bad(`IP version ${at(0) >> 4}, not 6`);
  const plen = (at(4) << 8) | at(5);
  if (IPV6_HEADER + plen > buf.length) return bad(`payload length ${plen}, ${buf.length - IPV6_HEADER} bytes received`);
  return {
    family: 'ipv6',
    src: formatIp(buf.subarray(8, 24)),
    dst: formatIp(buf.subarray(24, 40)),
    ttl: at(7),
    protocol: at(6),
    payload: buf.subarray(IPV6_HEADER, IPV6_HEADER + plen),
  };
}

export interface IpPacketOptions {
  src: string;
  dst: string;
  payload: Uint8Array;
  /** Default 255 (RFC 9568 §5.1.1.3, §5.1.2.3). */
  ttl?: number;
  /** Default 112. */
  protocol?: number;
  /** IPv4 identification (keepalived counts up per packet). Default 0. */
  id?: number;
  /** IPv4 TOS / IPv6 traffic class. Default 0xc0 (keepalived). */
  tos?: number;
}

/** An IPv4 packet: 20-byte header (no options, no DF, checksum filled) and payload. */
export function encodeIpv4Packet(o: IpPacketOptions): Uint8Array {
  const total = IPV4_HEADER_MIN + o.payload.length;
  if (total > 0xffff) throw new VrrpError('ERR_VRRP_ENCODE', `IPv4 packet of ${total} bytes`);
  const w = new ByteWriter(total);
  w.u8(0x45).u8(o.tos ?? VRRP_TOS).u16(total);
  w.u16(o.id ?? 0).u16(0); // RFC 791: identification, flags and fragment offset 0
  w.u8(o.ttl ?? VRRP_TTL).u8(o.protocol ?? IPPROTO_VRRP);
  const ck = w.reserveU16();
  w.bytes(parseIp(o.src, 'ipv4')).bytes(parseIp(o.dst, 'ipv4'));
  w.patchU16(ck, internetChecksum(w.finish().subarray(0, IPV4_HEADER_MIN)));
  w.bytes(o.payload);
  return w.finish();
}

/** An IPv6 packet: fixed header (flow label 0) and payload. */
export function encodeIpv6Packet(o: IpPacketOptions): Uint8Array {
  if (o.payload.length > 0xffff) throw new VrrpError('ERR_VRRP_ENCODE', `IPv6 payload of ${o.payload.length} bytes`);
  const w = new ByteWriter(IPV6_HEADER + o.payload.length);
  w.u32((6 << 28) | ((o.tos ?? VRRP_TOS) << 20)).u16(o.payload.length);
  w.u8(o.protocol ?? IPPROTO_VRRP).u8(o.ttl ?? VRRP_TTL);
  w.bytes(parseIp(o.src, 'ipv6')).bytes(parseIp(o.dst, 'ipv6')).bytes(o.payload);
  return w.finish();
}
