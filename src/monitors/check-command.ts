/**
 * Command check: run a program, up when it exits 0.
 *
 * The program is an argv array, never a shell string; `{address}`, `{port}`,
 * `{host}` and `{service}` in any argument are replaced with the target's
 * values, which are also in the environment as `LVSKIT_ADDRESS`,
 * `LVSKIT_PORT`, `LVSKIT_HOST`, `LVSKIT_SERVICE`. The child runs in its own
 * process group (`detached`), and that whole group is killed when the deadline
 * passes, children and grandchildren included, and also once the program
 * exits, so nothing it started outlives the check. stdout and stderr are
 * captured up to `maxOutputBytes` each.
 */
import { spawn } from 'node:child_process';
import { MonitorError } from './errors.js';
import { DEFAULT_TIMEOUT_MS, runTimed, type Outcome } from './result.js';
import type { Check, CheckOptions, CheckResult, CheckTarget } from './types.js';

export interface CommandCheckOptions {
  /** Program and arguments; `argv[0]` is looked up in `PATH`. */
  argv: readonly string[];
  /** Extra environment. The child gets only `PATH`, the `LVSKIT_*` values and these, unless `inheritEnv`. */
  env?: Record<string, string>;
  /** Pass the director's whole environment too (default false). */
  inheritEnv?: boolean;
  cwd?: string;
  /** Deadline, ms (default 5000): the process group is killed then. */
  timeoutMs?: number;
  /** Bytes of stdout and of stderr kept (default 4096 each). */
  maxOutputBytes?: number;
  /** Signal sent to the process group at the deadline (default SIGKILL). */
  killSignal?: NodeJS.Signals;
}

const PLACEHOLDER = /\{(address|port|host|service)\}/g;

export class CommandCheck implements Check {
  readonly kind = 'command';
  readonly #o: CommandCheckOptions;

  constructor(options: CommandCheckOptions) {
    if (options.argv.length === 0 || options.argv[0] === '') throw new MonitorError('ERR_MONITOR_BAD_CONFIG', 'command check needs a non-empty argv');
    this.#o = options;
  }

  check(target: CheckTarget, options?: CheckOptions): Promise<CheckResult> {
    return runTimed((signal) => this.#run(target, signal), { signal: options?.signal, timeoutMs: this.#o.timeoutMs ?? DEFAULT_TIMEOUT_MS });
  }

  #run(target: CheckTarget, signal: AbortSignal): Promise<Outcome> {
    const o = this.#o;
    const values: Record<string, string> = {
      address: target.address,
      port: target.port === undefined ? '' : String(target.port),
      host: target.host ?? '',
      service: target.service ?? '',
    };
    const argv = o.argv.map((a) => a.replace(PLACEHOLDER, (_m, k: string) => values[k] ?? ''));
    const env: Record<string, string> = {
      ...(o.inheritEnv ? (process.env as Record<string, string>) : { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' }),
      ...o.env,
      LVSKIT_ADDRESS: values.address ?? '',
      LVSKIT_PORT: values.port ?? '',
      LVSKIT_HOST: values.host ?? '',
      LVSKIT_SERVICE: values.service ?? '',
    };
    const cap = o.maxOutputBytes ?? 4096;
    return new Promise<Outcome>((resolve, reject) => {
      const child = spawn(argv[0] as string, argv.slice(1), {
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        env,
        ...(o.cwd !== undefined ? { cwd: o.cwd } : {}),
      });
      const pid = child.pid;
      const killGroup = (sig: NodeJS.Signals): void => {
        if (pid === undefined) return;
        try {
          process.kill(-pid, sig);
        } catch {
          // ESRCH: the group is gone already
        }
      };
      const out = { stdout: new Capture(cap), stderr: new Capture(cap) };
      child.stdout.on('data', (d: Buffer) => out.stdout.add(d));
      child.stderr.on('data', (d: Buffer) => out.stderr.add(d));
      // A pipe error must not become an uncaught exception; the exit status still decides.
      child.stdout.on('error', () => undefined);
      child.stderr.on('error', () => undefined);
      const onAbort = (): void => {
        killGroup(o.killSignal ?? 'SIGKILL');
        if ((o.killSignal ?? 'SIGKILL') !== 'SIGKILL') setTimeout(() => killGroup('SIGKILL'), 1000).unref();
        reject(new Error('aborted'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      child.once('error', (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      });
      child.once('exit', (code, sig) => {
        // Anything the program left running (a background child holding our pipes) goes with it.
        killGroup('SIGKILL');
        signal.removeEventListener('abort', onAbort);
        const details: Record<string, unknown> = {
          exitCode: code,
          signal: sig,
          stdout: out.stdout.text(),
          stderr: out.stderr.text(),
        };
        if (out.stdout.truncated) details.stdoutTruncated = true;
        if (out.stderr.truncated) details.stderrTruncated = true;
        const settle = (): void => {
          details.stdout = out.stdout.text();
          details.stderr = out.stderr.text();
          if (code === 0) resolve({ ok: true, reason: 'exit 0', details });
          else if (code !== null) {
            const said = firstLine(out.stderr.text()) || firstLine(out.stdout.text());
            resolve({ ok: false, reason: `exit ${code}${said ? `: ${said}` : ''}`, details });
          } else resolve({ ok: false, reason: `killed by ${sig ?? 'a signal'}`, details });
        };
        // Wait for the pipes to drain (they close once the group is gone), but not forever.
        if (child.stdout.readableEnded && child.stderr.readableEnded) settle();
        else {
          const t = setTimeout(settle, 500);
          child.once('close', () => {
            clearTimeout(t);
            settle();
          });
        }
      });
    });
  }
}

class Capture {
  readonly #cap: number;
  #chunks: Buffer[] = [];
  #have = 0;
  truncated = false;
  constructor(cap: number) {
    this.#cap = cap;
  }
  add(d: Buffer): void {
    const room = this.#cap - this.#have;
    if (room <= 0) {
      if (d.length > 0) this.truncated = true;
      return;
    }
    if (d.length > room) {
      this.truncated = true;
      d = d.subarray(0, room);
    }
    this.#chunks.push(d);
    this.#have += d.length;
  }
  text(): string {
    return Buffer.concat(this.#chunks).toString('utf8');
  }
}

function firstLine(s: string): string {
  const line = s.split('\n', 1)[0] ?? '';
  return line.length > 200 ? `${line.slice(0, 200)}...` : line.trim();
}
