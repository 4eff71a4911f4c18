/**
 * The operator command against the real things: `pool`/`depool`/`drain` write
 * the conftool key of a real etcd (compare-and-swap) or a pool file (atomic
 * rename), and a real director (dry run, on loopback) reading that etcd follows:
 * drain puts the server at weight 0 first, then out, and pool brings it back.
 */
import { createServer, type Server } from 'node:http';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, startDirector, type DirectorHandle } from '../../../examples/director/index.js';
import { main } from '../../../examples/director/ops/cli.js';
import { TestEtcd } from './etcd-harness.js';

const PREFIX = '/conftool/v1/pools/lo/web/http/';
const HOSTS = ['127.0.0.11', '127.0.0.12', '127.0.0.13'];

async function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as { port: number }).port);
    });
  });
}

/** One HTTP backend per 127.0.0.x address, all on the same port (the service's). */
async function backends(): Promise<{ port: number; servers: Server[] }> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const servers: Server[] = [];
    try {
      let port = 0;
      for (const h of HOSTS) {
        const s = createServer((_req, res) => res.writeHead(200).end('ok\n'));
        servers.push(s);
        port = await listen(s, h, port);
      }
      return { port, servers };
    } catch {
      for (const s of servers) s.close();
    }
  }
  throw new Error('no common free port on 127.0.0.11-13');
}

function io(): { out: string[]; err: string[]; io: Parameters<typeof main>[1] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { stdout: (s) => void out.push(s), stderr: (s) => void err.push(s) } };
}

describe('operator command with a real etcd and a real director', () => {
  const etcd = new TestEtcd();
  const dir = mkdtempSync(join(tmpdir(), 'lvskit-ops-'));
  let d: DirectorHandle;
  let servers: Server[] = [];
  let configFile = '';
  const weights: Record<string, number[]> = {};

  beforeAll(async () => {
    await etcd.start();
    for (const h of HOSTS) await etcd.put(`${PREFIX}${h}`, JSON.stringify({ weight: 10, pooled: 'yes' }));
    const b = await backends();
    servers = b.servers;
    const text = `name: ops
dryRun: true
status: { address: 127.0.0.1, port: 0 }
services:
  http:
    vip: 192.0.2.90
    port: ${b.port}
    forwarding: masq
    depoolThreshold: 0.3
    drainMs: 300ms
    checks:
      - { type: tcp, intervalMs: 200 }
    pool: { type: etcd, endpoints: ["${etcd.endpoint}"], dc: lo, cluster: web, timeoutMs: 5000, backoff: { initialMs: 100, maxMs: 500 } }
`;
    configFile = join(dir, 'director.yaml');
    writeFileSync(configFile, text);
    const logger = pino({ level: 'warn' }, new Writable({ write: (_c, _e, cb) => cb() }));
    d = await startDirector(parseConfig(text, configFile), { logger });
    d.on('ipvs', async () => {
      for (const s of (await d.ipvsTable()).flatMap((x) => x.destinations ?? [])) if (s.weight !== undefined) (weights[s.address] ??= []).push(s.weight);
    });
    const end = Date.now() + 20_000;
    while ((await d.ipvsTable()).flatMap((x) => x.destinations ?? []).length < 3) {
      if (Date.now() > end) throw new Error(`no first table: ${JSON.stringify(d.status())}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }, 60_000);

  afterAll(async () => {
    await d?.stop();
    for (const s of servers) s.close();
    await etcd.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const dest = async (h: string): Promise<number | undefined> => (await d.ipvsTable()).flatMap((x) => x.destinations ?? []).find((x) => x.address === h)?.weight;
  const value = async (h: string): Promise<unknown> => JSON.parse((await etcd.get(`${PREFIX}${h}`)) ?? 'null');

  it('drain: weight 0 seen by the director, then pooled no with the weight kept; pool brings it back', async () => {
    expect(await dest('127.0.0.11')).toBe(10);
    const o = io();
    const code = await main(['drain', 'http', '127.0.0.11', '--config', configFile, '--status', d.statusUrl!, '--wait', '400ms'], o.io);
    expect(o.err.join('')).toBe('');
    expect(code).toBe(0);
    expect(o.out.join('')).toMatch(/pooled yes weight 10 -> pooled yes weight 0/);
    expect(o.out.join('')).toMatch(/the director has it at weight 0/);
    expect(o.out.join('')).toMatch(/pooled yes weight 0 -> pooled no weight 10/);
    expect(await value('127.0.0.11')).toEqual({ weight: 10, pooled: 'no' });
    expect(weights['127.0.0.11']).toContain(0);
    // Out of IPVS after the director's own drain time.
    const gone = Date.now() + 10_000;
    while ((await dest('127.0.0.11')) !== undefined && Date.now() < gone) await new Promise((r) => setTimeout(r, 50));
    expect(await dest('127.0.0.11')).toBeUndefined();

    const p = io();
    expect(await main(['pool', 'http', '127.0.0.11', '--config', configFile], p.io)).toBe(0);
    expect(await value('127.0.0.11')).toEqual({ weight: 10, pooled: 'yes' });
    const back = Date.now() + 10_000;
    while ((await dest('127.0.0.11')) !== 10 && Date.now() < back) await new Promise((r) => setTimeout(r, 50));
    expect(await dest('127.0.0.11')).toBe(10);
  }, 40_000);

  it('depool and pool --weight through --etcd/--prefix; refusals are typed errors with exit 1 or 2', async () => {
    const e = ['--etcd', etcd.endpoint, '--prefix', PREFIX];
    const o = io();
    expect(await main(['depool', 'http', '127.0.0.12', ...e], o.io)).toBe(0);
    expect(await value('127.0.0.12')).toEqual({ weight: 10, pooled: 'no' });
    expect(await main(['pool', 'http', '127.0.0.12', ...e, '--weight', '25'], o.io)).toBe(0);
    expect(await value('127.0.0.12')).toEqual({ weight: 25, pooled: 'yes' });
    const back = Date.now() + 10_000;
    while ((await dest('127.0.0.12')) !== 25 && Date.now() < back) await new Promise((r) => setTimeout(r, 50));
    expect(await dest('127.0.0.12')).toBe(25);

    const bad = io();
    expect(await main(['pool', 'http', '192.0.2.99', ...e], bad.io)).toBe(1);
    expect(bad.err.join('')).toMatch(/has no key in etcd/);
    expect(await main(['drain', 'http', '127.0.0.12', '--config', configFile, '--weight', '3'], bad.io)).toBe(1);
    expect(bad.err.join('')).toMatch(/--weight goes with pool/);
    expect(await main(['pool', 'nosuch', '127.0.0.12', '--config', configFile], bad.io)).toBe(1);
    expect(bad.err.join('')).toMatch(/no service nosuch/);
    expect(await main(['repool', 'http', 'x'], bad.io)).toBe(2);
    expect(await main(['pool', 'http'], bad.io)).toBe(2);
    // A drain left half-done (weight 0) is not pooled back at weight 0.
    await etcd.put(`${PREFIX}127.0.0.13`, JSON.stringify({ weight: 0, pooled: 'yes' }));
    expect(await main(['pool', 'http', '127.0.0.13', ...e], bad.io)).toBe(1);
    expect(bad.err.join('')).toMatch(/weight 0 \(an interrupted drain\?\): give --weight/);
    expect(await main(['pool', 'http', '127.0.0.13', ...e, '--weight', '10'], bad.io)).toBe(0);
  }, 30_000);

  it('a stopped etcd is a typed error, not a hang', async () => {
    const o = io();
    expect(await main(['depool', 'http', '127.0.0.12', '--etcd', 'http://127.0.0.1:1', '--prefix', PREFIX], o.io)).toBe(1);
    expect(o.err.join('')).toMatch(/etcd unreachable: connect ECONNREFUSED 127.0.0.1:1/);
  });
});

describe('operator command on a pool file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lvskit-ops-file-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('changes one line by atomic rename (new inode, same mode), keeps the rest, and drains with --wait', async () => {
    const path = join(dir, 'pool');
    const text = "# api pool\n{ 'host': 'a.example', 'weight': 10, 'enabled': True }\n{ 'host': 'b.example', 'weight': 7, 'enabled': True }\n";
    writeFileSync(path, text, { mode: 0o640 });
    const ino = statSync(path).ino;
    const o = io();
    expect(await main(['depool', 'api', 'b.example', '--pool-file', path], o.io)).toBe(0);
    expect(readFileSync(path, 'utf8')).toBe(text.replace("'b.example', 'weight': 7, 'enabled': True", "'b.example', 'weight': 7, 'enabled': False"));
    expect(statSync(path).ino).not.toBe(ino);
    expect(statSync(path).mode & 0o777).toBe(0o640);
    expect(await main(['drain', 'api', 'a.example', '--pool-file', path, '--wait', '50ms'], o.io)).toBe(0);
    expect(o.out.join('')).toMatch(/a.example: pooled yes weight 10 -> pooled yes weight 0 \(pool file/);
    expect(readFileSync(path, 'utf8')).toContain("{ 'host': 'a.example', 'weight': 10, 'enabled': False }");
    expect(await main(['drain', 'api', 'a.example', '--pool-file', path, '--wait', '50ms'], o.io)).toBe(1);
    expect(o.err.join('')).toMatch(/a.example is not pooled \(pooled no\): nothing to drain/);
    expect(readdirNoTemp(dir)).toEqual(['pool']);
  });

  it('through a symlinked pool file, writes the target and leaves the link a link', async () => {
    const target = join(dir, 'real-pool');
    const link = join(dir, 'linked-pool');
    writeFileSync(target, "{ 'host': 'c.example', 'weight': 3, 'enabled': True }\n");
    symlinkSync(target, link);
    const o = io();
    expect(await main(['depool', 'api', 'c.example', '--pool-file', link], o.io)).toBe(0);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readFileSync(target, 'utf8')).toBe("{ 'host': 'c.example', 'weight': 3, 'enabled': False }\n");
  });
});

/** No temporary file left behind by the atomic writes. */
function readdirNoTemp(dir: string): string[] {
  return readdirSync(dir).sort();
}
