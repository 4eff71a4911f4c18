import { describe, expect, it } from 'vitest';
import { Monitor } from '../../../src/monitors/monitor.js';
import { Pool } from '../../../src/monitors/pool.js';
import { MonitorMetrics } from '../../../src/monitors/metrics.js';
import type { Destination } from '../../../src/monitors/plan-pool.js';
import type { CheckResult, CheckTarget, StatefulCheck } from '../../../src/monitors/types.js';
import { FakeClock } from '../../../src/util/clock.js';
// Type only: the monitors module itself never imports lvskit/ipvs.
import type { TableService as IpvsTableService } from '../../../src/ipvs/plan.js';

class PushCheck implements StatefulCheck {
  readonly kind = 'push';
  readonly pushers = new Map<string, (r: CheckResult) => void>();
  watch(target: CheckTarget, onResult: (r: CheckResult) => void): void {
    this.pushers.set(target.address, onResult);
  }
  push(address: string, ok: boolean): void {
    this.pushers.get(address)?.({ ok, reason: ok ? 'connected' : 'connection lost', latencyMs: 0 });
  }
}

const servers = [1, 2, 3, 4].map((i) => ({ id: `rs${i}`, address: `10.0.0.${i}`, port: 80, weight: i === 4 ? 0 : 10 }));

describe('Pool driver', () => {
  it('follows a monitor: pools servers as they prove up, drains failures at weight 0, removes them on the clock', () => {
    const clock = new FakeClock();
    const check = new PushCheck();
    const metrics = new MonitorMetrics();
    const monitor = new Monitor({ clock, metrics });
    for (const s of servers) monitor.add({ id: s.id, target: { address: s.address, port: s.port, service: 'web' }, checks: [{ name: 'idle', check }] });
    monitor.start();
    const pool = new Pool(servers, { service: 'web', clock, depoolThreshold: 0.5, drainMs: 10_000, metrics });
    const changes: Destination[][] = [];
    pool.on('change', (d) => changes.push(d));
    pool.follow(monitor);
    expect(pool.destinations).toEqual([]); // nothing proven up yet
    for (const s of servers) check.push(s.address, true);
    expect(pool.destinations).toEqual([
      { address: '10.0.0.1', port: 80, weight: 10 },
      { address: '10.0.0.2', port: 80, weight: 10 },
      { address: '10.0.0.3', port: 80, weight: 10 },
      { address: '10.0.0.4', port: 80, weight: 0 },
    ]);
    check.push('10.0.0.2', false);
    expect(pool.destinations[1]).toEqual({ address: '10.0.0.2', port: 80, weight: 0 });
    clock.advance(9_999);
    expect(pool.destinations).toHaveLength(4);
    clock.advance(1);
    expect(pool.destinations.map((d) => d.address)).toEqual(['10.0.0.1', '10.0.0.3', '10.0.0.4']);
    expect(changes.length).toBe(6); // four pooled one by one, one drain, one removal
    expect(metrics.snapshot().pools[0]).toMatchObject({ service: 'web', floor: 2, alert: false, counts: { pooled: 3, out: 1 } });
    // A server the monitor stops watching counts as failed.
    monitor.remove('rs3');
    expect(pool.destinations.find((d) => d.address === '10.0.0.3')).toEqual({ address: '10.0.0.3', port: 80, weight: 0 });
    pool.close();
    void monitor.stop();
  });

  it('stops following when told', () => {
    const clock = new FakeClock();
    const check = new PushCheck();
    const monitor = new Monitor({ clock });
    monitor.add({ id: 'rs1', target: { address: '10.0.0.1' }, checks: [{ name: 'idle', check }] });
    monitor.start();
    const pool = new Pool([{ id: 'rs1', address: '10.0.0.1', port: 80 }], { clock });
    const unfollow = pool.follow(monitor);
    check.push('10.0.0.1', true);
    expect(pool.destinations).toHaveLength(1);
    unfollow();
    check.push('10.0.0.1', false);
    monitor.remove('rs1');
    expect(pool.destinations).toEqual([{ address: '10.0.0.1', port: 80, weight: 1 }]);
    void monitor.stop();
  });

  it('holds failed servers at the floor and raises then clears the alert', () => {
    const clock = new FakeClock();
    const pool = new Pool(servers.slice(0, 3), { clock, depoolThreshold: 0.7 });
    const alerts: boolean[] = [];
    pool.on('alert', (a) => alerts.push(a));
    for (const s of servers.slice(0, 3)) pool.update(s.id, { healthy: true });
    pool.update('rs1', { healthy: false });
    pool.update('rs2', { healthy: false });
    // floor ceil(0.7 x 3) = 3: both failed servers stay at full weight.
    expect(pool.plan.held.sort()).toEqual(['rs1', 'rs2']);
    expect(pool.destinations.every((d) => d.weight === 10)).toBe(true);
    pool.update('rs1', { healthy: true });
    pool.update('rs2', { healthy: true });
    expect(alerts).toEqual([true, false]);
  });

  it('ends a drain as soon as the fed connection count reaches 0, and a disabled server drains too', () => {
    const clock = new FakeClock();
    const pool = new Pool(servers.slice(0, 2), { clock, drainMs: 60_000, depoolThreshold: 0 });
    pool.update('rs1', { healthy: true });
    pool.update('rs2', { healthy: true });
    pool.update('rs1', { enabled: false, connections: 5 });
    expect(pool.destinations[0]).toEqual({ address: '10.0.0.1', port: 80, weight: 0 });
    pool.update('rs1', { connections: 0 });
    expect(pool.destinations.map((d) => d.address)).toEqual(['10.0.0.2']);
    expect(clock.pending).toBe(0);
  });

  it('keeps server state across setServers, picks up weight changes, and refuses unknown ids', () => {
    const clock = new FakeClock();
    const pool = new Pool(servers.slice(0, 2), { clock });
    pool.update('rs1', { healthy: true });
    pool.setServers([{ ...servers[0], weight: 3 } as (typeof servers)[number], servers[2] as (typeof servers)[number]]);
    expect(pool.destinations).toEqual([{ address: '10.0.0.1', port: 80, weight: 3 }]);
    expect(() => pool.update('nope', { healthy: true })).toThrow(expect.objectContaining({ code: 'ERR_MONITOR_UNKNOWN_SERVER' }));
    expect(() => new Pool([], { depoolThreshold: 2 })).toThrow(expect.objectContaining({ code: 'ERR_MONITOR_BAD_CONFIG' }));
  });
});

describe('pool output and lvskit/ipvs', () => {
  it('is what the IPVS reconciler takes, as is (checked by the type checker)', () => {
    const pool = new Pool([{ id: 'a', address: '10.0.0.1', port: 80, weight: 0 }], { clock: new FakeClock() });
    pool.update('a', { healthy: true });
    // Structural contract: lvskit/ipvs's desired table takes these destinations unchanged.
    const desired: IpvsTableService[] = [{ protocol: 'tcp', address: '192.0.2.80', port: 80, scheduler: 'wrr', destinations: pool.destinations }];
    expect(desired[0]?.destinations).toEqual([{ address: '10.0.0.1', port: 80, weight: 0 }]);
  });
});
