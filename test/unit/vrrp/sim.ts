/**
 * A simulated LAN of VRRP routers for the state machine tests, on the shared
 * `FakeClock` (protocol milliseconds, no real time): routers that carry out the
 * state machine's actions the way a driver would (one timer per name, a newer
 * set-timer replacing the older), and a wire that encodes every advert,
 * validates it on each receiver (codec + receive validation + state machine
 * together) and can be cut per router. Tests read as scripts:
 *
 *     const lan = new Lan();
 *     lan.router('A', v4('192.0.2.1', { priority: 100 }));
 *     lan.start('A');
 *     lan.run(10_000); // ten seconds of protocol time
 *     expect(lan.holders()).toEqual(['A']);
 */
import { FakeClock, type TimerHandle } from '../../../src/util/clock.js';
import { encodeAdvert } from '../../../src/vrrp/codec.js';
import { type ReceiveConfig, validateAdvert } from '../../../src/vrrp/codec-receive.js';
import {
  type InstanceConfig,
  type StateName,
  type TimerName,
  type TransitionReason,
  type VrrpAction,
  type VrrpEvent,
  type VrrpState,
  initialState,
  receiveConfigFor,
  step,
} from '../../../src/vrrp/fsm.js';
import { VRRP_GROUP_V4, VRRP_GROUP_V6 } from '../../../src/vrrp/constants.js';
import { type RouterConfig, type RouterEvent, type RouterState, initialRouterState, routerStep } from '../../../src/vrrp/fsm-group.js';

export interface Transition {
  at: number;
  router: string;
  from: StateName;
  to: StateName;
  reason: TransitionReason;
}

export class SimRouter {
  state: VrrpState;
  readonly timerAt = new Map<TimerName, number>();
  readonly vips = new Set<string>();
  /** Every action with its time, for assertions. */
  readonly log: { at: number; action: VrrpAction }[] = [];
  linkUp = true;
  /** Priority the adverts carry (what peers saw), by send time. */
  readonly sent: { at: number; priority: number }[] = [];
  readonly announces: { at: number; count: number; addresses: readonly string[] }[] = [];
  invalid = 0;

  constructor(
    readonly name: string,
    config: InstanceConfig,
  ) {
    this.state = initialState(config);
  }

  get receiveConfig(): ReceiveConfig {
    return receiveConfigFor(this.state);
  }

  actionsOf<T extends VrrpAction['type']>(type: T): { at: number; action: Extract<VrrpAction, { type: T }> }[] {
    return this.log.filter((e) => e.action.type === type) as { at: number; action: Extract<VrrpAction, { type: T }> }[];
  }
}

export class Lan {
  /** Protocol time, on the shared fake clock (util/clock.ts), as a driver would use it. */
  readonly clock = new FakeClock();
  readonly routers = new Map<string, SimRouter>();
  readonly transitions: Transition[] = [];
  /** Time during which more than one router held the addresses (dual master), in ms. */
  dualMasterMs = 0;
  /** Time during which no router held the addresses (after the first one took them), in ms. */
  noMasterMs = 0;
  #handles = new Map<SimRouter, Map<TimerName, TimerHandle>>();
  #accountedTo = 0;
  #everHeld = false;

  /** Loses an advert on the wire when it returns true. */
  lose: ((from: string, to: string, at: number) => boolean) | undefined;

  /** One-way delay of an advert on the wire. */
  constructor(readonly latencyMs = 0) {}

  get now(): number {
    return this.clock.now();
  }

  router(name: string, config: InstanceConfig): SimRouter {
    const r = new SimRouter(name, config);
    this.routers.set(name, r);
    this.#handles.set(r, new Map());
    return r;
  }

  get(name: string): SimRouter {
    const r = this.routers.get(name);
    if (r === undefined) throw new Error(`no router ${name}`);
    return r;
  }

  /** Deliver an event to a router now (startup, shutdown, priority, sync...). */
  send(name: string, event: VrrpEvent): void {
    this.#apply(this.get(name), event);
  }

  start(name: string): void {
    this.send(name, { type: 'startup' });
  }
  stop(name: string): void {
    this.send(name, { type: 'shutdown' });
  }
  cut(name: string): void {
    this.get(name).linkUp = false;
  }
  restore(name: string): void {
    this.get(name).linkUp = true;
  }
  /** A crash: the process dies without a priority 0 advert; its addresses stay (a host death is `cut`). */
  kill(name: string): void {
    const r = this.get(name);
    for (const h of this.#handles.get(r)?.values() ?? []) h.cancel();
    r.timerAt.clear();
    r.linkUp = false;
  }

  /** Advance protocol time by `ms`, firing timers and deliveries in order (bounded by `maxEvents`). */
  run(ms: number, maxEvents = 1_000_000): void {
    this.clock.advance(ms, maxEvents);
    this.#account();
  }

  /** Names of the routers holding the addresses now. */
  holders(): string[] {
    return [...this.routers.values()].filter((r) => r.vips.size > 0).map((r) => r.name);
  }

  /** Add the time since the last event to the dual-master / no-master totals. */
  #account(): void {
    const dt = this.now - this.#accountedTo;
    if (dt > 0) {
      const h = this.holders().length;
      if (h > 1) this.dualMasterMs += dt;
      if (h === 0 && this.#everHeld) this.noMasterMs += dt;
    }
    this.#accountedTo = this.now;
  }

  #apply(r: SimRouter, event: VrrpEvent): void {
    this.#account();
    const { state, actions } = step(r.state, event, this.now);
    r.state = state;
    for (const action of actions) {
      r.log.push({ at: this.now, action });
      this.#carryOut(r, action);
    }
  }

  #carryOut(r: SimRouter, a: VrrpAction): void {
    const handles = this.#handles.get(r) as Map<TimerName, TimerHandle>;
    switch (a.type) {
      case 'set-timer': {
        // A driver keeps one timer per name: a newer one replaces the older.
        handles.get(a.timer)?.cancel();
        r.timerAt.set(a.timer, a.at);
        const timer = a.timer;
        handles.set(
          timer,
          this.clock.setTimer(a.at - this.now, () => {
            handles.delete(timer);
            r.timerAt.delete(timer);
            this.#apply(r, { type: 'timer', timer });
          }),
        );
        break;
      }
      case 'cancel-timer':
        handles.get(a.timer)?.cancel();
        handles.delete(a.timer);
        r.timerAt.delete(a.timer);
        break;
      case 'add-addresses':
        for (const x of a.addresses) r.vips.add(x);
        this.#everHeld = true;
        break;
      case 'remove-addresses':
        for (const x of a.addresses) r.vips.delete(x);
        break;
      case 'announce':
        r.announces.push({ at: this.now, count: a.count, addresses: a.addresses });
        break;
      case 'transition':
        this.transitions.push({ at: a.at, router: r.name, from: a.from, to: a.to, reason: a.reason });
        break;
      case 'send-advert': {
        r.sent.push({ at: this.now, priority: a.advert.priority });
        if (!r.linkUp) break;
        const v6 = r.state.config.family === 'ipv6';
        const src = r.state.config.primaryAddress;
        const dst = v6 ? VRRP_GROUP_V6 : VRRP_GROUP_V4;
        const payload = encodeAdvert(a.advert, { src, dst });
        for (const peer of this.routers.values()) {
          if (peer === r || !peer.linkUp) continue;
          if (this.lose?.(r.name, peer.name, this.now) === true) continue;
          const verdict = validateAdvert({ family: r.state.config.family, src, dst, ttl: 255, protocol: 112, payload }, peer.receiveConfig);
          if (verdict.kind === 'invalid') peer.invalid++;
          if (verdict.kind !== 'ok') continue;
          this.clock.setTimer(this.latencyMs, () => {
            if (peer.linkUp) this.#apply(peer, { type: 'advert', advert: verdict.advert, src });
          });
        }
        break;
      }
      case 'want-master':
      case 'notice':
        break;
    }
  }
}

/** A v3 IPv4 instance on 192.0.2.0/24 protecting 192.0.2.100, VRID 51. */
export function v4(primary: string, over: Partial<InstanceConfig> = {}): InstanceConfig {
  return { version: 3, family: 'ipv4', vrid: 51, priority: 100, advertIntervalMs: 1000, addresses: ['192.0.2.100'], primaryAddress: primary, ...over };
}

/**
 * Routers with several instances (tracking, sync groups) on several segments:
 * each VRID is its own segment, which can be cut per router.
 */
export class GroupLan {
  readonly clock = new FakeClock();
  readonly nodes = new Map<string, GroupNode>();
  readonly transitions: (Transition & { instance: string })[] = [];

  get now(): number {
    return this.clock.now();
  }

  node(name: string, config: RouterConfig): GroupNode {
    const n = new GroupNode(name, initialRouterState(config));
    this.nodes.set(name, n);
    return n;
  }

  get(name: string): GroupNode {
    const n = this.nodes.get(name);
    if (n === undefined) throw new Error(`no node ${name}`);
    return n;
  }

  send(name: string, event: RouterEvent): void {
    this.#apply(this.get(name), event);
  }

  /** Cut (or restore) one router's link to the segment of `vrid`. */
  setLink(name: string, vrid: number, up: boolean): void {
    const n = this.get(name);
    if (up) n.cut.delete(vrid);
    else n.cut.add(vrid);
  }

  /** Which nodes hold the addresses of `vrid`. */
  holders(vrid: number): string[] {
    return [...this.nodes.values()].filter((n) => n.vips.get(vrid)?.size).map((n) => n.name);
  }

  run(ms: number, maxEvents = 1_000_000): void {
    this.clock.advance(ms, maxEvents);
  }

  #apply(n: GroupNode, event: RouterEvent): void {
    const { state, actions } = routerStep(n.state, event, this.now);
    n.state = state;
    for (const { instance, action } of actions) {
      n.log.push({ at: this.now, instance, action });
      const inst = state.instances[instance] as VrrpState;
      const vrid = inst.config.vrid;
      const key = `${instance}/${action.type === 'set-timer' || action.type === 'cancel-timer' ? action.timer : ''}`;
      switch (action.type) {
        case 'set-timer': {
          n.handles.get(key)?.cancel();
          const timer = action.timer;
          n.handles.set(
            key,
            this.clock.setTimer(action.at - this.now, () => {
              n.handles.delete(key);
              this.#apply(n, { type: 'instance', instance, event: { type: 'timer', timer } });
            }),
          );
          break;
        }
        case 'cancel-timer':
          n.handles.get(key)?.cancel();
          n.handles.delete(key);
          break;
        case 'add-addresses':
          n.vips.set(vrid, new Set([...(n.vips.get(vrid) ?? []), ...action.addresses]));
          break;
        case 'remove-addresses':
          n.vips.set(vrid, new Set([...(n.vips.get(vrid) ?? [])].filter((x) => !action.addresses.includes(x))));
          break;
        case 'transition':
          this.transitions.push({ at: action.at, router: n.name, instance, from: action.from, to: action.to, reason: action.reason });
          break;
        case 'send-advert': {
          n.sent.push({ at: this.now, instance, priority: action.advert.priority });
          if (n.cut.has(vrid)) break;
          const src = inst.config.primaryAddress;
          const dst = inst.config.family === 'ipv6' ? VRRP_GROUP_V6 : VRRP_GROUP_V4;
          const payload = encodeAdvert(action.advert, { src, dst });
          for (const peer of this.nodes.values()) {
            if (peer === n || peer.cut.has(vrid)) continue;
            for (const [pname, ps] of Object.entries(peer.state.instances)) {
              const c = ps.config;
              if (c.family !== inst.config.family) continue;
              const v = validateAdvert({ family: c.family, src, dst, ttl: 255, protocol: 112, payload }, receiveConfigFor(ps));
              if (v.kind !== 'ok') continue;
              this.clock.setTimer(0, () => this.#apply(peer, { type: 'instance', instance: pname, event: { type: 'advert', advert: v.advert, src } }));
            }
          }
          break;
        }
        default:
          break;
      }
    }
  }
}

export class GroupNode {
  readonly handles = new Map<string, TimerHandle>();
  readonly vips = new Map<number, Set<string>>();
  readonly cut = new Set<number>();
  readonly log: { at: number; instance: string; action: VrrpAction }[] = [];
  readonly sent: { at: number; instance: string; priority: number }[] = [];

  constructor(
    readonly name: string,
    public state: RouterState,
  ) {}

  stateOf(instance: string): StateName | undefined {
    return this.state.instances[instance]?.name;
  }
}
