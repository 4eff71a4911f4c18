// One backend process of the monitors benchmark: listens on many loopback
// address:port pairs (one listener each), answers every HTTP request with a
// small 200 and closes, counts requests, and breaks chosen servers on command.
//
// IPC (process.send / 'message'):
//   { cmd: 'listen', servers: [[id, address, port], ...] }  -> { cmd: 'listening', n }
//   { cmd: 'count' }                                         -> { cmd: 'count', requests }
//   { cmd: 'fail', ids, mode: 'refuse'|'503'|'hang' }        -> { cmd: 'failed', at }  (at: epoch ms, when done)
//   { cmd: 'heal' }                                          -> { cmd: 'healed' }  (every server answers 200 again)
//   { cmd: 'cpu' }                                           -> { cmd: 'cpu', ticks }
// Loopback addresses only.
import { createServer } from 'node:net';
import { readFileSync } from 'node:fs';

const OK = Buffer.from('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 8\r\nconnection: close\r\n\r\nhealthy\n');
const BAD = Buffer.from('HTTP/1.1 503 Service Unavailable\r\ncontent-length: 5\r\nconnection: close\r\n\r\ndown\n');
const END = Buffer.from('\r\n\r\n');

let requests = 0;
/** id -> { server, address, port, mode } */
const servers = new Map();
const hung = new Set();

function onConnection(sock) {
  const srv = this.__srv;
  sock.on('error', () => undefined);
  if (srv.mode === 'hang') {
    hung.add(sock);
    sock.on('close', () => hung.delete(sock));
    sock.setTimeout(30_000, () => sock.destroy());
    return;
  }
  let head = null;
  sock.on('data', (d) => {
    head = head === null ? d : Buffer.concat([head, d]);
    if (head.indexOf(END) < 0) {
      if (head.length > 16384) sock.destroy();
      return;
    }
    requests++;
    sock.end(srv.mode === '503' ? BAD : OK);
    sock.removeAllListeners('data');
  });
}

function listen(srv) {
  return new Promise((resolve, reject) => {
    const server = createServer({ noDelay: true });
    server.__srv = srv;
    server.on('connection', onConnection);
    server.once('error', reject);
    server.listen({ host: srv.address, port: srv.port, backlog: 1024 }, () => {
      server.removeListener('error', reject);
      server.on('error', () => undefined);
      srv.server = server;
      resolve();
    });
  });
}

function cpuTicks() {
  const f = readFileSync('/proc/self/stat', 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]);
}

process.on('message', async (m) => {
  if (m.cmd === 'listen') {
    for (const [id, address, port] of m.servers) {
      if (!/^127\.\d+\.\d+\.\d+$/.test(address)) throw new Error(`loopback only: ${address}`);
      const srv = { id, address, port, mode: 'ok', server: null };
      servers.set(id, srv);
      await listen(srv);
    }
    process.send({ cmd: 'listening', n: servers.size });
  } else if (m.cmd === 'count') {
    process.send({ cmd: 'count', requests });
  } else if (m.cmd === 'cpu') {
    process.send({ cmd: 'cpu', ticks: cpuTicks() });
  } else if (m.cmd === 'fail') {
    for (const id of m.ids) {
      const srv = servers.get(id);
      if (srv === undefined) continue;
      srv.mode = m.mode;
      if (m.mode === 'refuse') srv.server.close();
    }
    process.send({ cmd: 'failed', at: performance.timeOrigin + performance.now() });
  } else if (m.cmd === 'heal') {
    for (const s of hung) s.destroy();
    for (const srv of servers.values()) {
      if (srv.mode === 'refuse') await listen(srv);
      srv.mode = 'ok';
    }
    process.send({ cmd: 'healed' });
  }
});
process.on('disconnect', () => process.exit(0));
