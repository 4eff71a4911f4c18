/**
 * Several VRRP instances on one router, pure: tracking and sync groups on top
 * of the per-instance state machine (fsm.ts). `routerStep(state, event, now)`
 * returns the next state and the actions, each tagged with its instance.
 *
 * Tracking (keepalived's `track_interface` / `track_script` with weights): the
 * application names objects (an interface, a health signal such as a
 * `lvskit/monitors` pool going empty) and feeds `{ type: 'track', object, up }`.
 * An instance that tracks an object with a weight loses that much priority while
 * it is down (kept within 1..254; the address owner's 255 is never moved, RFC 9568
 * §5.2.4); with weight 0 the object is vital: while it is down the instance is
 * shut down (a priority 0 advert if it was master) and stays out, like
 * keepalived's FAULT state, and starts again when it recovers.
 *
 * Sync groups (keepalived `vrrp_sync_group`): instances that fail over
 * together. A member never promotes itself: when its Master_Down_Timer fires it
 * wants to, and the group promotes the members that want it once every member
 * either wants it or is already master. When one member steps down for a better
 * master, the group steps the others down. When one member faults, the whole
 * group is shut down until every member can run again.
 */
import { PRIORITY_OWNER } from './constants.js';
import { VrrpError } from './errors.js';
import { type InstanceConfig, type StateName, type VrrpAction, type VrrpEvent, type VrrpState, buildAdvert, initialState, resolveConfig, step } from './fsm.js';

export interface TrackRef {
  /** Name of a tracked object, as given in `track` events. */
  object: string;
  /** Priority lost while the object is down; 0 (default) means the instance cannot run without it. */
  weight?: number;
}

export interface RouterInstanceConfig extends InstanceConfig {
  /** Unique name of the instance on this router (for logs, events, notify hooks). */
  name: string;
  /**
   * The interface (LAN) the instance runs on. A VRID is unique per interface and
   * family (RFC 9568 §7.1, erratum 8298: "configured on the receiving
   * interface"), so one router may run the same VRID on two interfaces.
   */
  interface?: string;
  track?: readonly TrackRef[];
}

export interface SyncGroupConfig {
  name: string;
  /** Names of member instances (each in at most one group). */
  instances: readonly string[];
}

export interface RouterConfig {
  instances: readonly RouterInstanceConfig[];
  syncGroups?: readonly SyncGroupConfig[];
  /** Tracked objects that are down before the first `track` event (others start up). */
  initiallyDown?: readonly string[];
}

export interface RouterState {
  readonly config: RouterConfig;
  readonly instances: Readonly<Record<string, VrrpState>>;
  /** Tracked objects known down. */
  readonly down: ReadonlySet<string>;
  /** Between `startup` and `shutdown`. */
  readonly running: boolean;
  /** Instance -> its sync group's name. */
  readonly groupOf: Readonly<Record<string, string>>;
}

export type RouterEvent =
  | { type: 'startup' }
  | { type: 'shutdown' }
  /** An event for one instance: its timers and validated adverts. */
  | { type: 'instance'; instance: string; event: VrrpEvent }
  | { type: 'track'; object: string; up: boolean }
  /** New settings for a running instance (a daemon's config reload), applied in place: see `RouterStep.reconfigure`. */
  | { type: 'reconfigure'; instance: RouterInstanceConfig };

/** An instance's action. */
export interface RouterAction {
  instance: string;
  action: VrrpAction;
}

export interface RouterStepResult {
  state: RouterState;
  actions: RouterAction[];
}

/** Build a router in Initialize. Throws `ERR_VRRP_CONFIG` for a bad configuration. */
export function initialRouterState(config: RouterConfig): RouterState {
  const bad = (what: string): never => {
    throw new VrrpError('ERR_VRRP_CONFIG', what);
  };
  const instances: Record<string, VrrpState> = {};
  const groupOf: Record<string, string> = {};
  const vrids = new Set<string>();
  for (const inst of config.instances) {
    if (inst.name === '' || instances[inst.name] !== undefined) bad(`instance name ${JSON.stringify(inst.name)} is empty or used twice`);
    for (const t of inst.track ?? []) {
      const w = t.weight ?? 0;
      if (!Number.isInteger(w) || w < 0 || w > 254) bad(`instance ${inst.name}: track weight ${w} is not 0..254`);
    }
    const s = initialState({ ...inst, sync: false });
    const key = `${inst.interface ?? ''}/${s.config.family}/${s.config.vrid}`;
    // One virtual router per VRID and family on an interface; the driver keys instances by it.
    if (vrids.has(key)) bad(`two instances with VRID ${s.config.vrid} (${s.config.family}) on interface ${JSON.stringify(inst.interface ?? '')}`);
    vrids.add(key);
    instances[inst.name] = s;
  }
  for (const g of config.syncGroups ?? []) {
    for (const name of g.instances) {
      const s = instances[name];
      if (s === undefined) bad(`sync group ${g.name}: no instance ${name}`);
      if (groupOf[name] !== undefined) bad(`instance ${name} is in two sync groups`);
      groupOf[name] = g.name;
      instances[name] = { ...(s as VrrpState), config: { ...(s as VrrpState).config, sync: true } };
    }
  }
  return { config, instances, down: new Set(config.initiallyDown ?? []), running: false, groupOf };
}

/** The priority an instance runs at with the current tracked objects, or `fault` when a vital one is down. */
export function effectivePriority(base: number, track: readonly TrackRef[], down: ReadonlySet<string>): number | 'fault' {
  let loss = 0;
  for (const t of track) {
    if (!down.has(t.object)) continue;
    if ((t.weight ?? 0) === 0) return 'fault';
    loss += t.weight ?? 0;
  }
  if (base === PRIORITY_OWNER) return base; // RFC 9568 §5.2.4: the owner's priority is 255
  return Math.min(254, Math.max(1, base - loss));
}

/** Advance the router by one event at `now` (ms). */
export function routerStep(state: RouterState, event: RouterEvent, now: number): RouterStepResult {
  const r = new RouterStep(state, now);
  switch (event.type) {
    case 'startup':
      if (!state.running) {
        r.set({ running: true });
        for (const name of r.names()) {
          // Start at the priority the tracked objects allow.
          const p = r.priorityOf(name);
          if (p !== 'fault' && p !== r.inst(name).priority) r.deliver(name, { type: 'priority', priority: p });
          if (r.canRun(name)) r.deliver(name, { type: 'startup' });
        }
      }
      break;
    case 'shutdown':
      if (state.running) {
        r.set({ running: false });
        for (const name of r.names()) r.deliver(name, { type: 'shutdown' });
      }
      break;
    case 'instance':
      if (state.instances[event.instance] === undefined) {
        throw new VrrpError('ERR_VRRP_CONFIG', `no instance ${event.instance}`);
      }
      r.deliver(event.instance, event.event);
      break;
    case 'track':
      r.track(event.object, event.up);
      break;
    case 'reconfigure':
      r.reconfigure(event.instance);
      break;
  }
  return { state: r.s, actions: r.actions };
}

class RouterStep {
  s: RouterState;
  readonly actions: RouterAction[] = [];
  readonly now: number;
  /** Bound on cascades: each delivery can trigger group deliveries, never more than this many in one step. */
  #budget: number;

  constructor(s: RouterState, now: number) {
    this.s = s;
    this.now = now;
    this.#budget = 16 * (Object.keys(s.instances).length + 1) ** 2;
  }

  set(patch: Partial<RouterState>): void {
    this.s = { ...this.s, ...patch };
  }

  names(): string[] {
    return this.s.config.instances.map((i) => i.name);
  }

  configOf(name: string): RouterInstanceConfig {
    return this.s.config.instances.find((i) => i.name === name) as RouterInstanceConfig;
  }

  inst(name: string): VrrpState {
    return this.s.instances[name] as VrrpState;
  }

  members(name: string): string[] {
    const g = this.s.groupOf[name];
    if (g === undefined) return [name];
    return this.names().filter((n) => this.s.groupOf[n] === g);
  }

  /** An instance may run when the router runs and no vital object of it, or of its group, is down. */
  canRun(name: string): boolean {
    if (!this.s.running) return false;
    return this.members(name).every((m) => this.priorityOf(m) !== 'fault');
  }

  priorityOf(name: string): number | 'fault' {
    const c = this.configOf(name);
    return effectivePriority(c.priority ?? 100, c.track ?? [], this.s.down);
  }

  deliver(name: string, event: VrrpEvent): void {
    if (--this.#budget < 0) throw new VrrpError('ERR_VRRP_CONFIG', 'sync group cascade did not settle');
    const before = this.inst(name);
    const { state, actions } = step(before, event, this.now);
    this.set({ instances: { ...this.s.instances, [name]: state } });
    for (const action of actions) this.actions.push({ instance: name, action });
    for (const action of actions) {
      if (action.type === 'transition') this.onTransition(name, action.to, action.reason);
      else if (action.type === 'want-master' && action.want) this.promoteIfReady(name);
    }
  }

  /** Sync groups: carry a member's transition to the others. */
  onTransition(name: string, to: StateName, reason: string): void {
    if (this.s.groupOf[name] === undefined || reason === 'sync') return;
    const others = this.members(name).filter((m) => m !== name);
    if (to === 'backup' && reason === 'higher-priority') {
      for (const m of others) if (this.inst(m).name === 'master') this.deliver(m, { type: 'sync', to: 'backup' });
    } else if (to === 'initialize' && reason === 'fault') {
      for (const m of others) if (this.inst(m).name !== 'initialize') this.deliver(m, { type: 'shutdown', fault: true });
    } else if (to === 'master') {
      this.promoteIfReady(name);
    }
  }

  /** Sync groups: promote the members that want mastership once all of them want it or have it. */
  promoteIfReady(name: string): void {
    const ms = this.members(name);
    const ready = ms.every((m) => {
      const s = this.inst(m);
      return s.name === 'master' || (s.name === 'backup' && s.wantMaster);
    });
    if (!ready) return;
    for (const m of ms) {
      const s = this.inst(m);
      if (s.name === 'backup' && s.wantMaster) this.deliver(m, { type: 'sync', to: 'master' });
    }
  }

  /**
   * New settings for an instance, applied in place without a state change where RFC 9568 allows:
   * - interface, VRID, family and version are the virtual router's identity: changing one is
   *   `ERR_VRRP_CONFIG` (remove the instance and add a new one);
   * - addresses: a master removes the ones dropped, adds and announces the new ones (`announce.count`
   *   GARP / NA each) and advertises the new list at once; a backup holds none, so nothing moves;
   * - priority and tracking: the effective priority is worked out as for a `track` event, so a
   *   master advertises a new priority at once and a backup's counts against the next advert it
   *   hears (RFC 9568 §6.4.2); a vital object that is down now shuts the instance (and its sync
   *   group) down, and one no longer tracked lets it start;
   * - the rest (advert interval, preempt, preempt delay, announce, strict) applies where next used:
   *   the next advert, the next timer armed.
   */
  reconfigure(next: RouterInstanceConfig): void {
    const name = next.name;
    const before = this.s.instances[name];
    if (before === undefined) throw new VrrpError('ERR_VRRP_CONFIG', `no instance ${name}`);
    for (const t of next.track ?? []) {
      const w = t.weight ?? 0;
      if (!Number.isInteger(w) || w < 0 || w > 254) throw new VrrpError('ERR_VRRP_CONFIG', `instance ${name}: track weight ${w} is not 0..254`);
    }
    const cfg = resolveConfig({ ...next, sync: before.config.sync });
    const same = (this.configOf(name).interface ?? '') === (next.interface ?? '') && cfg.vrid === before.config.vrid && cfg.family === before.config.family && cfg.version === before.config.version;
    if (!same) throw new VrrpError('ERR_VRRP_CONFIG', `instance ${name}: interface, VRID, family and version cannot change in place`);
    this.set({
      config: { ...this.s.config, instances: this.s.config.instances.map((i) => (i.name === name ? next : i)) },
      instances: { ...this.s.instances, [name]: { ...before, config: cfg } },
    });
    if (before.name === 'master') {
      const gone = before.config.addresses.filter((a) => !cfg.addresses.includes(a));
      const added = cfg.addresses.filter((a) => !before.config.addresses.includes(a));
      if (gone.length > 0) this.actions.push({ instance: name, action: { type: 'remove-addresses', addresses: gone } });
      if (added.length > 0) {
        this.actions.push({ instance: name, action: { type: 'add-addresses', addresses: added } });
        if (cfg.announce.count > 0) this.actions.push({ instance: name, action: { type: 'announce', family: cfg.family, addresses: added, count: cfg.announce.count } });
      }
      if (gone.length + added.length > 0) this.actions.push({ instance: name, action: { type: 'send-advert', advert: buildAdvert(this.inst(name)) } });
    }
    if (!this.s.running) return;
    for (const m of this.members(name)) {
      if (!this.canRun(m)) {
        if (this.inst(m).name !== 'initialize') this.deliver(m, { type: 'shutdown', fault: true });
        continue;
      }
      const p = this.priorityOf(m);
      if (p !== 'fault' && p !== this.inst(m).priority) this.deliver(m, { type: 'priority', priority: p });
      if (this.inst(m).name === 'initialize') this.deliver(m, { type: 'startup' });
    }
  }

  track(object: string, up: boolean): void {
    if (up === !this.s.down.has(object)) return;
    const down = new Set(this.s.down);
    if (up) down.delete(object);
    else down.add(object);
    this.set({ down });
    const affected = this.names().filter((n) => (this.configOf(n).track ?? []).some((t) => t.object === object));
    // Whole groups fault and recover together.
    const touched = new Set(affected.flatMap((n) => this.members(n)));
    for (const name of this.names()) {
      if (!touched.has(name)) continue;
      const s = this.inst(name);
      const p = this.priorityOf(name);
      if (!this.canRun(name)) {
        if (s.name !== 'initialize') this.deliver(name, { type: 'shutdown', fault: true });
        continue;
      }
      if (p !== 'fault' && p !== s.priority) this.deliver(name, { type: 'priority', priority: p });
      if (this.inst(name).name === 'initialize') this.deliver(name, { type: 'startup' });
    }
  }
}
