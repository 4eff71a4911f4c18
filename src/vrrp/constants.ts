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
