// examples/vrrpd's config reader (pure: YAML text in, router options or a typed error out).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { durationMs, parseConfig } from '../../../examples/vrrpd/config.mjs';
import { planReload, reprefixed, unitsOf } from '../../../examples/vrrpd/reload.mjs';

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

  it('places every problem at its file, line and column, in file order', () => {
    const text = ['instances:', '  - name: a', '    interface: eth0', '    vrid: 300', '    addresses: [10.0.0.1, nonsense]', '  - {name: b, interface: eth0, vrid: 7, addresses: [10.0.0.2]}', '  - {name: c, interface: eth0, vrid: 7, addresses: [10.0.0.3]}', 'log_level: loud', ''].join('\n');
    let issues: string[] = [];
    try {
      parseConfig(text, 'f.yaml');
    } catch (e) {
      issues = (e as { issues: string[] }).issues;
    }
    expect(issues).toEqual([
      'f.yaml:4:5: instances[0].vrid: an integer 1..255',
      "f.yaml:5:27: instances[0].addresses[1]: 'nonsense' is not an address with an optional prefix length",
      'f.yaml:7:32: instances[2].vrid: VRID 7 (ipv4) is already used on eth0 by instances[1]',
      "f.yaml:8:1: log_level: 'loud' is not one of trace, debug, info, warn, error, fatal",
    ]);
    expect(() => parseConfig('instances:\n  - name: a\n    name: b\n', 'dup.yaml')).toThrow(/dup\.yaml:3:5: not YAML: Map keys must be unique/);
  });
});

describe('vrrpd reload plan', () => {
  const base = ['  - {name: web, interface: eth0, vrid: 1, priority: 150, addresses: [10.0.0.1]}', '  - {name: db, interface: eth0, vrid: 2, addresses: [10.0.0.2/24]}'];
  const cfg = (...lines: string[]) => parseConfig(['instances:', ...lines, ''].join('\n'));

  it('units: a sync group with its members, else one instance each', () => {
    const c = cfg(...base, '  - {name: x, interface: eth0, vrid: 3, addresses: [10.0.0.3]}', 'sync_groups: [{name: g, instances: [db, x]}]');
    expect([...unitsOf(c).values()].map((u) => `${u.key}=${u.names.join('+')}`)).toEqual(['group:g=db+x', 'instance:web=web']);
  });

  it('sorts units into unchanged, added, removed, changed in place and restarted', () => {
    const running = cfg(...base, '  - {name: old, interface: eth0, vrid: 3, addresses: [10.0.0.3], notify: [/bin/true]}');
    expect(planReload(running, running)).toEqual({ remove: [], add: [], unchanged: ['instance:web', 'instance:db', 'instance:old'], restart: [], update: [] });
    const next = cfg(
      '  - {name: web, interface: eth0, vrid: 1, priority: 120, addresses: [10.0.0.1, 10.0.0.9], track_interface: false}',
      '  - {name: db, interface: eth0, vrid: 2, addresses: [10.0.0.2/24], vmac: true}',
      '  - {name: new, interface: eth0, vrid: 4, addresses: [10.0.0.4]}',
    );
    expect(planReload(running, next)).toEqual({
      remove: ['instance:old', 'instance:db'],
      add: ['instance:db', 'instance:new'],
      unchanged: [],
      restart: [{ unit: 'instance:db', why: 'db: vmac changed' }],
      update: [{ unit: 'instance:web', instance: 'web', changed: ['priority', 'addresses', 'trackInterface'] }],
    });
    // Hooks only: unchanged. Joining a sync group: the instance's unit goes, the group's comes.
    expect(planReload(running, cfg(...base, '  - {name: old, interface: eth0, vrid: 3, addresses: [10.0.0.3], notify: [/bin/false]}')).unchanged).toHaveLength(3);
    const grouped = planReload(running, cfg(...base, '  - {name: old, interface: eth0, vrid: 3, addresses: [10.0.0.3]}', 'sync_groups: [{name: g, instances: [db, old]}]'));
    expect(grouped).toMatchObject({ remove: ['instance:db', 'instance:old'], add: ['group:g'], unchanged: ['instance:web'] });
  });

  it('finds kept addresses with a new prefix length', () => {
    const a = cfg(base[1] as string).instances[0];
    const b = cfg('  - {name: db, interface: eth0, vrid: 2, addresses: [10.0.0.2/25, 10.0.0.7]}').instances[0];
    expect(reprefixed(a!, b!)).toEqual(['10.0.0.2']);
  });
});
