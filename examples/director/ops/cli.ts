/**
 * `lvskit-director pool|depool|drain SERVICE HOST [options]`
 *
 * Planned maintenance, written where the director reads its pool (the conftool
 * key in etcd, or the pool file), what confctl does for PyBal:
 *
 * - `pool`:   pooled yes, at its weight (`--weight N` to set one). A weight of 0
 *             left by an interrupted drain needs `--weight`.
 * - `depool`: pooled no. The director takes the server out gently (weight 0 for
 *             the service's drain time, then removal), and its depool threshold
 *             still holds: depooling never empties a service below it.
 * - `drain`:  weight 0 while staying pooled, so established connections finish
 *             and no new ones arrive; then, after `--wait` (default: the
 *             service's `drainMs`), pooled no with the old weight restored, so a
 *             later `pool` brings it back as it was. With a status API in the
 *             config (or `--status URL`), drain first waits until the director
 *             reports the server at weight 0.
 *
 * Where to write: `--config FILE` (default $LVSKIT_DIRECTOR_CONFIG, else
 * /etc/lvskit/director.yaml) names the service's pool source; or give it
 * directly with `--pool-file PATH` or `--etcd URL[,URL] --prefix PREFIX`.
 *
 * `argv` is what follows `lvskit-director` (the verb first). Resolves to the
 * exit code: 0 done, 1 failed (typed error printed), 2 usage.
 */
import { resolve as resolvePath } from 'node:path';
import { EtcdClient } from '../sources/etcd-client.js';
import { etcdPrefixOf } from '../sources/etcd.js';
import { isPoolSourceError, PoolSourceError } from '../sources/errors.js';
import { normalizePoolSpec } from '../sources/spec.js';
import type { EtcdPoolSpec, PoolEntry } from '../sources/types.js';
import { EtcdPoolWriter, FilePoolWriter, type PoolWriter } from './writer.js';

export const OPS_USAGE = `usage: lvskit-director pool|depool|drain SERVICE HOST [options]
  pool     pooled yes at its weight (--weight N sets it)
  depool   pooled no (the director drains it for the service's drain time, then removes it)
  drain    weight 0, wait, then pooled no with the weight restored
options:
  --config FILE        director config naming the service's pool source
                       (default $LVSKIT_DIRECTOR_CONFIG or /etc/lvskit/director.yaml)
  --pool-file PATH     write this pool file instead
  --etcd URL[,URL]     write etcd instead (with --prefix /conftool/v1/pools/DC/CLUSTER/SERVICE/)
  --prefix PREFIX
  --weight N           pool: the weight to pool at
  --wait DURATION      drain: time at weight 0 before depooling (default: the service's drainMs, else 60s)
  --status URL         drain: the director's status API, to see the weight 0 applied
  --timeout DURATION   drain: longest wait for the status API to show weight 0 (default 30s)`;

export interface OpsIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  /** Sleep (tests pass a short one); resolves early when `signal` aborts. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  signal?: AbortSignal;
}

const defaultIo: OpsIo = { stdout: (s) => void process.stdout.write(s), stderr: (s) => void process.stderr.write(s) };

type Verb = 'pool' | 'depool' | 'drain';

interface Target {
  writer: PoolWriter;
  drainMs: number | undefined;
  statusUrl: string | undefined;
}

function parseDurationArg(v: string, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(v);
  if (!m) throw new PoolSourceError('ERR_POOL_OP', `${flag} takes a duration like 30s, 500ms or 2m (got ${JSON.stringify(v)})`);
  return Math.round(Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms']);
}

function sleepDefault(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

export async function main(argv: readonly string[], io: OpsIo = defaultIo): Promise<number> {
  const [verb, service, host, ...rest] = argv;
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout(`${OPS_USAGE}\n`);
    return 0;
  }
  if (verb !== 'pool' && verb !== 'depool' && verb !== 'drain') return usage(io, `unknown command ${JSON.stringify(verb ?? '')}`);
  if (service === undefined || host === undefined || service.startsWith('-') || host.startsWith('-')) return usage(io, `${verb} needs SERVICE and HOST`);
  const flags = new Map<string, string>();
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (!['--config', '--pool-file', '--etcd', '--prefix', '--weight', '--wait', '--status', '--timeout'].includes(a)) return usage(io, `unknown option ${a}`);
    const v = rest[++i];
    if (v === undefined) return usage(io, `${a} needs a value`);
    flags.set(a, v);
  }
  try {
    const target = await resolveTarget(service, flags);
    return await run(verb, service, host, target, flags, io);
  } catch (err) {
    if (isPoolSourceError(err) || (err as { code?: string }).code === 'ERR_DIRECTOR_CONFIG') {
      io.stderr(`lvskit-director ${verb}: ${(err as Error).message}\n`);
      return 1;
    }
    throw err;
  }
}

function usage(io: OpsIo, msg: string): number {
  io.stderr(`lvskit-director: ${msg}\n${OPS_USAGE}\n`);
  return 2;
}

async function resolveTarget(service: string, flags: Map<string, string>): Promise<Target> {
  const wait = flags.get('--wait');
  const drainOverride = wait === undefined ? undefined : parseDurationArg(wait, '--wait');
  const statusUrl = flags.get('--status');
  if (flags.has('--pool-file')) {
    return { writer: new FilePoolWriter(resolvePath(flags.get('--pool-file')!)), drainMs: drainOverride, statusUrl };
  }
  if (flags.has('--etcd')) {
    const prefix = flags.get('--prefix');
    if (prefix === undefined) throw new PoolSourceError('ERR_POOL_OP', '--etcd needs --prefix (e.g. /conftool/v1/pools/eqiad/text/varnish/)');
    const spec: EtcdPoolSpec = { type: 'etcd', endpoints: flags.get('--etcd')!.split(','), prefix };
    return { writer: new EtcdPoolWriter(new EtcdClient(spec), etcdPrefixOf(spec, service)), drainMs: drainOverride, statusUrl };
  }
  // The director's config names the source. Loaded lazily: it pulls in the director's modules.
  const file = flags.get('--config') ?? process.env.LVSKIT_DIRECTOR_CONFIG ?? '/etc/lvskit/director.yaml';
  const { loadConfig } = await import('../config.js');
  const cfg = await loadConfig(file);
  const svc = cfg.services.find((s) => s.name === service);
  if (svc === undefined) throw new PoolSourceError('ERR_POOL_OP', `no service ${service} in ${file} (services: ${cfg.services.map((s) => s.name).join(', ')})`);
  const fromStatus = cfg.status === false ? undefined : `http://${cfg.status.address.includes(':') ? `[${cfg.status.address}]` : cfg.status.address}:${cfg.status.port}`;
  const base = { drainMs: drainOverride ?? svc.drainMs, statusUrl: statusUrl ?? fromStatus };
  if (svc.pool === undefined) {
    throw new PoolSourceError('ERR_POOL_OP', `service ${service} lists its servers in ${file} itself: change enabled/weight there and reload the director (SIGHUP)`);
  }
  const spec = normalizePoolSpec(svc.pool, service);
  switch (spec.type) {
    case 'file':
      return { writer: new FilePoolWriter(resolvePath(cfg.baseDir, spec.path), spec.format ?? 'auto'), ...base };
    case 'etcd':
      return { writer: new EtcdPoolWriter(new EtcdClient(spec), etcdPrefixOf(spec, service)), ...base };
    case 'http':
      throw new PoolSourceError('ERR_POOL_OP', `service ${service} reads its pool from a URL: change it where it is served`);
    case 'inline':
      throw new PoolSourceError('ERR_POOL_OP', `service ${service} lists its servers in ${file} itself: change them there and reload the director (SIGHUP)`);
  }
}

const show = (e: PoolEntry): string => `pooled ${e.pooled} weight ${e.weight}`;

async function run(verb: Verb, service: string, host: string, t: Target, flags: Map<string, string>, io: OpsIo): Promise<number> {
  const sleep = io.sleep ?? sleepDefault;
  const say = (r: { before: PoolEntry; after: PoolEntry; target: string; revision?: number }): void =>
    io.stdout(`${service} ${host}: ${show(r.before)} -> ${show(r.after)} (${t.writer.describe}${r.revision ? `, revision ${r.revision}` : ''})\n`);
  const weightFlag = flags.get('--weight');
  let weight: number | undefined;
  if (weightFlag !== undefined) {
    weight = Number(weightFlag);
    if (!Number.isInteger(weight) || weight < 1 || weight > 65535) throw new PoolSourceError('ERR_POOL_OP', `--weight must be an integer 1..65535 (got ${weightFlag})`);
    if (verb !== 'pool') throw new PoolSourceError('ERR_POOL_OP', '--weight goes with pool');
  }
  switch (verb) {
    case 'pool': {
      const r = await t.writer.update(host, (cur) => {
        if (weight === undefined && cur.weight === 0) {
          throw new PoolSourceError('ERR_POOL_OP', `${host} is at weight 0 (an interrupted drain?): give --weight N to pool it`);
        }
        return { pooled: 'yes', ...(weight === undefined ? {} : { weight }) };
      });
      say(r);
      return 0;
    }
    case 'depool': {
      say(await t.writer.update(host, () => ({ pooled: 'no' })));
      return 0;
    }
    case 'drain': {
      let oldWeight = 0;
      const first = await t.writer.update(host, (cur) => {
        if (cur.pooled !== 'yes') throw new PoolSourceError('ERR_POOL_OP', `${host} is not pooled (pooled ${cur.pooled}): nothing to drain`);
        if (cur.weight === 0) throw new PoolSourceError('ERR_POOL_OP', `${host} is already at weight 0 (a drain in progress?): use depool to finish it`);
        oldWeight = cur.weight;
        return { weight: 0 };
      });
      say(first);
      const waitMs = t.drainMs ?? 60_000;
      if (t.statusUrl !== undefined) {
        const timeoutMs = flags.has('--timeout') ? parseDurationArg(flags.get('--timeout')!, '--timeout') : 30_000;
        const seen = await waitWeightZero(t.statusUrl, service, host, timeoutMs, sleep, io.signal);
        io.stdout(seen ? `${service} ${host}: the director has it at weight 0\n` : `${service} ${host}: the status API at ${t.statusUrl} did not show weight 0 within ${timeoutMs} ms; waiting anyway\n`);
      }
      io.stdout(`${service} ${host}: draining for ${waitMs} ms\n`);
      await sleep(waitMs, io.signal);
      if (io.signal?.aborted) {
        io.stderr(`${service} ${host}: interrupted: left at weight 0 and pooled; finish with 'depool' or undo with 'pool --weight ${oldWeight}'\n`);
        return 1;
      }
      const second = await t.writer.update(host, (cur) => {
        // Someone changed it meanwhile (pooled it again at a weight): leave theirs alone.
        if (cur.weight !== 0) throw new PoolSourceError('ERR_POOL_OP', `${host} changed during the drain (now ${show(cur)}): not depooling it`);
        return { pooled: 'no', weight: oldWeight };
      });
      say(second);
      return 0;
    }
  }
}

/** Poll the director's status API until it reports `host` at weight 0. */
async function waitWeightZero(
  base: string,
  service: string,
  host: string,
  timeoutMs: number,
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>,
  signal?: AbortSignal,
): Promise<boolean> {
  const url = `${base.replace(/\/$/, '')}/pools/${encodeURIComponent(service)}/${encodeURIComponent(host)}?format=json`;
  const until = Date.now() + timeoutMs;
  while (Date.now() < until && !signal?.aborted) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (res.ok) {
        const body = (await res.json()) as { weight?: number; pooled?: boolean; status?: string };
        if (body.weight === 0 || body.status === 'draining' || body.status === 'out') return true;
      } else await res.body?.cancel();
    } catch {
      /* director not answering yet */
    }
    await sleep(250, signal);
  }
  return false;
}
