/**
 * examples/anycast-announcer against BIRD 2: two hosts on one segment, BIRD on
 * r1 (AS 65000), the announcer on a1 (AS 65001) checking a real HTTP server in
 * its own namespace. The prefix is in BIRD's table while the server answers,
 * gone while it is down, back when it returns, and gone when the announcer
 * stops.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createLab, type Lab, type LabProcess } from '../harness/netlab.js';

const root = resolve(import.meta.dirname, '../../..');
const ANNOUNCER = join(root, 'examples', 'anycast-announcer', 'announcer.mjs');

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 30_000, proc?: LabProcess): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${proc === undefined ? '' : `\nannouncer output:\n${proc.output.slice(-4000)}`}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('anycast-announcer vs BIRD', () => {
  it('announces while the local check passes, withdraws while it fails, withdraws on stop', async ({ signal }) => {
    // The announcer imports lvskit by package name: the built package (CI builds before the tiers).
    if (!existsSync(join(root, 'dist', 'bgp', 'index.js'))) execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'ignore' });
    const dir = mkdtempSync(join(tmpdir(), 'lvskit-anycast-'));
    let lab: Lab<'r1' | 'a1'> | undefined;
    try {
      lab = await createLab({ hosts: { r1: { ipv4: ['10.77.0.1/24'] }, a1: { ipv4: ['10.77.0.2/24'] } } }, { signal });
      const conf = join(dir, 'bird.conf');
      const sock = join(dir, 'bird.ctl');
      writeFileSync(
        conf,
        `log stderr all;
router id 10.77.0.1;
protocol device {}
protocol bgp ann {
  local 10.77.0.1 as 65000;
  neighbor 10.77.0.2 as 65001;
  connect retry time 1;
  ipv4 { import all; export none; };
}
`,
      );
      const bird = lab.spawn('r1', ['bird', '-f', '-c', conf, '-s', sock, '-P', `${sock}.pid`]);
      await bird.waitForOutput(/Started/, { timeoutMs: 20_000 });
      const l = lab;
      const routes = async (): Promise<string> => (await l.exec('r1', ['birdc', '-s', sock, 'show', 'route', 'all', 'protocol', 'ann'], { timeoutMs: 10_000, check: true })).stdout;

      const serverArgv = [process.execPath, '-e', "require('http').createServer((q,s)=>s.end('ok')).listen(8080,'127.0.0.1',()=>console.log('listening'))"];
      let web = lab.spawn('a1', serverArgv);
      await web.waitForOutput(/listening/);

      // The configuration is the README's, as it stands.
      const readme = readFileSync(join(root, 'examples', 'anycast-announcer', 'README.md'), 'utf8');
      const yaml = /```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
      expect(yaml).toContain('routerId: 10.77.0.2');
      const cfg = join(dir, 'announcer.yaml');
      writeFileSync(cfg, yaml as string);
      const ann = lab.spawn('a1', [process.execPath, ANNOUNCER, '--config', cfg], { cwd: root });
      const both = await until(
        'both prefixes at BIRD',
        async () => {
          const r = await routes();
          return r.includes('192.0.2.53/32') && r.includes('198.51.100.0/24') ? r : undefined;
        },
        30_000,
        ann,
      );
      expect(both).toMatch(/BGP\.med: 100/);
      expect(both).toMatch(/BGP\.community: \(65001,53\)/);
      expect(both).toMatch(/BGP\.as_path: 65001/);
      expect(both).toMatch(/via 10\.77\.0\.2/);

      // The local service dies: both prefixes leave BIRD's table.
      await web.stop();
      await until('withdrawn at BIRD', async () => ((await routes()).includes('192.0.2.53/32') ? undefined : true), 15_000, ann);
      expect(await routes()).not.toContain('198.51.100.0/24');
      expect(ann.output).toMatch(/health check fails: withdrawing/);

      // It comes back: announced again.
      web = lab.spawn('a1', serverArgv);
      await web.waitForOutput(/listening/);
      await until('announced again', async () => ((await routes()).includes('192.0.2.53/32') ? true : undefined), 15_000, ann);

      // The announcer stops (SIGTERM): withdrawn, and it exits cleanly.
      const exit = await ann.stop({ signal: 'SIGTERM', graceMs: 5_000 });
      expect(exit.code, `${JSON.stringify(exit)}\n${ann.output.slice(-1500)}`).toBe(0);
      await until('withdrawn after stop', async () => ((await routes()).includes('192.0.2.53/32') ? undefined : true), 15_000);
      expect(ann.output).toMatch(/stopped: everything withdrawn/);
    } finally {
      await lab?.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
