/**
 * lvskit/ipvs: an IPVS generic-netlink client and a declarative reconciler.
 *
 * Status: this entry holds the kernel's IPVS netlink constants, named as in
 * include/uapi/linux/ip_vs.h, and the error type that maps kernel errnos. The
 * client, reconciler and dry-run rendering come in the IPVS issue.
 *
 * Files:
 * - constants.ts  IPVS_CMD_*, IPVS_*_ATTR_*, IP_VS_* flags
 * - errors.ts     `IpvsError` with the kernel's errno meaning
 */
export * from './constants.js';
export * from './errors.js';
