/**
 * lvskit/bgp: a BGP-4 speaker.
 *
 * Status: this entry holds the protocol constants (RFC 4271) and the error type
 * that maps decode and FSM failures onto NOTIFICATION messages (RFC 4271 §4.5,
 * §6; RFC 7606 handling). The codec, FSM, sessions and `BgpSpeaker` are built on
 * these in the BGP issue.
 *
 * Files:
 * - constants.ts  message types, error codes and subcodes, ports and sizes
 * - errors.ts     `BgpError`: code/subcode/data and RFC 7606 handling
 */
export * from './constants.js';
export * from './errors.js';
