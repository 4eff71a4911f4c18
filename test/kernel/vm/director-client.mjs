// Kernel tier, INSIDE the VM, in the client's network namespace (started by director-e2e.mjs with an IPC
// channel): real HTTP requests to the VIPs, each on a new TCP connection so IPVS schedules every one.
//   { op: 'burst', url, n }       n requests one after the other -> { byBody, failures }
//   { op: 'loop', url, gapMs }    start requesting until 'stop'; every request is recorded
//   { op: 'stop' }                -> { records: [{ t0, t1, ok, body | err }] }
//   { op: 'hold', address, port } open a long-lived TCP connection and keep talking on it
//   { op: 'hold-check' }          -> { ok, replies, errors } of that connection
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
let hold;

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
      const h = { replies: 0, errors: [], sock: undefined, timer: undefined, last: '' };
      await new Promise((resolve, reject) => {
        h.sock = net.connect({ host: m.address, port: m.port }, resolve);
        h.sock.once('error', reject);
      });
      h.sock.on('error', (e) => h.errors.push(e.code ?? e.message));
      h.sock.on('close', () => h.errors.push('closed'));
      h.sock.setEncoding('utf8');
      h.sock.on('data', (d) => { h.replies++; h.last = d; });
      let n = 0;
      h.timer = setInterval(() => { if (!h.sock.destroyed) h.sock.write(`ping${n++}\n`); }, m.everyMs ?? 200);
      hold = h;
      return {};
    }
    case 'hold-check': {
      if (!hold) throw new Error('no held connection');
      return { replies: hold.replies, errors: hold.errors, last: hold.last, open: !hold.sock.destroyed };
    }
    case 'hold-end': {
      if (!hold) throw new Error('no held connection');
      clearInterval(hold.timer);
      hold.sock.destroy();
      const r = { replies: hold.replies, errors: hold.errors };
      hold = undefined;
      return r;
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
