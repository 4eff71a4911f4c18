/**
 * The monitor driver: runs each server's checks on schedule and keeps its
 * state (`fsm-server.ts`), on the injected clock.
 *
 * Scheduling:
 * - each polled check has its own interval; the first run falls at a random
 *   point within the first interval and every later one `interval x (1 - jitter x r)`
 *   after the previous was due, r drawn from the injected random source, so
 *   thousands of servers never check in lockstep. Jitter only ever shortens
 *   an interval: a failure is seen within `interval x fall + timeout` (while
 *   checks get a slot at once), never later because of jitter; with a
 *   `fastIntervalMs` a check on its way up or down runs at that pace instead
 *   (HAProxy's `fastinter`), timed from its last result;
 * - a server runs one check at a time: a check that falls due while another
 *   of the same server's checks runs waits its turn, and a check already
 *   waiting is not queued twice (no overlap, no pile-up);
 * - at most `concurrency` checks run at once across all servers; servers with
 *   due checks wait in FIFO order;
 * - stateful checks (`watch`) push results as they happen and take no slot.
 *
 * Check deadlines are real time (they bound real I/O); scheduling, rise/fall,
 * damping and the watchdog run on the injected clock.
 *
 * Events (eventemitter3): `result` for every check result, `event` for every
 * server state event (check up/down, health, damping, admin, state), `state`
 * when a server's `up` changes, `server` with the full state after any change,
 * `removed` when a server is no longer monitored, `settled` once every check
 * has reported (also `whenSettled()`).
 */
import { EventEmitter } from 'eventemitter3';
import { realClock, type Clock, type TimerHandle } from '../util/clock.js';
import { abortReason } from '../util/abort.js';
import { isLvskitError } from '../util/errors.js';
import { noopLogger, type Logger } from '../util/logger.js';
import { MonitorError } from './errors.js';
import { initialServerState, recordQuietResult, stepServer, type DampingConfig, type ServerConfig, type ServerEvent, type ServerInput, type ServerState } from './fsm-server.js';
import { MonitorMetrics, type CheckSeries } from './metrics.js';
import { describeError } from './result.js';
import { isStartable, START, type CheckSink, type RunningCheck } from './start.js';
import { isStatefulCheck, type Check, type CheckResult, type CheckTarget, type StatefulCheck } from './types.js';

export interface MonitoredCheck {
  /** Unique among the server's checks; used in events and metrics. */
  name: string;
  check: Check | StatefulCheck;
  /** Interval between runs of a polled check, ms (default 2000). */
  intervalMs?: number;
  /**
   * Interval while the check is on its way up or down (some successes while
   * down, some failures while up), like HAProxy's `fastinter`: a failure is then
   * confirmed in `interval + (fall - 1) x fastInterval` instead of `interval x fall`.
   * Default: the interval.
   */
  fastIntervalMs?: number;
  /** Overrides of the server's rise/fall for this check (stateful checks default to 1 and 1). */
  rise?: number;
  fall?: number;
}

export interface ServerSpec {
  /** Unique key of the server (e.g. `10.0.0.5:80`). */
  id: string;
  target: CheckTarget;
  checks: readonly MonitoredCheck[];
  rise?: number;
  fall?: number;
  initial?: 'down' | 'up' | 'first-result';
  enabled?: boolean;
  damping?: DampingConfig | false;
}

export interface MonitorOptions {
  /**
   * Clock for scheduling (default: the shared real clock, whose timers are
   * unref'd: a running monitor alone does not keep the process alive; pass
   * `new RealClock({ ref: true })` when nothing else does).
   */
  clock?: Clock;
  /** Random source in [0, 1) for spreading and jitter (default Math.random). */
  random?: () => number;
  /** Checks running at once, across all servers (default 256). */
  concurrency?: number;
  /** Interval jitter as a fraction: each interval is `interval x (1 - jitter x r)`, r in [0, 1) (default 0.1). */
  jitter?: number;
  logger?: Logger;
  /**
   * A polled check that has not settled this long after it started counts as
   * failed and frees its slot (default 60000). Built-in checks always settle by
   * their own deadline; this guards against custom checks that never do.
   */
  watchdogMs?: number;
  /** Where check and server figures go (default: a new `MonitorMetrics`; read it as `monitor.metrics`). */
  metrics?: MonitorMetrics;
  /**
   * Start checks due within this many ms of each other together, in one turn
   * of the event loop (default 0: each at its own time). A check then runs at
   * most this much early, never late. With thousands of checks a second,
   * 10 ms roughly halves the CPU per check: the event loop's cost per turn is
   * shared by the checks started in it.
   */
  coalesceMs?: number;
}

export interface MonitorEvents {
  result: [serverId: string, check: string, result: CheckResult];
  event: [serverId: string, event: ServerEvent];
  state: [serverId: string, up: boolean, event: Extract<ServerEvent, { kind: 'state' }>];
  server: [serverId: string, state: ServerState];
  /** The server is no longer monitored: nothing vouches for its health any more. */
  removed: [serverId: string];
  /** Every check of every server has reported at least once (see `whenSettled`). */
  settled: [];
}

interface Entry {
  name: string;
  /** Position of this check in the server's `state.checks` (same order as the spec's checks). */
  index: number;
  check: Check | StatefulCheck;
  intervalMs: number;
  fastIntervalMs: number;
  /** The server this check belongs to. */
  srv: Srv;
  /** Position in the Monitor's schedule heap (-1: not scheduled), and the tie-break among equal times. */
  heapIndex: number;
  seq: number;
  /** When the check is next due, and whether that was set at the fast interval. */
  nextAt: number;
  fast: boolean;
  due: boolean;
  /** This check's metrics series, looked up once. */
  series?: CheckSeries;
}

interface Srv {
  spec: ServerSpec;
  config: ServerConfig;
  state: ServerState;
  entries: Entry[];
  dueList: Entry[];
  busy: boolean;
  queued: boolean;
  abort: AbortController;
  /** The server's running polled check (a server runs one at a time). */
  current: Run | undefined;
  wake?: TimerHandle;
  log: Logger;
  removed: boolean;
}

const DEFAULT_INTERVAL_MS = 2000;

/** One running polled check; built-in checks report to it directly (`CheckSink`). */
class Run implements CheckSink {
  finished = false;
  readonly srv: Srv;
  readonly entry: Entry;
  readonly startedAt: number;
  readonly owner: (run: Run, r: CheckResult | undefined) => void;
  /** The check, when started on the fast path. */
  x: RunningCheck | undefined;
  constructor(srv: Srv, entry: Entry, startedAt: number, owner: (run: Run, r: CheckResult | undefined) => void) {
    this.srv = srv;
    this.entry = entry;
    this.startedAt = startedAt;
    this.owner = owner;
  }
  done(r: CheckResult): void {
    this.owner(this, r);
  }
}

export class Monitor extends EventEmitter<MonitorEvents> {
  readonly metrics: MonitorMetrics;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #concurrency: number;
  readonly #jitter: number;
  readonly #log: Logger;
  readonly #servers = new Map<string, Srv>();
  readonly #ready: Srv[] = [];
  #readyHead = 0;
  #running = 0;
  #started = false;
  readonly #watchdogMs: number;
  /** (server, check) pairs that have not reported yet. */
  #unseen = 0;
  /** Running polled checks, in start order (so the first has the earliest watchdog deadline). */
  readonly #runs = new Set<Run>();
  /** Polled checks by due time (a binary heap), under one clock timer. */
  readonly #heap: Entry[] = [];
  #seq = 0;
  #tick: TimerHandle | undefined;
  #tickAt = 0;
  #ticking = false;
  readonly #coalesceMs: number;
  /** One watchdog timer for all running checks, armed at the oldest one's deadline. */
  #watchdog: TimerHandle | undefined;
  readonly #finishRun = (run: Run, r: CheckResult | undefined): void => this.#finish(run, r);
  readonly #fire = (): void => this.#onTick();
  /** Whether result records go to the logger (not for `noopLogger`: a record object per check otherwise). */
  readonly #traceResults: boolean;

  constructor(options: MonitorOptions = {}) {
    super();
    this.#clock = options.clock ?? realClock;
    this.#random = options.random ?? Math.random;
    this.#concurrency = options.concurrency ?? 256;
    this.#jitter = options.jitter ?? 0.1;
    this.#log = options.logger ?? noopLogger;
    this.#traceResults = this.#log !== noopLogger;
    this.metrics = options.metrics ?? new MonitorMetrics();
    this.#watchdogMs = options.watchdogMs ?? 60_000;
    this.#coalesceMs = options.coalesceMs ?? 0;
    if (!(this.#coalesceMs >= 0) || !Number.isFinite(this.#coalesceMs)) throw new MonitorError('ERR_MONITOR_BAD_CONFIG', `coalesceMs must be a finite number >= 0, got ${this.#coalesceMs}`);
    if (!(this.#watchdogMs > 0)) throw new MonitorError('ERR_MONITOR_BAD_CONFIG', `watchdogMs must be > 0, got ${this.#watchdogMs}`);
    if (!Number.isInteger(this.#concurrency) || this.#concurrency < 1) throw new MonitorError('ERR_MONITOR_BAD_CONFIG', `concurrency must be an integer >= 1, got ${this.#concurrency}`);
    if (!(this.#jitter >= 0 && this.#jitter < 1)) throw new MonitorError('ERR_MONITOR_BAD_CONFIG', `jitter must be within [0, 1), got ${this.#jitter}`);
  }

  /** Checks running now. */
  get running(): number {
    return this.#running;
  }
  /** Servers waiting for a slot. */
  get waiting(): number {
    return this.#ready.length - this.#readyHead;
  }

  /** Add a server; its checks start at once if the monitor runs. Throws `MonitorError` on a bad spec. */
  add(spec: ServerSpec): void {
    if (this.#servers.has(spec.id)) throw new MonitorError('ERR_MONITOR_DUPLICATE', `server ${spec.id} is already monitored`);
    const config: ServerConfig = {
      checks: spec.checks.map((c) => {
        const stateful = isStatefulCheck(c.check);
        const cc: { name: string; rise?: number; fall?: number } = { name: c.name };
        const rise = c.rise ?? (stateful ? 1 : undefined);
        const fall = c.fall ?? (stateful ? 1 : undefined);
        if (rise !== undefined) cc.rise = rise;
        if (fall !== undefined) cc.fall = fall;
        return cc;
      }),
    };
    if (spec.rise !== undefined) config.rise = spec.rise;
    if (spec.fall !== undefined) config.fall = spec.fall;
    if (spec.initial !== undefined) config.initial = spec.initial;
    if (spec.enabled !== undefined) config.enabled = spec.enabled;
    if (spec.damping !== undefined) config.damping = spec.damping;
    let state: ServerState;
    try {
      state = initialServerState(config, this.#clock.now());
    } catch (e) {
      throw new MonitorError('ERR_MONITOR_BAD_CONFIG', `server ${spec.id}: ${describeError(e)}`, { cause: e });
    }
    const entries = spec.checks.map((c): Entry => {
      const intervalMs = c.intervalMs ?? DEFAULT_INTERVAL_MS;
      if (!(intervalMs > 0) || !Number.isFinite(intervalMs)) throw new MonitorError('ERR_MONITOR_BAD_CONFIG', `server ${spec.id} check ${c.name}: intervalMs must be > 0`);
      const fastIntervalMs = c.fastIntervalMs ?? intervalMs;
      if (!(fastIntervalMs > 0) || fastIntervalMs > intervalMs) {
        throw new MonitorError('ERR_MONITOR_BAD_CONFIG', `server ${spec.id} check ${c.name}: fastIntervalMs must be > 0 and <= intervalMs`);
      }
      return { name: c.name, index: 0, check: c.check, intervalMs, fastIntervalMs, srv: undefined as unknown as Srv, heapIndex: -1, seq: 0, nextAt: 0, fast: false, due: false };
    });
    entries.forEach((e, i) => (e.index = i));
    const srv: Srv = {
      spec,
      config,
      state,
      entries,
      dueList: [],
      busy: false,
      queued: false,
      abort: new AbortController(),
      current: undefined,
      log: this.#log.child({ server: spec.id, service: spec.target.service }),
      removed: false,
    };
    for (const e of entries) e.srv = srv;
    this.#servers.set(spec.id, srv);
    this.#unseen += entries.length;
    this.metrics.recordServer(spec.target.service ?? '', spec.id, state.up, state.enabled);
    if (this.#started) this.#startServer(srv);
  }

  /** Stop monitoring a server: its timers end and its running check is aborted. */
  remove(id: string): boolean {
    const srv = this.#servers.get(id);
    if (srv === undefined) return false;
    this.#servers.delete(id);
    this.#stopServer(srv);
    // A check on the fast path was cancelled without a word: free its slot now.
    if (srv.current?.x !== undefined) this.#finish(srv.current, undefined);
    this.#seen(srv.state.checks.filter((c) => c.results === 0).length);
    this.metrics.removeServer(srv.spec.target.service ?? '', id);
    this.emit('removed', id);
    return true;
  }

  /** Enable or disable a server administratively. */
  setEnabled(id: string, enabled: boolean, reason?: string): void {
    const srv = this.#get(id);
    this.#step(srv, reason === undefined ? { type: 'admin', enabled } : { type: 'admin', enabled, reason });
  }

  /** True when every check of every server has reported at least once. */
  get settled(): boolean {
    return this.#unseen === 0;
  }

  /**
   * Resolves once every check of every server has reported at least once: a
   * director that starts with servers down until proven up waits for this
   * before it writes its first pool to the kernel, so a restart never
   * publishes an empty pool. Rejects with an `AbortError` when `signal` fires.
   */
  whenSettled(options: { signal?: AbortSignal } = {}): Promise<void> {
    const { signal } = options;
    if (this.settled) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.off('settled', onSettled);
        reject(abortReason(signal as AbortSignal));
      };
      const onSettled = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      if (signal?.aborted) {
        reject(abortReason(signal));
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.once('settled', onSettled);
    });
  }

  #seen(n: number): void {
    if (n <= 0) return;
    this.#unseen -= n;
    if (this.#unseen === 0) this.emit('settled');
  }

  /** Current state of a server. */
  state(id: string): ServerState | undefined {
    return this.#servers.get(id)?.state;
  }

  /** Ids of monitored servers. */
  ids(): string[] {
    return [...this.#servers.keys()];
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    for (const srv of this.#servers.values()) this.#startServer(srv);
  }

  /** Stop every timer and watch and abort running checks; nothing is reported after this. */
  async stop(): Promise<void> {
    this.#started = false;
    for (const srv of this.#servers.values()) {
      this.#stopServer(srv);
      // A stopped monitor can start again: fresh controllers, nothing due.
      srv.abort = new AbortController();
      srv.removed = false;
    }
    this.#ready.length = 0;
    this.#readyHead = 0;
    // Aborted checks release their sockets and processes synchronously; their results are dropped.
    for (const run of [...this.#runs]) this.#finish(run, undefined);
    this.#watchdog?.cancel();
    this.#watchdog = undefined;
    await Promise.resolve();
  }

  #get(id: string): Srv {
    const srv = this.#servers.get(id);
    if (srv === undefined) throw new MonitorError('ERR_MONITOR_UNKNOWN_SERVER', `no server ${id}`);
    return srv;
  }

  #startServer(srv: Srv): void {
    for (const e of srv.entries) {
      const c = e.check;
      if (isStatefulCheck(c)) {
        c.watch(srv.spec.target, (r) => this.#onResult(srv, e, r), { signal: srv.abort.signal });
      } else {
        // First run at a random point of the first interval.
        this.#arm(srv, e, this.#random() * e.intervalMs);
      }
    }
  }

  #stopServer(srv: Srv): void {
    srv.removed = true;
    srv.abort.abort(new MonitorError('ERR_MONITOR_STOPPED', 'monitor stopped'));
    srv.current?.x?.cancel();
    srv.wake?.cancel();
    for (const e of srv.entries) {
      this.#unschedule(e);
      e.due = false;
    }
    srv.dueList = [];
    srv.queued = false;
    this.#syncTimer();
  }

  /** Whether a check is on its way up or down (then it runs at its fast interval). */
  #transitioning(srv: Srv, e: Entry): boolean {
    if (e.fastIntervalMs >= e.intervalMs) return false;
    const c = srv.state.checks[e.index];
    return c !== undefined && ((c.up && c.failures > 0) || (!c.up && c.successes > 0));
  }

  /**
   * Schedule `e` to fall due `delay` ms from now. Every polled check sits in
   * one heap ordered by due time, under a single clock timer: one timer per
   * check would cost a timer object per run, and checks due together start
   * together (within `coalesceMs`), so the event loop takes them in one turn.
   */
  #arm(srv: Srv, e: Entry, delay: number, fast = false, at = this.#clock.now() + delay): void {
    e.nextAt = at;
    e.fast = fast;
    e.seq = this.#seq++;
    e.srv = srv;
    if (e.heapIndex < 0) {
      e.heapIndex = this.#heap.length;
      this.#heap.push(e);
    }
    this.#siftUp(e.heapIndex);
    this.#siftDown(e.heapIndex);
    this.#syncTimer();
  }

  #unschedule(e: Entry): void {
    const i = e.heapIndex;
    if (i < 0) return;
    const last = this.#heap.pop() as Entry;
    e.heapIndex = -1;
    if (last !== e) {
      this.#heap[i] = last;
      last.heapIndex = i;
      this.#siftUp(i);
      this.#siftDown(last.heapIndex);
    }
  }

  #before(a: Entry, b: Entry): boolean {
    return a.nextAt < b.nextAt || (a.nextAt === b.nextAt && a.seq < b.seq);
  }

  #siftUp(i: number): void {
    const h = this.#heap;
    const e = h[i] as Entry;
    while (i > 0) {
      const pi = (i - 1) >> 1;
      const p = h[pi] as Entry;
      if (!this.#before(e, p)) break;
      h[i] = p;
      p.heapIndex = i;
      i = pi;
    }
    h[i] = e;
    e.heapIndex = i;
  }

  #siftDown(i: number): void {
    const h = this.#heap;
    const n = h.length;
    const e = h[i] as Entry;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.#before(h[r] as Entry, h[l] as Entry) ? r : l;
      const ce = h[c] as Entry;
      if (!this.#before(ce, e)) break;
      h[i] = ce;
      ce.heapIndex = i;
      i = c;
    }
    h[i] = e;
    e.heapIndex = i;
  }

  /** Keep the one clock timer armed for the earliest due check (re-armed only when that moves earlier). */
  #syncTimer(): void {
    if (this.#ticking) return; // #onTick syncs once at its end
    const top = this.#heap[0];
    if (top === undefined) {
      this.#tick?.cancel();
      this.#tick = undefined;
      return;
    }
    if (this.#tick !== undefined && this.#tickAt <= top.nextAt) return;
    this.#tick?.cancel();
    this.#tickAt = top.nextAt;
    this.#tick = this.#clock.setTimer(top.nextAt - this.#clock.now(), this.#fire);
  }

  /** Checks due now (or within `coalesceMs`, so they start in the same turn) go to the queue; then the pump runs once. */
  #onTick(): void {
    this.#tick = undefined;
    this.#ticking = true;
    try {
      // The timer was armed for #tickAt: what was due then is due now, even if a clock
      // runs its timers a little before now() gets there.
      const now = this.#clock.now();
      const limit = Math.max(now, this.#tickAt) + this.#coalesceMs;
      for (let n = this.#heap.length; n > 0; n--) {
        const e = this.#heap[0];
        if (e === undefined || e.nextAt > limit) break;
        const srv = e.srv;
        const f = this.#transitioning(srv, e);
        // Re-armed before anything else: the next run is timed from this one's due time, whatever happens to it
        // (neither a coalesced early start nor a late timer moves the schedule), but never into the past.
        const delay = (f ? e.fastIntervalMs : e.intervalMs) * (1 - this.#jitter * this.#random());
        this.#arm(srv, e, delay, f, Math.max(e.nextAt + delay, now));
        if (e.due) continue; // still waiting from last time: don't queue it twice
        e.due = true;
        srv.dueList.push(e);
        if (!srv.busy && !srv.queued) {
          srv.queued = true;
          this.#ready.push(srv);
        }
      }
    } finally {
      this.#ticking = false;
    }
    this.#syncTimer();
    this.#pump();
  }

  #pump(): void {
    while (this.#running < this.#concurrency && this.#readyHead < this.#ready.length) {
      const srv = this.#ready[this.#readyHead++] as Srv;
      if (this.#readyHead > 1024 && this.#readyHead * 2 > this.#ready.length) {
        this.#ready.splice(0, this.#readyHead);
        this.#readyHead = 0;
      }
      srv.queued = false;
      if (srv.removed || srv.busy) continue;
      const e = srv.dueList.shift();
      if (e === undefined) continue;
      e.due = false;
      this.#run(srv, e);
    }
  }

  #run(srv: Srv, e: Entry): void {
    srv.busy = true;
    this.#running++;
    const run = new Run(srv, e, this.#clock.now(), this.#finishRun);
    this.#runs.add(run);
    srv.current = run;
    // A check that never settles (a bug in it) must not freeze its server's state or hold a slot forever.
    if (this.#watchdog === undefined) this.#armWatchdog(run.startedAt + this.#watchdogMs);
    const c = e.check as Check;
    if (isStartable(c)) {
      // Built-in checks: no promise, signal or closures per run; stop and remove cancel through `run.x`.
      // (A check may decline a target: then it runs as any other check, below.)
      run.x = c[START](srv.spec.target, run);
      if (run.x !== undefined) return;
    }
    const signal = srv.abort.signal;
    let p: Promise<CheckResult>;
    try {
      p = (e.check as Check).check(srv.spec.target, { signal });
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(
      (r) => this.#finish(run, r),
      // A cancelled check says nothing about the server; anything else is a failed check.
      (err: unknown) =>
        this.#finish(run, signal.aborted || isLvskitError(err, 'ERR_ABORTED') ? undefined : { ok: false, reason: describeError(err), latencyMs: 0 }),
    );
  }

  #armWatchdog(at: number): void {
    this.#watchdog = this.#clock.setTimer(at - this.#clock.now(), () => this.#sweep());
  }

  /** Fail the checks past the watchdog deadline, then re-arm for the oldest one left. */
  #sweep(): void {
    this.#watchdog = undefined;
    const now = this.#clock.now();
    const ms = this.#watchdogMs;
    for (const run of this.#runs) {
      const deadline = run.startedAt + ms;
      if (deadline > now) {
        // (A check started by the pump during this sweep may have armed it already.)
        if (this.#watchdog === undefined) this.#armWatchdog(deadline);
        return;
      }
      run.x?.cancel();
      this.#finish(run, { ok: false, reason: `check did not settle within ${ms} ms (watchdog)`, latencyMs: ms, details: { watchdog: true } });
    }
  }

  #finish(run: Run, r: CheckResult | undefined): void {
    if (run.finished) return;
    run.finished = true;
    this.#runs.delete(run);
    this.#running--;
    const srv = run.srv;
    srv.busy = false;
    if (srv.current === run) srv.current = undefined;
    if (r !== undefined && !srv.removed) this.#onResult(srv, run.entry, r);
    if (!srv.removed && srv.dueList.length > 0 && !srv.queued) {
      srv.queued = true;
      this.#ready.push(srv);
    }
    this.#pump();
  }

  #onResult(srv: Srv, e: Entry, r: CheckResult): void {
    if (srv.removed) return;
    e.series ??= this.metrics.checkSeries({ service: srv.spec.target.service ?? '', server: srv.spec.id, check: e.name, kind: e.check.kind });
    this.metrics.recordTo(e.series, r);
    if (this.#traceResults) srv.log.trace({ check: e.name, ok: r.ok, reason: r.reason, latencyMs: r.latencyMs }, 'check result');
    this.emit('result', srv.spec.id, e.name, r);
    const first = srv.state.checks[e.index]?.results === 0;
    // Counters only (most results): in place, no new state and no event; else a full step.
    if (!recordQuietResult(srv.config, srv.state, e.index, r, this.#clock.now())) this.#step(srv, { type: 'result', check: e.name, result: r });
    if (first) this.#seen(1);
    // Entering a transition brings the next run forward to the fast interval; leaving one
    // (the check just turned up or down) puts it back on the normal interval.
    if (e.fastIntervalMs < e.intervalMs && !e.due && !srv.removed && !isStatefulCheck(e.check)) {
      const f = this.#transitioning(srv, e);
      if (f !== e.fast) {
        const next = (f ? e.fastIntervalMs : e.intervalMs) * (1 - this.#jitter * this.#random());
        if (!f || next < e.nextAt - this.#clock.now()) {
          this.#arm(srv, e, next, f);
        }
      }
    }
  }

  #step(srv: Srv, input: ServerInput): void {
    const step = stepServer(srv.config, srv.state, input, this.#clock.now());
    srv.state = step.state;
    srv.wake?.cancel();
    if (step.wakeAt !== undefined && !srv.removed) {
      srv.wake = this.#clock.setTimer(step.wakeAt - this.#clock.now(), () => this.#step(srv, { type: 'tick' }));
    }
    if (step.events.length === 0) return;
    const id = srv.spec.id;
    this.metrics.recordServer(srv.spec.target.service ?? '', id, srv.state.up, srv.state.enabled);
    for (const ev of step.events) {
      if (ev.kind === 'state') srv.log.info({ up: ev.up, reason: ev.reason, check: ev.check }, ev.up ? 'server up' : 'server down');
      else srv.log.debug({ event: ev.kind, reason: ev.reason }, 'server event');
      this.emit('event', id, ev);
      if (ev.kind === 'state') this.emit('state', id, ev.up, ev);
    }
    this.emit('server', id, srv.state);
  }
}
