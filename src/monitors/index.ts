/**
 * lvskit/monitors: health checks, server state and pools.
 *
 * Status: this entry holds the check contract every monitor implements and the
 * error type. The checks (HTTP(S), TCP, idle connection, command, DNS, UDP),
 * scheduling, rise/fall server state and pools come in the monitors issue.
 *
 * Files:
 * - types.ts   `Check`, `CheckTarget`, `CheckResult`
 * - errors.ts  `MonitorError` (configuration errors only: "unhealthy" is a result, never an exception)
 */
export * from './types.js';
export * from './errors.js';
