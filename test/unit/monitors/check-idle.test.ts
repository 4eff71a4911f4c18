import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { backoffDelay, IdleConnectionCheck } from '../../../src/monitors/check-idle.js';
import { isStatefulCheck } from '../../../src/monitors/types.js';

describe('idle connection backoff', () => {
  it('doubles from the initial delay up to the maximum', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, 1000, 10_000))).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000]);
    expect(backoffDelay(1000, 1000, 10_000)).toBe(10_000);
  });

  it('property: never above the maximum, never decreasing', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 1, max: 100_000 }), fc.integer({ min: 1, max: 200 }), (init, max, n) => {
        expect(backoffDelay(n, init, max)).toBeLessThanOrEqual(max);
        expect(backoffDelay(n + 1, init, max)).toBeGreaterThanOrEqual(backoffDelay(n, init, max));
      }),
    );
  });

  it('is a stateful check and refuses nonsense delays', () => {
    expect(isStatefulCheck(new IdleConnectionCheck())).toBe(true);
    expect(() => new IdleConnectionCheck({ maxDelayMs: 0 })).toThrow(/maxDelayMs/);
  });
});
