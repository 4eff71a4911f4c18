// Host side of bench/ipvs/dump-vm.mjs (one VM boot): where a dump's time goes, ours against
// `ipvsadm -S -n`. `node bench/ipvs/dump.mjs` after npm run build (IPVS_N, IPVS_M, ROUNDS, ENGINES,
// FLOOR=0). Run under the bench lock.
import { loadHarness } from './harness.mjs';
const { runInVm } = await loadHarness();
const pick = (k, d) => process.env[k] ?? d;
const r = await runInVm({
  files: ['bench/ipvs/dump-vm.mjs'],
  modules: ['ip_vs'],
  timeoutMs: 900_000,
  memoryMb: 2048,
  env: { IPVS_N: pick('IPVS_N', '1000'), IPVS_M: pick('IPVS_M', '50'), ROUNDS: pick('ROUNDS', '3'), ENGINES: pick('ENGINES', 'default'), FLOOR: pick('FLOOR', '1') },
});
console.log(r.results[0]?.output ?? r.console.slice(-3000));
console.log(`VM run ${Math.round(r.durationMs / 1000)} s, exit ${r.results[0]?.exitCode}`);
