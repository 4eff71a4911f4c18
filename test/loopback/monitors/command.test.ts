import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandCheck } from '../../../src/monitors/check-command.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lvskit-cmd-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A process is gone when /proc has no entry for it, or only a zombie waiting to be reaped. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

async function waitGone(pids: number[], ms: number): Promise<number[]> {
  const until = performance.now() + ms;
  for (let i = 0; i < 200 && performance.now() < until; i++) {
    if (!pids.some(alive)) return [];
    await new Promise((r) => setTimeout(r, 20));
  }
  return pids.filter(alive);
}

function readPids(file: string): number[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map(Number);
}

const target = { address: '127.0.0.1', port: 8080, host: 'svc.test', service: 'web' };

describe('command check', () => {
  it('is up on exit 0 and passes the target through argv substitution and env, never a shell', async () => {
    const c = new CommandCheck({ argv: ['/bin/echo', '{address}:{port};{host} {service} $(id)'] });
    const r = await c.check(target);
    expect(r).toMatchObject({ ok: true, reason: 'exit 0', details: { exitCode: 0, stdout: '127.0.0.1:8080;svc.test web $(id)\n' } });
    const e = await new CommandCheck({ argv: ['/bin/sh', '-c', 'echo "$LVSKIT_ADDRESS $LVSKIT_PORT $LVSKIT_HOST $LVSKIT_SERVICE $EXTRA"; test -z "$HOME"'], env: { EXTRA: 'x' } }).check(target);
    expect(e).toMatchObject({ ok: true, details: { stdout: '127.0.0.1 8080 svc.test web x\n' } });
  });

  it('is down on a non-zero exit, with the first line of stderr as the reason', async () => {
    const r = await new CommandCheck({ argv: ['/bin/sh', '-c', 'echo "backend says no" >&2; exit 3'] }).check(target);
    expect(r).toMatchObject({ ok: false, reason: 'exit 3: backend says no', details: { exitCode: 3, stderr: 'backend says no\n' } });
  });

  it('is down when the program does not exist', async () => {
    const r = await new CommandCheck({ argv: ['/nonexistent/lvskit-check'] }).check(target);
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/ENOENT/);
  });

  it('caps captured output', async () => {
    const r = await new CommandCheck({ argv: ['/bin/sh', '-c', 'head -c 100000 /dev/zero | tr "\\0" a; exit 1'], maxOutputBytes: 1000 }).check(target);
    expect(r.ok).toBe(false);
    expect((r.details?.stdout as string).length).toBe(1000);
    expect(r.details?.stdoutTruncated).toBe(true);
  });

  it('kills the whole process group at the deadline: the hung program and every child it forked', async () => {
    const pidfile = join(dir, 'hang.pids');
    const script = [
      'echo $$ >> "$PIDFILE"',
      'sleep 300 & echo $! >> "$PIDFILE"',
      '(sleep 300 & echo $! >> "$PIDFILE"; wait) & echo $! >> "$PIDFILE"',
      'sleep 300',
    ].join('\n');
    const t0 = performance.now();
    const r = await new CommandCheck({ argv: ['/bin/sh', '-c', script], env: { PIDFILE: pidfile }, timeoutMs: 400 }).check(target);
    expect(r).toMatchObject({ ok: false, reason: 'timed out after 400 ms' });
    expect(performance.now() - t0).toBeLessThan(2000);
    const pids = readPids(pidfile);
    expect(pids.length).toBe(4);
    expect(await waitGone(pids, 3000)).toEqual([]);
  });

  it('with a gentler kill signal still takes the group down', async () => {
    const pidfile = join(dir, 'term.pids');
    const r = await new CommandCheck({
      argv: ['/bin/sh', '-c', 'echo $$ >> "$PIDFILE"; sleep 300 & echo $! >> "$PIDFILE"; wait'],
      env: { PIDFILE: pidfile },
      timeoutMs: 300,
      killSignal: 'SIGTERM',
    }).check(target);
    expect(r.ok).toBe(false);
    expect(await waitGone(readPids(pidfile), 3000)).toEqual([]);
  });

  it('leaves nothing behind when the program exits but left a child holding its output', async () => {
    const pidfile = join(dir, 'bg.pids');
    const t0 = performance.now();
    const r = await new CommandCheck({ argv: ['/bin/sh', '-c', 'sleep 300 & echo $! >> "$PIDFILE"; echo started; exit 0'], env: { PIDFILE: pidfile }, timeoutMs: 5000 }).check(target);
    expect(r).toMatchObject({ ok: true, details: { stdout: 'started\n' } });
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(await waitGone(readPids(pidfile), 3000)).toEqual([]);
  });

  it('refuses an empty argv', () => {
    expect(() => new CommandCheck({ argv: [] })).toThrow(/non-empty argv/);
  });
});
