import { afterEach, describe, expect, it } from 'vitest';
import { HttpCheck } from '../../../src/monitors/check-http.js';
import { IdleConnectionCheck } from '../../../src/monitors/check-idle.js';
import { TcpCheck } from '../../../src/monitors/check-tcp.js';
import { renderPrometheus } from '../../../src/monitors/metrics.js';
import { Monitor } from '../../../src/monitors/monitor.js';
import { Pool } from '../../../src/monitors/pool.js';
import { RealClock } from '../../../src/util/clock.js';
import type { LoopbackHost } from '../harness/servers.js';
import { startControlledTcp, startHttp, until, type Closable, type HttpTestServer } from './harness.js';

const open: Closable[] = [];
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
  await Promise.all(open.splice(0).map((s) => s.close()));
});

describe('monitor and pool against real HTTP servers', () => {
  it('pools servers as they prove up, drains a failing one at weight 0 within interval x fall + timeout, removes it, and repools it', async () => {
    const hosts: LoopbackHost[] = ['127.0.0.1', '127.0.0.2', '127.0.0.3'];
    const status = new Map<string, number>(hosts.map((h) => [h, 200]));
    const servers: HttpTestServer[] = [];
    for (const h of hosts) {
      const s = await startHttp(h, (req, res) => {
        res.statusCode = status.get(req.socket.localAddress ?? '') ?? 200;
        res.end(res.statusCode === 200 ? 'ok' : 'broken');
      });
      servers.push(s);
      open.push(s);
    }
    const clock = new RealClock({ ref: true });
    const monitor = new Monitor({ clock, concurrency: 8 });
    const http = new HttpCheck({ host: 'web.test', path: '/health', bodyMatch: 'ok', timeoutMs: 1000 });
    hosts.forEach((h, i) => {
      monitor.add({
        id: h,
        target: { address: h, port: (servers[i] as HttpTestServer).port, service: 'web' },
        checks: [
          { name: 'http', check: http, intervalMs: 100 },
          { name: 'tcp', check: new TcpCheck({ timeoutMs: 1000 }), intervalMs: 150 },
        ],
        rise: 1,
        fall: 2,
      });
    });
    const pool = new Pool(
      hosts.map((h, i) => ({ id: h, address: h, port: (servers[i] as HttpTestServer).port, weight: 5 })),
      { service: 'web', clock, depoolThreshold: 0.5, drainMs: 300, metrics: monitor.metrics },
    );
    pool.follow(monitor);
    monitor.start();
    cleanups.push(
      () => pool.close(),
      () => monitor.stop(),
    );

    expect(await until(() => pool.destinations.length === 3 && pool.destinations.every((d) => d.weight === 5), 5000)).toBe(true);
    expect((servers[0] as HttpTestServer).requests[0]).toMatchObject({ url: '/health', host: 'web.test' });

    // Break 127.0.0.2 with HTTP 500s: down within interval x fall + timeout (+ generous slack), then weight 0.
    let seen500 = false;
    monitor.on('result', (id, check, r) => {
      if (id === '127.0.0.2' && check === 'http' && r.reason === 'HTTP 500') seen500 = true;
    });
    const downAt = new Promise<number>((resolve) => monitor.on('state', (id, up) => id === '127.0.0.2' && !up && resolve(performance.now())));
    const t0 = performance.now();
    status.set('127.0.0.2', 500);
    const detected = (await downAt) - t0;
    expect(detected).toBeLessThan(5 * (110 * 2 + 1000));
    expect(pool.destinations.find((d) => d.address === '127.0.0.2')).toMatchObject({ weight: 0 });
    const down = monitor.state('127.0.0.2');
    expect(down?.checks.find((c) => c.name === 'http')?.up).toBe(false);
    expect(seen500).toBe(true);
    // Removed after the drain time.
    expect(await until(() => !pool.destinations.some((d) => d.address === '127.0.0.2'), 3000)).toBe(true);

    // Take 127.0.0.3 away entirely (connection refused): the floor of 2 keeps it pooled, with the alert.
    await (servers[2] as HttpTestServer).close();
    expect(await until(() => pool.plan.state.alert, 5000)).toBe(true);
    expect(pool.plan.held).toEqual(['127.0.0.3']);
    const tcpReason = (): string | undefined => monitor.state('127.0.0.3')?.checks.find((c) => c.name === 'tcp')?.last?.reason;
    expect(await until(() => tcpReason() === 'connection refused (ECONNREFUSED)', 3000)).toBe(true);
    expect(pool.destinations.filter((d) => d.weight === 5).map((d) => d.address).sort()).toEqual(['127.0.0.1', '127.0.0.3']);

    // 127.0.0.2 recovers: the held server is released (drained) and 127.0.0.2 is pooled again.
    status.set('127.0.0.2', 200);
    expect(await until(() => !pool.plan.state.alert && pool.destinations.some((d) => d.address === '127.0.0.2' && d.weight === 5), 5000)).toBe(true);
    expect(await until(() => !pool.destinations.some((d) => d.address === '127.0.0.3'), 3000)).toBe(true);

    const text = renderPrometheus(monitor.metrics.snapshot());
    expect(text).toMatch(/lvskit_monitor_check_results_total\{service="web",server="127.0.0.2",check="http",kind="http",result="down"\} [1-9]/);
    expect(text).toContain('lvskit_pool_floor{service="web"} 2');
  });
});

describe('monitor and pool with idle connections', () => {
  it('drains a server the moment its idle connection is reset, and pools it again once it reconnects', async () => {
    const a = await startControlledTcp('127.0.0.1');
    const b = await startControlledTcp('127.0.0.2');
    open.push(a, b);
    const clock = new RealClock({ ref: true });
    const monitor = new Monitor({ clock });
    const idle = new IdleConnectionCheck({ clock, initialDelayMs: 50, maxDelayMs: 200, minLifetimeMs: 100, quickReconnectMs: 20 });
    const servers = [
      { id: 'a', address: '127.0.0.1', port: a.port },
      { id: 'b', address: '127.0.0.2', port: b.port },
    ];
    for (const s of servers) monitor.add({ id: s.id, target: { address: s.address, port: s.port }, checks: [{ name: 'idle', check: idle }] });
    const pool = new Pool(servers, { clock, depoolThreshold: 0, drainMs: 60_000 });
    pool.follow(monitor);
    monitor.start();
    cleanups.push(
      () => pool.close(),
      () => monitor.stop(),
    );
    expect(await until(() => pool.destinations.length === 2 && pool.destinations.every((d) => d.weight === 1), 5000)).toBe(true);
    const t0 = performance.now();
    b.resetAll();
    expect(await until(() => pool.destinations.find((d) => d.address === '127.0.0.2')?.weight === 0, 3000)).toBe(true);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(monitor.state('b')?.checks[0]?.last?.reason).toMatch(/^connection lost: connection reset/);
    // It reconnects (backoff 50 ms), holds for minLifetimeMs, and is pooled again.
    expect(await until(() => pool.destinations.find((d) => d.address === '127.0.0.2')?.weight === 1, 5000)).toBe(true);
    expect(b.accepted).toBe(2);
    // Monitor stop closes the idle connections.
    await monitor.stop();
    expect(await until(() => a.open === 0 && b.open === 0, 3000)).toBe(true);
  });
});
