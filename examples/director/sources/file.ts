/**
 * A pool file, watched for changes.
 *
 * The directory is watched, not the file: editors and config managers replace a
 * file by writing a temporary and renaming it over the old one, which leaves a
 * watch on the old inode deaf. Events for our file name are debounced (a burst of
 * writes becomes one read), and a slow safety poll compares (inode, size, mtime)
 * for filesystems where fs.watch misses events (NFS, some container mounts).
 *
 * A missing, unreadable, empty or malformed file keeps the last good pool
 * (state `stale`, typed error); only a well-formed document is applied.
 */
import { realpathSync, watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { BaseSource } from './base.js';
import { PoolParseError, PoolSourceError } from './errors.js';
import { parsePool } from './parse.js';
import type { FilePoolSpec, PoolSourceContext } from './types.js';

/** Pool files larger than this are refused (a pool of 100k servers is ~6 MiB). */
export const MAX_POOL_FILE_BYTES = 16 * 1024 * 1024;

export class FileSource extends BaseSource {
  readonly type = 'file' as const;
  readonly path: string;
  private readonly spec: FilePoolSpec;
  private watcher: FSWatcher | undefined;
  private targetWatcher: FSWatcher | undefined;
  private targetPath: string | undefined;
  private debounce: ReturnType<typeof setTimeout> | undefined;
  private fingerprint = '';
  private reading: Promise<void> | undefined;
  private again = false;

  constructor(spec: FilePoolSpec, ctx: PoolSourceContext) {
    if (typeof spec.path !== 'string' || spec.path === '') {
      throw new PoolSourceError('ERR_POOL_SPEC', `service ${ctx.service}: pool file path missing`);
    }
    const path = resolve(ctx.baseDir ?? process.cwd(), spec.path);
    super(ctx, path);
    this.path = path;
    this.spec = spec;
  }

  protected async run(): Promise<void> {
    this.watchDir();
    await this.read();
    const poll = this.spec.pollMs ?? 30_000;
    if (poll > 0) this.schedulePoll(poll);
  }

  private schedulePoll(ms: number): void {
    this.later(ms, () => {
      void this.pollOnce().finally(() => this.schedulePoll(ms));
    });
  }

  private async pollOnce(): Promise<void> {
    // Re-arm a watcher that died (directory removed and re-created).
    if (this.watcher === undefined) this.watchDir();
    let fp: string;
    try {
      const st = await stat(this.path);
      fp = `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      fp = 'missing';
    }
    if (fp !== this.fingerprint || this.state === 'stale') await this.read();
  }

  private watchDir(): void {
    if (this.stopped) return;
    const dir = dirname(this.path);
    const name = basename(this.path);
    try {
      this.watcher = watch(dir, { persistent: false }, (_event, file) => {
        // `file` can be null on some platforms: then any change in the directory counts.
        if (file !== null && file !== undefined && String(file) !== name) return;
        this.kick();
      });
      this.watcher.on('error', (err) => {
        this.log.warn({ service: this.service, path: this.path, err: String(err) }, 'pool file watch failed; polling until it can be re-armed');
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch (err) {
      this.watcher = undefined;
      this.log.warn({ service: this.service, path: this.path, err: String(err) }, 'cannot watch the pool file directory; polling');
    }
    this.watchTarget();
  }

  /**
   * A pool file that is a symlink (config managers like them) changes where its
   * target lives: watch the target's directory too, re-aimed when the link moves.
   */
  private watchTarget(): void {
    let target: string | undefined;
    try {
      const real = realpathSync(this.path);
      if (real !== this.path) target = real;
    } catch {
      target = undefined; // missing for now: the poll and the directory watch cover it
    }
    if (target === this.targetPath) return;
    this.targetWatcher?.close();
    this.targetWatcher = undefined;
    this.targetPath = target;
    if (target === undefined) return;
    const name = basename(target);
    try {
      this.targetWatcher = watch(dirname(target), { persistent: false }, (_event, file) => {
        if (file !== null && file !== undefined && String(file) !== name) return;
        this.kick();
      });
      this.targetWatcher.on('error', () => {
        this.targetWatcher?.close();
        this.targetWatcher = undefined;
        this.targetPath = undefined;
      });
    } catch {
      this.targetPath = undefined;
    }
  }

  private kick(): void {
    if (this.stopped) return;
    if (this.debounce !== undefined) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      void this.read();
    }, this.spec.debounceMs ?? 200);
  }

  /** Read and apply the file; one read at a time, a change during a read causes one more. */
  private async read(): Promise<void> {
    if (this.reading) {
      this.again = true;
      return this.reading;
    }
    this.reading = (async () => {
      do {
        this.again = false;
        await this.readOnce();
      } while (this.again && !this.stopped);
    })();
    try {
      await this.reading;
    } finally {
      this.reading = undefined;
    }
  }

  private async readOnce(): Promise<void> {
    if (!this.stopped) this.watchTarget();
    let text: string;
    try {
      const st = await stat(this.path);
      if (!st.isFile()) throw new PoolSourceError('ERR_POOL_FILE', 'pool file is not a regular file', { where: this.path });
      if (st.size > MAX_POOL_FILE_BYTES) {
        throw new PoolSourceError('ERR_POOL_FILE', `pool file is ${st.size} bytes, more than ${MAX_POOL_FILE_BYTES}`, { where: this.path });
      }
      this.fingerprint = `${st.ino}:${st.size}:${st.mtimeMs}`;
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if (err instanceof PoolSourceError) return this.bad(err);
      const code = (err as NodeJS.ErrnoException).code;
      this.fingerprint = 'missing';
      return this.bad(
        new PoolSourceError('ERR_POOL_FILE', code === 'ENOENT' ? 'pool file does not exist' : `cannot read pool file: ${code ?? String(err)}`, {
          where: this.path,
          cause: err,
        }),
      );
    }
    if (text.trim() === '') {
      // A truncated or half-written file looks like this; an empty pool is written `[]`.
      return this.bad(new PoolParseError('pool file is empty (write [] for an intentionally empty pool)', { where: this.path, line: 1 }));
    }
    try {
      const entries = parsePool(text, this.spec.format ?? 'auto', this.path);
      this.good(entries, this.fingerprint);
    } catch (err) {
      this.bad(err instanceof PoolSourceError ? err : new PoolParseError(String(err), { where: this.path, cause: err }));
    }
  }

  protected close(): void {
    if (this.debounce !== undefined) clearTimeout(this.debounce);
    this.debounce = undefined;
    this.watcher?.close();
    this.watcher = undefined;
    this.targetWatcher?.close();
    this.targetWatcher = undefined;
  }
}
