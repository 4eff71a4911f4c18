/**
 * UDP transport for the DNS and UDP checks: a connected datagram socket, so an
 * ICMP port unreachable from the server comes back as ECONNREFUSED on it
 * (Linux reports ICMP errors on connected UDP sockets, udp(7)).
 */
import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';

export interface UdpExchange {
  address: string;
  port: number;
  payload: Uint8Array;
  signal: AbortSignal;
  /** Judge a reply: an outcome ends the exchange, `undefined` ignores it (not ours) and keeps waiting. */
  onReply(msg: Buffer): { ok: boolean; reason: string; details?: Record<string, unknown> } | undefined;
  /** Without a reply, succeed after this long if no ICMP error came (for "no reply expected"). */
  quietOkAfterMs?: number;
}

export function udpExchange(x: UdpExchange): Promise<{ ok: boolean; reason: string; details?: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const sock = createSocket(isIP(x.address) === 6 ? 'udp6' : 'udp4');
    let done = false;
    let quiet: ReturnType<typeof setTimeout> | undefined;
    const finish = (fn: () => void): void => {
      if (done) return;
      done = true;
      if (quiet !== undefined) clearTimeout(quiet);
      x.signal.removeEventListener('abort', onAbort);
      try {
        sock.close();
      } catch {
        // already closed
      }
      fn();
    };
    const onAbort = (): void => finish(() => reject(new Error('aborted')));
    x.signal.addEventListener('abort', onAbort, { once: true });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNREFUSED') {
        finish(() => resolve({ ok: false, reason: 'port unreachable (ICMP, ECONNREFUSED)', details: { icmp: 'port-unreachable' } }));
      } else finish(() => reject(e));
    });
    sock.on('message', (msg) => {
      const verdict = x.onReply(msg);
      if (verdict !== undefined) finish(() => resolve(verdict));
    });
    sock.connect(x.port, x.address, () => {
      if (done) return;
      sock.send(x.payload, (err) => {
        if (err) {
          sock.emit('error', err);
          return;
        }
        if (x.quietOkAfterMs !== undefined && !done) {
          const ms = x.quietOkAfterMs;
          quiet = setTimeout(() => finish(() => resolve({ ok: true, reason: `sent; no reply and no ICMP error within ${ms} ms` })), ms);
        }
      });
    });
  });
}
