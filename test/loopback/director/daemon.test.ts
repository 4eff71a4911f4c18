/**
 * The director on loopback, in dry run: real HTTP backends that fail and
 * recover, a real BGP router (an lvskit speaker) receiving the VIPs, the status
 * API over HTTP, SIGHUP-style reload, and stop. What IPVS would do is read from
 * the dry run's commands and simulated table.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { BgpSpeaker } from 'lvskit/bgp';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, startDirector, type DirectorHandle, type IpvsApplied } from '../../../examples/director/index.js';

interface Backend {
  port: number;
  healthy: boolean;
  server: Server;
}

async function backend(): Promise<Backend> {
  const b = { port: 0, healthy: true } as Backend;
  b.server = createServer((req, res) => {
    res.writeHead(b.healthy ? 200 : 503, { 'content-type': 'text/plain' });
    res.end(b.healthy ? 'ok\n' : 'sick\n');
  });
  await new Promise<void>((r) => b.server.listen(0, '127.0.0.1', r));
  b.port = (b.server.address() as AddressInfo).port;
  return b;
}

async function until(what: string, fn: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const logLines: string[] = [];
const logger = pino({ level: 'info', base: undefined }, new Writable({ write: (c: Buffer, _e, cb) => (logLines.push(...c.toString().trim().split('\n')), cb()) }));

describe('lvskit-director on loopback (dry run)', () => {
  let b: Backend[] = [];
  let router: BgpSpeaker;
  let d: DirectorHandle;
  const applied: IpvsApplied[] = [];
  let configText: (extra?: string, staticWeight?: number) => string;

  const get = async (path: string, accept?: string): Promise<{ status: number; type: string; body: string }> => {
    const r = await fetch(`${d.statusUrl}${path}`, accept === undefined ? {} : { headers: { accept } });
    return { status: r.status, type: r.headers.get('content-type') ?? '', body: await r.text() };
  };
  const commands = (): string[] => applied.flatMap((a) => a.commands);
  const routes = (): string[] => router.routesReceived().map((r) => r.prefix).sort();

  beforeAll(async () => {
    b = await Promise.all([backend(), backend(), backend(), backend()]);
    router = new BgpSpeaker({
      localAs: 65000,
      routerId: '10.0.0.254',
      listen: { address: '127.0.0.1', port: 0 },
      peers: [{ address: '127.0.0.2', remoteAs: 64512, passive: true }],
    });
    await router.start();
    configText = (extra = '', staticWeight = 5) => `name: loop
dryRun: true
status: { address: 127.0.0.1, port: 0 }
ipvs:
  sysctls: { expire_nodest_conn: 1, sloppy_tcp: 0 }
  startupWaitMs: 5s
bgp:
  localAs: 64512
  routerId: 10.0.0.1
  announce: { med: 50, communities: ["64512:80"] }
  peers:
    - { address: 127.0.0.1, port: ${router.port}, localAddress: 127.0.0.2, remoteAs: 65000, nextHop: { ipv4: 192.0.2.10 } }
services:
  web:
    vips: [192.0.2.80]
    port: 80
    forwarding: masq
    scheduler: wrr
    depoolThreshold: 0.5
    drainMs: 1s
    fall: 2
    checks:
      - { type: http, path: /health, intervalMs: 150, timeoutMs: 1s }
    servers:
      - { host: rs1, address: 127.0.0.1, port: ${b[0]?.port}, weight: 10 }
      - { host: rs2, address: 127.0.0.1, port: ${b[1]?.port}, weight: 20 }
      - { host: rs3, address: 127.0.0.1, port: ${b[2]?.port}, weight: 30 }
  static:
    vips: [192.0.2.81]
    port: 8080
    forwarding: masq
    depoolThreshold: 0
    drainMs: 0
    fall: 2
    announce: { med: 70 }
    checks:
      - { type: tcp, intervalMs: 150 }
    servers:
      - { host: rs9, address: 127.0.0.1, port: ${b[3]?.port}, weight: ${staticWeight} }
${extra}`;
    d = await startDirector(parseConfig(configText(), '/tmp/loop.yaml'), { logger });
    d.on('ipvs', (a) => applied.push(a));
  }, 30_000);

  afterAll(async () => {
    await d?.stop();
    await router?.close();
    for (const x of b) x.server.close();
  });

  it('starts in dry run, with the first table written once every server was checked', async () => {
    expect(d.mode).toBe('dry-run');
    expect(d.statusUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    await until('all four servers pooled', async () => (await d.ipvsTable()).flatMap((s) => s.destinations ?? []).length === 4);
    const table = await d.ipvsTable();
    const web = table.find((s) => 'address' in s && s.address === '192.0.2.80');
    expect(web?.destinations?.map((x) => [x.port, x.weight, x.forwarding]).sort()).toEqual(
      [[b[0]?.port, 10, 'masq'], [b[1]?.port, 20, 'masq'], [b[2]?.port, 30, 'masq']].sort(),
    );
    expect(logLines.some((l) => l.includes('sysctl -w net.ipv4.vs.expire_nodest_conn=1'))).toBe(true);
  });

  it('announces the VIPs to the router with the configured attributes', async () => {
    await until('both VIPs at the router', () => routes().length === 2);
    expect(routes()).toEqual(['192.0.2.80/32', '192.0.2.81/32']);
    const byPrefix = Object.fromEntries(router.routesReceived().map((r) => [r.prefix, r]));
    expect(byPrefix['192.0.2.80/32']?.attributes.med).toBe(50);
    expect(byPrefix['192.0.2.81/32']?.attributes.med).toBe(70);
    expect(byPrefix['192.0.2.80/32']?.nextHop).toEqual(['192.0.2.10']);
    expect(d.status().bgp).toEqual([expect.objectContaining({ address: '127.0.0.1', state: 'Established', routesAdvertised: 2 })]);
  });

  it('serves /pools in PyBal text and JSON', async () => {
    const list = await get('/pools');
    expect(list.body).toBe('static\nweb\n');
    const web = await get('/pools/web');
    expect(web.type).toMatch(/^text\/plain/);
    expect(web.body).toBe('rs1: enabled/up/pooled\nrs2: enabled/up/pooled\nrs3: enabled/up/pooled\n');
    const json = await get('/pools/web', 'application/json');
    expect(json.type).toBe('application/json');
    const j = JSON.parse(json.body) as Record<string, { enabled: boolean; up: boolean; pooled: boolean; weight: number; checks: { name: string; last: string }[] }>;
    expect(Object.keys(j)).toEqual(['rs1', 'rs2', 'rs3']);
    expect(j.rs2).toMatchObject({ enabled: true, up: true, pooled: true, weight: 20, checks: [{ name: 'http', last: 'HTTP 200' }] });
    expect((await get('/pools/web/rs1')).body).toBe('enabled/up/pooled\n');
    expect(JSON.parse((await get('/pools/web/rs1?format=json')).body)).toMatchObject({ enabled: true, up: true, pooled: true });
    expect((await get('/pools/nope')).status).toBe(404);
    expect((await get('/pools/web/nope')).status).toBe(404);
    expect((await get('/alerts')).body).toMatch(/^OK: 2 service\(s\), 4 server\(s\) pooled, 2 VIP\(s\) announced\n$/);
  });

  it('a failing backend goes to weight 0, then is removed after the drain time', async () => {
    const from = applied.length;
    const dest = `-r 127.0.0.1:${b[2]?.port}`;
    (b[2] as Backend).healthy = false;
    await until('rs3 at weight 0', () => commands().slice(0).some((c) => c.startsWith('ipvsadm -e -t 192.0.2.80:80') && c.includes(dest) && c.includes('-w 0')));
    expect((await get('/pools/web/rs3')).body).toBe('enabled/down/not pooled\n');
    await until('rs3 removed', () => commands().some((c) => c === `ipvsadm -d -t 192.0.2.80:80 ${dest}`), 5000);
    const mine = applied.slice(from).flatMap((a) => a.commands);
    const zero = mine.findIndex((c) => c.includes(dest) && c.includes('-w 0'));
    const del = mine.findIndex((c) => c.startsWith('ipvsadm -d') && c.includes(dest));
    expect(zero).toBeGreaterThanOrEqual(0);
    expect(del).toBeGreaterThan(zero);
    expect((await get('/alerts')).body).toMatch(/^OK:/);
  });

  it('when most fail, the depool threshold holds servers pooled and /alerts says CRITICAL', async () => {
    (b[1] as Backend).healthy = false;
    await until('an alert', async () => (await get('/alerts')).body.startsWith('CRITICAL'));
    const alerts = JSON.parse((await get('/alerts?format=json')).body) as { status: string; alerts: { level: string; component: string; message: string }[] };
    expect(alerts.status).toBe('CRITICAL');
    expect(alerts.alerts[0]).toMatchObject({ level: 'CRITICAL', component: 'pool web', message: expect.stringMatching(/depool threshold holding 1 failed server\(s\) pooled \(rs2\)/) });
    // rs2 is down but held at its weight: the pool keeps ceil(0.5 x 3) = 2 servers.
    expect((await get('/pools/web')).body).toBe('rs1: enabled/up/pooled\nrs2: enabled/down/pooled\nrs3: enabled/down/not pooled\n');
    const web = (await d.ipvsTable()).find((s) => 'address' in s && s.address === '192.0.2.80');
    expect(web?.destinations?.map((x) => x.weight).sort()).toEqual([10, 20]);
    const metrics = (await get('/metrics')).body;
    expect(metrics).toMatch(/^lvskit_pool_alert\{service="web"\} 1$/m);
    expect(metrics).toMatch(/^lvskit_director_server_weight\{service="web",server="rs2"\} 20$/m);
    expect(metrics).toMatch(/^lvskit_director_bgp_peer_up\{peer="127.0.0.1",state="Established"\} 1$/m);
    expect(metrics).toMatch(/^lvskit_monitor_check_results_total\{service="web",server="rs3",check="http",kind="http",result="down"\} [1-9]/m);
    (b[1] as Backend).healthy = true;
    (b[2] as Backend).healthy = true;
    await until('all back', async () => (await get('/pools/web')).body === 'rs1: enabled/up/pooled\nrs2: enabled/up/pooled\nrs3: enabled/up/pooled\n');
    expect((await get('/alerts')).body).toMatch(/^OK:/);
  });

  it('withdraws a VIP whose service has nothing pooled, and announces it again when a server returns', async () => {
    const s = b[3] as Backend;
    await new Promise<void>((r) => s.server.close(() => r()));
    s.server.closeAllConnections();
    await until('192.0.2.81 withdrawn', () => !routes().includes('192.0.2.81/32'));
    expect(routes()).toEqual(['192.0.2.80/32']);
    expect((await get('/alerts')).body).toMatch(/^CRITICAL: pool static: no server pooled/);
    await new Promise<void>((r) => s.server.listen(s.port, '127.0.0.1', r));
    await until('192.0.2.81 back', () => routes().includes('192.0.2.81/32'));
  });

  it('reload: a changed service is replaced without a blip, an added one starts, the unchanged one is not touched', async () => {
    // The previous case ends when the route is back, which can be before the coalesced IPVS write.
    await until('static pooled in IPVS', async () => (await d.ipvsTable()).some((s) => 'address' in s && s.address === '192.0.2.81' && (s.destinations ?? []).length === 1));
    const from = applied.length;
    const extra = `  new:
    vips: [192.0.2.82]
    port: 80
    forwarding: masq
    checks: [{ type: tcp, intervalMs: 150 }]
    servers: [{ host: rs1, address: 127.0.0.1, port: ${b[0]?.port} }]
`;
    const r = await d.reload(parseConfig(configText(extra, 7), '/tmp/loop.yaml'));
    expect(r).toEqual({ added: ['new'], removed: [], changed: ['static'], unchanged: ['web'], needsRestart: [] });
    await until('new service pooled', async () => (await d.ipvsTable()).some((s) => 'address' in s && s.address === '192.0.2.82' && (s.destinations ?? []).length === 1));
    await until('static at weight 7', async () => (await d.ipvsTable()).some((s) => 'address' in s && s.address === '192.0.2.81' && s.destinations?.[0]?.weight === 7));
    const after = applied.slice(from).flatMap((a) => a.commands);
    expect(after.filter((c) => c.includes('192.0.2.80'))).toEqual([]);
    // The changed service's server was up: it stays pooled through the change (only its weight changes).
    expect(after.filter((c) => c.includes('192.0.2.81'))).toEqual([`ipvsadm -e -t 192.0.2.81:8080 -r 127.0.0.1:${b[3]?.port} -m -w 7`]);
    await until('third VIP at the router', () => routes().length === 3);
  });

  it('a second director on the same status port fails with a clear error and leaves nothing running', async () => {
    const port = Number(new URL(d.statusUrl as string).port);
    const cfg = parseConfig(configText().replace('port: 0 }', `port: ${port} }`).replace(/^bgp:[\s\S]*?^services:/m, 'services:').replace('announce: { med: 70 }', ''), '/tmp/loop2.yaml');
    await expect(startDirector(cfg, { logger })).rejects.toMatchObject({ code: 'ERR_DIRECTOR_PORT_IN_USE', message: expect.stringMatching(new RegExp(`status API on 127.0.0.1:${port}: address already in use`)) });
  });

  it('stop withdraws every VIP from the router', async () => {
    await d.stop();
    await until('routes gone', () => routes().length === 0);
    expect(logLines.some((l) => l.includes('withdrawing VIPs'))).toBe(true);
  });
});
