import { writeFileSync } from 'node:fs';
import { loadHarness } from './harness.mjs';
const { runInVm } = await loadHarness();
const r = await runInVm({ files: ['bench/ipvs/profile-vm.mjs'], modules: ['ip_vs'], timeoutMs: 900_000, memoryMb: 1536, env: { PROF: process.env.PROF ?? '', SHAPES: process.env.SHAPES ?? '208:416,256:256,64:128,1024:1024' }, collect: process.env.PROF ? ['/tmp/apply.cpuprofile'] : [] });
console.log(r.results[0].output, r.durationMs);
for (const [, v] of r.collected) writeFileSync('/tmp/lvskit-ipvs-apply.cpuprofile', v);
