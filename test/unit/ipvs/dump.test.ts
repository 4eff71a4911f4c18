/**
 * readDestEntry (the dump reader readTable uses for settings): the same Destination as the
 * generic path, destinationFromWire(decodeDestDumpEntry(entry)), or the same typed error, for
 * entries shaped as the kernel sends them and for arbitrary and damaged ones.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as K from '../../../src/ipvs/constants.js';
import { readDestEntry } from '../../../src/ipvs/dump.js';
import { destinationFromWire, type AddressFamily } from '../../../src/ipvs/model.js';
import type { WireDest } from '../../../src/ipvs/wire-schema.js';
import { decodeDestDumpEntry, encodeIpvsMessage } from '../../../src/ipvs/wire.js';

const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });

/** As ip_vs_genl_fill_dest writes them (6.1): every attribute, a 16-byte address. */
const kernelLike: fc.Arbitrary<WireDest> = fc.record({
  addrFamily: fc.constantFrom(2, 10, 0),
  addr: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  port: u16,
  fwdMethod: fc.oneof(fc.integer({ min: 0, max: 7 }), u32),
  weight: u32,
  tunType: fc.integer({ min: 0, max: 3 }),
  tunPort: u16,
  tunFlags: fc.integer({ min: 0, max: 3 }),
  uThresh: u32,
  lThresh: u32,
  activeConns: u32,
  inactConns: u32,
  persistConns: u32,
  stats: fc.record({ conns: u32, inbytes: u64 }),
  stats64: fc.record({ conns: u64, outbps: u64 }),
});

const anyDest: fc.Arbitrary<WireDest> = fc.record(
  {
    addrFamily: u16,
    addr: fc.uint8Array({ maxLength: 16 }),
    port: u16,
    fwdMethod: u32,
    weight: u32,
    tunType: fc.integer({ min: 0, max: 255 }),
    tunPort: u16,
    tunFlags: u16,
    uThresh: u32,
    lThresh: u32,
    activeConns: u32,
    inactConns: u32,
    persistConns: u32,
    unknown: fc.array(fc.record({ type: fc.integer({ min: 20, max: 40 }), nested: fc.boolean(), netByteOrder: fc.boolean(), data: fc.uint8Array({ maxLength: 9 }) }), { maxLength: 1 }),
  },
  { requiredKeys: [] },
);

function outcome(fn: () => unknown): string {
  try {
    return JSON.stringify(fn());
  } catch (e) {
    return `throws ${(e as { code?: string }).code}`;
  }
}

function check(bytes: Uint8Array, family: AddressFamily): void {
  const want = outcome(() => {
    const w = decodeDestDumpEntry(bytes);
    return w === undefined ? undefined : destinationFromWire(w, family);
  });
  expect(outcome(() => readDestEntry(bytes, family))).toBe(want);
}

describe('readDestEntry', () => {
  it('gives what destinationFromWire(decodeDestDumpEntry()) gives, for kernel-shaped and arbitrary entries, whole and damaged', () => {
    fc.assert(
      fc.property(fc.oneof(kernelLike, anyDest), fc.constantFrom('ipv4', 'ipv6' as const), fc.nat(40), fc.integer({ min: 0, max: 255 }), (d, family, cut, junk) => {
        const bytes = encodeIpvsMessage({ cmd: K.IPVS_CMD_NEW_DEST, attrs: { dest: d } });
        check(bytes, family);
        const bad = bytes.slice(0, Math.max(4, bytes.length - cut));
        if (bad.length > 8) bad[8] = junk;
        check(bad, family);
      }),
      { numRuns: 400 },
    );
  });

  it('reads a direct-routing IPv4 destination as the public model has it', () => {
    const addr = new Uint8Array(16);
    addr.set([10, 1, 2, 3]);
    const bytes = encodeIpvsMessage({
      cmd: K.IPVS_CMD_NEW_DEST,
      attrs: { dest: { addrFamily: 2, addr, port: 80, fwdMethod: K.IP_VS_CONN_F_DROUTE, weight: 5, uThresh: 0, lThresh: 0, activeConns: 1, inactConns: 2, persistConns: 0, tunType: 0, tunPort: 0, tunFlags: 0 } },
    });
    expect(readDestEntry(bytes, 'ipv4')).toEqual({
      address: '10.1.2.3',
      port: 80,
      forwarding: 'route',
      weight: 5,
      upperThreshold: 0,
      lowerThreshold: 0,
      family: 'ipv4',
      activeConns: 1,
      inactiveConns: 2,
      persistentConns: 0,
    });
  });
});
