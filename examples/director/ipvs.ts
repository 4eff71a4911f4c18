/**
 * The director's side of IPVS: one reconciler for every service, on the
 * kernel through lvskit/ipvs `apply()`, or in dry run against a table kept in
 * memory, logging the ipvsadm commands it would run.
 *
 * Requests are serialised and coalesced: while one apply runs, later desired
 * tables replace each other and the last one is applied next. A periodic
 * re-apply (kernel mode) finds and corrects drift (someone ran ipvsadm); drift
 * found while the desired table had not changed is reported in `/alerts`.
 */
import { EventEmitter } from 'eventemitter3';
import type { Logger } from 'lvskit';
import { IpvsClient, IpvsError, apply, applyOpsToTable, plan, renderOp, serviceKey, type Drift, type Op, type SyncDaemon, type TableService } from 'lvskit/ipvs';
import { DirectorError } from './errors.js';

export type IpvsMode = 'kernel' | 'dry-run';

export interface IpvsApplied {
  at: number;
  mode: IpvsMode;
  reason: string;
  ops: Op[];
  /** Each operation as an ipvsadm command line (with the leading `ipvsadm`). */
  commands: string[];
}

export interface IpvsHealth {
  /** Drift found by a periodic re-read while nothing was meant to change: when and what. */
  lastDrift: { at: number; items: Drift[] } | undefined;
  /** Differences still there after the last apply, or failures; empty when the kernel matches. */
  remaining: Drift[];
  failures: string[];
  lastApplyAt: number | undefined;
  applies: number;
  opsTotal: number;
  errors: number;
}

export interface IpvsDriverEvents {
  applied: [IpvsApplied];
  /** The desired table is in IPVS now (kernel: written without failures; dry run: at once), changes or not. */
  landed: [table: readonly TableService[]];
  error: [Error];
}

/** `ipvsadm` plus the ipvsadm -R line of an op (which has no leading `ipvsadm`). */
export function commandOf(op: Op): string {
  try {
    return `ipvsadm ${renderOp(op)}`;
  } catch (e) {
    return `# ${op.kind} ${op.key}: ${(e as Error).message}`;
  }
}

function syncDaemonCommand(d: SyncDaemon): string {
  const parts = [`ipvsadm --start-daemon ${d.state} --mcast-interface ${d.interface}`];
  if (d.syncId !== undefined) parts.push(`--syncid ${d.syncId}`);
  if (d.group !== undefined) parts.push(`--mcast-group ${d.group}`);
  if (d.port !== undefined) parts.push(`--mcast-port ${d.port}`);
  if (d.ttl !== undefined) parts.push(`--mcast-ttl ${d.ttl}`);
  return parts.join(' ');
}

export interface IpvsDriverOptions {
  logger: Logger;
  /** Coalesce reconcile requests made within this many ms (default 10). */
  batchMs?: number;
  now?: () => number;
}

/**
 * Probe the kernel: a client when IPVS is there and usable, `undefined` when the
 * kernel has no IPVS. Throws `DirectorError` ERR_DIRECTOR_PERMISSION without CAP_NET_ADMIN.
 */
export async function openIpvs(): Promise<IpvsClient | undefined> {
  let client: IpvsClient;
  try {
    client = await IpvsClient.open({ timeoutMs: 10_000 });
  } catch (e) {
    if (e instanceof IpvsError && e.code === 'ERR_IPVS_MODULE_MISSING') return undefined;
    if (e instanceof IpvsError && e.code === 'ERR_IPVS_NOT_PERMITTED') throw permission(e);
    // No generic netlink at all (a sandbox): treat as no IPVS.
    if ((e as { code?: string }).code === 'EPROTONOSUPPORT' || (e as { code?: string }).code === 'EAFNOSUPPORT') return undefined;
    throw new DirectorError('ERR_DIRECTOR_IPVS', `cannot open IPVS: ${(e as Error).message}`, { cause: e });
  }
  try {
    await client.readTable({ stats: false });
  } catch (e) {
    client.close();
    if (e instanceof IpvsError && e.code === 'ERR_IPVS_NOT_PERMITTED') throw permission(e);
    throw new DirectorError('ERR_DIRECTOR_IPVS', `cannot read the IPVS table: ${(e as Error).message}`, { cause: e });
  }
  return client;
}

function permission(e: unknown): DirectorError {
  return new DirectorError(
    'ERR_DIRECTOR_PERMISSION',
    'IPVS refused us (EPERM): the director needs CAP_NET_ADMIN (run as root, or with AmbientCapabilities=CAP_NET_ADMIN as in examples/systemd), or run with --dry-run',
    { cause: e },
  );
}

export class IpvsDriver extends EventEmitter<IpvsDriverEvents> {
  readonly mode: IpvsMode;
  readonly #client: IpvsClient | undefined;
  readonly #log: Logger;
  readonly #now: () => number;
  /** Dry run: the table as our commands would have left it, by service key (insertion order kept). */
  readonly #dry = new Map<string, TableService>();
  /** Dry run: the desired object each service was last planned from (unchanged object: nothing to plan). */
  readonly #dryFrom = new Map<string, TableService>();
  #owned: string[] = [];
  #desired: (() => TableService[]) | undefined;
  readonly #batchMs: number;
  #desiredVersion = 0;
  #appliedVersion = -1;
  #pending: { reason: string } | undefined;
  #running: Promise<void> | undefined;
  #closed = false;
  readonly health: IpvsHealth = { lastDrift: undefined, remaining: [], failures: [], lastApplyAt: undefined, applies: 0, opsTotal: 0, errors: 0 };

  constructor(client: IpvsClient | undefined, options: IpvsDriverOptions) {
    super();
    this.mode = client === undefined ? 'dry-run' : 'kernel';
    this.#client = client;
    this.#log = options.logger.child({ part: 'ipvs' });
    this.#now = options.now ?? Date.now;
    this.#batchMs = options.batchMs ?? 10;
  }

  /** The table as last applied (dry run: simulated; kernel: read back on demand via `readTable`). */
  get simulatedTable(): readonly TableService[] {
    return [...this.#dry.values()];
  }

  /** Read the kernel table (kernel mode) or the simulated one. */
  async readTable(): Promise<TableService[]> {
    if (this.#client === undefined) return structuredClone([...this.#dry.values()]);
    return this.#client.readTable({ stats: true });
  }

  /**
   * The desired table changed: reconcile. `desired` is called when the apply
   * runs, not now, so a burst of pool changes (hundreds of servers failing at
   * once) costs one table build and one plan, not one per change. Requests
   * made within `batchMs` of each other, or while an apply runs, are coalesced.
   */
  set(desired: () => TableService[], reason: string): Promise<void> {
    this.#desired = desired;
    this.#desiredVersion++;
    return this.#kick(reason);
  }

  /** Reconcile again with the same desired table (periodic drift check). */
  recheck(): Promise<void> {
    if (this.#desired === undefined) return Promise.resolve();
    return this.#kick('periodic check');
  }

  #kick(reason: string): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#pending = { reason };
    if (this.#running === undefined) {
      this.#running = new Promise<void>((r) => setTimeout(r, this.#batchMs))
        .then(() => this.#loop())
        .finally(() => {
          this.#running = undefined;
        });
    }
    return this.#running;
  }

  async #loop(): Promise<void> {
    while (this.#pending !== undefined && !this.#closed) {
      const { reason } = this.#pending;
      this.#pending = undefined;
      const version = this.#desiredVersion;
      try {
        const desired = this.#desired?.() ?? [];
        const ok = await this.#applyOnce(desired, reason, version === this.#appliedVersion);
        this.#appliedVersion = version;
        if (ok) this.emit('landed', desired);
      } catch (e) {
        this.health.errors++;
        this.#log.error({ err: e }, 'IPVS apply failed');
        this.emit('error', e as Error);
      }
    }
  }

  /** One reconcile; true when the whole desired table is in IPVS afterwards. */
  async #applyOnce(desired: TableService[], reason: string, unchanged: boolean): Promise<boolean> {
    const at = this.#now();
    let ops: Op[];
    let ok = true;
    if (this.#client === undefined) {
      ops = this.#planDry(desired);
      this.health.remaining = [];
      this.health.failures = [];
    } else {
      const r = await apply(desired, { client: this.#client, owned: this.#owned, logger: this.#log });
      ops = r.plan.ops;
      this.#owned = r.owned;
      this.health.remaining = r.remaining;
      this.health.failures = r.failures.map((f) => `${f.error.code}: ${f.error.message}`);
      if (unchanged && r.plan.ops.length > 0) {
        this.health.lastDrift = { at, items: r.plan.drift };
        this.#log.warn({ drift: r.plan.drift.length, ops: r.plan.ops.length }, 'IPVS table drifted from what we wrote (someone else changed it): corrected');
      }
      if (r.failures.length > 0) this.#log.error({ failures: this.health.failures }, 'IPVS operations failed');
      ok = r.failures.length === 0;
    }
    this.health.applies++;
    this.health.lastApplyAt = at;
    if (ops.length === 0) return ok;
    this.health.opsTotal += ops.length;
    const commands = ops.map(commandOf);
    for (const c of commands) this.#log.info({ cmd: c, reason, dryRun: this.mode === 'dry-run' }, this.mode === 'dry-run' ? 'would run' : 'ipvs');
    this.emit('applied', { at, mode: this.mode, reason, ops, commands });
    return ok;
  }

  /**
   * Dry run: plan only the services whose desired object changed since the last plan (the
   * director hands the same object for a service whose pool did not change), plus those no longer
   * desired, against their part of the simulated table. A failure in one service of 200 then costs
   * a plan of 100 destinations, not of 20,000. The simulated table holds only our services, so it
   * is all ours (`ownAll`).
   */
  #planDry(desired: readonly TableService[]): Op[] {
    const keys = desired.map((t) => serviceKey(t));
    const want = new Set(keys);
    let changed: TableService[];
    let touched: Set<string>;
    if (want.size !== keys.length) {
      // Two desired services with one key: plan everything, so plan() reports it.
      changed = [...desired];
      touched = new Set([...want, ...this.#dry.keys()]);
    } else {
      changed = [];
      touched = new Set();
      desired.forEach((t, i) => {
        const k = keys[i] as string;
        if (this.#dryFrom.get(k) === t) return;
        changed.push(t);
        touched.add(k);
      });
      for (const k of this.#dry.keys()) if (!want.has(k)) touched.add(k);
    }
    if (touched.size === 0) return [];
    const current = [...touched].flatMap((k) => this.#dry.get(k) ?? []);
    const ops = plan(changed, current, { ownAll: true }).ops;
    const after = applyOpsToTable(current, ops);
    const present = new Set<string>();
    for (const t of after) {
      const k = serviceKey(t);
      present.add(k);
      this.#dry.set(k, t);
    }
    for (const k of touched) if (!present.has(k)) this.#dry.delete(k);
    this.#dryFrom.clear();
    desired.forEach((t, i) => this.#dryFrom.set(keys[i] as string, t));
    this.#owned = [...want];
    return ops;
  }

  /** Start the connection-sync daemon when it is not running (dry run: log the command). */
  async ensureSyncDaemon(d: SyncDaemon): Promise<void> {
    const cmd = syncDaemonCommand(d);
    if (this.#client === undefined) {
      this.#log.info({ cmd, dryRun: true }, 'would run');
      return;
    }
    const running = await this.#client.listDaemons();
    if (running.some((x) => x.state === d.state && x.interface === d.interface && (x.syncId ?? 0) === (d.syncId ?? 0))) return;
    await this.#client.startDaemon(d);
    this.#log.info({ cmd }, 'ipvs sync daemon started');
  }

  /** Wait for the running apply, then stop (the kernel table is left as it is). */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#running;
    this.#client?.close();
  }
}
