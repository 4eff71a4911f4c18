/**
 * planIncremental (the path apply({ known }) takes): against an indexed actual table it skips
 * the services whose desired settings and destinations equal the index's, and must give exactly
 * what plan(desired, actual) gives. Property tests over random tables, random edits of a table
 * the kernel already holds, ownership and drain options; plus the copy-on-write index.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isLvskitError } from '../../../src/util/errors.js';
import { serviceKey, type Destination } from '../../../src/ipvs/model.js';
import {
  applyOpsToIndex,
  applyOpsToTable,
  drainKey,
  indexTable,
  plan,
  planIncremental,
  tableOfIndex,
  type DrainEntry,
  type PlanOptions,
  type TableService,
} from '../../../src/ipvs/plan.js';
import { tableArb } from './arbitraries.js';

type Edit = { kind: string; svc: number; dest: number; n: number };
const editArb: fc.Arbitrary<Edit> = fc.record({
  kind: fc.constantFrom('weight', 'drop-dest', 'reverse', 'scheduler', 'drop-svc', 'dup-dest', 'non-canonical', 'port', 'threshold', 'family', 'swap-svc', 'add-from'),
  svc: fc.nat(9),
  dest: fc.nat(9),
  n: fc.integer({ min: 0, max: 20 }),
});

/** Edit a copy of `t` in place the ways callers do (some edits leave it equal, some make it invalid). */
function edited(t: readonly TableService[], edits: readonly Edit[], extra: readonly TableService[]): TableService[] {
  const out = structuredClone(t) as TableService[];
  for (const e of edits) {
    if (e.kind === 'add-from') {
      const s = extra[e.svc % Math.max(1, extra.length)];
      if (s !== undefined && !out.some((x) => serviceKey(x) === serviceKey(s))) out.push(structuredClone(s));
      continue;
    }
    if (out.length === 0) continue;
    const i = e.svc % out.length;
    const s = out[i] as TableService;
    const ds = s.destinations ?? [];
    const d = ds[e.dest % Math.max(1, ds.length)] as (Destination & Record<string, unknown>) | undefined;
    switch (e.kind) {
      case 'weight':
        if (d) d.weight = e.n;
        break;
      case 'drop-dest':
        if (d) ds.splice(ds.indexOf(d), 1);
        break;
      case 'reverse':
        ds.reverse();
        break;
      case 'scheduler':
        s.scheduler = e.n % 2 === 0 ? 'rr' : 'wlc';
        break;
      case 'drop-svc':
        out.splice(i, 1);
        break;
      case 'dup-dest':
        if (d) ds.push({ ...d });
        break;
      case 'non-canonical':
        // Same address, other spelling: plan() sees no change; the fast compare must not be fooled either way.
        if (d) d.address = d.address.includes(':') ? `[${d.address}]` : ` ${d.address}`;
        break;
      case 'port':
        if (d) d.port = e.n === 0 ? undefined : 8000 + e.n;
        break;
      case 'threshold':
        if (d) d.lowerThreshold = e.n;
        break;
      case 'family':
        if (d) d.family = e.n % 2 === 0 ? 'ipv4' : 'ipv6';
        break;
      case 'swap-svc':
        if (out.length > 1) out.push(...out.splice(i, 1));
        break;
    }
  }
  return out;
}

const optionsArb = (keys: string[], destKeys: string[]): fc.Arbitrary<PlanOptions> =>
  fc.record({
    owned: fc.oneof(fc.constant(undefined), fc.subarray(keys), fc.constant('fn' as const)),
    ownAll: fc.boolean(),
    drain: fc.oneof(fc.constant(undefined), fc.record({ graceMs: fc.constantFrom(0, 1000), untilIdle: fc.boolean() })),
    drainState: fc.subarray(destKeys),
    now: fc.constantFrom(0, 500, 5000),
  }).map(({ owned, ownAll, drain, drainState, now }) => {
    const o: PlanOptions = { ownAll, now };
    if (owned === 'fn') o.owned = (key: string, s: TableService) => key.startsWith('udp/') || s.scheduler === 'mh';
    else if (owned !== undefined) o.owned = owned;
    if (drain !== undefined) o.drain = drain;
    o.drainState = new Map<string, DrainEntry>(drainState.map((k) => [k, { since: 0 }]));
    return o;
  });

function keysOf(t: readonly TableService[]): { keys: string[]; destKeys: string[] } {
  const keys = t.map((s) => serviceKey(s));
  const destKeys = [...indexTable(t).values()].flatMap((e) => [...e.dests.keys()].map((dk) => drainKey(e.key, dk)));
  return { keys, destKeys };
}

/** plan() and planIncremental() on the same input: the same plan, or both a typed error. */
function same(desired: TableService[], actual: readonly TableService[], options: PlanOptions): void {
  let full;
  let fullErr: unknown;
  try {
    full = plan(desired, actual, options);
  } catch (e) {
    fullErr = e;
  }
  const have = indexTable(actual);
  if (fullErr !== undefined) {
    expect(isLvskitError(fullErr)).toBe(true);
    let incErr: unknown;
    try {
      planIncremental(desired, have, options);
    } catch (e) {
      incErr = e;
    }
    expect(isLvskitError(incErr), String(incErr)).toBe(true);
    return;
  }
  const { touched, ...inc } = planIncremental(desired, have, options);
  expect(inc).toEqual(full);
  expect(touched.sort()).toEqual([...new Set(full!.ops.map((o) => o.key))].sort());
}

describe('planIncremental equals plan', () => {
  it('for any desired and actual table, with any ownership and drain options', () => {
    fc.assert(
      fc.property(tableArb, tableArb, fc.nat(), (desired, actual, seed) => {
        const { keys, destKeys } = keysOf(actual);
        const options = fc.sample(optionsArb(keys, destKeys), { seed, numRuns: 1 })[0] as PlanOptions;
        same(desired, actual, options);
      }),
      { numRuns: 300 },
    );
  });

  it('for edits of a table the kernel already holds (so most services are unchanged and skipped)', () => {
    fc.assert(
      fc.property(tableArb, tableArb, fc.array(editArb, { maxLength: 5 }), tableArb, fc.nat(), (start, desired0, edits, extra, seed) => {
        // The kernel as a first apply left it: desired0 for every owned service, plus foreign ones.
        const kernel = applyOpsToTable(start, plan(desired0, start).ops);
        const desired = edited(desired0, edits, extra);
        const { keys, destKeys } = keysOf(kernel);
        const options = fc.sample(optionsArb(keys, destKeys), { seed, numRuns: 1 })[0] as PlanOptions;
        same(desired, kernel, options);
      }),
      { numRuns: 400 },
    );
  });

  it('with `changed` naming every service that differs (and any others), the same plan without reading the rest', () => {
    fc.assert(
      fc.property(tableArb, tableArb, fc.array(editArb, { maxLength: 5 }), tableArb, fc.nat(), fc.array(fc.boolean(), { maxLength: 6 }), (start, desired0, edits, extra, seed, more) => {
        const kernel = applyOpsToTable(start, plan(desired0, start).ops);
        const desired = edited(desired0, edits, extra);
        const { keys, destKeys } = keysOf(kernel);
        const options = fc.sample(optionsArb(keys, destKeys), { seed, numRuns: 1 })[0] as PlanOptions;
        let full;
        try {
          full = plan(desired, kernel, options);
        } catch {
          return;
        }
        // What differs: every service with an operation or drift; plus some that don't.
        const changed = new Set([...full.ops.map((o) => o.key), ...full.drift.map((d) => d.key)]);
        keys.forEach((k, i) => more[i] === true && changed.add(k));
        const { touched, ...inc } = planIncremental(desired, indexTable(kernel), { ...options, changed });
        expect(inc).toEqual(full);
        expect(touched.every((k) => changed.has(k))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('an index carried along by applyOpsToIndex stays the kernel table applyOpsToTable gives', () => {
    fc.assert(
      fc.property(tableArb, tableArb, fc.array(fc.array(editArb, { maxLength: 3 }), { maxLength: 4 }), tableArb, (start, desired0, rounds, extra) => {
        let table: readonly TableService[] = start;
        let idx = indexTable(start);
        let desired = desired0;
        for (const edits of [[], ...rounds]) {
          desired = edited(desired, edits, extra);
          let p;
          try {
            p = plan(desired, table);
          } catch {
            desired = structuredClone(desired0);
            continue;
          }
          const { touched, ...inc } = planIncremental(desired, idx, {});
          expect(inc).toEqual(p);
          const before = idx;
          idx = applyOpsToIndex(idx, p.ops);
          table = applyOpsToTable(table, p.ops);
          // Untouched services keep their entries (shared, not copied); the index is the table.
          for (const [key, e] of idx) if (!touched.includes(key)) expect(e).toBe(before.get(key));
          // The same services in the same order, the same settings (untouched ones keep the objects they came as).
          expect([...idx.keys()]).toEqual(table.map((s) => serviceKey(s)));
          expect(plan(tableOfIndex(idx), table, { ownAll: true }).ops).toEqual([]);
          expect(plan(table, tableOfIndex(idx), { ownAll: true }).ops).toEqual([]);
          expect(plan(desired, tableOfIndex(idx)).ops).toEqual([]);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('planIncremental on a large known table', () => {
  const big = (n: number, m: number): TableService[] =>
    Array.from({ length: n }, (_, i) => ({
      protocol: 'tcp' as const,
      address: `10.200.${i >> 8}.${i & 255}`,
      port: 80,
      scheduler: 'wrr',
      destinations: Array.from({ length: m }, (_, j) => ({ address: `172.16.${j}.${(i % 250) + 1}`, weight: 1 + (j % 3) })),
    }));

  it('one changed weight in 200 x 50 touches one service and plans one edit, as plan() does', () => {
    const desired = big(200, 50);
    const idx = applyOpsToIndex(indexTable([]), plan(desired, []).ops);
    const changed = structuredClone(desired);
    (changed[117]!.destinations![7] as Destination).weight = 9;
    const p = planIncremental(changed, idx);
    expect(p.touched).toEqual(['tcp/10.200.0.117:80']);
    expect(p.ops.map((o) => [o.kind, o.key, 'destKey' in o ? o.destKey : '', o.kind === 'edit-destination' ? o.destination.weight : -1])).toEqual([
      ['edit-destination', 'tcp/10.200.0.117:80', '172.16.7.118:80', 9],
    ]);
    const { touched, ...rest } = p;
    expect(touched).toHaveLength(1);
    expect(rest).toEqual(plan(changed, tableOfIndex(idx)));
    // Unchanged services are compared, not normalized: the fast compare reads `tunnel` once.
    let reads = 0;
    const watched = changed.map((svc) => ({
      ...svc,
      destinations: svc.destinations!.map((d) => new Proxy(d, { get: (t, k) => (k === 'tunnel' && reads++, Reflect.get(t, k)) })),
    }));
    expect(planIncremental(watched, idx).ops).toHaveLength(1);
    // 199 unchanged services once per destination; the changed one: the in-order compare stops at
    // destination 7 (8 reads), the reversed one at the first (1), the by-key one at 7 (8), then it is
    // normalized (1 x 50: normalizeDestinationFast reads it once; the full normalizer, 4 times).
    expect(reads).toBe(199 * 50 + 8 + 1 + 8 + 1 * 50);
    // With `changed`, the others' destinations are not read at all.
    reads = 0;
    expect(planIncremental(watched, idx, { changed: ['tcp/10.200.0.117:80'] }).ops).toHaveLength(1);
    expect(reads).toBe(8 + 1 + 8 + 1 * 50);
    // The kernel's own order (a read-back lists destinations newest first) is matched by key.
    const reversed = indexTable(tableOfIndex(idx).map((s) => ({ ...s, destinations: [...(s.destinations ?? [])].reverse() })));
    expect(planIncremental(changed, reversed).touched).toEqual(['tcp/10.200.0.117:80']);
  });
  it('services absent from the actual table (a load from empty) take the fast add path: the same plan, the same errors', () => {
    const desired = big(100, 20);
    const { touched, ...fromEmpty } = planIncremental(desired, indexTable([]));
    expect(fromEmpty).toEqual(plan(desired, []));
    expect(fromEmpty.ops).toHaveLength(100 + 100 * 20);
    expect(touched).toHaveLength(100);
    // Half already in the kernel (one with a changed weight), half absent: still plan()'s result.
    const half = applyOpsToTable([], plan(desired.slice(0, 50), []).ops);
    (half[3]!.destinations![2] as Destination).weight = 7;
    const { touched: t2, ...mixed } = planIncremental(desired, indexTable(half));
    expect(mixed).toEqual(plan(desired, half));
    expect(t2).toHaveLength(51);
    // Bad input in an absent service fails as the general path does (same code and message).
    const message = (f: () => unknown): string => {
      try {
        f();
      } catch (e) {
        expect(isLvskitError(e)).toBe(true);
        return `${(e as { code: string }).code} ${(e as Error).message}`;
      }
      throw new Error('no error');
    };
    const dup = structuredClone(desired);
    dup[60]!.destinations!.push({ ...dup[60]!.destinations![4]! });
    expect(message(() => planIncremental(dup, indexTable(half)))).toBe(message(() => plan(dup, half)));
    expect(message(() => planIncremental(dup, indexTable(half)))).toMatch(/ERR_IPVS_INVALID_CONFIG .*twice/);
    const bad = structuredClone(desired);
    (bad[70]!.destinations![1] as Destination).weight = -1;
    expect(message(() => planIncremental(bad, indexTable([])))).toBe(message(() => plan(bad, [])));
  });
});
