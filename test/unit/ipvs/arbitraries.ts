/** fast-check generators of IPVS tables over a small universe of keys (so tables overlap). */
import fc from 'fast-check';
import { destinationKey, normalizeService, serviceKey, type Destination, type Service } from '../../../src/ipvs/model.js';
import type { TableService } from '../../../src/ipvs/plan.js';

const vip = fc.constantFrom('192.0.2.1', '192.0.2.2', '2001:db8::1');
const rip4 = fc.constantFrom('10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5');
const rip6 = fc.constantFrom('2001:db8:1::2', '2001:db8:1::3', '2001:db8:1::4');

const destArb = (svc: Service, v6: boolean): fc.Arbitrary<Destination> =>
  fc
    .record({
      address: v6 ? rip6 : rip4,
      forwarding: fc.constantFrom('masq', 'route', 'tunnel' as const),
      weight: fc.integer({ min: 0, max: 20 }),
      upperThreshold: fc.constantFrom(0, 100),
      mport: fc.constantFrom(8080, 8081),
      gue: fc.boolean(),
    })
    .map(({ mport, gue, ...d }) => {
      const port = d.forwarding === 'masq' ? mport : 'fwmark' in svc ? 0 : svc.port;
      const out: Destination = { ...d, port };
      if (d.forwarding === 'tunnel' && gue) out.tunnel = { type: 'gue', port: 6080, checksum: 'csum' };
      return out;
    });

export const serviceArb: fc.Arbitrary<TableService> = fc
  .oneof(
    fc.record({ protocol: fc.constantFrom('tcp', 'udp' as const), address: vip, port: fc.constantFrom(80, 443) }),
    fc.record({ fwmark: fc.integer({ min: 1, max: 3 }), family: fc.constantFrom('ipv4', 'ipv6' as const) }),
  )
  .chain((id) => {
    const svc = id as Service;
    const v6 = normalizeService(svc).family === 'ipv6';
    return fc
      .record({
        scheduler: fc.constantFrom('rr', 'wrr', 'sh', 'mh'),
        persistent: fc.boolean(),
        onePacket: fc.boolean(),
        destinations: fc.uniqueArray(destArb(svc, v6), { maxLength: 4, selector: (d) => destinationKey(d, svc) }),
      })
      .map(({ persistent, ...rest }) => ({ ...svc, ...rest, ...(persistent ? { persistence: { timeout: 120 } } : {}) }) as TableService);
  });

export const tableArb = fc.uniqueArray(serviceArb, { maxLength: 5, selector: (s) => serviceKey(s) });

