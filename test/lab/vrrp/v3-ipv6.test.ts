// lvskit's VRRPv3 over IPv6 against keepalived 2.x in a lab (see interop.ts for the scenarios):
// adverts to ff02::12 from link-local sources (RFC 9568 §5.1.2), unsolicited NAs on takeover.
import { interopSuite } from './interop.js';

interopSuite({ version: 3, family: 'ipv6', vrid: 52, advertIntervalMs: 500, subnet: 52 });
