/**
 * netlab: throwaway network labs made of Linux network namespaces, for the `lab` test tier.
 *
 * ```ts
 * const lab = await createLab({
 *   hosts: {
 *     r1: { ipv4: ['10.10.0.1/24'], ipv6: ['fd00:10::1/64'] },
 *     d1: { ipv4: ['10.10.0.2/24'], ipv6: ['fd00:10::2/64'], routes: [{ to: 'default', via: '10.10.0.1' }] },
 *   },
 * }, { signal });
 * await lab.exec('r1', ['ping', '-c1', '-W1', lab.hosts.d1.addr4]);
 * const bird = lab.spawn('r1', ['bird', '-f', '-c', conf]);   // tracked, killed at teardown
 * await bird.waitForOutput(/Started/);
 * await lab.destroy();                                           // idempotent
 * ```
 *
 * Topology: one L2 segment. Each host is a namespace `lvk-<runId>-<host>` with `lo` up and one
 * veth end (`eth0`); the other end (`v-<host>`) is a port of bridge `br0`, which lives in its own
 * namespace `lvk-<runId>-br`. Nothing is ever created in the root namespace, so interface names
 * cannot collide between runs and deleting the namespaces deletes everything.
 *
 * IPv6: DAD is off in the host namespaces (sysctl before the veths exist, plus `nodad`), so
 * link-local and configured addresses are usable at once; setup still waits until no address is
 * tentative and the link has carrier. IPv6 is disabled in the bridge namespace, which keeps the
 * segment free of the bridge's own ND/MLD chatter.
 *
 * Teardown happens on `destroy()`, on abort of the `signal` given to createLab (pass vitest's
 * test-context signal), on process exit/SIGINT/SIGTERM/SIGHUP (synchronously), and, when this
 * process dies in a way no handler sees (SIGKILL, crash), in a detached guardian process
 * (guardian.mjs) that notices its stdin pipe closing. `cleanupStale()` is the janitor for the rest.
 * All of it shares one teardown routine in core.mjs, driven by a state record written before
 * anything is created.
 */

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { fileURLToPath } from 'node:url';
import {
  LabError,
  NS_PREFIX,
  checkLabPrerequisites,
  ipBin,
  isAlive,
  listNamespaces,
  procStat,
  recordPath,
  signalTree,
  stateDir,
  teardownSync,
  writeRecord,
} from './core.mjs';
import type { LabRecord } from './core.mjs';

export { LabError, checkLabPrerequisites, cleanupStale, isAlive, listNamespaces, stateDir } from './core.mjs';
export type { CleanupStaleResult, LabRecord } from './core.mjs';

// ---------------------------------------------------------------------------------------------
// public types

export interface LabRoute {
  /** Destination prefix (`10.20.0.0/16`, `fd00:20::/48`) or `default` / `default6`. */
  to: string;
  via?: string;
  dev?: string;
  metric?: number;
  src?: string;
}

export interface HostSpec {
  /** Addresses with prefix length, `10.10.0.1/24`. */
  ipv4?: readonly string[];
  /** Addresses with prefix length, `fd00:10::1/64`; added with `nodad`. */
  ipv6?: readonly string[];
  routes?: readonly LabRoute[];
  /** Extra sysctls set inside the host namespace after its interfaces exist. */
  sysctls?: Readonly<Record<string, string | number>>;
  /** Turn on IPv4 and IPv6 forwarding (a router). */
  forwarding?: boolean;
  /** Name of the host's interface on the segment; default `eth0`. */
  ifname?: string;
}

export interface LabSpec {
  /** Host names: a lowercase letter, then up to 12 of [a-z0-9-]; `br` is reserved. */
  hosts: Readonly<Record<string, HostSpec>>;
}

export interface LabOptions {
  /** Aborting it cancels setup, and afterwards destroys the lab (vitest's test-context signal fits). */
  signal?: AbortSignal;
  /** Bound on setup; default 30 s. */
  timeoutMs?: number;
  /** Directory of the lab's state record; default $LVSKIT_LAB_STATE_DIR or /run/lvskit-lab. */
  stateDir?: string;
}

export interface LabHost {
  readonly name: string;
  /** The network namespace name, unique per run. */
  readonly ns: string;
  /** `/run/netns/<ns>`, for tools that take a namespace path. */
  readonly nsPath: string;
  readonly ifname: string;
  /** Configured addresses without prefix length. */
  readonly ipv4: readonly string[];
  readonly ipv6: readonly string[];
  /** First IPv4 / IPv6 address; throws ERR_LAB_NO_ADDRESS when the host has none. */
  readonly addr4: string;
  readonly addr6: string;
}

export interface ExecOptions {
  signal?: AbortSignal;
  /** Kill the process group and reject with ERR_LAB_EXEC_TIMEOUT after this long; default 30 s. */
  timeoutMs?: number;
  input?: string | Uint8Array;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Reject with ERR_LAB_EXEC_FAILED unless the exit code is 0. */
  check?: boolean;
}

export interface ExecResult {
  /** Exit code, or null when the process was ended by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** `pipe` to write to `child.stdin`; default `ignore`. */
  stdin?: 'ignore' | 'pipe';
  /** Keep at most this many characters of output per stream (the tail); default 1 MiB. */
  maxOutput?: number;
}

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface LabProcess {
  readonly host: string;
  readonly argv: readonly string[];
  readonly pid: number;
  readonly child: ChildProcess;
  /** Output so far (tail, capped): stdout, stderr, and both interleaved as they arrived. */
  readonly stdout: string;
  readonly stderr: string;
  readonly output: string;
  readonly running: boolean;
  /** Resolves (never rejects) when the process has exited. */
  readonly exited: Promise<ProcessExit>;
  /**
   * Resolves with the match once the combined output matches `pattern`; rejects with
   * ERR_LAB_PROCESS_EXITED if the process exits first, ERR_LAB_WAIT_TIMEOUT after `timeoutMs`
   * (default 15 s). Both errors carry the output in their message.
   */
  waitForOutput(pattern: RegExp | string, options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<RegExpMatchArray>;
  /** Signal the process group, wait up to `graceMs` (default 2 s), then SIGKILL it. */
  stop(options?: { signal?: NodeJS.Signals; graceMs?: number }): Promise<ProcessExit>;
}

export interface Lab<H extends string = string> {
  /** Run id, part of every namespace name. */
  readonly id: string;
  readonly hosts: { readonly [K in H]: LabHost };
  /** Namespace of the bridge that forms the segment. */
  readonly bridgeNs: string;
  /** All namespaces of this lab, bridge first. */
  readonly namespaces: readonly string[];
  readonly stateFile: string;
  readonly guardianPid: number | undefined;
  readonly destroyed: boolean;
  /** Run argv (no shell) inside the host's namespace via `ip netns exec`. */
  exec(host: H, argv: readonly string[], options?: ExecOptions): Promise<ExecResult>;
  /** `ip -n <ns> <args>`: inspect or change the host's network config. */
  ip(host: H, args: readonly string[], options?: ExecOptions): Promise<ExecResult>;
  /** Start a long-running process inside the host's namespace; tracked and killed at teardown. */
  spawn(host: H, argv: readonly string[], options?: SpawnOptions): LabProcess;
  /** Kill every process, delete every namespace. Idempotent; concurrent calls share one teardown. */
  destroy(): Promise<void>;
}

export type HostNames<S extends LabSpec> = Extract<keyof S['hosts'], string>;

// ---------------------------------------------------------------------------------------------
// entry points

const GUARDIAN = fileURLToPath(new URL('./guardian.mjs', import.meta.url));
const HOST_RE = /^[a-z][a-z0-9-]{0,12}$/;
const IFNAME_RE = /^[A-Za-z][A-Za-z0-9_.-]{0,14}$/;
const SYSCTL_KEY_RE = /^[A-Za-z0-9_.\-/]+$/;
const BRIDGE = 'br0';
const DEFAULT_SETUP_TIMEOUT_MS = 30_000;
const DEFAULT_EXEC_TIMEOUT_MS = 30_000;

/** Build a lab; on any failure (or abort) everything created so far is torn down before rejecting. */
export async function createLab<const S extends LabSpec>(spec: S, options: LabOptions = {}): Promise<Lab<HostNames<S>>> {
  checkLabPrerequisites();
  const plan = planHosts(spec);
  throwIfAborted(options.signal, 'createLab');
  const setupSignal = withTimeout(options.signal, options.timeoutMs ?? DEFAULT_SETUP_TIMEOUT_MS);
  const lab = new LabImpl<HostNames<S>>(plan, options.stateDir ?? stateDir());
  try {
    await lab.start(setupSignal);
    await lab.setup(setupSignal);
  } catch (err) {
    await lab.destroy().catch(() => {});
    throw toLabError(err, setupSignal, 'ERR_LAB_SETUP', 'lab setup failed');
  }
  lab.attachSignal(options.signal);
  return lab;
}

/** createLab, run `fn`, and destroy the lab whatever `fn` did. `fn`'s error wins over teardown's. */
export async function withLab<const S extends LabSpec, T>(
  spec: S,
  fn: (lab: Lab<HostNames<S>>) => Promise<T> | T,
  options?: LabOptions,
): Promise<T> {
  const lab = await createLab(spec, options);
  let result: T;
  try {
    result = await fn(lab);
  } catch (err) {
    await lab.destroy().catch(() => {});
    throw err;
  }
  await lab.destroy();
  return result;
}

// ---------------------------------------------------------------------------------------------
// planning

interface HostPlan {
  name: string;
  ifname: string;
  port: string;
  v4: { addr: string; cidr: string }[];
  v6: { addr: string; cidr: string }[];
  routes: LabRoute[];
  sysctls: [string, string][];
}

function specError(message: string): LabError {
  return new LabError('ERR_LAB_SPEC', message);
}

function parseCidr(cidr: string, family: 4 | 6, host: string): { addr: string; cidr: string } {
  const m = /^([^/\s]+)\/(\d{1,3})$/.exec(cidr);
  const addr = m?.[1];
  const len = Number(m?.[2]);
  const ok = addr !== undefined && (family === 4 ? isIPv4(addr) && len <= 32 : isIPv6(addr) && len <= 128);
  if (!ok) throw specError(`host ${host}: '${cidr}' is not an IPv${family} address with prefix length`);
  return { addr, cidr };
}

function checkToken(value: string, what: string, host: string): string {
  if (!/^[A-Za-z0-9_.:/-]+$/.test(value)) throw specError(`host ${host}: bad ${what} '${value}'`);
  return value;
}

function planHosts(spec: LabSpec): HostPlan[] {
  if (typeof spec !== 'object' || spec === null || typeof spec.hosts !== 'object' || spec.hosts === null) {
    throw specError('spec.hosts must be an object of host specs');
  }
  const names = Object.keys(spec.hosts);
  if (names.length === 0) throw specError('a lab needs at least one host');
  if (names.length > 64) throw specError('at most 64 hosts per lab');
  return names.map((name) => {
    if (!HOST_RE.test(name) || name === 'br') {
      throw specError(`bad host name '${name}': a lowercase letter then up to 12 of [a-z0-9-], not 'br'`);
    }
    const h = spec.hosts[name] ?? {};
    const ifname = h.ifname ?? 'eth0';
    if (!IFNAME_RE.test(ifname) || ifname === 'lo') throw specError(`host ${name}: bad ifname '${ifname}'`);
    for (const r of h.routes ?? []) {
      if (r.to !== 'default' && r.to !== 'default6' && !/^[0-9A-Fa-f.:]+\/\d{1,3}$/.test(r.to)) {
        throw specError(`host ${name}: bad route destination '${r.to}'`);
      }
      if (r.via !== undefined && !isIPv4(r.via) && !isIPv6(r.via)) throw specError(`host ${name}: bad route via '${r.via}'`);
      if (r.src !== undefined && !isIPv4(r.src) && !isIPv6(r.src)) throw specError(`host ${name}: bad route src '${r.src}'`);
      if (r.dev !== undefined && !IFNAME_RE.test(r.dev)) throw specError(`host ${name}: bad route dev '${r.dev}'`);
      if (r.metric !== undefined && !(Number.isInteger(r.metric) && r.metric >= 0)) throw specError(`host ${name}: bad metric`);
    }
    const sysctls: [string, string][] = Object.entries(h.sysctls ?? {}).map(([k, v]) => {
      if (!SYSCTL_KEY_RE.test(k)) throw specError(`host ${name}: bad sysctl key '${k}'`);
      return [k, String(v)];
    });
    if (h.forwarding === true) {
      sysctls.unshift(['net.ipv4.ip_forward', '1'], ['net.ipv6.conf.all.forwarding', '1']);
    }
    return {
      name,
      ifname,
      port: `v-${name}`,
      v4: (h.ipv4 ?? []).map((c) => parseCidr(c, 4, name)),
      v6: (h.ipv6 ?? []).map((c) => parseCidr(c, 6, name)),
      routes: (h.routes ?? []).map((r) => ({ ...r, dev: r.dev === undefined ? undefined : checkToken(r.dev, 'dev', name) })),
      sysctls,
    };
  });
}

function routeLine(r: LabRoute, ifname: string): string {
  // `ip -batch` has no per-line -4/-6: the family comes from the destination or the gateway,
  // so `default6` is spelled `::/0` (and `default via <v6>` is IPv6 by its gateway).
  const words = ['route', 'add', r.to === 'default6' ? '::/0' : r.to];
  if (r.via !== undefined) words.push('via', r.via);
  words.push('dev', r.dev ?? ifname);
  if (r.metric !== undefined) words.push('metric', String(r.metric));
  if (r.src !== undefined) words.push('src', r.src);
  return words.join(' ');
}

// ---------------------------------------------------------------------------------------------
// process plumbing

function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted === true) throw abortError(signal, what);
}

function abortError(signal: AbortSignal, what: string): LabError {
  const reason: unknown = signal.reason;
  const timedOut = reason instanceof Error && reason.name === 'TimeoutError';
  return timedOut
    ? new LabError('ERR_LAB_TIMEOUT', `${what}: timed out`, { cause: reason })
    : new LabError('ERR_LAB_ABORTED', `${what}: aborted`, { cause: reason });
}

function withTimeout(signal: AbortSignal | undefined, ms: number): AbortSignal {
  const t = AbortSignal.timeout(ms);
  return signal === undefined ? t : AbortSignal.any([signal, t]);
}

function toLabError(err: unknown, signal: AbortSignal, code: string, message: string): LabError {
  if (err instanceof LabError) return err;
  if (signal.aborted) return abortError(signal, message);
  return new LabError(code, `${message}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

function killGroup(pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid !== undefined) signalTree(pid, sig);
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function appendCapped(buf: string, chunk: string, max: number): string {
  const s = buf + chunk;
  return s.length > max ? s.slice(s.length - max) : s;
}

interface RunOptions extends ExecOptions {
  what: string;
  track?: Set<ChildProcess>;
}

/** Spawn argv in its own process group, collect output, bounded by timeout and signal. */
function run(file: string, args: readonly string[], o: RunOptions): Promise<ExecResult> {
  return new Promise<ExecResult>((resolve, reject) => {
    if (o.signal?.aborted === true) {
      reject(abortError(o.signal, o.what));
      return;
    }
    const max = 4 << 20;
    const child = spawn(file, args, {
      detached: true,
      stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: o.env,
      cwd: o.cwd,
    });
    o.track?.add(child);
    let stdout = '';
    let stderr = '';
    let failure: LabError | undefined;
    let settled = false;
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout = appendCapped(stdout, d, max)));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = appendCapped(stderr, d, max)));
    const timeoutMs = o.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
    const timer = setTimeout(() => {
      failure ??= new LabError('ERR_LAB_EXEC_TIMEOUT', `${o.what}: no exit after ${timeoutMs} ms`);
      killGroup(child.pid, 'SIGKILL');
    }, timeoutMs);
    const onAbort = (): void => {
      if (o.signal !== undefined) failure ??= abortError(o.signal, o.what);
      killGroup(child.pid, 'SIGKILL');
    };
    o.signal?.addEventListener('abort', onAbort, { once: true });
    let closeTimer: NodeJS.Timeout | undefined;
    const settle = (code: number | null, sig: NodeJS.Signals | null, err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(closeTimer);
      o.signal?.removeEventListener('abort', onAbort);
      o.track?.delete(child);
      if (err !== undefined) {
        reject(new LabError('ERR_LAB_SPAWN', `${o.what}: cannot spawn ${file}: ${err.message}`, { cause: err }));
      } else if (failure !== undefined) {
        reject(failure);
      } else {
        const result = { code, signal: sig, stdout, stderr };
        if (o.check === true && code !== 0) {
          const detail = `${stderr.trim() || stdout.trim()}`.slice(-2000);
          reject(
            Object.assign(new LabError('ERR_LAB_EXEC_FAILED', `${o.what}: exit ${code ?? sig}${detail ? `: ${detail}` : ''}`), {
              result,
            }),
          );
        } else {
          resolve(result);
        }
      }
    };
    child.on('error', (err) => settle(null, null, err));
    child.on('close', (code, sig) => settle(code, sig));
    // A background grandchild may keep our pipes open: after exit, give 'close' a moment.
    child.on('exit', (code, sig) => {
      closeTimer = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        settle(code, sig);
      }, 500);
    });
    if (o.input !== undefined) child.stdin?.end(o.input);
  });
}

class LabProcessImpl implements LabProcess {
  readonly pid: number;
  readonly exited: Promise<ProcessExit>;
  #stdout = '';
  #stderr = '';
  #output = '';
  #exit: ProcessExit | undefined;
  #listeners = new Set<() => void>();

  constructor(
    readonly host: string,
    readonly argv: readonly string[],
    readonly child: ChildProcess,
    max: number,
  ) {
    if (child.pid === undefined) throw new LabError('ERR_LAB_SPAWN', `cannot spawn ${argv.join(' ')} in ${host}`);
    this.pid = child.pid;
    const notify = (): void => {
      for (const l of [...this.#listeners]) l();
    };
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      this.#stdout = appendCapped(this.#stdout, d, max);
      this.#output = appendCapped(this.#output, d, max);
      notify();
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      this.#stderr = appendCapped(this.#stderr, d, max);
      this.#output = appendCapped(this.#output, d, max);
      notify();
    });
    this.exited = new Promise<ProcessExit>((resolve) => {
      const done = (e: ProcessExit): void => {
        this.#exit ??= e;
        resolve(this.#exit);
        notify();
      };
      child.on('exit', (code, signal) => done({ code, signal }));
      child.on('error', () => done({ code: null, signal: null }));
    });
  }

  get stdout(): string {
    return this.#stdout;
  }
  get stderr(): string {
    return this.#stderr;
  }
  get output(): string {
    return this.#output;
  }
  get running(): boolean {
    return this.#exit === undefined;
  }

  waitForOutput(pattern: RegExp | string, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<RegExpMatchArray> {
    const re =
      typeof pattern === 'string'
        ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        : new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''));
    const timeoutMs = options.timeoutMs ?? 15_000;
    const what = `${this.host}: ${this.argv.join(' ')}`;
    return new Promise<RegExpMatchArray>((resolve, reject) => {
      if (options.signal?.aborted === true) {
        reject(abortError(options.signal, `waiting for ${re} from ${what}`));
        return;
      }
      const finish = (err: LabError | undefined, m?: RegExpMatchArray): void => {
        this.#listeners.delete(check);
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        if (err !== undefined) reject(err);
        else if (m !== undefined) resolve(m);
      };
      const check = (): void => {
        const m = re.exec(this.#output);
        if (m !== null) finish(undefined, m);
        else if (this.#exit !== undefined) {
          finish(
            new LabError(
              'ERR_LAB_PROCESS_EXITED',
              `${what} exited (${this.#exit.code ?? this.#exit.signal}) before printing ${re}; output:\n${this.#output.slice(-4000)}`,
            ),
          );
        }
      };
      const onAbort = (): void => {
        if (options.signal !== undefined) finish(abortError(options.signal, `waiting for ${re} from ${what}`));
      };
      const timer = setTimeout(() => {
        finish(new LabError('ERR_LAB_WAIT_TIMEOUT', `${what}: no ${re} within ${timeoutMs} ms; output:\n${this.#output.slice(-4000)}`));
      }, timeoutMs);
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.#listeners.add(check);
      check();
    });
  }

  async stop(options: { signal?: NodeJS.Signals; graceMs?: number } = {}): Promise<ProcessExit> {
    if (this.#exit !== undefined) return this.#exit;
    killGroup(this.pid, options.signal ?? 'SIGTERM');
    const grace = options.graceMs ?? 2000;
    const first = await Promise.race([this.exited, delay(grace).then(() => undefined)]);
    if (first !== undefined) return first;
    killGroup(this.pid, 'SIGKILL');
    const second = await Promise.race([this.exited, delay(2000).then(() => undefined)]);
    return second ?? { code: null, signal: 'SIGKILL' };
  }
}

class HostImpl implements LabHost {
  readonly ipv4: readonly string[];
  readonly ipv6: readonly string[];
  readonly nsPath: string;
  constructor(
    readonly name: string,
    readonly ns: string,
    readonly ifname: string,
    plan: HostPlan,
  ) {
    this.ipv4 = plan.v4.map((a) => a.addr);
    this.ipv6 = plan.v6.map((a) => a.addr);
    this.nsPath = `/run/netns/${ns}`;
  }
  get addr4(): string {
    const a = this.ipv4[0];
    if (a === undefined) throw new LabError('ERR_LAB_NO_ADDRESS', `host ${this.name} has no IPv4 address`);
    return a;
  }
  get addr6(): string {
    const a = this.ipv6[0];
    if (a === undefined) throw new LabError('ERR_LAB_NO_ADDRESS', `host ${this.name} has no IPv6 address`);
    return a;
  }
}

// ---------------------------------------------------------------------------------------------
// in-process teardown on exit and signals

const liveLabs = new Set<LabImpl<string>>();
let handlersInstalled = false;

function onProcessExit(): void {
  for (const lab of [...liveLabs]) lab.destroySync();
}

function onFatalSignal(sig: NodeJS.Signals): void {
  onProcessExit();
  uninstallHandlers();
  // Nobody else listening: behave like the default action and die by the same signal.
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
}

const FATAL_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', onProcessExit);
  for (const s of FATAL_SIGNALS) process.on(s, onFatalSignal);
}

function uninstallHandlers(): void {
  if (!handlersInstalled) return;
  handlersInstalled = false;
  process.off('exit', onProcessExit);
  for (const s of FATAL_SIGNALS) process.off(s, onFatalSignal);
}

// ---------------------------------------------------------------------------------------------
// the lab

function newRunId(): string {
  return randomBytes(5).readUIntBE(0, 5).toString(36).padStart(8, '0').slice(-8);
}

class LabImpl<H extends string> implements Lab<H> {
  readonly id: string;
  readonly hosts: { readonly [K in H]: LabHost };
  readonly bridgeNs: string;
  readonly namespaces: readonly string[];
  readonly stateFile: string;
  #plan: HostPlan[];
  #dir: string;
  #record: LabRecord;
  #guardian: ChildProcess | undefined;
  #procs = new Set<LabProcessImpl>();
  #execs = new Set<ChildProcess>();
  #destroying: Promise<void> | undefined;
  #destroyed = false;
  #detachSignal: (() => void) | undefined;

  constructor(plan: HostPlan[], dir: string) {
    this.#plan = plan;
    this.#dir = dir;
    // Claim a run id: the record is created exclusively, and no namespace may carry the prefix.
    const existing = listNamespaces();
    let claimed: { id: string; record: LabRecord } | undefined;
    for (let attempt = 0; attempt < 8 && claimed === undefined; attempt++) {
      const id = newRunId();
      if (existing.some((ns) => ns.startsWith(`${NS_PREFIX}${id}-`))) continue;
      const record: LabRecord = {
        v: 1,
        runId: id,
        ownerPid: process.pid,
        ownerStart: procStat(process.pid)?.start,
        namespaces: [`${NS_PREFIX}${id}-br`, ...plan.map((h) => `${NS_PREFIX}${id}-${h.name}`)],
        pids: [],
        createdAt: new Date().toISOString(),
      };
      try {
        writeRecord(record, { exclusive: true, dir });
        claimed = { id, record };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new LabError('ERR_LAB_STATE', `cannot write lab state record: ${(err as Error).message}`, { cause: err });
        }
      }
    }
    if (claimed === undefined) throw new LabError('ERR_LAB_STATE', 'could not claim a unique lab run id');
    this.id = claimed.id;
    this.#record = claimed.record;
    this.stateFile = recordPath(this.id, dir);
    this.bridgeNs = `${NS_PREFIX}${this.id}-br`;
    this.namespaces = [...this.#record.namespaces];
    const hosts: Record<string, LabHost> = {};
    for (const h of plan) hosts[h.name] = new HostImpl(h.name, `${NS_PREFIX}${this.id}-${h.name}`, h.ifname, h);
    this.hosts = hosts as { readonly [K in H]: LabHost };
    liveLabs.add(this as unknown as LabImpl<string>);
    installHandlers();
  }

  get guardianPid(): number | undefined {
    return this.#guardian?.pid;
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** Start the guardian before the first namespace exists. */
  async start(signal: AbortSignal): Promise<void> {
    const env: NodeJS.ProcessEnv = { ...process.env, LVSKIT_LAB_STATE_DIR: this.#dir };
    delete env.NODE_OPTIONS;
    const g = spawn(process.execPath, [GUARDIAN, this.id, String(process.pid), this.#record.ownerStart ?? '-'], {
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
      env,
    });
    this.#guardian = g;
    await new Promise<void>((resolve, reject) => {
      g.once('spawn', resolve);
      g.once('error', (err) => reject(new LabError('ERR_LAB_GUARDIAN', `cannot start lab guardian: ${err.message}`, { cause: err })));
    });
    g.stdin?.on('error', () => {});
    // Neither the guardian nor its pipe may keep this process alive.
    g.unref();
    (g.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    this.#record.guardianPid = g.pid;
    this.#record.guardianStart = g.pid === undefined ? undefined : procStat(g.pid)?.start;
    writeRecord(this.#record, { dir: this.#dir });
    throwIfAborted(signal, 'createLab');
  }

  async setup(signal: AbortSignal): Promise<void> {
    const br = this.bridgeNs;
    const nsOf = (h: HostPlan): string => `${NS_PREFIX}${this.id}-${h.name}`;

    // 1. Namespaces, sysctls that must precede the interfaces, bridge and veths: one ip process.
    //    The veth ends are created directly in their namespaces; nothing touches the root ns.
    const a: string[] = [`netns add ${br}`, ...this.#plan.map((h) => `netns add ${nsOf(h)}`)];
    a.push(`netns exec ${br} sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1`);
    for (const h of this.#plan) {
      a.push(`netns exec ${nsOf(h)} sysctl -q -w net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0`);
    }
    a.push(`link add name ${BRIDGE} netns ${br} type bridge stp_state 0 forward_delay 0 mcast_snooping 0`);
    for (const h of this.#plan) a.push(`link add name ${h.port} netns ${br} type veth peer name ${h.ifname} netns ${nsOf(h)}`);
    await this.#batch([], a, signal);

    // 2. Bridge ports up (carrier for the host ends).
    const b = ['link set lo up', `link set ${BRIDGE} up`];
    for (const h of this.#plan) b.push(`link set ${h.port} master ${BRIDGE}`, `link set ${h.port} up`);
    await this.#batch(['-n', br], b, signal);

    // 3. Hosts, in parallel: lo, addresses, link up; then user sysctls.
    await Promise.all(
      this.#plan.map(async (h) => {
        const c = ['link set lo up'];
        for (const x of h.v4) c.push(`address add ${x.cidr} dev ${h.ifname}`);
        for (const x of h.v6) c.push(`address add ${x.cidr} dev ${h.ifname} nodad`);
        c.push(`link set ${h.ifname} up`);
        await this.#batch(['-n', nsOf(h)], c, signal);
        if (h.sysctls.length > 0) {
          await run(ipBin(), ['netns', 'exec', nsOf(h), 'sysctl', '-q', '-w', ...h.sysctls.map(([k, v]) => `${k}=${v}`)], {
            what: `sysctls in ${h.name}`,
            signal,
            check: true,
            timeoutMs: 10_000,
          });
        }
      }),
    );

    // 4. Wait for carrier and usable (non-tentative) addresses, then routes (a gateway must be
    //    reachable on an up link before the kernel accepts a route via it).
    await Promise.all(
      this.#plan.map(async (h) => {
        await this.#waitReady(h, nsOf(h), signal);
        if (h.routes.length > 0) {
          await this.#batch(['-n', nsOf(h)], h.routes.map((r) => routeLine(r, h.ifname)), signal);
        }
      }),
    );
  }

  async #batch(prefix: string[], lines: string[], signal: AbortSignal): Promise<void> {
    const args = [...prefix, '-batch', '-'];
    const r = await run(ipBin(), args, { what: `ip ${args.join(' ')}`, input: `${lines.join('\n')}\n`, signal, timeoutMs: 15_000 });
    if (r.code !== 0) {
      const lineNo = Number(/Command failed -:(\d+)/.exec(r.stderr)?.[1]);
      const line = Number.isInteger(lineNo) ? lines[lineNo - 1] : undefined;
      throw new LabError(
        'ERR_LAB_SETUP',
        `ip ${args.join(' ')} failed${line === undefined ? '' : ` at "${line}"`}: ${r.stderr.trim()}`,
      );
    }
  }

  async #waitReady(h: HostPlan, ns: string, signal: AbortSignal): Promise<void> {
    let last = '';
    for (let i = 0; i < 1000; i++) {
      throwIfAborted(signal, `waiting for ${h.name}/${h.ifname}`);
      const r = await run(ipBin(), ['-j', '-n', ns, 'address', 'show', 'dev', h.ifname], {
        what: `ip -n ${ns} address show`,
        signal,
        timeoutMs: 5000,
      });
      last = r.stdout + r.stderr;
      if (r.code === 0 && isReady(r.stdout, h)) return;
      if (/dadfailed/.test(r.stdout)) throw new LabError('ERR_LAB_SETUP', `${h.name}: IPv6 DAD failed: ${r.stdout}`);
      await delay(Math.min(5 + i * 5, 50));
    }
    throw new LabError('ERR_LAB_SETUP', `${h.name}/${h.ifname} not ready: ${last}`);
  }

  attachSignal(signal: AbortSignal | undefined): void {
    if (signal === undefined) return;
    const onAbort = (): void => void this.destroy().catch(() => {});
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    this.#detachSignal = () => signal.removeEventListener('abort', onAbort);
  }

  #ns(host: H): string {
    if (this.#destroyed || this.#destroying !== undefined) {
      throw new LabError('ERR_LAB_DESTROYED', `lab ${this.id} is destroyed`);
    }
    const h = (this.hosts as Record<string, LabHost | undefined>)[host];
    if (h === undefined) throw new LabError('ERR_LAB_NO_HOST', `lab ${this.id} has no host '${String(host)}'`);
    return h.ns;
  }

  async exec(host: H, argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    const ns = this.#ns(host);
    if (argv.length === 0) throw new LabError('ERR_LAB_SPEC', 'exec needs a command');
    return run(ipBin(), ['netns', 'exec', ns, ...argv], { ...options, what: `${host}: ${argv.join(' ')}`, track: this.#execs });
  }

  async ip(host: H, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    const ns = this.#ns(host);
    return run(ipBin(), ['-n', ns, ...args], { ...options, what: `${host}: ip ${args.join(' ')}`, track: this.#execs });
  }

  spawn(host: H, argv: readonly string[], options: SpawnOptions = {}): LabProcess {
    const ns = this.#ns(host);
    if (argv.length === 0) throw new LabError('ERR_LAB_SPEC', 'spawn needs a command');
    const child = spawn(ipBin(), ['netns', 'exec', ns, ...argv], {
      detached: true, // own process group: teardown kills the group
      stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'],
      env: options.env,
      cwd: options.cwd,
    });
    const p = new LabProcessImpl(host, argv, child, options.maxOutput ?? 1 << 20);
    this.#procs.add(p);
    // `ip netns exec` execs the command in place, so this pid is the daemon's.
    this.#record.pids.push({ pid: p.pid, start: procStat(p.pid)?.start });
    writeRecord(this.#record, { dir: this.#dir });
    void p.exited.then(() => {
      this.#procs.delete(p);
    });
    return p;
  }

  destroy(): Promise<void> {
    this.#destroying ??= this.#destroy();
    return this.#destroying;
  }

  async #destroy(): Promise<void> {
    this.#detachSignal?.();
    await Promise.all([...this.#procs].map((p) => p.stop({ graceMs: 1000 })));
    for (const c of this.#execs) killGroup(c.pid, 'SIGKILL');
    this.destroySync();
    const guardian = this.#record.guardianPid;
    if (guardian !== undefined) {
      for (let i = 0; i < 200 && isAlive(guardian, this.#record.guardianStart); i++) await delay(10);
    }
    if (this.#left !== undefined) {
      throw new LabError('ERR_LAB_TEARDOWN', `lab ${this.id} teardown incomplete: ${this.#left}`);
    }
  }

  #left: string | undefined;

  /** Synchronous teardown, also used from process 'exit' and signal handlers. */
  destroySync(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    liveLabs.delete(this as unknown as LabImpl<string>);
    if (liveLabs.size === 0) uninstallHandlers();
    for (const p of this.#procs) killGroup(p.pid, 'SIGTERM');
    const res = teardownSync(this.#record, { graceMs: 1000, dir: this.#dir });
    if (res.leftNamespaces.length > 0 || res.leftPids.length > 0) {
      this.#left = `namespaces [${res.leftNamespaces.join(', ')}] pids [${res.leftPids.join(', ')}] ${res.errors.join('; ')}`;
    }
    // Record gone (or, if something was left, still there for the guardian and the janitor):
    // closing the pipe lets the guardian check and exit.
    this.#guardian?.stdin?.end();
  }
}

interface IpAddrJson {
  operstate?: string;
  flags?: string[];
  addr_info?: { family?: string; local?: string; tentative?: boolean; dadfailed?: boolean }[];
}

function isReady(json: string, h: HostPlan): boolean {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return false;
  }
  const link = Array.isArray(parsed) ? (parsed[0] as IpAddrJson | undefined) : undefined;
  if (link === undefined || !(link.flags ?? []).includes('LOWER_UP') || link.operstate !== 'UP') return false;
  const addrs = link.addr_info ?? [];
  if (addrs.some((a) => a.tentative === true || a.dadfailed === true)) return false;
  const have = new Set(addrs.map((a) => a.local));
  const wantV6 = h.v6.length > 0;
  const linkLocal = addrs.some((a) => a.family === 'inet6' && a.local?.startsWith('fe80:') === true);
  return [...h.v4, ...h.v6].every((x) => have.has(x.addr)) && (!wantV6 || linkLocal);
}
