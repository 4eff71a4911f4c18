// In the VM: where the time of loading 1,000 x 50 goes (send() is synchronous: the kernel handles the
// requests inside sendmsg), for a few batch shapes.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { IpvsClient, plan, openGenericSocket } from 'lvskit/ipvs';

// Each shape in a fresh network namespace (its own IPVS tables, no deleted destinations from an earlier load).
if (process.env.CHILD === undefined) {
  for (const shape of (process.env.SHAPES ?? '208:416:0').split(',')) {
    const r = spawnSync('unshare', ['-n', process.execPath, fileURLToPath(import.meta.url)], { env: { ...process.env, CHILD: '1', SHAPES: shape }, encoding: 'utf8' });
    process.stdout.write(r.stdout + r.stderr);
  }
  process.exit(0);
}

const n = Number(process.env.N ?? 1000);
const m = Number(process.env.M ?? 50);
const desired = Array.from({ length: n }, (_, i) => ({
  protocol: 'tcp', address: `10.${200 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, port: 80, scheduler: 'wrr',
  destinations: Array.from({ length: m }, (_, j) => ({ address: `172.16.${j}.${(i % 250) + 1}`, weight: 1 + (j % 3) })),
}));
const shapes = (process.env.SHAPES ?? '208:416,256:256,64:128,1024:1024').split(',').map((x) => x.split(':').map(Number));
for (const [batchSize, window, each] of shapes) {
  const sock = await openGenericSocket({ recvBufferSize: 8 << 20 });
  const acc = { sendMs: 0, sends: 0, recvMs: 0, recvs: 0 };
  const tap = {
    send: (d, cb) => { const t = performance.now(); sock.send(d, cb); acc.sendMs += performance.now() - t; acc.sends++; },
    onMessage: (fn) => sock.onMessage((d) => { const t = performance.now(); fn(d); acc.recvMs += performance.now() - t; acc.recvs++; }),
    onError: (fn) => sock.onError(fn),
    localPort: () => sock.localPort(),
    recvBufferSize: () => sock.recvBufferSize(),
    close: () => sock.close(),
  };
  const client = await IpvsClient.open({ socket: tap, timeoutMs: 300_000, batchSize, window, ackEach: each === 1 });
  await client.flush();
  const p = plan(desired, []);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await client.applyOps(p.ops);
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  console.log(`SHAPE batch=${batchSize} window=${window} ackEach=${each === 1} rcvbuf=${sock.recvBufferSize()} wall=${Math.round(wall)} user=${Math.round(c.user / 1000)} sys=${Math.round(c.system / 1000)} send=${Math.round(acc.sendMs)}/${acc.sends} recv=${Math.round(acc.recvMs)}/${acc.recvs} failures=${r.failures.length}`);
  client.close();
}
