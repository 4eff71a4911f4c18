/**
 * lvskit/monitors: health checks, server state and pools.
 *
 * Checks probe real servers and resolve to a `CheckResult` (never throwing for
 * "unhealthy"); a `Monitor` runs them on schedule and keeps each server's
 * state with rise/fall and flap damping; a `Pool` turns server states into the
 * desired IPVS destination list, keeping a depool-threshold floor and draining
 * leaving servers at weight 0 first.
 *
 * Files:
 * - types.ts         `Check`, `StatefulCheck`, `CheckTarget`, `CheckResult` (the contract)
 * - errors.ts        `MonitorError` (configuration errors only: "unhealthy" is a result, never an exception)
 * - result.ts        the check runner (caller's signal + clearable deadline, latency, errors as results), `defineCheck`
 * - check-http.ts    HTTP/HTTPS: real address + service Host header and SNI, expected codes, no redirects followed, body match, body cap, TLS verification
 * - http-client.ts   the HTTP/1.1 client under it (internal): request written once, head parsed as it arrives (RFC 9112), Content-Length / chunked / close framing, body cap
 * - check-tcp.ts     TCP connect, optionally a send/expect exchange (HAProxy tcp-check style)
 * - check-idle.ts    idle connection (stateful: pushes changes; reconnect and backoff; TCP keepalive)
 * - check-command.ts command: argv with `{address}` substitution and `LVSKIT_*` env; the process group is killed at the deadline
 * - check-dns.ts     DNS query over UDP: expected rcode and answer
 * - check-udp.ts     UDP datagram; ICMP port unreachable marks down
 * - udp.ts           connected UDP socket transport shared by the two above (internal)
 * - codec-dns.ts     pure DNS message codec (RFC 1035 §4; names per §5.1; compression §4.1.4; AAAA RFC 3596; IPv6 text RFC 5952)
 * - fsm-server.ts    pure server state: per-check rise/fall, all checks must pass, admin, flap damping (after RFC 2439 §4.2)
 * - plan-pool.ts     pure pool plan: weights, depool threshold floor and alert, drain then removal
 * - monitor.ts       `Monitor`: scheduling (interval, jitter, bounded concurrency, no overlap per server, one heap under one timer, coalescing) on the injected clock
 * - pool.ts          `Pool`: joins the plan to server states and the clock
 * - metrics.ts       `MonitorMetrics` (plain data) and `renderPrometheus`
 *
 * Defaults: check timeout 5 s, interval 2 s with 10 % jitter (jitter only
 * shortens intervals, so a failure is seen within interval x fall + timeout
 * while checks get a slot), rise 2, fall 3 (stateful checks 1 and 1), servers
 * down until proven up (`initial: 'first-result'` lets the first result
 * decide), no flap damping, 256 checks at once, no coalescing (`coalesceMs`: about 10
 * for thousands of servers, so checks due together start in one event-loop turn), a 60 s watchdog
 * for custom checks that never settle; pools keep half their enabled servers
 * (`depoolThreshold` 0.5) and drain for 60 s. Check deadlines are real time;
 * scheduling, rise/fall, damping and drains run on the injected clock.
 *
 * Prometheus metrics (`renderPrometheus(monitor.metrics.snapshot())`):
 *
 * | name | type | labels |
 * | --- | --- | --- |
 * | `lvskit_monitor_check_results_total` | counter | service, server, check, kind, result (`up`/`down`) |
 * | `lvskit_monitor_check_timeouts_total` | counter | service, server, check, kind |
 * | `lvskit_monitor_check_last_ok` | gauge | service, server, check, kind |
 * | `lvskit_monitor_check_duration_seconds` | histogram (1 ms .. 10 s) | service, server, check, kind |
 * | `lvskit_monitor_server_up` | gauge | service, server |
 * | `lvskit_monitor_server_enabled` | gauge | service, server |
 * | `lvskit_monitor_server_transitions_total` | counter | service, server, to (`up`/`down`) |
 * | `lvskit_pool_servers` | gauge | service, status (`pooled`/`held`/`draining`/`out`) |
 * | `lvskit_pool_floor` | gauge | service |
 * | `lvskit_pool_alert` | gauge | service |
 *
 * `server` is the server's id in the Monitor, `service` the target's service
 * name, `check` the check's name on that server and `kind` its kind.
 *
 * A pool fed by HTTP checks:
 *
 * ```ts
 * import { HttpCheck, Monitor, Pool, type Destination } from 'lvskit/monitors';
 * import { apply } from 'lvskit/ipvs';
 *
 * const servers = [
 *   { id: 'rs1', address: '10.0.0.11', port: 80, weight: 10 },
 *   { id: 'rs2', address: '10.0.0.12', port: 80, weight: 10 },
 * ];
 * const http = new HttpCheck({ host: 'www.example.org', path: '/healthz', timeoutMs: 1000 });
 * const monitor = new Monitor({ logger });
 * for (const s of servers) {
 *   monitor.add({ id: s.id, target: { address: s.address, port: s.port, service: 'www' },
 *                 checks: [{ name: 'http', check: http, intervalMs: 2000 }],
 *                 rise: 2, fall: 3, initial: 'first-result' });
 * }
 * const pool = new Pool(servers, { service: 'www', depoolThreshold: 0.5, drainMs: 30_000, metrics: monitor.metrics });
 * pool.follow(monitor);
 * monitor.start();
 * // Let the first round of checks finish before touching the kernel, so a restart
 * // never publishes an empty pool.
 * await monitor.whenSettled({ signal: AbortSignal.timeout(10_000) }).catch(() => undefined);
 * // The destinations are lvskit/ipvs `Destination`s: hand them to its reconciler
 * // (a real director serialises these applies and retries failed ones).
 * const publish = (destinations: Destination[]) =>
 *   apply([{ protocol: 'tcp', address: '192.0.2.80', port: 80, scheduler: 'wrr', destinations }], { logger });
 * await publish(pool.destinations);
 * pool.on('change', (destinations) => void publish(destinations));
 * ```
 *
 * The pool drains a failed server at weight 0 and removes it itself after
 * `drainMs`; feed it the connection counts the reconciler reads
 * (`pool.update(id, { connections: activeConns + inactiveConns })`) to end a
 * drain early. The reconciler's own drain option is then only needed for
 * servers removed from the configuration.
 *
 * A check of your own, in a few lines (`defineCheck` adds the deadline,
 * latency and error handling; return a boolean or `{ ok, reason, details }`):
 *
 * ```ts
 * import { connect } from 'node:net';
 * import { defineCheck } from 'lvskit/monitors';
 *
 * const redisPing = defineCheck('redis', ({ address, port = 6379 }, { signal }) =>
 *   new Promise((resolve, reject) => {
 *     const sock = connect({ host: address, port, signal });
 *     sock.on('connect', () => sock.write('PING\r\n'));
 *     sock.once('data', (d) => { sock.destroy(); resolve({ ok: d.toString().startsWith('+PONG'), reason: d.toString().trim() }); });
 *     sock.on('error', reject);
 *   }), { timeoutMs: 1000 });
 * ```
 */
export * from './types.js';
export * from './errors.js';
export { DEFAULT_TIMEOUT_MS, defineCheck, describeError, runTimed, type CustomCheckFn, type Outcome } from './result.js';
export * from './check-http.js';
export * from './check-tcp.js';
export * from './check-idle.js';
export * from './check-command.js';
export * from './check-dns.js';
export * from './check-udp.js';
export {
  DNS_CLASS_IN,
  DNS_RCODE,
  DNS_TYPE,
  decodeDnsMessage,
  dnsMessageLength,
  dnsQuery,
  encodeDnsMessage,
  rcodeName,
  typeName,
  type DnsMessage,
  type DnsQuestion,
  type DnsRecord,
} from './codec-dns.js';
export * from './fsm-server.js';
export * from './plan-pool.js';
export * from './metrics.js';
export * from './monitor.js';
export * from './pool.js';
