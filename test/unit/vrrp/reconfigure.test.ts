// Changing a running instance's settings in place (`reconfigure`, what vrrpd's SIGHUP reload uses):
// the pure core on simulated routers (fsm-group.ts through sim.ts's GroupLan), and the driver's
// checks (router.ts) on a fake clock.
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../src/util/clock.js';
import { decodeAdvert } from '../../../src/vrrp/codec.js';
import { VrrpError } from '../../../src/vrrp/errors.js';
import { type RouterInstanceConfig } from '../../../src/vrrp/fsm-group.js';
import { type VrrpInstanceOptions, VrrpRouter, type VrrpTransport } from '../../../src/vrrp/router.js';
import { GroupLan } from './sim.js';

const VIP = '10.0.1.100';
const VIP2 = '10.0.1.101';

function inst(host: number, priority: number, over: Partial<RouterInstanceConfig> = {}): RouterInstanceConfig {
  return { name: 'vi', version: 3, family: 'ipv4', vrid: 1, priority, advertIntervalMs: 1000, addresses: [VIP], primaryAddress: `10.0.1.${host}`, ...over };
}

/** A (150) master and B (100) backup after 5 s. */
function pair(): GroupLan {
  const lan = new GroupLan();
  lan.node('A', { instances: [inst(1, 150)] });
  lan.node('B', { instances: [inst(2, 100)] });
  lan.send('A', { type: 'startup' });
  lan.send('B', { type: 'startup' });
  lan.run(5_000);
  expect(lan.holders(1)).toEqual(['A']);
  return lan;
}

describe('reconfigure (fsm-group)', () => {
  it('a new priority goes out in the master\'s adverts at once, with no state change while it still wins', () => {
    const lan = pair();
    const before = lan.transitions.length;
    const t0 = lan.now;
    lan.send('A', { type: 'reconfigure', instance: inst(1, 120) });
    expect(lan.get('A').sent.filter((s) => s.at === t0).map((s) => s.priority)).toEqual([120]);
    lan.run(5_000);
    expect(lan.get('A').sent.filter((s) => s.at > t0).every((s) => s.priority === 120)).toBe(true);
    expect(lan.get('B').state.instances.vi?.master).toEqual({ address: '10.0.1.1', priority: 120 });
    expect(lan.transitions.length).toBe(before);
    expect(lan.holders(1)).toEqual(['A']);
  });

  it('a backup raised above the master preempts on the master\'s next advert (RFC 9568 §6.4.2); lowered again it yields to nobody until the master sends', () => {
    const lan = pair();
    const t0 = lan.now;
    lan.send('B', { type: 'reconfigure', instance: inst(2, 200) });
    expect(lan.transitions.filter((t) => t.at === t0)).toEqual([]); // nothing at once
    lan.run(5_000);
    expect(lan.holders(1)).toEqual(['B']);
    expect(lan.transitions.filter((t) => t.at > t0).map((t) => `${t.router} ${t.to} ${t.reason}`)).toEqual(['B master preempt', 'A backup higher-priority']);
  });

  it('a master moves its addresses in place: dropped ones removed, new ones added, announced and advertised; no transition', () => {
    const lan = pair();
    const before = lan.transitions.length;
    const t0 = lan.now;
    lan.send('A', { type: 'reconfigure', instance: inst(1, 150, { addresses: [VIP2] }) });
    const now = lan.get('A').log.filter((l) => l.at === t0).map((l) => l.action);
    expect(now).toEqual([
      { type: 'remove-addresses', addresses: [VIP] },
      { type: 'add-addresses', addresses: [VIP2] },
      { type: 'announce', family: 'ipv4', addresses: [VIP2], count: 5 },
      expect.objectContaining({ type: 'send-advert', advert: expect.objectContaining({ priority: 150, addresses: [VIP2] }) }),
    ]);
    expect([...(lan.get('A').vips.get(1) ?? [])]).toEqual([VIP2]);
    // The backup, still on the old list, gets A's adverts (v3 only logs an address mismatch) and stays backup.
    lan.run(5_000);
    expect(lan.transitions.length).toBe(before);
    // A backup's new list moves nothing (it holds none).
    lan.send('B', { type: 'reconfigure', instance: inst(2, 100, { addresses: [VIP2] }) });
    expect(lan.get('B').log.filter((l) => l.at === lan.now && /addresses|announce/.test(l.action.type))).toEqual([]);
    expect(lan.holders(1)).toEqual(['A']);
  });

  it('tracking: a vital object that is down shuts the instance down (priority 0, the backup takes over); untracked again it starts and preempts back', () => {
    const lan = pair();
    lan.send('A', { type: 'track', object: 'uplink', up: false }); // not tracked yet: nothing
    expect(lan.holders(1)).toEqual(['A']);
    const t0 = lan.now;
    lan.send('A', { type: 'reconfigure', instance: inst(1, 150, { track: [{ object: 'uplink' }] }) });
    expect(lan.get('A').sent.filter((s) => s.at === t0).map((s) => s.priority)).toEqual([0]);
    lan.run(3_000);
    expect(lan.holders(1)).toEqual(['B']);
    lan.send('A', { type: 'reconfigure', instance: inst(1, 150) });
    expect(lan.get('A').stateOf('vi')).toBe('backup');
    lan.run(5_000);
    expect(lan.holders(1)).toEqual(['A']);
  });

  it('refuses a change of identity or a bad setting with ERR_VRRP_CONFIG and leaves the state alone', () => {
    const lan = pair();
    const state = lan.get('A').state;
    for (const bad of [inst(1, 150, { vrid: 2 }), inst(1, 150, { interface: 'eth1' }), inst(1, 150, { version: 2 }), inst(1, 300), inst(1, 150, { addresses: [] }), inst(1, 150, { track: [{ object: 'x', weight: 300 }] }), { ...inst(1, 150), name: 'nope' }]) {
      expect(() => lan.send('A', { type: 'reconfigure', instance: bad }), JSON.stringify(bad)).toThrow(VrrpError);
      expect(lan.get('A').state).toBe(state);
    }
  });
});

describe('VrrpRouter.reconfigure', () => {
  class Recorder implements VrrpTransport {
    readonly adverts: { priority: number; addresses: string[] }[] = [];
    readonly addresses = new Set<string>();
    frames = 0;
    sendAdvert(_i: string, p: { family: 'ipv4' | 'ipv6'; payload: Uint8Array }): void {
      const a = decodeAdvert(p.payload, 0, p.family);
      this.adverts.push({ priority: a.priority, addresses: [...a.addresses] });
    }
    sendFrame(): void {
      this.frames++;
    }
    addAddresses(_i: string, addrs: readonly string[]): void {
      for (const a of addrs) this.addresses.add(a);
    }
    removeAddresses(_i: string, addrs: readonly string[]): void {
      for (const a of addrs) this.addresses.delete(a);
    }
  }
  const opts = (over: Partial<VrrpInstanceOptions> = {}): VrrpInstanceOptions => ({ ...inst(1, 150), mac: '02:00:00:00:00:01', ...over });

  it('applies priority and addresses to a running master through the transport; bad options throw and change nothing', async () => {
    const clock = new FakeClock();
    const transport = new Recorder();
    const router = new VrrpRouter({ instances: [opts()], transport, clock });
    router.start();
    clock.advance(4_000);
    await router.idle();
    expect(router.stateOf('vi')).toBe('master');
    expect([...transport.addresses]).toEqual([VIP]);

    expect(() => router.reconfigure(opts({ mac: 'nonsense' }))).toThrow(VrrpError);
    expect(() => router.reconfigure(opts({ vrid: 9 }))).toThrow(/cannot change in place/);
    expect(() => router.reconfigure(opts({ name: 'other' }))).toThrow(/no instance other/);
    expect(router.instanceState('vi')?.config.priority).toBe(150);

    const frames = transport.frames;
    router.reconfigure(opts({ priority: 120, addresses: [VIP, VIP2] }));
    await router.idle();
    clock.advance(1_000);
    await router.idle();
    expect([...transport.addresses].sort()).toEqual([VIP, VIP2]);
    expect(transport.frames - frames).toBe(5); // 5 GARPs for the new address only
    expect(transport.adverts.at(-1)).toEqual({ priority: 120, addresses: [VIP, VIP2] });
    expect(router.stateOf('vi')).toBe('master');
    expect(router.snapshot()[0]).toMatchObject({ priority: 120, basePriority: 120, transitions: 2 });
    await router.stop();
  });
});
