import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  type RouterConfig,
  type RouterInstanceConfig,
  effectivePriority,
  initialRouterState,
  routerStep,
} from '../../../src/vrrp/fsm-group.js';
import { VrrpError } from '../../../src/vrrp/errors.js';
import { GroupLan } from './sim.js';

/** VRID `vrid` protecting 10.0.`vrid`.100, this router being 10.0.`vrid`.`host`. */
function inst(name: string, vrid: number, host: number, priority: number, over: Partial<RouterInstanceConfig> = {}): RouterInstanceConfig {
  return {
    name,
    version: 3,
    family: 'ipv4',
    vrid,
    priority,
    advertIntervalMs: 1000,
    addresses: [`10.0.${vrid}.100`],
    primaryAddress: `10.0.${vrid}.${host}`,
    ...over,
  };
}

describe('effective priority from tracked objects', () => {
  it('subtracts the weights of down objects, within 1..254; weight 0 is a fault; the owner stays 255', () => {
    const track = [
      { object: 'eth1', weight: 50 },
      { object: 'pool', weight: 120 },
      { object: 'uplink' },
    ];
    expect(effectivePriority(200, track, new Set())).toBe(200);
    expect(effectivePriority(200, track, new Set(['eth1']))).toBe(150);
    expect(effectivePriority(200, track, new Set(['eth1', 'pool']))).toBe(30);
    expect(effectivePriority(100, track, new Set(['eth1', 'pool']))).toBe(1);
    expect(effectivePriority(200, track, new Set(['uplink']))).toBe('fault');
    expect(effectivePriority(255, track, new Set(['eth1']))).toBe(255);
    expect(effectivePriority(255, track, new Set(['uplink']))).toBe('fault');
    expect(effectivePriority(200, track, new Set(['unrelated']))).toBe(200);
  });
});

describe('router configuration', () => {
  it('refuses duplicates, unknown members, double membership and bad weights', () => {
    const a = inst('a', 1, 1, 100);
    const bad: RouterConfig[] = [
      { instances: [a, { ...a, vrid: 2 }] },
      { instances: [a, { ...a, name: 'b' }] },
      { instances: [a], syncGroups: [{ name: 'g', instances: ['a', 'zz'] }] },
      {
        instances: [a, inst('b', 2, 1, 100)],
        syncGroups: [
          { name: 'g', instances: ['a'] },
          { name: 'h', instances: ['a', 'b'] },
        ],
      },
      { instances: [{ ...a, track: [{ object: 'x', weight: 300 }] }] },
      { instances: [{ ...a, name: '' }] },
    ];
    for (const c of bad) expect(() => initialRouterState(c)).toThrow(VrrpError);
    const ok = initialRouterState({ instances: [a], syncGroups: [{ name: 'g', instances: ['a'] }] });
    expect(ok.instances['a']?.config.sync).toBe(true);
    expect(() => routerStep(ok, { type: 'instance', instance: 'nope', event: { type: 'startup' } }, 0)).toThrow(VrrpError);
  });
});

describe('tracking (scripts)', () => {
  it('a tracked interface going down costs its weight: the backup preempts; recovery preempts back', () => {
    const lan = new GroupLan();
    lan.node('R1', { instances: [inst('vi', 1, 1, 200, { track: [{ object: 'eth1', weight: 150 }] })] });
    lan.node('R2', { instances: [inst('vi', 1, 2, 100)] });
    lan.send('R1', { type: 'startup' });
    lan.send('R2', { type: 'startup' });
    lan.run(10_000);
    expect(lan.holders(1)).toEqual(['R1']);
    lan.send('R1', { type: 'track', object: 'eth1', up: false });
    expect(lan.get('R1').state.instances['vi']?.priority).toBe(50);
    expect(lan.get('R1').sent.at(-1)).toEqual({ at: 10_000, instance: 'vi', priority: 50 });
    lan.run(10_000);
    expect(lan.holders(1)).toEqual(['R2']);
    expect(lan.transitions.filter((t) => t.at > 10_000).map((t) => [t.router, t.to, t.reason])).toEqual([
      ['R2', 'master', 'preempt'],
      ['R1', 'backup', 'higher-priority'],
    ]);
    lan.send('R1', { type: 'track', object: 'eth1', up: true });
    lan.run(10_000);
    expect(lan.holders(1)).toEqual(['R1']);
  });

  it('a vital object (weight 0) down: the master stops with priority 0 and stays out until it recovers', () => {
    const lan = new GroupLan();
    lan.node('R1', { instances: [inst('vi', 1, 1, 200, { track: [{ object: 'pool' }] })] });
    lan.node('R2', { instances: [inst('vi', 1, 2, 100)] });
    lan.send('R1', { type: 'startup' });
    lan.send('R2', { type: 'startup' });
    lan.run(10_000);
    lan.send('R1', { type: 'track', object: 'pool', up: false });
    expect(lan.get('R1').sent.at(-1)).toEqual({ at: 10_000, instance: 'vi', priority: 0 });
    lan.run(60_000);
    expect(lan.holders(1)).toEqual(['R2']);
    expect(lan.get('R1').stateOf('vi')).toBe('initialize');
    expect(lan.transitions.find((t) => t.router === 'R1' && t.to === 'initialize')?.reason).toBe('fault');
    // Skew time of priority 100 after the priority 0 advert.
    expect(lan.transitions.find((t) => t.router === 'R2' && t.to === 'master')).toMatchObject({ at: 10_000 + 609.375, reason: 'master-stopped' });
    lan.send('R1', { type: 'track', object: 'pool', up: true });
    lan.run(10_000);
    expect(lan.holders(1)).toEqual(['R1']);
  });

  it('objects down before startup: the instance starts at the lowered priority, or not at all', () => {
    const cfg: RouterConfig = {
      instances: [inst('a', 1, 1, 200, { track: [{ object: 'eth1', weight: 100 }] }), inst('b', 2, 1, 200, { track: [{ object: 'uplink' }] })],
      initiallyDown: ['eth1', 'uplink'],
    };
    const { state, actions } = routerStep(initialRouterState(cfg), { type: 'startup' }, 0);
    expect(state.instances['a']).toMatchObject({ name: 'backup', priority: 100 });
    expect(state.instances['b']?.name).toBe('initialize');
    expect(actions.filter((x) => x.action.type === 'transition').map((x) => x.instance)).toEqual(['a']);
  });

  it('router shutdown stops every instance, masters with priority 0; events while stopped start nothing', () => {
    let s = initialRouterState({ instances: [inst('a', 1, 1, 255, { primaryAddress: '10.0.1.100' }), inst('b', 2, 1, 100, { track: [{ object: 'x' }] })] });
    s = routerStep(s, { type: 'startup' }, 0).state;
    expect([s.instances['a']?.name, s.instances['b']?.name]).toEqual(['master', 'backup']);
    const down = routerStep(s, { type: 'shutdown' }, 10);
    expect(down.actions.filter((x) => x.action.type === 'send-advert').map((x) => x.action)).toEqual([
      expect.objectContaining({ advert: expect.objectContaining({ priority: 0 }) }),
    ]);
    s = down.state;
    const tracked = routerStep(s, { type: 'track', object: 'x', up: false }, 20);
    const back = routerStep(tracked.state, { type: 'track', object: 'x', up: true }, 30);
    expect(back.actions).toEqual([]);
    expect(routerStep(s, { type: 'shutdown' }, 40).actions).toEqual([]);
  });
});

describe('sync groups (scripts)', () => {
  // Two routers, each with an outside (VRID 1) and inside (VRID 2) instance in one group.
  const router = (host: number, priority: number, vital?: string): RouterConfig => ({
    instances: [
      inst('outside', 1, host, priority, vital === undefined ? {} : { track: [{ object: vital }] }),
      inst('inside', 2, host, priority),
    ],
    syncGroups: [{ name: 'lb', instances: ['outside', 'inside'] }],
  });

  it('members fail over together when the master router fails', () => {
    const lan = new GroupLan();
    lan.node('R1', router(1, 200, 'uplink'));
    lan.node('R2', router(2, 100));
    lan.send('R1', { type: 'startup' });
    lan.send('R2', { type: 'startup' });
    lan.run(10_000);
    expect([lan.holders(1), lan.holders(2)]).toEqual([['R1'], ['R1']]);
    // R1's uplink fails: the whole group stops, both priority 0 adverts, R2 takes both.
    lan.send('R1', { type: 'track', object: 'uplink', up: false });
    lan.run(5_000);
    expect([lan.holders(1), lan.holders(2)]).toEqual([['R2'], ['R2']]);
    expect(lan.get('R1').sent.filter((s) => s.at === 10_000).map((s) => [s.instance, s.priority])).toEqual([
      ['outside', 0],
      ['inside', 0],
    ]);
    // Promoted together, the moment the later of the two wanted it.
    const promoted = lan.transitions.filter((t) => t.router === 'R2' && t.to === 'master');
    expect(promoted.map((t) => [t.instance, t.reason, t.at])).toEqual([
      ['outside', 'sync', 10_000 + 609.375],
      ['inside', 'sync', 10_000 + 609.375],
    ]);
  });

  it('a member whose master is gone waits while its partner still hears a master (no half failover)', () => {
    const lan = new GroupLan();
    lan.node('R1', router(1, 200));
    lan.node('R2', router(2, 100));
    lan.send('R1', { type: 'startup' });
    lan.send('R2', { type: 'startup' });
    lan.run(10_000);
    // Only the outside segment loses R1's adverts.
    lan.setLink('R1', 1, false);
    lan.run(30_000);
    expect(lan.get('R2').state.instances['outside']).toMatchObject({ name: 'backup', wantMaster: true });
    expect(lan.get('R2').stateOf('inside')).toBe('backup');
    expect(lan.holders(2)).toEqual(['R1']);
    expect(lan.get('R2').log.filter((e) => e.action.type === 'want-master').map((e) => [e.instance, e.action])).toEqual([
      ['outside', { type: 'want-master', want: true, cause: 'no-master' }],
    ]);
    // The outside segment comes back: R2's outside hears R1 again and stops wanting.
    lan.setLink('R1', 1, true);
    lan.run(2_000);
    expect(lan.get('R2').state.instances['outside']).toMatchObject({ name: 'backup', wantMaster: false });
  });

  it('the better router returns: its members preempt, and the other router steps down as a group', () => {
    const lan = new GroupLan();
    lan.node('R1', router(1, 200));
    lan.node('R2', router(2, 100));
    lan.send('R2', { type: 'startup' });
    lan.run(10_000);
    expect([lan.holders(1), lan.holders(2)]).toEqual([['R2'], ['R2']]);
    lan.send('R1', { type: 'startup' });
    lan.run(10_000);
    expect([lan.holders(1), lan.holders(2)]).toEqual([['R1'], ['R1']]);
    const r2Down = lan.transitions.filter((t) => t.router === 'R2' && t.from === 'master' && t.to === 'backup');
    // One stepped down on hearing a better advert, the other went with it.
    expect(r2Down.map((t) => t.reason).sort()).toEqual(['higher-priority', 'sync']);
    expect(new Set(r2Down.map((t) => t.at)).size).toBe(1);
    // The member the group stepped down said so with priority 0; the other sent its yield advert.
    const at = r2Down[0]?.at;
    const synced = r2Down.find((t) => t.reason === 'sync')?.instance;
    expect(lan.get('R2').sent.filter((x) => x.at === at).map((x) => [x.instance, x.priority])).toEqual(
      expect.arrayContaining([[synced, 0], [synced === 'outside' ? 'inside' : 'outside', 100]]),
    );
  });

  it('a fault in one member shuts the group; recovery restarts it', () => {
    let s = initialRouterState(router(1, 200, 'uplink'));
    s = routerStep(s, { type: 'startup' }, 0).state;
    const down = routerStep(s, { type: 'track', object: 'uplink', up: false }, 100);
    expect(Object.values(down.state.instances).map((i) => i.name)).toEqual(['initialize', 'initialize']);
    const up = routerStep(down.state, { type: 'track', object: 'uplink', up: true }, 200);
    expect(Object.values(up.state.instances).map((i) => i.name)).toEqual(['backup', 'backup']);
  });

  it('random track and timer events never throw and keep a group together (property)', () => {
    const cfg = router(1, 200, 'uplink');
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ object: fc.constantFrom('uplink', 'other'), up: fc.boolean() }).map((t) => ({ type: 'track' as const, ...t })),
            fc
              .record({ instance: fc.constantFrom('outside', 'inside'), timer: fc.constantFrom('master-down' as const, 'adver' as const) })
              .map((x) => ({ type: 'instance' as const, instance: x.instance, event: { type: 'timer' as const, timer: x.timer } })),
            fc.constantFrom({ type: 'startup' as const }, { type: 'shutdown' as const }),
          ),
          { maxLength: 50 },
        ),
        (events) => {
          let s = initialRouterState(cfg);
          let now = 0;
          for (const e of events) {
            now += 5000; // past every deadline
            s = routerStep(s, e, now).state;
            const names = Object.values(s.instances).map((i) => i.name);
            // Never one member running and the other stopped.
            expect(names.every((n) => n === 'initialize') || names.every((n) => n !== 'initialize')).toBe(true);
          }
        },
      ),
    );
  });
});
