import { afterEach, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { closedPort, startTcpServer, type LoopbackHost, type TestServer } from './harness/servers.js';
import { withTimeout } from '../../src/util/abort.js';

/** Connect and read until close or abort; resolves to what happened. */
function probe(host: string, port: number, send: string, signal?: AbortSignal): Promise<{ outcome: string; data: string }> {
  return new Promise((resolve) => {
    let data = '';
    const sock = connect({ host, port });
    const done = (outcome: string): void => {
      signal?.removeEventListener('abort', onAbort);
      sock.destroy();
      resolve({ outcome, data });
    };
    const onAbort = (): void => done('aborted');
    signal?.addEventListener('abort', onAbort, { once: true });
    sock.on('connect', () => {
      if (send) sock.write(send);
    });
    sock.on('data', (d) => {
      data += d.toString();
      if (send && data === send) done('echoed');
    });
    sock.on('end', () => done('closed'));
    sock.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? 'error'));
  });
}

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe.each<LoopbackHost>(['127.0.0.1', '::1'])('loopback servers on %s', (host) => {
  it('echo: a client gets its bytes back', async () => {
    const s = await startTcpServer(host, { kind: 'echo' });
    servers.push(s);
    expect(await probe(host, s.port, 'ping')).toEqual({ outcome: 'echoed', data: 'ping' });
  });

  it('refused: nothing listens on a closed port', async () => {
    const port = await closedPort(host);
    expect((await probe(host, port, 'x')).outcome).toBe('ECONNREFUSED');
  });

  it('reset: the server resets at once', async () => {
    const s = await startTcpServer(host, { kind: 'reset' });
    servers.push(s);
    expect((await probe(host, s.port, '')).outcome).toBe('ECONNRESET');
  });

  it('silent: only a deadline ends the wait', async () => {
    const s = await startTcpServer(host, { kind: 'silent' });
    servers.push(s);
    const r = await probe(host, s.port, '', withTimeout(undefined, 150));
    expect(r.outcome).toBe('aborted');
    expect(s.accepted).toBe(1);
  });

  it('delayed: the answer arrives after the delay, then the server closes', async () => {
    const s = await startTcpServer(host, { kind: 'delayed', delayMs: 50, data: 'late' });
    servers.push(s);
    expect(await probe(host, s.port, '')).toEqual({ outcome: 'closed', data: 'late' });
  });
});

describe('loopback guard', () => {
  it('refuses to bind outside loopback', async () => {
    await expect(startTcpServer('10.0.0.1' as LoopbackHost, { kind: 'echo' })).rejects.toThrow(/loopback only/);
  });
});
