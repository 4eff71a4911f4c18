import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HttpCheck } from '../../../src/monitors/check-http.js';
import { TcpCheck } from '../../../src/monitors/check-tcp.js';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { MonitorError } from '../../../src/monitors/errors.js';
import { AbortError } from '../../../src/util/errors.js';
import { closedPort, startTcpServer, type LoopbackHost } from '../harness/servers.js';
import { makeCerts, startHttp, startResetMidResponse, until, type Closable, type TestCerts } from './harness.js';

const open: Closable[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});
function keep<T extends Closable>(s: T): T {
  open.push(s);
  return s;
}

describe.each<LoopbackHost>(['127.0.0.1', '::1'])('HTTP check against %s', (host) => {
  it('is up on 200 with a matching body, sending the service Host header to the real address', async () => {
    const s = keep(await startHttp(host, (_req, res) => res.end('status: healthy\n')));
    const c = new HttpCheck({ host: 'svc.example', path: '/health?x=1', bodyMatch: /status: healthy/ });
    const r = await c.check({ address: host, port: s.port });
    expect(r).toMatchObject({ ok: true, reason: 'HTTP 200', details: { status: 200 } });
    expect(r.latencyMs).toBeGreaterThanOrEqual(0);
    expect(s.requests).toEqual([{ method: 'GET', url: '/health?x=1', host: 'svc.example' }]);
  });

  it('sends the address and port as Host when it has no name (RFC 9110 §7.2)', async () => {
    const s = keep(await startHttp(host, (_req, res) => res.end('ok')));
    await new HttpCheck().check({ address: host, port: s.port });
    await new HttpCheck().check({ address: host, port: s.port, host: 'rs1.example' });
    expect(s.requests.map((q) => q.host)).toEqual([host === '::1' ? `[::1]:${s.port}` : `${host}:${s.port}`, 'rs1.example']);
  });

  it('is down on 404 and 500, saying which', async () => {
    let code = 404;
    const s = keep(await startHttp(host, (_req, res) => {
      res.statusCode = code;
      res.end('nope');
    }));
    const c = new HttpCheck();
    expect(await c.check({ address: host, port: s.port })).toMatchObject({ ok: false, reason: 'HTTP 404' });
    code = 500;
    expect(await c.check({ address: host, port: s.port })).toMatchObject({ ok: false, reason: 'HTTP 500', details: { status: 500 } });
  });

  it('is down when the body does not match', async () => {
    const s = keep(await startHttp(host, (_req, res) => res.end('status: degraded')));
    const r = await new HttpCheck({ bodyMatch: 'healthy' }).check({ address: host, port: s.port });
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/HTTP 200, body did not match healthy/);
  });

  it('never follows a redirect, and a redirect can be the expected answer', async () => {
    const s = keep(await startHttp(host, (req, res) => {
      if (req.url === '/') {
        res.writeHead(301, { location: '/elsewhere' });
        res.end();
      } else res.end('ok');
    }));
    const expect301 = await new HttpCheck({ expectStatus: 301 }).check({ address: host, port: s.port });
    expect(expect301).toMatchObject({ ok: true, reason: 'HTTP 301', details: { location: '/elsewhere' } });
    const default2xx = await new HttpCheck().check({ address: host, port: s.port });
    expect(default2xx).toMatchObject({ ok: false, reason: 'HTTP 301' });
    expect(s.requests.map((q) => q.url)).toEqual(['/', '/']);
  });

  it('accepts a list or a predicate of expected codes, and HEAD', async () => {
    const s = keep(await startHttp(host, (_req, res) => {
      res.statusCode = 204;
      res.end();
    }));
    expect((await new HttpCheck({ expectStatus: [200, 204] }).check({ address: host, port: s.port })).ok).toBe(true);
    expect((await new HttpCheck({ expectStatus: (c) => c < 300, method: 'HEAD' }).check({ address: host, port: s.port })).ok).toBe(true);
    expect((await new HttpCheck({ expectStatus: [200] }).check({ address: host, port: s.port })).ok).toBe(false);
    expect(s.requests.map((q) => q.method)).toEqual(['GET', 'HEAD', 'GET']);
  });

  it('is down with "connection refused" when nothing listens', async () => {
    const port = await closedPort(host);
    const r = await new HttpCheck().check({ address: host, port });
    expect(r).toMatchObject({ ok: false });
    expect(r.reason).toMatch(/connection refused \(ECONNREFUSED\)/);
  });

  it('times out on a server that accepts and never answers, well within 5x the timeout', async () => {
    const s = keep(await startTcpServer(host, { kind: 'silent' }));
    const t0 = performance.now();
    const r = await new HttpCheck({ timeoutMs: 200 }).check({ address: host, port: s.port });
    expect(r).toMatchObject({ ok: false, reason: 'timed out after 200 ms', details: { timeout: true } });
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(s.accepted).toBe(1);
  });

  it('times out on a slow answer, and is up when the answer comes within the deadline', async () => {
    const s = keep(await startHttp(host, (_req, res) => {
      setTimeout(() => res.end('late'), 300);
    }));
    expect(await new HttpCheck({ timeoutMs: 100 }).check({ address: host, port: s.port })).toMatchObject({ ok: false, reason: 'timed out after 100 ms' });
    expect(await new HttpCheck({ timeoutMs: 3000 }).check({ address: host, port: s.port })).toMatchObject({ ok: true, reason: 'HTTP 200' });
  });

  it('is down when the connection is reset mid-response', async () => {
    const s = keep(await startResetMidResponse(host, 'HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\npartial body'));
    const r = await new HttpCheck().check({ address: host, port: s.port });
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/HTTP 200, response broken mid-body/);
  });

  it('is down when the server closes without answering, or answers with something that is not HTTP', async () => {
    const closer = keep(await startTcpServer(host, { kind: 'delayed', delayMs: 10, data: '' }));
    const hangup = await new HttpCheck().check({ address: host, port: closer.port });
    expect(hangup.ok).toBe(false);
    expect(hangup.reason).toMatch(/socket hang up/);
    const ssh = keep(await startTcpServer(host, { kind: 'delayed', delayMs: 0, data: 'SSH-2.0-OpenSSH_9.2\r\n' }));
    const wrong = await new HttpCheck().check({ address: host, port: ssh.port });
    expect(wrong.ok).toBe(false);
    expect(wrong.reason).toMatch(/^not an HTTP response: "SSH-2\.0-OpenSSH_9\.2/);
  });

  it('is down when the server resets right after accepting', async () => {
    const s = keep(await startTcpServer(host, { kind: 'reset' }));
    const r = await new HttpCheck().check({ address: host, port: s.port });
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/ECONNRESET|socket hang up/);
  });

  it('caps the body it reads, and matches only within the cap', async () => {
    const big = 'a'.repeat(200_000) + 'NEEDLE';
    const s = keep(await startHttp(host, (_req, res) => res.end(big)));
    const capped = await new HttpCheck({ maxBodyBytes: 1000 }).check({ address: host, port: s.port });
    expect(capped).toMatchObject({ ok: true, details: { bodyBytes: 1000, bodyCapped: true } });
    const miss = await new HttpCheck({ maxBodyBytes: 1000, bodyMatch: 'NEEDLE' }).check({ address: host, port: s.port });
    expect(miss.ok).toBe(false);
    expect(miss.reason).toMatch(/in the first 1000 bytes/);
    const hit = await new HttpCheck({ maxBodyBytes: 300_000, bodyMatch: 'NEEDLE' }).check({ address: host, port: s.port });
    expect(hit.ok).toBe(true);
  });

  it('rejects with AbortError when the caller aborts, and at once when aborted before', async () => {
    const s = keep(await startTcpServer(host, { kind: 'silent' }));
    const ac = new AbortController();
    const p = new HttpCheck({ timeoutMs: 10_000 }).check({ address: host, port: s.port }, { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await expect(p).rejects.toBeInstanceOf(AbortError);
    await expect(new HttpCheck().check({ address: host, port: s.port }, { signal: ac.signal })).rejects.toBeInstanceOf(AbortError);
  });
});

describe('HTTP check with a throwing predicate', () => {
  it('is down, never an uncaught exception', async () => {
    const s = keep(await startHttp('127.0.0.1', (_req, res) => res.end('ok')));
    const r = await new HttpCheck({
      expectStatus: () => {
        throw new Error('bad predicate');
      },
    }).check({ address: '127.0.0.1', port: s.port });
    expect(r).toMatchObject({ ok: false, reason: 'expectStatus threw: bad predicate' });
  });
});

describe('HTTP check configuration', () => {
  it('refuses a bad path or cap, and a target without port for TCP', async () => {
    expect(() => new HttpCheck({ path: 'health' })).toThrow(/path must start/);
    expect(() => new HttpCheck({ maxBodyBytes: -1 })).toThrow(/maxBodyBytes/);
    const r = await new TcpCheck().check({ address: '127.0.0.1' });
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/needs a port/);
  });
});

describe('HTTPS check', () => {
  let certs: TestCerts;
  beforeAll(() => {
    certs = makeCerts('svc.test', 'other.test');
  });
  afterAll(() => certs.cleanup());

  it('verifies the certificate against the service name and sends it as SNI', async () => {
    const s = keep(await startHttp('127.0.0.1', (_req, res) => res.end('ok'), certs.good));
    const r = await new HttpCheck({ host: 'svc.test', tls: { ca: certs.ca } }).check({ address: '127.0.0.1', port: s.port });
    expect(r).toMatchObject({ ok: true, reason: 'HTTP 200' });
    expect(s.requests[0]).toMatchObject({ host: 'svc.test', servername: 'svc.test' });
  });

  it('is down with a certificate for the wrong name', async () => {
    const s = keep(await startHttp('127.0.0.1', (_req, res) => res.end('ok'), certs.wrongName));
    const r = await new HttpCheck({ host: 'svc.test', tls: { ca: certs.ca } }).check({ address: '127.0.0.1', port: s.port });
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/^TLS: .*ERR_TLS_CERT_ALTNAME_INVALID/);
    expect(s.requests).toHaveLength(0);
  });

  it('is down with a certificate from an unknown CA, unless verification is off', async () => {
    const s = keep(await startHttp('127.0.0.1', (_req, res) => res.end('ok'), certs.selfSigned));
    const strict = await new HttpCheck({ host: 'svc.test', tls: { ca: certs.ca } }).check({ address: '127.0.0.1', port: s.port });
    expect(strict.ok).toBe(false);
    expect(strict.reason).toMatch(/^TLS: /);
    const systemStore = await new HttpCheck({ host: 'svc.test', tls: true }).check({ address: '127.0.0.1', port: s.port });
    expect(systemStore.ok).toBe(false);
    const lax = await new HttpCheck({ host: 'svc.test', tls: { verify: false } }).check({ address: '127.0.0.1', port: s.port });
    expect(lax).toMatchObject({ ok: true, reason: 'HTTP 200' });
  });

  it('sends no SNI when the Host is an IP literal (RFC 6066 §3), and verification can be skipped for it', async () => {
    const s = keep(await startHttp('127.0.0.1', (_req, res) => res.end('ok'), certs.good));
    const r = await new HttpCheck({ tls: { verify: false } }).check({ address: '127.0.0.1', port: s.port });
    expect(r).toMatchObject({ ok: true, reason: 'HTTP 200' });
    expect(s.requests[0]).toMatchObject({ host: `127.0.0.1:${s.port}`, servername: false });
    const strict = await new HttpCheck({ tls: { ca: certs.ca } }).check({ address: '127.0.0.1', port: s.port });
    expect(strict.ok).toBe(false); // the certificate names svc.test, not 127.0.0.1
    expect(strict.reason).toMatch(/^TLS: /);
  });

  it('uses an explicit servername for SNI and verification', async () => {
    const s = keep(await startHttp('::1', (_req, res) => res.end('ok'), certs.wrongName));
    const r = await new HttpCheck({ host: 'svc.test', tls: { ca: certs.ca, servername: 'other.test' } }).check({ address: '::1', port: s.port });
    expect(r.ok).toBe(true);
    expect(s.requests[0]).toMatchObject({ host: 'svc.test', servername: 'other.test' });
  });
});

describe.each<LoopbackHost>(['127.0.0.1', '::1'])('TCP check against %s', (host) => {
  it('is up when the connect completes, with FIN or RST close', async () => {
    const s = keep(await startTcpServer(host, { kind: 'silent' }));
    expect(await new TcpCheck().check({ address: host, port: s.port })).toMatchObject({ ok: true, reason: 'connected' });
    expect(await new TcpCheck({ port: s.port, close: 'reset' }).check({ address: host })).toMatchObject({ ok: true });
    expect(s.accepted).toBe(2);
  });

  it('with send/expect: up on the right answer; down on silence, a wrong answer, or a hang-up', async () => {
    const pong = keep(await startTcpServer(host, { kind: 'delayed', delayMs: 20, data: '+PONG\r\n' }));
    const echo = keep(await startTcpServer(host, { kind: 'echo' }));
    const silent = keep(await startTcpServer(host, { kind: 'silent' }));
    const hangup = keep(await startTcpServer(host, { kind: 'delayed', delayMs: 10, data: '' }));
    const ping = { send: 'PING\r\n', expect: /^\+PONG/, timeoutMs: 300 };
    expect(await new TcpCheck(ping).check({ address: host, port: pong.port })).toMatchObject({ ok: true, reason: 'connected; got "+PONG\\r\\n"' });
    expect(await new TcpCheck({ ...ping, close: 'reset' }).check({ address: host, port: pong.port })).toMatchObject({ ok: true });
    expect(await new TcpCheck({ send: 'hello', expect: 'hello' }).check({ address: host, port: echo.port })).toMatchObject({ ok: true });
    expect(await new TcpCheck(ping).check({ address: host, port: silent.port })).toMatchObject({ ok: false, reason: 'timed out after 300 ms' });
    const wrong = await new TcpCheck({ ...ping, maxReadBytes: 4 }).check({ address: host, port: echo.port });
    expect(wrong).toMatchObject({ ok: false });
    expect(wrong.reason).toMatch(/^no \/\^\\\+PONG\/ in the first 4 bytes: "PING"/);
    const closed = await new TcpCheck(ping).check({ address: host, port: hangup.port });
    expect(closed.ok).toBe(false);
    expect(closed.reason).toMatch(/^server closed the connection; got "", expected/);
    expect(() => new TcpCheck({ maxReadBytes: 0 })).toThrow(/maxReadBytes/);
  });

  it('is down on a refused connection', async () => {
    const port = await closedPort(host);
    const r = await new TcpCheck().check({ address: host, port });
    expect(r.ok).toBe(false);
    expect(r.reason).toBe('connection refused (ECONNREFUSED)');
  });
});

/** A raw server that answers the first request with `pieces`, written one by one (10 ms apart), then ends; records how each client closed. */
async function startRaw(pieces: string[], endAfter = true): Promise<Closable & { closes: string[]; requests: string[] }> {
  const closes: string[] = [];
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const server = createNetServer((s) => {
    sockets.add(s);
    let req = '';
    let how = 'fin';
    s.on('error', (e: NodeJS.ErrnoException) => {
      how = e.code ?? 'error';
    });
    s.on('close', () => {
      sockets.delete(s);
      closes.push(how);
    });
    s.on('data', (d) => {
      req += d.toString('latin1');
      if (!req.includes('\r\n\r\n') || requests.length > 0 && requests[requests.length - 1] === req) return;
      requests.push(req);
      let i = 0;
      const next = (): void => {
        if (s.destroyed) return;
        if (i < pieces.length) {
          s.write(pieces[i++] as string);
          setTimeout(next, 10);
        } else if (endAfter) s.end();
      };
      next();
    });
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
  return {
    port: (server.address() as AddressInfo).port,
    closes,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('HTTP check framing and connection handling (own HTTP/1.1 client)', () => {
  const at = (port: number): { address: string; port: number } => ({ address: '127.0.0.1', port });

  it('reads a chunked body split across reads, with extensions and trailers, and matches in it', async () => {
    const s = keep(await startRaw(['HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;x=y\r\nhel', 'lo\r\n6\r\n world\r\n', '0\r\nx-trailer: 1\r\n\r\n'], false));
    const r = await new HttpCheck({ bodyMatch: 'hello world' }).check(at(s.port));
    expect(r).toMatchObject({ ok: true, reason: 'HTTP 200', details: { bodyBytes: 11 } });
    expect(r.details?.bodyCapped).toBeUndefined();
  });

  it('is down on a broken chunked body and on a body shorter than its Content-Length', async () => {
    const bad = keep(await startRaw(['HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n']));
    expect((await new HttpCheck().check(at(bad.port))).reason).toMatch(/^HTTP 200, response broken mid-body: bad chunk size "zz"/);
    const short = keep(await startRaw(['HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\nonly this']));
    expect(await new HttpCheck().check(at(short.port))).toMatchObject({ ok: false, reason: 'HTTP 200, response broken mid-body' });
    const twoLengths = keep(await startRaw(['HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!']));
    expect(await new HttpCheck().check(at(twoLengths.port))).toMatchObject({ ok: false, reason: 'HTTP 200, invalid content-length' });
  });

  it('reads a head the same whether it comes whole in one read or in pieces (byte and text parsers agree)', async () => {
    const heads = [
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello',
      'HTTP/1.1 200 OK\r\nCONTENT-LENGTH: 5, 5\r\nx-no-colon-line\r\n\r\nhello',
      'HTTP/1.0 200\r\ncontent-length:  7 \r\n\r\nhello!!',
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 6\r\n\r\nhello!',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\ntransfer-encoding: Chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
      'HTTP/1.1 302 Found\r\nLOCATION: /elsewhere \r\ncontent-length: 0\r\n\r\n',
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\ndown',
      'HTTP/1.1 204 No Content\r\n\r\n',
      'HTTP/1.1 2000 OK\r\n\r\n',
      'HTTP/1.1 200OK\r\n\r\n',
      'HTTP/2 200\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello',
    ];
    const check = new HttpCheck({ expectStatus: (st) => st === 200 || st === 204 || st === 302, bodyMatch: /^(hello|)!*$/ });
    const plain = new HttpCheck({ expectStatus: (st) => st === 200 || st === 204 || st === 302 });
    for (const head of heads) {
      // Whole: one write. Pieces: the head cut every 7 bytes, 10 ms apart (one read each).
      for (const c of [check, plain]) {
        // (The raw server answers one connection with a given request: a fresh pair for each check.)
        const whole = keep(await startRaw([head]));
        const pieces = keep(await startRaw(head.match(/[\s\S]{1,7}/g) ?? []));
        const a = await c.check(at(whole.port));
        const b = await c.check(at(pieces.port));
        expect({ head, ok: a.ok, reason: a.reason, details: a.details }).toEqual({ head, ok: b.ok, reason: b.reason, details: b.details });
      }
    }
  });

  it('reads a body delimited by the connection closing, and skips an interim 100 Continue', async () => {
    const s = keep(await startRaw(['HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\n', 'server: old\r\n\r\nall', ' of it']));
    const r = await new HttpCheck({ bodyMatch: /all of it$/ }).check(at(s.port));
    expect(r).toMatchObject({ ok: true, reason: 'HTTP 200', details: { bodyBytes: 9 } });
  });

  it('is down on a response head that never ends within the limit, or a bad status line', async () => {
    const huge = keep(await startRaw([`HTTP/1.1 200 OK\r\nx: ${'a'.repeat(40_000)}`], false));
    expect(await new HttpCheck({ timeoutMs: 2000 }).check(at(huge.port))).toMatchObject({ ok: false, reason: 'response head longer than 32768 bytes' });
    const weird = keep(await startRaw(['HTTP/2 200\r\n\r\n']));
    expect((await new HttpCheck().check(at(weird.port))).reason).toMatch(/^not an HTTP\/1.x status line: "HTTP\/2 200"/);
  });

  it('sends one request with the Host, extra headers and Connection: close, and closes with a RST by default or a FIN if asked', async () => {
    const s = keep(await startRaw(['HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'], false));
    expect((await new HttpCheck({ host: 'svc.example', headers: { 'X-Probe': 'lvskit', 'user-agent': 'probe/1' } }).check(at(s.port))).ok).toBe(true);
    expect((await new HttpCheck({ close: 'fin' }).check(at(s.port))).ok).toBe(true);
    expect(s.requests[0]).toBe('GET / HTTP/1.1\r\nhost: svc.example\r\nX-Probe: lvskit\r\nuser-agent: probe/1\r\nconnection: close\r\n\r\n');
    expect(await until(() => s.closes.length === 2, 2000)).toBe(true);
    expect(s.closes).toEqual(['ECONNRESET', 'fin']);
  });

  it('refuses header injection and bad options at construction', () => {
    expect(() => new HttpCheck({ headers: { 'x-a': 'b\r\nhost: evil' } })).toThrow(MonitorError);
    expect(() => new HttpCheck({ headers: { 'bad name': 'x' } })).toThrow(/not a token/);
    expect(() => new HttpCheck({ path: '/a b' })).toThrow(/no spaces or control characters/);
    expect(() => new HttpCheck({ host: 'a\r\nb' })).toThrow(MonitorError);
    expect(() => new HttpCheck({ close: 'rst' as 'reset' })).toThrow(/close must be/);
  });
});
