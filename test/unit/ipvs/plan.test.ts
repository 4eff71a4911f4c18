import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isLvskitError } from '../../../src/util/errors.js';
import { normalizeDestination, sameDestination, sameService, serviceKey } from '../../../src/ipvs/model.js';
import { applyOpsToTable, drainKey, plan, type DrainEntry, type TableService } from '../../../src/ipvs/plan.js';
import { renderOps, renderTable } from '../../../src/ipvs/plan-render.js';
import { tableArb } from './arbitraries.js';

const web: TableService = {
  protocol: 'tcp',
  address: '192.0.2.1',
  port: 80,
  scheduler: 'wrr',
  destinations: [
    { address: '10.0.0.2', weight: 10 },
    { address: '10.0.0.3', weight: 10 },
  ],
};

function kinds(ops: { kind: string }[]): string[] {
  return ops.map((o) => o.kind);
}

describe('plan: scripted cases', () => {
  it('from empty: add the service, then its destinations', () => {
    const p = plan([web], []);
    expect(kinds(p.ops)).toEqual(['add-service', 'add-destination', 'add-destination']);
    expect(p.drift).toEqual([
      { kind: 'service-missing', key: 'tcp/192.0.2.1:80' },
    ]);
    expect(renderOps(p.ops)).toBe(
      '-A -t 192.0.2.1:80 -s wrr\n' + '-a -t 192.0.2.1:80 -r 10.0.0.2:80 -g -w 10\n' + '-a -t 192.0.2.1:80 -r 10.0.0.3:80 -g -w 10\n',
    );
  });

  it('same desired vs same actual: no operations (a restarted director changes nothing)', () => {
    const actual = applyOpsToTable([], plan([web], []).ops);
    const p = plan([web], actual);
    expect(p.ops).toEqual([]);
    expect(p.drift).toEqual([]);
  });

  it('a scheduler or persistence change edits the service in place', () => {
    const actual = applyOpsToTable([], plan([web], []).ops);
    const p = plan([{ ...web, scheduler: 'wlc', persistence: { timeout: 60 } }], actual);
    expect(kinds(p.ops)).toEqual(['edit-service']);
    const op = p.ops[0]!;
    expect(op.kind === 'edit-service' && op.changes).toEqual(['scheduler', 'persistent', 'timeout']);
    expect(renderOps(p.ops)).toBe('-E -t 192.0.2.1:80 -s wlc -p 60\n');
  });

  it('a weight change edits the destination; a removed one is deleted after the new one is added', () => {
    const actual = applyOpsToTable([], plan([web], []).ops);
    const desired = { ...web, destinations: [{ address: '10.0.0.2', weight: 5 }, { address: '10.0.0.4', weight: 10 }] };
    const p = plan([desired], actual);
    expect(renderOps(p.ops)).toBe(
      '-a -t 192.0.2.1:80 -r 10.0.0.4:80 -g -w 10\n' + '-e -t 192.0.2.1:80 -r 10.0.0.2:80 -g -w 5\n' + '-d -t 192.0.2.1:80 -r 10.0.0.3:80\n',
    );
    expect(p.drift).toEqual([
      { kind: 'destination-changed', key: 'tcp/192.0.2.1:80', destKey: '10.0.0.2:80', fields: ['weight'] },
      { kind: 'destination-missing', key: 'tcp/192.0.2.1:80', destKey: '10.0.0.4:80' },
      { kind: 'destination-unexpected', key: 'tcp/192.0.2.1:80', destKey: '10.0.0.3:80' },
    ]);
  });

  it('foreign services are reported and left alone unless owned or ownAll', () => {
    const foreign: TableService = { protocol: 'udp', address: '192.0.2.9', port: 53, scheduler: 'rr', destinations: [{ address: '10.0.0.9' }] };
    const actual = [...applyOpsToTable([], plan([web], []).ops), foreign];
    const p = plan([web], actual);
    expect(p.ops).toEqual([]);
    expect(p.foreign).toEqual(['udp/192.0.2.9:53']);
    const owned = plan([web], actual, { owned: ['udp/192.0.2.9:53'] });
    expect(renderOps(owned.ops)).toBe('-D -u 192.0.2.9:53\n');
    expect(kinds(plan([web], actual, { ownAll: true }).ops)).toEqual(['delete-service']);
    expect(kinds(plan([web], actual, { owned: (key) => key.startsWith('udp/') }).ops)).toEqual(['delete-service']);
  });

  it('a desired service already in the kernel is adopted, not re-created', () => {
    const p = plan([web], [{ ...web, destinations: [] }]);
    expect(p.adopted).toEqual(['tcp/192.0.2.1:80']);
    expect(kinds(p.ops)).toEqual(['add-destination', 'add-destination']);
  });

  it('duplicate keys in the desired table are a clear error', () => {
    try {
      plan([web, { ...web, address: '192.0.2.01'.replace('01', '1') }], []);
      expect.unreachable();
    } catch (e) {
      expect(isLvskitError(e, 'ERR_IPVS_INVALID_CONFIG')).toBe(true);
      expect((e as Error).message).toContain('tcp/192.0.2.1:80 twice');
    }
  });
});

describe('plan: draining', () => {
  const drain = { graceMs: 60_000, untilIdle: true };
  const base = applyOpsToTable([], plan([web], []).ops);
  const leaving = { ...web, destinations: [{ address: '10.0.0.2', weight: 10 }] };
  const withConns = (t: TableService[], active: number, inactive = 0): TableService[] =>
    t.map((s) => ({ ...s, destinations: s.destinations?.map((d) => (d.address === '10.0.0.3' ? { ...d, activeConns: active, inactiveConns: inactive } : d)) }));

  it('weight 0 first, then removal when the grace period is over', () => {
    const p1 = plan([leaving], withConns(base, 5), { drain, now: 1000 });
    expect(renderOps(p1.ops)).toBe('-e -t 192.0.2.1:80 -r 10.0.0.3:80 -g -w 0\n');
    expect(p1.draining).toEqual([{ key: 'tcp/192.0.2.1:80', destKey: '10.0.0.3:80', since: 1000, deadline: 61_000, activeConns: 5, inactiveConns: 0 }]);
    expect(p1.nextCheckAt).toBe(61_000);
    const after1 = withConns(applyOpsToTable(base, p1.ops), 5);

    const p2 = plan([leaving], after1, { drain, now: 30_000, drainState: p1.drainState });
    expect(p2.ops).toEqual([]); // still busy, still in grace
    expect(p2.drift).toEqual([]); // draining is not drift

    const p3 = plan([leaving], after1, { drain, now: 61_000, drainState: p2.drainState });
    expect(renderOps(p3.ops)).toBe('-d -t 192.0.2.1:80 -r 10.0.0.3:80\n');
    expect(p3.drainState.size).toBe(0);
  });

  it('removal as soon as active connections reach 0 (TCP)', () => {
    const p1 = plan([leaving], withConns(base, 2), { drain, now: 0 });
    const after1 = applyOpsToTable(base, p1.ops);
    expect(plan([leaving], withConns(after1, 1, 9), { drain, now: 5, drainState: p1.drainState }).ops).toEqual([]);
    // Inactive (TIME_WAIT) connections don't hold a TCP destination.
    expect(kinds(plan([leaving], withConns(after1, 0, 9), { drain, now: 10, drainState: p1.drainState }).ops)).toEqual(['delete-destination']);
  });

  it('UDP: IPVS counts every UDP connection as inactive, so idle means none at all', () => {
    const udp = { ...web, protocol: 'udp' as const };
    const udpBase = applyOpsToTable([], plan([udp], []).ops);
    const udpLeaving = { ...udp, destinations: [{ address: '10.0.0.2', weight: 10 }] };
    const p1 = plan([udpLeaving], withConns(udpBase, 0, 3), { drain, now: 0 });
    expect(kinds(p1.ops)).toEqual(['edit-destination']);
    const after1 = applyOpsToTable(udpBase, p1.ops);
    expect(plan([udpLeaving], withConns(after1, 0, 3), { drain, now: 1, drainState: p1.drainState }).ops).toEqual([]);
    expect(kinds(plan([udpLeaving], withConns(after1, 0, 0), { drain, now: 2, drainState: p1.drainState }).ops)).toEqual(['delete-destination']);
  });

  it('a destination that comes back during its drain gets its weight back', () => {
    const p1 = plan([leaving], base, { drain, now: 0 });
    const after1 = applyOpsToTable(base, p1.ops);
    const p2 = plan([web], after1, { drain, now: 10, drainState: p1.drainState });
    expect(renderOps(p2.ops)).toBe('-e -t 192.0.2.1:80 -r 10.0.0.3:80 -g -w 10\n');
    expect(p2.drainState.size).toBe(0);
  });

  it('someone restoring the weight of a draining destination is put back to 0', () => {
    const p1 = plan([leaving], base, { drain, now: 0 });
    const p2 = plan([leaving], base, { drain, now: 10, drainState: p1.drainState });
    expect(renderOps(p2.ops)).toBe('-e -t 192.0.2.1:80 -r 10.0.0.3:80 -g -w 0\n');
    expect(p2.drainState.get(drainKey('tcp/192.0.2.1:80', '10.0.0.3:80'))).toEqual({ since: 0 });
  });

  it('a zero grace period deletes at once', () => {
    expect(kinds(plan([leaving], base, { drain: { graceMs: 0 }, now: 0 }).ops)).toEqual(['delete-destination']);
  });
});

// ---------------------------------------------------------------------------
// Properties

function byKey(t: readonly TableService[]): Map<string, TableService> {
  return new Map(t.map((s) => [serviceKey(s), s]));
}

function sameTableService(a: TableService, b: TableService): boolean {
  if (!sameService(a, b)) return false;
  const ad = a.destinations ?? [];
  const bd = b.destinations ?? [];
  if (ad.length !== bd.length) return false;
  const bm = new Map(bd.map((d) => [normalizeDestination(d, b).address + ':' + normalizeDestination(d, b).port, d]));
  return ad.every((d) => {
    const n = normalizeDestination(d, a);
    const other = bm.get(n.address + ':' + n.port);
    return other !== undefined && sameDestination(d, other, a);
  });
}

describe('plan: properties', () => {
  it('applying plan(desired, actual) to actual yields desired for owned services and never touches foreign ones', () => {
    fc.assert(
      fc.property(tableArb, tableArb, (desired, actual) => {
        const p = plan(desired, actual);
        const result = applyOpsToTable(actual, p.ops);
        const r = byKey(result);
        const d = byKey(desired);
        const a = byKey(actual);
        for (const [key, want] of d) expect(sameTableService(r.get(key)!, want)).toBe(true);
        for (const [key, was] of a) {
          if (d.has(key)) continue;
          expect(p.foreign).toContain(key);
          expect(sameTableService(r.get(key)!, was)).toBe(true);
        }
        expect(r.size).toBe(new Set([...d.keys(), ...a.keys()]).size);
        // Converged: nothing left to do.
        expect(plan(desired, result).ops).toEqual([]);
      }),
    );
  });

  it('with ownAll the result is exactly desired', () => {
    fc.assert(
      fc.property(tableArb, tableArb, (desired, actual) => {
        const result = applyOpsToTable(actual, plan(desired, actual, { ownAll: true }).ops);
        expect(result.length).toBe(desired.length);
        const r = byKey(result);
        for (const want of desired) expect(sameTableService(r.get(serviceKey(want))!, want)).toBe(true);
      }),
    );
  });

  it('plan(desired, desired) is empty; ops and drift come together', () => {
    fc.assert(
      fc.property(tableArb, tableArb, (desired, actual) => {
        expect(plan(desired, desired).ops).toEqual([]);
        const p = plan(desired, actual, { ownAll: true });
        expect(p.ops.length === 0).toBe(p.drift.length === 0);
      }),
    );
  });

  it('the order is safe: service adds first, service deletes last, adds before deletes within a service', () => {
    fc.assert(
      fc.property(tableArb, tableArb, (desired, actual) => {
        const ops = plan(desired, actual, { ownAll: true }).ops;
        const rank = { 'add-service': 0, 'edit-service': 1, 'add-destination': 2, 'edit-destination': 3, 'delete-destination': 4, 'delete-service': 5 };
        const ranks = ops.map((o) => rank[o.kind]);
        expect(ranks).toEqual([...ranks].sort((x, y) => x - y));
      }),
    );
  });

  it('with draining, repeated plans after the grace period converge to desired', () => {
    fc.assert(
      fc.property(tableArb, tableArb, (desired, actual) => {
        const drain = { graceMs: 100 };
        let table = actual;
        let state = new Map<string, DrainEntry>();
        for (const now of [0, 50, 100, 150]) {
          const p = plan(desired, table, { drain, now, drainState: state, ownAll: true });
          table = applyOpsToTable(table, p.ops);
          state = p.drainState;
        }
        expect(plan(desired, table, { ownAll: true }).ops).toEqual([]);
      }),
    );
  });

  it('every plan renders to ipvsadm lines, one per op', () => {
    fc.assert(
      fc.property(tableArb, tableArb, (desired, actual) => {
        const ops = plan(desired, actual, { ownAll: true }).ops;
        const text = renderOps(ops);
        expect(text.split('\n').filter(Boolean)).toHaveLength(ops.length);
        for (const line of text.split('\n').filter(Boolean)) expect(line).toMatch(/^-[AEDaed] (-[tu] \S+|-f \d+( -6)?|--sctp-service \S+)/);
        expect(renderTable(desired).split('\n').filter(Boolean).length).toBe(desired.length + desired.reduce((n, s) => n + (s.destinations?.length ?? 0), 0));
      }),
    );
  });
});
