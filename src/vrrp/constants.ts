/** VRRP protocol constants. RFC 9568 (v3) and RFC 3768 (v2). */

/** IP protocol number (RFC 9568 §5.1.1.4). */
export const IPPROTO_VRRP = 112;
/** IPv4 multicast group (RFC 9568 §5.1.1.2). */
export const VRRP_GROUP_V4 = '224.0.0.18';
/** IPv6 multicast group (RFC 9568 §5.1.2.2). */
export const VRRP_GROUP_V6 = 'ff02::12';
/** Required TTL / hop limit on send and receive (RFC 9568 §5.1.1.3, §5.1.2.3). */
export const VRRP_TTL = 255;
/** Advertisement packet type, the only one defined (RFC 9568 §5.2.2). */
export const VRRP_TYPE_ADVERTISEMENT = 1;
/** Priority of the address owner (RFC 9568 §5.2.4). */
export const PRIORITY_OWNER = 255;
/** Priority a master sends when it stops, so a backup takes over at once (RFC 9568 §5.2.4). */
export const PRIORITY_STOP = 0;
/** Default priority of a backup (RFC 9568 §5.2.4). */
export const PRIORITY_DEFAULT = 100;
/** Default advertisement interval: v3 in centiseconds (RFC 9568 §5.2.7), v2 in seconds (RFC 3768 §5.3.7). */
export const ADVERT_INTERVAL_V3_DEFAULT_CS = 100;
export const ADVERT_INTERVAL_V2_DEFAULT_S = 1;
/** Virtual router MAC prefixes: 00-00-5E-00-01-{VRID} (IPv4), 00-00-5E-00-02-{VRID} (IPv6) (RFC 9568 §7.3). */
export const VIRTUAL_MAC_PREFIX_V4 = Uint8Array.of(0x00, 0x00, 0x5e, 0x00, 0x01);
export const VIRTUAL_MAC_PREFIX_V6 = Uint8Array.of(0x00, 0x00, 0x5e, 0x00, 0x02);

/** Protocol versions: 2 is RFC 3768 (IPv4 only), 3 is RFC 9568 (IPv4 and IPv6). */
export const VRRP_VERSION_2 = 2;
export const VRRP_VERSION_3 = 3;
/** Fixed header length before the address list, both versions (RFC 9568 §5.1, RFC 3768 §5.1). */
export const VRRP_HEADER_LENGTH = 8;
/** VRRPv2 authentication data length, after the addresses (RFC 3768 §5.3.10). */
export const VRRP_V2_AUTH_DATA_LENGTH = 8;
/**
 * VRRPv2 Auth Type values (RFC 3768 §5.3.6). RFC 3768 removed authentication and
 * reserved 1 and 2; RFC 2338 §5.3.6 defined 1 as a simple text password and 2 as
 * IP Authentication Header. keepalived still speaks 1 (`auth_type PASS`).
 */
export const AUTH_NONE = 0;
export const AUTH_SIMPLE_TEXT = 1;
export const AUTH_IP_AH = 2;
/** Largest v3 Max Advertise Interval: a 12-bit count of centiseconds (RFC 9568 §5.2.7). */
export const MAX_ADVERT_INTERVAL_V3_CS = 0x0fff;
/** Largest v2 Advertisement Interval: an 8-bit count of seconds (RFC 3768 §5.3.7). */
export const MAX_ADVERT_INTERVAL_V2_S = 0xff;
/** Largest number of addresses one advert can carry: the 8-bit Count IPvX Addr field (RFC 9568 §5.2.5). */
export const MAX_ADDRESSES = 0xff;

/** EtherTypes of the frames a new master sends (IEEE 802 numbers). */
export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_IPV6 = 0x86dd;
/** ICMPv6 next-header number and the Neighbor Advertisement type (RFC 4861 §4.4). */
export const IPPROTO_ICMPV6 = 58;
export const ICMPV6_NEIGHBOR_ADVERTISEMENT = 136;

/**
 * keepalived's gratuitous ARP / unsolicited NA schedule on becoming master
 * (its defaults `garp_master_repeat 5`, `garp_master_delay 5`): 5 per address at
 * once, then 5 more after 5 s. keepalived sends the same burst when a master hears
 * a lower-priority advert (`garp_lower_prio_repeat`, defaulting to the repeat count).
 */
export const ANNOUNCE_COUNT_DEFAULT = 5;
export const ANNOUNCE_REPEAT_COUNT_DEFAULT = 5;
export const ANNOUNCE_REPEAT_DELAY_MS_DEFAULT = 5000;
