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
  normalizeDestination,
  normalizeService,
  type Destination,
  type NormalDestination,
  type NormalService,
  type Service,
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

interface NormalEntry {
  key: string;
  service: NormalService;
  original: Service;
  dests: Map<string, { n: NormalDestination; d: Destination }>;
}

function destKeyOf(n: NormalDestination): string {
  return `${n.family === 'ipv6' ? `[${n.address}]` : n.address}:${n.port}`;
}

function index(table: readonly TableService[], what: string): Map<string, NormalEntry> {
  const out = new Map<string, NormalEntry>();
  for (const s of table) {
    const service = normalizeService(s);
    const key = normalServiceKey(service);
    if (out.has(key)) throw new IpvsError('ERR_IPVS_INVALID_CONFIG', `${what} lists service ${key} twice`);
    const dests = new Map<string, { n: NormalDestination; d: Destination }>();
    for (const d of s.destinations ?? []) {
      const n = normalizeDestination(d, service);
      const dk = destKeyOf(n);
      if (dests.has(dk)) throw new IpvsError('ERR_IPVS_INVALID_CONFIG', `${what} lists destination ${dk} of ${key} twice`);
      dests.set(dk, { n, d });
    }
    out.set(key, { key, service, original: s, dests });
  }
  return out;
}

/**
 * Compute the operations that make `actual` (the kernel's table) match
 * `desired` for the services this director owns.
 */
export function plan(desired: readonly TableService[], actual: readonly TableService[], options: PlanOptions = {}): Plan {
  const now = options.now ?? 0;
  const want = index(desired, 'desired table');
  // The kernel's table can't hold duplicates; a caller-built one might.
  const have = index(actual, 'actual table');
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

  for (const [key, w] of want) {
    const h = have.get(key);
    if (h === undefined) {
      drift.push({ kind: 'service-missing', key });
      addSvc.push({ kind: 'add-service', key, service: w.service });
      for (const [dk, d] of w.dests) addDest.push({ kind: 'add-destination', key, destKey: dk, service: w.service, destination: d.n });
      continue;
    }
    if (!(ownedSet?.has(key) ?? false) && options.ownAll !== true && !(ownedFn?.(key, h.original) ?? false)) adopted.push(key);
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
    owned: [...want.keys()],
  };
}

/**
 * Apply `ops` to a table, as the kernel would (a simulation for tests and for
 * previewing a plan). Counters are carried over for destinations that stay.
 */
export function applyOpsToTable(table: readonly TableService[], ops: readonly Op[]): TableService[] {
  const svcs = new Map<string, { s: NormalService; dests: Map<string, { n: NormalDestination; d: Destination }> }>();
  for (const [key, e] of index(table, 'table')) svcs.set(key, { s: e.service, dests: e.dests });
  for (const op of ops) {
    const e = svcs.get(op.key);
    switch (op.kind) {
      case 'add-service':
        if (e !== undefined) throw new IpvsError('ERR_IPVS_EXISTS', `service ${op.key} exists`);
        svcs.set(op.key, { s: op.service, dests: new Map() });
        break;
      case 'edit-service':
        if (e === undefined) throw new IpvsError('ERR_IPVS_NO_SERVICE', `no service ${op.key}`);
        e.s = op.service;
        break;
      case 'delete-service':
        if (e === undefined) throw new IpvsError('ERR_IPVS_NO_SERVICE', `no service ${op.key}`);
        svcs.delete(op.key);
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
        d.n = op.destination;
        break;
      }
      case 'delete-destination':
        if (e === undefined) throw new IpvsError('ERR_IPVS_NO_SERVICE', `no service ${op.key}`);
        if (!e.dests.delete(op.destKey)) throw new IpvsError('ERR_IPVS_NO_DESTINATION', `no destination ${op.destKey}`);
        break;
    }
  }
  const out: TableService[] = [];
  for (const { s, dests } of svcs.values()) {
    const base: TableService = denormalizeService(s);
    base.destinations = [...dests.values()].map(({ n, d }) => {
      const x = denormalizeDestination(n);
      if (d.activeConns !== undefined) x.activeConns = d.activeConns;
      if (d.inactiveConns !== undefined) x.inactiveConns = d.inactiveConns;
      return x;
    });
    out.push(base);
  }
  return out;
}
