/**
 * Runs the example of docs/monitors.md as written: the code block is bundled
 * with esbuild (`lvskit/*` pointing at src/, so no build is needed) and run by
 * node in its own process, against two real HTTP servers on the loopback
 * addresses the example names. One server then starts answering 503, and the
 * example must drain it at weight 0; its metrics endpoint must show it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterEach, describe, expect, it } from 'vitest';
import { startHttp, until, type Closable, type HttpTestServer } from './harness.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MARKER = '<!-- example: monitors-pool-ipvs';

/** The js code block right after the example marker in docs/monitors.md. */
function exampleCode(): string {
  const md = readFileSync(join(ROOT, 'docs/monitors.md'), 'utf8');
  const at = md.indexOf(MARKER);
  if (at < 0) throw new Error('docs/monitors.md lost its example marker');
  const m = /```js\n([\s\S]*?)```/.exec(md.slice(at));
  if (m === null) throw new Error('no js block after the example marker');
  return m[1] as string;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('docs/monitors.md example', () => {
  it('publishes both healthy servers, then drains the one answering 503 at weight 0, with metrics to match', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lvskit-docs-example-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const bundle = join(dir, 'example.mjs');
    const code = exampleCode();
    await build({
      stdin: { contents: code, resolveDir: ROOT, sourcefile: 'docs/monitors.md (example)', loader: 'js' },
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile: bundle,
      alias: {
        'lvskit/monitors': join(ROOT, 'src/monitors/index.ts'),
        'lvskit/ipvs': join(ROOT, 'src/ipvs/index.ts'),
      },
      logLevel: 'silent',
    });

    // The two real servers the example names.
    const status = new Map<string, number>([
      ['127.77.0.11', 200],
      ['127.77.0.12', 200],
    ]);
    const servers: HttpTestServer[] = [];
    for (const host of status.keys()) {
      const port8080 = await startHttp(host, (req, res) => {
        res.statusCode = req.url === '/healthz' ? (status.get(req.socket.localAddress ?? '') ?? 500) : 404;
        res.end(res.statusCode === 200 ? 'ok' : 'no');
      }, undefined, 8080);
      servers.push(port8080);
      cleanups.push(() => (port8080 as Closable).close());
    }

    const child: ChildProcess = spawn(process.execPath, [bundle], { env: { ...process.env, METRICS_PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    cleanups.push(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const lines = (): string[] => out.split('\n');

    const first = [
      'ipvsadm -A -t 192.0.2.80:80 -s wrr',
      'ipvsadm -a -t 192.0.2.80:80 -r 127.77.0.11:8080 -m -w 10',
      'ipvsadm -a -t 192.0.2.80:80 -r 127.77.0.12:8080 -m -w 10',
    ];
    expect(await until(() => first.every((l) => lines().includes(l)) && out.includes('# metrics on '), 15_000), `stdout:\n${out}\nstderr:\n${err}`).toBe(true);
    expect(lines()).toContain('# rs1 up: all checks up (last: http up after 1 consecutive success: HTTP 200)');
    expect(lines()).toContain('# rs2 up: all checks up (last: http up after 1 consecutive success: HTTP 200)');
    // The Host header is the service's, sent to the real address.
    expect(servers[0]?.requests[0]).toMatchObject({ url: '/healthz', host: 'www.example.org' });

    status.set('127.77.0.12', 503);
    const drain = 'ipvsadm -e -t 192.0.2.80:80 -r 127.77.0.12:8080 -m -w 0';
    expect(await until(() => lines().includes(drain), 10_000), `stdout:\n${out}\nstderr:\n${err}`).toBe(true);
    expect(lines()).toContain('# rs2 down: http down after 2 consecutive failures: HTTP 503');
    // Nothing else was written: rs1 stays as it was.
    expect(lines().filter((l) => l.startsWith('ipvsadm'))).toEqual([...first, drain]);

    const url = /# metrics on (\S+)/.exec(out)?.[1] as string;
    const text = await (await fetch(url)).text();
    expect(text).toContain('lvskit_monitor_server_up{service="www",server="rs1"} 1');
    expect(text).toContain('lvskit_monitor_server_up{service="www",server="rs2"} 0');
    expect(text).toContain('lvskit_pool_servers{service="www",status="draining"} 1');
    expect(text).toMatch(/lvskit_monitor_check_results_total\{service="www",server="rs2",check="http",kind="http",result="down"\} [2-9]/);

    // SIGTERM: the example stops its monitor, pool and metrics server and exits by itself.
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
