import { afterEach, describe, expect, it } from 'vitest';
import { HttpCheck } from '../../../src/monitors/check-http.js';
import { Monitor } from '../../../src/monitors/monitor.js';
import { RealClock } from '../../../src/util/clock.js';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { startHttp, until, type Closable } from './harness.js';

const open: Closable[] = [];
const monitors: Monitor[] = [];
afterEach(async () => {
  await Promise.all(monitors.splice(0).map((m) => m.stop()));
  await Promise.all(open.splice(0).map((s) => s.close()));
});

describe('Monitor scheduling against a real server', () => {
  it('never has more than `concurrency` checks open at the server, and never two for one monitored server', async () => {
    let current = 0;
    let maxCurrent = 0;
    let total = 0;
    const perPath = new Map<string, number>();
    let maxPerPath = 0;
    const s = await startHttp('127.0.0.1', (req, res) => {
      const path = req.url ?? '';
      current++;
      total++;
      maxCurrent = Math.max(maxCurrent, current);
      perPath.set(path, (perPath.get(path) ?? 0) + 1);
      maxPerPath = Math.max(maxPerPath, perPath.get(path) ?? 0);
      // Slower than the interval: checks of one server would overlap if the monitor let them.
      setTimeout(() => {
        current--;
        perPath.set(path, (perPath.get(path) ?? 1) - 1);
        res.end('ok');
      }, 60);
    });
    open.push(s);
    const monitor = new Monitor({ clock: new RealClock({ ref: true }), concurrency: 5 });
    monitors.push(monitor);
    for (let i = 0; i < 40; i++) {
      monitor.add({
        id: `s${i}`,
        target: { address: '127.0.0.1', port: s.port },
        checks: [
          { name: 'a', check: new HttpCheck({ path: `/s${i}`, timeoutMs: 2000 }), intervalMs: 40 },
          { name: 'b', check: new HttpCheck({ path: `/s${i}`, timeoutMs: 2000 }), intervalMs: 50 },
        ],
      });
    }
    monitor.start();
    expect(await until(() => total >= 60, 10_000)).toBe(true);
    await monitor.stop();
    expect(maxCurrent).toBeLessThanOrEqual(5);
    expect(maxCurrent).toBeGreaterThanOrEqual(2); // it did run checks side by side
    expect(maxPerPath).toBe(1);
  });

  it('times a hung built-in check out at its deadline, and remove() or stop() closes a running one at once', async () => {
    // A server that accepts, reads and never answers: every HTTP check hangs until its deadline or its cancel.
    const sockets = new Set<Socket>();
    const server = createServer((c) => {
      sockets.add(c);
      c.on('close', () => sockets.delete(c));
      c.on('error', () => undefined);
      c.resume();
    });
    await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
    const hung = { port: (server.address() as AddressInfo).port, get open() { return sockets.size; } };
    open.push({ port: hung.port, close: () => new Promise<void>((resolve) => { for (const c of sockets) c.destroy(); server.close(() => resolve()); }) });
    // random 0: each server's first check runs at once, the next one a minute later.
    const monitor = new Monitor({ clock: new RealClock({ ref: true }), random: () => 0 });
    monitors.push(monitor);
    const results: Array<{ id: string; reason: string }> = [];
    monitor.on('result', (id, _c, r) => results.push({ id, reason: r.reason }));
    const add = (id: string, timeoutMs: number): void =>
      monitor.add({ id, target: { address: '127.0.0.1', port: hung.port }, checks: [{ name: 'http', check: new HttpCheck({ timeoutMs }), intervalMs: 60_000 }] });
    add('short', 150);
    add('long', 20_000);
    monitor.start();
    expect(await until(() => results.some((r) => r.id === 'short'), 10_000)).toBe(true);
    expect(results.find((r) => r.id === 'short')?.reason).toBe('timed out after 150 ms');
    expect(await until(() => monitor.running === 1 && hung.open === 1, 10_000)).toBe(true);
    // 'long' is running and holds one connection: remove() closes it at once and frees its slot.
    monitor.remove('long');
    expect(monitor.running).toBe(0);
    expect(await until(() => hung.open === 0, 2000)).toBe(true);
    expect(results.some((r) => r.id === 'long')).toBe(false);
    add('again', 20_000);
    expect(await until(() => monitor.running === 1 && hung.open === 1, 10_000)).toBe(true);
    await monitor.stop();
    expect(monitor.running).toBe(0);
    expect(await until(() => hung.open === 0, 2000)).toBe(true);
    expect(results.filter((r) => r.id !== 'short')).toEqual([]);
  }, 30_000);
});
