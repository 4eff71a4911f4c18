/**
 * lvskit/vrrp: VRRP v2 (RFC 3768) and v3 (RFC 9568, which obsoletes RFC 5798)
 * for IPv4 and IPv6, built to interoperate with keepalived.
 *
 * Status: the pure core is here (codec, receive validation, state machine,
 * tracking and sync groups, GARP/NA frames) and the driver that runs it on a
 * clock through a `VrrpTransport` interface, and the Linux transport (raw sockets
 * for protocol 112, AF_PACKET for GARP/NA, VIPs and link state through
 * rtnetlink), tested against keepalived in the lab tier, with optional virtual
 * MACs (macvlan over rtnetlink) and Accept_Mode off (nftables over nfnetlink).
 *
 * Files:
 * - constants.ts      protocol number, groups, TTL, versions, priorities, field limits, keepalived's GARP defaults
 * - errors.ts         `VrrpError` (`ERR_VRRP_CONFIG`, `ERR_VRRP_ADDRESS`, `ERR_VRRP_ENCODE`)
 * - address.ts        IPv4/IPv6/MAC text <-> bytes (RFC 4291, RFC 5952 canonical text), unsigned address order
 * - codec.ts          `encodeAdvert` / `decodeAdvert` / `advertLength`; checksums: v2 (RFC 3768 §5.3.8),
 *                     v3 IPv6 with pseudo-header (RFC 9568 §5.2.8), v3 IPv4 in RFC 9568 "plain" or RFC 5798 /
 *                     keepalived "pseudo-header" form (sent form configurable, both accepted)
 * - codec-receive.ts  `validateAdvert`: RFC 9568 §7.1 (with errata 8298, 8299, 8301) and RFC 3768 §7.1 checks
 *                     as a verdict (`ok` / `other-vrid` / `invalid` + reason), counters
 * - codec-ip.ts       IPv4 / IPv6 headers around adverts: raw-socket bytes -> `ReceivedPacket`, headers as keepalived builds them
 * - codec-link.ts     gratuitous ARP and unsolicited NA Ethernet frames as keepalived sends them
 *                     (RFC 826, RFC 4861 §4.4, §7.2.6), virtual MAC (RFC 9568 §7.3), a frame reader
 * - fsm.ts            the RFC 9568 §6.4 / RFC 3768 §6.4 state machine: `step(state, event, now)` ->
 *                     `{ state, actions }` (owner, preempt, preempt delay, skew, Master_Down_Interval,
 *                     interval learning, tie break, priority 0, re-advertise and re-announce on lower priority)
 * - fsm-group.ts      several instances on a router: tracking with weights or as vital objects, sync groups
 * - router.ts         `VrrpRouter`: the driver (timers on the injected clock, demultiplexing, validation,
 *                     counters, rate-limited logs, ordered address changes and GARP/NA, typed events)
 *                     over a `VrrpTransport`
 * - vips.ts           `VipManager`: interface facts (index, MAC, primary IPv4, link-local IPv6), virtual
 *                     addresses (IPv6 nodad) and link changes over rtnetlink (the `netlink` package)
 * - netlink-attrs.ts  netlink attributes the `netlink` package has no schema for: macvlan IFLA_LINKINFO,
 *                     nftables batches (pure)
 * - accept.ts         `AcceptFilter`: Accept_Mode off (RFC 9568 §6.1) as nftables rules over NETLINK_NETFILTER
 * - sysctl.ts         per-interface sysctls through /proc/sys/net (arp_ignore, arp_announce for a virtual MAC)
 * - transport-linux.ts `LinuxVrrpTransport`: the `VrrpTransport` on Linux (raw sockets for protocol 112
 *                     joined to 224.0.0.18 / ff02::12, TTL / hop limit 255, AF_PACKET for GARP/NA,
 *                     rtnetlink for addresses, link state as a tracked object, virtual MAC macvlans,
 *                     accept mode); tested against keepalived
 *
 * RFCs: RFC 9568 (VRRPv3), RFC 5798 (its IPv4 checksum, still what keepalived
 * sends), RFC 3768 (VRRPv2), RFC 2338 §5.3.6 (simple text password, keepalived's
 * `auth_type PASS`), RFC 8200 §8.1 (pseudo-header), RFC 826 (ARP), RFC 4861 (ND),
 * RFC 791 (IPv4 header), RFC 2464 §7 (IPv6 multicast MAC), RFC 4291 §2.7.1 (solicited-node), RFC 5952 (IPv6 text).
 */
/*
 * Use:
 *
 *     const router = new VrrpRouter({
 *       instances: [{
 *         name: 'vip', interface: 'eth0', version: 3, family: 'ipv4', vrid: 51, priority: 150,
 *         advertIntervalMs: 1000, addresses: ['192.0.2.100'],
 *         primaryAddress: '192.0.2.11', mac: '02:00:00:00:00:0a',
 *         track: [{ object: 'pool:web', weight: 100 }],
 *       }],
 *       transport,            // a VrrpTransport: LinuxVrrpTransport.open({ instances }) on Linux
 *       logger,               // optional, pino-compatible
 *     });
 *     router.on('transition', (e) => notify(e.instance, e.to, e.reason));
 *     transport.attach(router); // received adverts, link state as track('link:eth0', up)
 *     router.start();
 *     pool.on('state', (up) => router.track('pool:web', up));
 *     await router.stop();   // priority 0, addresses removed
 */
export * from './constants.js';
export * from './errors.js';
export * from './address.js';
export * from './codec.js';
export * from './codec-receive.js';
export * from './codec-ip.js';
export * from './codec-link.js';
export * from './fsm.js';
export * from './fsm-group.js';
export * from './router.js';
export * from './vips.js';
export * from './transport-linux.js';
export * from './accept.js';
