// A throwaway etcd for the director-sources benchmark: /usr/bin/etcd on 127.0.0.1,
// kernel-chosen ports, a temp data dir; stopped by its PID only.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ host: '127.0.0.1', port: 0 }, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

export async function startEtcd() {
  const dataDir = mkdtempSync(join(tmpdir(), 'lvskit-bench-etcd-'));
  const clientPort = await freePort();
  const peerPort = await freePort();
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const proc = spawn(
    '/usr/bin/etcd',
    ['--name', 'bench', '--data-dir', dataDir, '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
      '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `bench=${peer}`, '--log-level', 'error',
      '--quota-backend-bytes', String(2 ** 31)],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  proc.stderr.on('data', (d) => (err += d));
  const until = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`etcd exited: ${err.slice(-500)}`);
    try {
      const r = await globalThis.fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) });
      if ((await r.json()).health === 'true') break;
    } catch {
      /* not yet */
    }
    if (Date.now() > until) throw new Error(`etcd did not start: ${err.slice(-500)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const b64 = (s) => Buffer.from(s).toString('base64');
  const post = async (path, body) => {
    const r = await globalThis.fetch(`${endpoint}${path}`, { method: 'POST', body: JSON.stringify(body) });
    if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
    return r.json();
  };
  return {
    endpoint,
    pid: proc.pid,
    put: (key, value) => post('/v3/kv/put', { key: b64(key), value: b64(value) }),
    /** Up to 100 puts in one transaction. */
    putMany: (pairs) => post('/v3/kv/txn', { success: pairs.map(([k, v]) => ({ request_put: { key: b64(k), value: b64(v) } })) }),
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        await new Promise((resolve) => {
          proc.once('exit', resolve);
          process.kill(proc.pid, 'SIGKILL');
        });
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
