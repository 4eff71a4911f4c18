/**
 * Per-interface sysctls a virtual MAC needs, read and written through
 * /proc/sys/net (the process's own network namespace), never by running
 * `sysctl`. A transport file.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { VrrpError } from './errors.js';

const KEY = /^(ipv4|ipv6)\/conf\/[A-Za-z0-9_.-]{1,15}\/[a-z_]{1,40}$/;

function path(key: string): string {
  if (!KEY.test(key)) throw new VrrpError('ERR_VRRP_CONFIG', `sysctl key '${key}'`);
  return `/proc/sys/net/${key}`;
}

/** `net.<key>` as an integer (`ipv4/conf/eth0/arp_ignore`). */
export async function readSysctl(key: string): Promise<number> {
  try {
    return Number((await readFile(path(key), 'utf8')).trim());
  } catch (e) {
    if (e instanceof VrrpError) throw e;
    throw new VrrpError('ERR_VRRP_SYSCTL', `read net.${key.replaceAll('/', '.')}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/** Set `net.<key>`. */
export async function writeSysctl(key: string, value: number): Promise<void> {
  try {
    await writeFile(path(key), `${value}\n`);
  } catch (e) {
    if (e instanceof VrrpError) throw e;
    throw new VrrpError('ERR_VRRP_SYSCTL', `set net.${key.replaceAll('/', '.')}=${value}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}
