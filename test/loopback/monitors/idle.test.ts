import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { IdleConnectionCheck } from '../../../src/monitors/check-idle.js';
import type { CheckResult } from '../../../src/monitors/types.js';
import { closedPort, type LoopbackHost } from '../harness/servers.js';
import { startControlledTcp, until, type Closable } from './harness.js';

const open: Closable[] = [];
const stops: AbortController[] = [];
afterEach(async () => {
  for (const a of stops.splice(0)) a.abort();
  await Promise.all(open.splice(0).map((s) => s.close()));
});

function watch(check: IdleConnectionCheck, host: string, port: number): CheckResult[] {
  const seen: CheckResult[] = [];
  const ac = new AbortController();
  stops.push(ac);
  check.watch({ address: host, port }, (r) => seen.push(r), { signal: ac.signal });
  return seen;
}

const fast = { initialDelayMs: 50, maxDelayMs: 400, quickReconnectMs: 20, minLifetimeMs: 100, connectTimeoutMs: 1000 };

describe.each<LoopbackHost>(['127.0.0.1', '::1'])('idle connection check against %s', (host) => {
  it('is up once connected and holds one connection open', async () => {
    const s = await startControlledTcp(host);
    open.push(s);
    const seen = watch(new IdleConnectionCheck(fast), host, s.port);
    expect(await until(() => seen.length === 1, 3000)).toBe(true);
    expect(seen[0]).toMatchObject({ ok: true, reason: 'connected' });
    await new Promise((r) => setTimeout(r, 400)); // outlive minLifetimeMs
    expect(s.accepted).toBe(1);
    expect(s.open).toBe(1);
  });

  it('is down as soon as the connection is reset, then reconnects with backoff and is up again', async () => {
    const s = await startControlledTcp(host);
    open.push(s);
    const seen = watch(new IdleConnectionCheck(fast), host, s.port);
    await until(() => s.open === 1, 3000);
    const t0 = performance.now();
    s.resetAll();
    expect(await until(() => seen.length >= 2, 3000)).toBe(true);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(seen[1]?.ok).toBe(false);
    expect(seen[1]?.reason).toMatch(/^connection lost: connection reset \(ECONNRESET\)/);
    expect(seen[1]?.latencyMs).toBe(0);
    expect(seen[1]?.details?.livedMs).toBeGreaterThanOrEqual(0);
    expect(await until(() => seen.length >= 3, 3000)).toBe(true);
    expect(seen[2]).toMatchObject({ ok: true, reason: 'connected' });
    expect(s.accepted).toBe(2);
  });

  it('reconnects quickly after a clean close without going down', async () => {
    const s = await startControlledTcp(host);
    open.push(s);
    const seen = watch(new IdleConnectionCheck(fast), host, s.port);
    await until(() => s.open === 1, 3000);
    await new Promise((r) => setTimeout(r, 400)); // outlive minLifetimeMs (100 ms), with room for a loaded machine
    s.endAll();
    expect(await until(() => s.accepted === 2 && s.open === 1, 3000)).toBe(true);
    expect(seen.map((r) => r.ok)).toEqual([true]);
  });

  it('is down when the server goes away cleanly and the quick reconnect is refused; up when it returns', async () => {
    const s = await startControlledTcp(host);
    open.push(s);
    const seen = watch(new IdleConnectionCheck(fast), host, s.port);
    await until(() => s.open === 1, 3000);
    await new Promise((r) => setTimeout(r, 400)); // outlive minLifetimeMs
    await s.stop();
    expect(await until(() => seen.length >= 2, 3000)).toBe(true);
    expect(seen[1]).toMatchObject({ ok: false, reason: 'connection refused (ECONNREFUSED)' });
    await s.restart();
    expect(await until(() => seen.length >= 3, 3000)).toBe(true);
    expect(seen[2]?.ok).toBe(true);
  });

  it('treats a server that closes every connection at once as down, and backs off instead of storming it', async () => {
    const s = await startControlledTcp(host);
    open.push(s);
    s.mode = 'close';
    const seen = watch(new IdleConnectionCheck(fast), host, s.port);
    expect(await until(() => seen.some((r) => !r.ok), 3000)).toBe(true);
    expect(seen.find((r) => !r.ok)?.reason).toMatch(/^server closed the connection after \d+ ms/);
    await new Promise((r) => setTimeout(r, 1000));
    // Backoff 50, 100, 200, 400, 400 ...: a handful of attempts a second, never a storm.
    expect(s.accepted).toBeLessThan(12);
    expect(s.accepted).toBeGreaterThanOrEqual(3);
    // And it does not flap: accepted-then-dropped connections never count as up again.
    expect(seen.map((r) => r.ok)).toEqual([true, false]);
  });

  it('is down when refused from the start, retrying with growing delays up to the maximum', async () => {
    const port = await closedPort(host);
    const seen = watch(new IdleConnectionCheck(fast), host, port);
    expect(await until(() => seen.length === 1, 3000)).toBe(true);
    expect(seen[0]).toMatchObject({ ok: false, reason: 'connection refused (ECONNREFUSED)', details: { retryInMs: 50, failures: 1 } });
    // Only state changes are pushed: repeated refusals stay one result.
    await new Promise((r) => setTimeout(r, 500));
    expect(seen).toHaveLength(1);
    const s = await startControlledTcp(host, port);
    open.push(s);
    expect(await until(() => seen.length === 2, 3000)).toBe(true);
    expect(seen[1]?.ok).toBe(true);
  });

  it('sets TCP keepalive on its connection (seen by ss as a keepalive timer), unless turned off', async () => {
    const ssTimers = (port: number): string =>
      execFileSync('ss', ['-tnoH', 'state', 'established', `( dport = :${port} )`], { encoding: 'utf8', timeout: 10_000 });
    const on = await startControlledTcp(host);
    const off = await startControlledTcp(host);
    open.push(on, off);
    const a = watch(new IdleConnectionCheck({ ...fast, keepAliveMs: 7000 }), host, on.port);
    const b = watch(new IdleConnectionCheck({ ...fast, keepAliveMs: false }), host, off.port);
    expect(await until(() => a.length === 1 && b.length === 1, 3000)).toBe(true);
    expect(ssTimers(on.port)).toMatch(/timer:\(keepalive,/);
    const plain = ssTimers(off.port);
    expect(plain.trim()).not.toBe('');
    expect(plain).not.toMatch(/keepalive/);
  });

  it('stops cleanly on abort: connection closed, no more results', async () => {
    const s = await startControlledTcp(host);
    open.push(s);
    const seen: CheckResult[] = [];
    const ac = new AbortController();
    new IdleConnectionCheck(fast).watch({ address: host, port: s.port }, (r) => seen.push(r), { signal: ac.signal });
    await until(() => s.open === 1, 3000);
    ac.abort();
    expect(await until(() => s.open === 0, 3000)).toBe(true);
    s.resetAll();
    await new Promise((r) => setTimeout(r, 200));
    expect(seen).toHaveLength(1);
    expect(s.accepted).toBe(1);
  });
});
