import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { defineCheck, describeError, runTimed } from '../../../src/monitors/result.js';
import { isStatefulCheck } from '../../../src/monitors/types.js';
import { AbortError, isLvskitError } from '../../../src/util/errors.js';

describe('runTimed', () => {
  it('resolves the body outcome with a latency', async () => {
    const r = await runTimed(async () => ({ ok: true, reason: 'fine', details: { n: 1 } }), { timeoutMs: 1000 });
    expect(r).toMatchObject({ ok: true, reason: 'fine', details: { n: 1 } });
    expect(r.latencyMs).toBeGreaterThanOrEqual(0);
  });

  it('turns a thrown error into a down result, never a rejection', async () => {
    const e = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    await expect(runTimed(() => Promise.reject(e), { timeoutMs: 1000 })).resolves.toMatchObject({
      ok: false,
      reason: 'connection refused (ECONNREFUSED)',
    });
    await expect(
      runTimed(() => {
        throw new Error('sync boom');
      }, { timeoutMs: 1000 }),
    ).resolves.toMatchObject({ ok: false, reason: 'sync boom' });
  });

  it('resolves a timeout as down and hands the body a signal that fired', async () => {
    let seen: AbortSignal | undefined;
    const r = await runTimed((signal) => {
      seen = signal;
      return new Promise(() => undefined);
    }, { timeoutMs: 20 });
    expect(r).toMatchObject({ ok: false, reason: 'timed out after 20 ms', details: { timeout: true } });
    expect(seen?.aborted).toBe(true);
  });

  it('rejects with AbortError only when the caller aborts', async () => {
    const ac = new AbortController();
    const p = runTimed(() => new Promise(() => undefined), { timeoutMs: 10_000, signal: ac.signal });
    ac.abort('shutdown');
    await expect(p).rejects.toBeInstanceOf(AbortError);
    await expect(runTimed(async () => ({ ok: true, reason: '' }), { timeoutMs: 10, signal: ac.signal })).rejects.toBeInstanceOf(AbortError);
  });

  it('puts one listener on a shared caller signal however many checks run at once, and aborts them all', async () => {
    const parent = new AbortController();
    const ends = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        i % 2 === 0
          ? runTimed(async () => ({ ok: true, reason: 'ok' }), { timeoutMs: 1000, signal: parent.signal })
          : runTimed(() => Promise.reject(new Error('x')), { timeoutMs: 1000, signal: parent.signal }),
      ),
    );
    expect(ends.filter((r) => r.ok)).toHaveLength(25);
    expect(getEventListeners(parent.signal, 'abort').length).toBeLessThanOrEqual(1);
    const seen: AbortSignal[] = [];
    const hanging = Array.from({ length: 30 }, () =>
      runTimed((s) => {
        seen.push(s);
        return new Promise(() => undefined);
      }, { timeoutMs: 10_000, signal: parent.signal }),
    );
    expect(getEventListeners(parent.signal, 'abort').length).toBeLessThanOrEqual(1);
    parent.abort('stop');
    for (const p of hanging) await expect(p).rejects.toBeInstanceOf(AbortError);
    expect(seen.every((s) => s.aborted)).toBe(true);
  });

  it('refuses a nonsense timeout with a MonitorError', async () => {
    const p = runTimed(async () => ({ ok: true, reason: '' }), { timeoutMs: 0 });
    await expect(p).rejects.toSatisfy((e: unknown) => isLvskitError(e, 'ERR_MONITOR_BAD_CONFIG'));
  });
});

describe('describeError', () => {
  it('names errno codes and TLS failures', () => {
    expect(describeError(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toBe('connection reset (ECONNRESET)');
    expect(describeError(Object.assign(new Error('bad cert'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }))).toBe('TLS: bad cert (ERR_TLS_CERT_ALTNAME_INVALID)');
    expect(describeError(Object.assign(new Error('odd'), { code: 'EWHATEVER' }))).toBe('odd (EWHATEVER)');
    expect(describeError('plain')).toBe('plain');
  });
});

describe('defineCheck', () => {
  it('makes a check from a function returning a boolean or an outcome', async () => {
    const seen: string[] = [];
    const c = defineCheck('custom', async (t) => {
      seen.push(`${t.address}:${t.port ?? '-'}`);
      return t.port === 1;
    });
    expect(c.kind).toBe('custom');
    expect(isStatefulCheck(c)).toBe(false);
    expect(await c.check({ address: '192.0.2.1', port: 1 })).toMatchObject({ ok: true, reason: 'ok' });
    expect(await c.check({ address: '192.0.2.1', port: 2 })).toMatchObject({ ok: false, reason: 'failed' });
    const d = defineCheck('detailed', async () => ({ ok: false, reason: 'queue depth 900', details: { depth: 900 } }));
    expect(await d.check({ address: '192.0.2.1' })).toMatchObject({ ok: false, reason: 'queue depth 900', details: { depth: 900 } });
    expect(seen).toEqual(['192.0.2.1:1', '192.0.2.1:2']);
  });

  it('applies its timeout and passes the signal', async () => {
    const c = defineCheck('hang', (_t, { signal }) => new Promise((_r, reject) => signal.addEventListener('abort', () => reject(new Error('stopped')))), {
      timeoutMs: 15,
    });
    expect(await c.check({ address: '192.0.2.1' })).toMatchObject({ ok: false, reason: 'timed out after 15 ms' });
  });
});
