import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { defineCheck } from '../../../src/monitors/index.js';
import { startTcpServer, type TestServer } from '../harness/servers.js';

const open: TestServer[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

// The example from the module overview, verbatim but for types.
const redisPing = defineCheck(
  'redis',
  ({ address, port = 6379 }, { signal }) =>
    new Promise((resolve, reject) => {
      const sock = connect({ host: address, port, signal });
      sock.on('connect', () => sock.write('PING\r\n'));
      sock.once('data', (d) => {
        sock.destroy();
        resolve({ ok: d.toString().startsWith('+PONG'), reason: d.toString().trim() });
      });
      sock.on('error', reject);
    }),
  { timeoutMs: 300 },
);

describe('a custom check made with defineCheck', () => {
  it('is up when the server answers +PONG, down on anything else, and times out on silence', async () => {
    const pong = await startTcpServer('127.0.0.1', { kind: 'delayed', delayMs: 0, data: '+PONG\r\n' });
    const loading = await startTcpServer('127.0.0.1', { kind: 'delayed', delayMs: 0, data: '-LOADING dataset in memory\r\n' });
    const silent = await startTcpServer('127.0.0.1', { kind: 'silent' });
    open.push(pong, loading, silent);
    expect(await redisPing.check({ address: '127.0.0.1', port: pong.port })).toMatchObject({ ok: true, reason: '+PONG' });
    expect(await redisPing.check({ address: '127.0.0.1', port: loading.port })).toMatchObject({ ok: false, reason: '-LOADING dataset in memory' });
    expect(await redisPing.check({ address: '127.0.0.1', port: silent.port })).toMatchObject({ ok: false, reason: 'timed out after 300 ms' });
    expect(redisPing.kind).toBe('redis');
  });
});
