// Lab smoke: two hosts on one segment talk over IPv4 and IPv6, and a daemon-like process started
// in one namespace is reachable from the other but not from the root namespace.

import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createLab } from './harness/netlab.js';
import type { Lab } from './harness/netlab.js';
import { ping, startBannerServer, tcpProbe, tcpProbeRoot } from './harness/probes.js';

describe('lab smoke', () => {
  let lab: Lab<'r1' | 'd1'>;
  let rootServer: net.Server;
  let port: number;

  beforeAll(async () => {
    // A server in the root namespace on an ephemeral loopback port P. The lab server below
    // listens on the same P inside d1: a connection to 127.0.0.1:P from the root namespace then
    // says which of the two it reached (traffic stays on loopback).
    rootServer = net.createServer((s) => s.end('root\n'));
    await new Promise<void>((resolve) => rootServer.listen({ host: '127.0.0.1', port: 0 }, resolve));
    port = (rootServer.address() as AddressInfo).port;
    lab = await createLab({
      hosts: {
        r1: { ipv4: ['10.10.0.1/24'], ipv6: ['fd00:10::1/64'] },
        d1: { ipv4: ['10.10.0.2/24'], ipv6: ['fd00:10::2/64'] },
      },
    });
  });

  afterAll(async () => {
    await lab?.destroy();
    await new Promise<void>((resolve) => rootServer.close(() => resolve()));
  });

  test('namespaces are unique per run and hosts have their addresses', async () => {
    expect(lab.hosts.r1.ns).toBe(`lvk-${lab.id}-r1`);
    expect(lab.hosts.d1.ns).toBe(`lvk-${lab.id}-d1`);
    expect(lab.namespaces).toEqual([lab.bridgeNs, lab.hosts.r1.ns, lab.hosts.d1.ns]);
    const r = await lab.ip('d1', ['-j', 'address', 'show', 'dev', 'eth0'], { check: true });
    const [link] = JSON.parse(r.stdout) as { operstate: string; addr_info: { local: string; tentative?: boolean }[] }[];
    expect(link?.operstate).toBe('UP');
    const locals = link?.addr_info.map((a) => a.local) ?? [];
    expect(locals).toEqual(expect.arrayContaining(['10.10.0.2', 'fd00:10::2']));
    expect(locals.some((a) => a.startsWith('fe80:'))).toBe(true);
    expect(link?.addr_info.some((a) => a.tentative === true)).toBe(false);
    // lo is up in every host namespace
    const lo = await lab.exec('r1', ['ping', '-n', '-c1', '-W1', '127.0.0.1']);
    expect(lo.code).toBe(0);
  });

  test('hosts ping each other over IPv4 and IPv6', async () => {
    const results = await Promise.all([
      ping(lab, 'r1', lab.hosts.d1.addr4),
      ping(lab, 'r1', lab.hosts.d1.addr6),
      ping(lab, 'd1', lab.hosts.r1.addr4),
      ping(lab, 'd1', lab.hosts.r1.addr6),
    ]);
    expect(results).toEqual([true, true, true, true]);
  });

  test('a process spawned in d1 is reachable from r1, not from the root namespace', async () => {
    const { proc } = await startBannerServer(lab, 'd1', port, 'ns:d1');
    expect(proc.running).toBe(true);

    const [fromR1v4, fromR1v6, fromD1lo, fromR1lo] = await Promise.all([
      // From the other host, over both families.
      tcpProbe(lab, 'r1', lab.hosts.d1.addr4, port),
      tcpProbe(lab, 'r1', lab.hosts.d1.addr6, port),
      // Inside d1 its own loopback reaches it ...
      tcpProbe(lab, 'd1', '127.0.0.1', port),
      // ... but r1's loopback is r1's own: nothing listens there.
      tcpProbe(lab, 'r1', '127.0.0.1', port),
    ]);
    expect(fromR1v4).toEqual({ data: 'ns:d1' });
    expect(fromR1v6).toEqual({ data: 'ns:d1' });
    expect(fromD1lo).toEqual({ data: 'ns:d1' });
    expect(fromR1lo).toEqual({ error: 'ECONNREFUSED' });
    // The root namespace's 127.0.0.1:port is the root server, not the lab's.
    expect(await tcpProbeRoot('127.0.0.1', port)).toEqual({ data: 'root' });
    // And the lab's addresses exist nowhere in the root namespace.
    const rootAddrs = spawnSync('ip', ['-j', 'address', 'show'], { encoding: 'utf8' }).stdout;
    expect(rootAddrs).not.toContain('10.10.0.2');
    expect(rootAddrs).not.toContain('fd00:10::2');

    const exit = await proc.stop();
    expect(exit.signal).toBe('SIGTERM');
    expect(await tcpProbe(lab, 'r1', lab.hosts.d1.addr4, port)).toEqual({ error: 'ECONNREFUSED' });
  });

  test('exec reports exit codes and output; check turns failure into a typed error', async () => {
    const ok = await lab.exec('d1', [process.execPath, '-e', 'console.log("out"); console.error("err"); process.exit(7)']);
    expect(ok).toEqual({ code: 7, signal: null, stdout: 'out\n', stderr: 'err\n' });
    await expect(lab.exec('d1', ['false'], { check: true })).rejects.toMatchObject({ code: 'ERR_LAB_EXEC_FAILED' });
    await expect(lab.exec('d1', ['sleep', '5'], { timeoutMs: 200 })).rejects.toMatchObject({ code: 'ERR_LAB_EXEC_TIMEOUT' });
    // @ts-expect-error unknown host names are a type error, and a runtime one
    await expect(lab.exec('nope', ['true'])).rejects.toMatchObject({ code: 'ERR_LAB_NO_HOST' });
  });
});
