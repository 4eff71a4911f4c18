/**
 * Kernel tier: the example director end to end in ONE VM boot (test/kernel/vm/director-e2e.mjs). Network
 * namespaces inside the VM hold a client, a BIRD router, the director (real IPVS, direct routing and NAT,
 * etcd on its loopback) and three node HTTP backends; the client reaches the VIPs only through the route
 * BIRD learnt from the director. This file asserts each in-VM case by name and prints the measured
 * figures (TCG on a shared CPU: recorded, bounded only with wide headroom in the VM). The last cases
 * restart the director plainly and run two directors active-active (ECMP through BIRD).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { CaseOutput, ensureBuilt } from './harness/cases.js';
import { runInVm, type VmRunResult } from './harness/vm.js';

const SCRIPT = 'test/kernel/vm/director-e2e.mjs';

/** Extra host binaries in this test's image: iproute2's ip (netns, veth peers in namespaces, rules), BIRD, etcd. */
const BINARIES = ['/sbin/ip', '/usr/sbin/bird', '/usr/sbin/birdc', '/usr/bin/etcd'];
const MODULES = ['bridge', 'veth'];

let run: VmRunResult;
let output = '';
let out = new CaseOutput('');
const facts = new Map<string, unknown>();
const caseLine = (name: string): string | undefined => out.caseLine(name);

describe('kernel: lvskit-director end to end (client, BIRD, director with IPVS and etcd, three backends)', () => {
  beforeAll(async () => {
    // The VM runs the built package and dist/director.
    ensureBuilt(['src', 'examples/director'], ['dist/index.js', 'dist/director/index.js']);
    run = await runInVm({
      files: [SCRIPT],
      modules: ['ip_vs', 'ip_vs_rr', 'ip_vs_mh', 'bridge', 'veth'],
      image: { binaries: BINARIES, modules: MODULES },
      memoryMb: 2048,
      timeoutMs: 900_000,
      // DIRECTOR_CASES=a,b runs only those cases (debugging).
      ...(process.env.DIRECTOR_CASES ? { env: { DIRECTOR_CASES: process.env.DIRECTOR_CASES } } : {}),
    });
    output = run.results[0]?.output ?? '';
    out = new CaseOutput(output);
    for (const [k, v] of out.facts) facts.set(k, v);
    if (run.results[0]?.exitCode !== 0) console.error(output);
    console.log(`VM run ${Math.round(run.durationMs / 1000)} s\n${output.split('\n').filter((l) => /^(CASE ok|FACT)/.test(l)).join('\n')}`);
  }, 960_000);

  const cases: [string, string][] = [
    ['setup', 'builds the namespaces, starts BIRD, etcd, the backends and the director; BIRD learns the VIPs and the router installs them'],
    ['balance-dr', 'balances real requests to a direct-routing VIP across the three backends'],
    ['balance-nat', 'balances real requests to a NAT VIP across the three backends (port rewritten to 8080)'],
    ['etcd-depool', 'a server set pooled: no in etcd goes to weight 0 in IPVS, gets no new connections, is removed after the drain and comes back when pooled'],
    ['kill-backend', 'a killed backend goes to weight 0 within interval + timeout, is removed after the grace time, and no request fails once it is at weight 0'],
    ['depool-threshold', 'with two of three backends down the depool threshold keeps two pooled and /alerts says CRITICAL'],
    ['graceful-restart-no-flush', 'a graceful restart keeps the route in BIRD and the router kernel throughout (F bit: not dropped at session up) and the IPVS table as it was (same ipvsadm -S, counters kept, no writes), with no failed request'],
    ['plain-restart', 'a plain restart (into the active-active config) withdraws, re-announces only after the new process wrote IPVS, and reconciles without a flush (scheduler edited in place, one weight edit, the echo service added, nothing re-added, counters kept)'],
    ['active-active', 'two directors announce the VIP with ECMP (mh, sloppy_tcp): traffic crosses both, and losing either keeps every long-lived connection on its server through the other'],
    ['stop-withdraws', 'stopping the director withdraws the VIPs from BIRD and the router, and leaves the IPVS table as it is'],
  ];
  for (const [name, title] of cases) {
    it(title, () => {
      const line = caseLine(name);
      expect(line, `case ${name} did not run; output:\n${output.slice(-4000)}`).toBeDefined();
      expect(line?.startsWith(`CASE ok ${name} `), `${line}\n${output.slice(output.indexOf(`CASE FAIL ${name}:`)).slice(0, 3000)}`).toBe(true);
    });
  }

  it('the in-VM script exited 0 with no harness failure', () => {
    expect(output).not.toMatch(/^CASE FAIL harness:/m);
    expect(run.results[0]?.exitCode, output.slice(-3000)).toBe(0);
  });

  it('measured a backend failure and an etcd write reaching IPVS, and both active-active failovers', () => {
    expect(typeof facts.get('backend-failure-to-ipvs-ms')).toBe('number');
    expect(typeof facts.get('etcd-write-to-ipvs-ms')).toBe('number');
    for (const d of ['dir1', 'dir2']) expect(facts.get(`aa-lose-${d}`)).toMatchObject({ lost: d, stopToSinglePathMs: expect.any(Number), movedMaxReplyGapMs: expect.any(Number) });
  });
});
