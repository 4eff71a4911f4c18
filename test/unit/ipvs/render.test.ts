import { describe, expect, it } from 'vitest';
import { isLvskitError } from '../../../src/util/errors.js';
import { normalizeDestination, normalizeService } from '../../../src/ipvs/model.js';
import { plan, type TableService } from '../../../src/ipvs/plan.js';
import { renderOp, renderOps, renderServiceArg, renderTable } from '../../../src/ipvs/plan-render.js';

/** The kernel tier's "rich" table: every kind of entry the model has. */
const rich: TableService[] = [
  { protocol: 'tcp', address: '10.0.0.1', port: 80, scheduler: 'wrr', destinations: [{ address: '10.0.0.2', weight: 10 }, { address: '10.0.0.3', weight: 0, upperThreshold: 50, lowerThreshold: 5 }] },
  {
    protocol: 'udp', address: '2001:db8::53', port: 53, scheduler: 'sh', schedFlags: ['sh-fallback', 'sh-port'],
    persistence: { timeout: 600, netmask: 64 },
    destinations: [{ address: '2001:db8:1::2', forwarding: 'masq', port: 5353, weight: 2 }, { address: '2001:db8:1::3' }],
  },
  { protocol: 'udp', address: '10.0.0.53', port: 53, scheduler: 'rr', onePacket: true, destinations: [{ address: '10.0.1.2', forwarding: 'masq', port: 53 }] },
  { protocol: 'sctp', address: '10.0.0.9', port: 9, scheduler: 'mh', schedFlags: ['mh-port'], destinations: [{ address: '10.0.1.9' }] },
  { fwmark: 5, scheduler: 'wlc', persistence: { timeout: 300 }, destinations: [{ address: '10.0.2.1', port: 0 }, { address: '10.0.2.2', port: 0, weight: 4 }] },
  { fwmark: 6, family: 'ipv6', scheduler: 'lc', destinations: [{ address: '2001:db8:2::1', port: 0 }] },
  {
    protocol: 'tcp', address: '10.0.0.7', port: 443, scheduler: 'wrr',
    destinations: [
      { address: '10.0.3.1', forwarding: 'tunnel', weight: 5 },
      { address: '10.0.3.2', forwarding: 'tunnel', tunnel: { type: 'gue', port: 6080, checksum: 'csum' } },
    ],
  },
];

/**
 * `ipvsadm -S -n` (ipvsadm 1.31, Debian 12) for `rich` on the 6.1 kernel, sorted, as the kernel tier
 * printed it (FACT ipvsadm-save-rich). ipvsadm -S leaves out thresholds, which we render as -x/-y.
 */
const IPVSADM_SAVE = [
  '-A --sctp-service 10.0.0.9:9 -s mh -b mh-port',
  '-A -f 5 -s wlc -p 300',
  '-A -f 6 -6 -s lc',
  '-A -t 10.0.0.1:80 -s wrr',
  '-A -t 10.0.0.7:443 -s wrr',
  '-A -u 10.0.0.53:53 -s rr -o',
  '-A -u [2001:db8::53]:53 -s sh -p 600 -M 64 -b sh-fallback,sh-port',
  '-a --sctp-service 10.0.0.9:9 -r 10.0.1.9:9 -g -w 1',
  '-a -f 5 -r 10.0.2.1:0 -g -w 1',
  '-a -f 5 -r 10.0.2.2:0 -g -w 4',
  '-a -f 6 -6 -r [2001:db8:2::1]:0 -g -w 1',
  '-a -t 10.0.0.1:80 -r 10.0.0.2:80 -g -w 10',
  '-a -t 10.0.0.1:80 -r 10.0.0.3:80 -g -w 0',
  '-a -t 10.0.0.7:443 -r 10.0.3.1:443 -i -w 5 --tun-type ipip',
  '-a -t 10.0.0.7:443 -r 10.0.3.2:443 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum',
  '-a -u 10.0.0.53:53 -r 10.0.1.2:53 -m -w 1',
  '-a -u [2001:db8::53]:53 -r [2001:db8:1::2]:5353 -m -w 2',
  '-a -u [2001:db8::53]:53 -r [2001:db8:1::3]:53 -g -w 1',
];

describe('dry run: ipvsadm command lines', () => {
  it('renders a table as ipvsadm -S -n prints it (plus the thresholds ipvsadm -S leaves out)', () => {
    const text = renderTable(rich);
    expect(text.endsWith('\n')).toBe(true);
    const lines = text.trim().split('\n');
    expect(lines.map((l) => l.replace(/ -x \d+| -y \d+/g, '')).sort()).toEqual(IPVSADM_SAVE);
    expect(lines).toContain('-a -t 10.0.0.1:80 -r 10.0.0.3:80 -g -w 0 -x 50 -y 5');
    // Services come before their destinations, so the text is valid ipvsadm -R input in order.
    expect(lines.findIndex((l) => l.startsWith('-a'))).toBe(rich.length);
  });

  it('service arguments: protocols, IPv6 in brackets, fwmark with -6', () => {
    expect(renderServiceArg(normalizeService({ protocol: 'tcp', address: '2001:0db8::0001', port: 443 }))).toBe('-t [2001:db8::1]:443');
    expect(renderServiceArg(normalizeService({ protocol: 'sctp', address: '192.0.2.1', port: 9 }))).toBe('--sctp-service 192.0.2.1:9');
    expect(renderServiceArg(normalizeService({ fwmark: 12 }))).toBe('-f 12');
    expect(renderServiceArg(normalizeService({ fwmark: 12, family: 'ipv6' }))).toBe('-f 12 -6');
  });

  it('persistence: -p always with its timeout, -M only when not a single client', () => {
    const lines = renderTable([
      { protocol: 'tcp', address: '192.0.2.1', port: 443, scheduler: 'rr', persistence: { timeout: 60, netmask: '255.255.255.0' } },
      { protocol: 'tcp', address: '192.0.2.2', port: 443, scheduler: 'rr', persistence: {} },
      { protocol: 'tcp', address: '2001:db8::1', port: 443, scheduler: 'rr', persistence: { netmask: 128 } },
      { protocol: 'tcp', address: '192.0.2.3', port: 5060, scheduler: 'rr', persistence: { timeout: 10 }, pe: 'sip' },
    ]);
    expect(lines).toBe(
      '-A -t 192.0.2.1:443 -s rr -p 60 -M 255.255.255.0\n' +
        '-A -t 192.0.2.2:443 -s rr -p 300\n' +
        '-A -t [2001:db8::1]:443 -s rr -p 300\n' +
        '-A -t 192.0.2.3:5060 -s rr -p 10 --pe sip\n',
    );
  });

  it('edits and deletes', () => {
    const svc = normalizeService({ protocol: 'udp', address: '192.0.2.1', port: 53, scheduler: 'rr' });
    const d = normalizeDestination({ address: '10.0.0.2', weight: 0 }, svc);
    expect(renderOp({ kind: 'edit-service', key: 'k', service: svc, previous: svc, changes: [] })).toBe('-E -u 192.0.2.1:53 -s rr');
    expect(renderOp({ kind: 'delete-service', key: 'k', service: svc })).toBe('-D -u 192.0.2.1:53');
    expect(renderOp({ kind: 'edit-destination', key: 'k', destKey: 'd', service: svc, destination: d, previous: d, changes: [], reason: 'drain' })).toBe('-e -u 192.0.2.1:53 -r 10.0.0.2:53 -g -w 0');
    expect(renderOp({ kind: 'delete-destination', key: 'k', destKey: 'd', service: svc, destination: d })).toBe('-d -u 192.0.2.1:53 -r 10.0.0.2:53');
  });

  it('a prefix makes a shell script', () => {
    expect(renderOps(plan([{ fwmark: 1, scheduler: 'rr' }], []).ops, { prefix: 'ipvsadm' })).toBe('ipvsadm -A -f 1 -s rr\n');
  });

  it('forwarding without an ipvsadm switch is refused, not rendered wrong', () => {
    for (const forwarding of ['local', 'bypass'] as const) {
      try {
        renderTable([{ protocol: 'tcp', address: '192.0.2.1', port: 80, destinations: [{ address: '10.0.0.2', forwarding }] }]);
        expect.unreachable();
      } catch (e) {
        expect(isLvskitError(e, 'ERR_IPVS_UNSUPPORTED')).toBe(true);
      }
    }
  });
});
