/** Pool source specs as written in YAML: checked with key paths, durations normalised. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createPoolSource } from '../../../examples/director/sources/index.js';
import { checkPoolSpec, normalizePoolSpec } from '../../../examples/director/sources/spec.js';

describe('checkPoolSpec', () => {
  it('normalises durations and single endpoints', () => {
    expect(normalizePoolSpec({ type: 'http', url: 'http://cfg.example/pools/web', intervalMs: '2s', timeoutMs: 500, backoff: { initialMs: '100ms', maxMs: '1m' } })).toEqual({
      type: 'http',
      url: 'http://cfg.example/pools/web',
      intervalMs: 2000,
      timeoutMs: 500,
      backoff: { initialMs: 100, maxMs: 60_000 },
    });
    expect(normalizePoolSpec({ type: 'etcd', endpoints: 'http://127.0.0.1:2379', dc: 'eqiad', cluster: 'text', probeMs: '5s' })).toEqual({
      type: 'etcd',
      endpoints: ['http://127.0.0.1:2379'],
      dc: 'eqiad',
      cluster: 'text',
      probeMs: 5000,
    });
    expect(normalizePoolSpec({ type: 'file', path: 'pools/web', format: 'pybal', debounceMs: '50ms', pollMs: 0 })).toEqual({ type: 'file', path: 'pools/web', format: 'pybal', debounceMs: 50, pollMs: 0 });
  });

  it('reads an etcd password from a file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lvskit-spec-'));
    try {
      writeFileSync(join(dir, 'pw'), 's3cret\n');
      const s = normalizePoolSpec({ type: 'etcd', endpoints: ['https://e:2379'], prefix: '/p/', auth: { username: 'director', passwordFile: join(dir, 'pw') } });
      expect(s.type === 'etcd' && s.auth).toEqual({ username: 'director', password: 's3cret' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lists every issue with its key path', () => {
    expect(checkPoolSpec({ type: 'etcd', endpoints: ['etcd1:2379', 'ftp://x'], prefix: 'conftool', intervalMs: 3, timeoutMs: 'soon', tls: { cert: '/c' }, auth: { username: 'u' }, backoff: { initialMs: 1000, maxMs: 10 } }).issues).toEqual([
      { path: ['intervalMs'], message: expect.stringMatching(/unknown key for a etcd pool source/) },
      { path: ['endpoints', 0], message: expect.stringMatching(/not a URL|http or https/) },
      { path: ['endpoints', 1], message: expect.stringMatching(/http or https/) },
      { path: ['prefix'], message: expect.stringMatching(/start and end with/) },
      { path: ['tls'], message: 'cert and key go together' },
      { path: ['auth', 'password'], message: expect.stringMatching(/non-empty string/) },
      { path: ['timeoutMs'], message: expect.stringMatching(/must be a duration/) },
      { path: ['backoff', 'maxMs'], message: 'must not be less than initialMs' },
    ]);
    expect(checkPoolSpec({ type: 'consul' }).issues).toEqual([{ path: ['type'], message: expect.stringMatching(/one of inline, file, http, etcd/) }]);
    expect(checkPoolSpec('file').issues[0]?.message).toMatch(/a map with a type/);
    expect(checkPoolSpec({ type: 'inline', servers: [{ host: 'a' }, { host: 'a' }, { weight: 1 }] }).issues).toEqual([
      { path: ['servers', 1], message: 'server a is listed twice' },
      { path: ['servers', 2], message: expect.stringMatching(/without a host/) },
    ]);
    expect(checkPoolSpec({ type: 'etcd', endpoints: ['http://e:2379'] }).issues).toEqual([{ path: [], message: expect.stringMatching(/needs prefix, or dc and cluster/) }]);
  });

  it('createPoolSource refuses a bad spec with ERR_POOL_SPEC naming the keys', () => {
    expect(() => createPoolSource({ type: 'http', url: 'gopher://x', intervalMs: '1 week' }, { service: 'web' })).toThrow(
      expect.objectContaining({ code: 'ERR_POOL_SPEC', message: expect.stringMatching(/^service web: pool\.url: must be an http or https URL; pool\.intervalMs: must be a duration/) }),
    );
  });
});
