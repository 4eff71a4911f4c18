/**
 * A service held by a VRRP instance, in dry run, without privileges or the
 * interface: the instance runs the real VRRP state machine alone on a
 * simulated link (examples/director/vrrp-dry.ts) and the director reports the
 * state it would hold: BACKUP, then MASTER after Master_Down_Interval; FAULT
 * (RFC 9568's Initialize, reason `fault`) while its (vital) pool is empty; what it would do to the interface logged as
 * `ip addr` commands. Real HTTP backends on 127.0.0.1; nothing is sent.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, startDirector, type DirectorHandle } from '../../../examples/director/index.js';

async function until(what: string, fn: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('director VRRP in dry run', () => {
  let server: Server;
  let healthy = true;
  let d: DirectorHandle;
  const logs: Record<string, unknown>[] = [];
  const transitions: { from: string; to: string; reason: string; dryRun: boolean }[] = [];
  const get = async (path: string): Promise<string> => (await fetch(`${d.statusUrl}${path}`)).text();
  const cmds = (): string[] => logs.filter((l) => l.msg === 'would run' && l.part === 'vrrp').map((l) => String(l.cmd));

  beforeAll(async () => {
    server = createServer((_req, res) => {
      res.writeHead(healthy ? 200 : 503);
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const logger = pino({ base: undefined }, new Writable({ write: (c: Buffer, _e, cb) => (logs.push(...c.toString().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)), cb()) }));
    const config = parseConfig(`name: vrrp-dry
dryRun: true
status: { address: 127.0.0.1, port: 0 }
vrrp:
  instances:
    - { name: vi_www, interface: lvskit-nope0, vrid: 51, priority: 100, advertIntervalMs: 100ms }
services:
  www:
    vips: [192.0.2.80]
    port: 80
    forwarding: masq
    vrrp: vi_www
    depoolThreshold: 0
    drainMs: 0
    fall: 1
    rise: 1
    checks: [{ type: http, path: /, intervalMs: 100ms, timeoutMs: 1s }]
    servers: [{ host: web1, address: 127.0.0.1, port: ${port} }]
`, '/tmp/vrrp-dry.yaml');
    d = await startDirector(config, { logger });
    d.on('vrrp', (e) => transitions.push({ from: e.from, to: e.to, reason: e.reason, dryRun: e.dryRun }));
  }, 30_000);

  afterAll(async () => {
    await d?.stop();
    server?.close();
  });

  it('starts as backup and becomes master, as an instance alone on its link does', async () => {
    expect(d.mode).toBe('dry-run');
    await until('master', () => d.status().vrrp[0]?.state === 'master');
    const snap = d.status().vrrp[0];
    expect(snap).toMatchObject({ name: 'vi_www', vrid: 51, state: 'master', priority: 100 });
    expect(snap?.lastTransition?.from).toBe('backup');
    expect(cmds()).toContain('ip addr add 192.0.2.80/32 dev lvskit-nope0');
    expect(logs.some((l) => l.msg === 'would send gratuitous ARP / unsolicited NA for the VIPs')).toBe(true);
    expect(logs.some((l) => l.msg === 'would send VRRP adverts (counted, not logged each)' && l.dst === '224.0.0.18')).toBe(true);
    const metrics = await get('/metrics');
    expect(metrics).toMatch(/^lvskit_director_vrrp_master\{instance="vi_www",vrid="51",state="master"\} 1$/m);
    expect(metrics).toMatch(/^lvskit_director_ipvs_dry_run 1$/m);
    expect(await get('/alerts')).toMatch(/^OK:/);
  });

  it('goes to FAULT (VIP released) while its pool is empty, and back to master when a server returns', async () => {
    const before = cmds().length;
    healthy = false;
    await until('fault', () => d.status().vrrp[0]?.state === 'initialize' && d.status().vrrp[0]?.lastTransition?.reason === 'fault');
    expect(cmds().slice(before)).toContain('ip addr del 192.0.2.80/32 dev lvskit-nope0');
    healthy = true;
    await until('master again', () => d.status().vrrp[0]?.state === 'master');
    expect(cmds().slice(before).filter((c) => c.startsWith('ip addr add'))).toEqual(['ip addr add 192.0.2.80/32 dev lvskit-nope0']);
    expect(transitions.every((t) => t.dryRun)).toBe(true);
    expect(transitions.map((t) => `${t.from}->${t.to} ${t.reason}`)).toEqual(expect.arrayContaining(['master->initialize fault']));
    // RFC 9568's Initialize is keepalived's FAULT: /alerts says so while it lasts (checked above only for master).
  });

  it('stopping releases the VIP (logged)', async () => {
    const before = cmds().length;
    await d.stop();
    expect(cmds().slice(before)).toContain('ip addr del 192.0.2.80/32 dev lvskit-nope0');
  });
});
