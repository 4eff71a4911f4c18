// A test process that is killed halfway leaves nothing behind: SIGKILL (the guardian cleans up),
// SIGINT/SIGTERM (the process's own handlers clean up before it dies), and the guardian killed
// as well (the janitor, cleanupStale, cleans up; it never touches namespaces it has no record of).

import { spawn } from 'node:child_process';
import type { ChildProcessByStdio } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, test } from 'vitest';
import { cleanupStale, createLab, isAlive, listNamespaces, stateDir } from './harness/netlab.js';
import { TS_REGISTER, waitFor } from './harness/probes.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/half-run.ts', import.meta.url));

interface HalfRunInfo {
  namespaces: string[];
  pids: number[];
  guardianPid: number;
  stateFile: string;
}

type Child = ChildProcessByStdio<null, Readable, Readable>;
const children = new Set<Child>();

afterEach(() => {
  // A failed assertion must not leave a fixture running (its guardian then cleans up).
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.clear();
});

/** Start the fixture and wait for its JSON line: a lab with two running processes. */
async function startHalfRun(mode: 'idle' | 'exit' | 'crash' = 'idle'): Promise<{ child: Child; info: HalfRunInfo; exit: Promise<NodeJS.Signals | number | null> }> {
  const child = spawn(process.execPath, ['--import', TS_REGISTER, FIXTURE, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const exit = new Promise<NodeJS.Signals | number | null>((resolve) => child.on('exit', (code, sig) => resolve(sig ?? code)));
  let out = '';
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const info = await new Promise<HalfRunInfo>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`half-run printed nothing in 20 s; stderr: ${err}`)), 20_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(JSON.parse(out.slice(0, nl)) as HalfRunInfo);
      }
    });
    void exit.then((e) => {
      clearTimeout(timer);
      reject(new Error(`half-run exited (${e}) early; stderr: ${err}`));
    });
  });
  // The lab is really there, with everything running.
  expect(listNamespaces()).toEqual(expect.arrayContaining(info.namespaces));
  expect(info.namespaces).toHaveLength(3);
  expect(info.pids).toHaveLength(2);
  for (const pid of [...info.pids, info.guardianPid]) expect(isAlive(pid), `pid ${pid}`).toBe(true);
  expect(existsSync(info.stateFile)).toBe(true);
  return { child, info, exit };
}

function allGone(info: HalfRunInfo): boolean {
  const ns = listNamespaces();
  return (
    info.namespaces.every((n) => !ns.includes(n)) &&
    info.pids.every((p) => !isAlive(p)) &&
    !isAlive(info.guardianPid) &&
    !existsSync(info.stateFile)
  );
}

describe('lab interrupted halfway', () => {
  test('SIGKILL of the test process: the guardian tears the lab down', async () => {
    const { child, info, exit } = await startHalfRun();
    const t0 = Date.now();
    child.kill('SIGKILL');
    expect(await exit).toBe('SIGKILL');
    await waitFor(() => allGone(info), { timeoutMs: 10_000, intervalMs: 25, what: 'namespaces and processes to disappear' });
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  test.each(['SIGINT', 'SIGTERM'] as const)('%s: torn down before the process dies, which dies by that signal', async (sig) => {
    const { child, info, exit } = await startHalfRun();
    child.kill(sig);
    expect(await exit).toBe(sig);
    // The in-process handler runs teardown synchronously: nothing is left at the moment of death
    // (only the guardian may still be on its way out).
    const ns = listNamespaces();
    for (const n of info.namespaces) expect(ns).not.toContain(n);
    for (const p of info.pids) expect(isAlive(p), `pid ${p}`).toBe(false);
    expect(existsSync(info.stateFile)).toBe(false);
    await waitFor(() => !isAlive(info.guardianPid), { timeoutMs: 5000, what: 'guardian exit' });
  });

  test.each([
    ['exit', 0],
    ['crash', 1],
  ] as const)('process %s without destroy(): torn down by the exit handler', async (mode, code) => {
    const { child, info, exit } = await startHalfRun(mode);
    child.kill('SIGUSR2');
    expect(await exit).toBe(code);
    const ns = listNamespaces();
    for (const n of info.namespaces) expect(ns).not.toContain(n);
    for (const p of info.pids) expect(isAlive(p), `pid ${p}`).toBe(false);
    expect(existsSync(info.stateFile)).toBe(false);
    await waitFor(() => !isAlive(info.guardianPid), { timeoutMs: 5000, what: 'guardian exit' });
  });

  test('owner and guardian both SIGKILLed: cleanupStale removes the leftovers, and only those', async () => {
    // Namespaces the janitor has no record of must survive it. These belong to a lab whose record
    // lives in another state directory (so it is still guarded and torn down by its own guardian).
    const otherDir = path.join(stateDir(), `janitor-test-${process.pid}`);
    const unrecorded = await createLab({ hosts: { f: { ipv4: ['10.79.0.1/24'] } } }, { stateDir: otherDir });
    // A live lab of this process must survive too.
    const live = await createLab({ hosts: { x: { ipv4: ['10.78.0.1/24'] } } });
    try {
      const { child, info, exit } = await startHalfRun();
      process.kill(info.guardianPid, 'SIGKILL');
      await waitFor(() => !isAlive(info.guardianPid), { timeoutMs: 5000, what: 'guardian death' });
      child.kill('SIGKILL');
      await exit;
      // Nobody was left to clean up.
      expect(listNamespaces()).toEqual(expect.arrayContaining(info.namespaces));
      expect(existsSync(info.stateFile)).toBe(true);
      // A corrupt record naming a namespace outside its own prefix must not get it deleted.
      const record = JSON.parse(readFileSync(info.stateFile, 'utf8')) as { namespaces: string[] };
      writeFileSync(info.stateFile, JSON.stringify({ ...record, namespaces: [...record.namespaces, live.hosts.x.ns] }));

      const res = cleanupStale();
      const runId = info.namespaces[0]?.split('-')[1];
      expect(res.removed).toContainEqual({ runId, namespaces: info.namespaces });
      expect(res.failed).toEqual([]);
      expect(res.live).toContain(live.id);
      expect(res.unowned).toEqual(expect.arrayContaining([...unrecorded.namespaces]));
      expect(allGone(info)).toBe(true);
      expect(listNamespaces()).toEqual(expect.arrayContaining([...live.namespaces, ...unrecorded.namespaces]));
      expect((await live.exec('x', ['ip', '-br', 'addr', 'show', 'eth0'])).stdout).toContain('10.78.0.1/24');
      expect((await unrecorded.exec('f', ['ip', '-br', 'addr', 'show', 'eth0'])).stdout).toContain('10.79.0.1/24');
    } finally {
      await Promise.all([live.destroy(), unrecorded.destroy()]);
      rmSync(otherDir, { recursive: true, force: true });
    }
    for (const ns of [...live.namespaces, ...unrecorded.namespaces]) expect(listNamespaces()).not.toContain(ns);
  });
});
