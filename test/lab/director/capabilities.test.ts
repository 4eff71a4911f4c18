/**
 * The director as examples/systemd/lvskit-director.service runs it: an
 * unprivileged user with only the unit's capabilities (read from the unit
 * file), in a lab namespace, listening for BGP on port 179. Without
 * CAP_NET_BIND_SERVICE it must stop at once with exit 77 and say what is
 * missing; with the unit's set it runs, answers on its status API, and stops
 * cleanly on SIGTERM.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLab, type Lab } from '../harness/netlab.js';

const root = resolve(import.meta.dirname, '../../..');
const CLI = join(root, 'dist', 'director', 'cli.js');
const UNIT = join(root, 'examples', 'systemd', 'lvskit-director.service');

function unitValues(key: string): string[] {
  return readFileSync(UNIT, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1).trim());
}

describe('lvskit-director with the systemd unit\'s privileges', () => {
  it('the unit runs a non-root user with exactly CAP_NET_ADMIN, CAP_NET_RAW, CAP_NET_BIND_SERVICE', () => {
    expect(unitValues('User')).toEqual(['lvskit']);
    const caps = ['CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_NET_BIND_SERVICE'];
    expect(unitValues('CapabilityBoundingSet')[0]?.split(/\s+/).sort()).toEqual([...caps].sort());
    expect(unitValues('AmbientCapabilities')[0]?.split(/\s+/).sort()).toEqual([...caps].sort());
    expect(unitValues('NoNewPrivileges')).toEqual(['yes']);
    expect(unitValues('ExecReload')).toEqual(['/bin/kill -HUP $MAINPID']);
    expect(unitValues('ExecStart')[0]).toMatch(/lvskit-director --config \S+/);
    expect(unitValues('RestartPreventExitStatus')).toEqual(['77 78']);
  });

  it('without CAP_NET_BIND_SERVICE: exit 77 naming it; with the unit\'s capabilities: runs and stops cleanly', async ({ signal }) => {
    if (!existsSync(CLI)) execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'ignore' });
    const dir = mkdtempSync(join(tmpdir(), 'lvskit-caps-'));
    chmodSync(dir, 0o755);
    let lab: Lab<'d1'> | undefined;
    try {
      lab = await createLab({ hosts: { d1: { ipv4: ['10.78.0.1/24'] } } }, { signal });
      const cfg = join(dir, 'director.yaml');
      writeFileSync(
        cfg,
        `name: caps
dryRun: true
status: { address: 127.0.0.1, port: 9090 }
ipvs: { startupWaitMs: 3s, sysctls: { expire_nodest_conn: 1 } }
bgp:
  localAs: 64512
  routerId: 10.78.0.1
  listen: { address: 10.78.0.1, port: 179 }
  peers: [{ address: 10.78.0.2, remoteAs: 65000, passive: true }]
services:
  web:
    vip: 192.0.2.80
    port: 80
    checks: [{ type: tcp, intervalMs: 200 }]
    servers: [{ host: rs1, address: 127.0.0.1 }]
`,
      );
      chmodSync(cfg, 0o644);
      const caps = unitValues('CapabilityBoundingSet')[0]?.split(/\s+/).map((c) => c.replace(/^CAP_/, '').toLowerCase()) ?? [];
      const asNobody = (keep: string[]): string[] => [
        'setpriv',
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        `--inh-caps=-all${keep.map((c) => `,+${c}`).join('')}`,
        `--ambient-caps=-all${keep.map((c) => `,+${c}`).join('')}`,
        `--bounding-set=-all${keep.map((c) => `,+${c}`).join('')}`,
        process.execPath,
        CLI,
        '--config',
        cfg,
        '--log-format',
        'json',
      ];

      // Missing CAP_NET_BIND_SERVICE: the BGP listener on 179 is refused.
      const denied = await lab.exec('d1', asNobody(caps.filter((c) => c !== 'net_bind_service')), { timeoutMs: 30_000 });
      expect(denied.code, denied.stderr).toBe(77);
      expect(denied.stderr).toMatch(/cannot start: BGP listener on port 179: permission denied \(ports below 1024 need CAP_NET_BIND_SERVICE/);
      expect(denied.stderr).toContain('[ERR_DIRECTOR_PERMISSION]');

      // The unit's set: it runs.
      const d = lab.spawn('d1', asNobody(caps));
      await d.waitForOutput(/"msg":"director caps running"/, { timeoutMs: 20_000 });
      const pools = await lab.exec('d1', [process.execPath, '-e', "fetch('http://127.0.0.1:9090/pools/web').then(r=>r.text()).then(t=>process.stdout.write(t))"], { timeoutMs: 10_000, check: true });
      expect(pools.stdout).toBe('rs1: enabled/down/not pooled\n');
      const ss = await lab.exec('d1', ['ss', '-Htln', 'sport = :179'], { check: true });
      expect(ss.stdout).toContain('10.78.0.1:179');
      // SIGTERM, and another one while it stops (as the harness's stop() also does: to the group and
      // to the process): the second must not kill it; it finishes and exits 0.
      process.kill(d.pid, 'SIGTERM');
      await d.waitForOutput(/"msg":"stopping"/, { timeoutMs: 10_000 });
      let second = false;
      try {
        process.kill(d.pid, 'SIGTERM');
        second = true;
      } catch {
        // already gone (ESRCH): the stop was quicker than the second signal
      }
      const exit = await d.stop({ signal: 'SIGTERM', graceMs: 10_000 });
      expect(exit.code, `signal ${exit.signal}\n${d.output.slice(-2000)}`).toBe(0);
      // (When the second signal found it still stopping, it says so.)
      if (second && !d.output.includes('"msg":"director caps stopped')) expect(d.output).toMatch(/"msg":"already stopping"/);
      expect(d.output).toMatch(/"msg":"director caps stopped/);
    } finally {
      await lab?.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
