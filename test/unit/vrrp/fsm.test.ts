import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  type InstanceConfig,
  type VrrpEvent,
  type VrrpState,
  buildAdvert,
  initialState,
  masterDownIntervalMs,
  receiveConfigFor,
  skewTimeMs,
  step,
} from '../../../src/vrrp/fsm.js';
import { VrrpError } from '../../../src/vrrp/errors.js';
import { simplePasswordAuthData } from '../../../src/vrrp/codec.js';
import { validateAdvert } from '../../../src/vrrp/codec-receive.js';
import { KEEPALIVED_SRC_V6, KEEPALIVED_V3_V6, KEEPALIVED_V3_V6_PRIO0 } from './fixtures.js';
import { Lan, v4 } from './sim.js';

// Skew and down intervals used below, v3 at 1 s (RFC 9568 §6.1):
//   priority 100: skew (256-100)*1000/256 = 609.375 ms, down 3609.375 ms
//   priority 200: skew (256-200)*1000/256 = 218.75 ms,  down 3218.75 ms
const SKEW_100 = 609.375;
const DOWN_100 = 3609.375;
const DOWN_200 = 3218.75;

describe('timer arithmetic (RFC 9568 §6.1, RFC 3768 §6.1)', () => {
  it('v3 skew scales with the master advert interval; v2 skew is in seconds whatever the interval', () => {
    const s3 = initialState(v4('192.0.2.1', { priority: 100 }));
    expect(skewTimeMs(s3)).toBe(SKEW_100);
    expect(masterDownIntervalMs(s3)).toBe(DOWN_100);
    expect(skewTimeMs({ ...s3, masterAdverIntervalMs: 100 })).toBe(60.9375);
    expect(masterDownIntervalMs({ ...s3, masterAdverIntervalMs: 10 })).toBeCloseTo(30 + 6.09375, 9);
    const s2 = initialState(v4('192.0.2.1', { version: 2, priority: 254, advertIntervalMs: 3000 }));
    expect(skewTimeMs(s2)).toBe(7.8125); // (256-254)/256 s
    expect(masterDownIntervalMs(s2)).toBe(9007.8125);
  });
});

describe('configuration', () => {
  it('applies defaults and canonical addresses', () => {
    const s = initialState({ version: 3, family: 'ipv6', vrid: 9, addresses: ['FE80::9', '2001:db8:0::9'], primaryAddress: 'fe80::0:1' });
    expect(s.name).toBe('initialize');
    expect(s.config).toMatchObject({
      priority: 100,
      advertIntervalMs: 1000,
      preempt: true,
      preemptDelayMs: 0,
      addresses: ['fe80::9', '2001:db8::9'],
      primaryAddress: 'fe80::1',
      announce: { count: 5, repeatCount: 5, repeatDelayMs: 5000, onLowerPriority: true, refreshMs: 0, refreshCount: 1 },
    });
  });

  it('refuses what the wire or the RFC cannot carry', () => {
    const base = v4('192.0.2.1');
    const bad: InstanceConfig[] = [
      { ...base, vrid: 0 },
      { ...base, priority: 0 },
      { ...base, priority: 256 },
      { ...base, advertIntervalMs: 5 },
      { ...base, advertIntervalMs: 1005 },
      { ...base, advertIntervalMs: 40960 },
      { ...base, version: 2, advertIntervalMs: 1500 },
      { ...base, version: 2, family: 'ipv6', addresses: ['fe80::1'], primaryAddress: 'fe80::2' },
      { ...base, addresses: [] },
      { ...base, addresses: ['192.0.2.100', '192.0.2.100'] },
      { ...base, addresses: ['2001:db8::1'] },
      { ...base, primaryAddress: 'nope' },
      { ...base, family: 'ipv6', addresses: ['2001:db8::1'], primaryAddress: 'fe80::2' },
      { ...base, family: 'ipv6', addresses: ['fe80::1'], primaryAddress: '2001:db8::2' },
      { ...base, authType: 1 },
      { ...base, version: 2, authType: 2 },
      { ...base, version: 2, authData: new Uint8Array(4) },
      { ...base, preemptDelayMs: -1 },
      { ...base, announce: { count: 1.5 } },
    ];
    for (const c of bad) expect(() => initialState(c), JSON.stringify(c)).toThrow(VrrpError);
  });

  it('relaxes the IPv6 link-local rules when not strict, as keepalived outside vrrp_strict', () => {
    const c: InstanceConfig = { version: 3, family: 'ipv6', vrid: 1, addresses: ['2001:db8::1'], primaryAddress: '2001:db8::2', strict: false };
    expect(initialState(c).config.addresses).toEqual(['2001:db8::1']);
    expect(() => initialState({ ...c, strict: true })).toThrow(VrrpError);
  });
});

describe('receive configuration from an instance', () => {
  it('carries what validateAdvert checks, plus receive-only settings', () => {
    const s = initialState(v4('192.0.2.1', { version: 2, advertIntervalMs: 3000, authType: 1, authData: simplePasswordAuthData('pw') }));
    expect(receiveConfigFor(s, { checkTtl: false })).toEqual({
      version: 2,
      family: 'ipv4',
      vrid: 51,
      addresses: ['192.0.2.100'],
      advertIntervalMs: 3000,
      authType: 1,
      authData: simplePasswordAuthData('pw'),
      checkTtl: false,
    });
  });
});

describe('one router, step by step', () => {
  it('a non-owner starts in Backup with the down timer at Master_Down_Interval (RFC 9568 §6.4.1)', () => {
    const { state, actions } = step(initialState(v4('192.0.2.1')), { type: 'startup' }, 1000);
    expect(state.name).toBe('backup');
    expect(actions).toEqual([
      { type: 'remove-addresses', addresses: ['192.0.2.100'] },
      { type: 'set-timer', timer: 'master-down', at: 1000 + DOWN_100 },
      { type: 'transition', from: 'initialize', to: 'backup', reason: 'startup', at: 1000 },
    ]);
  });

  it('the owner starts in Master: advert, addresses, GARP burst, timers (RFC 9568 §6.4.1)', () => {
    const { state, actions } = step(initialState(v4('192.0.2.100', { priority: 255 })), { type: 'startup' }, 0);
    expect(state.name).toBe('master');
    expect(actions).toEqual([
      { type: 'send-advert', advert: { version: 3, family: 'ipv4', vrid: 51, priority: 255, maxAdvertIntervalCs: 100, addresses: ['192.0.2.100'] } },
      { type: 'add-addresses', addresses: ['192.0.2.100'] },
      { type: 'announce', family: 'ipv4', addresses: ['192.0.2.100'], count: 5 },
      { type: 'set-timer', timer: 'announce', at: 5000 },
      { type: 'set-timer', timer: 'adver', at: 1000 },
      { type: 'transition', from: 'initialize', to: 'master', reason: 'owner-startup', at: 0 },
    ]);
  });

  it('ignores a timer it did not arm, and re-arms one that fires early', () => {
    const backup = step(initialState(v4('192.0.2.1')), { type: 'startup' }, 0).state;
    expect(step(backup, { type: 'timer', timer: 'adver' }, 5000).actions).toEqual([]);
    const early = step(backup, { type: 'timer', timer: 'master-down' }, 100);
    expect(early.state).toBe(backup);
    expect(early.actions).toEqual([{ type: 'set-timer', timer: 'master-down', at: DOWN_100 }]);
  });

  it('ignores adverts and repeated startups where they mean nothing', () => {
    const init = initialState(v4('192.0.2.1'));
    const adv = { type: 'advert' as const, advert: buildAdvert(init, 200), src: '192.0.2.2' };
    expect(step(init, adv, 0).actions).toEqual([]);
    expect(step(init, { type: 'shutdown' }, 0).actions).toEqual([]);
    const backup = step(init, { type: 'startup' }, 0).state;
    expect(step(backup, { type: 'startup' }, 10).actions).toEqual([]);
  });

  it('a master shutting down sends priority 0 and lets go of the addresses (RFC 9568 §6.4.3)', () => {
    const master = step(initialState(v4('192.0.2.100', { priority: 255 })), { type: 'startup' }, 0).state;
    const { state, actions } = step(master, { type: 'shutdown' }, 500);
    expect(state.name).toBe('initialize');
    expect(state.timers).toEqual({});
    expect(actions.map((a) => a.type)).toEqual(['cancel-timer', 'cancel-timer', 'send-advert', 'remove-addresses', 'transition']);
    expect(actions[2]).toMatchObject({ type: 'send-advert', advert: { priority: 0 } });
  });

  it('rejects a priority outside 1..255', () => {
    const s = initialState(v4('192.0.2.1'));
    expect(() => step(s, { type: 'priority', priority: 0 }, 0)).toThrow(VrrpError);
  });
});

describe('advert handling matrix (RFC 9568 §6.4.2-3), local priority 100 at 192.0.2.5, at t = 10 s', () => {
  const now = 10_000;
  const backup = (preempt: boolean): VrrpState => step(initialState(v4('192.0.2.5', { preempt })), { type: 'startup' }, 0).state;
  const master = (): VrrpState => {
    const b = backup(true);
    return step(b, { type: 'timer', timer: 'master-down' }, DOWN_100).state;
  };
  const adv = (s: VrrpState, priority: number, src: string): VrrpEvent => ({ type: 'advert', advert: buildAdvert(s, priority), src });
  const kinds = (actions: { type: string }[]): string => actions.map((a) => a.type).join(',');

  const rows: [string, () => VrrpState, number, string, string, string][] = [
    // [case, state, advert priority, advert source, resulting state, actions]
    ['backup, preempt, priority 0', () => backup(true), 0, '192.0.2.9', 'backup', 'set-timer'],
    ['backup, preempt, lower', () => backup(true), 50, '192.0.2.9', 'backup', ''],
    ['backup, preempt, equal', () => backup(true), 100, '192.0.2.1', 'backup', 'set-timer'],
    ['backup, preempt, higher', () => backup(true), 200, '192.0.2.1', 'backup', 'set-timer'],
    ['backup, no preempt, lower', () => backup(false), 50, '192.0.2.9', 'backup', 'notice,set-timer'],
    ['master, priority 0', master, 0, '192.0.2.9', 'master', 'send-advert,set-timer'],
    ['master, lower', master, 50, '192.0.2.9', 'master', 'notice,send-advert,announce,set-timer'],
    ['master, equal, lower address', master, 100, '192.0.2.4', 'master', 'notice,send-advert,announce,set-timer'],
    ['master, equal, higher address', master, 100, '192.0.2.6', 'backup', 'cancel-timer,cancel-timer,remove-addresses,send-advert,set-timer,transition'],
    ['master, higher', master, 200, '192.0.2.1', 'backup', 'cancel-timer,cancel-timer,remove-addresses,send-advert,set-timer,transition'],
  ];
  for (const [name, make, priority, src, to, actions] of rows) {
    it(name, () => {
      const s = make();
      const r = step(s, adv(s, priority, src), now);
      expect(r.state.name).toBe(to);
      expect(kinds(r.actions)).toBe(actions);
      const timer = r.actions.find((a) => a.type === 'set-timer');
      if (to === 'backup' && timer !== undefined) {
        // Skew_Time after a priority 0 advert, Master_Down_Interval otherwise.
        expect(timer).toEqual({ type: 'set-timer', timer: 'master-down', at: now + (priority === 0 ? SKEW_100 : DOWN_100) });
      }
      if (to === 'backup' && timer === undefined) {
        // Discarded: the down timer keeps its old deadline (RFC 9568 §6.4.2).
        expect(r.state.timers['master-down']).toBe(DOWN_100);
      }
    });
  }
});

describe('two routers on a LAN (scripts on protocol time)', () => {
  it('the higher priority wins the first election, after its own Master_Down_Interval', () => {
    const lan = new Lan();
    lan.router('A', v4('192.0.2.1', { priority: 100 }));
    lan.router('B', v4('192.0.2.2', { priority: 200 }));
    lan.start('A');
    lan.start('B');
    lan.run(10_000);
    expect(lan.transitions.filter((t) => t.to === 'master')).toEqual([{ at: DOWN_200, router: 'B', from: 'backup', to: 'master', reason: 'master-down' }]);
    expect(lan.holders()).toEqual(['B']);
    expect(lan.get('A').state.master).toEqual({ address: '192.0.2.2', priority: 200 });
    // B advertises every second after taking over: at 3218.75, 4218.75, ... 9218.75.
    expect(lan.get('B').sent.map((s) => s.at)).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => DOWN_200 + i * 1000));
    expect(lan.get('A').sent).toEqual([]);
    expect(lan.dualMasterMs).toBe(0);
  });

  it('GARP: 5 at once on becoming master and 5 more 5 s later, as keepalived', () => {
    const lan = new Lan();
    const b = lan.router('B', v4('192.0.2.2', { priority: 200 }));
    lan.start('B');
    lan.run(20_000);
    expect(b.announces).toEqual([
      { at: DOWN_200, count: 5, addresses: ['192.0.2.100'] },
      { at: DOWN_200 + 5000, count: 5, addresses: ['192.0.2.100'] },
    ]);
  });

  it('the schedule is configurable, and a second round never outlives mastership', () => {
    const lan = new Lan();
    const b = lan.router('B', v4('192.0.2.2', { priority: 200, announce: { count: 3, repeatCount: 2, repeatDelayMs: 2000 } }));
    lan.start('B');
    lan.run(DOWN_200 + 1000);
    lan.stop('B');
    lan.run(10_000);
    expect(b.announces).toEqual([{ at: DOWN_200, count: 3, addresses: ['192.0.2.100'] }]);
    const lan2 = new Lan();
    const c = lan2.router('C', v4('192.0.2.3', { priority: 200, announce: { count: 1, repeatCount: 0 } }));
    lan2.start('C');
    lan2.run(20_000);
    expect(c.announces.map((x) => x.count)).toEqual([1]);
  });

  it('periodic refresh while master (keepalived garp_master_refresh), stopped on leaving', () => {
    const lan = new Lan();
    const b = lan.router('B', v4('192.0.2.2', { priority: 200, announce: { repeatCount: 0, refreshMs: 60_000, refreshCount: 2 } }));
    lan.start('B');
    lan.run(200_000);
    expect(b.announces.map((x) => [x.at, x.count])).toEqual([
      [DOWN_200, 5],
      [DOWN_200 + 60_000, 2],
      [DOWN_200 + 120_000, 2],
      [DOWN_200 + 180_000, 2],
    ]);
    lan.stop('B');
    lan.run(200_000);
    expect(b.announces).toHaveLength(4);
    expect(lan.clock.pending).toBe(0);
  });

  it('clean stop: the backup takes over one skew time after the priority 0 advert (RFC 9568 §6.4.2)', () => {
    const lan = new Lan();
    lan.router('A', v4('192.0.2.1', { priority: 100 }));
    lan.router('B', v4('192.0.2.2', { priority: 200 }));
    lan.start('A');
    lan.start('B');
    lan.run(10_000);
    lan.stop('B');
    lan.run(5_000);
    expect(lan.transitions.slice(-2)).toEqual([
      { at: 10_000, router: 'B', from: 'master', to: 'initialize', reason: 'shutdown' },
      { at: 10_000 + SKEW_100, router: 'A', from: 'backup', to: 'master', reason: 'master-stopped' },
    ]);
    expect(lan.noMasterMs).toBe(SKEW_100);
    expect(lan.holders()).toEqual(['A']);
  });

  it('host death (link cut): the backup takes over 3 intervals + skew after the last advert', () => {
    const lan = new Lan();
    lan.router('A', v4('192.0.2.1', { priority: 100 }));
    lan.router('B', v4('192.0.2.2', { priority: 200 }));
    lan.start('A');
    lan.start('B');
    lan.run(10_000);
    const lastAdvert = DOWN_200 + 6000; // 9218.75
    lan.cut('B');
    lan.run(10_000);
    const took = lan.transitions.find((t) => t.router === 'A' && t.to === 'master');
    expect(took).toEqual({ at: lastAdvert + DOWN_100, router: 'A', from: 'backup', to: 'master', reason: 'master-down' });
    // The cut router still holds the address (it is alive, just deaf): both hold it from then on.
    expect(lan.holders().sort()).toEqual(['A', 'B']);
  });

  it('a killed master: same bound as a cut link', () => {
    const lan = new Lan();
    lan.router('A', v4('192.0.2.1', { priority: 100 }));
    lan.router('B', v4('192.0.2.2', { priority: 200 }));
    lan.start('A');
    lan.start('B');
    lan.run(10_000);
    lan.kill('B');
    lan.run(10_000);
    expect(lan.transitions.at(-1)).toMatchObject({ router: 'A', to: 'master', at: DOWN_200 + 6000 + DOWN_100 });
  });

  it('preemption: a higher priority router that starts later takes over and the old master steps down', () => {
    const lan = new Lan();
    lan.router('A', v4('192.0.2.1', { priority: 100 }));
    lan.start('A');
    lan.run(10_000);
    lan.router('B', v4('192.0.2.2', { priority: 200 }));
    lan.start('B');
    lan.run(10_000);
    expect(lan.transitions.slice(-2)).toEqual([
      // B discarded A's lower-priority adverts, so its down timer ran out (RFC 9568 §6.4.2).
      { at: 10_000 + DOWN_200, router: 'B', from: 'backup', to: 'master', reason: 'preempt' },
      { at: 10_000 + DOWN_200, router: 'A', from: 'master', to: 'backup', reason: 'higher-priority' },
    ]);
    expect(lan.holders()).toEqual(['B']);
    expect(lan.dualMasterMs).toBe(0);
  });

  it('with one-way latency the dual-master window is exactly that latency', () => {
    const lan = new Lan(3);
    lan.router('A', v4('192.0.2.1', { priority: 100 }));
    lan.start('A');
    lan.run(10_000);
    lan.router('B', v4('192.0.2.2', { priority: 200 }));
    lan.start('B');
    lan.run(10_000);
    expect(lan.dualMasterMs).toBe(3);
  });

  it('no preempt: a higher priority backup leaves a working master alone', () => {
    const lan = new Lan();
    lan.router('A', v4('192.0.2.1', { priority: 100 }));
    lan.start('A');
    lan.run(10_000);
    const b = lan.router('B', v4('192.0.2.2', { priority: 200, preempt: false }));
    lan.start('B');
    lan.run(3_600_000); // an hour of protocol time
    expect(lan.holders()).toEqual(['A']);
    expect(b.state.name).toBe('backup');
    // Said once, not on each of the 3600 adverts.
    expect(b.actionsOf('notice').map((n) => n.action.code)).toEqual(['preempt-held']);
    // ... but takes over when the master goes.
    lan.stop('A');
    lan.run(1000);
    expect(lan.holders()).toEqual(['B']);
  }, 30_000);

  it('the address owner always preempts, even configured not to', () => {
    const lan = new Lan();
    lan.router('A', v4('192.0.2.1', { priority: 100 }));
    lan.start('A');
    lan.run(10_000);
    lan.router('O', v4('192.0.2.100', { priority: 255, preempt: false }));
    lan.start('O');
    lan.run(100);
    expect(lan.holders()).toEqual(['O']);
    expect(lan.transitions.slice(-2).map((t) => [t.router, t.to, t.reason])).toEqual([
      ['O', 'master', 'owner-startup'],
      ['A', 'backup', 'higher-priority'],
    ]);
  });

  it('preempt delay: the better router follows the master for the delay, then takes over after its skew', () => {
    const lan = new Lan();
    lan.router('A', v4('192.0.2.1', { priority: 100 }));
    lan.start('A');
    lan.run(10_000);
    const b = lan.router('B', v4('192.0.2.2', { priority: 200, preemptDelayMs: 30_000 }));
    lan.start('B');
    lan.run(60_000);
    // A's adverts come at 10_000 + k*1000 (its first at DOWN_100): the first B hears is at 10_609.375.
    const firstHeard = 10_000 + SKEW_100;
    const skew200 = (56 * 1000) / 256;
    expect(lan.transitions.filter((t) => t.router === 'B' && t.to === 'master')).toEqual([
      { at: firstHeard + 30_000 + skew200, router: 'B', from: 'backup', to: 'master', reason: 'preempt' },
    ]);
    expect(b.actionsOf('notice')[0]?.action.code).toBe('preempt-held');
    expect(lan.holders()).toEqual(['B']);
  });

  it('preempt delay restarts when a better master shows up', () => {
    const lan = new Lan();
    lan.router('A', v4('192.0.2.1', { priority: 100 }));
    const b = lan.router('B', v4('192.0.2.2', { priority: 150, preemptDelayMs: 30_000 }));
    lan.start('A');
    lan.run(10_000);
    lan.start('B');
    lan.run(5_000);
    expect(b.state.timers.preempt).toBeDefined();
    lan.router('C', v4('192.0.2.3', { priority: 200 }));
    lan.start('C');
    lan.run(10_000);
    expect(lan.holders()).toEqual(['C']);
    expect(b.state.timers.preempt).toBeUndefined();
    expect(b.state.name).toBe('backup');
  });

  it('equal priorities: the higher primary address wins (RFC 9568 §6.4.3)', () => {
    const lan = new Lan();
    lan.router('A', v4('192.0.2.9', { priority: 100 }));
    lan.router('B', v4('192.0.2.10', { priority: 100 }));
    lan.start('A');
    lan.start('B');
    lan.run(10_000);
    // Both time out together and both become master; on each other's advert the lower address yields.
    expect(lan.holders()).toEqual(['B']);
    expect(lan.transitions.filter((t) => t.to === 'backup' && t.reason === 'higher-priority')).toEqual([
      { at: DOWN_100, router: 'A', from: 'master', to: 'backup', reason: 'higher-priority' },
    ]);
  });

  it('v3: the backup learns the master advert interval and times out on it', () => {
    const lan = new Lan();
    lan.router('A', v4('192.0.2.1', { priority: 100, advertIntervalMs: 1000 }));
    lan.router('B', v4('192.0.2.2', { priority: 200, advertIntervalMs: 100 }));
    lan.start('B');
    lan.run(1000);
    lan.start('A');
    lan.run(1000);
    const a = lan.get('A');
    expect(a.state.masterAdverIntervalMs).toBe(100);
    lan.cut('B');
    const cutAt = lan.now;
    lan.run(5000);
    const took = lan.transitions.find((t) => t.router === 'A' && t.to === 'master');
    // Last advert from B at or before the cut, then 3 * 100 + (156 * 100) / 256 = 360.9375 ms.
    const lastSent = lan.get('B').sent.filter((s) => s.at <= cutAt).at(-1)?.at ?? NaN;
    expect(took?.at).toBe(lastSent + 360.9375);
    // A advertises at its own interval once master.
    const aSent = a.sent.map((s) => s.at);
    expect(aSent[1]! - aSent[0]!).toBe(1000);
  });

  it('v2: no interval learning; down interval from the local interval, skew in seconds', () => {
    const lan = new Lan();
    const cfg = (p: string, priority: number): InstanceConfig => v4(p, { version: 2, priority, advertIntervalMs: 2000 });
    lan.router('A', cfg('192.0.2.1', 100));
    lan.router('B', cfg('192.0.2.2', 200));
    lan.start('A');
    lan.start('B');
    lan.run(20_000);
    expect(lan.transitions.filter((t) => t.to === 'master')).toEqual([{ at: 6000 + 218.75, router: 'B', from: 'backup', to: 'master', reason: 'master-down' }]);
    lan.stop('B');
    lan.run(2000);
    expect(lan.transitions.at(-1)).toMatchObject({ router: 'A', to: 'master', reason: 'master-stopped', at: 20_000 + SKEW_100 });
  });

  for (const firstOver of ['better', 'worse'] as const) {
    it(`split brain heals (the ${firstOver} master's advert crosses first): the better one re-announces, the other yields`, () => {
      const lan = new Lan();
      const a = lan.router('A', v4('192.0.2.1', { priority: 100 }));
      const b = lan.router('B', v4('192.0.2.2', { priority: 200 }));
      lan.start('A');
      lan.start('B');
      lan.run(10_000);
      // The segment between them breaks, but both still reach clients: A takes over too.
      lan.cut('A');
      lan.run(10_000);
      expect(lan.holders().sort()).toEqual(['A', 'B']);
      lan.run(firstOver === 'better' ? 0 : 500);
      lan.restore('A');
      const announcesBefore = b.announces.length;
      lan.run(2_000);
      expect(lan.holders()).toEqual(['B']);
      const yielded = lan.transitions.at(-1);
      expect(yielded).toMatchObject({ router: 'A', from: 'master', to: 'backup', reason: 'higher-priority' });
      const bAdvert = DOWN_200 + 17_000; // 20218.75: B's first advert after the link is back at 20000
      const aAdvert = DOWN_200 + 6000 + DOWN_100 + 8000; // 20828.125: A, master since 12828.125, after the link is back at 20500
      expect(yielded?.at).toBe(firstOver === 'better' ? bAdvert : aAdvert);
      // B answers the lower-priority advert with an advert and a GARP burst at once.
      const heard = a.sent.find((s) => s.at >= 20_000)?.at ?? NaN;
      expect(b.announces.slice(announcesBefore)[0]).toEqual({ at: heard, count: 5, addresses: ['192.0.2.100'] });
      expect(b.sent.some((s) => s.at === heard)).toBe(true);
      expect(b.actionsOf('notice').at(-1)?.action).toMatchObject({ code: 'lower-priority-master' });
    });
  }

  it('without the yield advert, a heal where the better advert crosses first leaves clients on the old MAC', () => {
    const lan = new Lan();
    lan.router('A', v4('192.0.2.1', { priority: 100, yieldAdvert: false }));
    const b = lan.router('B', v4('192.0.2.2', { priority: 200 }));
    lan.start('A');
    lan.start('B');
    lan.run(10_000);
    lan.cut('A');
    lan.run(10_000);
    lan.restore('A');
    const before = b.announces.length;
    lan.run(10_000);
    expect(lan.holders()).toEqual(['B']);
    expect(b.announces.length).toBe(before + 0);
  });

  it('the lower-priority re-announcement can be turned off, and is rate limited', () => {
    const master = step(initialState(v4('192.0.2.2', { priority: 255 })), { type: 'startup' }, 0).state;
    const lower = { type: 'advert' as const, advert: buildAdvert(master, 100), src: '192.0.2.1' };
    let s: VrrpState = master;
    const announcesAt: number[] = [];
    for (let t = 100; t <= 3000; t += 100) {
      const r = step(s, lower, t);
      s = r.state;
      if (r.actions.some((x) => x.type === 'announce')) announcesAt.push(t);
      expect(r.actions[0]).toMatchObject({ type: 'notice', code: 'lower-priority-master' });
      expect(r.actions[1]).toMatchObject({ type: 'send-advert', advert: { priority: 255 } });
    }
    expect(announcesAt).toEqual([100, 1100, 2100]);
    const quiet = step(initialState(v4('192.0.2.2', { priority: 255, announce: { onLowerPriority: false } })), { type: 'startup' }, 0).state;
    expect(step(quiet, { ...lower }, 100).actions.map((x) => x.type)).toEqual(['notice', 'send-advert']);
  });

  it('a split brain that heals again soon after gets its own announcement (rate limit per episode)', () => {
    // 0.1 s adverts: the limit is 1 s; a partition of 0.4 s between two heals ends the first episode.
    const master = step(initialState(v4('192.0.2.2', { priority: 255, advertIntervalMs: 100 })), { type: 'startup' }, 0).state;
    const lower = { type: 'advert' as const, advert: buildAdvert(master, 100), src: '192.0.2.1' };
    let s: VrrpState = master;
    const announcesAt: number[] = [];
    const heard = [100, 200, 300, /* partition: nothing heard for 400 ms */ 700, 800, /* a 300 ms gap is still one episode */ 1100];
    for (const t of heard) {
      const r = step(s, lower, t);
      s = r.state;
      if (r.actions.some((x) => x.type === 'announce')) announcesAt.push(t);
    }
    expect(announcesAt).toEqual([100, 700]);
  });

  it('a master hearing priority 0 from another router advertises at once (RFC 9568 §6.4.3)', () => {
    const master = step(initialState(v4('192.0.2.2', { priority: 200 })), { type: 'startup' }, 0).state;
    const m = step(master, { type: 'timer', timer: 'master-down' }, DOWN_200).state;
    const r = step(m, { type: 'advert', advert: buildAdvert(m, 0), src: '192.0.2.1' }, 4000);
    expect(r.state.name).toBe('master');
    expect(r.actions).toEqual([
      { type: 'send-advert', advert: buildAdvert(m) },
      { type: 'set-timer', timer: 'adver', at: 5000 },
    ]);
  });

  it('an advert from our own address at our priority is a notice, not an election', () => {
    const master = step(initialState(v4('192.0.2.100', { priority: 255 })), { type: 'startup' }, 0).state;
    const r = step(master, { type: 'advert', advert: buildAdvert(master), src: '192.0.2.100' }, 10);
    expect(r.state.name).toBe('master');
    expect(r.actions).toEqual([{ type: 'notice', code: 'own-address', detail: expect.any(String) }]);
  });

  it('tracking lowers a master below its backup: it tells at once, the backup preempts after its down timer', () => {
    const lan = new Lan();
    lan.router('A', v4('192.0.2.1', { priority: 150 }));
    lan.router('B', v4('192.0.2.2', { priority: 200 }));
    lan.start('A');
    lan.start('B');
    lan.run(10_000);
    lan.send('B', { type: 'priority', priority: 100 });
    expect(lan.get('B').sent.at(-1)).toEqual({ at: 10_000, priority: 100 });
    lan.run(10_000);
    expect(lan.holders()).toEqual(['A']);
    // A last accepted B's advert at 9218.75 (priority 200); the priority-100 ones were discarded.
    expect(lan.transitions.at(-2)).toMatchObject({ router: 'A', to: 'master', reason: 'preempt', at: DOWN_200 + 6000 + 3000 + (106 * 1000) / 256 });
    // Restored: B preempts back.
    lan.send('B', { type: 'priority', priority: 200 });
    lan.run(10_000);
    expect(lan.holders()).toEqual(['B']);
  });

  it('IPv6: link-local sources, the same election', () => {
    const lan = new Lan();
    const cfg = (p: string, priority: number): InstanceConfig => ({
      version: 3,
      family: 'ipv6',
      vrid: 52,
      priority,
      advertIntervalMs: 500,
      addresses: ['fe80::52', '2001:db8::52'],
      primaryAddress: p,
    });
    lan.router('A', cfg('fe80::a', 100));
    lan.router('B', cfg('fe80::b', 100));
    lan.start('A');
    lan.start('B');
    lan.run(10_000);
    expect(lan.holders()).toEqual(['B']);
    expect(lan.get('B').announces[0]?.addresses).toEqual(['fe80::52', '2001:db8::52']);
  });

  it('three routers: when the master stops, the best backup wins on its shorter skew time (RFC 9568 §6.1)', () => {
    const lan = new Lan();
    lan.router('A', v4('192.0.2.1', { priority: 100 }));
    lan.router('B', v4('192.0.2.2', { priority: 150 }));
    lan.router('C', v4('192.0.2.3', { priority: 200 }));
    for (const r of ['A', 'B', 'C']) lan.start(r);
    lan.run(10_000);
    expect(lan.holders()).toEqual(['C']);
    lan.stop('C');
    lan.run(10_000);
    // B's skew (256-150)/256 s = 414.0625 ms beats A's 609.375 ms; A then follows B.
    expect(lan.transitions.filter((t) => t.to === 'master').at(-1)).toEqual({
      at: 10_000 + 414.0625,
      router: 'B',
      from: 'backup',
      to: 'master',
      reason: 'master-stopped',
    });
    expect(lan.holders()).toEqual(['B']);
    expect(lan.get('A').state.master).toEqual({ address: '192.0.2.2', priority: 150 });
    expect(lan.dualMasterMs).toBe(0);
  });

  it('v2 simple passwords: a router with the wrong one is deaf to the others (and they to it)', () => {
    const lan = new Lan();
    const cfg = (addr: string, priority: number, pass: string): InstanceConfig =>
      v4(addr, { version: 2, priority, authType: 1, authData: simplePasswordAuthData(pass) });
    lan.router('A', cfg('192.0.2.1', 100, 'secret'));
    lan.router('B', cfg('192.0.2.2', 200, 'secret'));
    const c = lan.router('C', cfg('192.0.2.3', 50, 'wrong'));
    for (const r of ['A', 'B', 'C']) lan.start(r);
    lan.run(10_000);
    expect(lan.holders().sort()).toEqual(['B', 'C']);
    expect(c.invalid).toBeGreaterThan(0);
    expect(lan.get('A').invalid).toBeGreaterThan(0);
    expect(lan.get('A').state.master).toEqual({ address: '192.0.2.2', priority: 200 });
  });

  it('a stray lower-priority advert does not change whom a backup follows', () => {
    const lan = new Lan();
    lan.router('A', v4('192.0.2.1', { priority: 100 }));
    lan.router('B', v4('192.0.2.2', { priority: 200 }));
    const c = lan.router('C', v4('192.0.2.3', { priority: 150 }));
    for (const r of ['A', 'B', 'C']) lan.start(r);
    lan.run(10_000);
    // A stepped down long ago; suppose its yield advert arrives now.
    lan.send('C', { type: 'advert', advert: buildAdvert(lan.get('A').state), src: '192.0.2.1' });
    expect(c.state.master).toEqual({ address: '192.0.2.2', priority: 200 });
    expect(c.state.masterDownCause).toBe('no-master');
    lan.cut('B');
    lan.run(10_000);
    expect(lan.transitions.at(-1)).toMatchObject({ router: 'C', to: 'master', reason: 'master-down' });
  });

  it('long runs stay quiet: two hours of 1 s adverts, half a minute of 10 ms ones, no spurious transition', () => {
    for (const [iv, ms] of [
      [1000, 2 * 3600 * 1000],
      [10, 30 * 1000],
    ] as const) {
      const lan = new Lan();
      lan.router('A', v4('192.0.2.1', { priority: 100, advertIntervalMs: iv }));
      lan.router('B', v4('192.0.2.2', { priority: 200, advertIntervalMs: iv }));
      lan.start('A');
      lan.start('B');
      lan.run(ms, 1_000_000);
      expect(lan.transitions.filter((t) => t.to === 'master')).toHaveLength(1);
      // B's first advert at its down interval (3 iv + skew), then one per interval.
      expect(lan.get('B').sent.length).toBe(Math.floor((ms - 3 * iv - (56 * iv) / 256) / iv) + 1);
      expect(lan.get('A').sent).toHaveLength(0);
    }
  }, 30_000);
});

describe('an lvskit backup fed keepalived\'s captured adverts', () => {
  it('follows keepalived (learning its 0.5 s interval), and takes over one skew time after its priority 0', () => {
    // keepalived: VRID 52, v3 IPv6, priority 200, advert_int 0.5; lvskit: priority 100, configured 1 s.
    const cfg: InstanceConfig = {
      version: 3,
      family: 'ipv6',
      vrid: 52,
      priority: 100,
      advertIntervalMs: 1000,
      addresses: ['fe80::52', '2001:db8::52'],
      primaryAddress: 'fe80::ff:fe00:b',
    };
    let s = step(initialState(cfg), { type: 'startup' }, 0).state;
    const rx = (payload: Uint8Array, now: number): void => {
      const v = validateAdvert({ family: 'ipv6', src: KEEPALIVED_SRC_V6, dst: 'ff02::12', ttl: 255, protocol: 112, payload }, receiveConfigFor(s));
      if (v.kind !== 'ok') throw new Error(`keepalived advert refused: ${JSON.stringify(v)}`);
      expect(v.intervalMismatch).toBe(true); // logged and counted, kept (RFC 9568 §7.1)
      s = step(s, { type: 'advert', advert: v.advert, src: v.src }, now).state;
    };
    for (let t = 100; t <= 10_100; t += 500) rx(KEEPALIVED_V3_V6, t);
    expect(s.name).toBe('backup');
    expect(s.masterAdverIntervalMs).toBe(500);
    // Down interval now 3 * 500 + 156 * 500 / 256 = 1804.6875 ms after the last advert.
    expect(s.timers['master-down']).toBe(10_100 + 1804.6875);
    rx(KEEPALIVED_V3_V6_PRIO0, 10_400);
    expect(s.timers['master-down']).toBe(10_400 + 304.6875);
    const r = step(s, { type: 'timer', timer: 'master-down' }, 10_400 + 304.6875);
    expect(r.state.name).toBe('master');
    expect(r.actions.find((a) => a.type === 'transition')).toMatchObject({ reason: 'master-stopped' });
    // Its first advert is what keepalived expects: v3, VRID 52, the same two addresses.
    expect(r.actions[0]).toEqual({
      type: 'send-advert',
      advert: { version: 3, family: 'ipv6', vrid: 52, priority: 100, maxAdvertIntervalCs: 100, addresses: ['fe80::52', '2001:db8::52'] },
    });
  });
});

describe('state machine invariants (property)', () => {
  const events: fc.Arbitrary<VrrpEvent> = fc.oneof(
    fc.constant<VrrpEvent>({ type: 'startup' }),
    fc.constant<VrrpEvent>({ type: 'shutdown' }),
    fc.constantFrom<VrrpEvent>(
      { type: 'timer', timer: 'adver' },
      { type: 'timer', timer: 'master-down' },
      { type: 'timer', timer: 'announce' },
      { type: 'timer', timer: 'refresh' },
      { type: 'timer', timer: 'preempt' },
    ),
    fc.record({ priority: fc.integer({ min: 1, max: 255 }) }).map((p): VrrpEvent => ({ type: 'priority', priority: p.priority })),
    fc.constantFrom<VrrpEvent>({ type: 'sync', to: 'master' }, { type: 'sync', to: 'backup' }),
    fc
      .record({ priority: fc.integer({ min: 0, max: 255 }), last: fc.integer({ min: 0, max: 3 }), iv: fc.integer({ min: 1, max: 4095 }) })
      .map(
        (x): VrrpEvent => ({
          type: 'advert',
          advert: { version: 3, family: 'ipv4', vrid: 51, priority: x.priority, maxAdvertIntervalCs: x.iv, addresses: ['192.0.2.100'] },
          src: `192.0.2.${x.last}`,
        }),
      ),
  );

  it('losing up to two adverts in a row never fails over; losing three always does (3 x interval + skew)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 5, maxLength: 40 }), fc.integer({ min: 10, max: 200 }), (gaps, ivCs) => {
        const iv = ivCs * 10;
        const lan = new Lan();
        lan.router('A', v4('192.0.2.1', { priority: 100, advertIntervalMs: iv }));
        lan.router('B', v4('192.0.2.2', { priority: 200, advertIntervalMs: iv }));
        lan.start('A');
        lan.start('B');
        lan.run(5 * iv);
        // After the election, B's adverts to A are lost in runs of 0..2 (`gaps`), then three in a row.
        const plan: boolean[] = gaps.flatMap((g) => [...Array<boolean>(g).fill(true), false]);
        plan.push(true, true, true);
        let k = 0;
        lan.lose = (from) => from === 'B' && (plan[k++] ?? true);
        lan.run((plan.length - 3) * iv);
        expect(lan.transitions.filter((t) => t.to === 'master').map((t) => t.router)).toEqual(['B']);
        lan.run(4 * iv);
        expect(lan.transitions.filter((t) => t.to === 'master').map((t) => t.router)).toEqual(['B', 'A']);
      }),
      { numRuns: 50 },
    );
  });

  it('any event sequence keeps the timers consistent with the state', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 255 }),
        fc.boolean(),
        fc.integer({ min: 0, max: 20_000 }),
        fc.boolean(),
        fc.array(fc.tuple(events, fc.integer({ min: 0, max: 5000 })), { maxLength: 60 }),
        (priority, preempt, preemptDelayMs, sync, script) => {
          let s = initialState(v4('192.0.2.2', { priority, preempt, preemptDelayMs, sync, announce: { refreshMs: 30_000 } }));
          let now = 0;
          let holding = false;
          for (const [e, dt] of script) {
            now += dt;
            const r = step(s, e, now);
            s = r.state;
            for (const a of r.actions) {
              if (a.type === 'set-timer') expect(a.at).toBeGreaterThanOrEqual(now);
              if (a.type === 'add-addresses') holding = true;
              if (a.type === 'remove-addresses') holding = false;
              // Announcements only for addresses it holds.
              if (a.type === 'announce') expect(holding).toBe(true);
            }
            // The addresses are held exactly while master (RFC 9568 §6.4.2-3).
            expect(holding).toBe(s.name === 'master');
            if (s.name === 'initialize') expect(s.timers).toEqual({});
            if (s.name === 'master') {
              expect(s.timers.adver).toBeDefined();
              expect(s.timers['master-down']).toBeUndefined();
            }
            if (s.name === 'backup') {
              expect(s.timers.adver).toBeUndefined();
              expect(s.timers.refresh).toBeUndefined();
              // A backup is always waiting for something: its down timer, or its group.
              expect(s.timers['master-down'] !== undefined || s.wantMaster).toBe(true);
            }
          }
        },
      ),
    );
  });
});
