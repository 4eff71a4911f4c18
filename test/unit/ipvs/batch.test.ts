/**
 * Batches: many requests per datagram, acks only on each datagram's last request unless `ackEach`,
 * failures matched to their request by sequence number, lost answers recoverable, a bounded window;
 * the fast request encoders give the table-driven codec's bytes; apply() with `known` writes a
 * one-weight change as one request in one datagram and reads nothing.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { toHex } from '../../../src/util/bytes.js';
import * as K from '../../../src/ipvs/constants.js';
import { IpvsClient } from '../../../src/ipvs/client.js';
import { apply } from '../../../src/ipvs/apply.js';
import { plan, type TableService } from '../../../src/ipvs/plan.js';
import { NLM_F_ACK, decodeNlmsgs } from '../../../src/ipvs/wire-netlink.js';
import { encodeAttrs, CMD_SCHEMA, type WireDest } from '../../../src/ipvs/wire-schema.js';
import { decodeDestDumpEntry, decodeIpvsMessage, encodeDestRequest, encodeIpvsMessage } from '../../../src/ipvs/wire.js';
import { tableArb } from './arbitraries.js';
import { FakeKernel } from './fake-kernel.js';

const web = { protocol: 'tcp' as const, address: '192.0.2.1', port: 80, scheduler: 'wrr' };
const dests = (n: number): { address: string; weight: number }[] => Array.from({ length: n }, (_, i) => ({ address: `10.1.${i >> 8}.${i & 255}`, weight: 1 + (i % 5) }));

describe('batches', () => {
  it('asks for an ack only on the last request of each datagram; a failure in the middle is matched to its request', async () => {
    const k = new FakeKernel();
    const c = await IpvsClient.open({ socket: k, batchSize: 10, window: 20 });
    // Service 8080 exists already: its add fails in the middle of the first datagram.
    await c.addService({ ...web, port: 8080 });
    const desired: TableService[] = [
      { ...web, destinations: dests(3) },
      { ...web, port: 8080, destinations: dests(30) },
    ];
    const ops = plan(desired, []).ops;
    const before = k.datagrams.length;
    const reqsBefore = k.requests.length;
    const r = await c.applyOps(ops);
    expect(r.failures.map((f) => [f.index, f.error.code, f.error.message.includes('add-service tcp/192.0.2.1:8080')])).toEqual([[1, 'ERR_IPVS_EXISTS', true]]);
    expect(r.applied).toBe(ops.length - 1);
    const sent = k.datagrams.slice(before);
    expect(sent).toHaveLength(Math.ceil(ops.length / 10));
    const flags = k.requests.slice(reqsBefore).map((m) => (m.flags & NLM_F_ACK) !== 0);
    // Acks asked for exactly at indexes 9, 19, 29 and the very last.
    expect(flags.flatMap((f, i) => (f ? [i] : []))).toEqual([9, 19, 29, ops.length - 1]);
    expect(await c.listDestinations({ ...web, port: 8080 })).toHaveLength(30);
  });

  it('with ackEach every request asks for an ack', async () => {
    const k = new FakeKernel();
    const c = await IpvsClient.open({ socket: k, batchSize: 8, ackEach: true });
    const ops = plan([{ ...web, destinations: dests(20) }], []).ops;
    const reqsBefore = k.requests.length;
    const r = await c.applyOps(ops);
    expect(r.failures).toEqual([]);
    expect(k.requests.slice(reqsBefore).every((m) => (m.flags & NLM_F_ACK) !== 0)).toBe(true);
  });

  it('the window bounds requests sent and unanswered', async () => {
    const k = new FakeKernel();
    // Count datagrams out and answers in (each datagram of a clean batch gets exactly one answer).
    let out = 0;
    let maxOut = 0;
    const onMessage = k.onMessage.bind(k);
    k.onMessage = (fn) =>
      onMessage((data) => {
        out -= decodeNlmsgs(data).filter((m) => m.type === 2).length; // NLMSG_ERROR: an ack
        fn(data);
      });
    const send = k.send.bind(k);
    k.send = (data, cb) => {
      out++;
      maxOut = Math.max(maxOut, out);
      send(data, cb);
    };
    const c = await IpvsClient.open({ socket: k, batchSize: 5, window: 15 });
    maxOut = 0;
    const r = await c.applyOps(plan([{ ...web, destinations: dests(100) }], []).ops);
    expect(r.failures).toEqual([]);
    // 5 requests per datagram, 15 unanswered at most: 3 datagrams out at once, never more.
    expect(maxOut).toBe(3);
  });

  it('lost answers (ENOBUFS) fail every request of the datagrams in flight as recoverable, silent ones included', async () => {
    const k = new FakeKernel();
    const c = await IpvsClient.open({ socket: k, batchSize: 10, window: 10 });
    k.overflowNext = true;
    const ops = plan([{ ...web, destinations: dests(24) }], []).ops;
    const r = await c.applyOps(ops);
    // The first datagram's answers were lost: its 10 requests are unknown; the rest went through.
    expect(r.failures.map((f) => f.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(r.failures.every((f) => f.error.code === 'ERR_IPVS_NO_BUFFERS' && f.error.recoverable)).toBe(true);
    // apply() re-reads and finds the table right.
    const again = await apply([{ ...web, destinations: dests(24) }], { client: c });
    expect(again.writes).toBe(0);
  });

  it('an abort fails what is unanswered and unsent, and the channel keeps working', async () => {
    const k = new FakeKernel();
    const c = await IpvsClient.open({ socket: k, batchSize: 4, window: 4 });
    const ac = new AbortController();
    k.beforeHandle = (m) => {
      if (m.seq !== 0 && k.requests.length > 6) ac.abort();
    };
    const r = c.applyOps(plan([{ ...web, destinations: dests(40) }], []).ops, { signal: ac.signal });
    await expect(r).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    k.beforeHandle = undefined;
    expect((await c.info()).version).toBeDefined();
  });
});

describe('fast request encoders', () => {
  it('applyOps writes each request straight into its datagram: the payloads are exactly opPayload(op), in order', async () => {
    await fc.assert(
      fc.asyncProperty(tableArb, tableArb, async (desired, actual) => {
        const ops = plan(desired, actual, { ownAll: true }).ops;
        const k = new FakeKernel();
        const c = await IpvsClient.open({ socket: k, batchSize: 3, window: 6 });
        try {
          const before = k.requests.length;
          await c.applyOps(ops);
          const sent = k.requests.slice(before);
          expect(sent.map((m) => toHex(m.payload))).toEqual(ops.map((op) => toHex(IpvsClient.opPayload(op))));
        } finally {
          c.close();
        }
      }),
      { numRuns: 60 },
    );
  });

  it('opPayload of destinations without a tunnel (encodeDestRequestPlain) at the edges of every field', () => {
    const services = [
      { protocol: 'tcp', address: '192.0.2.1', port: 65535 },
      { protocol: 'sctp', address: '2001:db8::1', port: 1 },
      { fwmark: 0xffff_ffff, family: 'ipv6' },
    ] as const;
    fc.assert(
      fc.property(
        fc.nat(2),
        fc.constantFrom('masq', 'local', 'bypass', 'route' as const),
        fc.constantFrom(0, 1, 0x7fff_ffff),
        fc.constantFrom(0, 1, 0xffff_ffff),
        fc.constantFrom(0, 0xffff_fffe),
        fc.constantFrom(0, 255, 256, 65535),
        fc.constantFrom('add-destination', 'edit-destination', 'delete-destination' as const),
        (si, forwarding, weight, upperThreshold, lowerThreshold, mport, kind) => {
          const svc = services[si] as TableService;
          const v6 = si > 0;
          const port = forwarding === 'route' ? ('port' in svc ? svc.port : mport) : mport;
          const dest = { address: v6 ? '2001:db8:ffff::fffe' : '255.0.128.1', forwarding, weight, upperThreshold, lowerThreshold, port };
          const p = plan([{ ...svc, destinations: [dest] }], [{ ...svc, destinations: kind === 'add-destination' ? [] : [{ ...dest, weight: weight === 1 ? 2 : 1 }] }], { ownAll: true });
          const ops = kind === 'delete-destination' ? plan([{ ...svc, destinations: [] }], [{ ...svc, destinations: [dest] }]).ops : p.ops;
          expect(ops.map((o) => o.kind)).toEqual([kind]);
          for (const op of ops) expect(toHex(IpvsClient.opPayload(op))).toBe(toHex(encodeIpvsMessage(IpvsClient.opMessage(op))));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('opPayload gives the bytes of encodeIpvsMessage(opMessage(op)) for every kind of operation', () => {
    fc.assert(
      fc.property(tableArb, tableArb, (desired, actual) => {
        const p = plan(desired, actual, { ownAll: true });
        for (const op of p.ops) expect(toHex(IpvsClient.opPayload(op))).toBe(toHex(encodeIpvsMessage(IpvsClient.opMessage(op))));
      }),
    );
  });

  it('encodeDestRequest gives the bytes of the table-driven codec, counters and unknown attributes included', () => {
    const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
    const u16 = fc.integer({ min: 0, max: 0xffff });
    const wireDest: fc.Arbitrary<WireDest> = fc.record(
      {
        addrFamily: u16,
        addr: fc.oneof(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ minLength: 4, maxLength: 4 })),
        port: u16,
        fwdMethod: u32,
        weight: u32,
        tunType: fc.integer({ min: 0, max: 255 }),
        tunPort: u16,
        tunFlags: u16,
        uThresh: u32,
        lThresh: u32,
        activeConns: u32,
        unknown: fc.array(fc.record({ type: fc.integer({ min: 20, max: 40 }), nested: fc.boolean(), netByteOrder: fc.boolean(), data: fc.uint8Array({ maxLength: 9 }) }), { maxLength: 2 }),
      },
      { requiredKeys: [] },
    );
    const serviceAttr = encodeAttrs(CMD_SCHEMA, { service: { af: 2, protocol: 6, addr: new Uint8Array(16), port: 80 } });
    fc.assert(
      fc.property(wireDest, fc.constantFrom(K.IPVS_CMD_NEW_DEST, K.IPVS_CMD_SET_DEST, K.IPVS_CMD_DEL_DEST), (dest, cmd) => {
        const generic = encodeIpvsMessage({ cmd, attrs: { service: { af: 2, protocol: 6, addr: new Uint8Array(16), port: 80 }, dest } });
        expect(toHex(encodeDestRequest(cmd, serviceAttr, dest))).toBe(toHex(generic));
      }),
    );
  });

  it('decodeDestDumpEntry reads what the table-driven codec reads (counters skipped), and its errors', () => {
    const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
    const u16 = fc.integer({ min: 0, max: 0xffff });
    const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
    const dest: fc.Arbitrary<WireDest> = fc.record(
      {
        addrFamily: u16,
        addr: fc.uint8Array({ maxLength: 16 }),
        port: u16,
        fwdMethod: u32,
        weight: u32,
        tunType: fc.integer({ min: 0, max: 255 }),
        tunPort: u16,
        tunFlags: u16,
        uThresh: u32,
        lThresh: u32,
        activeConns: u32,
        inactConns: u32,
        persistConns: u32,
        stats: fc.record({ conns: u32, inbytes: u64 }, { requiredKeys: [] }),
        stats64: fc.record({ conns: u64, outbps: u64 }, { requiredKeys: [] }),
        unknown: fc.array(fc.record({ type: fc.integer({ min: 20, max: 40 }), nested: fc.boolean(), netByteOrder: fc.boolean(), data: fc.uint8Array({ maxLength: 9 }) }), { maxLength: 1 }),
      },
      { requiredKeys: [] },
    );
    const hex = (x: unknown): string => JSON.stringify(x, (_k, v: unknown) => (v instanceof Uint8Array ? toHex(v) : typeof v === 'bigint' ? `${v}n` : v));
    fc.assert(
      fc.property(dest, fc.nat(40), fc.integer({ min: 0, max: 255 }), (d, cut, junk) => {
        const bytes = encodeIpvsMessage({ cmd: K.IPVS_CMD_NEW_DEST, attrs: { dest: d } });
        const generic = decodeIpvsMessage(bytes, 0, bytes.length, { skipStats: true }).attrs?.dest;
        expect(hex(decodeDestDumpEntry(bytes))).toBe(hex(generic));
        // Damaged entries: the same value or the same typed error as the codec.
        const bad = bytes.slice(0, Math.max(4, bytes.length - cut));
        if (bad.length > 8) bad[8] = junk;
        let want: string;
        try {
          want = hex(decodeIpvsMessage(bad, 0, bad.length, { skipStats: true }).attrs?.dest);
        } catch (e) {
          want = `throws ${(e as { code?: string }).code}`;
        }
        let got: string;
        try {
          got = hex(decodeDestDumpEntry(bad));
        } catch (e) {
          got = `throws ${(e as { code?: string }).code}`;
        }
        expect(got).toBe(want);
      }),
    );
  });

  it('encodeDestRequest refuses out-of-range values as the codec does', () => {
    const serviceAttr = encodeAttrs(CMD_SCHEMA, { service: { af: 2, fwmark: 1 } });
    expect(() => encodeDestRequest(K.IPVS_CMD_NEW_DEST, serviceAttr, { weight: -1 })).toThrow(RangeError);
    expect(() => encodeDestRequest(K.IPVS_CMD_NEW_DEST, serviceAttr, { port: 70000 })).toThrow(RangeError);
    expect(() => encodeDestRequest(K.IPVS_CMD_NEW_DEST, serviceAttr, { addr: new Uint8Array(17) })).toThrow(RangeError);
  });
});

describe('apply() with a known table', () => {
  it('writes one changed weight as one request in one datagram, reads nothing, and hands on the new table', async () => {
    const k = new FakeKernel();
    const c = await IpvsClient.open({ socket: k });
    const desired: TableService[] = [
      { ...web, destinations: dests(20) },
      { ...web, port: 443, destinations: dests(20) },
    ];
    const first = await apply(desired, { client: c });
    expect(first.table).toBeDefined();
    const changed = structuredClone(desired);
    (changed[1]!.destinations![7] as { weight: number }).weight = 9;
    const before = { ...c.stats };
    const reqs = k.requests.length;
    const r = await apply(changed, { client: c, known: first.table! });
    expect(r.writes).toBe(1);
    expect(c.stats.sendmsgs - before.sendmsgs).toBe(1);
    expect(c.stats.requests - before.requests).toBe(1);
    const sent = k.requests.slice(reqs);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.payload[0]).toBe(K.IPVS_CMD_SET_DEST);
    expect((await c.listDestinations({ ...web, port: 443 })).find((d) => d.address === '10.1.0.7')?.weight).toBe(9);
    // The handed-on table is the kernel's: planning against it or against a fresh read gives nothing to do.
    expect(plan(changed, r.table!).ops).toEqual([]);
    expect(plan(changed, await c.readTable()).ops).toEqual([]);
  });

  it('with verify, reads back only the touched service (3 requests); with changed, plans only the named service', async () => {
    const k = new FakeKernel();
    const c = await IpvsClient.open({ socket: k });
    const desired: TableService[] = [
      { ...web, destinations: dests(20) },
      { ...web, port: 443, destinations: dests(20) },
      { ...web, port: 8080, destinations: dests(5) },
    ];
    const first = await apply(desired, { client: c });
    expect(Object.isFrozen(first.table)).toBe(true);
    const changed = structuredClone(desired);
    (changed[1]!.destinations![3] as { weight: number }).weight = 7;
    let before = c.stats.requests;
    const r = await apply(changed, { client: c, known: first.table!, verify: true });
    expect(c.stats.requests - before).toBe(3); // the write, GET_SERVICE, the destination dump of that service
    expect(r.remaining).toEqual([]);
    expect(plan(changed, await c.readTable()).ops).toEqual([]);
    // Named: only service 8080 is looked at, so a change elsewhere that isn't named is not seen (the caller vouched).
    (changed[2]!.destinations![0] as { weight: number }).weight = 3;
    (changed[0]!.destinations![0] as { weight: number }).weight = 4;
    before = c.stats.requests;
    const named = await apply(changed, { client: c, known: r.table!, changed: ['tcp/192.0.2.1:8080'] });
    expect(c.stats.requests - before).toBe(1);
    expect(named.plan.ops.map((o) => o.key)).toEqual(['tcp/192.0.2.1:8080']);
    // Without the hint the next apply finds the other one.
    const rest = await apply(changed, { client: c, known: named.table! });
    expect(rest.plan.ops.map((o) => o.key)).toEqual(['tcp/192.0.2.1:80']);
    expect(plan(changed, await c.readTable()).ops).toEqual([]);
  });

  it('falls back to reading the kernel when an operation fails against a stale known table', async () => {
    const k = new FakeKernel();
    const c = await IpvsClient.open({ socket: k });
    const desired: TableService[] = [{ ...web, destinations: dests(3) }];
    const first = await apply(desired, { client: c });
    // Someone deletes a destination by hand; the known table doesn't know.
    await c.deleteDestination(web, { address: '10.1.0.1' });
    const changed = structuredClone(desired);
    (changed[0]!.destinations![1] as { weight: number }).weight = 4;
    const r = await apply(changed, { client: c, known: first.table! });
    expect(r.attempts).toBe(2);
    expect(r.failures).toEqual([]);
    expect(plan(changed, await c.readTable()).ops).toEqual([]);
  });
});
