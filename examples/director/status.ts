/**
 * The status API (HTTP, localhost by default):
 *
 * | path | text (default) | JSON (`Accept: application/json` or `?format=json`) |
 * | --- | --- | --- |
 * | `/pools` | service names, one a line | `["web", ...]` |
 * | `/pools/<service>` | `host: enabled/up/pooled` a line (PyBal's format) | `{ host: { enabled, up, pooled, weight, status, checks } }` |
 * | `/pools/<service>/<host>` | `enabled/up/pooled` | `{ enabled, up, pooled, weight, status, checks }` |
 * | `/alerts` | `OK: ...`, `WARNING: ...` or `CRITICAL: ...` with the problems of that level, then one line per lesser problem | `{ status, alerts: [{ level, component, message }] }` |
 * | `/metrics` | Prometheus text format 0.0.4 | (text only) |
 *
 * PyBal's words: `enabled`/`disabled` (operator), `up`/`down` (checks),
 * `pooled`/`not pooled` (in IPVS at its weight; a held server counts as pooled,
 * a draining one at weight 0 does not).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'lvskit';
import type { BgpSpeaker } from 'lvskit/bgp';
import { escapeLabel, renderPrometheus, type MonitorMetrics } from 'lvskit/monitors';
import type { VrrpRouter } from 'lvskit/vrrp';
import type { DirectorConfig } from './config.js';
import type { IpvsDriver } from './ipvs.js';
import type { ServerView, ServiceRuntime } from './service.js';
import type { SysctlStatus } from './sysctl.js';

/** What the status API reads from the director. */
export interface DirectorView {
  readonly config: DirectorConfig;
  readonly services: ReadonlyMap<string, ServiceRuntime>;
  readonly ipvs: IpvsDriver;
  readonly bgp: BgpSpeaker | undefined;
  readonly vrrp: VrrpRouter | undefined;
  readonly announced: ReadonlyMap<string, unknown>;
  readonly metrics: MonitorMetrics;
  readonly startedAt: number;
  readonly ready: boolean;
  currentSysctls(): Promise<SysctlStatus[]>;
}

export type AlertLevel = 'OK' | 'WARNING' | 'CRITICAL';
export interface Alert {
  level: Exclude<AlertLevel, 'OK'>;
  component: string;
  message: string;
}
export interface AlertReport {
  status: AlertLevel;
  alerts: Alert[];
}

/** How long a corrected IPVS drift stays a WARNING. */
const DRIFT_WARNING_MS = 10 * 60_000;

export function serverLine(s: ServerView): string {
  return `${s.enabled ? 'enabled' : 'disabled'}/${s.up ? 'up' : 'down'}/${s.pooled ? 'pooled' : 'not pooled'}`;
}

function serverJson(s: ServerView): Record<string, unknown> {
  return { enabled: s.enabled, up: s.up, pooled: s.pooled, weight: s.weight, address: s.address, port: s.port, status: s.status, leaving: s.leaving, ...(s.drainUntil === undefined ? {} : { drainUntil: s.drainUntil }), checks: s.checks };
}

/** Everything `/alerts` reports, worst first. */
export async function collectAlerts(d: DirectorView, now = Date.now()): Promise<AlertReport> {
  const alerts: Alert[] = [];
  for (const s of d.services.values()) {
    const plan = s.pool.plan;
    const servers = s.servers();
    const enabled = servers.filter((x) => x.enabled).length;
    if (plan.state.alert) {
      alerts.push({ level: 'CRITICAL', component: `pool ${s.name}`, message: `depool threshold holding ${plan.held.length} failed server(s) pooled (${plan.held.join(', ')}): ${servers.filter((x) => x.up && x.enabled).length} of ${enabled} enabled servers up` });
    } else if (d.ready && plan.pooledCount === 0 && enabled > 0) {
      alerts.push({ level: 'CRITICAL', component: `pool ${s.name}`, message: `no server pooled (${enabled} enabled, none up)` });
    }
    if (s.stale !== undefined) alerts.push({ level: 'WARNING', component: `pool ${s.name}`, message: `pool source ${s.stale.origin} unusable (${s.stale.reason.message}): keeping the last good pool` });
  }
  const h = d.ipvs.health;
  if (h.failures.length > 0) alerts.push({ level: 'CRITICAL', component: 'ipvs', message: `operations failed: ${h.failures.slice(0, 3).join('; ')}` });
  if (h.remaining.length > 0) alerts.push({ level: 'CRITICAL', component: 'ipvs', message: `kernel table differs from the desired one after applying: ${h.remaining.slice(0, 5).map((x) => `${x.kind} ${x.key}`).join(', ')}` });
  if (h.lastDrift !== undefined && now - h.lastDrift.at < DRIFT_WARNING_MS) {
    alerts.push({ level: 'WARNING', component: 'ipvs', message: `table drifted ${Math.round((now - h.lastDrift.at) / 1000)} s ago (${h.lastDrift.items.length} difference(s), corrected): someone else changes IPVS` });
  }
  for (const p of d.bgp?.peers() ?? []) {
    if (p.state !== 'Established') alerts.push({ level: 'CRITICAL', component: `bgp ${p.address}`, message: `session ${p.state} (VIPs not announced to this router)` });
  }
  for (const sc of await d.currentSysctls()) {
    if (sc.have !== undefined && sc.have !== sc.want) alerts.push({ level: 'WARNING', component: 'sysctl', message: `net.ipv4.vs.${sc.name} is ${sc.have}, configured ${sc.want}` });
    else if (sc.error !== undefined) alerts.push({ level: 'WARNING', component: 'sysctl', message: `net.ipv4.vs.${sc.name}: ${sc.error}` });
  }
  for (const v of d.vrrp?.snapshot() ?? []) {
    if (v.state === 'initialize') alerts.push({ level: 'WARNING', component: `vrrp ${v.name}`, message: 'instance not running (initialize)' });
  }
  alerts.sort((a, b) => (a.level === b.level ? 0 : a.level === 'CRITICAL' ? -1 : 1));
  return { status: alerts.some((a) => a.level === 'CRITICAL') ? 'CRITICAL' : alerts.length > 0 ? 'WARNING' : 'OK', alerts };
}

export function alertsText(r: AlertReport, d: DirectorView): string {
  if (r.status === 'OK') {
    const n = [...d.services.values()].reduce((a, s) => a + s.pooledCount, 0);
    return `OK: ${d.services.size} service(s), ${n} server(s) pooled, ${d.announced.size} VIP(s) announced\n`;
  }
  // First line: the status and every problem of that level (what a Nagios-style check shows); then one
  // line per lesser problem (WARNINGs under a CRITICAL). No problem is printed twice.
  const head = r.alerts.filter((a) => a.level === r.status).map((a) => `${a.component}: ${a.message}`);
  const rest = r.alerts.filter((a) => a.level !== r.status).map((a) => `${a.level} ${a.component}: ${a.message}\n`);
  return `${r.status}: ${head.join('; ')}\n${rest.join('')}`;
}

const lbl = (l: Record<string, string | number>): string => `{${Object.entries(l).map(([k, v]) => `${k}="${escapeLabel(String(v))}"`).join(',')}}`;

/** Prometheus text: the monitors' series (checks, servers, pools) plus the director's (IPVS, BGP, VRRP, VIPs, sysctls). */
export async function renderMetrics(d: DirectorView): Promise<string> {
  const out: string[] = [renderPrometheus(d.metrics.snapshot()).trimEnd()];
  const fam = (name: string, type: string, help: string): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  };
  fam('lvskit_director_up', 'gauge', 'The director runs (1) and has done its first IPVS reconcile.');
  out.push(`lvskit_director_up${lbl({ mode: d.ipvs.mode })} ${d.ready ? 1 : 0}`);
  fam('lvskit_director_service_pooled_servers', 'gauge', 'Servers pooled at full weight (held included), per service.');
  for (const s of d.services.values()) out.push(`lvskit_director_service_pooled_servers${lbl({ service: s.name })} ${s.pooledCount}`);
  fam('lvskit_director_server_weight', 'gauge', 'IPVS weight the director wants for each server (0 while draining or out).');
  for (const s of d.services.values()) {
    const w = new Map(s.pool.destinations.map((x) => [`${x.address}|${x.port}`, x.weight]));
    for (const v of s.servers()) out.push(`lvskit_director_server_weight${lbl({ service: s.name, server: v.host })} ${w.get(`${v.address}|${v.port}`) ?? 0}`);
  }
  fam('lvskit_director_vip_announced', 'gauge', 'VIP announced (1) or withdrawn (0), per service and VIP.');
  for (const s of d.services.values()) for (const vip of s.config.vips) out.push(`lvskit_director_vip_announced${lbl({ service: s.name, vip })} ${s.announceWanted ? 1 : 0}`);
  const h = d.ipvs.health;
  fam('lvskit_director_ipvs_applies_total', 'counter', 'IPVS reconciles run.');
  out.push(`lvskit_director_ipvs_applies_total ${h.applies}`);
  fam('lvskit_director_ipvs_operations_total', 'counter', 'IPVS operations sent (or, in dry run, rendered).');
  out.push(`lvskit_director_ipvs_operations_total ${h.opsTotal}`);
  fam('lvskit_director_ipvs_errors_total', 'counter', 'IPVS reconciles that failed.');
  out.push(`lvskit_director_ipvs_errors_total ${h.errors}`);
  fam('lvskit_director_ipvs_drift', 'gauge', 'Differences left between the kernel table and the desired one after the last apply.');
  out.push(`lvskit_director_ipvs_drift ${h.remaining.length}`);
  fam('lvskit_director_ipvs_dry_run', 'gauge', '1 when IPVS changes are only logged (no IPVS in the kernel, or --dry-run).');
  out.push(`lvskit_director_ipvs_dry_run ${d.ipvs.mode === 'dry-run' ? 1 : 0}`);
  fam('lvskit_director_bgp_peer_up', 'gauge', 'BGP session Established (1) or not (0), per peer.');
  const peers = d.bgp?.peers() ?? [];
  for (const p of peers) out.push(`lvskit_director_bgp_peer_up${lbl({ peer: p.address, state: p.state })} ${p.state === 'Established' ? 1 : 0}`);
  fam('lvskit_director_bgp_routes_advertised', 'gauge', 'Routes advertised to each BGP peer.');
  for (const p of peers) out.push(`lvskit_director_bgp_routes_advertised${lbl({ peer: p.address })} ${p.routesAdvertised}`);
  fam('lvskit_director_bgp_routes_received', 'gauge', 'Routes received from each BGP peer.');
  for (const p of peers) out.push(`lvskit_director_bgp_routes_received${lbl({ peer: p.address })} ${p.routesReceived}`);
  const vr = d.vrrp?.snapshot() ?? [];
  fam('lvskit_director_vrrp_master', 'gauge', 'VRRP instance is master (1) or not (0).');
  for (const v of vr) out.push(`lvskit_director_vrrp_master${lbl({ instance: v.name, vrid: v.vrid, state: v.state })} ${v.state === 'master' ? 1 : 0}`);
  fam('lvskit_director_vrrp_priority', 'gauge', 'VRRP priority in use (after tracking).');
  for (const v of vr) out.push(`lvskit_director_vrrp_priority${lbl({ instance: v.name })} ${v.priority}`);
  fam('lvskit_director_vrrp_transitions_total', 'counter', 'VRRP state transitions.');
  for (const v of vr) out.push(`lvskit_director_vrrp_transitions_total${lbl({ instance: v.name })} ${v.transitions}`);
  fam('lvskit_director_sysctl_mismatch', 'gauge', 'IPVS sysctl differs from the configured value (1).');
  for (const s of await d.currentSysctls()) out.push(`lvskit_director_sysctl_mismatch${lbl({ name: s.name })} ${s.have !== undefined && s.have !== s.want ? 1 : 0}`);
  // The process (the usual names of Prometheus clients).
  const mem = process.memoryUsage();
  const cpu = process.cpuUsage();
  fam('process_cpu_seconds_total', 'counter', 'User and system CPU time of the process.');
  out.push(`process_cpu_seconds_total ${(cpu.user + cpu.system) / 1e6}`);
  fam('process_resident_memory_bytes', 'gauge', 'Resident memory of the process.');
  out.push(`process_resident_memory_bytes ${mem.rss}`);
  fam('nodejs_heap_size_total_bytes', 'gauge', 'V8 heap reserved.');
  out.push(`nodejs_heap_size_total_bytes ${mem.heapTotal}`);
  fam('nodejs_heap_size_used_bytes', 'gauge', 'V8 heap in use.');
  out.push(`nodejs_heap_size_used_bytes ${mem.heapUsed}`);
  fam('nodejs_external_memory_bytes', 'gauge', 'Memory outside the V8 heap held by JS objects (buffers).');
  out.push(`nodejs_external_memory_bytes ${mem.external}`);
  return `${out.join('\n')}\n`;
}

function wantsJson(req: IncomingMessage, url: URL): boolean {
  const f = url.searchParams.get('format');
  if (f !== null) return f === 'json';
  return /\bapplication\/json\b/.test(req.headers.accept ?? '');
}

export class StatusServer {
  readonly #d: DirectorView;
  readonly #log: Logger;
  #server: Server | undefined;

  constructor(d: DirectorView, log: Logger) {
    this.#d = d;
    this.#log = log;
  }

  get url(): string | undefined {
    const a = this.#server?.address() as AddressInfo | null | undefined;
    if (a === null || a === undefined) return undefined;
    return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }

  listen(address: string, port: number): Promise<void> {
    const server = createServer((req, res) => {
      this.#handle(req, res).catch((e: unknown) => {
        this.#log.error({ err: e }, 'status request failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('internal error\n');
      });
    });
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, address, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://status');
    const json = wantsJson(req, url);
    const send = (code: number, body: unknown): void => {
      if (json) {
        res.writeHead(code, { 'content-type': 'application/json' });
        res.end(`${JSON.stringify(body)}\n`);
      } else {
        res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(typeof body === 'string' ? body : `${JSON.stringify(body)}\n`);
      }
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' });
      res.end('method not allowed\n');
      return;
    }
    const parts = url.pathname.split('/').filter((p) => p !== '').map((p) => decodeURIComponent(p));
    const d = this.#d;
    if (parts[0] === 'pools') {
      if (parts.length === 1) {
        const names = [...d.services.keys()].sort();
        send(200, json ? names : names.map((n) => `${n}\n`).join(''));
        return;
      }
      const svc = d.services.get(parts[1] as string);
      if (svc === undefined) {
        send(404, json ? { error: `no service ${parts[1]}` } : `no service ${parts[1]}\n`);
        return;
      }
      const servers = svc.servers();
      if (parts.length === 2) {
        if (json) send(200, Object.fromEntries(servers.map((s) => [s.host, serverJson(s)])));
        else send(200, servers.map((s) => `${s.host}: ${serverLine(s)}\n`).join(''));
        return;
      }
      const s = servers.find((x) => x.host === parts[2]);
      if (s === undefined || parts.length > 3) {
        send(404, json ? { error: `no server ${parts[2]} in ${svc.name}` } : `no server ${parts[2]} in ${svc.name}\n`);
        return;
      }
      send(200, json ? serverJson(s) : `${serverLine(s)}\n`);
      return;
    }
    if (parts.length === 1 && parts[0] === 'alerts') {
      const r = await collectAlerts(d);
      send(200, json ? r : alertsText(r, d));
      return;
    }
    if (parts.length === 1 && parts[0] === 'metrics') {
      const body = await renderMetrics(d);
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(body);
      return;
    }
    if (parts.length === 0) {
      send(200, json ? { paths: ['/pools', '/pools/<service>', '/pools/<service>/<host>', '/alerts', '/metrics'] } : 'lvskit director status: /pools /pools/<service> /pools/<service>/<host> /alerts /metrics (add ?format=json)\n');
      return;
    }
    send(404, json ? { error: 'not found' } : 'not found\n');
  }

  close(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    if (s === undefined) return Promise.resolve();
    s.closeAllConnections();
    return new Promise((r) => s.close(() => r()));
  }
}
