/**
 * The JS side of the native probe engine (src/monitors/native-probe.ts), pure parts: the status bitmap,
 * and turning batches of result records into results, with a stand-in for the addon's five calls
 * (the real engine is tested against real servers in test/loopback/monitors/native-probe.test.ts).
 */
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { DeadlineQueue } from '../../../src/monitors/deadlines.js';
import type { HttpJudge } from '../../../src/monitors/http-client.js';
import { bodyStatuses, Engine } from '../../../src/monitors/native-probe.js';
import type { CheckResult } from '../../../src/monitors/types.js';

class FakeAddon {
  records!: Int32Array;
  text!: Uint8Array;
  cb!: (n: number) => void;
  next = 0;
  cancelled: number[] = [];
  failNext = 0;
  probeInit(records: Int32Array, text: Uint8Array, cb: (n: number) => void): number {
    this.records = records;
    this.text = text;
    this.cb = cb;
    return 0;
  }
  probePrepare(): Buffer {
    return Buffer.alloc(1);
  }
  probeStart(): number {
    if (this.failNext !== 0) return -this.failNext;
    return (1 << 16) | this.next++;
  }
  probeCancel(id: number): void {
    this.cancelled.push(id);
  }
  probeActive(): number {
    return 0;
  }
  /** Write records [id, code, status, a, b, text] and deliver them as one batch. */
  deliver(recs: Array<[number, number, number, number, number, string?]>): void {
    let off = 0;
    recs.forEach(([id, code, status, a, b, t], i) => {
      const bytes = Buffer.from(t ?? '', 'latin1');
      this.text.set(bytes, off);
      this.records.set([id, code, status, a, b, off, bytes.length, 0], i * 8);
      off += bytes.length;
    });
    this.cb(recs.length);
  }
}

const judge: HttpJudge = {
  onStatus: (status, _loc, details) => (status === 200 ? undefined : { ok: false, reason: `HTTP ${status}`, details }),
  onBody: (status, _body, bytes, capped, details) => {
    details.bodyBytes = bytes;
    if (capped) details.bodyCapped = true;
    return { ok: status === 200, reason: `HTTP ${status}`, details };
  },
};

function setup(): { addon: FakeAddon; engine: Engine; run: (j?: HttpJudge | null) => { results: CheckResult[]; cancel: () => void } } {
  const addon = new FakeAddon();
  const engine = new Engine(addon);
  const q = new DeadlineQueue();
  const run = (j: HttpJudge | null = judge): { results: CheckResult[]; cancel: () => void } => {
    const results: CheckResult[] = [];
    const x = engine.start(Buffer.alloc(1), '192.0.2.1', 80, j, 60_000, q, { done: (r) => results.push(r) });
    return { results, cancel: () => x.cancel() };
  };
  return { addon, engine, run };
}

const ID = (n: number): number => (1 << 16) | n;
const E = os.constants.errno;

describe('bodyStatuses', () => {
  it('has one bit per status 0..999, set where the body is to be read', () => {
    const m = bodyStatuses((s) => s >= 200 && s <= 299);
    expect(m).toHaveLength(125);
    const has = (s: number): boolean => ((m[s >> 3] as number) & (1 << (s & 7))) !== 0;
    expect([199, 200, 250, 299, 300, 503, 0, 999].map(has)).toEqual([false, true, true, true, false, false, false, false]);
    expect(bodyStatuses(() => false).every((b) => b === 0)).toBe(true);
  });
});

describe('native probe results', () => {
  it('turns each result code into the reason the Node path gives', () => {
    const { addon, run } = setup();
    const rs = Array.from({ length: 13 }, () => run());
    addon.deliver([
      [ID(0), 1, 0, E.ECONNREFUSED, 1],
      [ID(1), 2, 0, 0, 0],
      [ID(2), 3, 0, 0, 0, 'SSH-2.0\r\n'],
      [ID(3), 4, 0, 21, 0],
      [ID(4), 5, 0, 0, 0],
      [ID(5), 6, 0, 0, 0, 'HTTP/1.1 20 OK'],
      [ID(6), 7, 503, 0, 1, '/down'],
      [ID(7), 8, 200, 0, 0],
      [ID(8), 9, 200, 1000, 1],
      [ID(9), 10, 200, 1, E.ECONNRESET | (3 << 16)],
      [ID(10), 10, 200, 4, 0, 'zz'],
      [ID(11), 1, 0, E.ENOBUFS, 1],
      [ID(12), 10, 200, 0, 2 << 24, '/x'],
    ]);
    const out = rs.map((r) => {
      expect(r.results).toHaveLength(1);
      const { latencyMs, ...rest } = r.results[0] as CheckResult;
      expect(latencyMs).toBeGreaterThanOrEqual(0);
      return rest;
    });
    expect(out).toEqual([
      { ok: false, reason: 'connection refused (ECONNREFUSED)' },
      { ok: false, reason: 'connection closed without a response (socket hang up)' },
      { ok: false, reason: 'not an HTTP response: "SSH-2.0\\r\\n"' },
      { ok: false, reason: 'connection closed within the response head (21 bytes)' },
      { ok: false, reason: 'response head longer than 32768 bytes' },
      { ok: false, reason: 'not an HTTP/1.x status line: "HTTP/1.1 20 OK"' },
      { ok: false, reason: 'HTTP 503', details: { status: 503, location: '/down' } },
      { ok: false, reason: 'HTTP 200, invalid content-length', details: { status: 200 } },
      { ok: true, reason: 'HTTP 200', details: { status: 200, bodyBytes: 1000, bodyCapped: true } },
      { ok: false, reason: 'HTTP 200, response broken mid-body: connection reset (ECONNRESET)', details: { status: 200 } },
      { ok: false, reason: 'HTTP 200, response broken mid-body: bad chunk size "zz"', details: { status: 200 } },
      // Codes without a short text read as Node's own error message would.
      { ok: false, reason: 'connect ENOBUFS 192.0.2.1:80 (ENOBUFS)' },
      { ok: false, reason: 'HTTP 200, response broken mid-body', details: { status: 200, location: '/x' } },
    ]);
  });

  it('reports a TCP connect as connected, and previews long texts at 60 characters', () => {
    const { addon, run } = setup();
    const tcp = run(null);
    const long = run();
    addon.deliver([
      [ID(0), 11, 0, 0, 0],
      [ID(1), 3, 0, 0, 0, 'x'.repeat(61)],
    ]);
    expect(tcp.results[0]).toMatchObject({ ok: true, reason: 'connected' });
    expect(long.results[0]?.reason).toBe(`not an HTTP response: "${'x'.repeat(60)}..."`);
  });

  it('ignores records of cancelled or unknown probes, and a cancel reaches the addon once', () => {
    const { addon, run } = setup();
    const a = run();
    const b = run();
    a.cancel();
    a.cancel();
    expect(addon.cancelled).toEqual([ID(0)]);
    addon.deliver([
      [ID(0), 2, 0, 0, 0],
      [(2 << 16) | 1, 2, 0, 0, 0], // same slot, another generation
      [ID(1), 11, 0, 0, 0],
      [ID(1), 2, 0, 0, 0], // a second record for a finished probe
    ]);
    expect(a.results).toEqual([]);
    expect(b.results).toHaveLength(1);
    expect(b.results[0]?.reason).toBe('connected');
    b.cancel();
    expect(addon.cancelled).toEqual([ID(0)]);
  });

  it('delivers every result of a batch when one sink throws, then throws that error', () => {
    const { addon, engine } = setup();
    const q = new DeadlineQueue();
    const got: string[] = [];
    engine.start(Buffer.alloc(1), '192.0.2.1', 80, null, 60_000, q, {
      done: () => {
        throw new Error('sink bug');
      },
    });
    engine.start(Buffer.alloc(1), '192.0.2.1', 80, null, 60_000, q, { done: (r) => got.push(r.reason) });
    expect(() =>
      addon.deliver([
        [ID(0), 11, 0, 0, 0],
        [ID(1), 11, 0, 0, 0],
      ]),
    ).toThrow('sink bug');
    expect(got).toEqual(['connected']);
    expect(q.size).toBe(0);
  });

  it('reports a socket or connect that fails at once from a later turn, unless cancelled', async () => {
    const { addon, run } = setup();
    addon.failNext = E.EMFILE;
    const a = run();
    const b = run();
    expect(a.results).toEqual([]);
    b.cancel();
    await Promise.resolve();
    expect(a.results[0]?.reason).toBe('connect EMFILE 192.0.2.1:80 (EMFILE)');
    expect(b.results).toEqual([]);
  });
});
