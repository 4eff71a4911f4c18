// examples/vrrpd's config reader (pure: YAML text in, router options or a typed error out).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { durationMs, parseConfig } from '../../../examples/vrrpd/config.mjs';

describe('vrrpd config', () => {
  it('reads the shipped example', () => {
    const text = readFileSync(new URL('../../../examples/vrrpd/vrrpd.example.yaml', import.meta.url), 'utf8');
    const c = parseConfig(text, 'vrrpd.example.yaml');
    expect(c.logLevel).toBe('info');
    expect(c.instances).toHaveLength(1);
    expect(c.instances[0]).toMatchObject({
      name: 'web', interface: 'eth0', vrid: 51, priority: 150, version: 3, family: 'ipv4',
      advertIntervalMs: 1000, addresses: ['192.0.2.100'], prefixes: { '192.0.2.100': 32 }, vmac: false, accept: true,
      notify: { any: ['/usr/bin/logger', '-t', 'vrrpd'], master: ['/usr/bin/logger', '-t', 'vrrpd', 'web is master'] },
    });
  });

  it('takes durations with units, and IPv6 instances from their addresses', () => {
    expect([durationMs('10ms'), durationMs('1.5s'), durationMs('2m'), durationMs(250), durationMs('soon'), durationMs(-1)]).toEqual([10, 1500, 120_000, 250, undefined, undefined]);
    const c = parseConfig('instances:\n  - {name: v6, interface: eth0, vrid: 2, addresses: [fe80::1, 2001:db8::1/64], vmac: true}\n');
    expect(c.instances[0]).toMatchObject({ family: 'ipv6', addresses: ['fe80::1', '2001:db8::1'], prefixes: { '2001:db8::1': 64 }, vmac: true });
  });

  it('names every problem with its place in one typed error', () => {
    const bad = ['log_level: loud', 'extra: 1', 'instances:', '  - name: a', '    vrid: 0', '    addresses: [10.0.0.1, "2001:db8::1", nonsense]', '    notify: 5', '  - name: a', '    interface: eth0', '    vrid: 1', '    addresses: [10.0.0.2]', 'sync_groups:', '  - {name: g, instances: [a, b]}', ''].join('\n');
    let err: unknown;
    try {
      parseConfig(bad, 'bad.yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ name: 'VrrpdConfigError', code: 'ERR_VRRPD_CONFIG' });
    const issues = (err as { issues: string[] }).issues;
    for (const want of ['log_level', 'extra: unknown key', 'instances[0].interface', 'instances[0].vrid', "'nonsense'", 'mixed', 'instances[0].notify', "instances[1].name: 'a' used twice", "no instance 'b'"]) {
      expect(issues.some((i) => i.includes(want)), `${want} in ${issues.join(' | ')}`).toBe(true);
    }
    expect(() => parseConfig('[1, 2]')).toThrow(/mapping/);
    expect(() => parseConfig('a: [')).toThrow(/not YAML/);
  });
});
