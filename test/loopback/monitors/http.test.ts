import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HttpCheck } from '../../../src/monitors/check-http.js';
import { TcpCheck } from '../../../src/monitors/check-tcp.js';
import { AbortError } from '../../../src/util/errors.js';
import { closedPort, startTcpServer, type LoopbackHost } from '../harness/servers.js';
import { makeCerts, startHttp, startResetMidResponse, type Closable, type TestCerts } from './harness.js';

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
    expect(wrong.reason).toMatch(/HPE_/);
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
