import { afterEach, describe, expect, it } from 'vitest';
import { HttpCheck } from '../../../src/monitors/check-http.js';
import { Monitor } from '../../../src/monitors/monitor.js';
import { RealClock } from '../../../src/util/clock.js';
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
});
