/**
 * The director's errors. Every one is an `LvskitError` (so `instanceof` and
 * `code` work as for the library's own), with a code that says what to fix.
 */
import { LvskitError } from 'lvskit';

/** One problem found in the configuration file, with where it is. */
export interface ConfigIssue {
  /** The key's path, dotted: `services.web.checks[0].intervalMs`. */
  key: string;
  message: string;
  /** 1-based line and column of the offending value (or key) in the file, when known. */
  line?: number;
  column?: number;
}

/**
 * The configuration is unusable: bad YAML, an unknown key, a wrong type or an
 * impossible value. `issues` lists every problem found, each naming the file,
 * line and key; `message` has them one per line (`file:line:col: key: what`).
 */
export class ConfigError extends LvskitError {
  readonly file: string;
  readonly issues: ConfigIssue[];
  /** The first issue's position and key (most errors have one issue). */
  readonly line: number | undefined;
  readonly column: number | undefined;
  readonly key: string | undefined;

  constructor(file: string, issues: ConfigIssue[], options?: { cause?: unknown }) {
    super('ERR_DIRECTOR_CONFIG', issues.map((i) => formatIssue(file, i)).join('\n'), options);
    this.file = file;
    this.issues = issues;
    this.line = issues[0]?.line;
    this.column = issues[0]?.column;
    this.key = issues[0]?.key;
  }
}

export function formatIssue(file: string, i: ConfigIssue): string {
  const where = i.line === undefined ? file : `${file}:${i.line}:${i.column ?? 1}`;
  return i.key === '' ? `${where}: ${i.message}` : `${where}: ${i.key}: ${i.message}`;
}

/**
 * Codes of `DirectorError`:
 * - `ERR_DIRECTOR_PERMISSION`  a capability is missing (CAP_NET_ADMIN for IPVS and sysctls, CAP_NET_BIND_SERVICE for port 179, CAP_NET_RAW for VRRP)
 * - `ERR_DIRECTOR_PORT_IN_USE` the status API or BGP port is taken
 * - `ERR_DIRECTOR_IPVS`        IPVS was asked for (`dryRun: false`) but the kernel has none, or it failed
 * - `ERR_DIRECTOR_START`       anything else that stops the start
 * - `ERR_DIRECTOR_STOPPED`     the director was stopped (calls after `stop()`)
 */
export type DirectorErrorCode = 'ERR_DIRECTOR_PERMISSION' | 'ERR_DIRECTOR_PORT_IN_USE' | 'ERR_DIRECTOR_IPVS' | 'ERR_DIRECTOR_START' | 'ERR_DIRECTOR_STOPPED';

/** A start-up or run-time failure of the director, with a message that says what to do. */
export class DirectorError extends LvskitError {
  constructor(code: DirectorErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** Turn a socket/listen error into a `DirectorError` that names what was being done. */
export function startError(what: string, e: unknown): DirectorError {
  const code = (e as { code?: string } | null)?.code;
  if (code === 'EADDRINUSE') return new DirectorError('ERR_DIRECTOR_PORT_IN_USE', `${what}: address already in use (another director, or another daemon on that port?)`, { cause: e });
  if (code === 'EACCES' || code === 'EPERM') {
    return new DirectorError('ERR_DIRECTOR_PERMISSION', `${what}: permission denied (ports below 1024 need CAP_NET_BIND_SERVICE; IPVS needs CAP_NET_ADMIN)`, { cause: e });
  }
  if (e instanceof LvskitError) return new DirectorError('ERR_DIRECTOR_START', `${what}: ${e.message}`, { cause: e });
  return new DirectorError('ERR_DIRECTOR_START', `${what}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
}
