// In the VM (run by bench/ipvs/dump.mjs): where the time of dumping a table goes. Loads n x m with
// applyOps, then times, alternating: `ipvsadm -S -n` (stdout piped to node, as the bench does; and to
// /dev/null, with busybox `time` for its user/sys split), `client.readTable({ stats: false })` with
// process.cpuUsage, and a floor: the same per-service GET_DEST dumps sent through the `netlink`
// package's socket with no request layer and no decoding (count datagrams until NLMSG_DONE).
import { spawnSync } from 'node:child_process';
import { IpvsClient, openGenericSocket, planIncremental } from 'lvskit/ipvs';

const n = Number(process.env.IPVS_N ?? 1000);
const m = Number(process.env.IPVS_M ?? 50);
const rounds = Number(process.env.ROUNDS ?? 3);
const desired = Array.from({ length: n }, (_, i) => ({
  protocol: 'tcp', address: `10.${200 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, port: 80, scheduler: 'wrr',
  destinations: Array.from({ length: m }, (_, j) => ({ address: `172.16.${j}.${(i % 250) + 1}`, weight: 1 + (j % 3) })),
}));
const client = await IpvsClient.open({ timeoutMs: 600_000 });
const r = await client.applyOps(planIncremental(desired, new Map()).ops);
console.log(`LOADED ${n}x${m} failures=${r.failures.length}`);
const engines = (process.env.ENGINES ?? 'default').split(',');

function ipvsadm(toNull) {
  const t0 = performance.now();
  const x = toNull
    ? spawnSync('sh', ['-c', 'time ipvsadm -S -n > /dev/null'], { encoding: 'utf8' })
    : spawnSync('ipvsadm', ['-S', '-n'], { encoding: 'utf8', maxBuffer: 512 << 20 });
  const ms = performance.now() - t0;
  if (x.status !== 0) throw new Error(`ipvsadm failed: ${x.stderr}`);
  return { ms: Math.round(ms), lines: toNull ? 0 : x.stdout.split('\n').length, time: toNull ? x.stderr.trim().replace(/\s+/g, ' ') : '' };
}

async function ours(engine) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const t = await client.readTable({ stats: false, ...(engine === 'default' ? {} : { engine }) });
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { ms: Math.round(ms), user: Math.round(c.user / 1000), sys: Math.round(c.system / 1000), dests: t.reduce((a, s) => a + s.destinations.length, 0) };
}

/** The floor: per-service GET_DEST dumps over the netlink package's socket, nothing decoded. */
async function floor() {
  const sock = await openGenericSocket();
  const famId = client.family.id;
  const port = sock.localPort() >>> 0;
  const t = await client.readTable({ stats: false });
  // Requests built up front (not timed): genl header + IPVS_CMD_ATTR_SERVICE { af, protocol, addr, port }.
  const reqs = t.map((s, i) => {
    const b = new Uint8Array(16 + 4 + 4 + 8 + 8 + 20 + 8);
    const v = new DataView(b.buffer);
    v.setUint32(0, b.length, true); v.setUint16(4, famId, true); v.setUint16(6, 0x1 | 0x300, true); v.setUint32(8, 1000 + i, true); v.setUint32(12, port, true);
    b[16] = 8; b[17] = 1; // IPVS_CMD_GET_DEST, version 1
    let at = 20;
    v.setUint16(at, 4 + 8 + 8 + 20 + 8, true); v.setUint16(at + 2, 1 | 0x8000, true); at += 4; // IPVS_CMD_ATTR_SERVICE nested
    v.setUint16(at, 6, true); v.setUint16(at + 2, 1, true); v.setUint16(at + 4, 2, true); at += 8; // AF
    v.setUint16(at, 6, true); v.setUint16(at + 2, 2, true); v.setUint16(at + 4, 6, true); at += 8; // PROTOCOL tcp
    v.setUint16(at, 20, true); v.setUint16(at + 2, 3, true); s.address.split('.').forEach((o, k) => (b[at + 4 + k] = Number(o))); at += 20; // ADDR
    v.setUint16(at, 6, true); v.setUint16(at + 2, 4, true); v.setUint16(at + 4, ((s.port & 255) << 8) | (s.port >> 8), true); at += 8; // PORT (net order)
    return Buffer.from(b.buffer);
  });
  let i = 0;
  let grams = 0;
  let bytes = 0;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await new Promise((resolve, reject) => {
    // Bounded: a dump that never ends fails the floor after 60 s.
    setTimeout(() => reject(new Error(`floor: no end after 60 s (dump ${i})`)), 60_000).unref();
    sock.onError(reject);
    sock.onMessage((d) => {
      grams++;
      bytes += d.length;
      // NLMSG_DONE (type 3) ends the service's dump: it comes in a datagram of its own or last in one.
      let at = 0;
      let done = false;
      let failed = false;
      while (at + 16 <= d.length) {
        const len = d[at] | (d[at + 1] << 8) | (d[at + 2] << 16);
        const type = d[at + 4] | (d[at + 5] << 8);
        if (type === 3) done = true;
        if (type === 2) failed = true;
        at += (len + 3) & ~3;
        if (len < 16) break;
      }
      if (!done && !failed) return;
      if (failed) return reject(new Error(`dump ${i} failed (NLMSG_ERROR)`));
      if (++i === reqs.length) resolve();
      else sock.send(reqs[i], () => {});
    });
    sock.send(reqs[0], () => {});
  });
  const c = process.cpuUsage(c0);
  sock.close();
  return { ms: Math.round(performance.now() - t0), user: Math.round(c.user / 1000), sys: Math.round(c.system / 1000), grams, bytes };
}

for (let k = 0; k < rounds; k++) {
  for (const e of engines) console.log(`OURS ${e} ${JSON.stringify(await ours(e))}`);
  console.log(`IPVSADM piped ${JSON.stringify(ipvsadm(false))}`);
  console.log(`IPVSADM null ${JSON.stringify(ipvsadm(true))}`);
  if (process.env.FLOOR !== '0') console.log(`FLOOR ${JSON.stringify(await floor())}`);
}
client.close();
