/**
 * lvskit/vrrp: VRRP v2 (RFC 3768) and v3 (RFC 9568) for IPv4 and IPv6.
 *
 * Status: this entry holds the protocol constants and the error type. The
 * codec, state machine, raw-socket I/O and instances come in the VRRP issue.
 *
 * Files:
 * - constants.ts  protocol number, groups, versions, timers' defaults
 * - errors.ts     `VrrpError`
 */
export * from './constants.js';
export * from './errors.js';
