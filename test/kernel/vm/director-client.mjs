// Kernel tier, INSIDE the VM, in the client's network namespace (started by director-e2e.mjs with an IPC
// channel): real HTTP requests to the VIPs, each on a new TCP connection so IPVS schedules every one.
//   { op: 'burst', url, n }       n requests one after the other -> { byBody, failures }
//   { op: 'loop', url, gapMs }    start requesting until 'stop'; every request is recorded
//   { op: 'stop' }                -> { records: [{ t0, t1, ok, body | err }] }
//   { op: 'hold', address, port } open a long-lived TCP connection to an echo server and write a
//                                 numbered line on it every everyMs -> { hold, port } (its local port)
//   { op: 'holds', since }        -> { holds: [{ id, port, open, sent, replies, intact, errors,
//                                 repliesSince, maxGapMs }] }: replies counted in lines, `intact` when
//                                 the echo is exactly what was sent, the longest wait between replies
//                                 (ms) from `since` on
//   { op: 'hold-end' }            close every held connection -> { holds } as above
import http from 'node:http';
import net from 'node:net';

function request(url, timeoutMs = 10_000) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ t0, t1: Date.now(), ok: res.statusCode === 200, body: body.trim() }));
      res.on('error', (e) => resolve({ t0, t1: Date.now(), ok: false, err: e.code ?? e.message }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (e) => resolve({ t0, t1: Date.now(), ok: false, err: e.code ?? e.message }));
  });
}

let loop;
const holds = [];

/** A held connection as reported: counts, whether the echo is intact, and the longest gap between replies since `since`. */
function holdState(h, since) {
  const times = h.times.filter((t) => t >= since);
  let maxGapMs = 0;
  for (let i = 1; i < times.length; i++) maxGapMs = Math.max(maxGapMs, times[i] - times[i - 1]);
  const lines = h.got.split('\n').length - 1;
  return {
    id: h.id, port: h.port, open: !h.sock.destroyed, sent: h.sent.split('\n').length - 1, replies: lines,
    intact: h.sent.startsWith(h.got), errors: [...h.errors], repliesSince: times.length, maxGapMs,
    lastReplyAt: h.times[h.times.length - 1],
  };
}

async function handle(m) {
  switch (m.op) {
    case 'burst': {
      const byBody = {};
      const failures = [];
      for (let i = 0; i < m.n; i++) {
        const r = await request(m.url);
        if (r.ok) byBody[r.body] = (byBody[r.body] ?? 0) + 1;
        else failures.push(r);
      }
      return { byBody, failures };
    }
    case 'loop': {
      if (loop) throw new Error('a loop is running');
      const l = { records: [], stop: false, done: undefined };
      l.done = (async () => {
        const end = Date.now() + (m.maxMs ?? 300_000);
        while (!l.stop && Date.now() < end && l.records.length < 100_000) {
          l.records.push(await request(m.url, m.timeoutMs ?? 10_000));
          await new Promise((r) => setTimeout(r, m.gapMs ?? 20));
        }
      })();
      loop = l;
      return {};
    }
    case 'stop': {
      const l = loop;
      loop = undefined;
      if (!l) throw new Error('no loop running');
      l.stop = true;
      await l.done;
      return { records: l.records };
    }
    case 'hold': {
      const h = { id: holds.length + 1, port: 0, sent: '', got: '', times: [], errors: [], sock: undefined, timer: undefined };
      await new Promise((resolve, reject) => {
        h.sock = net.connect({ host: m.address, port: m.port }, resolve);
        h.sock.once('error', reject);
        setTimeout(() => reject(new Error(`connect to ${m.address}:${m.port} timed out`)), m.timeoutMs ?? 10_000);
      });
      h.port = h.sock.localPort;
      h.sock.on('error', (e) => h.errors.push(e.code ?? e.message));
      h.sock.on('close', () => h.errors.push('closed'));
      h.sock.setEncoding('utf8');
      h.sock.on('data', (d) => {
        if (h.got.length > 200_000) return; // bounded (a few KB in a run)
        h.got += d;
        const now = Date.now();
        for (const c of d) if (c === '\n') h.times.push(now);
      });
      let n = 0;
      h.timer = setInterval(() => {
        if (h.sock.destroyed || n >= 100_000) return;
        const line = `${h.id} ${n++}\n`;
        h.sent += line;
        h.sock.write(line);
      }, m.everyMs ?? 200);
      holds.push(h);
      return { hold: h.id, port: h.port }; // not `id`: that names the request
    }
    case 'holds':
      return { holds: holds.map((h) => holdState(h, m.since ?? 0)) };
    case 'hold-end': {
      const r = holds.map((h) => holdState(h, m.since ?? 0));
      for (const h of holds) {
        clearInterval(h.timer);
        h.sock.destroy();
      }
      holds.length = 0;
      return { holds: r };
    }
    default:
      throw new Error(`unknown op ${m.op}`);
  }
}

process.on('message', (m) => {
  handle(m).then(
    (r) => process.send({ id: m.id, ok: true, ...r }),
    (e) => process.send({ id: m.id, ok: false, error: String(e?.stack ?? e) }),
  );
});
process.on('disconnect', () => process.exit(0));
process.send({ ready: true });
