/**
 * Health checks from configuration: each `CheckConfig` becomes one lvskit/monitors
 * check, shared by every server of the service (checks keep no per-server state
 * except the stateful idle-connection check, which keeps it per `watch`).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  CommandCheck,
  DnsCheck,
  HttpCheck,
  IdleConnectionCheck,
  TcpCheck,
  UdpCheck,
  type Check,
  type HttpCheckOptions,
  type MonitoredCheck,
  type StatefulCheck,
} from 'lvskit/monitors';
import type { CheckConfig } from './config.js';

type O = Record<string, unknown>;
const pick = (o: O, keys: string[]): O => Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));

/** Build the monitors check a config entry describes. Throws lvskit's `MonitorError` for options the check refuses. */
export function buildCheck(c: CheckConfig, baseDir: string): Check | StatefulCheck {
  const o = c.options;
  switch (c.type) {
    case 'http':
    case 'https': {
      const h = pick(o, ['path', 'host', 'port', 'method', 'expectStatus', 'headers', 'timeoutMs', 'maxBodyBytes']) as HttpCheckOptions;
      if (typeof o.bodyMatch === 'string') h.bodyMatch = o.bodyMatch;
      if (c.type === 'https') {
        h.tls = {
          ...(o.verify === undefined ? {} : { verify: o.verify as boolean }),
          ...(o.servername === undefined ? {} : { servername: o.servername as string }),
          ...(o.ca === undefined ? {} : { ca: readFileSync(resolve(baseDir, o.ca as string)) }),
        };
      }
      return new HttpCheck(h);
    }
    case 'tcp':
      return new TcpCheck(pick(o, ['port', 'timeoutMs', 'send', 'expect', 'close']));
    case 'idle':
      return new IdleConnectionCheck(pick(o, ['port', 'connectTimeoutMs', 'initialDelayMs', 'maxDelayMs', 'keepAliveMs']));
    case 'command':
      return new CommandCheck({ argv: o.argv as string[], ...pick(o, ['timeoutMs', 'env']), ...(o.cwd === undefined ? {} : { cwd: resolve(baseDir, o.cwd as string) }) });
    case 'dns':
      return new DnsCheck({ name: o.name as string, ...pick(o, ['type', 'port', 'expectRcode', 'expectAnswer', 'timeoutMs', 'recursionDesired']) });
    case 'udp':
      return new UdpCheck(pick(o, ['port', 'payload', 'expectReply', 'timeoutMs', 'quietMs']));
  }
}

/** The monitored checks of a service (one built check per config entry, shared by its servers). */
export function buildChecks(checks: readonly CheckConfig[], baseDir: string): MonitoredCheck[] {
  return checks.map((c) => {
    const m: MonitoredCheck = { name: c.name, check: buildCheck(c, baseDir), intervalMs: c.intervalMs };
    if (c.fastIntervalMs !== undefined) m.fastIntervalMs = c.fastIntervalMs;
    if (c.rise !== undefined) m.rise = c.rise;
    if (c.fall !== undefined) m.fall = c.fall;
    return m;
  });
}
