// The VRRP benchmark's lab: two routers (r1, r2) and a client (c) in network namespaces on one
// bridge (test/lab/harness/netlab.ts), the daemons under test (keepalived, or lvskit's
// bench/vrrp/router.mjs), the faults, and what the client and the routers see, with timestamps:
// - the wire, captured on the client's interface by tcpdump (kernel timestamps, -tt): adverts
//   (source, priority), gratuitous ARPs (source MAC), echo requests and replies (MACs, sequence);
// - `ip -ts monitor address` in each router: when the virtual address is added and removed;
// - `ip -ts monitor neigh` in the client: its neighbour entry for the virtual address;
// - bench/vrrp/pinger.mjs (SCHED_FIFO): an echo request from the client to the virtual address every
//   2 ms the whole time (the load the outage is measured on; requests and replies are read from the
//   capture).
// Every timestamp is wall-clock milliseconds (CLOCK_REALTIME); the bench's own actions (a signal, a
// link change) are stamped with `WallClock`, performance.now() calibrated against Date.now().
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const VRID = 77;
const NET = '10.77.0';
export const VIP = `${NET}.100`;
export const PRIORITY = { r1: 150, r2: 100 };
/** Echo request interval of the client's pinger (ms). */
export const PING_INTERVAL_MS = 2;

const ROUTER = fileURLToPath(new URL('./router.mjs', import.meta.url));
const PINGER = fileURLToPath(new URL('./pinger.mjs', import.meta.url));
const TS_REGISTER = fileURLToPath(new URL('../../test/lab/harness/ts-register.mjs', import.meta.url));
const REPO = fileURLToPath(new URL('../../', import.meta.url));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Wall-clock ms with sub-ms resolution. */
export class WallClock {
  #offset = Date.now() - performance.now();
  /** Re-anchor on a Date.now() tick (≤ 1 ms of spinning). */
  calibrate() {
    const d0 = Date.now();
    for (let i = 0; i < 1e7; i++) {
      const p = performance.now();
      const d = Date.now();
      if (d !== d0) {
        this.#offset = d - p;
        return;
      }
    }
  }
  now() {
    return performance.now() + this.#offset;
  }
}

/** `[2026-11-22T03:30:00.123456]` (ip -ts, TZ=UTC) -> ms. */
function parseIpTs(s) {
  const m = /^\[(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{6})\]/.exec(s);
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, se, us] = m.map(Number);
  return Date.UTC(y, mo - 1, d, h, mi, se) + us / 1000;
}

const FRAME = /^(\d+\.\d+) ([0-9a-f:]{17}) > ([0-9a-f:]{17}), ethertype \S+ \(0x[0-9a-f]{4}\), length \d+: (.*)$/;
const ADVERT = /^(\S+) > \S+: VRRPv\d, Advertisement, vrid (\d+), prio (\d+)/;
const ECHO = /^(\S+) > (\S+): ICMP echo (request|reply), id \d+, seq (\d+)/;
const ARP_REQUEST = /^Request who-has (\S+)(?: \([^)]*\))? tell (\S+),/;

/** One tcpdump -e -tt -n line -> event, or undefined. */
export function parseFrame(line) {
  const f = FRAME.exec(line);
  if (f === null) return undefined;
  const t = Number(f[1]) * 1000;
  const sm = f[2];
  const dm = f[3];
  const rest = f[4];
  let m = ADVERT.exec(rest);
  if (m !== null) return Number(m[2]) === VRID ? { t, k: 'adv', sm, dm, ip: m[1], prio: Number(m[3]) } : undefined;
  m = ECHO.exec(rest);
  if (m !== null) {
    if (m[3] === 'request' && m[2] === VIP) return { t, k: 'req', sm, dm, seq: Number(m[4]) };
    if (m[3] === 'reply' && m[1] === VIP) return { t, k: 'rep', sm, dm, seq: Number(m[4]) };
    return undefined;
  }
  m = ARP_REQUEST.exec(rest);
  if (m !== null && m[1] === VIP && m[2] === VIP) return { t, k: 'garp', sm, dm };
  return undefined;
}

function onLines(stream, fn) {
  let buf = '';
  stream.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      fn(line);
    }
  });
}

export class BenchLab {
  /** @type {import('../../test/lab/harness/netlab.ts').Lab} */
  lab;
  clock = new WallClock();
  macs = {};
  ips = { r1: `${NET}.1`, r2: `${NET}.2`, c: `${NET}.3` };
  /** Wire events: { t, k: 'adv' | 'garp' | 'req' | 'rep', sm, dm, ip?, prio?, seq? }, in arrival order. */
  wire = [];
  /** Virtual address added / removed: { t, h, op: 'add' | 'del' }. */
  addr = [];
  /** Client neighbour entry for the VIP: { t, mac } (mac undefined: none, failed or incomplete). */
  neigh = [];
  holds = { r1: false, r2: false };
  neighMac = undefined;
  #batch = {};
  #bridgeBatch;
  #dir = mkdtempSync(path.join(os.tmpdir(), 'lvskit-vrrp-bench-'));
  #kaRuns = 0;
  #aux = [];
  #routerModule;
  /** Callbacks for the next advert in the capture (nextAdvert). */
  #advertWaiters = [];

  /** `routerModule`: where bench/vrrp/router.mjs loads lvskit/vrrp from (default the package's own dist/). */
  static async create(createLab, { routerModule } = {}) {
    const b = new BenchLab();
    b.#routerModule = routerModule;
    b.lab = await createLab({
      hosts: { r1: { ipv4: [`${NET}.1/24`] }, r2: { ipv4: [`${NET}.2/24`] }, c: { ipv4: [`${NET}.3/24`] } },
    });
    try {
      await b.#start();
    } catch (e) {
      await b.destroy();
      throw e;
    }
    return b;
  }

  async #start() {
    const lab = this.lab;
    for (const h of ['r1', 'r2', 'c']) {
      const r = await lab.ip(h, ['-j', 'link', 'show', 'dev', 'eth0'], { check: true });
      this.macs[h] = JSON.parse(r.stdout)[0].address;
    }
    const env = { ...process.env, TZ: 'UTC' };
    for (const h of ['r1', 'r2']) {
      const mon = lab.spawn(h, ['ip', '-ts', '-o', 'monitor', 'address'], { env, maxOutput: 4096 });
      this.#aux.push(mon);
      onLines(mon.child.stdout, (line) => {
        const t = parseIpTs(line);
        const m = /\] (Deleted )?\d+: eth0\s+inet (\S+)\//.exec(line);
        if (t === undefined || m === null || m[2].split('/')[0] !== VIP) return;
        const op = m[1] === undefined ? 'add' : 'del';
        this.addr.push({ t, h, op });
        this.holds[h] = op === 'add';
      });
      const batch = lab.spawn(h, ['ip', '-force', '-batch', '-'], { stdin: 'pipe', maxOutput: 4096 });
      this.#aux.push(batch);
      this.#batch[h] = batch;
    }
    // The bridge's ports (partition): `ip -n <bridge ns>` from here, the one process not in a lab host.
    this.#bridgeBatch = spawn('ip', ['-n', lab.bridgeNs, '-force', '-batch', '-'], { stdio: ['pipe', 'ignore', 'inherit'] });
    this.#bridgeBatch.stdin.on('error', () => {});
    const nmon = lab.spawn('c', ['ip', '-ts', '-o', 'monitor', 'neigh'], { env, maxOutput: 4096 });
    this.#aux.push(nmon);
    onLines(nmon.child.stdout, (line) => {
      const t = parseIpTs(line);
      const m = /\] (Deleted )?(\S+) dev eth0 (?:lladdr (\S+) )?(\S+)/.exec(line);
      if (t === undefined || m === null || m[2] !== VIP) return;
      const mac = m[1] === undefined && m[3] !== undefined && !/FAILED|INCOMPLETE/.test(line) ? m[3] : undefined;
      this.neigh.push({ t, mac });
      this.neighMac = mac;
    });
    // Small snapshots: in immediate mode libpcap's ring has one fixed-size slot per packet, and with
    // the default snap length (256 KiB) an 8 MiB ring holds 32 packets: a starved tcpdump dropped some.
    const cap = lab.spawn('c', ['tcpdump', '-i', 'eth0', '-n', '-e', '-tt', '-l', '--immediate-mode', '-s', '128', '-B', '16384', 'vrrp or arp or icmp'], {
      maxOutput: 8192,
    });
    this.#aux.push(cap);
    onLines(cap.child.stdout, (line) => {
      const e = parseFrame(line);
      if (e === undefined) return;
      this.wire.push(e);
      if (e.k === 'adv') for (const w of this.#advertWaiters.splice(0)) w(e);
    });
    await cap.waitForOutput(/listening on eth0/, { timeoutMs: 15_000 });
    // Monitors print nothing when ready: give them a moment to subscribe.
    await sleep(300);
    // Real-time priority for the client's pinger only (never for the daemons under test): on a shared,
    // loaded CPU an ordinary process stalls for tens of ms, and its stalls would read as outages.
    const ping = lab.spawn('c', ['chrt', '-f', '10', process.execPath, '--import', TS_REGISTER, PINGER, VIP, String(PING_INTERVAL_MS), '7200'], {
      cwd: REPO,
      maxOutput: 4096,
    });
    this.#aux.push(ping);
    await ping.waitForOutput(/^pinging$/m, { timeoutMs: 30_000 });
  }

  /** Resolve when the capture next shows an advert (priority > 0) from `ip`; rejects after `timeoutMs`. */
  nextAdvert(ip, timeoutMs) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.#advertWaiters.indexOf(check);
        if (i >= 0) this.#advertWaiters.splice(i, 1);
        reject(new Error(`no advert from ${ip} within ${timeoutMs} ms`));
      }, timeoutMs);
      const check = (e) => {
        if (e.ip === ip && e.prio > 0) {
          clearTimeout(timer);
          resolve(e);
        } else this.#advertWaiters.push(check);
      };
      this.#advertWaiters.push(check);
    });
  }

  /** Drop wire events older than `keepMs` (the capture grows by ~1000 events a second). */
  prune(keepMs = 30_000) {
    const cut = this.clock.now() - keepMs;
    const i = this.wire.findIndex((e) => e.t >= cut);
    if (i > 0) this.wire.splice(0, i);
  }

  /** Poll `pred` every 5 ms up to `timeoutMs`; throws with `what` on timeout. */
  async until(pred, timeoutMs, what) {
    const end = Date.now() + timeoutMs;
    for (let i = 0; i < timeoutMs / 5 + 2; i++) {
      if (pred()) return;
      if (Date.now() > end) break;
      await sleep(5);
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (holds ${JSON.stringify(this.holds)}, neighbour ${this.neighMac})`);
  }

  /** Last echo reply time through `h`'s MAC, or -Infinity. */
  lastReplyVia(h) {
    const mac = this.macs[h];
    for (let i = this.wire.length - 1; i >= 0 && i >= this.wire.length - 5000; i--) {
      const e = this.wire[i];
      if (e.k === 'rep' && e.sm === mac) return e.t;
    }
    return -Infinity;
  }

  /** Whether the whole path goes through `h` now: only `h` holds the VIP, the client points at it, replies flow. */
  settledOn(h, other) {
    return this.holds[h] && !this.holds[other] && this.neighMac === this.macs[h] && this.clock.now() - this.lastReplyVia(h) < 50;
  }

  /** Start a daemon on `h`; resolves once it runs. */
  async startDaemon(h, impl, ivMs) {
    const priority = PRIORITY[h];
    if (impl === 'lvskit') {
      const cfg = { interface: 'eth0', vrid: VRID, priority, advertIntervalMs: ivMs, addresses: [VIP], ...(this.#routerModule ? { module: this.#routerModule } : {}), ...(process.env.VRRP_BENCH_TAKEOVER_ORDER ? { takeoverOrder: process.env.VRRP_BENCH_TAKEOVER_ORDER } : {}) };
      const p = this.lab.spawn(h, [process.execPath, ROUTER, JSON.stringify(cfg)], { cwd: REPO, maxOutput: 65536 });
      await p.waitForOutput(/^(ready|error .*)$/m, { timeoutMs: 30_000 });
      if (/^error /m.test(p.stdout)) throw new Error(`lvskit router on ${h}: ${p.output}`);
      return { impl, h, p };
    }
    const n = ++this.#kaRuns;
    const conf = path.join(this.#dir, `keepalived-${n}.conf`);
    writeFileSync(
      conf,
      [
        'global_defs {',
        `  router_id lvskit_bench_${n}`,
        '}',
        'vrrp_instance VI {',
        '  state BACKUP',
        '  interface eth0',
        `  virtual_router_id ${VRID}`,
        `  priority ${priority}`,
        `  advert_int ${ivMs / 1000}`,
        '  version 3',
        '  virtual_ipaddress {',
        `    ${VIP}/32`,
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    const p = this.lab.spawn(
      h,
      ['keepalived', '-n', '-l', '-D', '-P', '-f', conf, '-p', path.join(this.#dir, `ka-${n}.pid`), '-r', path.join(this.#dir, `ka-${n}-vrrp.pid`), '-c', path.join(this.#dir, `ka-${n}-chk.pid`)],
      { maxOutput: 65536 },
    );
    await p.waitForOutput(/\(VI\) Entering (BACKUP|MASTER) STATE/, { timeoutMs: 30_000 });
    return { impl, h, p };
  }

  /** SIGTERM to the daemon (keepalived's parent passes it to its VRRP child): a clean stop. */
  term(d) {
    process.kill(d.p.pid, 'SIGTERM');
  }

  /** SIGKILL to the daemon's whole process group (keepalived's parent and VRRP child at once). */
  kill(d) {
    process.kill(-d.p.pid, 'SIGKILL');
  }

  /** `ip link set dev eth0 up|down` in `h`, through an `ip -batch` already running there. */
  link(h, up) {
    this.#batch[h].child.stdin.write(`link set dev eth0 ${up ? 'up' : 'down'}\n`);
  }

  /**
   * Take `h`'s port out of the bridge (or put it back): `h` keeps its carrier and its daemon sees
   * nothing wrong (a partition: it stays master, alone), unlike a link cut.
   */
  partition(h, cut) {
    this.#bridgeBatch.stdin.write(`link set dev v-${h} ${cut ? 'nomaster' : 'master br0'}\n`);
  }

  async stopDaemon(d) {
    if (d === undefined || !d.p.running) return;
    await d.p.stop({ signal: 'SIGTERM', graceMs: 8_000 });
  }

  /** Put the segment back to nothing: links up, no VIP anywhere. */
  async reset() {
    for (const h of ['r1', 'r2']) {
      this.partition(h, false);
      await this.lab.ip(h, ['link', 'set', 'dev', 'eth0', 'up']);
      await this.lab.ip(h, ['address', 'del', `${VIP}/32`, 'dev', 'eth0']);
    }
    await this.until(() => !this.holds.r1 && !this.holds.r2, 5_000, 'no VIP anywhere');
  }

  /** What the capture and the pinger said about themselves (tcpdump's drop counts, failed sends); after destroy(). */
  notes = [];

  async destroy() {
    this.#bridgeBatch?.kill('SIGTERM');
    for (const p of this.#aux) await p.stop({ graceMs: 1_000 }).catch(() => {});
    for (const p of this.#aux) {
      if (p.argv[0] === 'tcpdump') this.notes.push(`capture: ${p.stderr.split('\n').filter((l) => /packets/.test(l)).join('; ')}`);
      if (p.argv.some((a) => a.endsWith('pinger.mjs'))) {
        const errs = p.stdout.split('\n').filter((l) => l.startsWith('send-error '));
        const codes = [...new Set(errs.map((l) => l.split(' ')[2]))];
        this.notes.push(`pinger: ${errs.length} failed sends${codes.length ? ` (${codes.join(', ')})` : ''}`);
      }
    }
    await this.lab?.destroy();
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
