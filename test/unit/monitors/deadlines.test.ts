import { describe, expect, it } from 'vitest';
import { DeadlineQueue, deadlineQueue, type Expiring } from '../../../src/monitors/deadlines.js';

const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

function item(deadline: number, log: string[], name: string, onExpire?: () => void): Expiring {
  return {
    deadline,
    dslot: -1,
    expire: () => {
      log.push(name);
      onExpire?.();
    },
  };
}

describe('DeadlineQueue (one timer for every deadline of one timeout value)', () => {
  it('expires items at their deadlines in order, never one that was removed, and no item twice', async () => {
    const q = new DeadlineQueue();
    const log: string[] = [];
    const t0 = performance.now();
    const items = Array.from({ length: 6 }, (_, i) => item(t0 + 20 + i * 15, log, `i${i}`));
    for (const x of items) q.add(x);
    expect(q.size).toBe(6);
    q.remove(items[1] as Expiring);
    q.remove(items[4] as Expiring);
    q.remove(items[4] as Expiring); // twice: a no-op
    expect(q.size).toBe(4);
    const at: number[] = [];
    await new Promise<void>((resolve) => {
      const last = items[5] as Expiring;
      const expire = last.expire;
      last.expire = () => {
        expire();
        resolve();
      };
      for (const x of items) {
        const e = x.expire;
        x.expire = () => {
          at.push(performance.now() - t0);
          e();
        };
      }
    });
    expect(log).toEqual(['i0', 'i2', 'i3', 'i5']);
    // Never before the deadline less Node's 1 ms timer resolution.
    expect(at[0]).toBeGreaterThanOrEqual(20 - 1);
    expect(at[3]).toBeGreaterThanOrEqual(95 - 1);
    expect(q.size).toBe(0);
    for (const x of items) expect(x.dslot).toBe(-1);
  });

  it('holds no timer once nothing waits, so a finished check never keeps the process alive', () => {
    const q = new DeadlineQueue();
    const before = timers();
    const log: string[] = [];
    const a = item(performance.now() + 60_000, log, 'a');
    const b = item(performance.now() + 60_001, log, 'b');
    q.add(a);
    q.add(b);
    expect(timers()).toBe(before + 1);
    q.remove(a);
    expect(timers()).toBe(before + 1);
    q.remove(b);
    expect(timers()).toBe(before);
    expect(log).toEqual([]);
  });

  it('takes items added and removed by an expiring one, and keeps slots right across thousands of items', async () => {
    const q = new DeadlineQueue();
    const log: string[] = [];
    const now = performance.now();
    const late = item(now + 40, log, 'late');
    const victim = item(now + 30, log, 'victim');
    const first = item(now + 5, log, 'first', () => {
      q.remove(victim);
      q.add(late);
    });
    q.add(first);
    // Many items that settle before their deadline: their slots are skipped and compacted away.
    const many = Array.from({ length: 5000 }, (_, i) => item(now + 10 + i / 1000, log, `m${i}`));
    for (const x of many) q.add(x);
    for (const x of many.slice(0, 4999)) q.remove(x);
    q.add(victim);
    await new Promise((r) => setTimeout(r, 80));
    expect(log).toEqual(['first', 'm4999', 'late']);
    expect(q.size).toBe(0);
  });

  it('shares one queue per timeout value', () => {
    expect(deadlineQueue(1234)).toBe(deadlineQueue(1234));
    expect(deadlineQueue(1234)).not.toBe(deadlineQueue(1235));
  });
});
