/**
 * Kernel tier: lvskit/ipvs on a real kernel (a stock Debian kernel under QEMU, test/kernel/harness/vm.ts),
 * checked against ipvsadm. All cases run in ONE boot (test/kernel/vm/ipvs-client.mjs); this file asserts
 * each case by name and checks the bytes the kernel sent with the host-side decoders.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { CaseOutput, ensureBuilt } from './harness/cases.js';
import { runInVm, type VmRunResult } from './harness/vm.js';
import { decodeNlmsgs } from '../../src/ipvs/wire-netlink.js';
import { decodeIpvsMessage } from '../../src/ipvs/wire.js';
import { serviceFromWire } from '../../src/ipvs/model.js';

const SCRIPT = 'test/kernel/vm/ipvs-client.mjs';
/** Runs the apply() example of docs/ipvs.md in the same boot, after SCRIPT. */
const DOCS_SCRIPT = 'test/kernel/vm/ipvs-docs.mjs';

let run: VmRunResult;
let output = '';
let out = new CaseOutput('');
const facts = new Map<string, unknown>();
const caseLine = (name: string): string | undefined => out.caseLine(name);

describe('kernel: lvskit/ipvs against the kernel and ipvsadm', () => {
  beforeAll(async () => {
    // The VM imports the built package.
    ensureBuilt(['src/ipvs'], ['dist/ipvs/index.js']);
    run = await runInVm({ files: [SCRIPT, DOCS_SCRIPT], include: ['docs/ipvs.md'], modules: ['ip_vs', 'dummy'], timeoutMs: 1_500_000, memoryMb: 1536 });
    output = run.results[0]?.output ?? '';
    out = new CaseOutput(output);
    for (const [k, v] of out.facts) facts.set(k, v);
    // The failing cases' stack traces, for the reader of a red run.
    if (run.results[0]?.exitCode !== 0) console.error(output);
    // Timings and kernel facts, for the record (TCG, one vCPU: slow and noisy, never asserted).
    console.log(output.split('\n').filter((l) => /^(CASE ok|FACT (load|dump|read|ipvsadm-save-1000|apply-noop|enobufs|daemon-on|info|timeouts))/.test(l)).join('\n'));
  }, 1_600_000);

  const cases: [string, string][] = [
    ['family-and-info', 'resolves the IPVS family and reads the version and table size as ipvsadm prints them'],
    ['service-crud', 'adds, reads, edits in place and deletes services and destinations, as ipvsadm -Ln --exact shows'],
    ['errors-typed', 'types kernel errors: EEXIST, ESRCH, ENOENT for destinations and schedulers/PEs, empty dump of a missing service'],
    ['not-permitted', 'reports EPERM as ERR_IPVS_NOT_PERMITTED for a process without CAP_NET_ADMIN (readTable through the addon too)'],
    ['readback-matches-ipvsadm-save', 'reads back every entry kind (IPv6, fwmark, SCTP, sh/mh flags, tunnels) exactly as ipvsadm -S -n prints it'],
    ['dry-run-equals-apply', 'dry-run output fed to ipvsadm -R on an empty kernel gives the same table as apply()'],
    ['apply-idempotent-drift-edit', 'makes zero writes on re-apply, repairs hand-made drift, edits a scheduler in place, leaves foreign services'],
    ['drain-then-remove', 'drains a leaving destination to weight 0 and removes it after the grace period'],
    ['timeouts', 'gets and sets timeouts, as ipvsadm -L --timeout shows'],
    ['zero-and-flush', 'zeroes counters and flushes'],
    ['sync-daemon', 'starts, lists and stops a master sync daemon on a multicast-capable interface'],
    ['golden-dump-bytes', 'captures a service dump datagram from the kernel'],
    ['concurrent-requests-and-dumps', 'matches replies per request with dumps and requests in flight together, and survives an aborted dump'],
    ['enobufs-recoverable', 'turns a receive-buffer overflow into recoverable ERR_IPVS_NO_BUFFERS and converges by re-reading'],
    ['dump-10000-services', 'loads and dumps 10,000 services'],
    ['dump-10000-destinations', 'loads and dumps a service with 10,000 destinations'],
    ['read-1000x50-vs-ipvsadm', 'reads a 1,000 x 50 table back exactly; a no-op apply of it writes nothing'],
    ['read-engines-agree', "readTable's native addon, batched and per-request engines read the same table, with and without counters"],
    ['read-table-changing-mid-read', 'reads stay well formed while the table changes under them; a stable read then equals ipvsadm -S -n'],
    ['read-native-abort', 'an aborted native read ends at once and the next read works (no EBUSY)'],
  ];
  for (const [name, title] of cases) {
    it(title, () => {
      const line = caseLine(name);
      expect(line, `case ${name} did not run; output:\n${output.slice(-4000)}`).toBeDefined();
      expect(line?.startsWith(`CASE ok ${name} `), `${line}\n${output.slice(output.indexOf(`CASE FAIL ${name}:`)).slice(0, 3000)}`).toBe(true);
    });
  }

  it('the in-VM script exited 0', () => {
    expect(run.results[0]?.exitCode, output.slice(-3000)).toBe(0);
  });

  it('the apply() example of docs/ipvs.md runs, prints what the doc shows and leaves that table', () => {
    const docs = run.results[1];
    expect(docs?.output, 'docs example did not run').toMatch(/^CASE ok docs-apply-example /m);
    expect(docs?.exitCode, docs?.output).toBe(0);
  });

  it('golden bytes from the kernel decode to the service that was added', () => {
    const g = facts.get('golden-dump-service') as { familyId: number; hex: string[] } | undefined;
    expect(g).toBeDefined();
    const msgs = decodeNlmsgs(Buffer.from(g!.hex[0]!, 'hex'));
    const data = msgs.filter((m) => m.type === g!.familyId);
    expect(data).toHaveLength(1);
    expect(data[0]!.flags & 2).toBe(2); // NLM_F_MULTI
    const w = decodeIpvsMessage(data[0]!.payload).attrs!.service!;
    expect(w.unknown).toBeUndefined(); // every attribute the 6.1 kernel sends is in the schema
    expect(w.flags).toEqual({ flags: 0x13, mask: 0xffffffff }); // PERSISTENT | HASHED | SCHED2
    expect(w.stats64).toBeDefined();
    expect(serviceFromWire(w)).toMatchObject({
      protocol: 'udp',
      address: '2001:db8::53',
      port: 53,
      scheduler: 'sh',
      schedFlags: ['sh-port'],
      persistence: { timeout: 600, netmask: 64 },
    });
  });
});
