/**
 * Real servers on loopback that fail in real ways, for the loopback tier.
 * Everything binds to 127.0.0.0/8 or ::1 only, on a port the kernel picks.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export type LoopbackHost = '127.0.0.1' | '::1' | `127.${number}.${number}.${number}`;

/** How a TCP test server treats each connection. */
export type TcpBehaviour =
  | { kind: 'echo' }
  /** Accept, then never read or write. */
  | { kind: 'silent' }
  /** Accept, then reset (RST) at once. */
  | { kind: 'reset' }
  /** Accept, write `data` after `delayMs`, then close. */
  | { kind: 'delayed'; delayMs: number; data: string };

export interface TestServer {
  host: LoopbackHost;
  port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  close(): Promise<void>;
}

function assertLoopback(host: string): void {
  if (!(host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host))) {
    throw new Error(`test servers bind to loopback only, not ${host}`);
  }
}

/** Start a TCP server on `host` (loopback) that behaves as told. */
export async function startTcpServer(host: LoopbackHost, behaviour: TcpBehaviour): Promise<TestServer> {
  assertLoopback(host);
  const sockets = new Set<Socket>();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  let accepted = 0;
  const server: Server = createServer((sock) => {
    accepted++;
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    switch (behaviour.kind) {
      case 'echo':
        sock.pipe(sock);
        break;
      case 'silent':
        break;
      case 'reset':
        sock.resetAndDestroy();
        break;
      case 'delayed': {
        const t = setTimeout(() => {
          timers.delete(t);
          sock.end(behaviour.data);
        }, behaviour.delayMs);
        timers.add(t);
        break;
      }
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port: 0 }, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    host,
    port,
    get accepted() {
      return accepted;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A loopback port that nothing listens on (bound, then released). */
export async function closedPort(host: LoopbackHost): Promise<number> {
  assertLoopback(host);
  const s = createServer();
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen({ host, port: 0 }, () => resolve());
  });
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
