/**
 * The README's first command: `npm run demo` runs examples/demo/main.mjs against
 * the built package. Run it (with --fast pauses) and check that its story holds:
 * servers checked, the ipvsadm commands, a server depooled (weight 0, then
 * removed) and repooled, the depool threshold alert, the VIP at the router and
 * withdrawn at the end, and that it ends by itself.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../../..');

function runDemo(args: string[]): Promise<{ code: number | null; out: string; ms: number }> {
  // The demo imports dist/ (what `npm run demo` builds first); CI builds before the tiers run.
  if (!existsSync(join(root, 'dist', 'director', 'index.js'))) execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'ignore' });
  const t0 = Date.now();
  return new Promise((done, fail) => {
    const p = spawn(process.execPath, [join(root, 'examples', 'demo', 'main.mjs'), ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.on('error', fail);
    p.on('close', (code) => {
      clearTimeout(timer);
      done({ code, out, ms: Date.now() - t0 });
    });
  });
}

describe('npm run demo', () => {
  it('tells the whole story and ends by itself', async () => {
    const { code, out } = await runDemo(['--fast']);
    expect(out, out).toContain('lvskit demo: a load-balancer director');
    expect(code, out).toBe(0);
    const lines = out.split('\n');
    const at = (re: RegExp): number => lines.findIndex((l) => re.test(l));
    // Start: the first IPVS table after every server answered, then the route at the router.
    const checked = at(/checks every server answered once/);
    const add = at(/IPVS {3}ipvsadm -A -t 192\.0\.2\.80:80 -s wrr$/);
    const dests = lines.filter((l) => /IPVS {3}ipvsadm -a -t 192\.0\.2\.80:80 -r 127\.0\.0\.1:\d+\(web\d\) -m -w (10|20)$/.test(l));
    expect(checked).toBeGreaterThan(0);
    expect(add).toBeGreaterThan(checked);
    expect(dests.length).toBeGreaterThanOrEqual(3);
    expect(at(/router has 192\.0\.2\.80\/32 via 192\.0\.2\.2, AS path 64512, MED 100/)).toBeGreaterThan(add);
    expect(out).toContain('    web1: enabled/up/pooled\n    web2: enabled/up/pooled\n    web3: enabled/up/pooled\n');
    // web2 fails: weight 0, then deleted, then back.
    const zero = at(/IPVS {3}ipvsadm -e -t 192\.0\.2\.80:80 -r 127\.0\.0\.1:\d+\(web2\) -m -w 0$/);
    const del = at(/IPVS {3}ipvsadm -d -t 192\.0\.2\.80:80 -r 127\.0\.0\.1:\d+\(web2\)$/);
    expect(zero).toBeGreaterThan(add);
    expect(del).toBeGreaterThan(zero);
    // The drain time starts once IPVS has the weight 0, told in people's times (no raw clock values).
    const drain = at(/pool {3}web2: weight 0 is in IPVS; open connections get 2 s, until +\d+\.\ds \(\d\d:\d\d:\d\d UTC\), then it is removed$/);
    expect(drain).toBeGreaterThan(zero);
    expect(del).toBeGreaterThan(drain);
    expect(out).not.toMatch(/until \d+\.\d{3,}/);
    expect(out).toContain('    web2: enabled/down/not pooled');
    expect(at(/pool {3}web2: out -> pooled/)).toBeGreaterThan(del);
    // Most fail: held by the threshold, CRITICAL.
    expect(out).toMatch(/ {4}CRITICAL: pool web: depool threshold holding 1 failed server\(s\) pooled/);
    expect(lines.filter((l) => l.includes('depool threshold holding'))).toHaveLength(1);
    expect(out).toMatch(/held: failing, but kept pooled by the depool threshold/);
    expect(out).toMatch(/lvskit_director_bgp_peer_up\{peer="127\.0\.0\.1",state="Established"\} 1/);
    // Stop: withdrawn.
    expect(at(/router has no route for 192\.0\.2\.80\/32 any more/)).toBeGreaterThan(at(/== 6\. stop/));
    expect(out).toMatch(/Done in \d+ s\./);
  }, 70_000);
});
