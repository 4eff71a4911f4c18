/**
 * A real etcd for the loopback tier: /usr/bin/etcd on 127.0.0.1, ports the
 * kernel hands out, a temporary data directory, stopped by its PID only.
 * `kill()` + `start()` again restarts it on the same ports and data (a restart
 * as operators see it: same endpoint, same keys and revisions).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
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

export class TestEtcd {
  readonly dataDir = mkdtempSync(join(tmpdir(), 'lvskit-etcd-'));
  clientPort = 0;
  peerPort = 0;
  private proc: ChildProcess | undefined;
  private output = '';

  get endpoint(): string {
    return `http://127.0.0.1:${this.clientPort}`;
  }

  /** Start (or restart) etcd and wait until it answers. */
  async start(): Promise<void> {
    if (this.proc) throw new Error('etcd already running');
    for (let attempt = 0; attempt < 3; attempt++) {
      if (this.clientPort === 0 || attempt > 0) {
        this.clientPort = await freePort();
        this.peerPort = await freePort();
      }
      const client = `http://127.0.0.1:${this.clientPort}`;
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
        const r = await fetch(`${this.endpoint}/health`, { signal: AbortSignal.timeout(1000) });
        const body = (await r.json()) as { health?: string };
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

  private async gw(path: string, body: unknown): Promise<unknown> {
    const r = await fetch(`${this.endpoint}${path}`, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(5000) });
    if (!r.ok) throw new Error(`etcd ${path}: HTTP ${r.status} ${await r.text()}`);
    return r.json();
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
