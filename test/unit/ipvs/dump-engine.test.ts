/**
 * readTable's dump engines: `dumpEach` (transport.ts: dumps back to back, entries read in place,
 * one watchdog) over the fake kernel and a scripted socket, and the native engine's pure parts
 * (native-dump.ts: record decoding, error typing) plus the addon itself on this host, which has no
 * IPVS (the kernel tier runs it against the real thing).
 */
import { describe, expect, it, vi } from 'vitest';
import { isLvskitError } from '../../../src/util/errors.js';
import * as K from '../../../src/ipvs/constants.js';
import { IpvsClient } from '../../../src/ipvs/client.js';
import { IpvsError } from '../../../src/ipvs/errors.js';
import { plan, type TableService } from '../../../src/ipvs/plan.js';
import { NetlinkChannel, type DatagramSocket, type DumpSource, type ErrnoLike, type RequestSpec } from '../../../src/ipvs/transport.js';
import { NLMSG_DONE, NLMSG_ERROR, NLM_F_DUMP_INTR, NLM_F_MULTI, decodeNlmsgs, encodeNlError, encodeNlmsg } from '../../../src/ipvs/wire-netlink.js';
import { decodeIpvsMessage, encodeIpvsMessage } from '../../../src/ipvs/wire.js';
import { serviceToWire, destinationToWire, type Service } from '../../../src/ipvs/model.js';
import { decodeTableRecords, nativeDump, typedError } from '../../../src/ipvs/native-dump.js';
import { FakeKernel } from './fake-kernel.js';

const web = { protocol: 'tcp' as const, address: '192.0.2.1', port: 80, scheduler: 'wrr' };
/** The engine under test (the default without the addon is the per-request one). */
const B = { engine: 'batched' as const };

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (e) {
    return isLvskitError(e) ? e.code : `not lvskit: ${String(e)}`;
  }
  return undefined;
}

/** A table of `n` services, service i with i % 7 destinations. */
function table(n: number): TableService[] {
  return Array.from({ length: n }, (_, i) => ({ ...web, port: 1000 + i, destinations: Array.from({ length: i % 7 }, (_, j) => ({ address: `10.${i >> 8}.${i & 255}.${j + 1}`, weight: j })) }));
}

function isDestDump(k: FakeKernel, m: { type: number; payload: Uint8Array }): boolean {
  return m.type === k.familyId && decodeIpvsMessage(m.payload).cmd === K.IPVS_CMD_GET_DEST;
}

describe('readTable: the batched engine (dumpEach) over a fake kernel', () => {
  it('reads the same table as the per-request engine, one dump at a time per socket, a dump split over many datagrams', async () => {
    const k = new FakeKernel();
    k.dumpBatch = 2;
    const c = await IpvsClient.open({ socket: k });
    expect(c.readEngine()).toBe('requests'); // an injected socket: never the addon
    const desired = table(40);
    await c.applyOpsOrThrow(plan(desired, []).ops);
    // Each destination dump goes out only after the kernel has answered the previous one's end.
    let dones = 0;
    let sent = 0;
    const deliver = k.onMessage.bind(k);
    k.onMessage = (fn) =>
      deliver((d) => {
        dones += decodeNlmsgs(d).filter((m) => m.type === NLMSG_DONE).length;
        fn(d);
      });
    const c2 = await IpvsClient.open({ socket: k });
    k.beforeHandle = (m) => {
      if (!isDestDump(k, m)) return;
      expect(dones).toBe(sent + 1); // the service dump's DONE, then one per destination dump
      sent++;
    };
    const s0 = c2.stats;
    const batched = await c2.readTable({ ...B, stats: false });
    expect(sent).toBe(40);
    expect(c2.stats.requests - s0.requests).toBe(41);
    k.beforeHandle = undefined;
    const requests = await c2.readTable({ ...B, stats: false, engine: 'requests' });
    expect(batched).toEqual(requests);
    expect(plan(desired, batched, { ownAll: true }).ops).toEqual([]);
    // With counters too.
    k.services.forEach((s) => s.dests.forEach((d) => (d.stats64 = { conns: 5n })));
    const full = await c2.readTable(B);
    expect(full).toEqual(await c2.readTable({ ...B, engine: 'requests' }));
    expect(full[3]?.destinations?.[0]?.stats?.conns).toBe(5n);
    c.close();
    c2.close();
  });

  it('over several sockets, each runs its own dumps; an empty table needs no destination dump', async () => {
    const k = new FakeKernel();
    const extra: FakeKernel[] = [];
    const c = await IpvsClient.open({
      socket: k,
      dumpSockets: 3,
      openSocket: async () => {
        const x = new FakeKernel();
        x.services = k.services;
        extra.push(x);
        return x;
      },
    });
    expect(await c.readTable(B)).toEqual([]);
    expect(extra).toHaveLength(0);
    await c.applyOpsOrThrow(plan(table(30), []).ops);
    const t = await c.readTable({ ...B, stats: false });
    expect(plan(table(30), t, { ownAll: true }).ops).toEqual([]);
    const count = (x: FakeKernel) => x.requests.filter((m) => isDestDump(x, m)).length;
    expect(count(k) + count(extra[0]!) + count(extra[1]!)).toBe(30);
    c.close();
  });

  it('a kernel error of one dump fails the read, typed; the client keeps working', async () => {
    const k = new FakeKernel();
    const c = await IpvsClient.open({ socket: k });
    await c.applyOpsOrThrow(plan(table(10), []).ops);
    k.refuse.set(K.IPVS_CMD_GET_DEST, 1);
    const e = await c.readTable(B).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(IpvsError);
    expect((e as IpvsError).code).toBe('ERR_IPVS_NOT_PERMITTED');
    expect((e as IpvsError).cmd).toBe(K.IPVS_CMD_GET_DEST);
    k.refuse.clear();
    expect(await c.readTable(B)).toHaveLength(10);
  });

  it('ENOBUFS mid-read is the recoverable ERR_IPVS_NO_BUFFERS; the lost dump is given up after the watchdog and the next read works', async () => {
    const k = new FakeKernel();
    const c = await IpvsClient.open({ socket: k });
    await c.applyOpsOrThrow(plan(table(10), []).ops);
    k.overflowIn = 4; // the service dump, then 3 destination dumps, then replies lost
    const e = await c.readTable({ ...B, timeoutMs: 50 }).catch((x: unknown) => x);
    expect((e as IpvsError).code).toBe('ERR_IPVS_NO_BUFFERS');
    expect((e as IpvsError).recoverable).toBe(true);
    expect(c.stats.overflows).toBe(1);
    expect(await c.readTable({ ...B, timeoutMs: 5_000 })).toHaveLength(10);
  });

  it('an abort rejects at once; the dump in flight is drained to its end, so the next read needs no timeout', async () => {
    const k = new FakeKernel();
    k.dumpBatch = 1;
    const c = await IpvsClient.open({ socket: k, timeoutMs: 60_000 });
    await c.applyOpsOrThrow(plan(table(20), []).ops);
    const ac = new AbortController();
    let dumps = 0;
    k.beforeHandle = (m) => {
      if (isDestDump(k, m) && ++dumps === 6) setImmediate(() => ac.abort());
    };
    expect(await codeOf(c.readTable({ ...B, signal: ac.signal }))).toBe('ERR_ABORTED');
    k.beforeHandle = undefined;
    // With a 60 s watchdog, only the drain (reading the aborted dump to its DONE) lets this finish in time.
    const t = await c.readTable(B);
    expect(t).toHaveLength(20);
    expect(dumps).toBe(6);
    expect(await codeOf(c.readTable({ ...B, signal: AbortSignal.abort() }))).toBe('ERR_ABORTED');
  });

  it('no reply at all: ERR_TIMEOUT from the one watchdog; close() during a read fails it with ERR_IPVS_CLOSED', async () => {
    const k = new FakeKernel();
    const c = await IpvsClient.open({ socket: k });
    await c.applyOpsOrThrow(plan(table(5), []).ops);
    let n = 0;
    k.beforeHandle = (m) => {
      if (isDestDump(k, m) && ++n === 3) k.silent = true;
    };
    expect(await codeOf(c.readTable({ ...B, timeoutMs: 20 }))).toBe('ERR_TIMEOUT');
    k.silent = false;
    k.beforeHandle = undefined;
    expect(await c.readTable({ ...B, timeoutMs: 5_000 })).toHaveLength(5);
    k.beforeHandle = (m) => {
      if (isDestDump(k, m)) c.close();
    };
    expect(await codeOf(c.readTable(B))).toBe('ERR_IPVS_CLOSED');
  });

  it('a failed sendmsg and an undecodable datagram fail the read, typed', async () => {
    const k = new FakeKernel();
    const c = await IpvsClient.open({ socket: k });
    await c.applyOpsOrThrow(plan(table(5), []).ops);
    let n = 0;
    k.beforeHandle = (m) => {
      if (isDestDump(k, m) && ++n === 2) k.failSendErrno = 90;
    };
    expect(await codeOf(c.readTable({ ...B, timeoutMs: 50 }))).toBe('ERR_IPVS_KERNEL');
    k.beforeHandle = undefined;
    expect(await c.readTable({ ...B, timeoutMs: 5_000 })).toHaveLength(5);
  });
});

/** A socket whose kernel answers each dump request with `answer(seq, nth)`'s datagrams, one per turn. */
class ScriptSocket implements DatagramSocket {
  #on: (d: Uint8Array) => void = () => undefined;
  sent = 0;
  closed = false;
  constructor(readonly answer: (seq: number, nth: number) => Uint8Array[]) {}
  send(data: Uint8Array, callback: (err?: ErrnoLike) => void): void {
    const [m] = decodeNlmsgs(data);
    const out = this.answer(m!.seq, this.sent++);
    queueMicrotask(() => callback());
    const step = (i: number): void => {
      if (i >= out.length || this.closed) return;
      this.#on(out[i]!);
      setImmediate(() => step(i + 1));
    };
    setImmediate(() => step(0));
  }
  onMessage(fn: (d: Uint8Array) => void): void {
    this.#on = fn;
  }
  onError(): void {}
  localPort(): number {
    return 7;
  }
  close(): void {
    this.closed = true;
  }
}

const FAM = 0x1c;
const entry = (seq: number, body: number[], flags = NLM_F_MULTI): Uint8Array => encodeNlmsg({ type: FAM, flags, seq, port: 7 }, new Uint8Array([K.IPVS_CMD_NEW_DEST, 1, 0, 0, ...body]));
const done = (seq: number, errno = 0): Uint8Array => {
  const p = new Uint8Array(4);
  new DataView(p.buffer).setInt32(0, -errno, true);
  return encodeNlmsg({ type: NLMSG_DONE, flags: NLM_F_MULTI, seq, port: 7 }, p);
};
const cat = (...xs: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(xs.reduce((a, x) => a + x.length, 0));
  let at = 0;
  for (const x of xs) {
    out.set(x, at);
    at += x.length;
  }
  return out;
};

function source(n: number, got: string[]): DumpSource {
  let i = 0;
  let cur = -1;
  return {
    next: (): RequestSpec | undefined => (i < n ? ((cur = i++), { type: FAM, cmd: K.IPVS_CMD_GET_DEST, payload: new Uint8Array([K.IPVS_CMD_GET_DEST, 1, 0, 0]), dump: true, what: `service ${cur}` }) : undefined),
    entry: (buf, start, end, type) => got.push(`${cur}:${type}:${Array.from(buf.subarray(start + 4, end)).join(',')}`),
  };
}

describe('NetlinkChannel.dumpEach over a scripted kernel', () => {
  it('hands every entry in place, in order, across datagrams; reports NLM_F_DUMP_INTR; drops stale replies', async () => {
    const sock = new ScriptSocket((seq, nth) => [
      cat(encodeNlmsg({ type: NLMSG_DONE, flags: NLM_F_MULTI, seq: seq - 1000, port: 7 }, new Uint8Array(4))), // stale: another seq
      cat(entry(seq, [nth, 1]), entry(seq, [nth, 2], nth === 1 ? NLM_F_MULTI | NLM_F_DUMP_INTR : NLM_F_MULTI)),
      cat(entry(seq, [nth, 3]), done(seq)),
    ]);
    const ch = new NetlinkChannel(sock);
    const got: string[] = [];
    const r = await ch.dumpEach(source(3, got), { timeoutMs: 5_000 });
    expect(r).toEqual({ dumps: 3, interrupted: true });
    expect(got).toEqual(['0:28:0,1', '0:28:0,2', '0:28:0,3', '1:28:1,1', '1:28:1,2', '1:28:1,3', '2:28:2,1', '2:28:2,2', '2:28:2,3']);
    expect(ch.stats).toMatchObject({ sendmsgs: 3, requests: 3 });
    expect(await ch.dumpEach(source(0, got))).toEqual({ dumps: 0, interrupted: false });
  });

  it('the error of a dump (in NLMSG_DONE or NLMSG_ERROR) ends the run typed, and the next run goes ahead at once', async () => {
    for (const fail of ['done', 'error'] as const) {
      const sock = new ScriptSocket((seq, nth) =>
        nth === 1 ? [fail === 'done' ? done(seq, 3) : encodeNlmsg({ type: NLMSG_ERROR, flags: 0, seq, port: 7 }, encodeNlError(3, { type: FAM, flags: 0x301, seq, port: 7 }))] : [cat(entry(seq, [nth]), done(seq))],
      );
      const ch = new NetlinkChannel(sock);
      const e = await ch.dumpEach(source(3, []), { timeoutMs: 60_000 }).catch((x: unknown) => x);
      expect((e as IpvsError).code).toBe('ERR_IPVS_NO_SERVICE');
      expect((e as IpvsError).message).toContain('service 1');
      expect(await ch.dumpEach(source(1, []), { timeoutMs: 60_000 })).toEqual({ dumps: 1, interrupted: false });
    }
  });

  it('an entry the source cannot read and a bad nlmsg_len are ERR_IPVS_PROTOCOL; a source whose next() throws fails the run with its error', async () => {
    const sock = new ScriptSocket((seq, nth) => (nth === 0 ? [cat(entry(seq, [1]), done(seq))] : [cat(entry(seq, [1]).subarray(0, 8), new Uint8Array(8))]));
    const ch = new NetlinkChannel(sock);
    const bad: DumpSource = {
      ...source(1, []),
      entry: () => {
        throw new RangeError('no');
      },
    };
    expect(await codeOf(ch.dumpEach(bad, { timeoutMs: 5_000 }))).toBe('ERR_IPVS_PROTOCOL');
    expect(await codeOf(ch.dumpEach(source(1, []), { timeoutMs: 50 }))).toBe('ERR_IPVS_PROTOCOL');
    const thrower: DumpSource = {
      next: () => {
        throw new IpvsError('ERR_IPVS_INVALID_CONFIG', 'bad service');
      },
      entry: () => undefined,
    };
    expect(await codeOf(ch.dumpEach(thrower))).toBe('ERR_IPVS_INVALID_CONFIG');
  });
});

describe('readTable: the native engine', () => {
  const svc: Service = { ...web, scheduler: 'wrr' };
  const rec = (tag: number, payload: Uint8Array): Uint8Array => {
    const out = new Uint8Array(8 + ((payload.length + 3) & ~3));
    const v = new DataView(out.buffer);
    v.setUint32(0, tag, true);
    v.setUint32(4, payload.length, true);
    out.set(payload, 8);
    return out;
  };
  const svcRec = (s: Service) => rec(0xffff_ffff, encodeIpvsMessage({ cmd: K.IPVS_CMD_NEW_SERVICE, attrs: { service: { ...serviceToWire(s), flags: { flags: 2, mask: 0xffffffff } } } }));
  const destRec = (i: number, s: Service, address: string, weight: number) =>
    rec(i, encodeIpvsMessage({ cmd: K.IPVS_CMD_NEW_DEST, attrs: { dest: { ...destinationToWire({ address, weight }, s), activeConns: 0, inactConns: 0, persistConns: 0, stats64: { conns: 4n } } } }));

  it('decodes the addon records: services in order, each with its destinations, counters only when asked', () => {
    const other: Service = { protocol: 'udp', address: '2001:db8::1', port: 53, scheduler: 'rr' };
    const data = cat(svcRec(svc), svcRec(other), destRec(0, svc, '10.0.0.1', 3), destRec(0, svc, '10.0.0.2', 0), destRec(1, other, '2001:db8::2', 1));
    const t = decodeTableRecords(data, false);
    expect(t.map((s) => [('address' in s ? s.address : ''), s.destinations?.map((d) => [d.address, d.weight, d.family, d.stats])])).toEqual([
      ['192.0.2.1', [['10.0.0.1', 3, 'ipv4', undefined], ['10.0.0.2', 0, 'ipv4', undefined]]],
      ['2001:db8::1', [['2001:db8::2', 1, 'ipv6', undefined]]],
    ]);
    expect(decodeTableRecords(data, true)[0]?.destinations?.[0]?.stats?.conns).toBe(4n);
    expect(decodeTableRecords(new Uint8Array(0), false)).toEqual([]);
  });

  it('malformed records are ERR_IPVS_PROTOCOL', () => {
    const ok = svcRec(svc);
    const code = (d: Uint8Array) => {
      try {
        decodeTableRecords(d, false);
        return undefined;
      } catch (e) {
        return (e as IpvsError).code;
      }
    };
    expect(code(ok.subarray(0, ok.length - 4))).toBe('ERR_IPVS_PROTOCOL'); // runs past the end
    expect(code(cat(ok, new Uint8Array(4)))).toBe('ERR_IPVS_PROTOCOL'); // stray bytes
    expect(code(destRec(0, svc, '10.0.0.1', 1))).toBe('ERR_IPVS_PROTOCOL'); // a destination of no service
    expect(code(rec(0xffff_ffff, encodeIpvsMessage({ cmd: K.IPVS_CMD_NEW_SERVICE, attrs: {} })))).toBe('ERR_IPVS_PROTOCOL');
  });

  it("types the addon's errors as the JavaScript engines do", () => {
    const t = (x: object) => typedError(Object.assign(new Error('x'), x), 1000) as IpvsError;
    expect(t({ errno: 1, syscall: 'kernel', index: 4 })).toMatchObject({ code: 'ERR_IPVS_NOT_PERMITTED', cmd: K.IPVS_CMD_GET_DEST, errno: 1 });
    expect(t({ errno: 1, syscall: 'kernel', index: -1 })).toMatchObject({ code: 'ERR_IPVS_NOT_PERMITTED', cmd: K.IPVS_CMD_GET_SERVICE });
    expect(t({ errno: 105, syscall: 'recvmsg', index: 2 })).toMatchObject({ code: 'ERR_IPVS_NO_BUFFERS', recoverable: true });
    expect(t({ errno: 110, syscall: 'recvmsg', index: 2 }).code).toBe('ERR_TIMEOUT');
    expect(t({ errno: 71, syscall: 'recvmsg', index: 2 }).code).toBe('ERR_IPVS_PROTOCOL');
    expect(t({ errno: 125, syscall: 'cancel', index: 2 }).code).toBe('ERR_IPVS_CLOSED');
    expect(t({ errno: 24, syscall: 'socket', index: -1 })).toMatchObject({ code: 'ERR_IPVS_KERNEL', errno: 24 });
    expect((typedError(new Error('odd'), 1000) as IpvsError).code).toBe('ERR_IPVS_PROTOCOL');
  });

  it('LVSKIT_IPVS_NATIVE=0 turns the addon path off (readTable then reads in JavaScript)', async () => {
    vi.resetModules();
    process.env.LVSKIT_IPVS_NATIVE = '0';
    try {
      const m = await import('../../../src/ipvs/native-dump.js');
      expect(m.nativeDump()).toBeUndefined();
      expect(m.nativeDumpAvailable()).toBe(false);
    } finally {
      delete process.env.LVSKIT_IPVS_NATIVE;
      vi.resetModules();
    }
    const fresh = await import('../../../src/ipvs/native-dump.js');
    expect(fresh.nativeDumpAvailable()).toBe(true); // the committed prebuild has nlDumpTable
  });

  it('the addon on this host (no IPVS): argument checks, a kernel error typed, cancel', async () => {
    const b = nativeDump();
    expect(b).toBeDefined();
    expect(() => b!.nlDumpTable(0, 10)).toThrow(TypeError);
    expect(() => b!.nlDumpTable(70_000, 10)).toThrow(TypeError);
    expect(() => b!.nlDumpCancel({})).toThrow(TypeError);
    // A genl family id nobody has: the kernel answers the service dump with ENOENT.
    const r = b!.nlDumpTable(0x7ff0, 5_000);
    const e = await r.promise.catch((x: unknown) => x);
    expect(e).toMatchObject({ errno: 2, syscall: 'kernel', index: -1 });
    expect(typedError(e, 5_000)).toMatchObject({ code: 'ERR_IPVS_KERNEL', cmd: K.IPVS_CMD_GET_SERVICE, errno: 2 });
    // Cancel races the threadpool here (the kernel answers at once): cancelled, or the kernel's answer.
    const c = b!.nlDumpTable(0x7ff0, 5_000);
    b!.nlDumpCancel(c.job);
    const x = (await c.promise.catch((y: unknown) => y)) as { errno: number; syscall: string };
    expect([`125 cancel`, `2 kernel`]).toContain(`${x.errno} ${x.syscall}`);
    b!.nlDumpCancel(c.job); // after the end: nothing happens
  });
});
