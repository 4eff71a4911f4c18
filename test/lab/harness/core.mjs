// Lab harness core: state records, process checks, synchronous teardown and the janitor.
//
// Plain JavaScript on purpose: the guardian (guardian.mjs), the tier runner (scripts/tier.mjs) and
// netlab.ts all share this one teardown path, and none of them may need a TypeScript loader to
// clean up. Types live in core.d.mts.
//
// Ownership model: every lab has a run id and a state record `<stateDir>/<runId>.json` written
// *before* any namespace is created. The record names the owner process (pid + kernel start time,
// so a reused pid is never mistaken for the owner), the namespaces it will create (all named
// `lvk-<runId>-...`) and the processes it spawned. Teardown and the janitor only touch
// namespaces that are listed in such a record AND carry the record's prefix; nothing else.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const NS_PREFIX = 'lvk-';
export const RECORD_VERSION = 1;
const NETNS_DIR = '/run/netns';
const RUN_ID_RE = /^[a-z0-9]{4,16}$/;
const NS_NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;

export class LabError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {{ cause?: unknown }} [options]
   */
  constructor(code, message, options) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LabError';
    this.code = code;
  }
}

/**
 * Directory for state records; root-owned tmpfs by default so a reboot clears it.
 * The functions below take `dir` (default: this) so a lab can keep its record elsewhere.
 */
export function stateDir() {
  return process.env.LVSKIT_LAB_STATE_DIR || '/run/lvskit-lab';
}

/** The `ip` binary (iproute2). Overridable for tests of the "missing ip" path. */
export function ipBin() {
  return process.env.LVSKIT_LAB_IP || 'ip';
}

export function recordPath(runId, dir = stateDir()) {
  return path.join(dir, `${runId}.json`);
}

/** Namespace names a record may own: `lvk-<runId>-<something>`. */
export function ownsNamespace(record, ns) {
  return typeof ns === 'string' && NS_NAME_RE.test(ns) && ns.startsWith(`${NS_PREFIX}${record.runId}-`);
}

// ---------------------------------------------------------------------------------------------
// processes

/**
 * `/proc/<pid>/stat` state letter and start time (clock ticks since boot, field 22).
 * @returns {{ state: string, start: string } | undefined}
 */
export function procStat(pid) {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  let text;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm (field 2) may contain spaces and parentheses: split after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = rest[0];
  const start = rest[19];
  if (state === undefined || start === undefined) return undefined;
  return { state, start };
}

/** Alive and not a zombie; with `start`, also the same process (not a reused pid). */
export function isAlive(pid, start) {
  const st = procStat(pid);
  if (st === undefined || st.state === 'Z' || st.state === 'X') return false;
  return start === undefined || st.start === start;
}

function signalPid(pid, signal) {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Signal a process group (its leader's pid) and the process itself. */
export function signalTree(pid, signal) {
  const a = signalPid(-pid, signal);
  const b = signalPid(pid, signal);
  return a || b;
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));
/** Blocking sleep; only used where no event loop is available (process 'exit', the janitor). */
export function sleepSync(ms) {
  Atomics.wait(sleepCell, 0, 0, ms);
}

// ---------------------------------------------------------------------------------------------
// namespaces

/** Names of all network namespaces (`ip netns list` without the id suffix). */
export function listNamespaces() {
  let names;
  try {
    names = fs.readdirSync(NETNS_DIR);
  } catch {
    return [];
  }
  return names.filter((n) => NS_NAME_RE.test(n)).sort();
}

export function namespaceExists(ns) {
  return NS_NAME_RE.test(ns) && fs.existsSync(path.join(NETNS_DIR, ns));
}

/** PIDs of processes inside a namespace (`ip netns pids`). */
export function namespacePids(ns) {
  if (!namespaceExists(ns)) return [];
  const r = spawnSync(ipBin(), ['netns', 'pids', ns], { encoding: 'utf8', timeout: 5000 });
  if (r.status !== 0 || typeof r.stdout !== 'string') return [];
  return r.stdout
    .split('\n')
    .map((s) => Number.parseInt(s, 10))
    .filter((n) => Number.isInteger(n) && n > 0 && n !== process.pid);
}

// ---------------------------------------------------------------------------------------------
// records

export function writeRecord(record, { exclusive = false, dir = stateDir() } = {}) {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = recordPath(record.runId, dir);
  const data = `${JSON.stringify(record, null, 1)}\n`;
  if (exclusive) {
    fs.writeFileSync(file, data, { flag: 'wx', mode: 0o600 });
    return;
  }
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, data, { mode: 0o600 });
  fs.renameSync(tmp, file);
}

function validRecord(r) {
  return (
    typeof r === 'object' && r !== null && r.v === RECORD_VERSION && typeof r.runId === 'string' &&
    RUN_ID_RE.test(r.runId) && Number.isInteger(r.ownerPid) && Array.isArray(r.namespaces) && Array.isArray(r.pids)
  );
}

/** @returns {object | undefined} */
export function readRecord(runId, dir = stateDir()) {
  if (!RUN_ID_RE.test(runId)) return undefined;
  let parsed;
  try {
    parsed = JSON.parse(fs.readFileSync(recordPath(runId, dir), 'utf8'));
  } catch {
    return undefined;
  }
  return validRecord(parsed) && parsed.runId === runId ? parsed : undefined;
}

export function removeRecord(runId, dir = stateDir()) {
  if (!RUN_ID_RE.test(runId)) return;
  try {
    fs.rmSync(recordPath(runId, dir), { force: true });
  } catch {
    // already gone
  }
}

export function listRecords(dir = stateDir()) {
  let files;
  try {
    files = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const out = [];
  for (const f of files) {
    const m = /^([a-z0-9]+)\.json$/.exec(f);
    if (m === null || m[1] === undefined) continue;
    const rec = readRecord(m[1], dir);
    if (rec !== undefined) out.push(rec);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// teardown

/**
 * Kill everything a record owns and delete its namespaces, synchronously and bounded in time.
 * Idempotent; safe to run from several processes at once (guardian, exit handler, janitor).
 *
 * 1. SIGTERM each tracked process group whose leader is still the recorded process
 *    (pid + start time), and every process inside an owned namespace (`ip netns pids`),
 *    which also catches daemons that forked away from their group.
 * 2. Wait up to `graceMs`, then SIGKILL the survivors and wait up to `killMs`.
 * 3. `ip -force -batch -` with one `netns del` per remaining owned namespace (deleting a netns
 *    destroys its veths and bridges once the last process in it is gone).
 * 4. Remove the record.
 */
export function teardownSync(record, { graceMs = 1000, killMs = 2000, removeRecordFile = true, dir = stateDir() } = {}) {
  const namespaces = record.namespaces.filter((ns) => ownsNamespace(record, ns));
  /** @type {Map<number, string | undefined>} pid -> start time */
  const victims = new Map();
  const groups = new Set();

  const collect = () => {
    for (const p of record.pids) {
      if (p && isAlive(p.pid, p.start)) {
        victims.set(p.pid, p.start);
        groups.add(p.pid);
      }
    }
    for (const ns of namespaces) {
      for (const pid of namespacePids(ns)) {
        if (!victims.has(pid)) victims.set(pid, procStat(pid)?.start);
      }
    }
  };
  const survivors = () => [...victims].filter(([pid, start]) => isAlive(pid, start));
  const waitGone = (ms) => {
    const deadline = Date.now() + ms;
    for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
      if (survivors().length === 0) return true;
      sleepSync(20);
    }
    return survivors().length === 0;
  };

  collect();
  for (const pid of groups) signalPid(-pid, 'SIGTERM');
  for (const [pid] of victims) signalPid(pid, 'SIGTERM');
  if (!waitGone(graceMs)) {
    for (const [pid] of survivors()) signalTree(pid, 'SIGKILL');
    collect(); // anything that appeared in a namespace meanwhile
    for (const [pid] of survivors()) signalTree(pid, 'SIGKILL');
    waitGone(killMs);
  } else {
    // A process may have forked a child into the namespace while we waited.
    const before = victims.size;
    collect();
    if (victims.size !== before) {
      for (const [pid] of survivors()) signalTree(pid, 'SIGKILL');
      waitGone(killMs);
    }
  }

  const existing = namespaces.filter((ns) => namespaceExists(ns));
  const errors = [];
  if (existing.length > 0) {
    const r = spawnSync(ipBin(), ['-force', '-batch', '-'], {
      input: existing.map((ns) => `netns del ${ns}\n`).join(''),
      encoding: 'utf8',
      timeout: 10_000,
    });
    if (r.error) errors.push(String(r.error));
    else if (r.status !== 0) errors.push(String(r.stderr).trim());
  }
  const leftNamespaces = namespaces.filter((ns) => namespaceExists(ns));
  const leftPids = survivors().map(([pid]) => pid);
  if (removeRecordFile && leftNamespaces.length === 0) removeRecord(record.runId, dir);
  return { deletedNamespaces: existing.filter((ns) => !leftNamespaces.includes(ns)), leftNamespaces, leftPids, errors };
}

// ---------------------------------------------------------------------------------------------
// janitor

/**
 * Remove the leftovers of lab runs (recorded in `dir`) whose owner process is dead (its guardian died too, or has
 * not finished yet: teardown is idempotent). Records of live owners are left alone, and so are
 * `lvk-*` namespaces without a record (reported as `unowned`, never deleted).
 */
export function cleanupStale({ dir = stateDir() } = {}) {
  const removed = [];
  const live = [];
  const failed = [];
  const owned = new Set();
  for (const rec of listRecords(dir)) {
    for (const ns of rec.namespaces) owned.add(ns);
    if (isAlive(rec.ownerPid, rec.ownerStart)) {
      live.push(rec.runId);
      continue;
    }
    const res = teardownSync(rec, { graceMs: 500, dir });
    if (res.leftNamespaces.length > 0 || res.leftPids.length > 0) failed.push({ runId: rec.runId, ...res });
    else removed.push({ runId: rec.runId, namespaces: res.deletedNamespaces });
  }
  const unowned = listNamespaces().filter((ns) => ns.startsWith(NS_PREFIX) && !owned.has(ns));
  return { removed, live, failed, unowned };
}

// ---------------------------------------------------------------------------------------------
// prerequisites

let prereqError;
let prereqChecked = false;

/** Throws a LabError when this machine cannot run the lab tier. Cached after the first call. */
export function checkLabPrerequisites() {
  if (!prereqChecked) {
    prereqChecked = true;
    prereqError = findPrerequisiteError();
  }
  if (prereqError !== undefined) throw prereqError;
}

function findPrerequisiteError() {
  if (process.platform !== 'linux') {
    return new LabError('ERR_LAB_UNSUPPORTED_PLATFORM', `the lab tier needs Linux network namespaces (platform is ${process.platform})`);
  }
  const euid = typeof process.geteuid === 'function' ? process.geteuid() : -1;
  if (euid !== 0) {
    return new LabError('ERR_LAB_NOT_ROOT', `the lab tier needs root to create network namespaces (euid ${euid}); run as root`);
  }
  const r = spawnSync(ipBin(), ['-V'], { encoding: 'utf8', timeout: 5000 });
  if (r.error !== undefined) {
    const code = /** @type {{ code?: string }} */ (r.error).code;
    if (code === 'ENOENT') {
      return new LabError('ERR_LAB_IP_MISSING', `\`${ipBin()}\` (iproute2) not found on PATH; install it: apt-get install iproute2`, { cause: r.error });
    }
    return new LabError('ERR_LAB_IP_FAILED', `cannot run \`${ipBin()} -V\`: ${r.error.message}`, { cause: r.error });
  }
  if (r.status !== 0 || !/iproute2/.test(`${r.stdout}${r.stderr}`)) {
    return new LabError('ERR_LAB_IP_MISSING', `\`${ipBin()} -V\` does not look like iproute2: ${String(r.stdout).trim()}`);
  }
  return undefined;
}
