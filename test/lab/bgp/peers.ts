// Shared pieces of the BGP interop lab tests: lvskit's speaker run in a lab host (fixtures/speaker.ts,
// driven over stdin/stdout), and BIRD 2, GoBGP and FRR run as real peers in another host, each with
// its config, control socket and pid file in a temp dir of its own (the namespaces share /run and
// /tmp, and other engineers run the same daemons). Every wait is bounded.
//
// Routes are compared in one plain shape (`PlainRoute`): what lvskit received from a peer, and what a
// peer shows it received from lvskit (birdc text, `gobgp -j`, `vtysh ... json`).

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { createLab } from '../harness/netlab.js';
import type { HostSpec, Lab, LabProcess } from '../harness/netlab.js';
import { TS_REGISTER, waitFor } from '../harness/probes.js';
import type { BgpSpeakerOptions, PeerStatus, RouteAttributes } from '../../../src/bgp/speaker.js';

const SPEAKER_FIXTURE = fileURLToPath(new URL('./fixtures/speaker.ts', import.meta.url));

export interface PlainRoute {
  prefix: string;
  nextHop: string[];
  origin?: string;
  /** Space-separated ASNs, `{a b}` for a set. */
  asPath: string;
  med?: number;
  localPref?: number;
  communities: string[];
  largeCommunities: string[];
  stale?: boolean;
}

export interface SpeakerEvent {
  kind: 'peer-up' | 'peer-down' | 'peer-state' | 'update-error';
  peer: string;
  [k: string]: unknown;
}

/** lvskit's BgpSpeaker in a lab host. */
export class LvskitSpeaker {
  readonly events: SpeakerEvent[] = [];
  #buf = '';
  #nextId = 1;
  readonly #waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private constructor(readonly proc: LabProcess) {
    proc.child.stdout?.on('data', (d: string) => {
      this.#buf += d;
      let i: number;
      while ((i = this.#buf.indexOf('\n')) >= 0) {
        const line = this.#buf.slice(0, i);
        this.#buf = this.#buf.slice(i + 1);
        this.#line(line);
      }
    });
    void proc.exited.then(() => {
      for (const w of this.#waiting.values()) w.reject(new Error(`speaker exited; output:\n${proc.output.slice(-3000)}`));
      this.#waiting.clear();
    });
  }

  static async start<H extends string>(lab: Lab<H>, host: H, options: BgpSpeakerOptions, env: NodeJS.ProcessEnv = {}): Promise<LvskitSpeaker> {
    const proc = lab.spawn(host, [process.execPath, '--import', TS_REGISTER, SPEAKER_FIXTURE], { stdin: 'pipe', env: { ...process.env, ...env } });
    await proc.waitForOutput(/^ready /m, { timeoutMs: 60_000 });
    const s = new LvskitSpeaker(proc);
    await s.call('start', { speaker: options });
    return s;
  }

  #line(line: string): void {
    const sp = line.indexOf(' ');
    const kind = line.slice(0, sp);
    if (kind !== 'reply' && kind !== 'event') return;
    const v = JSON.parse(line.slice(sp + 1)) as Record<string, unknown>;
    if (kind === 'event') {
      this.events.push(v as SpeakerEvent);
      return;
    }
    const w = this.#waiting.get(v.id as number);
    if (w === undefined) return;
    this.#waiting.delete(v.id as number);
    if (v.ok === true) w.resolve(v.result);
    else w.reject(Object.assign(new Error(`${String(v.code)}: ${String(v.message)}`), { code: v.code }));
  }

  call(op: string, args: Record<string, unknown> = {}, timeoutMs = 20_000): Promise<unknown> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.#waiting.delete(id);
        reject(new Error(`no reply to ${op} within ${timeoutMs} ms; output:\n${this.proc.output.slice(-3000)}`));
      }, timeoutMs);
      this.#waiting.set(id, {
        resolve: (v) => {
          clearTimeout(t);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      });
      this.proc.child.stdin?.write(`${JSON.stringify({ id, op, args })}\n`);
    });
  }

  announce(prefix: string, attributes: RouteAttributes = {}): Promise<unknown> {
    return this.call('announce', { prefix, attributes });
  }
  withdraw(prefix: string): Promise<unknown> {
    return this.call('withdraw', { prefix });
  }
  refresh(peer?: string): Promise<unknown> {
    return this.call('refresh', peer === undefined ? {} : { peer });
  }
  async routes(peer?: string): Promise<PlainRoute[]> {
    return (await this.call('routes', peer === undefined ? {} : { peer })) as PlainRoute[];
  }
  async peers(): Promise<PeerStatus[]> {
    return (await this.call('peers')) as PeerStatus[];
  }
  /** close() (withdraw all, Cease) or, with restart, a silent close for graceful restart; waits for the exit. */
  async close(options: { message?: string; restart?: boolean } = {}): Promise<void> {
    await this.call('close', options);
    await Promise.race([this.proc.exited, new Promise((r) => setTimeout(r, 5_000))]);
    if (this.proc.running) await this.proc.stop();
  }

  async waitEstablished(peer?: string, timeoutMs = 30_000): Promise<void> {
    await waitFor(async () => (await this.peers()).some((p) => (peer === undefined || p.address === peer) && p.state === 'Established'), {
      timeoutMs,
      intervalMs: 200,
      what: `lvskit session with ${peer ?? 'a peer'} Established; output:\n${this.proc.output.slice(-2000)}`,
    });
  }
}

// ---------------------------------------------------------------------------------------------
// BIRD 2

/** Parse `birdc show route all` text into plain routes (BIRD 2.0 has no JSON output). */
export function parseBirdRoutes(text: string): PlainRoute[] {
  const routes: (PlainRoute & { flags: string })[] = [];
  let cur: (PlainRoute & { flags: string }) | undefined;
  for (const line of text.split('\n')) {
    const head = /^([0-9a-f.:]+\/\d+)\s+\S+\s+\[[^\]]*\](.*)$/i.exec(line) ?? /^\s{10,}\S+\s+\[[^\]]*\](.*)$/.exec(line);
    if (head !== null) {
      const prefix = head.length === 3 ? (head[1] as string) : (cur?.prefix ?? '');
      cur = { prefix, nextHop: [], asPath: '', communities: [], largeCommunities: [], flags: head[head.length - 1] ?? '' };
      routes.push(cur);
      continue;
    }
    if (cur === undefined) continue;
    const m = /^\s+BGP\.(\w+):\s?(.*)$/.exec(line);
    if (m === null) continue;
    const [, key, value = ''] = m;
    switch (key) {
      case 'origin':
        cur.origin = value.toLowerCase();
        break;
      case 'as_path':
        cur.asPath = value.trim();
        break;
      case 'next_hop':
        cur.nextHop = value.trim().split(/\s+/);
        break;
      case 'med':
        cur.med = Number(value);
        break;
      case 'local_pref':
        cur.localPref = Number(value);
        break;
      case 'community':
        cur.communities = [...value.matchAll(/\((\d+),(\d+)\)/g)].map((x) => `${x[1]}:${x[2]}`).sort();
        break;
      case 'large_community':
        cur.largeCommunities = [...value.matchAll(/\((\d+), (\d+), (\d+)\)/g)].map((x) => `${x[1]}:${x[2]}:${x[3]}`).sort();
        break;
    }
  }
  return routes.map(({ flags: _f, ...r }) => r);
}

export class Bird<H extends string = string> {
  proc: LabProcess | undefined;
  readonly conf: string;
  readonly sock: string;
  constructor(
    readonly lab: Lab<H>,
    readonly host: H,
    dir: string,
    config: string,
  ) {
    this.conf = path.join(dir, 'bird.conf');
    this.sock = path.join(dir, 'bird.ctl');
    writeFileSync(this.conf, config);
  }
  async start(): Promise<void> {
    const p = this.lab.spawn(this.host, ['bird', '-f', '-c', this.conf, '-s', this.sock, '-P', `${this.sock}.pid`]);
    this.proc = p;
    await p.waitForOutput(/Started/, { timeoutMs: 20_000 });
  }
  async stop(): Promise<void> {
    await this.proc?.stop({ graceMs: 3_000 });
  }
  async birdc(args: readonly string[]): Promise<string> {
    const r = await this.lab.exec(this.host, ['birdc', '-s', this.sock, ...args], { timeoutMs: 10_000, check: true });
    return r.stdout;
  }
  /** Routes BIRD has from protocol `proto` (both tables), in the plain shape. */
  async routes(proto: string): Promise<PlainRoute[]> {
    return parseBirdRoutes(await this.birdc(['show', 'route', 'all', 'protocol', proto]));
  }
  /** `Established` or another BGP state of protocol `proto`. */
  async state(proto: string): Promise<string> {
    const out = await this.birdc(['show', 'protocols', proto]);
    const line = out.split('\n').find((l) => l.startsWith(`${proto} `)) ?? '';
    return line.trim().split(/\s+/).slice(-1)[0] ?? '';
  }
  /** Route change stats of protocol `proto`, summed over its channels: `{ 'Import updates': [received, rejected, filtered, ignored, accepted], ... }`. */
  async stats(proto: string): Promise<Record<string, number[]>> {
    const out = await this.birdc(['show', 'protocols', 'all', proto]);
    const res: Record<string, number[]> = {};
    for (const m of out.matchAll(/^\s+((?:Import|Export) (?:updates|withdraws)):\s+(.*)$/gm)) {
      const v = (m[2] as string)
        .trim()
        .split(/\s+/)
        .map((x) => (x === '---' ? 0 : Number(x)));
      const sum = res[m[1] as string];
      res[m[1] as string] = sum === undefined ? v : sum.map((x, i) => x + (v[i] ?? 0));
    }
    return res;
  }
}

// ---------------------------------------------------------------------------------------------
// GoBGP

interface GobgpAttr {
  type: number;
  value?: unknown;
  as_paths?: { segment_type: number; asns: number[] }[];
  nexthop?: string;
  metric?: number;
  local_pref?: number;
  communities?: number[];
  value_list?: unknown;
}

/** One path of `gobgp -j global rib` / `neighbor ... adj-in|adj-out` in the plain shape. */
export function plainGobgpPath(prefix: string, p: { attrs: GobgpAttr[]; stale?: boolean }): PlainRoute {
  const r: PlainRoute = { prefix, nextHop: [], asPath: '', communities: [], largeCommunities: [] };
  if (p.stale !== undefined) r.stale = p.stale;
  for (const a of p.attrs) {
    switch (a.type) {
      case 1:
        r.origin = ['igp', 'egp', 'incomplete'][a.value as number];
        break;
      case 2:
        r.asPath = (a.as_paths ?? []).map((s) => (s.segment_type === 1 ? `{${s.asns.join(' ')}}` : s.asns.join(' '))).join(' ');
        break;
      case 3:
        r.nextHop = [a.nexthop as string];
        break;
      case 4:
        r.med = a.metric as number;
        break;
      case 5:
        r.localPref = a.value as number;
        break;
      case 8:
        r.communities = (a.communities ?? []).map((c) => `${c >>> 16}:${c & 0xffff}`).sort();
        break;
      case 14:
        r.nextHop = [a.nexthop as string];
        break;
      case 32:
        r.largeCommunities = ((a.value as { ASN: number; LocalData1: number; LocalData2: number }[]) ?? []).map((c) => `${c.ASN}:${c.LocalData1}:${c.LocalData2}`).sort();
        break;
    }
  }
  return r;
}

export class Gobgp<H extends string = string> {
  proc: LabProcess | undefined;
  readonly conf: string;
  readonly api: string;
  constructor(
    readonly lab: Lab<H>,
    readonly host: H,
    dir: string,
    config: string,
    apiPort = 50051,
  ) {
    this.conf = path.join(dir, 'gobgpd.toml');
    this.api = String(apiPort);
    writeFileSync(this.conf, config);
  }
  async start(): Promise<void> {
    const p = this.lab.spawn(this.host, ['gobgpd', '-f', this.conf, '--api-hosts', `127.0.0.1:${this.api}`, '--pprof-disable', '-l', 'info']);
    this.proc = p;
    await waitFor(async () => (await this.lab.exec(this.host, ['gobgp', '-p', this.api, 'global'], { timeoutMs: 5_000 })).code === 0, {
      timeoutMs: 20_000,
      intervalMs: 200,
      what: 'gobgpd API',
    });
  }
  async stop(): Promise<void> {
    await this.proc?.stop({ graceMs: 3_000 });
  }
  async cli(args: readonly string[]): Promise<string> {
    const r = await this.lab.exec(this.host, ['gobgp', '-p', this.api, ...args], { timeoutMs: 10_000, check: true });
    return r.stdout;
  }
  async json(args: readonly string[]): Promise<unknown> {
    const out = (await this.cli(['-j', ...args])).trim();
    return out === '' ? null : JSON.parse(out);
  }
  /** `gobgp -j global rib -a <family>` (or a neighbor's adj-in / adj-out) in the plain shape. */
  async rib(family: 'ipv4' | 'ipv6', where: readonly string[] = ['global', 'rib']): Promise<PlainRoute[]> {
    const j = ((await this.json([...where, '-a', family])) ?? {}) as Record<string, { attrs: GobgpAttr[]; stale?: boolean }[]>;
    return Object.entries(j).flatMap(([prefix, paths]) => paths.map((p) => plainGobgpPath(prefix, p)));
  }
  async neighbor(address: string): Promise<{ state: { session_state?: number; messages?: { received?: Record<string, number>; sent?: Record<string, number> } } }> {
    return (await this.json(['neighbor', address])) as never;
  }
  /** GoBGP's session state, 6 = Established. */
  async sessionState(address: string): Promise<number> {
    return (await this.neighbor(address)).state.session_state ?? 0;
  }
}

// ---------------------------------------------------------------------------------------------
// FRR (bgpd alone: no zebra, so nothing is installed in a kernel table)

interface FrrPath {
  valid?: boolean;
  origin?: string;
  aspath?: { string?: string };
  path?: string;
  med?: number;
  metric?: number;
  locPrf?: number;
  localpref?: number;
  community?: { string?: string };
  largeCommunity?: { string?: string };
  nexthops?: { ip: string; scope?: string }[];
  stale?: boolean;
  peer?: { peerId?: string };
}

export function plainFrrPath(prefix: string, p: FrrPath): PlainRoute {
  const r: PlainRoute = {
    prefix,
    nextHop: (p.nexthops ?? []).filter((n) => n.scope !== 'link-local').map((n) => n.ip),
    origin: p.origin?.toLowerCase(),
    asPath: (p.aspath?.string ?? p.path ?? '').replace(/^Local$/, ''),
    communities: (p.community?.string ?? '').split(' ').filter((x) => x !== '').map(frrCommunity).sort(),
    largeCommunities: (p.largeCommunity?.string ?? '').split(' ').filter((x) => x !== '').sort(),
  };
  const med = p.med ?? p.metric;
  if (med !== undefined) r.med = med;
  const lp = p.locPrf ?? p.localpref;
  if (lp !== undefined) r.localPref = lp;
  if (p.stale === true) r.stale = true;
  return r;
}

/** FRR prints well-known communities by name. */
function frrCommunity(c: string): string {
  const names: Record<string, string> = {
    'no-export': '65535:65281',
    'no-advertise': '65535:65282',
    'local-AS': '65535:65283',
    'no-peer': '65535:65284',
    blackhole: '65535:666',
    'graceful-shutdown': '65535:0',
  };
  return names[c] ?? c;
}

export class Frr<H extends string = string> {
  proc: LabProcess | undefined;
  readonly conf: string;
  constructor(
    readonly lab: Lab<H>,
    readonly host: H,
    readonly dir: string,
    config: string,
  ) {
    this.conf = path.join(dir, 'bgpd.conf');
    writeFileSync(this.conf, config);
  }
  async start(): Promise<void> {
    const p = this.lab.spawn(this.host, [
      '/usr/lib/frr/bgpd',
      '--no_zebra',
      '--skip_runas',
      '-u',
      'root',
      '-g',
      'root',
      '--vty_port',
      '0',
      '-f',
      this.conf,
      '-i',
      path.join(this.dir, 'bgpd.pid'),
      '--vty_socket',
      this.dir,
      '--log',
      'stdout',
    ]);
    this.proc = p;
    await p.waitForOutput(/bgpd \S+ starting/, { timeoutMs: 20_000 });
    await waitFor(async () => (await this.lab.exec(this.host, ['vtysh', '--vty_socket', this.dir, '-c', 'show bgp summary json'], { timeoutMs: 5_000 })).code === 0, {
      timeoutMs: 20_000,
      intervalMs: 200,
      what: 'FRR vty',
    });
  }
  async stop(): Promise<void> {
    await this.proc?.stop({ graceMs: 3_000 });
  }
  async vtysh(...commands: string[]): Promise<string> {
    const r = await this.lab.exec(this.host, ['vtysh', '--vty_socket', this.dir, ...commands.flatMap((c) => ['-c', c])], { timeoutMs: 10_000, check: true });
    return r.stdout;
  }
  async json(command: string): Promise<unknown> {
    return JSON.parse(await this.vtysh(`${command} json`));
  }
  /** Every path FRR has for the family, with its attributes (one detail query per prefix). */
  async routes(family: 'ipv4' | 'ipv6', fromPeer?: string): Promise<PlainRoute[]> {
    const table = (await this.json(`show bgp ${family} unicast`)) as { routes?: Record<string, { peerId?: string }[]> };
    const res: PlainRoute[] = [];
    for (const prefix of Object.keys(table.routes ?? {})) {
      const d = (await this.json(`show bgp ${family} unicast ${prefix}`)) as { paths?: FrrPath[] };
      for (const p of d.paths ?? []) {
        if (fromPeer !== undefined && p.peer?.peerId !== fromPeer) continue;
        res.push(plainFrrPath(prefix, p));
      }
    }
    return res;
  }
  /** FRR's state for the neighbor (`Established`, `Active`, ...). */
  async state(address: string): Promise<string> {
    const j = (await this.json(`show bgp neighbors ${address}`)) as Record<string, { bgpState?: string }>;
    return j[address]?.bgpState ?? '';
  }
}

/** Sort routes for comparison. */
export function byPrefix<T extends { prefix: string }>(routes: readonly T[]): T[] {
  return [...routes].sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0));
}

/** A peer daemon as the lab hooks handle it. */
interface PeerDaemon {
  readonly proc: LabProcess | undefined;
  stop(): Promise<void>;
}

/** What {@link usePeerLab} gives a test file; `lab` is set once `beforeAll` has run. */
export interface PeerLab<H extends string> {
  /** The file's temp dir (peer config, sockets, scripts); removed after the file. */
  readonly dir: string;
  readonly lab: Lab<H>;
  /** Start an lvskit speaker on host `lvk`; the hooks stop it after the file. */
  speaker(options: BgpSpeakerOptions): Promise<LvskitSpeaker>;
}

/**
 * The one lab of a BGP interop file: host `lvk` for lvskit speakers and the peer's host, set up in
 * `beforeAll` (`startPeer` builds and starts the daemon), the peer's and every speaker's output printed
 * when a case fails, and everything stopped and removed in `afterAll`. Call it in a `describe` body.
 */
export function usePeerLab<H extends string>(opts: {
  name: string;
  hosts: Record<H, HostSpec>;
  startPeer: (lab: Lab<H>, dir: string) => Promise<PeerDaemon>;
}): PeerLab<H> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `lvskit-bgp-${opts.name}-`));
  const speakers: LvskitSpeaker[] = [];
  let lab: Lab<H> | undefined;
  let peer: PeerDaemon | undefined;
  const env: PeerLab<H> = {
    dir,
    get lab(): Lab<H> {
      if (lab === undefined) throw new Error('the lab is set up in beforeAll');
      return lab;
    },
    async speaker(options) {
      const s = await LvskitSpeaker.start(env.lab, 'lvk' as H, options);
      speakers.push(s);
      return s;
    },
  };
  beforeAll(async () => {
    lab = (await createLab({ hosts: opts.hosts as Record<string, HostSpec> })) as unknown as Lab<H>;
    peer = await opts.startPeer(lab, dir);
  });
  afterEach(async (ctx) => {
    if (ctx.task.result?.state === 'fail') {
      console.log(`--- ${opts.name}\n${peer?.proc?.output.slice(-6000) ?? ''}`);
      for (const s of speakers) console.log(`--- lvskit speaker ${s.proc.pid}\n${s.proc.output.slice(-3000)}`);
    }
  });
  afterAll(async () => {
    await Promise.all(speakers.map((s) => s.proc.stop()));
    await peer?.stop();
    await lab?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });
  return env;
}

/** Poll `read` until `pred` holds (bounded), returning the routes that satisfied it. */
export function waitRoutes(
  read: () => Promise<PlainRoute[]>,
  pred: (r: PlainRoute[]) => boolean,
  what: string,
  opts: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<PlainRoute[]> {
  return waitFor(
    async () => {
      const r = await read();
      return pred(r) ? r : undefined;
    },
    { timeoutMs: opts.timeoutMs ?? 20_000, intervalMs: opts.intervalMs ?? 200, what },
  );
}
