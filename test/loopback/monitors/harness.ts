/**
 * Monitors' loopback harness: HTTP(S) servers that answer as told, raw TCP
 * servers that break mid-response, certificates made at test time with the
 * openssl CLI, and a DNS server over UDP. Loopback addresses only.
 */
import { execFileSync } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoopbackHost } from '../harness/servers.js';

export interface Closable {
  port: number;
  close(): Promise<void>;
}

function assertLoopback(host: string): void {
  if (!(host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host))) throw new Error(`loopback only, not ${host}`);
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function listen(server: HttpServer | ReturnType<typeof createNetServer>, host: string, port = 0): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

function closer(server: HttpServer | ReturnType<typeof createNetServer>, sockets: Set<Socket>, timers: Set<ReturnType<typeof setTimeout>>): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      for (const t of timers) clearTimeout(t);
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
}

export interface HttpTestServer extends Closable {
  /** Requests seen: method, url and headers. */
  readonly requests: Array<{ method: string; url: string; host: string | undefined; servername?: string | false }>;
}

/** An HTTP (or, with `tls`, HTTPS) server on loopback whose handler decides the answer (on `port`, default any free one). */
export async function startHttp(host: LoopbackHost | string, handler: Handler, tls?: { key: Buffer; cert: Buffer }, port = 0): Promise<HttpTestServer> {
  assertLoopback(host);
  const requests: HttpTestServer['requests'] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const wrapped: Handler = (req, res) => {
    const sn = (req.socket as Socket & { servername?: string | false }).servername;
    requests.push({ method: req.method ?? '', url: req.url ?? '', host: req.headers.host, ...(sn !== undefined ? { servername: sn } : {}) });
    handler(req, res);
  };
  const server = tls ? createHttpsServer({ key: tls.key, cert: tls.cert }, wrapped) : createHttpServer(wrapped);
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('tlsClientError', () => undefined);
  server.on('clientError', () => undefined);
  const bound = await listen(server, host, port);
  return { port: bound, requests, close: closer(server, sockets, timers) };
}

/** A raw TCP server that writes `head` on the first bytes received, then resets the connection. */
export async function startResetMidResponse(host: LoopbackHost, head: string): Promise<Closable> {
  assertLoopback(host);
  const sockets = new Set<Socket>();
  const server = createNetServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.once('data', () => {
      s.write(head, () => setTimeout(() => s.resetAndDestroy(), 20));
    });
  });
  const port = await listen(server, host);
  return { port, close: closer(server, sockets, new Set()) };
}

export interface TestCerts {
  dir: string;
  ca: Buffer;
  /** Certificate and key for `goodName`, signed by `ca`. */
  good: { key: Buffer; cert: Buffer };
  /** Certificate and key for `wrongName`, signed by `ca`. */
  wrongName: { key: Buffer; cert: Buffer };
  /** A self-signed certificate for `goodName` from no known CA. */
  selfSigned: { key: Buffer; cert: Buffer };
  cleanup(): void;
}

/** Make a CA, a server certificate for `goodName`, one for `otherName`, and a stray self-signed one. */
export function makeCerts(goodName: string, otherName: string): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'lvskit-certs-'));
  const ssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'pipe', timeout: 30_000 });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=lvskit test CA');
  const leaf = (name: string, base: string): void => {
    writeFileSync(join(dir, `${base}.ext`), `subjectAltName=DNS:${name}\nbasicConstraints=CA:FALSE\n`);
    ssl('req', ...ec, '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${name}`);
    ssl('x509', '-req', '-in', `${base}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${base}.crt`, '-days', '2', '-extfile', `${base}.ext`);
  };
  leaf(goodName, 'good');
  leaf(otherName, 'wrong');
  ssl('req', '-x509', ...ec, '-keyout', 'self.key', '-out', 'self.crt', '-days', '2', '-subj', `/CN=${goodName}`, '-addext', `subjectAltName=DNS:${goodName}`);
  const read = (f: string): Buffer => readFileSync(join(dir, f));
  return {
    dir,
    ca: read('ca.crt'),
    good: { key: read('good.key'), cert: read('good.crt') },
    wrongName: { key: read('wrong.key'), cert: read('wrong.crt') },
    selfSigned: { key: read('self.key'), cert: read('self.crt') },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A UDP server on loopback; `onMessage` answers (or not) with `reply`. */
export async function startUdp(
  host: LoopbackHost,
  onMessage: (msg: Buffer, reply: (b: Uint8Array) => void) => void,
): Promise<Closable & { readonly received: number }> {
  assertLoopback(host);
  const sock: UdpSocket = createSocket(host === '::1' ? 'udp6' : 'udp4');
  let received = 0;
  sock.on('message', (msg, rinfo) => {
    received++;
    onMessage(msg, (b) => sock.send(b, rinfo.port, rinfo.address));
  });
  sock.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind({ address: host, port: 0 }, () => resolve());
  });
  return {
    port: sock.address().port,
    get received() {
      return received;
    },
    close: () => new Promise<void>((resolve) => sock.close(() => resolve())),
  };
}

/** A loopback UDP port with nothing bound (bound, then released). */
export async function closedUdpPort(host: LoopbackHost): Promise<number> {
  const s = await startUdp(host, () => undefined);
  const port = s.port;
  await s.close();
  return port;
}

/** A TCP server whose live connections the test can reset or close, and which can stop and listen again on its port. */
export interface ControlledTcp extends Closable {
  readonly accepted: number;
  readonly open: number;
  /** `hold` keeps connections open; `close` ends each one right after accepting it. */
  mode: 'hold' | 'close';
  resetAll(): void;
  endAll(): void;
  /** Stop listening and end live connections cleanly. */
  stop(): Promise<void>;
  /** Listen again on the same port. */
  restart(): Promise<void>;
}

export async function startControlledTcp(host: LoopbackHost, port = 0): Promise<ControlledTcp> {
  assertLoopback(host);
  const sockets = new Set<Socket>();
  let accepted = 0;
  const make = (): ReturnType<typeof createNetServer> =>
    createNetServer((s) => {
      accepted++;
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
      if (ctl.mode === 'close') s.end();
    });
  let server = make();
  const boundPort = await listenOn(server, host, port);
  const ctl: ControlledTcp = {
    port: boundPort,
    mode: 'hold',
    get accepted() {
      return accepted;
    },
    get open() {
      return sockets.size;
    },
    resetAll: () => {
      for (const s of sockets) s.resetAndDestroy();
    },
    endAll: () => {
      for (const s of sockets) s.end();
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.end();
        server.close(() => resolve());
      }),
    restart: async () => {
      server = make();
      await listenOn(server, host, boundPort);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        if (!server.listening) resolve();
        else server.close(() => resolve());
      }),
  };
  return ctl;
}

async function listenOn(server: ReturnType<typeof createNetServer>, host: string, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

/** Wait until `pred` holds, polling every 10 ms, at most `ms`. */
export async function until(pred: () => boolean, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  for (let i = 0; i < 10_000 && performance.now() < end; i++) {
    if (pred()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return pred();
}
