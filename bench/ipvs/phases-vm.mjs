// In the VM (run by bench/ipvs/phases.mjs): where apply()'s load and the dump spend their time, phase
// by phase, for one table; with PROF=1 a CPU profile of the dump (readTable) to /tmp/dump.cpuprofile.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { IpvsClient, planIncremental, indexTable, applyOpsToIndex } from 'lvskit/ipvs';

const n = Number(process.env.IPVS_N ?? 1000);
const m = Number(process.env.IPVS_M ?? 50);
const desired = Array.from({ length: n }, (_, i) => ({
  protocol: 'tcp', address: `10.${200 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, port: 80, scheduler: 'wrr',
  destinations: Array.from({ length: m }, (_, j) => ({ address: `172.16.${j}.${(i % 250) + 1}`, weight: 1 + (j % 3) })),
}));
const client = await IpvsClient.open({ timeoutMs: 600_000 });
await client.flush();
const lap = (() => { let t = performance.now(); return (what) => { const now = performance.now(); console.log(`PHASE ${what} ${Math.round(now - t)} ms`); t = now; }; })();
lap('start');
const p = planIncremental(desired, new Map());
lap(`plan ${p.ops.length} ops`);
const r = await client.applyOps(p.ops);
lap(`applyOps (failures ${r.failures.length})`);
applyOpsToIndex(new Map(), p.ops);
lap('applyOpsToIndex');
let session;
if (process.env.PROF === '1') {
  session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
}
const t = await client.readTable({ stats: false });
lap('readTable');
if (session) {
  const { profile } = await session.post('Profiler.stop');
  writeFileSync('/tmp/dump.cpuprofile', JSON.stringify(profile));
}
await client.readTable({ stats: false });
lap('readTable again');
const idx = indexTable(t);
lap('indexTable');
planIncremental(desired, idx);
lap('planIncremental against the read table');
client.close();
