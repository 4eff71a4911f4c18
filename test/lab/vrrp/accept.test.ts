// Accept_Mode (RFC 9568 §6.1) on real Linux. With `accept: false` a master that is not the address
// owner holds the virtual addresses and answers ARP / neighbour solicitations for them (the client's
// neighbour table points at it), yet drops what is addressed to them (nftables rules made over
// nfnetlink): the client's pings to the VIPs go unanswered while its pings to the router's own
// address are answered. With `accept: true` (the default) the same pings are answered, which also
// shows the rules went away with the first run; so are they for the address owner (priority 255)
// with `accept: false`. IPv4 and IPv6 in one router.

import { describe, expect, it } from 'vitest';
import type { LabProcess } from '../harness/netlab.js';
import { ping, waitFor } from '../harness/probes.js';
import { useRouterLab } from './fixtures/router-lab.js';

const VIP4 = '10.58.0.100';
const VIP6 = 'fd00:58::100';
type Host = 'r1' | 'client';

let r1Mac = '';
const env = useRouterLab<Host>({
  name: 'accept',
  hosts: { r1: { ipv4: ['10.58.0.1/24'], ipv6: ['fd00:58::1/64'] }, client: { ipv4: ['10.58.0.3/24'], ipv6: ['fd00:58::3/64'] } },
  setup: async () => {
    r1Mac = await env.mac('r1');
  },
});

async function start(accept: boolean, priority = 150): Promise<LabProcess> {
  const common = { interface: 'eth0', version: 3, priority, advertIntervalMs: 200, accept };
  const instances = [
    { ...common, name: 'v4', family: 'ipv4', vrid: 81, addresses: [VIP4] },
    { ...common, name: 'v6', family: 'ipv6', vrid: 82, addresses: ['fe80::58:100', VIP6] },
  ];
  const p = await env.startRouter('r1', { instances });
  // Alone on the segment: master after Master_Down_Interval, VIPs configured.
  await waitFor(async () => {
    const r = await env.lab.ip('r1', ['-j', 'address', 'show', 'dev', 'eth0'], { check: true });
    const addrs = (JSON.parse(r.stdout) as { addr_info: { local: string }[] }[]).flatMap((l) => l.addr_info.map((i) => i.local));
    return addrs.includes(VIP4) && addrs.includes(VIP6);
  }, { timeoutMs: 15_000, what: 'VIPs on r1' });
  return p;
}

async function neighbour(addr: string): Promise<string | undefined> {
  const r = await env.lab.ip('client', ['-j', 'neigh', 'show', addr, 'dev', 'eth0'], { check: true });
  return (JSON.parse(r.stdout) as { lladdr?: string }[])[0]?.lladdr;
}

/** One echo request, one second to answer. */
async function pingOnce(addr: string): Promise<boolean> {
  return (await env.lab.exec('client', ['ping', '-n', '-c1', '-W1', addr], { timeoutMs: 5_000 })).code === 0;
}

describe('Accept_Mode', () => {
  it('off: the master answers ARP / ND for the VIPs but drops packets to them; on: it accepts them', async () => {
    const off = await start(false);
    expect(off.stdout).toMatch(/accept mode off: packets to the virtual addresses are dropped/);
    // The router itself is reachable, so an unanswered ping below is the rule, not the path.
    expect(await ping(env.lab, 'client', env.lab.hosts.r1.addr4)).toBe(true);
    expect(await ping(env.lab, 'client', env.lab.hosts.r1.addr6)).toBe(true);
    for (const vip of [VIP4, VIP6]) {
      await env.lab.ip('client', ['neigh', 'flush', 'dev', 'eth0']);
      expect(await pingOnce(vip), `ping ${vip} with accept off`).toBe(false);
      expect(await pingOnce(vip), `ping ${vip} with accept off`).toBe(false);
      // Address resolution for the VIP still works (IPv6: NS / NA are exempt, RFC 5798 §6.1).
      expect(await neighbour(vip), `neighbour ${vip}`).toBe(r1Mac);
    }
    await off.stop({ signal: 'SIGTERM', graceMs: 10_000 });
    expect(off.stdout).toMatch(/^stopped /m);

    // Accept on: answered (and so nothing of the first run's rules is left).
    const on = await start(true);
    expect(on.stdout).not.toMatch(/accept mode off/);
    expect(await ping(env.lab, 'client', VIP4)).toBe(true);
    expect(await ping(env.lab, 'client', VIP6)).toBe(true);
    await on.stop({ signal: 'SIGTERM', graceMs: 10_000 });

    // The address owner (priority 255) always accepts, whatever Accept_Mode says (RFC 9568 §6.1).
    const owner = await start(false, 255);
    expect(owner.stdout).not.toMatch(/accept mode off/);
    expect(await ping(env.lab, 'client', VIP4)).toBe(true);
    expect(await ping(env.lab, 'client', VIP6)).toBe(true);
    for (const p of [off, on, owner]) expect(p.stdout.split('\n').filter((l) => /^(invalid|transport-error|stop-error) /.test(l)), p.output).toEqual([]);
  });
});
