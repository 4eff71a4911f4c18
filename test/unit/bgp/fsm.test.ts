/**
 * The RFC 4271 §8 FSM, driven as scripts on a fake clock: each test reads as
 * "at time t this happens; the FSM does that". Hours of protocol time run in
 * milliseconds.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FakeClock } from '../../../src/util/clock.js';
import type { TimerHandle } from '../../../src/util/clock.js';
import { createFsm, defaultCapabilities, LARGE_HOLD_MS, localOpen, negotiate, step } from '../../../src/bgp/fsm.js';
import type { FsmAction, FsmConfig, FsmEmit, FsmEvent, FsmState, TimerName } from '../../../src/bgp/fsm.js';
import type { Capability, OpenMessage } from '../../../src/bgp/codec-open.js';
import type { DecodedMessage } from '../../../src/bgp/codec.js';
import { bgpError } from '../../../src/bgp/errors.js';
import { shutdownNotification } from '../../../src/bgp/codec-messages.js';

const S = 1000;
const MIN = 60 * S;
const HOUR = 60 * MIN;

/** Runs the FSM the way a session driver would: timers on a FakeClock, actions recorded. */
class Script {
  readonly clock = new FakeClock();
  state: FsmState;
  readonly log: { at: number; action: FsmAction }[] = [];
  readonly #timers = new Map<TimerName, TimerHandle>();

  constructor(config: Partial<FsmConfig> = {}) {
    this.state = createFsm({
      localAs: 65001,
      routerId: '10.0.0.1',
      peerAs: 65002,
      capabilities: defaultCapabilities({ localAs: 65001, families: [{ afi: 1, safi: 1 }, { afi: 2, safi: 1 }] }),
      jitter: false,
      ...config,
    });
  }

  get name(): string {
    return this.state.name;
  }

  do(event: FsmEvent): FsmAction[] {
    const r = step(this.state, event, this.clock.now());
    this.state = r.state;
    for (const a of r.actions) {
      this.log.push({ at: this.clock.now(), action: a });
      if (a.type === 'set-timer') {
        this.#timers.get(a.timer)?.cancel();
        this.#timers.set(a.timer, this.clock.setTimer(a.at - this.clock.now(), () => {
          this.#timers.delete(a.timer);
          this.do({ type: 'timer', timer: a.timer });
        }));
      } else if (a.type === 'clear-timer') {
        this.#timers.get(a.timer)?.cancel();
        this.#timers.delete(a.timer);
      }
    }
    return r.actions;
  }

  /** Let `ms` of protocol time pass; returns what the FSM did meanwhile. */
  wait(ms: number): FsmAction[] {
    const from = this.log.length;
    this.clock.advance(ms);
    return this.log.slice(from).map((l) => l.action);
  }

  mark(): number {
    return this.log.length;
  }
  since(mark: number): { at: number; action: FsmAction }[] {
    return this.log.slice(mark);
  }
}

const sends = (actions: FsmAction[], conn?: number): string[] =>
  actions
    .filter((a): a is Extract<FsmAction, { type: 'send' }> => a.type === 'send' && (conn === undefined || a.conn === conn))
    .map((a) => (a.message.kind === 'notification' ? `notification ${a.message.notification.code}/${a.message.notification.subcode}` : a.message.kind));
const emits = (actions: FsmAction[]): FsmEmit[] =>
  actions.filter((a): a is Extract<FsmAction, { type: 'emit' }> => a.type === 'emit').map((a) => a.event);
const emitted = (actions: FsmAction[], kind: FsmEmit['kind']): FsmEmit[] => emits(actions).filter((e) => e.kind === kind);
const has = (actions: FsmAction[], type: FsmAction['type']): boolean => actions.some((a) => a.type === type);

function open(o: { as?: number; id?: string; hold?: number; caps?: Capability[] } = {}): DecodedMessage {
  const m: OpenMessage = {
    version: 4,
    myAs: o.as ?? 65002,
    holdTime: o.hold ?? 90,
    bgpId: o.id ?? '10.0.0.2',
    capabilities: o.caps ?? defaultCapabilities({ localAs: o.as ?? 65002, families: [{ afi: 1, safi: 1 }, { afi: 2, safi: 1 }] }),
  };
  return { kind: 'open', open: m };
}
const KEEPALIVE: DecodedMessage = { kind: 'keepalive' };
const UPDATE: DecodedMessage = { kind: 'update', update: { kind: 'update', update: { withdrawn: [], attributes: {}, nlri: [] }, discarded: [] } };

/** Bring a script to Established on connection `conn` (outbound). */
function establish(s: Script, peer: DecodedMessage = open(), conn = 1): void {
  if (s.name === 'Idle') s.do({ type: 'start' });
  s.do({ type: 'tcp-connected', conn, direction: 'outbound' });
  s.do({ type: 'message', conn, message: peer });
  s.do({ type: 'message', conn, message: KEEPALIVE });
  expect(s.name).toBe('Established');
}

describe('FSM: opening a session (RFC 4271 §8.2.2)', () => {
  it('Idle -> Connect -> OpenSent -> OpenConfirm -> Established, sending OPEN then KEEPALIVE', () => {
    const s = new Script();
    let a = s.do({ type: 'start' });
    expect(s.name).toBe('Connect');
    expect(has(a, 'connect')).toBe(true);
    expect(s.state.timers.connectRetry).toBe(5 * S);

    expect(s.wait(1 * S)).toEqual([]); // the connect takes a second; nothing else happens
    a = s.do({ type: 'tcp-connected', conn: 1, direction: 'outbound' });
    expect(sends(a)).toEqual(['open']);
    const sentOpen = a.find((x) => x.type === 'send');
    expect(sentOpen?.type === 'send' && sentOpen.message).toEqual({ kind: 'open', open: localOpen(s.state.config) });
    expect(s.name).toBe('OpenSent');
    expect(s.state.timers.hold).toBe(1 * S + LARGE_HOLD_MS); // "a large value" (§8.2.2)
    expect(s.state.timers.connectRetry).toBeUndefined();

    a = s.do({ type: 'message', conn: 1, message: open({ hold: 30 }) });
    expect(sends(a)).toEqual(['keepalive']);
    expect(s.name).toBe('OpenConfirm');
    expect(s.state.timers.hold).toBe(1 * S + 30 * S); // min(90, 30)
    expect(s.state.timers.keepalive).toBe(1 * S + 10 * S); // 30 / 3

    a = s.do({ type: 'message', conn: 1, message: KEEPALIVE });
    expect(s.name).toBe('Established');
    const est = emitted(a, 'established')[0];
    expect(est?.kind === 'established' && est.session).toMatchObject({
      peerAs: 65002,
      peerId: '10.0.0.2',
      holdTime: 30,
      keepaliveTime: 10,
      fourOctetAs: true,
      routeRefresh: true,
      enhancedRouteRefresh: true,
      families: [{ afi: 1, safi: 1 }, { afi: 2, safi: 1 }],
    });
    expect(emitted(s.since(0).map((l) => l.action), 'state').map((e) => (e.kind === 'state' ? e.to : ''))).toEqual([
      'Connect',
      'OpenSent',
      'OpenConfirm',
      'Established',
    ]);
  });

  it('keeps a session up for 6 hours with KEEPALIVEs every third of the hold time', () => {
    const s = new Script();
    establish(s, open({ hold: 90 }));
    const mark = s.mark();
    // The peer sends a KEEPALIVE every 30 s for 6 hours.
    for (let t = 0; t < 6 * HOUR; t += 30 * S) {
      s.wait(30 * S);
      s.do({ type: 'message', conn: 1, message: KEEPALIVE });
    }
    const done = s.since(mark).map((l) => l.action);
    expect(s.name).toBe('Established');
    expect(sends(done).filter((k) => k === 'keepalive')).toHaveLength((6 * HOUR) / (30 * S));
    expect(emitted(done, 'down')).toEqual([]);
  });

  it('expires the hold timer when the peer goes quiet: NOTIFICATION 4/0, close, Idle, then restart', () => {
    const s = new Script();
    establish(s, open({ hold: 9 }));
    const t0 = s.clock.now();
    const a = s.wait(9 * S);
    expect(sends(a)).toEqual(['keepalive', 'keepalive', 'notification 4/0']); // keepalives at 3 s and 6 s
    expect(has(a, 'close')).toBe(true);
    expect(emitted(a, 'down')).toEqual([{ kind: 'down', reason: { kind: 'hold-timer-expired' }, graceful: false }]);
    expect(s.name).toBe('Idle');
    // A session that lived 9 s is a flap: idle hold 5 s, then AutomaticStart (§8.1.1).
    expect(s.state.timers.idleHold).toBe(t0 + 9 * S + 5 * S);
    const b = s.wait(5 * S);
    expect(has(b, 'connect')).toBe(true);
    expect(s.name).toBe('Connect');
  });

  it('runs no hold or keepalive timer when the hold time negotiates to zero, for 10 hours', () => {
    const s = new Script({ holdTime: 0 });
    establish(s, open({ hold: 90 }));
    expect(s.state.timers).toEqual({});
    const a = s.wait(10 * HOUR);
    expect(a).toEqual([]);
    expect(s.name).toBe('Established');
  });

  it('negotiates the smaller hold time and honours a lower configured keepalive', () => {
    const cfg: FsmConfig = { localAs: 65001, routerId: '10.0.0.1', peerAs: 65002, holdTime: 240, keepaliveTime: 5, capabilities: [] };
    const peer = (open({ hold: 180, caps: [] }) as Extract<DecodedMessage, { kind: 'open' }>).open;
    expect(negotiate(cfg, peer)).toMatchObject({
      holdTime: 180,
      keepaliveTime: 5,
      fourOctetAs: false,
      families: [{ afi: 1, safi: 1 }], // no MP capability on either side: IPv4 unicast (RFC 4760 §8)
    });
  });

  it('negotiates ADD-PATH per direction and family (RFC 7911 §4) and extended messages only when both sent it', () => {
    const ours: Capability[] = [
      { kind: 'add-path', families: [{ afi: 1, safi: 1, direction: 'receive' }, { afi: 2, safi: 1, direction: 'both' }] },
      { kind: 'extended-message' },
      { kind: 'four-octet-as', asn: 65001 },
    ];
    const theirs: OpenMessage = {
      version: 4,
      myAs: 65002,
      holdTime: 90,
      bgpId: '10.0.0.2',
      capabilities: [{ kind: 'add-path', families: [{ afi: 1, safi: 1, direction: 'send' }, { afi: 2, safi: 1, direction: 'receive' }] }, { kind: 'extended-message' }],
    };
    const n = negotiate({ localAs: 65001, routerId: '10.0.0.1', peerAs: 65002, capabilities: ours }, theirs);
    expect(n.addPath).toEqual({ receive: { ipv4: true, ipv6: false }, send: { ipv4: false, ipv6: true } });
    expect(n.extendedMessage).toBe(true);
    expect(n.fourOctetAs).toBe(false);
    expect(n.decodeOptions).toEqual({ fourOctetAs: false, extendedMessage: true, addPath: { ipv4: true, ipv6: false }, external: true });
  });

  it('announces AS_TRANS in the OPEN of a 4-octet AS (RFC 6793 §4.1)', () => {
    const cfg: FsmConfig = { localAs: 4200000001, routerId: '10.0.0.1', peerAs: 65002, capabilities: defaultCapabilities({ localAs: 4200000001 }) };
    expect(localOpen(cfg)).toMatchObject({ myAs: 23456, holdTime: 90 });
    expect(cfg.capabilities).toContainEqual({ kind: 'four-octet-as', asn: 4200000001 });
  });
});

describe('FSM: connecting and retrying', () => {
  it('backs off exponentially from 5 s to 120 s while connects hang (no jitter)', () => {
    const s = new Script();
    s.do({ type: 'start' });
    const mark = s.mark();
    s.wait(20 * MIN);
    const connects = s.since(mark).filter((l) => l.action.type === 'connect').map((l) => l.at / S);
    // Attempts at 5, 15, 35, 75, 155 s (waits 5, 10, 20, 40, 80), then every 120 s.
    expect(connects.slice(0, 8)).toEqual([5, 15, 35, 75, 155, 275, 395, 515]);
    expect(s.since(mark).filter((l) => l.action.type === 'abort-connect')).toHaveLength(connects.length);
  });

  it('jitters each interval into [0.75, 1] of its value (RFC 4271 §10), the same way for the same seed', () => {
    const gaps = (seed: number): number[] => {
      const s = new Script({ jitter: true, seed });
      s.do({ type: 'start' }); // the first connect, at 0
      s.wait(30 * MIN);
      const t = s.log.filter((l) => l.action.type === 'connect').map((l) => l.at);
      return t.slice(1).map((x, i) => x - (t[i] as number));
    };
    const a = gaps(42);
    expect(gaps(42)).toEqual(a);
    expect(gaps(43)).not.toEqual(a);
    const bases = [5, 10, 20, 40, 80, 120, 120, 120, 120, 120].map((x) => x * S);
    expect(a.length).toBeGreaterThanOrEqual(bases.length);
    bases.forEach((base, i) => {
      expect(a[i]).toBeGreaterThanOrEqual(Math.floor(0.75 * base));
      expect(a[i]).toBeLessThanOrEqual(base);
    });
    // Jitter actually moves things: not every gap sits on its base.
    expect(a.slice(0, bases.length).filter((g, i) => g !== bases[i]).length).toBeGreaterThan(5);
  });

  it('goes Idle when the connection is refused and retries with growing delays, capped', () => {
    const s = new Script();
    s.do({ type: 'start' });
    const starts: number[] = [];
    for (let i = 0; i < 10; i++) {
      s.do({ type: 'tcp-connect-failed' });
      expect(s.name).toBe('Idle');
      const due = s.state.timers.idleHold as number;
      starts.push((due - s.clock.now()) / S);
      s.wait(due - s.clock.now());
      expect(s.name).toBe('Connect');
    }
    expect(starts).toEqual([10, 20, 40, 80, 120, 120, 120, 120, 120, 120]);
  });

  it('waits in Active without ever connecting when passive, for hours, then answers an inbound connection', () => {
    const s = new Script({ passive: true });
    s.do({ type: 'start' });
    expect(s.name).toBe('Active');
    expect(s.wait(5 * HOUR)).toEqual([]);
    const a = s.do({ type: 'tcp-connected', conn: 7, direction: 'inbound' });
    expect(sends(a, 7)).toEqual(['open']);
    expect(s.name).toBe('OpenSent');
    // Peer closes during OpenSent: back to Active, still never connecting out.
    s.do({ type: 'tcp-closed', conn: 7 });
    expect(s.name).toBe('Active');
    expect(s.wait(HOUR).filter((x) => x.type === 'connect')).toEqual([]);
  });

  it('refuses an inbound connection while Idle (§8.2.2)', () => {
    const s = new Script();
    expect(s.do({ type: 'tcp-connected', conn: 3, direction: 'inbound' })).toEqual([{ type: 'close', conn: 3 }]);
    expect(s.name).toBe('Idle');
  });

  it('takes an inbound connection in Connect and lets its own attempt finish as the second connection (§6.8)', () => {
    const s = new Script();
    s.do({ type: 'start' });
    let a = s.do({ type: 'tcp-connected', conn: 9, direction: 'inbound' });
    expect(has(a, 'abort-connect')).toBe(false);
    expect(sends(a, 9)).toEqual(['open']);
    expect(s.name).toBe('OpenSent');
    a = s.do({ type: 'tcp-connected', conn: 10, direction: 'outbound' });
    expect(sends(a, 10)).toEqual(['open']);
    expect(s.state.other).toMatchObject({ id: 10, direction: 'outbound' });
    // Or it fails, which changes nothing.
    const t = new Script();
    t.do({ type: 'start' });
    t.do({ type: 'tcp-connected', conn: 9, direction: 'inbound' });
    expect(t.do({ type: 'tcp-connect-failed' })).toEqual([]);
    expect(t.name).toBe('OpenSent');
  });
});

describe('FSM: idle hold damping for flapping peers (§8.1.1 DampPeerOscillations)', () => {
  it('doubles the idle hold with each quick flap, caps it, and resets it after a stable session', () => {
    const s = new Script({ idleHold: { initialMs: 10 * S, maxMs: 80 * S, stableMs: MIN } });
    const holds: number[] = [];
    for (let i = 0; i < 6; i++) {
      establish(s, open(), i + 1);
      s.wait(20 * S); // stays up 20 s: a flap
      s.do({ type: 'tcp-closed', conn: i + 1 });
      holds.push(((s.state.timers.idleHold as number) - s.clock.now()) / S);
      s.wait((s.state.timers.idleHold as number) - s.clock.now());
    }
    expect(holds).toEqual([10, 20, 40, 80, 80, 80]);
    establish(s, open(), 100);
    for (let t = 0; t < 10 * MIN; t += 30 * S) {
      s.wait(30 * S);
      s.do({ type: 'message', conn: 100, message: KEEPALIVE });
    }
    s.do({ type: 'tcp-closed', conn: 100 });
    // Stable for 10 minutes: damping reset; only the connect backoff (5 s) remains.
    expect((s.state.timers.idleHold as number) - s.clock.now()).toBe(5 * S);
  });
});

describe('FSM: DelayOpen (§8.1.1, §8.2.2)', () => {
  it('waits for the peer to speak first, then answers OPEN + KEEPALIVE and goes to OpenConfirm', () => {
    const s = new Script({ delayOpenTime: 5 });
    s.do({ type: 'start' });
    let a = s.do({ type: 'tcp-connected', conn: 1, direction: 'outbound' });
    expect(sends(a)).toEqual([]);
    expect(s.name).toBe('Connect');
    s.wait(2 * S);
    a = s.do({ type: 'message', conn: 1, message: open() });
    expect(sends(a)).toEqual(['open', 'keepalive']);
    expect(s.name).toBe('OpenConfirm');
  });

  it('sends OPEN when the DelayOpenTimer expires', () => {
    const s = new Script({ delayOpenTime: 5 });
    s.do({ type: 'start' });
    s.do({ type: 'tcp-connected', conn: 1, direction: 'outbound' });
    const a = s.wait(5 * S);
    expect(sends(a)).toEqual(['open']);
    expect(s.name).toBe('OpenSent');
  });

  it('goes to Active when the connection drops during DelayOpen', () => {
    const s = new Script({ delayOpenTime: 5 });
    s.do({ type: 'start' });
    s.do({ type: 'tcp-connected', conn: 1, direction: 'outbound' });
    s.do({ type: 'tcp-closed', conn: 1 });
    expect(s.name).toBe('Active');
    expect(s.state.timers.delayOpen).toBeUndefined();
    expect(s.state.timers.connectRetry).toBeDefined();
  });
});

describe('FSM: errors and NOTIFICATIONs', () => {
  it('refuses an OPEN from the wrong AS with Bad Peer AS (§6.2)', () => {
    const s = new Script();
    s.do({ type: 'start' });
    s.do({ type: 'tcp-connected', conn: 1, direction: 'outbound' });
    const a = s.do({ type: 'message', conn: 1, message: open({ as: 65099 }) });
    expect(sends(a)).toEqual(['notification 2/2']);
    expect(s.name).toBe('Idle');
    expect(emitted(a, 'attempt-failed')).toHaveLength(1);
  });

  it('refuses our own BGP identifier on iBGP (RFC 6286 §2.2)', () => {
    const s = new Script({ peerAs: 65001 });
    s.do({ type: 'start' });
    s.do({ type: 'tcp-connected', conn: 1, direction: 'outbound' });
    expect(sends(s.do({ type: 'message', conn: 1, message: open({ as: 65001, id: '10.0.0.1' }) }))).toEqual(['notification 2/3']);
  });

  it('answers unexpected messages with the FSM Error subcodes of RFC 6608', () => {
    const a = new Script();
    a.do({ type: 'start' });
    a.do({ type: 'tcp-connected', conn: 1, direction: 'outbound' });
    expect(sends(a.do({ type: 'message', conn: 1, message: UPDATE }))).toEqual(['notification 5/1']);

    const b = new Script();
    b.do({ type: 'start' });
    b.do({ type: 'tcp-connected', conn: 1, direction: 'outbound' });
    b.do({ type: 'message', conn: 1, message: open() });
    expect(sends(b.do({ type: 'message', conn: 1, message: UPDATE }))).toEqual(['notification 5/2']);

    const c = new Script();
    establish(c);
    expect(sends(c.do({ type: 'message', conn: 1, message: open() }))).toEqual(['notification 5/3']);
    expect(c.name).toBe('Idle');
  });

  it('sends the NOTIFICATION of a decode error and ends the session', () => {
    const s = new Script();
    establish(s);
    const a = s.do({ type: 'decode-error', conn: 1, error: bgpError(3, 1, 'bad') });
    expect(sends(a)).toEqual(['notification 3/1']);
    expect(emitted(a, 'down')[0]).toMatchObject({ reason: { kind: 'notification-sent' }, graceful: false });
  });

  it('ends the session on a NOTIFICATION from the peer, without answering it', () => {
    const s = new Script();
    establish(s);
    const n = shutdownNotification('bye');
    const a = s.do({ type: 'message', conn: 1, message: { kind: 'notification', notification: n } });
    expect(sends(a)).toEqual([]);
    expect(emitted(a, 'down')).toEqual([{ kind: 'down', reason: { kind: 'notification-received', notification: n }, graceful: false }]);
  });

  it('passes UPDATEs and ROUTE-REFRESH up in Established and restarts the hold timer on each', () => {
    const s = new Script();
    establish(s);
    s.wait(60 * S);
    const a = s.do({ type: 'message', conn: 1, message: UPDATE });
    expect(emitted(a, 'update')).toHaveLength(1);
    expect(s.state.timers.hold).toBe(s.clock.now() + 90 * S);
    const b = s.do({ type: 'message', conn: 1, message: { kind: 'route-refresh', routeRefresh: { afi: 1, safi: 1, subtype: 0 } } });
    expect(emitted(b, 'route-refresh')).toEqual([{ kind: 'route-refresh', message: { afi: 1, safi: 1, subtype: 0 } }]);
  });

  it('ignores messages and closes from connections it does not know', () => {
    const s = new Script();
    establish(s);
    expect(s.do({ type: 'message', conn: 42, message: UPDATE })).toEqual([]);
    expect(s.do({ type: 'tcp-closed', conn: 42 })).toEqual([]);
    expect(s.name).toBe('Established');
  });
});

describe('FSM: ManualStop and AutomaticStop', () => {
  it('sends Cease / Administrative Shutdown with the shutdown communication and stays down for good', () => {
    const s = new Script();
    establish(s);
    const n = shutdownNotification('director maintenance');
    const a = s.do({ type: 'stop', notification: n });
    expect(a.find((x) => x.type === 'send')).toEqual({ type: 'send', conn: 1, message: { kind: 'notification', notification: n } });
    expect(emitted(a, 'down')).toEqual([{ kind: 'down', reason: { kind: 'stopped' }, graceful: false }]);
    expect(s.name).toBe('Idle');
    expect(s.state.timers).toEqual({});
    expect(s.wait(24 * HOUR)).toEqual([]);
    // A later start begins afresh.
    expect(has(s.do({ type: 'start' }), 'connect')).toBe(true);
  });

  it('closes without a NOTIFICATION when stopped silently (graceful restart, RFC 4724 §4.2)', () => {
    const s = new Script();
    establish(s);
    const a = s.do({ type: 'stop', silent: true });
    expect(sends(a)).toEqual([]);
    expect(a).toContainEqual({ type: 'close', conn: 1 });
    expect(s.name).toBe('Idle');
  });

  it('stops an attempt in Connect by abandoning the connect', () => {
    const s = new Script();
    s.do({ type: 'start' });
    const a = s.do({ type: 'stop' });
    expect(has(a, 'abort-connect')).toBe(true);
    expect(sends(a)).toEqual([]);
  });

  it('restarts after an AutomaticStop (e.g. maximum prefixes, RFC 4486)', () => {
    const s = new Script();
    establish(s);
    const a = s.do({ type: 'automatic-stop', notification: { code: 6, subcode: 1, data: new Uint8Array(0) } });
    expect(sends(a)).toEqual(['notification 6/1']);
    expect(s.state.timers.idleHold).toBeDefined();
    s.wait(MIN);
    expect(s.name).toBe('Connect');
  });
});

describe('FSM: connection collisions (§6.8)', () => {
  function collide(localId: string, peerId: string): { s: Script; all: FsmAction[] } {
    const s = new Script({ routerId: localId });
    s.do({ type: 'start' });
    const all: FsmAction[] = [];
    all.push(...s.do({ type: 'tcp-connected', conn: 1, direction: 'outbound' }));
    all.push(...s.do({ type: 'tcp-connected', conn: 2, direction: 'inbound' }));
    expect(sends(all, 2)).toEqual(['open']);
    all.push(...s.do({ type: 'message', conn: 1, message: open({ id: peerId }) }));
    expect(s.name).toBe('OpenConfirm');
    all.push(...s.do({ type: 'message', conn: 2, message: open({ id: peerId }) }));
    return { s, all };
  }

  it('keeps our outbound connection when our BGP identifier is higher', () => {
    const { s, all } = collide('10.0.0.9', '10.0.0.2');
    expect(sends(all, 2)).toEqual(['open', 'notification 6/7']);
    expect(all).toContainEqual({ type: 'close', conn: 2 });
    expect(emitted(all, 'collision')).toEqual([{ kind: 'collision', kept: 1, closed: 2 }]);
    s.do({ type: 'message', conn: 1, message: KEEPALIVE });
    expect(s.name).toBe('Established');
    expect(s.state.conn?.id).toBe(1);
  });

  it("keeps the peer's connection when its BGP identifier is higher", () => {
    const { s, all } = collide('10.0.0.1', '10.0.0.2');
    expect(sends(all, 1)).toEqual(['open', 'keepalive', 'notification 6/7']);
    expect(sends(all, 2)).toEqual(['open', 'keepalive']);
    expect(emitted(all, 'collision')).toEqual([{ kind: 'collision', kept: 2, closed: 1 }]);
    expect(s.name).toBe('OpenConfirm');
    s.do({ type: 'message', conn: 2, message: KEEPALIVE });
    expect(s.name).toBe('Established');
    expect(s.state.conn).toMatchObject({ id: 2, direction: 'inbound' });
  });

  it('closes a new connection that collides with an Established session', () => {
    const s = new Script();
    establish(s);
    const a = s.do({ type: 'tcp-connected', conn: 5, direction: 'inbound' });
    expect(sends(a, 5)).toEqual(['notification 6/7']);
    expect(a).toContainEqual({ type: 'close', conn: 5 });
    expect(s.name).toBe('Established');
  });

  it('closes the second connection once the first reaches Established', () => {
    const s = new Script();
    s.do({ type: 'start' });
    s.do({ type: 'tcp-connected', conn: 1, direction: 'outbound' });
    s.do({ type: 'message', conn: 1, message: open() });
    s.do({ type: 'tcp-connected', conn: 2, direction: 'inbound' });
    const a = s.do({ type: 'message', conn: 1, message: KEEPALIVE });
    expect(sends(a, 2)).toEqual(['notification 6/7']);
    expect(s.state.other).toBeUndefined();
  });
});

describe('FSM: graceful restart (RFC 4724, RFC 8538)', () => {
  const grCaps = (n: boolean): Capability[] =>
    defaultCapabilities({ localAs: 65002, families: [{ afi: 1, safi: 1 }], gracefulRestart: { restartTime: 120, notification: n } });

  it('reports a lost TCP connection as graceful when the peer can restart gracefully', () => {
    const s = new Script();
    establish(s, open({ caps: grCaps(false) }));
    const a = s.do({ type: 'tcp-closed', conn: 1 });
    expect(emitted(a, 'down')).toEqual([{ kind: 'down', reason: { kind: 'tcp-closed' }, graceful: true }]);
  });

  it('treats a new connection with an OPEN from an Established GR peer as its restart (§4.2)', () => {
    const s = new Script();
    establish(s, open({ caps: grCaps(false) }));
    let a = s.do({ type: 'tcp-connected', conn: 2, direction: 'inbound' });
    expect(sends(a, 2)).toEqual(['open']);
    a = s.do({ type: 'message', conn: 2, message: open({ caps: grCaps(false) }) });
    expect(a).toContainEqual({ type: 'close', conn: 1 });
    expect(emitted(a, 'down')).toEqual([{ kind: 'down', reason: { kind: 'peer-restarted' }, graceful: true }]);
    expect(s.name).toBe('OpenConfirm');
    s.do({ type: 'message', conn: 2, message: KEEPALIVE });
    expect(s.name).toBe('Established');
  });

  it('keeps routes on a NOTIFICATION only when both sides set the N bit, and never on Hard Reset (RFC 8538 §3)', () => {
    const mk = (ourN: boolean, theirN: boolean, subcode: number): boolean => {
      const s = new Script({
        capabilities: defaultCapabilities({ localAs: 65001, gracefulRestart: { restartTime: 120, notification: ourN } }),
      });
      establish(s, open({ caps: grCaps(theirN) }));
      const a = s.do({ type: 'message', conn: 1, message: { kind: 'notification', notification: { code: 6, subcode, data: new Uint8Array(0) } } });
      const d = emitted(a, 'down')[0];
      return d?.kind === 'down' && d.graceful;
    };
    expect(mk(true, true, 2)).toBe(true);
    expect(mk(true, false, 2)).toBe(false);
    expect(mk(false, true, 2)).toBe(false);
    expect(mk(true, true, 9)).toBe(false); // Hard Reset
  });
});

describe('FSM properties', () => {
  const event: fc.Arbitrary<FsmEvent | { type: 'wait'; ms: number }> = fc.oneof(
    fc.constant({ type: 'start' as const }),
    fc.constant({ type: 'stop' as const }),
    fc.constantFrom(...(['connectRetry', 'hold', 'keepalive', 'delayOpen', 'idleHold'] as TimerName[])).map((timer) => ({ type: 'timer' as const, timer })),
    fc.record({ type: fc.constant('tcp-connected' as const), conn: fc.integer({ min: 1, max: 4 }), direction: fc.constantFrom('inbound' as const, 'outbound' as const) }),
    fc.constant({ type: 'tcp-connect-failed' as const }),
    fc.record({ type: fc.constant('tcp-closed' as const), conn: fc.integer({ min: 1, max: 4 }) }),
    fc.record({
      type: fc.constant('message' as const),
      conn: fc.integer({ min: 1, max: 4 }),
      message: fc.oneof(
        fc.constant(KEEPALIVE),
        fc.constant(UPDATE),
        fc.constantFrom('10.0.0.0', '10.0.0.2', '10.0.0.1', '192.0.2.1').map((id) => open({ id })),
        fc.constant(open({ as: 1 })),
        fc.constant<DecodedMessage>({ kind: 'notification', notification: { code: 6, subcode: 2, data: new Uint8Array(0) } }),
      ),
    }),
    fc.record({ type: fc.constant('decode-error' as const), conn: fc.integer({ min: 1, max: 4 }), error: fc.constant(bgpError(1, 1, 'x')) }),
    fc.record({ type: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 10 * MIN }) }),
  );

  it('never throws, keeps its timers in step with its actions, and keeps its invariants (property)', () => {
    fc.assert(
      fc.property(
        fc.array(event, { maxLength: 60 }),
        fc.record({ passive: fc.boolean(), delayOpenTime: fc.constantFrom(0, 3), holdTime: fc.constantFrom(0, 3, 90), jitter: fc.boolean() }),
        (events, cfg) => {
          const s = new Script(cfg);
          for (const e of events) {
            if (e.type === 'wait') s.wait(e.ms);
            else s.do(e);
            const st = s.state;
            // Established means a negotiated session on a live connection.
            if (st.name === 'Established' || st.name === 'OpenConfirm') {
              expect(st.conn).toBeDefined();
              expect(st.session).toBeDefined();
            }
            if (st.name === 'Idle') {
              expect(st.conn).toBeUndefined();
              expect(st.other).toBeUndefined();
              expect(Object.keys(st.timers).every((t) => t === 'idleHold')).toBe(true);
            }
            if (st.name === 'Established' && st.session !== undefined && st.session.holdTime === 0) expect(st.timers.hold).toBeUndefined();
            if (cfg.passive) expect(s.log.some((l) => l.action.type === 'connect')).toBe(false);
            // Every running timer is in the future (or now).
            for (const at of Object.values(st.timers)) expect(at).toBeGreaterThanOrEqual(s.clock.now());
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('ignores stale timer events (a timer cleared or re-armed since)', () => {
    const s = new Script();
    establish(s);
    const before = s.state;
    expect(s.do({ type: 'timer', timer: 'hold' })).toEqual([]); // not due yet
    expect(s.do({ type: 'timer', timer: 'connectRetry' })).toEqual([]); // not running
    expect(s.state.timers).toEqual(before.timers);
  });

  it('does not modify the state it was given', () => {
    const s = new Script();
    const st = s.state;
    const copy = JSON.stringify(st);
    step(st, { type: 'start' }, 0);
    expect(JSON.stringify(st)).toBe(copy);
  });
});
