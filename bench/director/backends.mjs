// Backends of the director benchmark: N HTTP listeners on 127.0.0.1 (kernel-picked
// ports) in one process, answering 200 (or 503 once failed) and closing. IPC:
//   { cmd: 'listen', n }          -> { cmd: 'listening', ports }
//   { cmd: 'fail', port }         -> { cmd: 'failed', at }   (epoch ms at the flip; answers 503 from then on)
//   { cmd: 'heal', port }         -> { cmd: 'healed' }
//   { cmd: 'count' }              -> { cmd: 'count', requests }
// Loopback only.
import { createServer } from 'node:net';

const OK = Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 3\r\nconnection: close\r\n\r\nok\n');
const BAD = Buffer.from('HTTP/1.1 503 Service Unavailable\r\ncontent-length: 5\r\nconnection: close\r\n\r\nsick\n');
const failed = new Set();
let requests = 0;

function serve(port, sock) {
  sock.on('error', () => undefined);
  let buf = '';
  sock.on('data', (d) => {
    buf += d.toString('latin1');
    if (!buf.includes('\r\n\r\n')) return;
    requests++;
    sock.end(failed.has(port) ? BAD : OK);
  });
}

process.on('message', async (m) => {
  if (m.cmd === 'listen') {
    const ports = [];
    for (let i = 0; i < m.n; i++) {
      const s = createServer();
      await new Promise((r) => s.listen({ host: '127.0.0.1', port: 0, backlog: 1024 }, r));
      const port = s.address().port;
      s.on('connection', (sock) => serve(port, sock));
      ports.push(port);
    }
    process.send({ cmd: 'listening', ports });
  } else if (m.cmd === 'fail') {
    failed.add(m.port);
    process.send({ cmd: 'failed', at: performance.timeOrigin + performance.now() });
  } else if (m.cmd === 'heal') {
    failed.delete(m.port);
    process.send({ cmd: 'healed' });
  } else if (m.cmd === 'count') process.send({ cmd: 'count', requests });
});
process.on('disconnect', () => process.exit(0));
