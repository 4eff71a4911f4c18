import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { toHex } from '../../../src/util/bytes.js';
import { isLvskitError } from '../../../src/util/errors.js';
import { IpvsError } from '../../../src/ipvs/errors.js';
import { canonicalAddress, formatAddress, parseAddress } from '../../../src/ipvs/address.js';
import {
  destinationFromWire,
  destinationKey,
  destinationToWire,
  normalizeDestination,
  normalizeDestinationFast,
  normalizeService,
  sameDestination,
  sameService,
  serviceFromWire,
  serviceIdToWire,
  serviceKey,
  serviceToWire,
  type Destination,
  type Service,
} from '../../../src/ipvs/model.js';
import { decodeService, encodeService } from '../../../src/ipvs/wire-schema.js';
import { decodeIpvsMessage } from '../../../src/ipvs/wire.js';
import { decodeNlmsgs } from '../../../src/ipvs/wire-netlink.js';
import { DUMP_SERVICE_UDP6, NEW_SERVICE_TCP } from './fixtures.js';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return isLvskitError(e) ? e.code : `not lvskit: ${String(e)}`;
  }
  return undefined;
}

describe('addresses', () => {
  it.each([
    ['192.0.2.1', 'ipv4', '192.0.2.1'],
    ['2001:DB8:0:0:0:0:0:1', 'ipv6', '2001:db8::1'],
    ['[2001:db8::1]', 'ipv6', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', 'ipv6', '2001:db8::1:0:0:1'], // first of equal runs (RFC 5952 §4.2.3)
    ['2001:db8:0:1:1:1:1:1', 'ipv6', '2001:db8:0:1:1:1:1:1'], // a single zero group is not compressed
    ['::', 'ipv6', '::'],
    ['::1', 'ipv6', '::1'],
    ['::ffff:192.0.2.1', 'ipv6', '::ffff:192.0.2.1'],
    ['64:ff9b::192.0.2.33', 'ipv6', '64:ff9b::c000:221'],
  ])('%s is %s, canonically %s', (text, family, canonical) => {
    const a = parseAddress(text);
    expect(a.family).toBe(family);
    expect(a.text).toBe(canonical);
  });

  it.each(['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.-4', 'a::b::c', '1:2:3:4:5:6:7:8:9', '12345::', 'fe80::1%eth0', 'host.example', ':::'])(
    '%j is rejected with ERR_IPVS_INVALID_ADDRESS',
    (text) => {
      expect(code(() => parseAddress(text))).toBe('ERR_IPVS_INVALID_ADDRESS');
    },
  );

  it('formats any 16 bytes into text that parses back to the same bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => {
        const text = formatAddress(b);
        expect(toHex(parseAddress(text).bytes)).toBe(toHex(b));
        expect(canonicalAddress(text)).toBe(text);
      }),
    );
  });
});

describe('service model', () => {
  it('fills ipvsadm defaults and gives the kernel attributes', () => {
    const w = serviceToWire({ protocol: 'tcp', address: '192.0.2.1', port: 80, scheduler: 'wrr' });
    // Same attributes as `ipvsadm -A -t 192.0.2.1:80 -s wrr` sends.
    const [m] = decodeNlmsgs(NEW_SERVICE_TCP);
    expect(toHex(encodeService(w))).toBe(toHex(encodeService(decodeIpvsMessage(m!.payload).attrs!.service!)));
    expect(normalizeService({ protocol: 'udp', address: '::1', port: 53 }).scheduler).toBe('wlc');
  });

  it('reads a dumped service: IPv6 prefix-length netmask, sh flags by name, stats', () => {
    const [m] = decodeNlmsgs(DUMP_SERVICE_UDP6);
    const s = serviceFromWire(decodeIpvsMessage(m!.payload).attrs!.service!);
    expect(s).toMatchObject({
      protocol: 'udp',
      address: '2001:db8::53',
      port: 53,
      scheduler: 'sh',
      persistence: { timeout: 600, netmask: 64 },
      schedFlags: ['sh-port'],
    });
    expect(s.stats?.inBytes).toBe(1000n);
    expect(s.stats?.conns).toBe(5n);
    // Back to the wire: the HASHED bit is not ours to set; the prefix length stays host order.
    const w = serviceToWire(s);
    expect(w.flags).toEqual({ flags: 0x11, mask: 0xffffffff });
    expect(toHex(w.netmask!)).toBe('40000000');
    expect(serviceKey(s)).toBe('udp/[2001:db8::53]:53');
  });

  it('persistence netmask: dotted or prefix length for IPv4, prefix length for IPv6', () => {
    const v4 = (m: string | number) => toHex(serviceToWire({ protocol: 'tcp', address: '10.0.0.1', port: 443, persistence: { netmask: m } }).netmask!);
    expect(v4('255.255.255.0')).toBe('ffffff00');
    expect(v4(24)).toBe('ffffff00');
    expect(v4(20)).toBe('fffff000');
    expect(toHex(serviceToWire({ protocol: 'tcp', address: '10.0.0.1', port: 443 }).netmask!)).toBe('ffffffff');
    expect(serviceToWire({ protocol: 'tcp', address: '10.0.0.1', port: 443, persistence: {} }).timeout).toBe(300);
    expect(code(() => normalizeService({ protocol: 'tcp', address: '2001:db8::1', port: 1, persistence: { netmask: 129 } }))).toBe('ERR_IPVS_INVALID_CONFIG');
    expect(code(() => normalizeService({ protocol: 'tcp', address: '2001:db8::1', port: 1, persistence: { netmask: '255.0.0.0' } }))).toBe('ERR_IPVS_INVALID_CONFIG');
  });

  it('fwmark services: identity is the mark and the family', () => {
    const s: Service = { fwmark: 7, family: 'ipv6', scheduler: 'mh', schedFlags: ['mh-fallback', 'mh-port'], onePacket: true };
    const w = serviceToWire(s);
    expect(w).toMatchObject({ af: 10, fwmark: 7, schedName: 'mh', flags: { flags: 0x1c, mask: 0xffffffff } });
    expect(w.protocol).toBeUndefined();
    expect(serviceIdToWire(s)).toEqual({ af: 10, fwmark: 7 });
    const back = serviceFromWire(decodeService(encodeService(w)));
    expect(sameService(back, s)).toBe(true);
    expect(serviceKey(s)).toBe('fwmark/ipv6/7');
    expect(serviceKey({ fwmark: 7 })).toBe('fwmark/ipv4/7');
  });

  it('rejects what the kernel or ipvsadm would, with clear errors', () => {
    expect(code(() => normalizeService({ protocol: 'icmp' as 'tcp', address: '10.0.0.1', port: 1 }))).toBe('ERR_IPVS_INVALID_CONFIG');
    expect(code(() => normalizeService({ protocol: 'tcp', address: '10.0.0.1', port: 65536 }))).toBe('ERR_IPVS_INVALID_CONFIG');
    expect(code(() => normalizeService({ protocol: 'tcp', address: '10.0.0.999', port: 1 }))).toBe('ERR_IPVS_INVALID_ADDRESS');
    expect(code(() => normalizeService({ fwmark: 0 }))).toBe('ERR_IPVS_INVALID_CONFIG');
    expect(code(() => normalizeService({ protocol: 'tcp', address: '10.0.0.1', port: 1, scheduler: 'x'.repeat(16) }))).toBe('ERR_IPVS_INVALID_CONFIG');
    expect(code(() => normalizeService({ protocol: 'tcp', address: '10.0.0.1', port: 1, schedFlags: ['sh-nope' as 'sh-port'] }))).toBe('ERR_IPVS_INVALID_CONFIG');
    const e = (() => {
      try {
        normalizeService({ protocol: 'tcp', address: '10.0.0.1', port: -1 });
      } catch (x) {
        return x;
      }
    })();
    expect(e).toBeInstanceOf(IpvsError);
    expect((e as Error).message).toContain('port must be an integer in 0..65535');
  });

  it('compares ignoring stats', () => {
    const a: Service = { protocol: 'tcp', address: '10.0.0.1', port: 80, scheduler: 'rr' };
    const b: Service = { ...a, address: '10.0.0.1', stats: { conns: 9n } as Service['stats'] };
    expect(sameService(a, b)).toBe(true);
    expect(sameService(a, { ...a, scheduler: 'wrr' })).toBe(false);
    expect(sameService(a, { ...a, persistence: {} })).toBe(false);
  });
});

describe('destination model', () => {
  const svc: Service = { protocol: 'tcp', address: '192.0.2.1', port: 80, scheduler: 'wrr' };

  it('defaults: route (-g), weight 1, the service port; weight 0 kept', () => {
    const n = normalizeDestination({ address: '10.0.0.2' }, svc);
    expect(n).toMatchObject({ forwarding: 'route', weight: 1, port: 80, upperThreshold: 0, lowerThreshold: 0, family: 'ipv4' });
    expect(normalizeDestination({ address: '10.0.0.2', weight: 0 }, svc).weight).toBe(0);
    expect(destinationKey({ address: '10.0.0.2' }, svc)).toBe('10.0.0.2:80');
    expect(destinationKey({ address: '2001:db8::2', port: 8080 })).toBe('[2001:db8::2]:8080');
  });

  it('masq may change the port; route and tunnel may not (ipvsadm forces the service port)', () => {
    expect(normalizeDestination({ address: '10.0.0.2', port: 8080, forwarding: 'masq' }, svc).port).toBe(8080);
    expect(code(() => normalizeDestination({ address: '10.0.0.2', port: 8080 }, svc))).toBe('ERR_IPVS_INVALID_CONFIG');
    expect(normalizeDestination({ address: '10.0.0.2', port: 8080 }, { fwmark: 3 }).port).toBe(8080);
  });

  it('mixed families only with tunnelling (ip_vs_genl_set_cmd)', () => {
    const v6: Service = { protocol: 'tcp', address: '2001:db8::1', port: 80 };
    expect(code(() => normalizeDestination({ address: '10.0.0.2' }, v6))).toBe('ERR_IPVS_INVALID_CONFIG');
    expect(normalizeDestination({ address: '10.0.0.2', forwarding: 'tunnel' }, v6).family).toBe('ipv4');
  });

  it('tunnel settings go on the wire as IPVS_DEST_ATTR_TUN_*', () => {
    const d: Destination = { address: '10.0.0.3', forwarding: 'tunnel', weight: 5, tunnel: { type: 'gue', port: 6080, checksum: 'remcsum' } };
    const w = destinationToWire(d, svc);
    expect(w).toMatchObject({ fwdMethod: 2, weight: 5, tunType: 1, tunPort: 6080, tunFlags: 2, uThresh: 0, lThresh: 0, addrFamily: 2, port: 80 });
    const back = destinationFromWire(w, 'ipv4');
    expect(back.tunnel).toEqual({ type: 'gue', port: 6080, checksum: 'remcsum' });
    expect(sameDestination(back, d, svc)).toBe(true);
    expect(code(() => normalizeDestination({ address: '10.0.0.3', forwarding: 'tunnel', tunnel: { type: 'gue' } }, svc))).toBe('ERR_IPVS_INVALID_CONFIG');
    expect(code(() => normalizeDestination({ address: '10.0.0.3', tunnel: { type: 'gre' } }, svc))).toBe('ERR_IPVS_INVALID_CONFIG');
    // DEL_DEST carries only the identity.
    expect(destinationToWire(d, svc, false)).toEqual({ addrFamily: 2, addr: w.addr, port: 80 });
  });

  it('reads counters from the kernel and ignores them when comparing', () => {
    const w = { ...destinationToWire({ address: '10.0.0.2', weight: 3 }, svc), activeConns: 4, inactConns: 2, persistConns: 1 };
    const d = destinationFromWire(w, 'ipv4');
    expect(d).toMatchObject({ activeConns: 4, inactiveConns: 2, persistentConns: 1, weight: 3 });
    expect(sameDestination(d, { address: '10.0.0.2', weight: 3 }, svc)).toBe(true);
    expect(sameDestination(d, { address: '10.0.0.2', weight: 4 }, svc)).toBe(false);
  });

  it('every valid destination survives toWire -> fromWire', () => {
    const dest = fc.record(
      {
        address: fc.oneof(fc.ipV4(), fc.ipV6()),
        forwarding: fc.constantFrom('masq', 'route', 'local', 'bypass' as const),
        weight: fc.integer({ min: 0, max: 0x7fffffff }),
        upperThreshold: fc.nat(),
        lowerThreshold: fc.nat(),
      },
      { requiredKeys: ['address'] },
    );
    fc.assert(
      fc.property(dest, (d) => {
        const s: Service = { fwmark: 1, family: parseAddress(d.address).family };
        const back = destinationFromWire(destinationToWire(d, s), 'ipv4');
        expect(sameDestination(back, d, s)).toBe(true);
      }),
    );
  });
});

describe('fast paths give what the general code gives', () => {
  const outcome = (f: () => unknown): unknown => {
    try {
      return { ok: f() };
    } catch (e) {
      expect(isLvskitError(e), String(e)).toBe(true);
      return { err: `${(e as IpvsError).code} ${(e as Error).message}` };
    }
  };
  const opt = (...xs: unknown[]): fc.Arbitrary<unknown> => fc.constantFrom<unknown>(undefined, ...xs);

  it('normalizeDestinationFast equals normalizeDestination (value or typed error), for valid and invalid input', () => {
    const services = [
      { protocol: 'tcp', address: '192.0.2.1', port: 80 },
      { protocol: 'udp', address: '2001:db8::1', port: 53 },
      { fwmark: 3, family: 'ipv4' },
    ].map((s) => normalizeService(s as Service));
    const destArb = fc.record(
      {
        address: fc.constantFrom('10.0.0.2', ' 10.0.0.3 ', '010.0.0.2', '10.0.0', '256.0.0.1', 'x', '2001:db8::2', '2001:DB8::3', '[10.0.0.4]', 7),
        family: opt('ipv4', 'ipv6', 'ipv5'),
        forwarding: opt('route', 'masq', 'tunnel', 'local', 'bypass', 'bogus'),
        port: opt(80, 53, 8080, 0, -1, 70000, 1.5, '80'),
        weight: opt(0, 1, 5, 0x7fff_ffff, 0x8000_0000, -1, 2.5, '3'),
        upperThreshold: opt(0, 100, 0xffff_ffff, 2 ** 32, -1),
        lowerThreshold: opt(0, 10, -5),
        tunnel: opt({ type: 'gue', port: 6080 }, { type: 'ipip' }),
      },
      { requiredKeys: ['address'] },
    );
    fc.assert(
      fc.property(destArb, fc.nat(2), (d, i) => {
        const svc = services[i] as ReturnType<typeof normalizeService>;
        const dest = d as unknown as Destination;
        expect(outcome(() => normalizeDestinationFast(dest, svc))).toEqual(outcome(() => normalizeDestination(dest, svc)));
      }),
      { numRuns: 2000 },
    );
  });

  it('canonical dotted quads parse on the fast path; anything else as before', () => {
    for (const [text, bytes, canon] of [
      ['0.0.0.0', [0, 0, 0, 0], '0.0.0.0'],
      ['255.255.255.255', [255, 255, 255, 255], '255.255.255.255'],
      ['10.20.0.100', [10, 20, 0, 100], '10.20.0.100'],
      [' 10.0.0.1 ', [10, 0, 0, 1], '10.0.0.1'],
      ['[192.0.2.9]', [192, 0, 2, 9], '192.0.2.9'],
    ] as const) {
      const a = parseAddress(text);
      expect([a.family, [...a.bytes], a.text]).toEqual(['ipv4', bytes, canon]);
    }
    for (const bad of ['256.0.0.1', '01.2.3.4', '00.1.2.3', '1.2.3', '1.2.3.4.', '.1.2.3', '1..2.3', '1.2.3.4.5', '1.2.3.1000', '1.2.3.a', '']) {
      expect(outcome(() => parseAddress(bad)), bad).toMatchObject({ err: expect.stringMatching(/^ERR_IPVS_INVALID_ADDRESS /) });
    }
  });
});
