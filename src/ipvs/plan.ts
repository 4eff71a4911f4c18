/**
 * The reconciler's plan, pure: desired table + the kernel's table -> the
 * minimal ordered operations that make the kernel's owned services match, a
 * drift report, and the next drain state. No sockets, no clock: `now` is given.
 *
 * Rules:
 * - Reconcile by key (`serviceKey`, `destinationKey`), compare ignoring stats.
 * - A changed scheduler, flags, persistence or PE edits the service in place
 *   (IPVS_CMD_SET_SERVICE): deleting and re-adding would drop every connection.
 *   A changed weight, forwarding, thresholds or tunnel edits the destination.
 * - Services in the kernel that are neither desired nor owned are foreign:
 *   reported, never touched, unless `ownAll`.
 * - Draining: a destination leaving the desired set first goes to weight 0
 *   (no new connections, existing ones continue), then is deleted when its
 *   grace period is over or, with `untilIdle`, when it has no connections left.
 *   Deleting a UDP destination at once drops its in-flight datagrams' state.
 * - Safe order: new services, service edits, new destinations, destination
 *   edits, destination deletions, service deletions. A service never loses its
 *   last destinations before the replacements are in.
 * - Idempotent: plan(desired, state-after-plan) is empty.
 */
import {
  denormalizeDestination,
  denormalizeService,
  diffDestination,
  diffService,
  normalServiceKey,
  normalizeDestinationFast,
  normalizeService,
  type AddressServiceId,
  type Destination,
  type FwmarkServiceId,
  type NormalDestination,
  type NormalService,
  type Service,
  type ServiceOptions,
} from './model.js';
import { IpvsError } from './errors.js';

/** A service with its destinations, as desired or as read from the kernel. */
export type TableService = Service & { destinations?: Destination[] };

export type Op =
  | { kind: 'add-service'; key: string; service: NormalService }
  | { kind: 'edit-service'; key: string; service: NormalService; previous: NormalService; changes: string[] }
  | { kind: 'delete-service'; key: string; service: NormalService }
  | { kind: 'add-destination'; key: string; destKey: string; service: NormalService; destination: NormalDestination }
  | {
      kind: 'edit-destination';
      key: string;
      destKey: string;
      service: NormalService;
      destination: NormalDestination;
      previous: NormalDestination;
      changes: string[];
      /** `drain`: the weight goes to 0 because the destination is leaving. */
      reason: 'update' | 'drain';
    }
  | { kind: 'delete-destination'; key: string; destKey: string; service: NormalService; destination: NormalDestination };

export type Drift =
  | { kind: 'service-missing'; key: string }
  | { kind: 'service-unexpected'; key: string }
  | { kind: 'service-changed'; key: string; fields: string[] }
  | { kind: 'destination-missing'; key: string; destKey: string }
  | { kind: 'destination-unexpected'; key: string; destKey: string }
  | { kind: 'destination-changed'; key: string; destKey: string; fields: string[] };

/** Drain bookkeeping for one destination, keyed `serviceKey destKey` (see `drainKey`). */
export interface DrainEntry {
  /** When the drain started (the caller's clock, ms). */
  since: number;
}

export interface DrainOptions {
  /** Delete a draining destination this long after its drain started (ms). */
  graceMs: number;
  /**
   * Also delete it as soon as it has no connections: no active ones (TCP,
   * SCTP) or, for UDP services, where IPVS counts every connection as
   * inactive, no connections at all.
   */
  untilIdle?: boolean;
}

export interface PlanOptions {
  /** Keys of kernel services this director owns besides the desired ones (e.g. from its last apply). */
  owned?: Iterable<string> | ((key: string, service: Service) => boolean);
  /** Manage the whole table: every service not desired is deleted. Default false. */
  ownAll?: boolean;
  /** Drain leaving destinations instead of deleting them at once. Default: delete at once. */
  drain?: DrainOptions | false;
  /** The drain state returned by the previous plan. */
  drainState?: ReadonlyMap<string, DrainEntry>;
  /** The caller's clock (ms), for drains. Default 0. */
  now?: number;
}

export interface IncrementalOptions extends PlanOptions {
  /**
   * Keys of the services that may have changed since the index was made (`serviceKey` form).
   * With it, every other desired service whose settings equal its index entry is taken to have
   * the index's destinations too, unread: the caller vouches for it, and planning costs only the
   * listed services (plus one key lookup per desired service). Services with draining
   * destinations (in `drainState`) are always planned. Wrong keys give a wrong plan: leave it out
   * when unsure, and the destinations are compared.
   */
  changed?: Iterable<string>;
}

export interface DrainingDestination {
  key: string;
  destKey: string;
  since: number;
  /** When the grace period ends. */
  deadline: number;
  activeConns: number;
  inactiveConns: number;
}

export interface Plan {
  ops: Op[];
  drift: Drift[];
  /** Keys of kernel services left alone because they are neither desired nor owned. */
  foreign: string[];
  /** Keys of desired services that were already in the kernel without being owned (now managed). */
  adopted: string[];
  /** Destinations draining after this plan is applied. */
  draining: DrainingDestination[];
  /** Drain state to pass to the next plan. */
  drainState: Map<string, DrainEntry>;
  /** Earliest time a drain deadline passes (plan again then), if any. */
  nextCheckAt: number | undefined;
  /** Keys of the services the caller owns after this plan (desired ones plus those still being deleted: none). */
  owned: string[];
}

/** The drain-state key of a destination. */
export function drainKey(key: string, destKey: string): string {
  return `${key} ${destKey}`;
}

/** One service of a table, normalized and indexed (see `indexTable`). */
export interface NormalEntry {
  key: string;
  service: NormalService;
  /** The table's own object for this service (what `owned` functions are given). */
  original: TableService;
  dests: Map<string, { n: NormalDestination; d: Destination }>;
}

/**
 * A table indexed by service key and destination key, normalized: what `planIncremental` plans
 * against. Treat it as immutable; `applyOpsToIndex` makes a new one and shares untouched entries.
 */
export type TableIndex = ReadonlyMap<string, NormalEntry>;

function destKeyOf(n: NormalDestination): string {
  return `${n.family === 'ipv6' ? `[${n.address}]` : n.address}:${n.port}`;
}

function indexService(s: TableService, what: string): NormalEntry {
  const service = normalizeService(s);
  const key = normalServiceKey(service);
  const dests = new Map<string, { n: NormalDestination; d: Destination }>();
  for (const d of s.destinations ?? []) {
    const n = normalizeDestinationFast(d, service);
    const dk = destKeyOf(n);
    if (dests.has(dk)) throw new IpvsError('ERR_IPVS_INVALID_CONFIG', `${what} lists destination ${dk} of ${key} twice`);
    dests.set(dk, { n, d });
  }
  return { key, service, original: s, dests };
}

function index(table: readonly TableService[], what: string): Map<string, NormalEntry> {
  const out = new Map<string, NormalEntry>();
  for (const s of table) {
    const e = indexService(s, what);
    if (out.has(e.key)) throw new IpvsError('ERR_IPVS_INVALID_CONFIG', `${what} lists service ${e.key} twice`);
    out.set(e.key, e);
  }
  return out;
}

/** Index a table (the kernel's, as read or as known) by service and destination key. */
export function indexTable(table: readonly TableService[]): TableIndex {
  return index(table, 'actual table');
}

/**
 * One desired service to plan: `w` is its indexed entry, or undefined when it is known to equal
 * the actual table's entry exactly (then it has no operations and no drift).
 */
interface PlanItem {
  key: string;
  w: NormalEntry | undefined;
  /**
   * Set for a desired service absent from the actual table (planIncremental's fast path): its
   * normal form and its add-destination operations, built straight from the caller's objects
   * without indexing them (the same operations `plan` makes from the index).
   */
  add?: { service: NormalService; dests: Op[] };
}

/**
 * Compute the operations that make `actual` (the kernel's table) match
 * `desired` for the services this director owns.
 */
export function plan(desired: readonly TableService[], actual: readonly TableService[], options: PlanOptions = {}): Plan {
  const want = index(desired, 'desired table');
  // The kernel's table can't hold duplicates; a caller-built one might.
  const have = index(actual, 'actual table');
  const items: PlanItem[] = [];
  for (const [key, w] of want) items.push({ key, w });
  return planItems(items, want, have, options);
}

/**
 * `plan(desired, actual)` against an indexed actual table, doing per-destination work only for
 * the services that differ: a desired service whose settings and destinations equal the index's
 * entry exactly (compared field by field on the caller's objects, without normalizing or
 * allocating) has nothing to do and is skipped; the others are planned as `plan` does. The result
 * is the one `plan(desired, actual)` gives (the unit tests check this as a property).
 *
 * Cost: a scan of the desired services and their destinations' fields, plus normal planning of the
 * changed services only. So a known table plus one change costs about the change, not the table.
 */
export function planIncremental(desired: readonly TableService[], have: TableIndex, options: IncrementalOptions = {}): Plan & { touched: string[] } {
  const items: PlanItem[] = [];
  const keys = new Set<string>();
  let vouched: Set<string> | undefined;
  if (options.changed !== undefined) {
    vouched = new Set(options.changed);
    // Services with draining destinations are planned whatever the caller says (deadlines pass).
    for (const k of options.drainState?.keys() ?? []) vouched.add(k.slice(0, k.indexOf(' ')));
  }
  for (const s of desired) {
    // The common case without normalizing: an address service spelled as the index has it.
    let h = fastEntry(s, have);
    let key: string;
    let service: NormalService | undefined;
    let absent = false;
    if (h !== undefined) {
      key = h.key;
    } else {
      service = normalizeService(s);
      key = normalServiceKey(service);
      h = have.get(key);
      if (h === undefined) absent = true;
      else if (diffService(service, h.service).length > 0) h = undefined;
    }
    if (keys.has(key)) throw new IpvsError('ERR_IPVS_INVALID_CONFIG', `desired table lists service ${key} twice`);
    keys.add(key);
    if (absent) {
      // Not in the kernel (a load from empty): every destination is an add; no index entry needed.
      items.push({ key, w: undefined, add: { service: service as NormalService, dests: addOps(s, service as NormalService, key) } });
      continue;
    }
    if (h !== undefined && ((vouched !== undefined && !vouched.has(key)) || sameDests(s.destinations ?? [], h.service, h, ++stampCounter))) items.push({ key, w: undefined });
    else items.push({ key, w: indexService(s, 'desired table') });
  }
  const p = planItems(items, keys, have, options);
  const touched = new Set<string>();
  for (const op of p.ops) touched.add(op.key);
  return { ...p, touched: [...touched] };
}

let stampCounter = 0;

/**
 * The add-destination operations of a service absent from the actual table, in the caller's
 * order, with the checks `indexService` makes (normal form, no destination listed twice).
 */
function addOps(s: TableService, service: NormalService, key: string): Op[] {
  const list = s.destinations ?? [];
  const out: Op[] = new Array<Op>(list.length);
  const seen = new Set<string>();
  for (let i = 0; i < list.length; i++) {
    const n = normalizeDestinationFast(list[i] as Destination, service);
    const dk = destKeyOf(n);
    if (seen.has(dk)) throw new IpvsError('ERR_IPVS_INVALID_CONFIG', `desired table lists destination ${dk} of ${key} twice`);
    seen.add(dk);
    out[i] = { kind: 'add-destination', key, destKey: dk, service, destination: n };
  }
  return out;
}

/**
 * The index's entry for `s` when `s` is an address service whose fields equal that entry's
 * service exactly as written (so normalizing `s` would give it); undefined otherwise (then the
 * caller normalizes). Entries in an index are always normal forms, so they are valid.
 */
function fastEntry(s: TableService, have: TableIndex): NormalEntry | undefined {
  if (typeof s !== 'object' || s === null) return undefined;
  const a = s as Partial<AddressServiceId> & Partial<FwmarkServiceId> & ServiceOptions;
  if (a.fwmark !== undefined || typeof a.address !== 'string' || typeof a.protocol !== 'string') return undefined;
  // The key as normalization would spell it, remembered per service object (checked on every use).
  let c = keyOf.get(s);
  if (c === undefined || c.protocol !== a.protocol || c.address !== a.address || c.port !== a.port) {
    c = { protocol: a.protocol, address: a.address, port: a.port, key: `${a.protocol}/${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}` };
    keyOf.set(s, c);
  }
  const h = have.get(c.key);
  if (h === undefined) return undefined;
  const n = h.service;
  if (n.kind !== 'address' || n.address !== a.address || n.protocol !== a.protocol || n.port !== a.port) return undefined;
  if ((a.scheduler ?? 'wlc') !== n.scheduler || (a.pe ?? '') !== n.pe || (a.onePacket === true) !== n.onePacket) return undefined;
  if (a.persistence !== undefined || n.persistent || (a.otherFlags ?? 0) !== 0 || n.otherFlags !== 0) return undefined;
  if ((a.schedFlags !== undefined && a.schedFlags.length > 0) || n.schedBits !== 0) return undefined;
  return h;
}

const keyOf = new WeakMap<object, { protocol: string; address: string; port: number | undefined; key: string }>();

/** The index entry's destinations as an array, in its order (made once per entry). */
const orderedOf = new WeakMap<NormalEntry, NormalDestination[]>();
const marks = new WeakMap<object, number>();

/**
 * Whether `dests` (the caller's, of normalized service `svc`) normalize to exactly `h`'s
 * destinations, decided on the raw fields. Conservative: anything unusual (tunnels, an address
 * not in canonical text, a mixed family, a value normalization would refuse) answers false,
 * and the service is then planned the normal way.
 */
function sameDests(dests: readonly Destination[], svc: NormalService, h: NormalEntry, stamp: number): boolean {
  if (dests.length !== h.dests.size) return false;
  // In the index's order first (an index built from this desired table), or in reverse; else by key, each matched once.
  let list = orderedOf.get(h);
  if (list === undefined) {
    list = [];
    for (const hd of h.dests.values()) list.push(hd.n);
    orderedOf.set(h, list);
  }
  const len = dests.length;
  let i = 0;
  while (i < len && sameDest(dests[i] as Destination, svc, list[i] as NormalDestination)) i++;
  if (i === len) return true;
  // In reverse (the kernel lists a service's destinations newest first).
  i = 0;
  while (i < len && sameDest(dests[i] as Destination, svc, list[len - 1 - i] as NormalDestination)) i++;
  if (i === len) return true;
  for (const d of dests) {
    if (typeof d !== 'object' || d === null || typeof d.address !== 'string') return false;
    const port = d.port ?? (svc.kind === 'fwmark' ? 0 : svc.port);
    const hd = h.dests.get(d.address.includes(':') ? `[${d.address}]:${port}` : `${d.address}:${port}`);
    if (hd === undefined || marks.get(hd) === stamp || !sameDest(d, svc, hd.n)) return false;
    marks.set(hd, stamp);
  }
  return true;
}

function inRange(v: number, max: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= max;
}

function sameDest(d: Destination, svc: NormalService, n: NormalDestination): boolean {
  if (typeof d !== 'object' || d === null) return false;
  if (d.tunnel !== undefined || n.forwarding === 'tunnel' || n.family !== svc.family) return false;
  if (d.address !== n.address || (d.family !== undefined && d.family !== n.family)) return false;
  if ((d.forwarding ?? 'route') !== n.forwarding) return false;
  if ((d.port ?? (svc.kind === 'fwmark' ? 0 : svc.port)) !== n.port || !inRange(n.port, 0xffff)) return false;
  if (svc.kind === 'address' && n.forwarding === 'route' && n.port !== svc.port) return false;
  if ((d.weight ?? 1) !== n.weight || !inRange(n.weight, 0x7fff_ffff)) return false;
  if ((d.upperThreshold ?? 0) !== n.upperThreshold || !inRange(n.upperThreshold, 0xffff_ffff)) return false;
  if ((d.lowerThreshold ?? 0) !== n.lowerThreshold || !inRange(n.lowerThreshold, 0xffff_ffff)) return false;
  return n.tunnelType === 'ipip' && n.tunnelPort === 0 && n.tunnelChecksum === 'nocsum';
}

function planItems(items: readonly PlanItem[], want: { has(key: string): boolean }, have: TableIndex, options: PlanOptions): Plan {
  const now = options.now ?? 0;
  const ownedSet = typeof options.owned === 'function' || options.owned === undefined ? undefined : new Set(options.owned);
  const ownedFn = typeof options.owned === 'function' ? options.owned : undefined;
  const isOwned = (key: string, s: Service): boolean =>
    options.ownAll === true || want.has(key) || (ownedSet?.has(key) ?? false) || (ownedFn?.(key, s) ?? false);
  const drain = options.drain === false ? undefined : options.drain;
  const prevDrain = options.drainState ?? new Map<string, DrainEntry>();

  const addSvc: Op[] = [];
  const editSvc: Op[] = [];
  const addDest: Op[] = [];
  const editDest: Op[] = [];
  const delDest: Op[] = [];
  const delSvc: Op[] = [];
  const drift: Drift[] = [];
  const foreign: string[] = [];
  const adopted: string[] = [];
  const draining: DrainingDestination[] = [];
  const drainState = new Map<string, DrainEntry>();

  for (const { key, w, add } of items) {
    if (add !== undefined) {
      drift.push({ kind: 'service-missing', key });
      addSvc.push({ kind: 'add-service', key, service: add.service });
      for (const op of add.dests) addDest.push(op);
      continue;
    }
    const h = have.get(key);
    if (h === undefined) {
      if (w === undefined) throw new Error('planItems: an unchanged service must be in the actual table');
      drift.push({ kind: 'service-missing', key });
      addSvc.push({ kind: 'add-service', key, service: w.service });
      for (const [dk, d] of w.dests) addDest.push({ kind: 'add-destination', key, destKey: dk, service: w.service, destination: d.n });
      continue;
    }
    if (!(ownedSet?.has(key) ?? false) && options.ownAll !== true && !(ownedFn?.(key, h.original) ?? false)) adopted.push(key);
    // Known to be equal: nothing to do (plan() would find no change, no drift, nothing to drain).
    if (w === undefined) continue;
    const changes = diffService(w.service, h.service);
    if (changes.length > 0) {
      drift.push({ kind: 'service-changed', key, fields: changes });
      editSvc.push({ kind: 'edit-service', key, service: w.service, previous: h.service, changes });
    }
    for (const [dk, d] of w.dests) {
      const hd = h.dests.get(dk);
      if (hd === undefined) {
        drift.push({ kind: 'destination-missing', key, destKey: dk });
        addDest.push({ kind: 'add-destination', key, destKey: dk, service: w.service, destination: d.n });
        continue;
      }
      const dc = diffDestination(d.n, hd.n);
      if (dc.length > 0) {
        if (!prevDrain.has(drainKey(key, dk))) drift.push({ kind: 'destination-changed', key, destKey: dk, fields: dc });
        editDest.push({ kind: 'edit-destination', key, destKey: dk, service: w.service, destination: d.n, previous: hd.n, changes: dc, reason: 'update' });
      }
    }
    for (const [dk, hd] of h.dests) {
      if (w.dests.has(dk)) continue;
      const dkey = drainKey(key, dk);
      const prev = prevDrain.get(dkey);
      if (drain === undefined) {
        drift.push({ kind: 'destination-unexpected', key, destKey: dk });
        delDest.push({ kind: 'delete-destination', key, destKey: dk, service: w.service, destination: hd.n });
        continue;
      }
      const since = prev?.since ?? now;
      const active = hd.d.activeConns ?? 0;
      const inactive = hd.d.inactiveConns ?? 0;
      // IPVS counts UDP connections as inactive (ip_vs_bind_dest), so for UDP
      // (and fwmark services, whose protocol is unknown) idle means none at all.
      const strict = w.service.kind === 'fwmark' || w.service.protocol === 'udp';
      const isIdle = strict ? active + inactive === 0 : active === 0;
      const deadline = since + drain.graceMs;
      // A destination is deleted only once it has been at weight 0 (a drain
      // that started in an earlier plan), unless the grace period is zero.
      const started = prev !== undefined && hd.n.weight === 0;
      if (drain.graceMs <= 0 || (started && (now >= deadline || (drain.untilIdle === true && isIdle)))) {
        delDest.push({ kind: 'delete-destination', key, destKey: dk, service: w.service, destination: hd.n });
        continue;
      }
      if (prev === undefined) drift.push({ kind: 'destination-unexpected', key, destKey: dk });
      drainState.set(dkey, { since });
      draining.push({ key, destKey: dk, since, deadline, activeConns: active, inactiveConns: inactive });
      if (hd.n.weight !== 0) {
        editDest.push({
          kind: 'edit-destination',
          key,
          destKey: dk,
          service: w.service,
          destination: { ...hd.n, weight: 0 },
          previous: hd.n,
          changes: ['weight'],
          reason: 'drain',
        });
      }
    }
  }

  for (const [key, h] of have) {
    if (want.has(key)) continue;
    if (!isOwned(key, h.original)) {
      foreign.push(key);
      continue;
    }
    drift.push({ kind: 'service-unexpected', key });
    delSvc.push({ kind: 'delete-service', key, service: h.service });
  }

  const nextCheckAt = draining.length === 0 ? undefined : Math.min(...draining.map((d) => d.deadline));
  return {
    ops: [...addSvc, ...editSvc, ...addDest, ...editDest, ...delDest, ...delSvc],
    drift,
    foreign,
    adopted,
    draining,
    drainState,
    nextCheckAt,
    owned: items.map((x) => x.key),
  };
}

/**
 * Apply `ops` to an index as the kernel would, copy on write: a new index that shares every
 * entry the operations don't touch (cost: the touched services, plus one map of service keys).
 * Touched services get a fresh `original` object (their destinations in the index's order).
 */
export function applyOpsToIndex(have: TableIndex, ops: readonly Op[]): Map<string, NormalEntry> {
  const out = new Map(have);
  const copied = new Set<string>();
  for (const op of ops) {
    let e = out.get(op.key);
    if (e !== undefined && !copied.has(op.key)) {
      e = { key: e.key, service: e.service, original: e.original, dests: new Map(e.dests) };
      out.set(op.key, e);
      copied.add(op.key);
    }
    switch (op.kind) {
      case 'add-service':
        if (e !== undefined) throw new IpvsError('ERR_IPVS_EXISTS', `service ${op.key} exists`);
        out.set(op.key, { key: op.key, service: op.service, original: {} as TableService, dests: new Map() });
        copied.add(op.key);
        break;
      case 'edit-service':
        if (e === undefined) throw new IpvsError('ERR_IPVS_NO_SERVICE', `no service ${op.key}`);
        e.service = op.service;
        break;
      case 'delete-service':
        if (e === undefined) throw new IpvsError('ERR_IPVS_NO_SERVICE', `no service ${op.key}`);
        out.delete(op.key);
        copied.delete(op.key);
        break;
      case 'add-destination':
        if (e === undefined) throw new IpvsError('ERR_IPVS_NO_SERVICE', `no service ${op.key}`);
        if (e.dests.has(op.destKey)) throw new IpvsError('ERR_IPVS_EXISTS', `destination ${op.destKey} exists`);
        e.dests.set(op.destKey, { n: op.destination, d: {} as Destination });
        break;
      case 'edit-destination': {
        if (e === undefined) throw new IpvsError('ERR_IPVS_NO_SERVICE', `no service ${op.key}`);
        const d = e.dests.get(op.destKey);
        if (d === undefined) throw new IpvsError('ERR_IPVS_NO_DESTINATION', `no destination ${op.destKey}`);
        e.dests.set(op.destKey, { n: op.destination, d: d.d });
        break;
      }
      case 'delete-destination':
        if (e === undefined) throw new IpvsError('ERR_IPVS_NO_SERVICE', `no service ${op.key}`);
        if (!e.dests.delete(op.destKey)) throw new IpvsError('ERR_IPVS_NO_DESTINATION', `no destination ${op.destKey}`);
        break;
    }
  }
  for (const key of copied) {
    const e = out.get(key) as NormalEntry;
    e.original = tableServiceOf(e.service, e.dests);
  }
  return out;
}

function tableServiceOf(s: NormalService, dests: ReadonlyMap<string, { n: NormalDestination; d: Destination }>): TableService {
  const base: TableService = denormalizeService(s);
  base.destinations = [...dests.values()].map(({ n, d }) => {
    const x = denormalizeDestination(n);
    if (d.activeConns !== undefined) x.activeConns = d.activeConns;
    if (d.inactiveConns !== undefined) x.inactiveConns = d.inactiveConns;
    return x;
  });
  return base;
}

/** The table an index describes: its entries' objects, in its order. */
export function tableOfIndex(have: TableIndex): TableService[] {
  const out: TableService[] = [];
  for (const e of have.values()) out.push(e.original);
  return out;
}

/**
 * Apply `ops` to a table, as the kernel would (a simulation for tests and for
 * previewing a plan). Counters are carried over for destinations that stay.
 */
export function applyOpsToTable(table: readonly TableService[], ops: readonly Op[]): TableService[] {
  const out: TableService[] = [];
  for (const e of applyOpsToIndex(index(table, 'table'), ops).values()) out.push(tableServiceOf(e.service, e.dests));
  return out;
}
