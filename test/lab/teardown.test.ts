// Teardown: destroy() leaves no namespace, veth, process or state record behind, whatever the
// test did, and the harness fails with typed errors instead of leaving half a lab.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { LabError, createLab, isAlive, listNamespaces, withLab } from './harness/netlab.js';
import type { Lab } from './harness/netlab.js';
import { TS_REGISTER, startBannerServer, waitFor } from './harness/probes.js';

const spec = {
  hosts: {
    a: { ipv4: ['10.20.0.1/24'], ipv6: ['fd00:20::1/64'] },
    b: { ipv4: ['10.20.0.2/24'], ipv6: ['fd00:20::2/64'] },
  },
} as const;

function rootLinks(): string[] {
  const out = spawnSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' }).stdout;
  return (JSON.parse(out) as { ifname: string }[]).map((l) => l.ifname);
}

/** Everything a lab owns is gone. */
function expectGone(lab: Pick<Lab, 'namespaces' | 'stateFile' | 'guardianPid'>, pids: number[]): void {
  const all = listNamespaces();
  for (const ns of lab.namespaces) expect(all).not.toContain(ns);
  for (const pid of pids) expect(isAlive(pid), `pid ${pid} still running`).toBe(false);
  expect(existsSync(lab.stateFile)).toBe(false);
  if (lab.guardianPid !== undefined) expect(isAlive(lab.guardianPid), 'guardian still running').toBe(false);
}

describe('lab teardown', () => {
  test('destroy() removes namespaces, veths, processes and the state record; twice is fine', async () => {
    const linksBefore = rootLinks();
    const lab = await createLab(spec);
    expect(listNamespaces()).toEqual(expect.arrayContaining([...lab.namespaces]));
    expect(existsSync(lab.stateFile)).toBe(true);
    expect(lab.guardianPid !== undefined && isAlive(lab.guardianPid)).toBe(true);
    // veths and the bridge exist only inside the lab's namespaces, never in the root one
    const br = spawnSync('ip', ['-n', lab.bridgeNs, '-j', 'link', 'show'], { encoding: 'utf8' }).stdout;
    expect((JSON.parse(br) as { ifname: string }[]).map((l) => l.ifname).sort()).toEqual(['br0', 'lo', 'v-a', 'v-b']);
    expect(rootLinks()).toEqual(linksBefore);

    const { proc } = await startBannerServer(lab, 'a', 7000, 'a');
    const sleeper = lab.spawn('b', ['sleep', '300']);
    const pids = [proc.pid, sleeper.pid];
    for (const pid of pids) expect(isAlive(pid)).toBe(true);

    await Promise.all([lab.destroy(), lab.destroy()]);
    await lab.destroy();
    expect(lab.destroyed).toBe(true);
    expectGone(lab, pids);
    expect(rootLinks()).toEqual(linksBefore);
    expect(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout).not.toContain(lab.id);
    expect(await sleeper.exited).toEqual({ code: null, signal: 'SIGTERM' });
    expect(() => lab.spawn('a', ['true'])).toThrow(expect.objectContaining({ code: 'ERR_LAB_DESTROYED' }));
  });

  test('withLab tears down when the test body throws', async () => {
    let seen: { lab: Lab<'a' | 'b'>; pid: number } | undefined;
    const boom = new Error('test body failed');
    await expect(
      withLab(spec, async (lab) => {
        const p = lab.spawn('a', ['sleep', '300']);
        seen = { lab, pid: p.pid };
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(seen).toBeDefined();
    if (seen !== undefined) expectGone(seen.lab, [seen.pid]);
  });

  test('withLab returns the body value and tears down', async () => {
    let ns: readonly string[] = [];
    const v = await withLab(spec, async (lab) => {
      ns = lab.namespaces;
      return (await lab.exec('b', ['ip', '-br', 'link', 'show', 'eth0'])).stdout;
    });
    expect(v).toMatch(/^eth0@\S+\s+UP/);
    for (const n of ns) expect(listNamespaces()).not.toContain(n);
  });

  test('a process that ignores SIGTERM is killed anyway', async () => {
    const lab = await createLab({ hosts: { a: { ipv4: ['10.21.0.1/24'] } } });
    const stubborn = lab.spawn('a', [process.execPath, '-e', 'process.on("SIGTERM",()=>{});console.log("up");setInterval(()=>{},1000)']);
    await stubborn.waitForOutput('up');
    const t0 = Date.now();
    await lab.destroy();
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(await stubborn.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expectGone(lab, [stubborn.pid]);
  });

  test('aborting the signal given to createLab destroys the lab', async () => {
    const ac = new AbortController();
    const lab = await createLab({ hosts: { a: { ipv4: ['10.22.0.1/24'] } } }, { signal: ac.signal });
    const p = lab.spawn('a', ['sleep', '300']);
    ac.abort(new Error('test timed out'));
    await waitFor(() => lab.destroyed && !isAlive(p.pid) && !listNamespaces().includes(lab.hosts.a.ns), { what: 'abort teardown' });
    await lab.destroy();
    expectGone(lab, [p.pid]);
  });

  test('an aborted or failing setup leaves nothing behind', async () => {
    const before = listNamespaces();
    await expect(createLab(spec, { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ERR_LAB_ABORTED' });
    // A route via an unreachable gateway fails in the kernel during setup.
    const bad = createLab({ hosts: { a: { ipv4: ['10.23.0.1/24'], routes: [{ to: '10.99.0.0/16', via: '192.0.2.1' }] } } });
    await expect(bad).rejects.toMatchObject({ code: 'ERR_LAB_SETUP', message: expect.stringContaining('route add 10.99.0.0/16') });
    await expect(createLab({ hosts: { 'Bad Name': {} } })).rejects.toMatchObject({ code: 'ERR_LAB_SPEC' });
    await expect(createLab({ hosts: { a: { ipv4: ['10.23.0.1'] } } })).rejects.toBeInstanceOf(LabError);
    expect(listNamespaces()).toEqual(before);
  });

  test('typed errors when not root or when `ip` is missing', async () => {
    const fixture = fileURLToPath(new URL('./fixtures/create-one.ts', import.meta.url));
    const runFixture = (prefix: string[], env: NodeJS.ProcessEnv): Promise<string> =>
      new Promise((resolve, reject) => {
        const [cmd = process.execPath, ...rest] = [...prefix, process.execPath, '--import', TS_REGISTER, fixture];
        const child = spawn(cmd, rest, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        child.on('error', reject);
        child.on('close', () => {
          clearTimeout(timer);
          resolve(out.trim());
        });
      });
    const [notRoot, noIp] = await Promise.all([
      runFixture(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'], {}),
      runFixture([], { LVSKIT_LAB_IP: '/nonexistent/ip' }),
    ]);
    expect(notRoot).toBe('LabError ERR_LAB_NOT_ROOT');
    expect(noIp).toBe('LabError ERR_LAB_IP_MISSING');
  });
});
