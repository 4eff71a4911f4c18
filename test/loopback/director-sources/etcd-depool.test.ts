/**
 * Issue 7, "set a server `pooled: no` in etcd: IPVS changes within a second",
 * natively: a real etcd and a real director (dry run, on loopback). The write
 * reaches IPVS through the watch, the pool and one apply, without waiting for
 * anything periodic: the put is made just after a health check of the server,
 * checks run every 5 s, and the weight-0 write must come before the server's
 * next check and well within a second (natively it takes ~15 ms). Pooled
 * again, the server comes back the same way (it stayed checked, and up).
 */
import { createServer, type Server } from 'node:http';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, startDirector, type DirectorHandle } from '../../../examples/director/index.js';
import { TestEtcd } from './etcd-harness.js';

const PREFIX = '/conftool/v1/pools/lo/web/http/';
const HOSTS = ['127.0.0.11', '127.0.0.12', '127.0.0.13'];
const HOST = '127.0.0.13';
const INTERVAL_MS = 5000;

async function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as { port: number }).port);
    });
  });
}

describe('etcd pooled no / yes -> IPVS, natively', () => {
  const etcd = new TestEtcd();
  let d: DirectorHandle;
  const servers: Server[] = [];
  /** Health checks each backend received, with their times. */
  const checks: Record<string, number[]> = {};
  const log: { t: number; kind: 'ipvs' | 'member'; text: string }[] = [];

  beforeAll(async () => {
    await etcd.start();
    for (const h of HOSTS) await etcd.put(`${PREFIX}${h}`, JSON.stringify({ weight: 10, pooled: 'yes' }));
    let port = 0;
    for (let attempt = 0; attempt < 10 && servers.length < HOSTS.length; attempt++) {
      try {
        for (const h of HOSTS) {
          const s = createServer((_req, res) => {
            (checks[h] ??= []).push(Date.now());
            res.writeHead(200).end('ok\n');
          });
          servers.push(s);
          port = await listen(s, h, port);
        }
      } catch {
        for (const s of servers.splice(0)) s.close();
        port = 0;
      }
    }
    expect(servers).toHaveLength(HOSTS.length);
    const text = `name: depool
dryRun: true
status: { address: 127.0.0.1, port: 0 }
services:
  http:
    vip: 192.0.2.91
    port: ${port}
    forwarding: route
    depoolThreshold: 0.5
    drainMs: 6s
    rise: 2
    fall: 2
    checks:
      - { type: http, path: /healthz, intervalMs: ${INTERVAL_MS}, timeoutMs: 1000 }
    pool: { type: etcd, endpoints: ["${etcd.endpoint}"], dc: lo, cluster: web }
`;
    const logger = pino({ level: 'warn' }, new Writable({ write: (_c, _e, cb) => cb() }));
    d = await startDirector(parseConfig(text, 'depool.yaml'), { logger });
    d.on('ipvs', (a) => log.push({ t: Date.now(), kind: 'ipvs', text: a.commands.join('\n') }));
    d.on('member', (e) => log.push({ t: Date.now(), kind: 'member', text: `${e.id} ${e.from} -> ${e.to}` }));
    const end = Date.now() + 20_000;
    while ((await d.ipvsTable()).flatMap((x) => x.destinations ?? []).filter((x) => x.weight === 10).length < 3) {
      if (Date.now() > end) throw new Error(`no first table: ${JSON.stringify(d.status())}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }, 60_000);

  afterAll(async () => {
    await d?.stop();
    for (const s of servers) s.close();
    await etcd.close();
  });

  /** Waits (bounded) for the first log entry from `from` on matching `re`. */
  const next = async (from: number, kind: 'ipvs' | 'member', re: RegExp): Promise<{ t: number; i: number }> => {
    const end = Date.now() + 15_000;
    for (;;) {
      const i = log.findIndex((x, j) => j >= from && x.kind === kind && re.test(x.text));
      if (i >= 0) return { t: log[i]!.t, i };
      if (Date.now() > end) throw new Error(`no ${kind} ${re} in ${JSON.stringify(log.slice(from))}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  /** Resolves just after the server received a health check (so its next one is ~INTERVAL_MS away). */
  const afterCheck = async (h: string): Promise<void> => {
    const n = checks[h]?.length ?? 0;
    const end = Date.now() + 2 * INTERVAL_MS + 5000;
    while ((checks[h]?.length ?? 0) === n) {
      if (Date.now() > end) throw new Error(`no health check of ${h}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  it('pooled no reaches IPVS as weight 0 without waiting for a check, and pooled yes brings it back', async () => {
    const figures: string[] = [];
    for (let round = 0; round < 2; round++) {
      await afterCheck(HOST);
      const from = log.length;
      // Checks the server gets from here on (by count: the one afterCheck saw can share t0's millisecond).
      const seen = checks[HOST]?.length ?? 0;
      const t0 = Date.now();
      await etcd.put(`${PREFIX}${HOST}`, JSON.stringify({ weight: 10, pooled: 'no' }));
      const w0 = await next(from, 'ipvs', new RegExp(`-r ${HOST.replace(/\./g, '\\.')}:\\d+ .*-w 0\\b`));
      // The pool decided (member -> draining) before IPVS got the weight 0, and no check of the server came in between.
      const m = await next(from, 'member', new RegExp(`^${HOST.replace(/\./g, '\\.')} pooled -> draining$`));
      expect(m.i).toBeLessThan(w0.i);
      expect(checks[HOST]!.slice(seen).filter((t) => t <= w0.t)).toEqual([]);
      // Natively ~15 ms; a second (a fifth of the check interval) is the goal.
      expect(w0.t - t0).toBeLessThan(1000);

      const from2 = log.length;
      const t2 = Date.now();
      await etcd.put(`${PREFIX}${HOST}`, JSON.stringify({ weight: 10, pooled: 'yes' }));
      const back = await next(from2, 'ipvs', new RegExp(`-r ${HOST.replace(/\./g, '\\.')}:\\d+ .*-w 10\\b`));
      expect(back.t - t2).toBeLessThan(1000);
      figures.push(`pooled no -> weight 0 ${w0.t - t0} ms, pooled yes -> weight 10 ${back.t - t2} ms`);
    }
    console.log(figures.join('\n'));
  }, 60_000);
});
