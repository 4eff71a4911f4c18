/**
 * Kernel-tier harness: boot a stock Debian kernel (which has IPVS) under QEMU and run node scripts in it.
 *
 * The host kernel has no IPVS, so tests that need the real thing run inside a throwaway VM:
 *
 *   - `prepareImage()` (image.mjs) caches kernel + initramfs in `.cache/kernel/` (busybox, node, ipvsadm,
 *     libraries, IPVS/virtio/dummy/veth modules, an /init shell script).
 *   - `runInVm()` packs the run into a tar on a read-only virtio disk (/dev/vda): `dist/`, `package.json`,
 *     the production `node_modules` (netlink with its prebuilt addon, ip-address, eventemitter3, ...),
 *     `test/kernel/vm/` and the requested files, plus a manifest. /init extracts it to /lvskit, loads the
 *     requested modules, runs each file with `node` (cwd /lvskit, stdin /dev/null) one after the other in
 *     ONE boot, then tars per-file logs, exit codes and `collect` paths onto a second disk (/dev/vdb) and
 *     powers off. Inside the VM the package imports by name: `import { ... } from 'lvskit/ipvs'`.
 *   - The console (serial on qemu's stdout) is streamed to `onOutput` (and to stderr when
 *     LVSKIT_VM_VERBOSE=1) and parsed for markers, so progress and exit codes are known as they happen.
 *
 * It never hangs and never leaves qemu behind: a "Kernel panic" on the console, the timeout, an abort or
 * qemu dying early rejects with a {@link VmError} naming what happened and the console's tail; qemu (which
 * this module started) is killed by PID and the temp dir removed in `finally`.
 *
 * QEMU settings that matter here: TCG only (KVM hangs on this host), one vCPU, no NIC at all (the VM has
 * loopback only), `panic=-1 oops=panic` so any oops ends the VM at once instead of hanging.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BOOT_MODULES, ImageError, REPO_ROOT, prepareImage } from './image.mjs';
import type { PrepareImageOptions, PreparedImage } from './image.mjs';

export { prepareImage, ImageError, REPO_ROOT };
export type { PrepareImageOptions, PreparedImage };

export interface VmRunOptions {
  /** Scripts to run inside the VM, relative to the repo root, run with `node` in this order in one boot. */
  files: string[];
  /** Whole run, boot included (default 300 s). */
  timeoutMs?: number;
  /** Limit for each file, from its start inside the VM (default: only `timeoutMs`). */
  fileTimeoutMs?: number;
  /** Extra environment for the scripts (names `[A-Za-z_][A-Za-z0-9_]*`). */
  env?: Record<string, string>;
  /** Console output as it arrives (kernel messages, markers and the scripts' stdout/stderr). */
  onOutput?: (chunk: string) => void;
  /** Absolute paths inside the VM to bring back after the last file (files or directories, no spaces). */
  collect?: string[];
  /** Extra repo-relative files or directories to put on the input disk. */
  include?: string[];
  /** Kernel modules /init loads before the first file (default `['ip_vs']`; others load on demand). */
  modules?: string[];
  /** Guest memory in MiB (default 1024: node plus an uncompressed ~110 MB initramfs). */
  memoryMb?: number;
  /** Size of the results disk in MiB (default 64; it is sparse on the host). */
  resultsDiskMb?: number;
  /** QEMU CPU model (default LVSKIT_VM_CPU or `max`). Always TCG: KVM hangs on the hosts we use. */
  cpu?: string;
  /** Extra kernel command line arguments. */
  kernelArgs?: string[];
  signal?: AbortSignal;
  /** Passed to prepareImage (its `binaries` and `modules` add host binaries and kernel modules to the image). */
  image?: PrepareImageOptions;
}

export interface VmFileResult {
  /** As given in `files`. */
  file: string;
  /** `node`'s exit status (128+N when killed by signal N, as the shell reports it). */
  exitCode: number;
  /** The script's stdout and stderr, interleaved. */
  output: string;
}

export interface VmRunResult {
  results: VmFileResult[];
  /** Whole console transcript (`\r\n` normalised to `\n`). */
  console: string;
  /** From spawning qemu to its exit. */
  durationMs: number;
  /** Collected files by absolute path inside the VM. */
  collected: Map<string, Buffer>;
  /** PID of the qemu process (already gone). */
  qemuPid: number;
  image: PreparedImage;
}

export type VmErrorCode =
  | 'ERR_VM_PANIC' // "Kernel panic" on the console
  | 'ERR_VM_TIMEOUT' // timeoutMs elapsed
  | 'ERR_VM_BOOT' // the VM did not get to run the files (qemu failed, /init fatal error)
  | 'ERR_VM_EXIT' // qemu exited before all files finished, without a panic
  | 'ERR_VM_ABORTED' // options.signal aborted
  | 'ERR_VM_INPUT' // bad options (missing file, bad env name)
  | 'ERR_VM_IMAGE'; // image could not be prepared

export class VmError extends Error {
  override readonly name = 'VmError';
  readonly code: VmErrorCode;
  /** Whole console transcript so far. */
  readonly console: string;
  /** Files that finished before the failure. */
  readonly results: VmFileResult[];
  /** PID of the qemu process, when one was started. */
  readonly qemuPid: number | undefined;

  constructor(
    code: VmErrorCode,
    message: string,
    details: { console?: string; results?: VmFileResult[]; qemuPid?: number; cause?: unknown } = {},
  ) {
    const consoleText = details.console ?? '';
    const tail = consoleTail(consoleText);
    super(`${code}: ${message}${tail ? `\n--- console tail ---\n${tail}` : ''}`, { cause: details.cause });
    this.code = code;
    this.console = consoleText;
    this.results = details.results ?? [];
    this.qemuPid = details.qemuPid;
  }
}

/** Last lines of the console, for error messages. */
function consoleTail(text: string, lines = 40): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

const DEFAULT_TIMEOUT_MS = 300_000;
/** Always on the input disk: the in-VM scripts and helpers. */
const VM_DIR = 'test/kernel/vm';
/** Build-time only or type-only packages left out of the input disk. */
const SKIP_PACKAGES = new Set(['node-addon-api']);

const TMP_PREFIX = 'lvskit-vm-';
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => fs.existsSync(p));

/** Remove temp dirs left by runs whose process died without its `finally` (e.g. killed by SIGKILL). */
function sweepStaleTempDirs(): void {
  let names: string[];
  try {
    names = fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith(TMP_PREFIX));
  } catch {
    return;
  }
  for (const name of names) {
    const dir = path.join(os.tmpdir(), name);
    try {
      const owner = Number(fs.readFileSync(path.join(dir, 'owner.pid'), 'utf8'));
      if (!Number.isInteger(owner) || owner <= 0) continue;
      try {
        process.kill(owner, 0);
        continue; // owner alive
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') continue;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // not ours, or already gone
    }
  }
}

/** Live qemu children, killed if this process exits while a VM still runs. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Boot the VM once and run `opts.files` in it, in order. */
export async function runInVm(opts: VmRunOptions): Promise<VmRunResult> {
  if (opts.files.length === 0) throw new VmError('ERR_VM_INPUT', 'no files to run');
  for (const name of Object.keys(opts.env ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new VmError('ERR_VM_INPUT', `bad environment variable name ${JSON.stringify(name)}`);
  }
  for (const f of opts.files) {
    if (!fs.statSync(path.join(REPO_ROOT, f), { throwIfNoEntry: false })?.isFile()) {
      throw new VmError('ERR_VM_INPUT', `${f} is not a file under ${REPO_ROOT}`);
    }
    if (/\s/.test(f)) throw new VmError('ERR_VM_INPUT', `${f}: file names with whitespace are not supported`);
  }
  opts.signal?.throwIfAborted();

  let image: PreparedImage;
  try {
    image = await prepareImage(opts.image);
  } catch (err) {
    throw new VmError('ERR_VM_IMAGE', (err as Error).message, { cause: err });
  }

  sweepStaleTempDirs();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), TMP_PREFIX));
  fs.writeFileSync(path.join(tmp, 'owner.pid'), String(process.pid));
  let child: ChildProcess | undefined;
  try {
    const nonce = randomBytes(8).toString('hex');
    const inputTar = path.join(tmp, 'input.tar');
    buildInputTar(tmp, inputTar, opts, nonce);
    const resultsImg = path.join(tmp, 'results.img');
    fs.writeFileSync(resultsImg, '');
    fs.truncateSync(resultsImg, (opts.resultsDiskMb ?? 64) * 1024 * 1024);

    const args = [
      '-accel', 'tcg', '-cpu', opts.cpu ?? process.env.LVSKIT_VM_CPU ?? 'max', '-smp', '1', '-m', String(opts.memoryMb ?? 1024),
      '-nodefaults', '-no-user-config', '-display', 'none', '-serial', 'stdio', '-no-reboot',
      '-kernel', image.kernel, '-initrd', image.initramfs,
      '-append', ['console=ttyS0', 'panic=-1', 'oops=panic', 'loglevel=4', ...(opts.kernelArgs ?? [])].join(' '),
      '-drive', `file=${inputTar},format=raw,if=virtio,readonly=on`,
      '-drive', `file=${resultsImg},format=raw,if=virtio`,
    ];
    // setpriv --pdeathsig: qemu dies with the process (or worker) that started it, even when that is
    // killed outright (a test runner tearing down a worker) and no 'exit' handler runs.
    const [cmd, argv] = SETPRIV ? [SETPRIV, ['--pdeathsig', 'KILL', '--', 'qemu-system-x86_64', ...args]] : ['qemu-system-x86_64', args];
    const started = Date.now();
    const run = watchQemu(spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] }), opts, nonce);
    child = run.child;
    const outcome = await run.done;
    const durationMs = Date.now() - started;

    const { logs, collected } = readResultsDisk(resultsImg, path.join(tmp, 'out'));
    const results = outcome.results.map((r, i) => {
      const log = logs.get(i + 1);
      return log === undefined ? r : { ...r, output: log };
    });
    return { results, console: outcome.console, durationMs, collected, qemuPid: outcome.pid, image };
  } finally {
    const c = child;
    if (c?.pid !== undefined && c.exitCode === null && c.signalCode === null) {
      const exited = new Promise((resolve) => c.once('exit', resolve));
      c.kill('SIGKILL'); // the qemu this call started, by its PID
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

interface Outcome {
  results: VmFileResult[];
  console: string;
  pid: number;
}

/** Follow qemu's console until DONE + exit (resolve) or panic / timeout / abort / early exit (reject). */
function watchQemu(child: ChildProcess, opts: VmRunOptions, nonce: string): { child: ChildProcess; done: Promise<Outcome> } {
  live.add(child);
  const verbose = process.env.LVSKIT_VM_VERBOSE === '1';
  const pid = child.pid ?? 0;
  let consoleText = '';
  let carry = '';
  let parsed = 0; // consoleText up to here has been split into lines and scanned for markers
  let stderr = '';
  let ready = false;
  let finished = false; // DONE marker seen
  let fatal: string | undefined;
  let panicAt = -1;
  const results: VmFileResult[] = [];
  let current: { file: string; start: number } | undefined;
  let fileTimer: NodeJS.Timeout | undefined;

  const done = new Promise<Outcome>((resolve, reject) => {
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const fail = (code: VmErrorCode, message: string, cause?: unknown) => {
      if (settled) return;
      settled = true;
      cleanup();
      child.kill('SIGKILL');
      reject(new VmError(code, message, { console: consoleText, results, qemuPid: pid, cause }));
    };
    const onAbort = () => fail('ERR_VM_ABORTED', 'aborted', opts.signal?.reason);
    const cleanup = () => {
      for (const t of timers) clearTimeout(t);
      clearTimeout(fileTimer);
      opts.signal?.removeEventListener('abort', onAbort);
    };
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    timers.push(setTimeout(() => {
      const where = current ? `while running ${current.file}` : ready ? 'after the last file' : 'before the VM was ready';
      fail('ERR_VM_TIMEOUT', `VM did not finish within ${timeoutMs} ms (${where}); qemu pid ${pid} killed`);
    }, timeoutMs));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.signal?.aborted) onAbort();

    const onLine = (line: string, lineStart: number) => {
      const m = /@@LVSKIT:(\w+)(?: ([^@]*))?@@/.exec(line);
      if (m) {
        const [, kind, rest = ''] = m;
        const words = rest.split(' ');
        if (kind === 'FATAL' && !ready) fatal = rest;
        else if (words[0] === nonce) {
          if (kind === 'READY') ready = true;
          else if (kind === 'BEGIN') {
            const file = words.slice(2).join(' ');
            current = { file, start: parsed };
            if (opts.fileTimeoutMs !== undefined) {
              const ms = opts.fileTimeoutMs;
              fileTimer = setTimeout(() => fail('ERR_VM_TIMEOUT', `${file} did not finish within ${ms} ms (fileTimeoutMs); qemu pid ${pid} killed`), ms);
            }
          } else if (kind === 'END' && current) {
            clearTimeout(fileTimer);
            const text = consoleText.slice(current.start, lineStart);
            results.push({ file: current.file, exitCode: Number(words[2]), output: text });
            current = undefined;
          } else if (kind === 'DONE') {
            finished = true;
            // Results are synced to the disk; poweroff should end qemu at once. If it does not, stop it.
            timers.push(setTimeout(() => child.kill('SIGKILL'), 10_000));
          }
        }
      }
      if (panicAt < 0 && /Kernel panic - not syncing/.test(line)) {
        panicAt = Date.now();
        // Give the kernel a moment to print the rest of the panic report, then stop (panic=-1 usually
        // makes qemu exit by itself first).
        timers.push(setTimeout(() => fail('ERR_VM_PANIC', panicMessage()), 1500));
      }
    };
    const panicMessage = () => {
      const line = /Kernel panic - not syncing[^\n]*/.exec(consoleText)?.[0] ?? 'Kernel panic';
      return `${line.trim()}${current ? ` (while running ${current.file})` : ''}`;
    };

    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      // The serial console sends '\r\n'; a '\r' at a chunk's end waits for the next chunk.
      let raw = carry + chunk;
      carry = '';
      if (raw.endsWith('\r')) {
        carry = '\r';
        raw = raw.slice(0, -1);
      }
      const text = raw.replace(/\r\n?/g, '\n');
      consoleText += text;
      let nl: number;
      while ((nl = consoleText.indexOf('\n', parsed)) >= 0) {
        const lineStart = parsed;
        parsed = nl + 1;
        onLine(consoleText.slice(lineStart, nl), lineStart);
      }
      if (verbose) process.stderr.write(text);
      opts.onOutput?.(text);
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr += chunk;
      if (verbose) process.stderr.write(chunk);
    });
    child.on('error', (err) => fail('ERR_VM_BOOT', `cannot run qemu-system-x86_64: ${err.message}`, err));
    child.on('exit', (code, sig) => {
      live.delete(child);
      if (carry) consoleText += '\n';
      if (parsed < consoleText.length) {
        const lineStart = parsed;
        parsed = consoleText.length;
        onLine(consoleText.slice(lineStart), lineStart);
      }
      const how = sig ? `signal ${sig}` : `code ${code}`;
      const qemuErr = stderr.trim() ? `; qemu stderr: ${stderr.trim().split('\n').slice(-5).join(' | ')}` : '';
      if (panicAt >= 0 || /Kernel panic - not syncing/.test(consoleText)) fail('ERR_VM_PANIC', panicMessage());
      else if (finished) {
        if (settled) return;
        settled = true;
        cleanup();
        resolve({ results, console: consoleText, pid });
      } else if (fatal !== undefined) fail('ERR_VM_BOOT', `VM init failed: ${fatal}`);
      else if (!ready) fail('ERR_VM_BOOT', `qemu exited (${how}) before the VM was ready${qemuErr}`);
      else fail('ERR_VM_EXIT', `qemu exited (${how}) before all files finished${current ? ` (in ${current.file})` : ''}${qemuErr}`);
    });
  });
  return { child, done };
}

/** Write the input tar: package files, runtime node_modules, in-VM scripts, and the run manifest. */
function buildInputTar(tmp: string, tarPath: string, opts: VmRunOptions, nonce: string): void {
  const files = new Set<string>();
  const addTree = (rel: string, filter?: (rel: string) => boolean) => {
    const abs = path.join(REPO_ROOT, rel);
    const st = fs.statSync(abs, { throwIfNoEntry: false });
    if (!st) return;
    if (st.isFile()) {
      files.add(rel);
      return;
    }
    if (!st.isDirectory()) return;
    for (const e of fs.readdirSync(abs, { withFileTypes: true })) {
      const child = path.posix.join(rel, e.name);
      if (filter && !filter(child)) continue;
      if (e.isDirectory()) addTree(child, filter);
      else if (e.isFile()) files.add(child);
    }
  };
  addTree('package.json');
  addTree('dist');
  // lvskit's own native addon (raw sockets, TCP MD5), as the published package ships it.
  addTree(`prebuilds/${process.platform}-${process.arch}`);
  addTree(VM_DIR);
  for (const f of [...opts.files, ...(opts.include ?? [])]) addTree(f);
  for (const pkgDir of runtimePackages()) {
    addTree(pkgDir, (rel) => {
      const sub = rel.slice(pkgDir.length + 1);
      if (sub === 'node_modules') return false; // nested deps come in through runtimePackages()
      if (/^prebuilds\/[^/]+$/.test(sub) && sub !== `prebuilds/${process.platform}-${process.arch}`) return false;
      return true;
    });
  }

  const vm = path.join(tmp, '.vm');
  fs.mkdirSync(vm);
  const quote = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`;
  fs.writeFileSync(path.join(vm, 'nonce'), `${nonce}\n`);
  fs.writeFileSync(path.join(vm, 'files'), opts.files.map((f) => `${f}\n`).join(''));
  fs.writeFileSync(path.join(vm, 'modules'), `${(opts.modules ?? ['ip_vs']).filter((m) => !BOOT_MODULES.includes(m)).join('\n')}\n`);
  fs.writeFileSync(path.join(vm, 'collect'), (opts.collect ?? []).map((p) => `${p}\n`).join(''));
  const env = { NODE_ENV: 'test', LVSKIT_IN_VM: '1', ...opts.env };
  fs.writeFileSync(path.join(vm, 'env'), Object.entries(env).map(([k, v]) => `${k}=${quote(v)}\n`).join(''));
  const list = path.join(tmp, 'files.list');
  fs.writeFileSync(list, [...files].sort().map((f) => `${f}\n`).join(''));

  const tar = (args: string[]) => {
    const r = spawnSync('tar', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new VmError('ERR_VM_INPUT', `tar ${args.join(' ')} failed: ${r.error?.message ?? r.stderr}`);
  };
  const common = ['--owner=0', '--group=0', '--format=gnu'];
  tar(['-c', '-f', tarPath, ...common, '-C', REPO_ROOT, '--verbatim-files-from', '-T', list]);
  tar(['-r', '-f', tarPath, ...common, '-C', tmp, '.vm']);
}

/**
 * Repo-relative directories of the production dependency closure (package.json `dependencies`,
 * resolved the way node does, nested node_modules included).
 */
function runtimePackages(): string[] {
  const out = new Set<string>();
  const visit = (fromDir: string, deps: Record<string, string> | undefined) => {
    for (const name of Object.keys(deps ?? {})) {
      if (name.startsWith('@types/') || SKIP_PACKAGES.has(name)) continue;
      let dir = fromDir;
      let found: string | undefined;
      for (;;) {
        const cand = path.join(dir, 'node_modules', name);
        if (fs.existsSync(path.join(cand, 'package.json'))) {
          found = cand;
          break;
        }
        if (path.resolve(dir) === path.resolve(REPO_ROOT)) break;
        dir = path.dirname(dir);
      }
      if (!found) throw new VmError('ERR_VM_INPUT', `runtime dependency ${name} (needed from ${path.relative(REPO_ROOT, fromDir) || '.'}) is not installed; run npm ci`);
      const rel = path.relative(REPO_ROOT, found).split(path.sep).join('/');
      if (out.has(rel)) continue;
      out.add(rel);
      const pkg = JSON.parse(fs.readFileSync(path.join(found, 'package.json'), 'utf8')) as {
        dependencies?: Record<string, string>;
        optionalDependencies?: Record<string, string>;
      };
      visit(found, { ...pkg.dependencies, ...pkg.optionalDependencies });
    }
  };
  const root = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  visit(REPO_ROOT, root.dependencies);
  return [...out].sort();
}

/** Extract the results tar the VM wrote to /dev/vdb: per-file logs and collected paths. */
function readResultsDisk(img: string, outDir: string): { logs: Map<number, string>; collected: Map<string, Buffer> } {
  const logs = new Map<number, string>();
  const collected = new Map<string, Buffer>();
  fs.mkdirSync(outDir, { recursive: true });
  const r = spawnSync('tar', ['-x', '-f', img, '-C', outDir, '--no-same-owner', '--delay-directory-restore'], { encoding: 'utf8' });
  if (r.status !== 0) return { logs, collected }; // nothing usable written: fall back to console slices
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(outDir, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${e.name}` : e.name;
      const abs = path.join(outDir, child);
      if (e.isDirectory()) {
        fs.chmodSync(abs, 0o755);
        walk(child);
      } else if (e.isFile()) {
        const m = /^vmout\/(\d+)\.log$/.exec(child);
        if (m) logs.set(Number(m[1]), fs.readFileSync(abs, 'utf8'));
        else if (!child.startsWith('vmout/')) collected.set(`/${child}`, fs.readFileSync(abs));
      }
    }
  };
  walk('');
  return { logs, collected };
}
