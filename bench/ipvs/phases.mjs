// Host side of bench/ipvs/phases-vm.mjs (one VM boot): `node bench/ipvs/phases.mjs` after npm run build;
// PROF=1 brings the dump's CPU profile back to /tmp/lvskit-ipvs-dump.cpuprofile. Run under the bench lock.
import { writeFileSync } from 'node:fs';
import { loadHarness } from './harness.mjs';
const { runInVm } = await loadHarness();
const r = await runInVm({ files: ['bench/ipvs/phases-vm.mjs'], modules: ['ip_vs'], timeoutMs: 900_000, memoryMb: 2048, env: { PROF: process.env.PROF ?? '', IPVS_N: process.env.IPVS_N ?? '1000', IPVS_M: process.env.IPVS_M ?? '50' }, collect: process.env.PROF === '1' ? ['/tmp/dump.cpuprofile'] : [] });
console.log(r.results[0]?.output ?? r.console.slice(-3000), r.durationMs);
for (const [, v] of r.collected) writeFileSync('/tmp/lvskit-ipvs-dump.cpuprofile', v);
