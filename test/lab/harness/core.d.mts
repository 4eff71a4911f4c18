// Types for core.mjs (kept in plain JS so the guardian and the tier runner need no TS loader).

export declare const NS_PREFIX: 'lvk-';
export declare const RECORD_VERSION: 1;

export declare class LabError extends Error {
  /** `ERR_LAB_NOT_ROOT`, `ERR_LAB_IP_MISSING`, `ERR_LAB_SPEC`, `ERR_LAB_SETUP`, ... */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown });
}

export interface LabPid {
  pid: number;
  /** Kernel start time of the process (`/proc/<pid>/stat` field 22), guards against pid reuse. */
  start: string | undefined;
}

export interface LabRecord {
  v: 1;
  runId: string;
  ownerPid: number;
  ownerStart: string | undefined;
  guardianPid?: number | undefined;
  guardianStart?: string | undefined;
  /** Every namespace the lab will create, written before the first one exists. */
  namespaces: string[];
  pids: LabPid[];
  createdAt: string;
}

export interface TeardownResult {
  deletedNamespaces: string[];
  leftNamespaces: string[];
  leftPids: number[];
  errors: string[];
}

export interface CleanupStaleResult {
  removed: { runId: string; namespaces: string[] }[];
  /** Records whose owner is still running: left alone. */
  live: string[];
  failed: ({ runId: string } & TeardownResult)[];
  /** `lvk-*` namespaces that no record claims: reported, never deleted. */
  unowned: string[];
}

export declare function stateDir(): string;
export declare function ipBin(): string;
export declare function recordPath(runId: string, dir?: string): string;
export declare function ownsNamespace(record: LabRecord, ns: string): boolean;
export declare function procStat(pid: number): { state: string; start: string } | undefined;
export declare function isAlive(pid: number, start?: string): boolean;
export declare function signalTree(pid: number, signal: NodeJS.Signals): boolean;
export declare function sleepSync(ms: number): void;
export declare function listNamespaces(): string[];
export declare function namespaceExists(ns: string): boolean;
export declare function namespacePids(ns: string): number[];
export declare function writeRecord(record: LabRecord, options?: { exclusive?: boolean; dir?: string }): void;
export declare function readRecord(runId: string, dir?: string): LabRecord | undefined;
export declare function removeRecord(runId: string, dir?: string): void;
export declare function listRecords(dir?: string): LabRecord[];
export declare function teardownSync(
  record: LabRecord,
  options?: { graceMs?: number; killMs?: number; removeRecordFile?: boolean; dir?: string },
): TeardownResult;
/** Janitor for the records in `dir` (default stateDir()). */
export declare function cleanupStale(options?: { dir?: string }): CleanupStaleResult;
export declare function checkLabPrerequisites(): void;
