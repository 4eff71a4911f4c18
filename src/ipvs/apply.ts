/**
 * The reconciler driver: read the kernel's table, plan (plan.ts), send the
 * operations pipelined with every ack checked, and optionally read back to
 * verify. It joins the client and the pure plan; the clock is injected.
 *
 * A restart with the same desired table reads, plans nothing and writes
 * nothing: no flush, no re-add. When replies were lost (ENOBUFS) or an
 * operation failed because the table changed under us (someone ran ipvsadm),
 * it re-reads and re-plans, up to `retries` times.
 */
import { sleep } from '../util/abort.js';
import { realClock, type Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { noopLogger } from '../util/logger.js';
import { IpvsBatchError, IpvsError, type BatchFailure } from './errors.js';
import { IpvsClient, type IpvsClientOptions } from './client.js';
import {
  applyOpsToIndex,
  indexTable,
  planIncremental,
  tableOfIndex,
  type Drift,
  type DrainEntry,
  type DrainOptions,
  type NormalEntry,
  type Op,
  type Plan,
  type TableIndex,
  type TableService,
} from './plan.js';
import { renderOps } from './plan-render.js';

export interface ApplyOptions {
  signal?: AbortSignal;
  /** A client to use (left open); without one, `apply` opens and closes its own. */
  client?: IpvsClient;
  /** Options for the client `apply` opens. */
  clientOptions?: IpvsClientOptions;
  /** See `PlanOptions.owned`. */
  owned?: Iterable<string> | ((key: string, service: TableService) => boolean);
  ownAll?: boolean;
  drain?: DrainOptions | false;
  drainState?: ReadonlyMap<string, DrainEntry>;
  /** For drain times (default the real monotonic clock). */
  clock?: Clock;
  /** Plan and render only; write nothing. */
  dryRun?: boolean;
  /**
   * The kernel's table as an earlier apply left it (that result's `table`). Plan against it
   * instead of reading the kernel, so a change costs only its own writes: one changed weight is
   * one request in one datagram, one round trip. Every ack is still checked; if an operation
   * fails, apply reads the kernel and plans again. Changes made by others (drift) are not seen
   * this way: apply without `known` now and then to find and repair them.
   *
   * A `table` that apply returned carries apply's own index of it (kept by identity; the array is
   * frozen), so planning against it does per-destination work only for the services that changed:
   * the cost of a change, not of the table. Any other table is indexed first.
   */
  known?: readonly TableService[];
  /**
   * With `known`: the keys of the services changed since that table (see
   * `IncrementalOptions.changed`); the others' destinations are not even compared.
   */
  changed?: Iterable<string>;
  /**
   * Read the table back after writing and report what still differs in `remaining`. Default: only
   * when some operation failed for good (every acked operation is the kernel's own confirmation,
   * which is all `ipvsadm -R` checks; a read-back of a big table costs about as much as writing it,
   * and the next apply without `known` reads the kernel and repairs any drift anyway). `true`: after
   * every apply that wrote (with `known`, only the services the plan touched are read back when all
   * were acked); `false`: never.
   */
  verify?: boolean;
  /** Re-read and re-plan this many times after recoverable failures (default 2). */
  retries?: number;
  /** Read the table until two reads agree (dumps can skip or repeat entries when the table changes mid-dump). */
  stableRead?: boolean;
  logger?: Logger;
}

export interface ApplyResult {
  /** The first plan (what the kernel looked like against desired). */
  plan: Plan;
  /**
   * The plan's operations as `ipvsadm -R` lines (also filled for dry runs). Rendered when first
   * read (an enumerable getter): a big load doesn't pay for 50,000 lines nobody reads.
   */
  readonly commands: string;
  /** Netlink write requests sent (0 for a table already right, and for dry runs). */
  writes: number;
  /** Operations that failed after the last attempt. */
  failures: BatchFailure[];
  /** Drift found when reading back (`verify`); empty when the kernel now matches. */
  remaining: Drift[];
  /** Drain state for the next apply. */
  drainState: Map<string, DrainEntry>;
  /** Keys this director owns now (pass as `owned` next time): the desired ones plus owned ones not yet deleted. */
  owned: string[];
  /** Rounds of read-plan-write (1 unless something had to be retried). */
  attempts: number;
  /** Operations sent in the last round (what `failures` indexes into). */
  lastOps: number;
  /**
   * The kernel's table after this apply, as read back (`verify`) or as the acked operations made it;
   * undefined when operations failed for good (read the kernel again). Pass it as `known` next time.
   * Frozen: apply keeps its index of it (see `ApplyOptions.known`).
   */
  table: readonly TableService[] | undefined;
}

function renderSafe(ops: readonly Op[]): string {
  try {
    return renderOps(ops);
  } catch (e) {
    if (e instanceof IpvsError && e.code === 'ERR_IPVS_UNSUPPORTED') return `# not expressible as ipvsadm commands: ${e.message}\n`;
    throw e;
  }
}

/** The result with `commands`, the plan's ipvsadm lines, rendered on first read. */
function withCommands(r: Omit<ApplyResult, 'commands'>): ApplyResult {
  let text: string | undefined;
  return Object.defineProperty(r, 'commands', { enumerable: true, get: () => (text ??= renderSafe(r.plan.ops)) }) as ApplyResult;
}

/** Make the kernel's IPVS table match `desired` for the services this director owns. */
export async function apply(desired: readonly TableService[], options: ApplyOptions = {}): Promise<ApplyResult> {
  const log = options.logger ?? noopLogger;
  const clock = options.clock ?? realClock;
  const own = options.client === undefined;
  const client = options.client ?? (await IpvsClient.open({ ...options.clientOptions, ...(options.signal === undefined ? {} : { signal: options.signal }) }));
  const call = options.signal === undefined ? {} : { signal: options.signal };
  const retries = options.retries ?? 2;
  const verifyAlways = options.verify === true;
  const verifyNever = options.verify === false;
  // Reads retry too: lost replies (ENOBUFS) or a dump still running from an earlier failure (EBUSY).
  const readTable = async (): Promise<TableService[]> => {
    for (let i = 0; ; i++) {
      try {
        return await client.readTable({ ...call, stats: false, ...(options.stableRead === true ? { stable: true } : {}) });
      } catch (e) {
        if (e instanceof IpvsError && (e.recoverable || e.code === 'ERR_IPVS_BUSY') && i < retries) {
          log.warn({ err: e }, 're-reading the IPVS table');
          // A dump whose replies were dropped keeps running in the kernel until we have read it out.
          await sleep(25 * (i + 1), options.signal);
          continue;
        }
        throw e;
      }
    }
  };
  const planOptions = (): Parameters<typeof planIncremental>[2] => ({
    ...(options.owned === undefined ? {} : { owned: options.owned as PlanOwned }),
    ...(options.ownAll === undefined ? {} : { ownAll: options.ownAll }),
    ...(options.drain === undefined ? {} : { drain: options.drain }),
    ...(drainState === undefined ? {} : { drainState }),
    now: clock.now(),
  });
  let drainState = options.drainState;
  try {
    let first: Plan | undefined;
    let writes = 0;
    let failures: BatchFailure[] = [];
    let attempts = 0;
    let lastOps = 0;
    let after: TableIndex | undefined;
    let touched: string[] = [];
    let incremental = false;
    for (;;) {
      attempts++;
      incremental = attempts === 1 && options.known !== undefined;
      const have = incremental ? (knownIndexes.get(options.known as readonly TableService[]) ?? indexTable(options.known as readonly TableService[])) : indexTable(await readTable());
      const p = planIncremental(desired, have, incremental && options.changed !== undefined ? { ...planOptions(), changed: options.changed } : planOptions());
      first ??= p;
      drainState = p.drainState;
      if (options.dryRun === true) {
        return withCommands({ plan: p, writes: 0, failures: [], remaining: p.drift, drainState: p.drainState, owned: p.owned, attempts, lastOps: 0, table: undefined });
      }
      if (p.ops.length === 0) {
        failures = [];
        after = have;
        break;
      }
      log.info({ ops: p.ops.length, drift: p.drift.length, foreign: p.foreign.length }, 'applying IPVS changes');
      lastOps = p.ops.length;
      const r = await client.applyOps(p.ops, call);
      writes += p.ops.length;
      failures = r.failures;
      if (failures.length === 0) {
        // Every operation acked: the kernel now holds what the plan made of what was read.
        // (A full read-back follows with `verify: true` without `known`: no need to build this then.)
        if (incremental || !verifyAlways) after = applyOpsToIndex(have, p.ops);
        touched = p.touched;
        break;
      }
      // Lost replies, or the table moved under us (exists / no such ...): read again and re-plan.
      const retryable = failures.every((f) =>
        ['ERR_IPVS_NO_BUFFERS', 'ERR_IPVS_EXISTS', 'ERR_IPVS_NO_SERVICE', 'ERR_IPVS_NO_DESTINATION'].includes(f.error.code),
      );
      log.warn({ failures: failures.length, retryable }, 'some IPVS operations failed');
      if (!retryable || attempts > retries) break;
    }
    let remaining: Drift[] = [];
    if (writes > 0 && !verifyNever && (verifyAlways || failures.length > 0)) {
      // Read back: with `known` and every write acked, only the services this apply touched (the
      // rest is as known); otherwise the whole table.
      const read = incremental && failures.length === 0 && after !== undefined ? await readBack(client, after, touched, call) : indexTable(await readTable());
      if (failures.length === 0) after = read;
      // Services this apply didn't touch were compared (or vouched for) when planning: plan the touched ones.
      const again = planIncremental(desired, read, incremental && failures.length === 0 ? { ...planOptions(), changed: touched } : planOptions());
      // Draining destinations are expected to be there (at weight 0).
      const drainingHere = (d: Drift): boolean => 'destKey' in d && again.draining.some((x) => x.key === d.key && x.destKey === d.destKey);
      remaining = again.drift.filter((d) => !((d.kind === 'destination-changed' || d.kind === 'destination-unexpected') && drainingHere(d)));
    }
    const p = first as Plan;
    let table: readonly TableService[] | undefined;
    if (failures.length === 0 && after !== undefined) {
      table = Object.freeze(tableOfIndex(after));
      knownIndexes.set(table, after);
    }
    return withCommands({
      plan: p,
      writes,
      failures,
      remaining,
      drainState: drainState === undefined ? new Map() : new Map(drainState),
      // Owned services whose deletion didn't go through stay owned, so the next apply deletes them.
      owned: [...new Set([...p.owned, ...remaining.filter((d) => d.kind === 'service-unexpected').map((d) => d.key)])],
      attempts,
      lastOps,
      table,
    });
  } finally {
    if (own) client.close();
  }
}

/** apply's index of each table it returned, by the array's identity (the arrays are frozen). */
const knownIndexes = new WeakMap<readonly TableService[], TableIndex>();

/** `have` with the `keys` services replaced by what the kernel holds now (absent ones removed). */
async function readBack(client: IpvsClient, have: TableIndex, keys: readonly string[], call: { signal?: AbortSignal }): Promise<TableIndex> {
  const out = new Map(have);
  for (const key of keys) {
    const e = have.get(key);
    if (e === undefined) continue;
    let svc: TableService;
    try {
      svc = { ...(await client.getService(e.original, { ...call, stats: false })) };
    } catch (err) {
      if (err instanceof IpvsError && err.code === 'ERR_IPVS_NO_SERVICE') {
        out.delete(key);
        continue;
      }
      throw err;
    }
    svc.destinations = await client.listDestinations(svc, { ...call, stats: false });
    const [fresh] = indexTable([svc]).values() as IterableIterator<NormalEntry>;
    out.set(key, fresh as NormalEntry);
  }
  return out;
}

type PlanOwned = Iterable<string> | ((key: string, service: TableService) => boolean);

/** `apply`, throwing an `IpvsBatchError` when operations failed for good. */
export async function applyOrThrow(desired: readonly TableService[], options: ApplyOptions = {}): Promise<ApplyResult> {
  const r = await apply(desired, options);
  if (r.failures.length > 0) throw new IpvsBatchError(r.failures, r.lastOps);
  return r;
}
