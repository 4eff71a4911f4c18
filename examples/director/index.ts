/**
 * examples/director: a complete load-balancer director built from lvskit's
 * public API (imported by package name): health checks -> pools -> IPVS,
 * service IPs announced over BGP or held with VRRP, status API and metrics.
 *
 * Files:
 * - config.ts    the YAML configuration, validated (`ConfigError` names file, line and key)
 * - errors.ts    `ConfigError`, `DirectorError` (start-up failures with codes)
 * - checks.ts    health checks from configuration (lvskit/monitors)
 * - service.ts   one service at run time: servers, Monitor, Pool, IPVS table, announce wish
 * - ipvs.ts      the reconciler (lvskit/ipvs `apply`), or dry run with ipvsadm commands logged
 * - sysctl.ts    IPVS sysctls set and watched
 * - status.ts    status API: /pools (PyBal format or JSON), /alerts, /metrics
 * - director.ts  `startDirector()`: start order, BGP / VRRP, reload, stop, graceful restart
 * - logger.ts    pino JSON logs, or a tiny pretty formatter for terminals
 * - cli.ts       `lvskit-director` (bin)
 * - sources/     pool sources (file, watched file, HTTP, etcd)
 *
 * Embedding:
 *
 *   const d = await startDirector('/etc/lvskit/director.yaml', { signal, logger });
 *   d.on('ipvs', (a) => console.log(a.commands));
 *   console.log(d.statusUrl, d.status());
 *   await d.reload();
 *   await d.stop();
 *
 * See docs/director.md.
 */
export { startDirector, type DirectorEvents, type DirectorHandle, type DirectorOptions, type DirectorStatus, type ReloadResult } from './director.js';
export { loadConfig, parseConfig, parseDuration, diffServices, IPVS_SYSCTLS } from './config.js';
export type { DirectorConfig, ServiceConfig, ServerConfig, CheckConfig, BgpConfig, AnnounceConfig, VrrpInstanceConfig } from './config.js';
export { ConfigError, DirectorError, type ConfigIssue, type DirectorErrorCode } from './errors.js';
export { createLogger, prettyLine } from './logger.js';
export { collectAlerts, renderMetrics, serverLine, type Alert, type AlertReport } from './status.js';
export type { IpvsApplied, IpvsMode } from './ipvs.js';
export type { ServerView } from './service.js';
