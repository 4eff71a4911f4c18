/**
 * A real etcd for the loopback tier: /usr/bin/etcd on 127.0.0.1, ports the
 * kernel hands out, a temporary data directory, stopped by its PID only.
 * `kill()` + `start()` again restarts it on the same ports and data (a restart
 * as operators see it: same endpoint, same keys and revisions).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ETCD_BIN = process.env.LVSKIT_ETCD ?? '/usr/bin/etcd';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ host: '127.0.0.1', port: 0 }, () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** PEM files for an etcd serving TLS (and asking clients for a certificate when `clientCertAuth`). */
export interface TestEtcdTls {
  cert: string;
  key: string;
  ca: string;
  clientCertAuth?: boolean;
  /** Client certificate and key the harness itself uses. */
  clientCert?: string;
  clientKey?: string;
}

export class TestEtcd {
  readonly dataDir = mkdtempSync(join(tmpdir(), 'lvskit-etcd-'));
  constructor(readonly tls?: TestEtcdTls) {}
  clientPort = 0;
  peerPort = 0;
  private proc: ChildProcess | undefined;
  private output = '';

  get endpoint(): string {
    return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.clientPort}`;
  }

  /** Start (or restart) etcd and wait until it answers. */
  async start(): Promise<void> {
    if (this.proc) throw new Error('etcd already running');
    for (let attempt = 0; attempt < 3; attempt++) {
      if (this.clientPort === 0 || attempt > 0) {
        this.clientPort = await freePort();
        this.peerPort = await freePort();
      }
      const client = `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.clientPort}`;
      const tlsArgs = this.tls
        ? ['--cert-file', this.tls.cert, '--key-file', this.tls.key, '--trusted-ca-file', this.tls.ca, ...(this.tls.clientCertAuth ? ['--client-cert-auth'] : [])]
        : [];
      const peer = `http://127.0.0.1:${this.peerPort}`;
      const p = spawn(
        ETCD_BIN,
        [
          '--name', 'lvskit-test',
          '--data-dir', this.dataDir,
          '--listen-client-urls', client,
          '--advertise-client-urls', client,
          '--listen-peer-urls', peer,
          '--initial-advertise-peer-urls', peer,
          '--initial-cluster', `lvskit-test=${peer}`,
          '--log-level', 'error',
          ...tlsArgs,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      this.proc = p;
      this.output = '';
      p.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
      p.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
      if (await this.waitHealthy(p, 20_000)) return;
      await this.kill();
    }
    throw new Error(`etcd did not start: ${this.output.slice(-2000)}`);
  }

  private async waitHealthy(p: ChildProcess, ms: number): Promise<boolean> {
    const until = Date.now() + ms;
    while (Date.now() < until && p.exitCode === null) {
      try {
        const body = (await this.request('GET', '/health', undefined, 1000)) as { health?: string };
        if (body.health === 'true') return true;
      } catch {
        /* not up yet */
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  }

  /** SIGKILL our etcd (by PID) and wait for it to exit. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p) return;
    this.proc = undefined;
    if (p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      process.kill(p.pid!, 'SIGKILL');
      // A frozen (SIGSTOPped) process dies of SIGKILL too; nothing else to do.
    });
  }

  /** SIGSTOP / SIGCONT our etcd: frozen, its sockets stay open but nothing answers (a partition, as clients see it). */
  freeze(on: boolean): void {
    if (!this.proc?.pid) throw new Error('etcd not running');
    process.kill(this.proc.pid, on ? 'SIGSTOP' : 'SIGCONT');
  }

  async put(key: string, value: string): Promise<number> {
    const r = await this.gw('/v3/kv/put', { key: b64(key), value: b64(value) });
    return Number((r as { header: { revision: string } }).header.revision);
  }

  async del(key: string): Promise<void> {
    await this.gw('/v3/kv/deleterange', { key: b64(key) });
  }

  async get(key: string): Promise<string | undefined> {
    const r = (await this.gw('/v3/kv/range', { key: b64(key) })) as { kvs?: { value: string }[] };
    const v = r.kvs?.[0]?.value;
    return v === undefined ? undefined : Buffer.from(v, 'base64').toString();
  }

  async compact(revision: number): Promise<void> {
    await this.gw('/v3/kv/compaction', { revision: String(revision), physical: true });
  }

  private gw(path: string, body: unknown): Promise<unknown> {
    return this.request('POST', path, body, 5000);
  }

  /** One HTTP(S) request to our etcd (node:https: fetch can't take a private CA or a client certificate). */
  private request(method: string, path: string, body: unknown, timeoutMs: number): Promise<unknown> {
    const url = new URL(path, this.endpoint);
    const t = this.tls;
    const opts: https.RequestOptions = {
      method,
      timeout: timeoutMs,
      ...(t ? { ca: readFileSync(t.ca), ...(t.clientCert ? { cert: readFileSync(t.clientCert), key: readFileSync(t.clientKey!) } : {}) } : {}),
    };
    return new Promise((resolve, reject) => {
      const req = (t ? https : http).request(url, opts, (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (data += c));
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Error(`etcd ${path}: HTTP ${res.statusCode} ${data}`));
          try {
            resolve(JSON.parse(data));
          } catch (e) {
            reject(e);
          }
        });
      });
      req.on('timeout', () => req.destroy(new Error(`etcd ${path}: timeout`)));
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  async close(): Promise<void> {
    await this.kill();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

function b64(s: string): string {
  return Buffer.from(s).toString('base64');
}

/** Resolve when `pred()` holds, checking every 20 ms; reject after `ms`. */
export async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
