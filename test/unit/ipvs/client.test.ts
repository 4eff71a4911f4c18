import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { isLvskitError } from '../../../src/util/errors.js';
import * as K from '../../../src/ipvs/constants.js';
import { IpvsClient } from '../../../src/ipvs/client.js';
import { IpvsError } from '../../../src/ipvs/errors.js';
import { apply, applyOrThrow } from '../../../src/ipvs/apply.js';
import { plan, type TableService } from '../../../src/ipvs/plan.js';
import { NLMSG_DONE, NLM_F_MULTI, decodeNlmsgs, encodeNlmsg } from '../../../src/ipvs/wire-netlink.js';
import { decodeIpvsMessage } from '../../../src/ipvs/wire.js';
import { FakeKernel } from './fake-kernel.js';

const web = { protocol: 'tcp' as const, address: '192.0.2.1', port: 80, scheduler: 'wrr' };

async function open(k = new FakeKernel()): Promise<{ k: FakeKernel; c: IpvsClient }> {
  const c = await IpvsClient.open({ socket: k });
  return { k, c };
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (e) {
    return isLvskitError(e) ? e.code : `not lvskit: ${String(e)}`;
  }
  return undefined;
}

describe('IpvsClient over a fake kernel', () => {
  it('resolves the family id through the controller', async () => {
    const { k, c } = await open();
    expect(c.family).toMatchObject({ id: 0x1c, name: 'IPVS', version: 1 });
    expect(k.requests[0]?.type).toBe(0x10); // GENL_ID_CTRL
  });

  it('ERR_IPVS_MODULE_MISSING when the family is not registered, and closes the socket', async () => {
    const k = new FakeKernel();
    k.ipvsLoaded = false;
    expect(await codeOf(IpvsClient.open({ socket: k }))).toBe('ERR_IPVS_MODULE_MISSING');
    expect(k.closed).toBe(true);
  });

  it('service and destination CRUD, with the kernel\'s errors typed', async () => {
    const { c } = await open();
    await c.addService(web);
    expect(await codeOf(c.addService(web))).toBe('ERR_IPVS_EXISTS');
    await c.addDestination(web, { address: '10.0.0.2', weight: 0 });
    expect(await codeOf(c.addDestination(web, { address: '10.0.0.2' }))).toBe('ERR_IPVS_EXISTS');
    expect(await codeOf(c.editDestination(web, { address: '10.0.0.9' }))).toBe('ERR_IPVS_NO_DESTINATION');
    expect(await codeOf(c.deleteDestination(web, { address: '10.0.0.9' }))).toBe('ERR_IPVS_NO_DESTINATION');
    expect(await codeOf(c.deleteService({ ...web, port: 81 }))).toBe('ERR_IPVS_NO_SERVICE');
    expect(await codeOf(c.getService({ ...web, port: 81 }))).toBe('ERR_IPVS_NO_SERVICE');
    expect(await codeOf(c.addService({ ...web, port: 82, scheduler: 'nosuch' }))).toBe('ERR_IPVS_UNKNOWN_SCHEDULER');
    expect((await c.getService(web)).scheduler).toBe('wrr');
    const dests = await c.listDestinations(web);
    expect(dests).toHaveLength(1);
    expect(dests[0]).toMatchObject({ address: '10.0.0.2', port: 80, forwarding: 'route', weight: 0 });
    expect(await c.listDestinations({ ...web, port: 81 })).toEqual([]);
    await c.editService({ ...web, scheduler: 'rr' });
    expect((await c.listServices())[0]?.scheduler).toBe('rr');
    await c.deleteDestination(web, { address: '10.0.0.2' });
    await c.deleteService(web);
    expect(await c.listServices()).toEqual([]);
  });

  it('deletes an IPv4 destination of an IPv6 service (tunnelled) by its identity alone', async () => {
    const { c } = await open();
    const v6 = { protocol: 'tcp' as const, address: '2001:db8::1', port: 80, scheduler: 'rr' };
    await c.addService(v6);
    await c.addDestination(v6, { address: '10.0.0.2', forwarding: 'tunnel' });
    expect((await c.listDestinations(v6))[0]).toMatchObject({ address: '10.0.0.2', family: 'ipv4', forwarding: 'tunnel' });
    await c.deleteDestination(v6, { address: '10.0.0.2' });
    expect(await c.listDestinations(v6)).toEqual([]);
  });

  it('the error carries errno, command and meaning', async () => {
    const { c } = await open();
    await c.addService(web);
    try {
      await c.addService(web);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(IpvsError);
      const err = e as IpvsError;
      expect(err.errno).toBe(17);
      expect(err.cmd).toBe(K.IPVS_CMD_NEW_SERVICE);
      expect(err.message).toMatch(/IPVS_CMD_NEW_SERVICE: already exists \(service tcp\/192\.0\.2\.1:80\)/);
      expect(err.recoverable).toBe(false);
    }
  });

  it('EPERM is ERR_IPVS_NOT_PERMITTED', async () => {
    const { k, c } = await open();
    k.permitted = false;
    expect(await codeOf(c.listServices())).toBe('ERR_IPVS_NOT_PERMITTED');
    expect(await codeOf(c.addService(web))).toBe('ERR_IPVS_NOT_PERMITTED');
  });

  it('dumps of any size arrive whole, split over many datagrams', async () => {
    const { k, c } = await open();
    k.dumpBatch = 7;
    const desired: TableService[] = Array.from({ length: 1000 }, (_, i) => ({ protocol: 'udp', address: `10.${i >> 8}.${i & 255}.1`, port: 53, scheduler: 'rr' }));
    const r = await c.applyOps(plan(desired, []).ops);
    expect(r).toEqual({ applied: 1000, failures: [] });
    // 1000 requests went out in ceil(1000/128) sendmsg calls.
    expect(k.datagrams.length - 1).toBe(8);
    const services = await c.listServices();
    expect(services).toHaveLength(1000);
    expect(new Set(services.map((s) => ('address' in s ? s.address : ''))).size).toBe(1000);
  });

  it('replies are matched per request: two dumps and do-requests in flight at once', async () => {
    const { k, c } = await open();
    k.dumpBatch = 2;
    await c.applyOps(plan([{ ...web, destinations: Array.from({ length: 40 }, (_, i) => ({ address: `10.0.1.${i + 1}` })) }, { ...web, port: 443, destinations: [{ address: '10.0.2.1' }] }], []).ops);
    const [a, b, info, t, d443] = await Promise.all([c.listDestinations(web), c.listServices(), c.info(), c.getTimeouts(), c.listDestinations({ ...web, port: 443 })]);
    expect(a).toHaveLength(40);
    expect(b).toHaveLength(2);
    expect(info).toEqual({ version: '1.2.1', versionCode: 0x010201, connTabSize: 4096 });
    expect(t).toEqual({ tcp: 900, tcpFin: 120, udp: 300 });
    expect(d443.map((d) => d.address)).toEqual(['10.0.2.1']);
    // Dumps went out one at a time (the kernel answers EBUSY to a second dump on one socket).
    const dumpSeqs = k.requests.filter((m) => (m.flags & 0x300) === 0x300).map((m) => m.seq);
    expect(dumpSeqs).toHaveLength(3);
  });

  it('a batch reports each failed operation by index; the others are applied', async () => {
    const { c } = await open();
    await c.addService(web);
    const p = plan([{ ...web, destinations: [{ address: '10.0.0.2' }] }, { ...web, port: 8080, destinations: [{ address: '10.0.0.3' }] }], []);
    const r = await c.applyOps(p.ops);
    expect(r.applied).toBe(p.ops.length - 1);
    expect(r.failures.map((f) => [f.index, f.error.code])).toEqual([[0, 'ERR_IPVS_EXISTS']]);
    expect(await c.listDestinations({ ...web, port: 8080 })).toHaveLength(1);
    await expect(c.applyOpsOrThrow(p.ops)).rejects.toMatchObject({ code: 'ERR_IPVS_BATCH' });
  });

  it('ENOBUFS fails the requests in flight with a recoverable error; the client keeps working', async () => {
    const { k, c } = await open();
    k.overflowNext = true;
    const r = await c.applyOps(plan([{ ...web, destinations: [{ address: '10.0.0.2' }, { address: '10.0.0.3' }] }], []).ops);
    expect(r.failures).toHaveLength(3);
    expect(r.failures.every((f) => f.error.code === 'ERR_IPVS_NO_BUFFERS' && f.error.recoverable)).toBe(true);
    // The kernel did apply them (only the acks were lost); re-reading shows it.
    expect(await c.listDestinations(web)).toHaveLength(2);
  });

  it('apply() re-reads and re-plans after lost acks', async () => {
    const { k, c } = await open();
    const desired: TableService[] = [{ ...web, destinations: [{ address: '10.0.0.2' }] }];
    k.overflowIn = 1; // the service dump goes through; the batch's acks are lost
    const r = await apply(desired, { client: c });
    expect(r.attempts).toBe(2);
    expect(r.failures).toEqual([]);
    expect(r.remaining).toEqual([]);
    expect(r.writes).toBe(2); // the first round's 2 ops; the second round found nothing to do
  });

  it('apply() reads back only when asked (verify: true) or when an operation failed', async () => {
    const { k, c } = await open();
    const desired: TableService[] = [{ ...web, destinations: [{ address: '10.0.0.2' }] }];
    // Default, every op acked: the read before planning (1 service dump, no services yet), then the writes.
    let s0 = c.stats.requests;
    const r = await apply(desired, { client: c });
    expect(r.writes).toBe(2);
    expect(c.stats.requests - s0).toBe(1 + 2);
    expect(r.table?.[0]?.destinations?.map((d) => d.address)).toEqual(['10.0.0.2']);
    // verify: true: the same plus a read-back (service dump + one destination dump).
    await c.flush();
    s0 = c.stats.requests;
    const v = await apply(desired, { client: c, verify: true });
    expect(c.stats.requests - s0).toBe(1 + 2 + 2);
    expect(v.remaining).toEqual([]);
    // A failed operation: read back by default, so `remaining` says what still differs.
    k.refuse.set(K.IPVS_CMD_NEW_DEST, 22); // EINVAL: not retryable
    const f = await apply([{ ...web, destinations: [{ address: '10.0.0.2' }, { address: '10.0.0.3' }] }], { client: c });
    expect(f.failures).toHaveLength(1);
    expect(f.remaining).toEqual([{ kind: 'destination-missing', key: 'tcp/192.0.2.1:80', destKey: '10.0.0.3:80' }]);
    // verify: false: never.
    const n = await apply([{ ...web, destinations: [{ address: '10.0.0.2' }, { address: '10.0.0.3' }] }], { client: c, verify: false });
    expect(n.failures).toHaveLength(1);
    expect(n.remaining).toEqual([]);
    k.refuse.clear();
  });

  it('apply() retries a read whose replies were lost', async () => {
    const { k, c } = await open();
    k.overflowNext = true;
    const r = await apply([{ ...web, destinations: [{ address: '10.0.0.2' }] }], { client: c });
    expect(r.attempts).toBe(1);
    expect(r.writes).toBe(2);
    expect(r.remaining).toEqual([]);
  });

  it('apply(): same desired table again makes zero writes; drift is repaired', async () => {
    const { k, c } = await open();
    const desired: TableService[] = [{ ...web, destinations: [{ address: '10.0.0.2', weight: 3 }, { address: '10.0.0.3' }] }];
    const first = await apply(desired, { client: c });
    expect(first.writes).toBe(3);
    expect(first.commands).toBe('-A -t 192.0.2.1:80 -s wrr\n-a -t 192.0.2.1:80 -r 10.0.0.2:80 -g -w 3\n-a -t 192.0.2.1:80 -r 10.0.0.3:80 -g -w 1\n');
    const before = k.requests.length;
    const again = await apply(desired, { client: c });
    expect(again.writes).toBe(0);
    const writesSent = k.requests.slice(before).filter((m) => m.type === k.familyId && ![K.IPVS_CMD_GET_SERVICE, K.IPVS_CMD_GET_DEST].includes(decodeIpvsMessage(m.payload).cmd));
    expect(writesSent).toEqual([]);
    await c.deleteDestination(web, { address: '10.0.0.3' }); // "someone ran ipvsadm -d"
    const repair = await apply(desired, { client: c });
    expect(repair.plan.drift).toEqual([{ kind: 'destination-missing', key: 'tcp/192.0.2.1:80', destKey: '10.0.0.3:80' }]);
    expect(repair.writes).toBe(1);
    const dry = await apply([{ ...web, scheduler: 'lc', destinations: desired[0]!.destinations! }], { client: c, dryRun: true });
    expect(dry.commands).toBe('-E -t 192.0.2.1:80 -s lc\n');
    expect((await c.getService(web)).scheduler).toBe('wrr'); // dry run wrote nothing
  });

  it('apply(): an owned service that could not be deleted stays owned for the next apply', async () => {
    const { k, c } = await open();
    const other = { ...web, port: 8080 };
    const first = await apply([web, other], { client: c });
    expect(first.owned.sort()).toEqual(['tcp/192.0.2.1:80', 'tcp/192.0.2.1:8080']);
    k.refuse.set(K.IPVS_CMD_DEL_SERVICE, 16); // EBUSY
    const r = await apply([web], { client: c, owned: first.owned });
    expect(r.failures.map((f) => f.error.code)).toEqual(['ERR_IPVS_BUSY']);
    expect(r.remaining).toEqual([{ kind: 'service-unexpected', key: 'tcp/192.0.2.1:8080' }]);
    expect(r.owned.sort()).toEqual(['tcp/192.0.2.1:80', 'tcp/192.0.2.1:8080']);
    k.refuse.clear();
    const again = await apply([web], { client: c, owned: r.owned });
    expect(again.plan.ops.map((o) => o.kind)).toEqual(['delete-service']);
    expect(again.owned).toEqual(['tcp/192.0.2.1:80']);
  });

  it('applyOrThrow throws an IpvsBatchError for failures that re-planning cannot fix', async () => {
    const { c } = await open();
    await expect(applyOrThrow([{ ...web, scheduler: 'nosuch' }], { client: c })).rejects.toMatchObject({ code: 'ERR_IPVS_BATCH' });
  });

  it('timeouts, zero, flush and the sync daemon', async () => {
    const { c } = await open();
    await c.setTimeouts({ udp: 30 });
    expect(await c.getTimeouts()).toEqual({ tcp: 900, tcpFin: 120, udp: 30 });
    await c.addService(web);
    await c.zero();
    await c.zero(web);
    expect(await codeOf(c.zero({ ...web, port: 1 }))).toBe('ERR_IPVS_NO_SERVICE');
    await c.flush();
    expect(await c.listServices()).toEqual([]);
    await c.startDaemon({ state: 'backup', interface: 'eth0', syncId: 9, group: 'ff02::81', port: 8848, ttl: 2 });
    expect(await codeOf(c.startDaemon({ state: 'backup', interface: 'eth0' }))).toBe('ERR_IPVS_EXISTS');
    expect(await c.listDaemons()).toEqual([{ state: 'backup', interface: 'eth0', syncId: 9, group: 'ff02::81', port: 8848, ttl: 2 }]);
    await c.stopDaemon('backup');
    expect(await c.listDaemons()).toEqual([]);
  });

  it('an abort rejects at once; an aborted dump is drained so the next one works', async () => {
    const { k, c } = await open();
    k.dumpBatch = 1;
    await c.applyOps(plan([{ ...web, destinations: Array.from({ length: 20 }, (_, i) => ({ address: `10.0.3.${i + 1}` })) }], []).ops);
    const ac = new AbortController();
    const p = c.listDestinations(web, { signal: ac.signal });
    ac.abort();
    expect(await codeOf(p)).toBe('ERR_ABORTED');
    expect(await c.listDestinations(web)).toHaveLength(20);
    expect(await codeOf(c.info({ signal: AbortSignal.abort() }))).toBe('ERR_ABORTED');
  });

  it('stale replies (an unknown seq) are dropped; close() fails what is in flight', async () => {
    const { k, c } = await open();
    k.inject(encodeNlmsg({ type: NLMSG_DONE, flags: NLM_F_MULTI, seq: 12345, port: 4242 }, new Uint8Array(4)));
    expect((await c.info()).version).toBe('1.2.1');
    const p = c.listServices();
    c.close();
    expect(await codeOf(p)).toBe('ERR_IPVS_CLOSED');
    expect(await codeOf(c.info())).toBe('ERR_IPVS_CLOSED');
  });

  it('listing without counters (stats: false), as apply() reads', async () => {
    const { k, c } = await open();
    await c.applyOpsOrThrow(plan([{ ...web, destinations: [{ address: '10.0.0.2' }] }], []).ops);
    k.services.forEach((s) => {
      s.w.stats64 = { conns: 7n };
      s.dests.forEach((d) => (d.stats64 = { conns: 3n }));
    });
    expect((await c.listServices())[0]?.stats?.conns).toBe(7n);
    expect((await c.listServices({ stats: false }))[0]?.stats).toBeUndefined();
    const t = await c.readTable({ stats: false });
    expect(t[0]?.stats).toBeUndefined();
    expect(t[0]?.destinations?.[0]).toMatchObject({ address: '10.0.0.2', activeConns: 0 });
    expect(t[0]?.destinations?.[0]?.stats).toBeUndefined();
    expect((await c.readTable())[0]?.destinations?.[0]?.stats?.conns).toBe(3n);
  });

  it('readTable dumps destinations over several sockets at once', async () => {
    const k = new FakeKernel();
    const extra: FakeKernel[] = [];
    const c = await IpvsClient.open({
      socket: k,
      dumpSockets: 3,
      openSocket: async () => {
        const x = new FakeKernel();
        x.services = k.services; // the same kernel table behind every socket
        extra.push(x);
        return x;
      },
    });
    const desired: TableService[] = Array.from({ length: 12 }, (_, i) => ({ ...web, port: 1000 + i, destinations: Array.from({ length: i }, (_, j) => ({ address: `10.0.${i}.${j + 1}` })) }));
    await c.applyOpsOrThrow(plan(desired, []).ops);
    const t = await c.readTable();
    expect(plan(desired, t, { ownAll: true }).ops).toEqual([]);
    expect(extra).toHaveLength(2);
    const destDumps = (x: FakeKernel) => x.requests.filter((m) => m.type === x.familyId && decodeIpvsMessage(m.payload).cmd === K.IPVS_CMD_GET_DEST).length;
    expect(destDumps(k) + destDumps(extra[0]!) + destDumps(extra[1]!)).toBe(12);
    expect(extra.every((x) => destDumps(x) > 0)).toBe(true);
    c.close();
    expect(extra.every((x) => x.closed)).toBe(true);
  });

  it('readTable({ stable }) reads again until two reads agree', async () => {
    const { k, c } = await open();
    await c.applyOps(plan([{ ...web, destinations: [{ address: '10.0.0.2' }] }], []).ops);
    let dumps = 0;
    k.beforeHandle = (m) => {
      if (m.type !== k.familyId || decodeIpvsMessage(m.payload).cmd !== K.IPVS_CMD_GET_SERVICE) return;
      // Someone adds a service just before the first two service dumps.
      if (++dumps <= 2) void c.addService({ ...web, port: 1000 + dumps });
    };
    const t = await c.readTable({ stable: true });
    expect(t).toHaveLength(3);
    expect(dumps).toBe(3); // 2 services, 3 services, 3 services: the last two reads agree
    k.beforeHandle = (m) => {
      if (m.type === k.familyId && decodeIpvsMessage(m.payload).cmd === K.IPVS_CMD_GET_SERVICE) void c.addService({ ...web, port: 2000 + dumps++ });
    };
    expect(await codeOf(c.readTable({ stable: true }))).toBe('ERR_IPVS_BUSY');
  });

  it('a reply that never comes ends in ERR_TIMEOUT; a failed sendmsg and an undecodable datagram are typed', async () => {
    const { k, c } = await open();
    k.silent = true;
    expect(await codeOf(c.info({ timeoutMs: 5 }))).toBe('ERR_TIMEOUT');
    k.silent = false;
    k.failSendErrno = 90; // EMSGSIZE
    expect(await codeOf(c.addService(web))).toBe('ERR_IPVS_KERNEL');
    const p = c.listServices();
    k.inject(new Uint8Array([0xff, 0, 0, 0, 1, 2])); // nlmsg_len 255 in 6 bytes
    expect(await codeOf(p)).toBe('ERR_IPVS_PROTOCOL');
    expect((await c.info()).version).toBe('1.2.1');
  });

  it('a dump that never ends times out, and the dump queue moves on after it', async () => {
    const { k, c } = await open();
    k.silent = true;
    expect(await codeOf(c.listServices({ timeoutMs: 5 }))).toBe('ERR_TIMEOUT');
    k.silent = false;
    // Waits for the abandoned dump to be given up (one more timeout), then runs.
    expect(await c.listServices({ timeoutMs: 1000 })).toEqual([]);
  });

  it('sends what ipvsadm sends: requests carry NLM_F_REQUEST|NLM_F_ACK, dumps NLM_F_DUMP', async () => {
    const { k, c } = await open();
    await c.addService(web);
    await c.listServices();
    const [add, dump] = k.requests.slice(-2);
    expect(add?.flags).toBe(0x05);
    expect(dump?.flags).toBe(0x301);
    expect(decodeIpvsMessage(add!.payload).attrs?.service).toMatchObject({ af: 2, protocol: 6, port: 80, schedName: 'wrr', timeout: 0, flags: { flags: 0, mask: 0xffffffff } });
    expect(decodeNlmsgs(k.datagrams.at(-1)!)).toHaveLength(1);
  });
});

describe('IpvsClient on this host (a real netlink socket)', () => {
  it('reports a genl family that is not registered as ERR_IPVS_MODULE_MISSING', async () => {
    expect(await codeOf(IpvsClient.open({ familyName: 'LVSKIT_NO_SUCH' }))).toBe('ERR_IPVS_MODULE_MISSING');
  });

  it('IPVS itself: module missing exactly when /proc/net/ip_vs is absent', async () => {
    const loaded = existsSync('/proc/net/ip_vs');
    const r = await IpvsClient.open().then(
      (c) => {
        c.close();
        return 'opened';
      },
      (e: unknown) => (isLvskitError(e) ? e.code : String(e)),
    );
    // On a host without ip_vs (this project's build host) the clear error; with it, a client
    // (listing needs CAP_NET_ADMIN, opening doesn't).
    expect(r).toBe(loaded ? 'opened' : 'ERR_IPVS_MODULE_MISSING');
  });
});

describe('apply() over the fake kernel: properties', () => {
  it('any desired table, from any starting table, converges through the wire model; re-apply writes nothing', async () => {
    const { default: fc } = await import('fast-check');
    const { tableArb } = await import('./arbitraries.js');
    await fc.assert(
      fc.asyncProperty(tableArb, tableArb, async (start, desired) => {
        const { c } = await open();
        await c.applyOpsOrThrow(plan(start, []).ops);
        const r = await apply(desired, { client: c, ownAll: true });
        expect(r.failures).toEqual([]);
        expect(r.remaining).toEqual([]);
        // What the kernel holds now reads back as exactly the desired table.
        expect(plan(desired, await c.readTable(), { ownAll: true }).ops).toEqual([]);
        expect((await apply(desired, { client: c, ownAll: true })).writes).toBe(0);
        c.close();
      }),
      { numRuns: 60 },
    );
  });
});
