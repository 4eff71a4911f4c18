// lvskit's VRRPv3 over IPv4 against keepalived 2.x in a lab (see interop.ts for the scenarios).
// 0.5 s adverts: Master_Down_Interval 1.5 s + Skew_Time (RFC 9568 §6.1).
import { interopSuite } from './interop.js';

interopSuite({ version: 3, family: 'ipv4', vrid: 51, advertIntervalMs: 500, subnet: 51, extras: true });
