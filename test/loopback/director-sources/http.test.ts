/**
 * The HTTP pool source against a real HTTP server on loopback that answers
 * well, then with 500, garbage, an empty body, a hang and a reset: the last good
 * pool stays through all of them, with a typed reason each time.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPoolSource, type PoolStale, type PoolUpdate } from '../../../examples/director/sources/index.js';
import { until } from './etcd-harness.js';

type Mode = 'pybal' | 'yaml' | 'status500' | 'garbage' | 'empty' | 'hang' | 'reset' | 'emptyList';

const PYBAL = `{ 'host': 'mw1.example', 'weight': 10, 'enabled': True }
{ 'host': 'mw2.example', 'weight': 20, 'enabled': False }
`;
const YAML = `servers:
  - { host: mw1.example, weight: 10 }
  - { host: mw3.example, weight: 5, pooled: inactive }
`;

describe('HTTP pool source (real HTTP server)', () => {
  let server: Server;
  let base = '';
  let mode: Mode = 'pybal';
  let requests = 0;
  let conditional = 0;
  const sockets = new Set<Socket>();

  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      requests++;
      const body = mode === 'yaml' ? YAML : PYBAL;
      const etag = `"${mode}-${body.length}"`;
      switch (mode) {
        case 'pybal':
        case 'yaml':
          if (req.headers['if-none-match'] === etag) {
            conditional++;
            res.writeHead(304).end();
            return;
          }
          res.writeHead(200, { 'content-type': 'text/plain', etag }).end(body);
          return;
        case 'status500':
          res.writeHead(500).end('internal error');
          return;
        case 'garbage':
          res.writeHead(200).end(`{ 'host': 'mw1.example', 'weight': 10, 'enabled': True }\n{ 'host': 'mw2.exa`);
          return;
        case 'empty':
          res.writeHead(200).end('');
          return;
        case 'emptyList':
          res.writeHead(200, { 'content-type': 'application/json' }).end('[]');
          return;
        case 'hang':
          return; // never answers
        case 'reset':
          req.socket.resetAndDestroy();
          return;
      }
    });
    server.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen({ host: '127.0.0.1', port: 0 }, r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/pools/mw`;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });

  it('keeps the last good pool through 500, garbage, empty body, a hang and a reset; then follows a new pool', async () => {
    mode = 'pybal';
    const src = createPoolSource(
      { type: 'http', url: base, intervalMs: 100, timeoutMs: 1_000, backoff: { initialMs: 50, maxMs: 100 } },
      { service: 'mw' },
    );
    const pools: PoolUpdate[] = [];
    const stale: PoolStale[] = [];
    src.on('pool', (u) => pools.push(u));
    src.on('stale', (s) => stale.push(s));
    await src.start();
    try {
      expect(src.current()?.entries).toEqual([
        { host: 'mw1.example', weight: 10, enabled: true, pooled: 'yes' },
        { host: 'mw2.example', weight: 20, enabled: false, pooled: 'no' },
      ]);
      // Unchanged: conditional GETs answered 304, no new pool event.
      await until(() => conditional >= 2, 10_000, '304s');
      expect(pools.length).toBe(1);

      const expectStale = async (m: Mode, code: string, detail: RegExp): Promise<void> => {
        const n = stale.length;
        mode = m;
        await until(() => stale.length > n && stale[stale.length - 1]!.reason.code === code, 10_000, `${m} -> ${code}`);
        const s = stale[stale.length - 1]!;
        expect(s.reason.message).toMatch(detail);
        expect(s.entries?.map((e) => e.host)).toEqual(['mw1.example', 'mw2.example']);
        expect(src.status().state).toBe('stale');
        expect(pools.length).toBe(1);
      };
      await expectStale('status500', 'ERR_POOL_HTTP_STATUS', /HTTP 500/);
      expect(stale[stale.length - 1]!.reason.status).toBe(500);
      await expectStale('garbage', 'ERR_POOL_PARSE', /unterminated string.*:2:/);
      expect(stale[stale.length - 1]!.reason.line).toBe(2);
      await expectStale('empty', 'ERR_POOL_PARSE', /empty body/);
      await expectStale('hang', 'ERR_POOL_TIMEOUT', /1000 ms/);
      await expectStale('reset', 'ERR_POOL_HTTP_UNREACHABLE', /ECONNRESET|socket|closed|terminated/i);

      mode = 'yaml';
      await until(() => pools.length === 2, 10_000, 'new pool');
      expect(src.status().state).toBe('fresh');
      expect(pools[1]!.entries).toEqual([
        { host: 'mw1.example', weight: 10, enabled: true, pooled: 'yes' },
        { host: 'mw3.example', weight: 5, enabled: false, pooled: 'inactive' },
      ]);
      // An explicit, well-formed empty list is the one way to empty a pool.
      mode = 'emptyList';
      await until(() => pools.length === 3, 10_000, 'explicit empty');
      expect(pools[2]!.entries).toEqual([]);
    } finally {
      await src.stop();
    }
    const after = requests;
    await new Promise((r) => setTimeout(r, 300));
    expect(requests).toBe(after); // stopped: no more polls
  }, 60_000);

  it('a refused connection before any good read reports ERR_POOL_HTTP_UNREACHABLE and emits no pool', async () => {
    const src = createPoolSource({ type: 'http', url: 'http://127.0.0.1:1/pool', intervalMs: 100, timeoutMs: 500 }, { service: 'x' });
    const pools: PoolUpdate[] = [];
    src.on('pool', (u) => pools.push(u));
    await src.start();
    await src.stop();
    expect(pools).toEqual([]);
    expect(src.status().lastError?.code).toBe('ERR_POOL_HTTP_UNREACHABLE');
    expect(src.status().lastError?.message).toMatch(/ECONNREFUSED/);
  });
});
