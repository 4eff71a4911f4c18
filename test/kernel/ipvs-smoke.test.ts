import { describe, expect, it } from 'vitest';
import { runInVm } from './harness/vm.js';

// Kernel tier smoke test: the VM's stock Debian kernel has IPVS, the netlink addon loads inside it, and a
// service created through raw generic netlink shows up in ipvsadm. Details in test/kernel/vm/smoke-ipvs.mjs.
describe('kernel: IPVS over generic netlink', () => {
  it('creates TCP 10.0.0.1:80 rr with IPVS_CMD_NEW_SERVICE and ipvsadm -Ln lists it', async () => {
    const run = await runInVm({ files: ['test/kernel/vm/smoke-ipvs.mjs'], timeoutMs: 180_000 });
    expect(run.results).toHaveLength(1);
    const [smoke] = run.results;
    expect(smoke?.file).toBe('test/kernel/vm/smoke-ipvs.mjs');
    expect(smoke?.exitCode, smoke?.output).toBe(0);
    expect(smoke?.output).toMatch(/IPVS genl family id \d+ version 1/);
    expect(smoke?.output).toContain('IPVS_CMD_NEW_SERVICE acked');
    expect(smoke?.output).toMatch(/^TCP {2}10\.0\.0\.1:80 rr\s*$/m);
    expect(smoke?.output).toContain('smoke-ipvs: ok');
  });
});
