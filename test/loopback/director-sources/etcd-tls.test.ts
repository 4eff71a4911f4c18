/**
 * The etcd source over TLS with client certificates, against a real etcd whose
 * certificates openssl makes for the test: it reads and watches; a wrong CA
 * or a missing client certificate is a typed error and no pool.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPoolSource } from '../../../examples/director/sources/index.js';
import { TestEtcd, until } from './etcd-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'lvskit-etcd-tls-'));
const f = (n: string): string => join(dir, n);

function openssl(...args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

/** A CA, and a certificate signed by it for `name` (with SAN for a server). */
function makeCerts(): void {
  for (const ca of ['ca', 'otherca']) {
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f(`${ca}.key`), '-out', f(`${ca}.pem`), '-days', '2', '-subj', `/CN=lvskit test ${ca}`);
  }
  const leaf = (name: string): void => {
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${name}`);
    openssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${name}.pem`), '-days', '2', '-extfile', f(`${name}.ext`));
  };
  spawnSync('sh', ['-c', `printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth,clientAuth\\n' > ${f('server.ext')}; printf 'extendedKeyUsage=clientAuth\\n' > ${f('client.ext')}`]);
  leaf('server');
  leaf('client');
}

describe('etcd pool source over TLS with client certificates (real etcd)', () => {
  let etcd: TestEtcd;
  beforeAll(async () => {
    makeCerts();
    etcd = new TestEtcd({ cert: f('server.pem'), key: f('server.key'), ca: f('ca.pem'), clientCertAuth: true, clientCert: f('client.pem'), clientKey: f('client.key') });
    await etcd.start();
    await etcd.put('/conftool/v1/pools/tls/c/s/t1.example', JSON.stringify({ weight: 5, pooled: 'yes' }));
  }, 90_000);
  afterAll(async () => {
    await etcd?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const base = () => ({ type: 'etcd' as const, endpoints: [etcd.endpoint], dc: 'tls', cluster: 'c', service: 's', timeoutMs: 5_000, backoff: { initialMs: 100, maxMs: 300 } });

  it('reads and watches with the right CA and client certificate', async () => {
    const src = createPoolSource({ ...base(), tls: { ca: f('ca.pem'), cert: f('client.pem'), key: f('client.key') } }, { service: 'x' });
    await src.start();
    try {
      expect(src.current()?.entries).toEqual([{ host: 't1.example', weight: 5, enabled: true, pooled: 'yes' }]);
      await etcd.put('/conftool/v1/pools/tls/c/s/t1.example', JSON.stringify({ weight: 6, pooled: 'yes' }));
      await until(() => src.current()?.entries[0]?.weight === 6, 10_000, 'watched change over TLS');
    } finally {
      await src.stop();
    }
  });

  it('a server certificate from another CA, or no client certificate, is a typed error and no pool', async () => {
    for (const tls of [{ ca: f('otherca.pem'), cert: f('client.pem'), key: f('client.key') }, { ca: f('ca.pem') }]) {
      const src = createPoolSource({ ...base(), tls }, { service: 'x' });
      await src.start();
      await src.stop();
      expect(src.current()).toBeUndefined();
      expect(src.status().lastError?.code).toBe('ERR_POOL_ETCD_UNAVAILABLE');
      expect(src.status().lastError?.message).toMatch(/certificate|ECONNRESET|EPROTO|alert|socket hang up/i);
    }
  });
});
