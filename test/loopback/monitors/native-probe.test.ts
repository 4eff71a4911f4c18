/**
 * The native probe engine (native/lvskit_probe.c via src/monitors/native-probe.ts) against real
 * loopback servers that answer, break and misbehave in scripted ways: every case runs through the
 * Monitor's fast path (`START`) twice, once on Node's sockets and once on the native engine, and the
 * two results must be the same (ok, reason, details), and what the case expects. Then: no descriptor
 * left behind after many probes (cancelled, timed out, refused, answered), and a Monitor driving it.
 */
import { readdirSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpCheck, type HttpCheckOptions } from '../../../src/monitors/check-http.js';
import { TcpCheck } from '../../../src/monitors/check-tcp.js';
import { Monitor } from '../../../src/monitors/monitor.js';
import { probeEngine, useNativeProbes } from '../../../src/monitors/native-probe.js';
import { START, type StartableCheck } from '../../../src/monitors/start.js';
import type { CheckResult, CheckTarget } from '../../../src/monitors/types.js';
import { closedPort, type LoopbackHost } from '../harness/servers.js';

/** What a scripted server does once it has read the request's head: writes, pauses, then how it ends. */
interface Script {
  steps: Array<string | Buffer | number>;
  end: 'fin' | 'rst' | 'hang';
  /** Act on accept, before any request bytes. */
  onAccept?: boolean;
}

interface Scripted {
  port: number;
  server: Server;
  sockets: Set<Socket>;
}

async function scripted(host: string, script: Script): Promise<Scripted> {
  const sockets = new Set<Socket>();
  const act = async (s: Socket): Promise<void> => {
    for (const step of script.steps) {
      if (s.destroyed) return;
      if (typeof step === 'number') await new Promise((r) => setTimeout(r, step));
      else await new Promise<void>((r) => s.write(step, () => r()));
    }
    if (s.destroyed) return;
    if (script.end === 'fin') s.end();
    else if (script.end === 'rst') s.resetAndDestroy();
  };
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    if (script.onAccept) {
      void act(s);
      return;
    }
    let got = '';
    const onData = (d: Buffer): void => {
      got += d.toString('latin1');
      if (got.includes('\r\n\r\n')) {
        s.off('data', onData);
        s.resume();
        void act(s);
      }
    };
    s.on('data', onData);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port: 0 }, () => resolve());
  });
  return { port: (server.address() as AddressInfo).port, server, sockets };
}

function closeScripted(s: Scripted): Promise<void> {
  for (const x of s.sockets) x.destroy();
  return new Promise((r) => s.server.close(() => r()));
}

/** Run a check through the Monitor's fast path. */
function start(check: StartableCheck, target: CheckTarget): Promise<CheckResult> {
  return new Promise((resolve, reject) => {
    const run = check[START](target, { done: resolve });
    // Declined (a TcpCheck off the native engine): the Monitor then runs check(), and so does this.
    if (run === undefined) check.check(target).then(resolve, reject);
  });
}

/** Both engines on the same check and target: [node, native] (the switch is read when a check starts). */
async function both(check: StartableCheck, target: CheckTarget): Promise<[CheckResult, CheckResult]> {
  useNativeProbes(false);
  const node = start(check, target);
  useNativeProbes(true);
  const nat = start(check, target);
  return [await node, await nat];
}

const same = (r: CheckResult): Omit<CheckResult, 'latencyMs'> => {
  const { latencyMs: _l, ...rest } = r;
  return rest;
};

const ok200 = 'HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\nhealthy\n';
const bigHeader = `HTTP/1.1 200 OK\r\nx-pad: ${'p'.repeat(40_000)}`;

/** The matrix: name, server script, check options, what the result must be. */
const CASES: Array<{ name: string; script?: Script; refused?: true; opts?: HttpCheckOptions; want: Omit<Partial<CheckResult>, 'reason'> & { reason: string | RegExp } }> = [
  { name: '200 with a length', script: { steps: [ok200], end: 'fin' }, want: { ok: true, reason: 'HTTP 200', details: { status: 200, bodyBytes: 8 } } },
  { name: '404', script: { steps: ['HTTP/1.1 404 Not Found\r\ncontent-length: 4\r\n\r\nnope'], end: 'fin' }, want: { ok: false, reason: 'HTTP 404', details: { status: 404 } } },
  { name: '500', script: { steps: ['HTTP/1.0 500 Oops\r\n\r\n'], end: 'fin' }, want: { ok: false, reason: 'HTTP 500' } },
  { name: '503', script: { steps: ['HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n'], end: 'hang' }, want: { ok: false, reason: 'HTTP 503' } },
  {
    name: '301 expected, with its Location trimmed',
    script: { steps: ['HTTP/1.1 301 Moved\r\nLOCATION: \t/elsewhere  \r\ncontent-length: 0\r\n\r\n'], end: 'fin' },
    opts: { expectStatus: 301 },
    want: { ok: true, reason: 'HTTP 301', details: { status: 301, location: '/elsewhere', bodyBytes: 0 } },
  },
  { name: '301 not expected', script: { steps: ['HTTP/1.1 301 Moved\r\nlocation: /x\r\n\r\n'], end: 'hang' }, want: { ok: false, reason: 'HTTP 301', details: { status: 301, location: '/x' } } },
  { name: 'refused', refused: true, want: { ok: false, reason: /^connection refused \(ECONNREFUSED\)$/ } },
  { name: 'accepted, never answers', script: { steps: [], end: 'hang' }, opts: { timeoutMs: 300 }, want: { ok: false, reason: 'timed out after 300 ms', details: { timeout: true } } },
  { name: 'slow answer', script: { steps: [800, ok200], end: 'fin' }, opts: { timeoutMs: 300 }, want: { ok: false, reason: 'timed out after 300 ms' } },
  {
    name: 'reset mid-response',
    script: { steps: ['HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\npartial', 30], end: 'rst' },
    want: { ok: false, reason: 'HTTP 200, response broken mid-body: connection reset (ECONNRESET)' },
  },
  { name: 'garbage', script: { steps: ['SSH-2.0-OpenSSH_9.2\r\n'], end: 'hang', onAccept: true }, want: { ok: false, reason: /^not an HTTP response: "SSH-2\.0-OpenSSH_9\.2\\r\\n"$/ } },
  { name: 'binary garbage', script: { steps: [Buffer.from([0, 1, 2, 0xff, 0x80, 0x22, 0x5c, 10])], end: 'fin' }, want: { ok: false, reason: /^not an HTTP response: / } },
  { name: 'hang-up', script: { steps: [], end: 'fin' }, want: { ok: false, reason: 'connection closed without a response (socket hang up)' } },
  { name: 'reset at accept', script: { steps: [], end: 'rst', onAccept: true }, want: { ok: false, reason: /ECONNRESET|socket hang up/ } },
  {
    name: 'chunked with extensions and trailers, split',
    script: { steps: ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhel', 20, 'lo\r\n6\r\n world\r\n0\r\nx-t: 1\r\n\r\n'], end: 'hang' },
    want: { ok: true, reason: 'HTTP 200', details: { status: 200, bodyBytes: 11 } },
  },
  {
    name: 'bad chunk size',
    script: { steps: ['HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\nzz\r\n'], end: 'hang' },
    want: { ok: false, reason: 'HTTP 200, response broken mid-body: bad chunk size "zz"' },
  },
  {
    name: 'chunk data longer than its size',
    script: { steps: ['HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nabc\r\n'], end: 'hang' },
    want: { ok: false, reason: 'HTTP 200, response broken mid-body: chunk data longer than its size' },
  },
  { name: 'body shorter than its length', script: { steps: ['HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\nshort'], end: 'fin' }, want: { ok: false, reason: 'HTTP 200, response broken mid-body' } },
  { name: 'body to close', script: { steps: ['HTTP/1.1 200 OK\r\n\r\nuntil the end', 20, ' of it'], end: 'fin' }, want: { ok: true, details: { status: 200, bodyBytes: 19 }, reason: 'HTTP 200' } },
  {
    name: 'interim 100 then 200',
    script: { steps: ['HTTP/1.1 100 Continue\r\n\r\n', 10, 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'], end: 'hang' },
    want: { ok: true, reason: 'HTTP 200', details: { status: 200, bodyBytes: 2 } },
  },
  { name: 'head too long', script: { steps: [bigHeader], end: 'hang' }, want: { ok: false, reason: 'response head longer than 32768 bytes' } },
  { name: 'bad status line', script: { steps: ['HTTP/1.1 20 OK\r\n\r\n'], end: 'hang' }, want: { ok: false, reason: 'not an HTTP/1.x status line: "HTTP/1.1 20 OK"' } },
  { name: 'invalid content-length', script: { steps: ['HTTP/1.1 200 OK\r\ncontent-length: 5, 6\r\n\r\n'], end: 'hang' }, want: { ok: false, reason: 'HTTP 200, invalid content-length' } },
  { name: 'a list of equal lengths', script: { steps: ['HTTP/1.1 200 OK\r\ncontent-length: 3 , 3\r\n\r\nabc'], end: 'hang' }, want: { ok: true, reason: 'HTTP 200', details: { status: 200, bodyBytes: 3 } } },
  {
    name: 'head in pieces',
    script: { steps: ['HT', 10, 'TP/1.1 2', 10, '00 OK\r', 10, '\ncontent-le', 10, 'ngth: 2\r\n\r', 10, '\nok'], end: 'hang' },
    want: { ok: true, reason: 'HTTP 200', details: { status: 200, bodyBytes: 2 } },
  },
  { name: 'closed within the head', script: { steps: ['HTTP/1.1 200 OK\r\nx: y'], end: 'fin' }, want: { ok: false, reason: 'connection closed within the response head (21 bytes)' } },
  { name: 'HEAD', script: { steps: ['HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n'], end: 'hang' }, opts: { method: 'HEAD' }, want: { ok: true, reason: 'HTTP 200' } },
  { name: '204', script: { steps: ['HTTP/1.1 204 No Content\r\n\r\n'], end: 'hang' }, opts: { expectStatus: [200, 204] }, want: { ok: true, reason: 'HTTP 204', details: { status: 204, bodyBytes: 0 } } },
  {
    name: 'body cap',
    script: { steps: [`HTTP/1.1 200 OK\r\ncontent-length: 200000\r\n\r\n${'a'.repeat(200_000)}`], end: 'hang' },
    opts: { maxBodyBytes: 1000 },
    want: { ok: true, reason: 'HTTP 200', details: { status: 200, bodyBytes: 1000, bodyCapped: true } },
  },
  { name: 'body cap 0', script: { steps: [ok200], end: 'hang' }, opts: { maxBodyBytes: 0 }, want: { ok: true, reason: 'HTTP 200', details: { status: 200, bodyBytes: 0, bodyCapped: true } } },
];

describe.each<LoopbackHost>(['127.0.0.1', '::1'])('native probe engine = Node path, against %s', (host) => {
  const servers = new Map<string, Scripted>();
  let refusedPort = 0;
  beforeAll(async () => {
    for (const c of CASES) if (c.script) servers.set(c.name, await scripted(host, c.script));
    refusedPort = await closedPort(host);
  });
  afterAll(async () => {
    useNativeProbes(true);
    await Promise.all([...servers.values()].map(closeScripted));
  });

  it('gives the same result as Node sockets on every case of the failure matrix', async () => {
    useNativeProbes(true);
    const engine = probeEngine();
    expect(engine).not.toBeNull();
    const started0 = engine?.started ?? 0;
    const out = await Promise.all(
      CASES.map(async (c) => {
        const port = c.refused ? refusedPort : (servers.get(c.name) as Scripted).port;
        const check = new HttpCheck({ host: 'svc.test', path: '/health', ...c.opts }) as unknown as StartableCheck;
        const [node, nat] = await both(check, { address: host, port });
        return { c, node, nat };
      }),
    );
    // Every native run went through the engine (and no Node run did).
    expect((engine?.started ?? 0) - started0).toBe(CASES.length);
    for (const { c, node, nat } of out) {
      expect({ case: c.name, ...same(nat) }).toEqual({ case: c.name, ...same(node) });
      const { reason, ...rest } = c.want;
      expect(nat, c.name).toMatchObject(rest);
      if (typeof reason === 'string') expect(nat.reason, c.name).toBe(reason);
      else expect(nat.reason, c.name).toMatch(reason);
      expect(nat.latencyMs).toBeGreaterThanOrEqual(0);
    }
  });

  it('TCP connect checks: same results (connected with FIN or RST, refused)', async () => {
    const s = servers.get('503') as Scripted;
    const started0 = probeEngine()?.started ?? 0;
    for (const close of ['fin', 'reset'] as const) {
      const [node, nat] = await both(new TcpCheck({ close }) as unknown as StartableCheck, { address: host, port: s.port });
      expect(same(nat)).toEqual(same(node));
      expect(nat).toMatchObject({ ok: true, reason: 'connected' });
    }
    const [node, nat] = await both(new TcpCheck() as unknown as StartableCheck, { address: host, port: refusedPort });
    expect(same(nat)).toEqual(same(node));
    expect(nat.reason).toBe('connection refused (ECONNREFUSED)');
    expect((probeEngine()?.started ?? 0) - started0).toBe(3);
  });
});

describe('native probe engine resources', () => {
  const fds = (): number => readdirSync('/proc/self/fd').length;

  it('leaves no descriptor behind after hundreds of probes: answered, refused, timed out, cancelled', async () => {
    useNativeProbes(true);
    const engine = probeEngine();
    expect(engine).not.toBeNull();
    const good = await scripted('127.0.0.1', { steps: [ok200], end: 'fin' });
    const silent = await scripted('127.0.0.1', { steps: [], end: 'hang' });
    const refused = await closedPort('127.0.0.1');
    try {
      // Warm up (the engine's own epoll descriptor exists from here on).
      await start(new HttpCheck() as unknown as StartableCheck, { address: '127.0.0.1', port: good.port });
      // The servers run in this process too: count descriptors when they hold no connection.
      const settle = async (): Promise<void> => {
        for (let i = 0; i < 150 && good.sockets.size + silent.sockets.size > 0; i++) await new Promise((r) => setTimeout(r, 20));
        expect(good.sockets.size + silent.sockets.size).toBe(0);
      };
      await settle();
      const before = fds();
      const ok = new HttpCheck({ timeoutMs: 2000 }) as unknown as StartableCheck;
      const quick = new HttpCheck({ timeoutMs: 150 }) as unknown as StartableCheck;
      const started0 = engine?.started ?? 0;
      const results: Array<Promise<CheckResult>> = [];
      let cancelled = 0;
      for (let i = 0; i < 400; i++) {
        const kind = i % 4;
        if (kind === 0) results.push(start(ok, { address: '127.0.0.1', port: good.port }));
        else if (kind === 1) results.push(start(ok, { address: '127.0.0.1', port: refused }));
        else if (kind === 2) results.push(start(quick, { address: '127.0.0.1', port: silent.port }));
        else {
          // Started and cancelled: on the silent server (connected, waiting) or at once.
          const run = ok[START]({ address: '127.0.0.1', port: i % 8 === 3 ? silent.port : good.port }, { done: () => expect.fail('a cancelled probe reported') });
          if (run === undefined) expect.fail('the native engine declined a plain HTTP check');
          if (i % 8 === 3) await new Promise((r) => setTimeout(r, 1));
          run.cancel();
          cancelled++;
        }
      }
      const rs = await Promise.all(results);
      expect(engine?.started).toBe(started0 + 400);
      expect(cancelled).toBe(100);
      expect(rs.filter((r) => r.ok)).toHaveLength(100);
      expect(rs.filter((r) => r.reason === 'connection refused (ECONNREFUSED)')).toHaveLength(100);
      expect(rs.filter((r) => r.reason === 'timed out after 150 ms')).toHaveLength(100);
      expect(engine?.active).toBe(0);
      await settle();
      expect(fds()).toBe(before);
    } finally {
      await closeScripted(good);
      await closeScripted(silent);
    }
  });

  it('survives random answers (garbage, huge heads, odd chunking, resets, half-closes, silence): every probe ends once', async () => {
    useNativeProbes(true);
    const engine = probeEngine();
    let seed = 0x5eed;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
      seed ^= seed >>> 13;
      return (seed >>> 8) % n;
    };
    const pieces = [
      'HTTP/1.1 200 OK\r\n', 'HTTP/1.0 503 x\r\n', 'HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 20', 'HTTP/', 'garbage',
      'content-length: 5\r\n', 'Content-Length: 3, 3\r\n', 'content-length: 99999999999999999\r\n', 'transfer-encoding: chunked\r\n',
      'location:   /a  \r\n', ':\r\n', '\r\n', '5\r\nhello\r\n', '0\r\n\r\n', 'fffffffffffff\r\n', 'zz;\r\n', '\n', '\r',
      'a'.repeat(5000), 'b'.repeat(40_000), '\0\xff\x80', ok200,
    ];
    const sockets = new Set<Socket>();
    const server = createServer((s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
      const data = Buffer.from(Array.from({ length: rnd(8) }, () => pieces[rnd(pieces.length)]).join(''), 'latin1');
      const end = rnd(3);
      let at = 0;
      const step = (): void => {
        if (s.destroyed) return;
        if (at >= data.length) {
          if (end === 0) s.end();
          else if (end === 1) s.resetAndDestroy();
          return; // 2: silence until the check gives up
        }
        const n = 1 + rnd(data.length - at);
        s.write(data.subarray(at, at + n));
        at += n;
        if (rnd(3) === 0) setTimeout(step, rnd(5));
        else step();
      };
      if (rnd(2)) step();
      else s.once('data', step);
    });
    await new Promise<void>((r) => server.listen({ host: '127.0.0.1', port: 0 }, () => r()));
    const port = (server.address() as AddressInfo).port;
    try {
      const before = fds();
      const checks = [new HttpCheck({ timeoutMs: 300 }), new HttpCheck({ timeoutMs: 300, method: 'HEAD', close: 'fin' }), new HttpCheck({ timeoutMs: 300, maxBodyBytes: 3 })];
      const started0 = engine?.started ?? 0;
      let reports = 0;
      const all: Array<Promise<CheckResult>> = [];
      for (let i = 0; i < 300; i++) {
        all.push(
          new Promise((resolve) => {
            (checks[i % 3] as unknown as StartableCheck)[START]({ address: '127.0.0.1', port }, {
              done: (r) => {
                reports++;
                resolve(r);
              },
            });
          }),
        );
        if (i % 50 === 49) await new Promise((r) => setTimeout(r, 5));
      }
      const rs = await Promise.all(all);
      await new Promise((r) => setTimeout(r, 50));
      expect(reports).toBe(300);
      expect((engine?.started ?? 0) - started0).toBe(300);
      expect(engine?.active).toBe(0);
      for (const r of rs) expect(typeof r.ok === 'boolean' && typeof r.reason === 'string' && r.reason.length > 0).toBe(true);
      // Several kinds of outcome came out of it, not one failure mode for all.
      expect(new Set(rs.map((r) => r.reason.replace(/\d+|".*"/g, 'N'))).size).toBeGreaterThan(5);
      for (const x of sockets) x.destroy();
      for (let i = 0; i < 100 && sockets.size > 0; i++) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 50));
      expect(fds()).toBe(before);
    } finally {
      for (const x of sockets) x.destroy();
      await new Promise((r) => server.close(() => r(undefined)));
    }
  });

  it('drives a Monitor with a TcpCheck off the native engine: the fast path declines and check() runs', async () => {
    useNativeProbes(false);
    const engine = probeEngine();
    const started0 = engine?.started ?? 0;
    const server = createServer((c) => c.end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    const m = new Monitor();
    try {
      const states: Array<[string, boolean]> = [];
      m.on('state', (id, up) => states.push([id, up]));
      const check = new TcpCheck({ timeoutMs: 500 });
      expect(check[START]({ address: '127.0.0.1', port }, { done: () => expect.fail('a declined check reported') })).toBeUndefined();
      m.add({ id: 't', target: { address: '127.0.0.1', port }, checks: [{ name: 'tcp', check, intervalMs: 50 }], rise: 2, fall: 2 });
      m.start();
      const t0 = Date.now();
      while (!states.some(([, up]) => up) && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20));
      expect(states).toContainEqual(['t', true]);
      await new Promise((r) => server.close(() => r(undefined)));
      while (!states.some(([, up]) => !up) && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 20));
      expect(states).toContainEqual(['t', false]);
      expect(m.state('t')?.checks[0]?.last?.reason ?? '').toMatch(/refused/);
      expect(engine?.started ?? 0).toBe(started0);
    } finally {
      await m.stop();
      useNativeProbes(true);
      if (server.listening) server.close();
    }
  });

  it('drives a Monitor: servers go up on the native engine and down when they break', async () => {
    useNativeProbes(true);
    const engine = probeEngine();
    const s = await scripted('127.0.0.1', { steps: [ok200], end: 'fin' });
    const m = new Monitor();
    try {
      const started0 = engine?.started ?? 0;
      const states: Array<[string, boolean]> = [];
      m.on('state', (id, up) => states.push([id, up]));
      const check = new HttpCheck({ timeoutMs: 500 });
      m.add({ id: 'a', target: { address: '127.0.0.1', port: s.port }, checks: [{ name: 'http', check, intervalMs: 50 }], rise: 2, fall: 2 });
      m.start();
      const t0 = Date.now();
      while (!states.some(([, up]) => up) && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20));
      expect(states).toContainEqual(['a', true]);
      await closeScripted(s);
      while (!states.some(([, up]) => !up) && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 20));
      expect(states).toContainEqual(['a', false]);
      expect((engine?.started ?? 0) - started0).toBeGreaterThanOrEqual(4);
    } finally {
      await m.stop();
    }
  });
});
