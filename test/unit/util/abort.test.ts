import { describe, expect, it } from 'vitest';
import { abortReason, sleep, throwIfAborted, withTimeout } from '../../../src/util/abort.js';
import { AbortError, TimeoutError, isLvskitError } from '../../../src/util/errors.js';

describe('cancellation helpers', () => {
  it('withTimeout passes the signal through without a deadline, and combines it with one', async () => {
    const ac = new AbortController();
    expect(withTimeout(ac.signal, undefined)).toBe(ac.signal);
    expect(withTimeout(undefined, undefined)).toBeUndefined();
    const s = withTimeout(ac.signal, 10_000);
    expect(s?.aborted).toBe(false);
    ac.abort(new Error('stop'));
    expect(s?.aborted).toBe(true);
    const t = withTimeout(undefined, 1);
    await sleep(20);
    expect(t?.aborted).toBe(true);
    expect(abortReason(t as AbortSignal, 1)).toBeInstanceOf(TimeoutError);
  });

  it('throwIfAborted throws a typed AbortError carrying the reason', () => {
    const ac = new AbortController();
    expect(() => throwIfAborted(ac.signal)).not.toThrow();
    ac.abort('operator said so');
    try {
      throwIfAborted(ac.signal);
      expect.unreachable('must throw');
    } catch (e) {
      expect(e).toBeInstanceOf(AbortError);
      expect(isLvskitError(e, 'ERR_ABORTED')).toBe(true);
      expect((e as AbortError).cause).toBe('operator said so');
    }
  });

  it('sleep resolves, and rejects at once when aborted before or during', async () => {
    await expect(sleep(1)).resolves.toBeUndefined();
    const pre = new AbortController();
    pre.abort();
    await expect(sleep(10_000, pre.signal)).rejects.toBeInstanceOf(AbortError);
    const during = new AbortController();
    const p = sleep(10_000, during.signal);
    during.abort();
    await expect(p).rejects.toBeInstanceOf(AbortError);
  });
});
