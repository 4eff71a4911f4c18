/**
 * What the director asks of IPVS for the less common service shapes: a fwmark
 * service with IPv4 and IPv6 VIPs (one virtual service per family), a
 * dual-stack address service (one per VIP, each with the servers of its
 * family), scheduler flags and persistence. Read from the dry run's commands.
 */
import { createServer, type Server } from 'node:net';
import { noopLogger } from 'lvskit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, startDirector, type DirectorHandle, type IpvsApplied } from '../../../examples/director/index.js';

describe('director: IPVS table shapes (dry run)', () => {
  const servers: Server[] = [];
  let port = 0;
  let d: DirectorHandle;
  const applied: IpvsApplied[] = [];

  beforeAll(async () => {
    // One TCP port open on 127.0.0.1 and ::1: the checks of every server pass.
    const a = createServer((s) => s.end());
    await new Promise<void>((r) => a.listen(0, '127.0.0.1', r));
    port = (a.address() as { port: number }).port;
    const b = createServer((s) => s.end());
    await new Promise<void>((r) => b.listen(port, '::1', r));
    servers.push(a, b);
    const cfg = parseConfig(
      `dryRun: true
status: false
services:
  marked:
    vips: [192.0.2.10, "2001:db8::10"]
    fwmark: 7
    scheduler: mh
    schedFlags: [mh-port]
    forwarding: masq
    checks: [{ type: tcp, port: ${port}, intervalMs: 200 }]
    servers:
      - { host: a4, address: 127.0.0.1, weight: 5 }
      - { host: a6, address: "::1", weight: 6 }
  dual:
    vips: [192.0.2.11, "2001:db8::11"]
    port: 443
    scheduler: sh
    persistence: { timeout: 600 }
    forwarding: masq
    checks: [{ type: tcp, port: ${port}, intervalMs: 200 }]
    servers:
      - { host: b4, address: 127.0.0.1, port: ${port} }
      - { host: b6, address: "::1", port: ${port} }
`,
      '/tmp/table.yaml',
    );
    // The first table is written inside start: catch it from the start.
    const started = startDirector(cfg, { logger: noopLogger });
    d = await started;
    d.on('ipvs', (x) => applied.push(x));
  }, 30_000);

  afterAll(async () => {
    await d?.stop();
    for (const s of servers) s.close();
  });

  it('fwmark: one service per family with that family\'s servers; address services: one per VIP', async () => {
    const table = await d.ipvsTable();
    const summary = table
      .map((s) => {
        const id = 'fwmark' in s ? `fwmark ${s.fwmark} ${s.family ?? 'ipv4'}` : `${s.protocol} ${s.address}:${s.port}`;
        const dests = (s.destinations ?? []).map((x) => `${x.address}:${x.port} w${x.weight} ${x.forwarding}`).join(', ');
        return `${id} ${s.scheduler}${s.schedFlags === undefined ? '' : ` ${s.schedFlags.join(',')}`}${s.persistence === undefined ? '' : ` p${s.persistence.timeout}`}: ${dests}`;
      })
      .sort();
    expect(summary).toEqual([
      `fwmark 7 ipv4 mh mh-port: 127.0.0.1:0 w5 masq`,
      `fwmark 7 ipv6 mh mh-port: ::1:0 w6 masq`,
      `tcp 192.0.2.11:443 sh p600: 127.0.0.1:${port} w1 masq`,
      `tcp 2001:db8::11:443 sh p600: ::1:${port} w1 masq`,
    ]);
  });
});
