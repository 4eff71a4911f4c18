/**
 * lvskit: building blocks for Linux load-balancer directors.
 *
 * The root entry holds the pieces shared by every module (error base, clock,
 * byte reader/writer, internet checksum, logger and cancellation types). The
 * protocols live in their own entries:
 *
 * - `lvskit/bgp`       BGP-4 speaker
 * - `lvskit/vrrp`      VRRP v2/v3
 * - `lvskit/ipvs`      IPVS generic-netlink client and reconciler
 * - `lvskit/monitors`  health checks, server state and pools
 */
export * from './util/index.js';
