/** fast-check arbitraries shared by the VRRP tests. */
import fc from 'fast-check';
import type { Advert, AdvertV2, AdvertV3 } from '../../../src/vrrp/codec.js';
import { formatIp } from '../../../src/vrrp/address.js';

// Arbitraries for every advert form.
export const ipv4 = fc.uint8Array({ minLength: 4, maxLength: 4 }).map(formatIp);
export const ipv6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map(formatIp);
const u8 = fc.integer({ min: 0, max: 255 });
const arbV3 = (family: 'ipv4' | 'ipv6'): fc.Arbitrary<AdvertV3> =>
  fc.record({
    version: fc.constant(3 as const),
    family: fc.constant(family),
    type: fc.integer({ min: 0, max: 15 }),
    vrid: u8,
    priority: u8,
    reserved: fc.integer({ min: 0, max: 15 }),
    maxAdvertIntervalCs: fc.integer({ min: 0, max: 4095 }),
    addresses: fc.array(family === 'ipv4' ? ipv4 : ipv6, { maxLength: 20 }),
  });
const arbV2: fc.Arbitrary<AdvertV2> = fc.record({
  version: fc.constant(2 as const),
  family: fc.constant('ipv4' as const),
  type: fc.integer({ min: 0, max: 15 }),
  vrid: u8,
  priority: u8,
  advertIntervalS: u8,
  authType: u8,
  authData: fc.uint8Array({ minLength: 8, maxLength: 8 }),
  addresses: fc.array(ipv4, { maxLength: 20 }),
});
export const arbAdvert: fc.Arbitrary<Advert> = fc.oneof(arbV3('ipv4'), arbV3('ipv6'), arbV2);

