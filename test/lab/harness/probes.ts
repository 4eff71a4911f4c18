/**
 * Small probes for lab tests: bounded polling, ping with retries, and a TCP banner server and
 * client run as node one-liners inside namespaces (no extra packages needed).
 */

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { LabError } from './core.mjs';
import type { Lab, LabProcess } from './netlab.js';

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Poll `fn` until it returns something other than undefined/false; bounded by `timeoutMs`
 * (default 10 s) and by a maximum number of attempts. Rejects with ERR_LAB_WAIT_TIMEOUT.
 */
export async function waitFor<T>(
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  const maxAttempts = Math.ceil(timeoutMs / Math.max(1, intervalMs)) + 1;
  for (let i = 0; i < maxAttempts; i++) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() >= deadline) break;
    await delay(intervalMs);
  }
  throw new LabError('ERR_LAB_WAIT_TIMEOUT', `timed out after ${timeoutMs} ms waiting for ${options.what ?? 'condition'}`);
}

/** `ping -c1 -W1` from `host` to `addr`, up to `attempts` times (default 5); true on a reply. */
export async function ping<H extends string>(lab: Lab<H>, host: H, addr: string, attempts = 5): Promise<boolean> {
  for (let i = 0; i < attempts; i++) {
    const r = await lab.exec(host, ['ping', '-n', '-c1', '-W1', addr], { timeoutMs: 5000 });
    if (r.code === 0) return true;
  }
  return false;
}

const SERVER_JS = `
const net = require('node:net');
const [port, banner, host] = process.argv.slice(1);
const srv = net.createServer((s) => { s.on('error', () => {}); s.end(banner + '\\n'); });
srv.on('error', (e) => { console.error('listen error ' + e.code); process.exit(1); });
srv.listen({ host, port: Number(port), ipv6Only: false }, () => console.log('listening ' + srv.address().port));
setTimeout(() => process.exit(0), 600000).unref();
setInterval(() => {}, 60000);
`;

/**
 * argv of a long-running TCP server (node) that answers every connection with `banner` and
 * closes; prints `listening <port>` when ready. `host` '::' listens on IPv4 and IPv6.
 */
export function bannerServerArgv(port: number, banner: string, host = '::'): string[] {
  return [process.execPath, '-e', SERVER_JS, String(port), banner, host];
}

/** Start a banner server in `host` via lab.spawn and wait until it listens; returns its port. */
export async function startBannerServer<H extends string>(
  lab: Lab<H>,
  host: H,
  port: number,
  banner: string,
): Promise<{ proc: LabProcess; port: number }> {
  const proc = lab.spawn(host, bannerServerArgv(port, banner));
  const m = await proc.waitForOutput(/listening (\d+)/, { timeoutMs: 10_000 });
  return { proc, port: Number(m[1]) };
}

const CLIENT_JS = `
const net = require('node:net');
const [host, port, ms] = process.argv.slice(1);
const out = (o) => { process.stdout.write(JSON.stringify(o) + '\\n'); process.exit(0); };
let data = '';
const s = net.connect({ host, port: Number(port) });
s.setEncoding('utf8');
s.setTimeout(Number(ms), () => out({ error: 'ETIMEDOUT' }));
s.on('data', (d) => { data += d; });
s.on('end', () => out({ data: data.trim() }));
s.on('error', (e) => out({ error: e.code || e.message }));
`;

export type TcpProbe = { data: string } | { error: string };

function parseProbe(stdout: string): TcpProbe {
  const parsed = JSON.parse(stdout.trim()) as { data?: unknown; error?: unknown };
  if (typeof parsed.data === 'string') return { data: parsed.data };
  return { error: String(parsed.error) };
}

/** Connect from inside `host` (a node one-liner run with lab.exec); the server's banner or the error code. */
export async function tcpProbe<H extends string>(lab: Lab<H>, host: H, addr: string, port: number, timeoutMs = 3000): Promise<TcpProbe> {
  const r = await lab.exec(host, [process.execPath, '-e', CLIENT_JS, addr, String(port), String(timeoutMs)], {
    timeoutMs: timeoutMs + 5000,
    check: true,
  });
  return parseProbe(r.stdout);
}

/** The same probe from the root namespace; only for loopback addresses (the network rule). */
export async function tcpProbeRoot(addr: '127.0.0.1' | '::1', port: number, timeoutMs = 3000): Promise<TcpProbe> {
  const child = spawn(process.execPath, ['-e', CLIENT_JS, addr, String(port), String(timeoutMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs + 5000);
  await new Promise<void>((resolve) => child.on('close', () => resolve()));
  clearTimeout(timer);
  return parseProbe(out);
}

/** Loader flag for running TypeScript fixtures in child processes: `node --import <this> x.ts`. */
export const TS_REGISTER = fileURLToPath(new URL('./ts-register.mjs', import.meta.url));
