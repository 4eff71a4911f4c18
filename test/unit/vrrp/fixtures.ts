/**
 * Packets captured from keepalived v2.2.7 (Debian 12 package) with tcpdump, in a
 * pair of network namespaces joined by a veth: interface vfxa, MAC
 * 02:00:00:00:00:0a, primary 192.0.2.11/24 and link-local fe80::ff:fe00:a. Its
 * configuration: VRID 51 v3 IPv4 priority 100 advert_int 1 with 192.0.2.100 and
 * 192.0.2.101; VRID 52 v3 IPv6 priority 200 advert_int 0.5 with fe80::52 and
 * 2001:db8::52; VRID 53 v2 priority 150 advert_int 2 auth_type PASS
 * auth_pass secret12 with 192.0.2.153. Each fixture is the IP payload (or the
 * whole Ethernet frame for ARP / NA), field by field.
 */
import { fromHex } from '../../../src/util/bytes.js';

/** IP-level facts of the captures. */
export const KEEPALIVED_SRC_V4 = '192.0.2.11';
export const KEEPALIVED_SRC_V6 = 'fe80::ff:fe00:a';
export const KEEPALIVED_MAC = '02:00:00:00:00:0a';

/** VRRPv3 over IPv4, VRID 51: keepalived's checksum covers the IPv4 pseudo-header (RFC 5798 §5.2.8). */
export const KEEPALIVED_V3_V4 = fromHex(
  [
    '31', // version 3, type 1 ADVERTISEMENT (RFC 9568 §5.2.1-2)
    '33', // VRID 51 (§5.2.3)
    '64', // priority 100 (§5.2.4)
    '02', // Count IPvX Addr 2 (§5.2.5)
    '0064', // rsvd 0, Max Adver Int 100 cs (§5.2.6-7)
    '42fd', // checksum, with the 192.0.2.11 -> 224.0.0.18 pseudo-header (§5.2.8, RFC 5798 form)
    'c0000264', // 192.0.2.100 (§5.2.9)
    'c0000265', // 192.0.2.101
  ].join(''),
);

/** The same instance stopping: priority 0 (RFC 9568 §6.4.3 Shutdown). */
export const KEEPALIVED_V3_V4_PRIO0 = fromHex('31 33 00 02 0064 a6fd c0000264 c0000265');

/** VRRPv3 over IPv6, VRID 52, fe80::ff:fe00:a -> ff02::12; the first address is link-local (RFC 9568 §5.2.9). */
export const KEEPALIVED_V3_V6 = fromHex(
  [
    '31', // version 3, type 1
    '34', // VRID 52
    'c8', // priority 200
    '02', // 2 addresses
    '0032', // Max Adver Int 50 cs
    'dc80', // checksum over the RFC 8200 §8.1 pseudo-header and the message
    'fe800000000000000000000000000052', // fe80::52
    '20010db8000000000000000000000052', // 2001:db8::52
  ].join(''),
);

export const KEEPALIVED_V3_V6_PRIO0 = fromHex(
  '31 34 00 02 0032 a481 fe800000000000000000000000000052 20010db8000000000000000000000052',
);

/** VRRPv2, VRID 53, with RFC 2338 simple text password "secret12". */
export const KEEPALIVED_V2 = fromHex(
  [
    '21', // version 2, type 1 (RFC 3768 §5.3.1-2)
    '35', // VRID 53
    '96', // priority 150
    '01', // Count IP Addrs 1
    '01', // Auth Type 1, simple text password (RFC 2338 §5.3.6; "reserved" in RFC 3768)
    '02', // Adver Int 2 s (RFC 3768 §5.3.7)
    '17af', // checksum over the message alone (RFC 3768 §5.3.8)
    'c0000299', // 192.0.2.153
    '7365637265743132', // Authentication Data "secret12" (RFC 3768 §5.3.10)
  ].join(''),
);

export const KEEPALIVED_V2_PRIO0 = fromHex('21 35 00 01 01 02 adaf c0000299 7365637265743132');

/** keepalived's gratuitous ARP for 192.0.2.100: an ARP request, Ethernet frame without padding. */
export const KEEPALIVED_GARP = fromHex(
  [
    'ffffffffffff', // Ethernet destination: broadcast
    '02000000000a', // Ethernet source: the interface MAC
    '0806', // EtherType ARP
    '0001', // hardware type Ethernet (RFC 826)
    '0800', // protocol type IPv4
    '06', // hardware address length
    '04', // protocol address length
    '0001', // opcode 1, REQUEST
    '02000000000a', // sender hardware address
    'c0000264', // sender protocol address: the VIP
    'ffffffffffff', // target hardware address: broadcast (keepalived's choice)
    'c0000264', // target protocol address: the VIP
  ].join(''),
);

/** keepalived's unsolicited neighbour advertisement for fe80::52. */
export const KEEPALIVED_NA = fromHex(
  [
    '333300000001', // Ethernet destination: 33:33 + low 32 bits of ff02::1 (RFC 2464 §7)
    '02000000000a', // Ethernet source: the interface MAC
    '86dd', // EtherType IPv6
    '60000000', // version 6, traffic class 0, flow label 0
    '0020', // payload length 32
    '3a', // next header ICMPv6
    'ff', // hop limit 255 (RFC 4861 §7.1.2)
    'fe800000000000000000000000000052', // source: the VIP itself
    'ff020000000000000000000000000001', // destination: all-nodes
    '88', // ICMPv6 type 136, Neighbor Advertisement (RFC 4861 §4.4)
    '00', // code 0
    '56f0', // ICMPv6 checksum
    '20000000', // flags: R=0, S=0, O=1, reserved
    'fe800000000000000000000000000052', // target address
    '02', // option type 2, Target Link-Layer Address (RFC 4861 §4.6.1)
    '01', // option length 1 (8 bytes)
    '02000000000a', // link-layer address
  ].join(''),
);

/** The IPv4 header keepalived put in front of KEEPALIVED_V3_V4 (its vrrp_build_ip4). */
export const KEEPALIVED_V3_V4_IP_HEADER = fromHex(
  [
    '45', // version 4, IHL 5
    'c0', // TOS 0xc0, precedence "internetwork control"
    '0024', // total length 36
    '0001', // identification 1 (keepalived counts up)
    '0000', // no flags (no DF), offset 0
    'ff', // TTL 255 (RFC 9568 §5.1.1.3)
    '70', // protocol 112 (§5.1.1.4)
    '188b', // header checksum
    'c000020b', // source 192.0.2.11
    'e0000012', // destination 224.0.0.18 (§5.1.1.2)
  ].join(''),
);

/** The IPv6 header in front of KEEPALIVED_V3_V6 (flow label chosen by the kernel). */
export const KEEPALIVED_V3_V6_IP_HEADER = fromHex(
  [
    '6c0f48e9', // version 6, traffic class 0xc0, flow label 0xf48e9
    '0028', // payload length 40
    '70', // next header 112
    'ff', // hop limit 255 (RFC 9568 §5.1.2.3)
    'fe80000000000000000000fffe00000a', // source fe80::ff:fe00:a, the interface's link-local (§7.2)
    'ff020000000000000000000000000012', // ff02::12 (§5.1.2.2)
  ].join(''),
);

/**
 * VRRPv3 over IPv4 to a unicast peer (keepalived `unicast_src_ip 192.0.2.11`,
 * `unicast_peer { 192.0.2.12 }`, VRID 61, priority 100, 192.0.2.161): the
 * pseudo-header names the peer, 192.0.2.12, as destination.
 */
export const KEEPALIVED_V3_V4_UNICAST = fromHex(
  [
    '31', // version 3, type 1
    '3d', // VRID 61
    '64', // priority 100
    '01', // 1 address
    '0064', // 100 cs
    '2327', // checksum with the 192.0.2.11 -> 192.0.2.12 pseudo-header
    'c00002a1', // 192.0.2.161
  ].join(''),
);
