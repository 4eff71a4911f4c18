/**
 * IPVS sysctls (/proc/sys/net/ipv4/vs/*): set from the configuration at start
 * and on reload, and compared again whenever `/alerts` is asked, since anyone
 * with root can change them behind the director's back.
 *
 * - expire_nodest_conn: drop connections to a removed real server at once (so clients retry elsewhere)
 * - conn_reuse_mode: how a reused source port is scheduled (0 keeps the old destination)
 * - sloppy_tcp: schedule TCP flows first seen mid-connection (active-active after a failover)
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'lvskit';
import type { IpvsSysctl } from './config.js';

export const IPVS_SYSCTL_DIR = '/proc/sys/net/ipv4/vs';

export interface SysctlStatus {
  name: IpvsSysctl;
  want: number;
  /** What the kernel has, or undefined when it can't be read (no IPVS, dry run). */
  have: number | undefined;
  error?: string;
}

export async function readSysctl(name: string, dir = IPVS_SYSCTL_DIR): Promise<number | undefined> {
  try {
    const t = await readFile(join(dir, name), 'utf8');
    const n = Number.parseInt(t.trim(), 10);
    return Number.isNaN(n) ? undefined : n;
  } catch {
    return undefined;
  }
}

/** Write each wanted value that differs; dry run only logs the `sysctl -w` it would run. */
export async function applySysctls(want: Partial<Record<IpvsSysctl, number>>, opts: { dryRun: boolean; logger: Logger; dir?: string }): Promise<SysctlStatus[]> {
  const dir = opts.dir ?? IPVS_SYSCTL_DIR;
  const out: SysctlStatus[] = [];
  for (const [name, value] of Object.entries(want) as [IpvsSysctl, number][]) {
    const cmd = `sysctl -w net.ipv4.vs.${name}=${value}`;
    if (opts.dryRun) {
      opts.logger.info({ cmd, dryRun: true }, 'would run');
      out.push({ name, want: value, have: undefined });
      continue;
    }
    const have = await readSysctl(name, dir);
    if (have === value) {
      out.push({ name, want: value, have });
      continue;
    }
    try {
      await writeFile(join(dir, name), `${value}\n`);
      opts.logger.info({ cmd, was: have }, 'sysctl set');
      out.push({ name, want: value, have: await readSysctl(name, dir) });
    } catch (e) {
      const code = (e as { code?: string }).code;
      const why = code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? 'not permitted (needs CAP_NET_ADMIN in the network namespace, and a writable /proc/sys)' : (e as Error).message;
      opts.logger.warn({ cmd, err: e }, `cannot set ${name}: ${why}`);
      out.push({ name, want: value, have, error: why });
    }
  }
  return out;
}

/** Compare the kernel's values with the wanted ones (for /alerts and metrics). */
export async function checkSysctls(want: Partial<Record<IpvsSysctl, number>>, dir = IPVS_SYSCTL_DIR): Promise<SysctlStatus[]> {
  const out: SysctlStatus[] = [];
  for (const [name, value] of Object.entries(want) as [IpvsSysctl, number][]) out.push({ name, want: value, have: await readSysctl(name, dir) });
  return out;
}
