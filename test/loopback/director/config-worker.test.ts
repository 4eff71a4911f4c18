/**
 * Big configuration files are parsed in a worker thread (examples/director/config.ts), so the
 * parser's heap goes with the worker. Against the built director (the worker loads the built
 * file): the config from the worker equals the main thread's parse, mistakes still name file,
 * line and key, and the bin's --check works on such a file.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type * as Director from '../../../examples/director/index.js';

const root = resolve(import.meta.dirname, '../../..');
const dir = mkdtempSync(join(tmpdir(), 'lvskit-config-worker-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function bigConfig(services: number, servers: number, badAt?: number): string {
  const lines = ['name: big', 'dryRun: true', 'services:'];
  for (let i = 0; i < services; i++) {
    lines.push(`  s${i}:`, `    vip: 10.${100 + Math.floor(i / 250)}.${i % 250}.1`, '    port: 80', '    forwarding: masq');
    lines.push('    checks: [{ type: http, path: /, intervalMs: 30s, timeoutMs: 1s }]', '    servers:');
    for (let j = 0; j < servers; j++) lines.push(`      - { host: r${j}, address: 127.0.0.1, port: ${i * servers + j === badAt ? 'eighty' : 20000 + j} }`);
  }
  return `${lines.join('\n')}\n`;
}

describe('config files parsed in a worker', () => {
  it('give the same config as a main-thread parse, and the same errors', async () => {
    if (!existsSync(join(root, 'dist', 'director', 'index.js'))) execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'ignore' });
    const mod = (await import(pathToFileURL(join(root, 'dist', 'director', 'index.js')).href)) as typeof Director;
    const text = bigConfig(50, 100);
    expect(text.length).toBeGreaterThan(256 * 1024);
    const file = join(dir, 'big.yaml');
    writeFileSync(file, text);
    const viaWorker = await mod.loadConfig(file);
    expect(viaWorker).toEqual(mod.parseConfig(text, file));
    expect(viaWorker.services).toHaveLength(50);

    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, bigConfig(50, 100, 4999));
    const err = await mod.loadConfig(bad).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(mod.ConfigError);
    expect((err as InstanceType<typeof mod.ConfigError>).message).toMatch(new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: services\\.s49\\.servers\\[99\\]\\.port: must be an integer`));

    const check = spawnSync(process.execPath, [join(root, 'dist', 'director', 'cli.js'), '--config', file, '--check'], { encoding: 'utf8', timeout: 60_000 });
    expect(check.status, check.stderr).toBe(0);
  }, 120_000);
});
