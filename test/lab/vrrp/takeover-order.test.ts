// A new master's order on the wire (router.ts #step, `takeoverOrder`), two lvskit routers, v3 IPv4:
// r2 (priority 100) is master, r1 (priority 150) starts and preempts it. A capture on the client
// shows r1's first advert and first gratuitous ARP: by default the advert first (RFC 9568 §6.4.2),
// with `takeoverOrder: 'addresses-first'` the GARP first (keepalived's order). Either way the old
// master steps down, the VIP ends up on r1 only and the client's neighbour entry points at r1.

import { describe, expect, it } from 'vitest';
import type { LabProcess } from '../harness/netlab.js';
import { useRouterLab } from './fixtures/router-lab.js';
import { ping, waitFor } from '../harness/probes.js';

const NET = '10.56.0';
const VIP = `${NET}.100`;
type Host = 'r1' | 'r2' | 'client';

const macs: Partial<Record<Host, string>> = {};
const env = useRouterLab<Host>({
  name: 'takeover-order',
  hosts: { r1: { ipv4: [`${NET}.1/24`] }, r2: { ipv4: [`${NET}.2/24`] }, client: { ipv4: [`${NET}.3/24`] } },
  outputTail: 4000,
  setup: async () => {
    for (const h of ['r1', 'r2', 'client'] as const) macs[h] = await env.mac(h);
  },
});

async function startRouter(host: 'r1' | 'r2', priority: number, extra: Record<string, unknown> = {}): Promise<LabProcess> {
  const config = {
    instances: [{ name: 'vi', vrid: 56, addresses: [VIP], interface: 'eth0', version: 3, family: 'ipv4', priority, advertIntervalMs: 200, ...extra }],
  };
  return env.startRouter(host, config);
}

const holders = (): Promise<string> => env.holders(VIP, ['r1', 'r2']);

/** r1's frames in the capture, in wire order: its adverts (with priority) and its gratuitous ARPs for the VIP. */
function r1Frames(dump: LabProcess): string[] {
  const out: string[] = [];
  for (const line of dump.stdout.split('\n')) {
    // `-e -tt -n`: `<time> <src mac> > <dst mac>, ethertype ..., length N: <payload>`
    if (!line.includes(` ${macs.r1} > `)) continue;
    const adv = /VRRPv3, Advertisement, vrid 56, prio (\d+)/.exec(line);
    if (adv !== null) out.push(`advert ${adv[1]}`);
    // keepalived-style GARP: target MAC ff:ff:ff:ff:ff:ff, which tcpdump prints in parentheses.
    else if (new RegExp(`Request who-has ${VIP.replaceAll('.', '\\.')}(?: \\([^)]*\\))? tell ${VIP.replaceAll('.', '\\.')},`).test(line)) out.push('garp');
  }
  return out;
}

describe('a new master on the wire: advert and GARP order (takeoverOrder)', () => {
  const burst = Array<string>(5).fill('garp'); // keepalived's default: 5 GARPs at once
  for (const [order, expected] of [
    [undefined, ['advert 150', ...burst]],
    ['addresses-first', [...burst, 'advert 150']],
  ] as const) {
    it(`${order ?? 'default (advert-first)'}: r1 sends ${expected[0] === 'garp' ? 'its GARP burst, then its advert' : 'its advert, then its GARP burst'}; the VIP and the client end up on r1 only`, async () => {
      const r2 = await startRouter('r2', 100);
      await waitFor(async () => (await holders()) === 'r2' || undefined, { timeoutMs: 15_000, what: 'r2 master alone' });
      expect(await ping(env.lab, 'client', VIP)).toBe(true);
      const dump = env.spawn('client', ['tcpdump', '-n', '-l', '-e', '-tt', '-i', 'eth0', 'vrrp or arp']);
      await dump.waitForOutput(/listening on eth0/, { timeoutMs: 15_000 });
      const r1 = await startRouter('r1', 150, order === undefined ? {} : { takeoverOrder: order });
      await waitFor(async () => (await holders()) === 'r1' || undefined, { timeoutMs: 15_000, what: 'r1 preempts: VIP on r1 only' });
      await waitFor(
        async () => {
          const r = await env.lab.ip('client', ['-j', 'neigh', 'show', VIP, 'dev', 'eth0'], { check: true });
          return (JSON.parse(r.stdout) as { lladdr?: string }[])[0]?.lladdr === macs.r1 || undefined;
        },
        { timeoutMs: 10_000, what: 'client neighbour entry on r1' },
      );
      await waitFor(() => (r1Frames(dump).includes('garp') && r1Frames(dump).some((f) => f.startsWith('advert')) ? true : undefined), {
        timeoutMs: 10_000,
        what: "r1's advert and GARP in the capture",
      });
      await waitFor(() => (r1Frames(dump).length >= 6 ? true : undefined), { timeoutMs: 10_000, what: "r1's first six frames" });
      // The burst and the advert back to back (the same tick), in the order asked for.
      expect(r1Frames(dump).slice(0, 6)).toEqual(expected);
      expect(r1.stdout).toMatch(/"to":"master","reason":"preempt"/);
      expect(r2.stdout).toMatch(/"from":"master","to":"backup","reason":"higher-priority"/);
      expect(await ping(env.lab, 'client', VIP)).toBe(true);
    });
  }
});
