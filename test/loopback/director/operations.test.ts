/**
 * The director fed by a watched pool file (examples/director/sources) and
 * changed by the operator command (examples/director/ops): depool drains a
 * server (weight 0, then removal) and pool brings it back; a server removed
 * from the file is drained first; a pool file that turns to garbage keeps the
 * last good pool and raises a WARNING. Real files, real HTTP backends, dry run.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { noopLogger } from 'lvskit';
import { parseConfig, startDirector, type DirectorHandle, type IpvsApplied } from '../../../examples/director/index.js';
import { main as ops } from '../../../examples/director/ops/index.js';

async function until(what: string, fn: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('director + pool file + operator command', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lvskit-director-ops-'));
  const poolFile = join(dir, 'web.pool');
  const servers: Server[] = [];
  const ports: number[] = [];
  let d: DirectorHandle;
  const applied: IpvsApplied[] = [];
  const commands = (): string[] => applied.flatMap((a) => a.commands);
  const pools = async (): Promise<string> => (await fetch(`${d.statusUrl}/pools/web`)).text();
  const line = (host: string, port: number, extra = "'enabled': True"): string => `{ 'host': '${host}', 'address': '127.0.0.1', 'port': ${port}, 'weight': 10, ${extra} }`;

  beforeAll(async () => {
    for (let i = 0; i < 3; i++) {
      const s = createServer((_q, r) => r.end('ok\n'));
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
      servers.push(s);
      ports.push((s.address() as AddressInfo).port);
    }
    writeFileSync(poolFile, ['rs1', 'rs2', 'rs3'].map((h, i) => line(h, ports[i] as number)).join('\n') + '\n');
    const cfg = parseConfig(
      `dryRun: true
status: { address: 127.0.0.1, port: 0 }
ipvs: { startupWaitMs: 5s }
services:
  web:
    vip: 192.0.2.90
    port: 80
    forwarding: masq
    drainMs: 1s
    checks: [{ type: http, intervalMs: 150, timeoutMs: 1s }]
    pool: { type: file, path: web.pool, debounceMs: 50 }
`,
      join(dir, 'director.yaml'),
    );
    d = await startDirector(cfg, { logger: noopLogger });
    d.on('ipvs', (a) => applied.push(a));
    await until('three servers pooled', async () => (await pools()) === 'rs1: enabled/up/pooled\nrs2: enabled/up/pooled\nrs3: enabled/up/pooled\n');
  }, 30_000);

  afterAll(async () => {
    await d?.stop();
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('depool drains the server (weight 0, then removed); pool brings it back', async () => {
    const out: string[] = [];
    const io = { stdout: (s: string) => void out.push(s), stderr: (s: string) => void out.push(s) };
    expect(await ops(['depool', 'web', 'rs2', '--pool-file', poolFile], io), out.join('')).toBe(0);
    const r2 = `-r 127.0.0.1:${ports[1]}`;
    await until('rs2 at weight 0', () => commands().includes(`ipvsadm -e -t 192.0.2.90:80 ${r2} -m -w 0`));
    expect(await pools()).toBe('rs1: enabled/up/pooled\nrs2: disabled/up/not pooled\nrs3: enabled/up/pooled\n');
    await until('rs2 removed after the drain', () => commands().includes(`ipvsadm -d -t 192.0.2.90:80 ${r2}`), 5000);
    expect(await ops(['pool', 'web', 'rs2', '--pool-file', poolFile], io), out.join('')).toBe(0);
    const removedAt = commands().indexOf(`ipvsadm -d -t 192.0.2.90:80 ${r2}`);
    await until('rs2 back', () => commands().slice(removedAt).includes(`ipvsadm -a -t 192.0.2.90:80 ${r2} -m -w 10`));
    expect(await pools()).toBe('rs1: enabled/up/pooled\nrs2: enabled/up/pooled\nrs3: enabled/up/pooled\n');
  });

  it('a pool file that turns to garbage keeps the last good pool and warns; a server removed from it is drained first', async () => {
    const before = commands().length;
    writeFileSync(poolFile, "{ 'host': 'rs1', 'weight': ten }\nnot python at all\n");
    await until('a WARNING', async () => (await (await fetch(`${d.statusUrl}/alerts`)).text()).startsWith('WARNING: pool web: pool source'));
    expect(commands().length).toBe(before);
    expect(await pools()).toBe('rs1: enabled/up/pooled\nrs2: enabled/up/pooled\nrs3: enabled/up/pooled\n');
    // rs3 leaves the file: weight 0 first, then gone.
    writeFileSync(poolFile, [line('rs1', ports[0] as number), line('rs2', ports[1] as number)].join('\n') + '\n');
    const r3 = `-r 127.0.0.1:${ports[2]}`;
    await until('rs3 at weight 0', () => commands().includes(`ipvsadm -e -t 192.0.2.90:80 ${r3} -m -w 0`));
    await until('rs3 removed', async () => (await pools()) === 'rs1: enabled/up/pooled\nrs2: enabled/up/pooled\n' && commands().includes(`ipvsadm -d -t 192.0.2.90:80 ${r3}`), 5000);
    expect(commands().indexOf(`ipvsadm -d -t 192.0.2.90:80 ${r3}`)).toBeGreaterThan(commands().indexOf(`ipvsadm -e -t 192.0.2.90:80 ${r3} -m -w 0`));
    expect((await (await fetch(`${d.statusUrl}/alerts`)).text()).startsWith('OK')).toBe(true);
  });
});
