/**
 * PyBal migration: a pybal.conf and its pool files become director YAML that the
 * director's own config reader accepts; what PyBal had that the director lacks
 * is listed, and what cannot work fails with file and line.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseConfig } from '../../../examples/director/config.js';
import { main } from '../../../examples/director/pybal/cli.js';
import { parseIni } from '../../../examples/director/pybal/ini.js';
import { migratePybal, migratePybalDetailed } from '../../../examples/director/pybal/migrate.js';
import { isPoolSourceError, type PoolSourceError } from '../../../examples/director/sources/errors.js';

const here = new URL('./fixtures/', import.meta.url).pathname;
const conf = readFileSync(join(here, 'pybal.conf'), 'utf8');
const poolText = readFileSync(join(here, 'pools/text'), 'utf8');
const readPool = (p: string): string => {
  if (p === '/etc/pybal/pools/text') return poolText;
  throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
};

function thrown(fn: () => unknown): PoolSourceError {
  try {
    fn();
  } catch (err) {
    expect(isPoolSourceError(err, 'ERR_PYBAL_CONF')).toBe(true);
    return err as PoolSourceError;
  }
  throw new Error('expected ERR_PYBAL_CONF');
}

describe('migratePybal', () => {
  it('turns the sample pybal.conf into a config the director reads', () => {
    const yaml = migratePybal(conf, readPool);
    const cfg = parseConfig(yaml, 'migrated.yaml');
    expect(cfg.status).toEqual({ address: '127.0.0.1', port: 9090 });
    expect(cfg.bgp?.localAs).toBe(64496);
    expect(cfg.bgp?.routerId).toBe('192.0.2.100');
    expect(cfg.bgp?.announce).toEqual({ prepend: 1, med: 100 });
    expect(cfg.bgp?.peers.map((p) => p.address)).toEqual(['192.0.2.254', '192.0.2.253']);
    expect(cfg.bgp?.peers[0]?.nextHop).toEqual({ ipv4: '192.0.2.100', ipv6: '2001:db8:1:1::100' });

    const [text, dns] = cfg.services;
    expect(text?.name).toBe('text');
    expect(text?.vips).toEqual(['192.0.2.11']);
    expect(text?.scheduler).toBe('wlc');
    expect(text?.depoolThreshold).toBe(0.5);
    expect(text?.pool).toEqual({ type: 'file', path: '/etc/pybal/pools/text', format: 'pybal' });
    expect(text?.checks.map((c) => [c.type, c.intervalMs])).toEqual([
      ['http', 10_000],
      ['idle', expect.any(Number)],
      ['command', 60_000],
    ]);
    expect(text?.checks[0]?.options).toEqual({ path: '/wiki/Main?x=1', host: 'www.example.com', expectStatus: 200, timeoutMs: 5000 });
    expect(text?.checks[1]?.options).toEqual({ maxDelayMs: 300_000 });
    expect(text?.checks[2]?.options).toEqual({ argv: ['/bin/sh', '/etc/pybal/command-test', '{host}', 'one', '2', 'III'], timeoutMs: 10_000 });

    expect(dns?.vips).toEqual(['2001:db8::53']);
    expect(dns?.protocol).toBe('udp');
    expect(dns?.pool).toEqual({ type: 'etcd', endpoints: ['https://conf1.example:2379'], prefix: '/conftool/v1/pools/eqiad/dns/recursor/' });
    expect(dns?.announce.med).toBe(50);
    expect(dns?.checks.filter((c) => c.type === 'dns').map((c) => c.options.expectRcode)).toEqual([[0, 3], [0, 3]]);
  });

  it('lists what does not carry over, in the YAML header and as warnings', () => {
    const r = migratePybalDetailed(conf, readPool, { confPath: '/etc/pybal/pybal.conf' });
    expect(r.warnings).toEqual([
      expect.stringMatching(/^\[global\] line 4: .*remoteAs is set to 64496/),
      expect.stringMatching(/^\[text\] line 21: idleconnection.timeout-clean-reconnect/),
      expect.stringMatching(/^\[dns\] line 37: .*one check per name/),
      expect.stringMatching(/^\[dns\] line 34: .*v3/),
    ]);
    expect(r.yaml.startsWith('# Director configuration migrated from /etc/pybal/pybal.conf')).toBe(true);
    for (const w of r.warnings) expect(r.yaml).toContain(w);
  });

  it('--inline copies the pool file into servers:', () => {
    const yaml = migratePybal(conf, readPool, { inlinePools: true });
    const cfg = parseConfig(yaml, 'migrated.yaml');
    expect(cfg.services[0]?.servers).toEqual([
      { host: 'cp1.example', weight: 10, enabled: true },
      { host: 'cp2.example', weight: 5, enabled: false },
    ]);
  });

  it('maps JSON pool files, http config, bgp = no, check_all ProxyFetch over HTTPS, and DEFAULT interpolation', () => {
    const text = `[DEFAULT]
pools = /srv/pools

[api]
protocol = tcp
ip = 198.51.100.7
port = 443
scheduler = sh
config = file://%(pools)s/api.json
bgp = no
monitors = [ "ProxyFetch" ]
proxyfetch.url = [ 'https://api.example:8443/health', 'https://api.example/ready' ]
proxyfetch.check_all = true
proxyfetch.timeout = 2
proxyfetch.interval = 3

[blog]
protocol = tcp
ip = 198.51.100.8
port = 80
scheduler = wrr
config = http://config-master.example/pools/blog
monitors = [ 'IdleConnection' ]
`;
    const reads: string[] = [];
    const yaml = migratePybal(text, (p) => {
      reads.push(p);
      return '{"api1.example": {"enabled": true, "weight": 10}}';
    });
    expect(reads).toEqual(['/srv/pools/api.json']);
    const cfg = parseConfig(yaml, 'x.yaml');
    const [api, blog] = cfg.services;
    expect(api?.pool).toEqual({ type: 'file', path: '/srv/pools/api.json', format: 'json' });
    expect(api?.announce.when).toBe('never');
    expect(api?.checks.map((c) => [c.name, c.type, c.intervalMs, c.options.port, c.options.path, c.options.timeoutMs])).toEqual([
      ['proxyfetch-1', 'https', 3000, 8443, '/health', 2000],
      ['proxyfetch-2', 'https', 3000, undefined, '/ready', 2000],
    ]);
    expect(blog?.pool).toEqual({ type: 'http', url: 'http://config-master.example/pools/blog', format: 'auto' });
    // The YAML is plain data a person can edit.
    expect(parseYaml(yaml).services.blog.checks).toEqual([{ type: 'idle', name: 'idleconnection' }]);
  });

  it.each([
    ['[svc]\nprotocol = sctp\nip = 192.0.2.1\nport = 1\nscheduler = rr\nconfig = file:///p\nmonitors = ["IdleConnection"]\n', 2, /protocol must be tcp or udp/],
    ['[svc]\nprotocol = tcp\nip = not-an-ip\nport = 1\nscheduler = rr\nconfig = file:///p\nmonitors = ["IdleConnection"]\n', 3, /ip must be an IPv4 or IPv6/],
    ['[svc]\nprotocol = tcp\nip = 192.0.2.1\nport = 99999\nscheduler = rr\nconfig = file:///p\nmonitors = ["IdleConnection"]\n', 4, /port must be an integer/],
    ['[svc]\nprotocol = tcp\nip = 192.0.2.1\nport = 80\nscheduler = rr\nconfig = file:///p\n', 1, /has no monitors/],
    ['[svc]\nprotocol = tcp\nip = 192.0.2.1\nport = 80\nscheduler = rr\nconfig = file:///p\nmonitors = ["VIPPing"]\n', 7, /none of its monitors/],
    ['[svc]\nprotocol = tcp\nip = 192.0.2.1\nport = 80\nscheduler = rr\nconfig = ftp://x/p\nmonitors = ["IdleConnection"]\n', 6, /file:\/\/, http:\/\/ and etcd:\/\//],
    ['[svc]\nprotocol = tcp\nip = 192.0.2.1\nport = 80\nscheduler = rr\nconfig = file:///missing\nmonitors = ["IdleConnection"]\n', 6, /cannot read pool file \/missing.*ENOENT/],
    ['[svc]\nprotocol = tcp\nip = 192.0.2.1\nport = 80\nscheduler = rr\nconfig = file:///p\nmonitors = ["IdleConnection"]\ndepool-threshold = lots\n', 8, /depool-threshold must be a number/],
    ['[svc]\nprotocol = tcp\nip = 192.0.2.1\nport = 80\nscheduler = rr\nconfig = file:///p\nmonitors = [ "IdleConnection"\n', 7, /expected ','/],
    ['[svc]\nprotocol = tcp\nip = 192.0.2.1\nport = 80\nscheduler = rr\nconfig = file:///p\nmonitors = ["RunCommand"]\nruncommand.command = /bin/true\nruncommand.arguments = [ server.weight ]\n', 9, /server.weight has no director equivalent/],
    ['[global]\nbgp = yes\n[svc]\nprotocol = tcp\n', 1, /bgp = yes needs bgp-local-asn/],
    ['[global]\nbgp = maybe\n', 2, /bgp must be yes\/no/],
    ['key = 1\n', 1, /before any \[section\]/],
    ['[a]\nthis line has no equals\n', 2, /cannot read this line/],
    ['[a]\nx = %(nope)s\n', 2, /refers to %\(nope\)s/],
    ['[global]\n', undefined, /no service sections/],
  ])('refuses %j with a typed error at line %s', (text, line, msg) => {
    const err = thrown(() => migratePybal(text, (p) => (p === '/p' ? "{ 'host': 'a', 'weight': 1, 'enabled': True }" : readPool(p)), { confPath: 'pybal.conf' }));
    expect(err.message).toMatch(msg);
    expect(err.line).toBe(line);
  });

  it('a malformed pool file fails the migration naming the pool file and its line', () => {
    const text = conf;
    const err = thrown(() => migratePybal(text, () => "{ 'host': 'a', 'weight': 1, 'enabled': True }\n{ 'host': 'b', 'weight': 1 'enabled': True }\n"));
    expect(err.where).toBe('/etc/pybal/pools/text');
    expect(err.line).toBe(2);
    expect(err.message).toMatch(/PyBal skipped such lines; the director refuses the file/);
  });
});

describe('parseIni', () => {
  it('reads continuation lines, inline ; comments, ":" separators and case-insensitive keys', () => {
    const ini = parseIni('[s]\nMonitors = [ "A",\n    "B" ]\nport: 80 ; http\nurl = http://x/#frag\n');
    const s = ini.sections[0]!;
    expect(s.values.get('monitors')?.value).toBe('[ "A",\n"B" ]');
    expect(s.values.get('port')?.value).toBe('80');
    expect(s.values.get('url')?.value).toBe('http://x/#frag');
  });
});

describe('migrate-pybal CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lvskit-migrate-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints YAML and warnings; --output writes a file; errors exit 1; usage exits 2', async () => {
    const pool = join(dir, 'text');
    writeFileSync(pool, poolText);
    const confPath = join(dir, 'pybal.conf');
    writeFileSync(confPath, conf.replace('file:///etc/pybal/pools/text', `file://${pool}`));
    let out = '';
    let err = '';
    const io = { stdout: (s: string) => void (out += s), stderr: (s: string) => void (err += s) };
    expect(await main([confPath], io)).toBe(0);
    expect(parseConfig(out, join(dir, 'd.yaml')).services.map((s) => s.name)).toEqual(['text', 'dns']);
    expect(err).toMatch(/migrate-pybal: warning: \[global\] line 4/);

    out = '';
    const target = join(dir, 'director.yaml');
    expect(await main([confPath, '--inline', '--output', target], io)).toBe(0);
    expect(out).toBe('');
    expect(parseConfig(readFileSync(target, 'utf8'), target).services[0]?.servers?.length).toBe(2);

    err = '';
    writeFileSync(pool, "{ 'host': 'x' }\n");
    expect(await main([confPath], io)).toBe(1);
    expect(err).toMatch(new RegExp(`${pool}:1`));
    expect(err).toMatch(/missing 'weight'/);

    err = '';
    expect(await main([], io)).toBe(2);
    expect(err).toMatch(/usage: lvskit-director migrate-pybal/);
    expect(await main([join(dir, 'nope.conf')], io)).toBe(1);
    expect(err).toMatch(/cannot read .*nope\.conf: ENOENT/);
  });
});
