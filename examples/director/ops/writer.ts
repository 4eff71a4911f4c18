/**
 * Writers for the operator command: change one server's pool entry where the
 * director reads it from.
 *
 * - etcd: the conftool key, with a compare-and-swap on its mod revision so a
 *   concurrent change (another operator, confctl) is never overwritten blindly;
 *   a lost race re-reads and tries again.
 * - pool file: edit (see edit.ts), write a temporary file next to it with the
 *   same mode, fsync, then rename over the original; if the file changed while
 *   we edited, start again. The director's file source sees one complete file.
 */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { chmod, readFile, realpath, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { PoolSourceError } from '../sources/errors.js';
import type { EtcdClient } from '../sources/etcd-client.js';
import { conftoolValue, parseConftoolValue } from '../sources/parse.js';
import type { PoolEntry, PoolFormat } from '../sources/types.js';
import { editPoolText, type EntryChange } from './edit.js';

export interface WriteResult {
  before: PoolEntry;
  after: PoolEntry;
  /** etcd key or file path written. */
  target: string;
  /** etcd revision of the write, when etcd. */
  revision?: number;
}

export interface PoolWriter {
  readonly describe: string;
  read(host: string): Promise<PoolEntry>;
  update(host: string, change: (current: PoolEntry) => EntryChange): Promise<WriteResult>;
}

const ATTEMPTS = 5;

export class EtcdPoolWriter implements PoolWriter {
  constructor(
    private readonly client: EtcdClient,
    private readonly prefix: string,
  ) {}

  get describe(): string {
    return `etcd ${this.client.endpoint} ${this.prefix}`;
  }

  private key(host: string): string {
    if (host === '' || host.includes('/')) throw new PoolSourceError('ERR_POOL_OP', `host ${JSON.stringify(host)} is not a valid key name`);
    return `${this.prefix}${host}`;
  }

  async read(host: string): Promise<PoolEntry> {
    const key = this.key(host);
    const kv = await this.client.get(key);
    if (kv === undefined) throw new PoolSourceError('ERR_POOL_OP', `host ${host} has no key in etcd (the operator command changes servers, it does not add them)`, { where: key });
    return parseConftoolValue(host, kv.value, key);
  }

  async update(host: string, change: (current: PoolEntry) => EntryChange): Promise<WriteResult> {
    const key = this.key(host);
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const kv = await this.client.get(key);
      if (kv === undefined) throw new PoolSourceError('ERR_POOL_OP', `host ${host} has no key in etcd (the operator command changes servers, it does not add them)`, { where: key });
      const before = parseConftoolValue(host, kv.value, key);
      const c = change(before);
      const weight = c.weight ?? before.weight;
      const pooled = c.pooled ?? before.pooled;
      const value = conftoolValue(weight, pooled);
      // Keep fields conftool or others stored next to weight and pooled.
      let merged = value;
      try {
        const old = JSON.parse(kv.value) as Record<string, unknown>;
        merged = JSON.stringify({ ...old, weight, pooled });
      } catch {
        /* the old value was not JSON: parseConftoolValue would have thrown */
      }
      if (await this.client.putIf(key, merged, kv.modRevision)) {
        const after = parseConftoolValue(host, merged, key);
        const now = await this.client.get(key);
        return { before, after, target: key, revision: now?.modRevision ?? 0 };
      }
    }
    throw new PoolSourceError('ERR_POOL_OP', `key kept changing under us (${ATTEMPTS} attempts): someone else is editing ${host}`, { where: key });
  }
}

export class FilePoolWriter implements PoolWriter {
  constructor(
    readonly path: string,
    private readonly format: PoolFormat = 'auto',
  ) {}

  get describe(): string {
    return `pool file ${this.path}`;
  }

  private async load(): Promise<string> {
    try {
      return await readFile(this.path, 'utf8');
    } catch (err) {
      throw new PoolSourceError('ERR_POOL_OP', `cannot read the pool file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { where: this.path, cause: err });
    }
  }

  async read(host: string): Promise<PoolEntry> {
    const text = await this.load();
    return editPoolText(text, this.format, host, {}, this.path).before;
  }

  async update(host: string, change: (current: PoolEntry) => EntryChange): Promise<WriteResult> {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const text = await this.load();
      const current = editPoolText(text, this.format, host, {}, this.path).before;
      const r = editPoolText(text, this.format, host, change(current), this.path);
      // Through a symlink, the target is replaced (the link itself stays a link).
      const real = await realpath(this.path);
      const st = await stat(real);
      const tmp = join(dirname(real), `.${basename(real)}.lvskit-${process.pid}-${attempt}`);
      try {
        const fd = openSync(tmp, 'wx', st.mode & 0o7777);
        try {
          writeSync(fd, r.text);
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        await chmod(tmp, st.mode & 0o7777);
        // Someone changed the file while we edited: start again from theirs.
        if ((await this.load()) !== text) {
          await unlink(tmp);
          continue;
        }
        await rename(tmp, real);
      } catch (err) {
        await unlink(tmp).catch(() => undefined);
        if (err instanceof PoolSourceError) throw err;
        throw new PoolSourceError('ERR_POOL_OP', `cannot write the pool file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { where: this.path, cause: err });
      }
      return { before: r.before, after: r.after, target: this.path };
    }
    throw new PoolSourceError('ERR_POOL_OP', `the pool file kept changing under us (${ATTEMPTS} attempts)`, { where: this.path });
  }
}
