// lvskit's VRRPv2 (RFC 3768) over IPv4 against keepalived 2.x in a lab (see interop.ts for the
// scenarios). v2 intervals are whole seconds: Master_Down_Interval 3 s + Skew_Time.
import { interopSuite } from './interop.js';

interopSuite({ version: 2, family: 'ipv4', vrid: 53, advertIntervalMs: 1000, subnet: 53 });
