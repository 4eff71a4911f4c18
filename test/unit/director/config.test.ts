/**
 * The director's configuration file: what a good file becomes, and that every
 * kind of mistake is a `ConfigError` naming the file, line and key.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LvskitError } from 'lvskit';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, diffServices, loadConfig, parseConfig, parseDuration } from '../../../examples/director/index.js';

const GOOD = `name: lb1
dryRun: auto
status: { address: 127.0.0.1, port: 9090 }
ipvs:
  sysctls: { expire_nodest_conn: 1, conn_reuse_mode: 0, sloppy_tcp: 1 }
  reconcileIntervalMs: 30s
bgp:
  localAs: 64512
  routerId: 192.0.2.10
  gracefulRestart: { restartTime: 120 }
  announce: { med: 100, communities: ["64512:80"] }
  peers:
    - { address: 192.0.2.1, remoteAs: 64500 }
services:
  web:
    vips: [198.51.100.80, "2001:db8::80"]
    port: 443
    scheduler: mh
    schedFlags: [mh-port]
    forwarding: route
    depoolThreshold: 0.6
    drainMs: 30s
    checks:
      - { type: https, path: /healthz, intervalMs: 2s, timeoutMs: 1500, verify: false }
      - { name: conn, type: tcp }
    servers:
      - { host: rs1.example, address: 10.0.0.11, weight: 10 }
      - { host: rs2.example, address: "2001:db8:1::12" }
      - 10.0.0.13
  dns:
    vip: 198.51.100.53
    protocol: udp
    port: 53
    checks:
      - { type: dns, name: example.org, expectRcode: 0 }
    pool: { type: file, path: pools/dns.conf }
    announce: { when: always, med: 200, prepend: 2 }
`;

function issuesOf(text: string): { key: string; line: number | undefined; message: string }[] {
  try {
    parseConfig(text, '/etc/lvskit/director.yaml');
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    expect(e).toBeInstanceOf(LvskitError);
    const c = e as ConfigError;
    expect(c.code).toBe('ERR_DIRECTOR_CONFIG');
    expect(c.file).toBe('/etc/lvskit/director.yaml');
    return c.issues.map((i) => ({ key: i.key, line: i.line, message: i.message }));
  }
  throw new Error('expected a ConfigError');
}

describe('director config: a good file', () => {
  it('reads every section with defaults filled in', () => {
    const c = parseConfig(GOOD, '/etc/lvskit/director.yaml');
    expect(c.name).toBe('lb1');
    expect(c.baseDir).toBe('/etc/lvskit');
    expect(c.ipvs.sysctls).toEqual({ expire_nodest_conn: 1, conn_reuse_mode: 0, sloppy_tcp: 1 });
    expect(c.ipvs.reconcileIntervalMs).toBe(30_000);
    expect(c.bgp?.gracefulRestart).toEqual({ restartTime: 120 });
    expect(c.bgp?.announce).toEqual({ med: 100, communities: ['64512:80'] });
    expect(c.bgp?.listen).toBe(false);
    const web = c.services.find((s) => s.name === 'web');
    expect(web).toMatchObject({ vips: ['198.51.100.80', '2001:db8::80'], port: 443, protocol: 'tcp', scheduler: 'mh', schedFlags: ['mh-port'], depoolThreshold: 0.6, drainMs: 30_000 });
    expect(web?.checks.map((x) => [x.name, x.type, x.intervalMs])).toEqual([['https', 'https', 2000], ['conn', 'tcp', 2000]]);
    expect(web?.checks[0]?.options).toEqual({ path: '/healthz', timeoutMs: 1500, verify: false });
    expect(web?.servers).toEqual([
      { host: 'rs1.example', address: '10.0.0.11', weight: 10, enabled: true },
      { host: 'rs2.example', address: '2001:db8:1::12', weight: 1, enabled: true },
      { host: '10.0.0.13', address: '10.0.0.13', weight: 1, enabled: true },
    ]);
    expect(web?.announce).toEqual({ when: 'pooled' });
    const dns = c.services.find((s) => s.name === 'dns');
    expect(dns).toMatchObject({ vips: ['198.51.100.53'], protocol: 'udp', pool: { type: 'file', path: 'pools/dns.conf' }, announce: { when: 'always', med: 200, prepend: 2 } });
    expect(dns?.servers).toBeUndefined();
  });

  it('durations take ms or a unit', () => {
    expect([parseDuration(250), parseDuration('250ms'), parseDuration('2s'), parseDuration('1.5m'), parseDuration('1h')]).toEqual([250, 250, 2000, 90_000, 3_600_000]);
    expect([parseDuration('2 weeks'), parseDuration(-1), parseDuration('s')]).toEqual([undefined, undefined, undefined]);
  });

  it('diffServices tells changed services from unchanged ones', () => {
    const a = parseConfig(GOOD);
    const b = parseConfig(GOOD.replace('depoolThreshold: 0.6', 'depoolThreshold: 0.7').replace('  dns:\n', '  dns2:\n'));
    expect(diffServices(a, b)).toEqual({ added: ['dns2'], removed: ['dns'], changed: ['web'], unchanged: [] });
    expect(diffServices(a, parseConfig(GOOD))).toEqual({ added: [], removed: [], changed: [], unchanged: ['web', 'dns'] });
  });
});

describe('director config: errors name file, line and key', () => {
  it('bad YAML', () => {
    const issues = issuesOf('services:\n  web:\n    vips: [192.0.2.1\n    port: 80\n');
    expect(issues[0]?.message).toMatch(/^YAML: /);
    expect(issues[0]?.line).toBeGreaterThanOrEqual(3);
  });

  it('a duplicate key is a YAML error with its line', () => {
    const issues = issuesOf('name: a\nname: b\nservices: {}\n');
    expect(issues[0]).toMatchObject({ line: 2 });
    expect(issues[0]?.message).toMatch(/unique|duplicate/i);
  });

  it('wrong types, each at its line', () => {
    const text = GOOD.replace('port: 443', 'port: "443"').replace('depoolThreshold: 0.6', 'depoolThreshold: 1.5').replace('weight: 10', 'weight: ten');
    const issues = issuesOf(text);
    const byKey = Object.fromEntries(issues.map((i) => [i.key, i]));
    expect(byKey['services.web.port']).toMatchObject({ line: 17 });
    expect(byKey['services.web.port']?.message).toMatch(/integer/);
    expect(byKey['services.web.depoolThreshold']).toMatchObject({ line: 21 });
    expect(byKey['services.web.servers[0].weight']).toMatchObject({ line: 27 });
    expect(byKey['services.web.servers[0].weight']?.message).toMatch(/got string "ten"/);
  });

  it('an unknown key is reported at the key, with a suggestion', () => {
    const issues = issuesOf(GOOD.replace('    drainMs: 30s', '    drain_ms: 30s'));
    expect(issues).toEqual([expect.objectContaining({ key: 'services.web.drain_ms', line: 22 })]);
    expect(issues[0]?.message).toMatch(/unknown key \(did you mean drainMs\?\)/);
  });

  it('check options are checked per type', () => {
    const issues = issuesOf(GOOD.replace('{ name: conn, type: tcp }', '{ name: conn, type: tcp, path: /x }').replace('type: dns, name: example.org,', 'type: dns,'));
    expect(issues.map((i) => [i.key, i.line])).toEqual([
      ['services.web.checks[1].path', 25],
      ['services.dns.checks[0]', 35],
    ]);
    expect(issues[1]?.message).toBe('a dns check needs name');
  });

  it('values that cannot work together', () => {
    const text = `services:
  web:
    vips: [192.0.2.80]
    port: 80
    forwarding: route
    vrrp: vi_1
    checks: [{ type: tcp }]
    servers:
      - { host: a, address: 10.0.0.1, port: 8080 }
      - { host: b, address: "2001:db8::2" }
`;
    const issues = issuesOf(text);
    expect(issues.map((i) => [i.key, i.line])).toEqual([
      ['services.web.vrrp', 6],
      ['services.web.servers[0].port', 9],
      ['services.web.servers[1].address', 10],
    ]);
    expect(issues[1]?.message).toMatch(/masq/);
  });

  it('missing sections and an empty file', () => {
    expect(issuesOf('')[0]?.message).toMatch(/empty/);
    expect(issuesOf('name: x\n')).toEqual([expect.objectContaining({ key: 'services', message: expect.stringMatching(/missing/) })]);
    const issues = issuesOf('services:\n  web:\n    port: 80\n');
    expect(issues.map((i) => i.message)).toEqual(['missing vips: the service addresses', 'missing checks: a service needs at least one health check', 'missing servers (or a pool source)']);
    expect(issues.every((i) => i.line === 2)).toBe(true);
  });

  it('BGP: router id, hold time and communities', () => {
    const text = GOOD.replace('routerId: 192.0.2.10', 'routerId: "2001:db8::1"').replace('restartTime: 120', 'restartTime: 5000').replace('"64512:80"', '"x:80"');
    const issues = issuesOf(text);
    expect(issues.map((i) => [i.key, i.line])).toEqual([
      ['bgp.routerId', 9],
      ['bgp.gracefulRestart.restartTime', 10],
      ['bgp.announce.communities[0]', 11],
    ]);
  });

  it('the message has one file:line:col: key: line per issue', () => {
    try {
      parseConfig(GOOD.replace('port: 443', 'port: -1').replace('scheduler: mh', 'scheduler: 7'), 'd.yaml');
      throw new Error('expected a ConfigError');
    } catch (e) {
      expect((e as Error).message.split('\n')).toEqual([
        'd.yaml:17:11: services.web.port: must be an integer from 0 to 65535, got number -1',
        'd.yaml:18:16: services.web.scheduler: must be a non-empty string, got number 7',
      ]);
    }
  });
});

describe('director config: files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lvskit-director-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loadConfig reads a file and names it in errors', async () => {
    const f = join(dir, 'ok.yaml');
    writeFileSync(f, GOOD);
    expect((await loadConfig(f)).baseDir).toBe(dir);
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'services:\n  web: 3\n');
    await expect(loadConfig(bad)).rejects.toMatchObject({ code: 'ERR_DIRECTOR_CONFIG', file: bad, line: 2, key: 'services.web' });
    await expect(loadConfig(join(dir, 'missing.yaml'))).rejects.toMatchObject({ code: 'ERR_DIRECTOR_CONFIG', message: expect.stringMatching(/no such file/) });
  });
});

describe('director config: the shipped examples and docs', () => {
  const root = join(import.meta.dirname, '../../..');
  const dir = join(root, 'examples', 'director', 'configs');

  it('every example config in examples/director/configs is valid', async () => {
    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
    expect(files.sort()).toEqual(['active-active.yaml', 'active-passive-backup.yaml', 'active-passive-primary.yaml', 'active-passive-vrrp-backup.yaml']);
    const cfgs = await Promise.all(files.map((f) => loadConfig(join(dir, f))));
    const byFile = Object.fromEntries(files.map((f, i) => [f, cfgs[i]]));
    // The layouts differ where the docs say they do.
    expect(byFile['active-passive-primary.yaml']?.bgp?.announce.med).toBeLessThan(byFile['active-passive-backup.yaml']?.bgp?.announce.med ?? 0);
    expect(byFile['active-passive-primary.yaml']?.ipvs.syncDaemon?.state).toBe('master');
    expect(byFile['active-passive-backup.yaml']?.ipvs.syncDaemon?.state).toBe('backup');
    expect(byFile['active-active.yaml']?.ipvs.sysctls.sloppy_tcp).toBe(1);
    expect(byFile['active-active.yaml']?.services[0]?.scheduler).toBe('mh');
    expect(byFile['active-passive-vrrp-backup.yaml']?.services[0]?.vrrp).toBe('vi_www');
  });

  it('every YAML block in docs/director.md is a valid config', () => {
    const md = readFileSync(join(root, 'docs', 'director.md'), 'utf8');
    const blocks = [...md.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
    expect(blocks.length).toBeGreaterThan(0);
    for (const b of blocks) expect(parseConfig(b, 'docs/director.md').services.length).toBeGreaterThan(0);
  });
});
