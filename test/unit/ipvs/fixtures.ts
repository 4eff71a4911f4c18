/**
 * Annotated IPVS generic-netlink bytes.
 *
 * The request fixtures are the messages ipvsadm 1.31 (libipvs,
 * ipvs_nl_fill_service_attr / ipvs_nl_fill_dest_attr) sends, attribute for
 * attribute in its order, with two differences that don't change the meaning:
 * lvskit sets NLA_F_NESTED on the nested attribute (the kernel's
 * nla_parse_nested_deprecated masks it off) and the sequence number/port are
 * ours. The reply fixture follows ip_vs_genl_fill_service/ip_vs_genl_fill_stats
 * of Linux 6.1 (net/netfilter/ipvs/ip_vs_ctl.c), which write nested attributes
 * without NLA_F_NESTED (nla_nest_start_noflag) and u64 counters with
 * nla_put_u64_64bit (no pad attribute on x86-64).
 *
 * Layouts: include/uapi/linux/netlink.h (nlmsghdr, nlattr),
 * include/uapi/linux/genetlink.h (genlmsghdr), include/uapi/linux/ip_vs.h.
 * Host byte order is little-endian (x86-64).
 */
import { fromHex } from '../../../src/util/bytes.js';

export const FAMILY_ID = 0x1c; // dynamic genl id, as the controller gave it in one boot

/** `ipvsadm -A -t 192.0.2.1:80 -s wrr`: IPVS_CMD_NEW_SERVICE. */
export const NEW_SERVICE_TCP = fromHex(`
  68000000   # nlmsg_len 104
  1c00       # nlmsg_type: IPVS family id 0x1c
  0500       # nlmsg_flags: NLM_F_REQUEST | NLM_F_ACK
  07000000   # nlmsg_seq 7
  00000000   # nlmsg_pid 0
  01 01 0000 # genlmsghdr: cmd IPVS_CMD_NEW_SERVICE, version IPVS_GENL_VERSION 1, reserved
  5400 0180  # nla_len 84, IPVS_CMD_ATTR_SERVICE | NLA_F_NESTED
    0600 0100 0200 0000             # IPVS_SVC_ATTR_AF u16 AF_INET (2), 2 bytes pad
    0600 0200 0600 0000             # IPVS_SVC_ATTR_PROTOCOL u16 IPPROTO_TCP (6), pad
    1400 0300 c0000201 000000000000000000000000 # IPVS_SVC_ATTR_ADDR union nf_inet_addr, 192.0.2.1 in the first 4 of 16
    0600 0400 0050 0000             # IPVS_SVC_ATTR_PORT be16 80 (network order), pad
    0800 0600 77727200              # IPVS_SVC_ATTR_SCHED_NAME "wrr\\0"
    0c00 0700 00000000 ffffffff     # IPVS_SVC_ATTR_FLAGS struct ip_vs_flags { flags 0, mask ~0 }
    0800 0800 00000000              # IPVS_SVC_ATTR_TIMEOUT u32 0 s
    0800 0900 ffffffff              # IPVS_SVC_ATTR_NETMASK __be32 255.255.255.255
`.replace(/#.*$/gm, ''));

/** `ipvsadm -a -t 192.0.2.1:80 -r 10.0.0.2:80 -g -w 10`: IPVS_CMD_NEW_DEST (service id + destination). */
export const NEW_DEST_DR = fromHex(`
  8c000000   # nlmsg_len 140
  1c00 0500 08000000 00000000 # type, NLM_F_REQUEST|NLM_F_ACK, seq 8, pid 0
  05 01 0000 # IPVS_CMD_NEW_DEST, version 1
  3000 0180  # nla_len 48, IPVS_CMD_ATTR_SERVICE | NLA_F_NESTED (identifying attributes only)
    0600 0100 0200 0000             # IPVS_SVC_ATTR_AF AF_INET
    0600 0200 0600 0000             # IPVS_SVC_ATTR_PROTOCOL TCP
    1400 0300 c0000201 000000000000000000000000 # IPVS_SVC_ATTR_ADDR 192.0.2.1
    0600 0400 0050 0000             # IPVS_SVC_ATTR_PORT 80
  4800 0280  # nla_len 72, IPVS_CMD_ATTR_DEST | NLA_F_NESTED
    0600 0b00 0200 0000             # IPVS_DEST_ATTR_ADDR_FAMILY u16 AF_INET
    1400 0100 0a000002 000000000000000000000000 # IPVS_DEST_ATTR_ADDR 10.0.0.2
    0600 0200 0050 0000             # IPVS_DEST_ATTR_PORT be16 80
    0800 0300 03000000              # IPVS_DEST_ATTR_FWD_METHOD IP_VS_CONN_F_DROUTE (3)
    0800 0400 0a000000              # IPVS_DEST_ATTR_WEIGHT 10
    0800 0500 00000000              # IPVS_DEST_ATTR_U_THRESH 0
    0800 0600 00000000              # IPVS_DEST_ATTR_L_THRESH 0
`.replace(/#.*$/gm, ''));

/**
 * One entry of an IPVS_CMD_GET_SERVICE dump as 6.1 writes it (IPVS_CMD_NEW_SERVICE,
 * NLM_F_MULTI): UDP [2001:db8::53]:53, sh with sh-port, persistent 600 s /64,
 * then IPVS_SVC_ATTR_STATS and IPVS_SVC_ATTR_STATS64 without NLA_F_NESTED.
 */
export const DUMP_SERVICE_UDP6 = fromHex(`
  40010000   # nlmsg_len 320
  1c00 0200 09000000 a1b2c3d4 # type, NLM_F_MULTI, seq 9, pid (ours, echoed)
  01 01 0000 # IPVS_CMD_NEW_SERVICE, version 1
  2c01 0100  # nla_len 300, IPVS_CMD_ATTR_SERVICE (no NLA_F_NESTED)
    0600 0100 0a00 0000             # IPVS_SVC_ATTR_AF AF_INET6 (10)
    0600 0200 1100 0000             # IPVS_SVC_ATTR_PROTOCOL IPPROTO_UDP (17)
    1400 0300 20010db8000000000000000000000053 # IPVS_SVC_ATTR_ADDR 2001:db8::53
    0600 0400 0035 0000             # IPVS_SVC_ATTR_PORT 53
    0700 0600 736800 00             # IPVS_SVC_ATTR_SCHED_NAME "sh\\0", pad
    0c00 0700 13000000 ffffffff     # IPVS_SVC_ATTR_FLAGS PERSISTENT|HASHED|SCHED2 (sh-port), mask ~0
    0800 0800 58020000              # IPVS_SVC_ATTR_TIMEOUT 600
    0800 0900 40000000              # IPVS_SVC_ATTR_NETMASK: IPv6 prefix length 64, host order
    5c00 0a00                       # IPVS_SVC_ATTR_STATS, nla_len 92
      0800 0100 05000000            # IPVS_STATS_ATTR_CONNS 5
      0800 0200 0a000000            # IPVS_STATS_ATTR_INPKTS 10
      0800 0300 00000000            # IPVS_STATS_ATTR_OUTPKTS 0
      0c00 0400 e803000000000000    # IPVS_STATS_ATTR_INBYTES u64 1000
      0c00 0500 0000000000000000    # IPVS_STATS_ATTR_OUTBYTES u64 0
      0800 0600 01000000            # IPVS_STATS_ATTR_CPS 1
      0800 0700 02000000            # IPVS_STATS_ATTR_INPPS 2
      0800 0800 00000000            # IPVS_STATS_ATTR_OUTPPS 0
      0800 0900 c8000000            # IPVS_STATS_ATTR_INBPS 200
      0800 0a00 00000000            # IPVS_STATS_ATTR_OUTBPS 0
    7c00 0c00                       # IPVS_SVC_ATTR_STATS64, nla_len 124
      0c00 0100 0500000000000000    # CONNS 5
      0c00 0200 0a00000000000000    # INPKTS 10
      0c00 0300 0000000000000000    # OUTPKTS 0
      0c00 0400 e803000000000000    # INBYTES 1000
      0c00 0500 0000000000000000    # OUTBYTES 0
      0c00 0600 0100000000000000    # CPS 1
      0c00 0700 0200000000000000    # INPPS 2
      0c00 0800 0000000000000000    # OUTPPS 0
      0c00 0900 c800000000000000    # INBPS 200
      0c00 0a00 0000000000000000    # OUTBPS 0
`.replace(/#.*$/gm, ''));

/** NLMSG_ERROR for seq 7 with EEXIST (-17), echoing the request header (and payload, elided here: capped). */
export const ERROR_EEXIST_CAPPED = fromHex(`
  24000000 0200 0001 07000000 00000000 # nlmsg_len 36, NLMSG_ERROR, NLM_F_CAPPED, seq 7
  efffffff                             # error -17 (EEXIST)
  68000000 1c00 0500 07000000 00000000 # the request's nlmsghdr
`.replace(/#.*$/gm, ''));

/**
 * Captured from the kernel (Debian linux-image-6.1.0-56-cloud-amd64 6.1.192-2 under QEMU, kernel tier
 * golden-dump-bytes case): the two datagrams lvskit's client received for IPVS_CMD_GET_SERVICE
 * (NLM_F_DUMP) after `addService({ protocol: 'udp', address: '2001:db8::53', port: 53, scheduler: 'sh',
 * schedFlags: ['sh-port'], persistence: { timeout: 600, netmask: 64 } })`. The family id was 0x20 in
 * that boot. Same layout as DUMP_SERVICE_UDP6 above, counters zero; then NLMSG_DONE in its own datagram.
 */
export const KERNEL_FAMILY_ID = 0x20;
export const KERNEL_DUMP_SERVICE_UDP6 = fromHex(
  '40010000200002000300a96e65004008010100002c010100060001000a00000006000200110000001400030020010db8000000000000000000000053060004000035000007000600736800000c00070013000000ffffffff080008005802000008000900400000005c000a000800010000000000080002000000000008000300000000000c00040000000000000000000c0005000000000000000000080006000000000008000700000000000800080000000000080009000000000008000a00000000007c000c000c00010000000000000000000c00020000000000000000000c00030000000000000000000c00040000000000000000000c00050000000000000000000c00060000000000000000000c00070000000000000000000c00080000000000000000000c00090000000000000000000c000a000000000000000000',
);
export const KERNEL_DUMP_DONE = fromHex('14000000030002000300a96e6500400800000000');
