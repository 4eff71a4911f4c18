/**
 * The native probe engine behind plain HTTP and TCP-connect checks
 * (internal; native/lvskit_probe.c): a check is a slot in a table in the
 * addon, a socket and a few system calls on the main thread, with no
 * `net.Socket`, no stream and no JS object per connection beyond the one
 * here. Results come back in batches, one JS call per epoll wake-up, as
 * int32 records in a shared array (see the comment at the top of the C
 * file), and are turned here into the very results and reasons the Node
 * path (`http-client.ts`) gives: the C state machine follows its steps and
 * the texts are made here, by the same judge.
 *
 * Used by the `Monitor`'s fast path (`START`) when the addon loads, the
 * address is an IPv4/IPv6 literal (no zone), the check is plain HTTP without
 * a body match and with a fixed set of expected statuses, or a TCP connect
 * without send/expect. Everything else, or `LVSKIT_MONITORS_NATIVE=0` in the
 * environment, or `useNativeProbes(false)`, takes the Node path.
 * Deadlines stay in the shared deadline queues (`deadlines.ts`).
 */
import { isIP } from 'node:net';
import { errnoName, native, nativeAvailable } from '../util/native.js';
import type { DeadlineQueue, Expiring } from './deadlines.js';
import type { HttpJudge } from './http-client.js';
import { MAX_HEAD_BYTES } from './http-client.js';
import { describeError, type Outcome } from './result.js';
import type { CheckSink, RunningCheck } from './start.js';
import type { CheckResult } from './types.js';

interface ProbeBinding {
  probeInit(records: Int32Array, text: Uint8Array, callback: (count: number) => void): number;
  probePrepare(address: string, port: number, flags: number, maxBody: number, bodyStatuses: Uint8Array, request: Uint8Array): Buffer | null;
  probeStart(prepared: Buffer): number;
  probeCancel(id: number): void;
  probeActive(): number;
}

/** probePrepare flags (lvskit_probe.c PF_*). */
export const PROBE_HTTP = 1;
export const PROBE_RESET = 2;
export const PROBE_HEAD = 4;

/** Result codes (lvskit_probe.c R_*). */
const enum R {
  Error = 1,
  Hangup = 2,
  NotHttp = 3,
  EofInHead = 4,
  HeadTooLong = 5,
  BadStatus = 6,
  Status = 7,
  BadLength = 8,
  Body = 9,
  Broken = 10,
  Connected = 11,
}
const enum Why {
  End = 0,
  Errno = 1,
  LineLong = 2,
  DataLong = 3,
  BadSize = 4,
}
const SYSCALLS = ['', 'connect', 'write', 'read'];

const RECORD = 8;
const RECORDS = 1024;
const NO_BYTES = new Uint8Array(0);

let enabled = process.env.LVSKIT_MONITORS_NATIVE !== '0';
let engine: Engine | null | undefined;

/** Turn the native engine on or off for checks started from now on (internal: tests and benchmarks). */
export function useNativeProbes(on: boolean): void {
  enabled = on;
}

/** The engine, started on first use; `null` when the addon is unavailable or disabled. */
export function probeEngine(): Engine | null {
  if (!enabled) return null;
  if (engine !== undefined) return engine;
  engine = null;
  if (!nativeAvailable()) return null;
  const b = native() as unknown as Partial<ProbeBinding>;
  if (typeof b.probeInit !== 'function') return null;
  try {
    engine = new Engine(b as ProbeBinding);
  } catch {
    engine = null;
  }
  return engine;
}

/** Bit per status 0..999 (125 bytes): the statuses for which the body is read (the judge wants it). */
export function bodyStatuses(readBody: (status: number) => boolean): Uint8Array {
  const m = new Uint8Array(125);
  for (let s = 0; s < 1000; s++) if (readBody(s)) m[s >> 3] = (m[s >> 3] as number) | (1 << (s & 7));
  return m;
}

/** The error Node's sockets would have emitted for `errno` in `syscall`, described as `describeError` does. */
function errnoReason(errno: number, syscall: string, address: string, port: number): string {
  const code = errnoName(errno);
  const message = syscall === 'connect' ? `connect ${code} ${address}:${port}` : `${syscall} ${code}`;
  return describeError(Object.assign(new Error(message), { code }));
}

export class Engine {
  readonly b: ProbeBinding;
  readonly records = new Int32Array(RECORDS * RECORD);
  readonly text = new Uint8Array(4 * (MAX_HEAD_BYTES + 4));
  readonly probes: Array<Probe | undefined> = [];
  /** Probes started so far (for tests and benchmarks). */
  started = 0;

  constructor(b: ProbeBinding) {
    this.b = b;
    b.probeInit(this.records, this.text, (n: number) => this.onResults(n));
  }

  /** Probes in flight in the addon (for tests). */
  get active(): number {
    return this.b.probeActive();
  }

  /** Pack a target's connection facts once, or `null` when the address is not a plain literal. */
  prepare(address: string, port: number, flags: number, maxBody: number, statuses: Uint8Array, request: Uint8Array | undefined): Buffer | null {
    if (isIP(address) === 0 || address.includes('%')) return null;
    return this.b.probePrepare(address, port, flags, maxBody, statuses, request ?? NO_BYTES);
  }

  /** Start one probe; `sink.done` gets the result from a later turn unless `cancel()` comes first. */
  start(prepared: Buffer, address: string, port: number, judge: HttpJudge | null, timeoutMs: number, deadlines: DeadlineQueue, sink: CheckSink): RunningCheck {
    const p = new Probe(this, judge, address, port, timeoutMs, deadlines, sink);
    this.started++;
    const id = this.b.probeStart(prepared);
    if (id < 0) {
      // socket() or connect() failed at once: reported from a later turn, as the Node path would.
      p.id = -1;
      queueMicrotask(() => {
        if (!p.cancelled) p.report({ ok: false, reason: errnoReason(-id, 'connect', address, port) });
      });
      return p;
    }
    p.id = id;
    this.probes[id & 0xffff] = p;
    deadlines.add(p);
    return p;
  }

  onResults(n: number): void {
    const rec = this.records;
    let thrown: unknown;
    let threw = false;
    for (let i = 0; i < n; i++) {
      const o = i * RECORD;
      const id = rec[o] as number;
      const slot = id & 0xffff;
      const p = this.probes[slot];
      if (p === undefined || p.id !== id) continue;
      this.probes[slot] = undefined;
      p.deadlines.remove(p);
      try {
        p.report(this.outcome(p, rec[o + 1] as number, rec[o + 2] as number, rec[o + 3] as number, rec[o + 4] as number, rec[o + 5] as number, rec[o + 6] as number));
      } catch (e) {
        // A sink that throws must not cost the other probes of the batch their results.
        if (!threw) thrown = e;
        threw = true;
      }
    }
    if (threw) throw thrown;
  }

  #text(off: number, len: number): string {
    return Buffer.from(this.text.buffer, this.text.byteOffset + off, len).toString('latin1');
  }

  outcome(p: Probe, code: number, status: number, a: number, b: number, toff: number, tlen: number): Outcome {
    switch (code) {
      case R.Connected:
        return { ok: true, reason: 'connected' };
      case R.Error:
        return { ok: false, reason: errnoReason(a, SYSCALLS[b] ?? 'read', p.address, p.port) };
      case R.Hangup:
        return { ok: false, reason: describeError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })) };
      case R.NotHttp:
        return { ok: false, reason: `not an HTTP response: ${JSON.stringify(preview(this.#text(toff, tlen)))}` };
      case R.EofInHead:
        return { ok: false, reason: `connection closed within the response head (${a} bytes)` };
      case R.HeadTooLong:
        return { ok: false, reason: `response head longer than ${MAX_HEAD_BYTES} bytes` };
      case R.BadStatus:
        return { ok: false, reason: `not an HTTP/1.x status line: ${JSON.stringify(preview(this.#text(toff, tlen)))}` };
      case R.BadLength:
        return { ok: false, reason: `HTTP ${status}, invalid content-length`, details: { status } };
      case R.Status: {
        const location = b & 1 ? this.#text(toff, tlen) : undefined;
        const details: Record<string, unknown> = { status };
        if (location !== undefined) details.location = location;
        const judge = p.judge as HttpJudge;
        return judge.onStatus(status, location, details) ?? judge.onBody(status, undefined, 0, false, details);
      }
      case R.Body: {
        const details: Record<string, unknown> = { status };
        if (b & 2) details.location = this.#text(toff, tlen);
        return (p.judge as HttpJudge).onBody(status, undefined, a, (b & 1) !== 0, details);
      }
      case R.Broken: {
        let why = '';
        let details: Record<string, unknown> = { status };
        if (a === Why.BadSize) {
          why = `: bad chunk size ${JSON.stringify(preview(this.#text(toff, tlen)))}`;
        } else {
          if (b & (2 << 24)) details = { status, location: this.#text(toff, tlen) };
          if (a === Why.Errno) why = `: ${errnoReason(b & 0xffff, SYSCALLS[(b >> 16) & 0xff] ?? 'read', p.address, p.port)}`;
          else if (a === Why.LineLong) why = ': chunk line too long';
          else if (a === Why.DataLong) why = ': chunk data longer than its size';
        }
        return { ok: false, reason: `HTTP ${status}, response broken mid-body${why}`, details };
      }
      default:
        return { ok: false, reason: `native probe: unknown result ${code}` };
    }
  }
}

class Probe implements Expiring, RunningCheck {
  id = -1;
  dslot = -1;
  readonly deadline: number;
  readonly t0: number;
  cancelled = false;
  readonly engine: Engine;
  readonly judge: HttpJudge | null;
  readonly address: string;
  readonly port: number;
  readonly timeoutMs: number;
  readonly deadlines: DeadlineQueue;
  readonly sink: CheckSink;

  constructor(engine: Engine, judge: HttpJudge | null, address: string, port: number, timeoutMs: number, deadlines: DeadlineQueue, sink: CheckSink) {
    this.engine = engine;
    this.judge = judge;
    this.address = address;
    this.port = port;
    this.timeoutMs = timeoutMs;
    this.deadlines = deadlines;
    this.sink = sink;
    this.t0 = performance.now();
    this.deadline = this.t0 + timeoutMs;
  }

  /** Stop at once; nothing is reported. */
  cancel(): void {
    this.cancelled = true;
    this.#drop();
  }

  /** The deadline passed (called by the deadline queue). */
  expire(): void {
    if (!this.#drop()) return;
    this.sink.done({ ok: false, reason: `timed out after ${this.timeoutMs} ms`, latencyMs: performance.now() - this.t0, details: { timeout: true } });
  }

  /** Forget the probe here and in the addon; false when it had already ended. */
  #drop(): boolean {
    if (this.id < 0) return false;
    const slot = this.id & 0xffff;
    const probes = this.engine.probes;
    if (probes[slot] !== this) return false;
    probes[slot] = undefined;
    this.deadlines.remove(this);
    this.engine.b.probeCancel(this.id);
    return true;
  }

  report(o: Outcome): void {
    const r: CheckResult = { ok: o.ok, reason: o.reason, latencyMs: performance.now() - this.t0 };
    if (o.details !== undefined) r.details = o.details;
    this.sink.done(r);
  }
}

function preview(s: string): string {
  return s.length > 60 ? `${s.slice(0, 60)}...` : s;
}
