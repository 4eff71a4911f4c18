/**
 * The VRRP state machine of RFC 9568 §6.4 (Initialize, Backup, Master; RFC 9568
 * says "Active" for Master) and, for version 2, RFC 3768 §6.4. Pure:
 * `step(state, event, now)` returns the next state and the actions to carry out,
 * as data, in order. It reads no clock: `now` is monotonic milliseconds, timers
 * are deadlines in the state, and the driver turns `set-timer` / `cancel-timer`
 * actions into real timers that come back as `timer` events.
 *
 * Beyond the RFC, as keepalived does (and the issue asks):
 * - A master hearing a lower-priority advert re-advertises at once (RFC 9568
 *   §6.4.3) and also re-sends its GARP/NA burst, so clients that followed the
 *   other router during a split brain come back (keepalived
 *   `garp_lower_prio_repeat`); at most once per `max(advert interval, 1 s)`.
 * - GARP/NA on becoming master: `announce.count` at once, `announce.repeatCount`
 *   more after `announce.repeatDelayMs` (keepalived: 5, 5, 5 s), and optionally
 *   every `announce.refreshMs` while master (keepalived `garp_master_refresh`).
 * - A master that steps down for a better one sends one last advert at its own
 *   priority (`yieldAdvert`, default on). When a split brain heals, the better
 *   master's advert may reach the other one first; without this the better master
 *   never hears a lower-priority advert, never re-announces, and clients keep the
 *   stepped-down router's MAC until their neighbour entry expires (the seconds of
 *   black hole measured with keepalived). A backup following a better master
 *   ignores that advert; one that does not preempt (or a keepalived backup) may
 *   follow it until the real master's next advert.
 * - Preempt delay (keepalived `preempt_delay`): a backup that outranks the
 *   master keeps accepting its adverts for `preemptDelayMs` after first hearing
 *   it, then takes over after the skew time.
 * - Sync groups: an instance with `sync: true` does not promote itself when its
 *   Master_Down_Timer fires; it says it wants to (`want-master`) and waits for a
 *   `sync` event from its group (see fsm-group.ts). A master the group steps down
 *   sends priority 0, so the peer instance takes over after its skew time.
 */
import { type AddressFamily, canonicalIp, compareIp, isIpv6LinkLocal, parseIp } from './address.js';
import type { Advert } from './codec.js';
import type { ReceiveConfig } from './codec-receive.js';
import {
  ANNOUNCE_COUNT_DEFAULT,
  ANNOUNCE_REPEAT_COUNT_DEFAULT,
  ANNOUNCE_REPEAT_DELAY_MS_DEFAULT,
  AUTH_NONE,
  AUTH_SIMPLE_TEXT,
  MAX_ADDRESSES,
  MAX_ADVERT_INTERVAL_V2_S,
  MAX_ADVERT_INTERVAL_V3_CS,
  PRIORITY_OWNER,
  PRIORITY_STOP,
  VRRP_V2_AUTH_DATA_LENGTH,
} from './constants.js';
import { VrrpError } from './errors.js';

export interface AnnounceConfig {
  /** GARP / NA per address at once on becoming master (default 5). */
  count?: number;
  /** More per address after `repeatDelayMs` (default 5; 0 for none). */
  repeatCount?: number;
  /** Delay of the second round (default 5000 ms). */
  repeatDelayMs?: number;
  /** Re-announce when a master hears a lower-priority advert (default true). */
  onLowerPriority?: boolean;
  /** While master, announce again every `refreshMs` (keepalived `garp_master_refresh`); 0 (default) for never. */
  refreshMs?: number;
  /** GARP / NA per address at each refresh (keepalived `garp_master_refresh_repeat`, default 1). */
  refreshCount?: number;
}

export interface InstanceConfig {
  version: 2 | 3;
  family: AddressFamily;
  /** Virtual Router Identifier 1..255 (RFC 9568 §5.2.3). */
  vrid: number;
  /** 255 for the address owner, else 1..254 (RFC 9568 §5.2.4). Default 100. */
  priority?: number;
  /**
   * Advertisement_Interval in ms (RFC 9568 §6.1): v3 a multiple of 10 up to
   * 40950 (12 bits of centiseconds), v2 a multiple of 1000 up to 255000. Default 1000.
   */
  advertIntervalMs?: number;
  /** The virtual addresses; for IPv6 the first is link-local (RFC 9568 §5.2.9). */
  addresses: readonly string[];
  /** This router's primary address on the interface (v6: its link-local): the advert source and tie breaker (RFC 9568 §6.4.3, §7.2). */
  primaryAddress: string;
  /** Preempt_Mode (RFC 9568 §6.1), default true. The owner always preempts. */
  preempt?: boolean;
  /** keepalived-style preempt delay in ms, default 0. */
  preemptDelayMs?: number;
  /** VRRPv2 Auth Type (0 or RFC 2338's 1) and its 8 data bytes. */
  authType?: number;
  authData?: Uint8Array;
  announce?: AnnounceConfig;
  /** Send one advert at our priority when stepping down for a better master (see above). Default true. */
  yieldAdvert?: boolean;
  /** Promotion is decided by a sync group (fsm-group.ts). Default false. */
  sync?: boolean;
  /**
   * IPv6 rules of RFC 9568 §5.2.9 and §7.2: the first address and the advert
   * source are link-local. Default true; false accepts global ones, as keepalived
   * does outside `vrrp_strict` (it only logs) and with unicast peers.
   */
  strict?: boolean;
}

/** `InstanceConfig` with defaults applied and addresses in canonical form. */
export interface ResolvedInstanceConfig {
  readonly version: 2 | 3;
  readonly family: AddressFamily;
  readonly vrid: number;
  readonly priority: number;
  readonly advertIntervalMs: number;
  readonly addresses: readonly string[];
  readonly primaryAddress: string;
  readonly preempt: boolean;
  readonly preemptDelayMs: number;
  readonly authType: number;
  readonly authData: Uint8Array;
  readonly announce: Required<AnnounceConfig>;
  readonly yieldAdvert: boolean;
  readonly sync: boolean;
}

export type StateName = 'initialize' | 'backup' | 'master';
export type TimerName = 'adver' | 'master-down' | 'announce' | 'refresh' | 'preempt';

/** Why the Master_Down_Timer is running: what its firing will mean. */
export type MasterDownCause = 'no-master' | 'master-stopped' | 'preempt';

export type TransitionReason =
  /** Initialize -> Backup on Startup (RFC 9568 §6.4.1). */
  | 'startup'
  /** Initialize -> Master: the address owner starts (RFC 9568 §6.4.1). */
  | 'owner-startup'
  /** Backup -> Master: no advert within Master_Down_Interval (RFC 9568 §6.4.2). */
  | 'master-down'
  /** Backup -> Master: the master sent priority 0, we waited Skew_Time (RFC 9568 §6.4.2). */
  | 'master-stopped'
  /** Backup -> Master: we outrank the master and discarded its adverts (Preempt_Mode, RFC 9568 §6.4.2). */
  | 'preempt'
  /** Master -> Backup: a higher priority, or equal priority from a higher address (RFC 9568 §6.4.3). */
  | 'higher-priority'
  /** Any -> Initialize on Shutdown (RFC 9568 §6.4.2-3). */
  | 'shutdown'
  /** Any -> Initialize: a tracked object the instance depends on failed (a Shutdown with a cause). */
  | 'fault'
  /** Decided by the instance's sync group. */
  | 'sync';

export type NoticeCode =
  /** A master heard a lower-priority advert: split brain healing, or a misconfigured peer. */
  | 'lower-priority-master'
  /** An advert with our priority from our own address: a loop or an address conflict. */
  | 'own-address'
  /** A backup outranks the master but preempt is off, or its delay is running. */
  | 'preempt-held';

export type VrrpAction =
  | { type: 'send-advert'; advert: Advert }
  | { type: 'set-timer'; timer: TimerName; at: number }
  | { type: 'cancel-timer'; timer: TimerName }
  | { type: 'add-addresses'; addresses: readonly string[] }
  | { type: 'remove-addresses'; addresses: readonly string[] }
  /** Send `count` gratuitous ARPs (IPv4) or unsolicited NAs (IPv6) for each address. */
  | { type: 'announce'; family: AddressFamily; addresses: readonly string[]; count: number }
  | { type: 'transition'; from: StateName; to: StateName; reason: TransitionReason; at: number }
  /** Sync groups: the Master_Down_Timer fired (want: true) or a master was heard again (false). */
  | { type: 'want-master'; want: boolean; cause: MasterDownCause }
  | { type: 'notice'; code: NoticeCode; detail: string };

export type VrrpEvent =
  | { type: 'startup' }
  /** Shutdown (RFC 9568 §6.4.2-3); `fault` marks one caused by a failed tracked object. */
  | { type: 'shutdown'; fault?: boolean }
  | { type: 'timer'; timer: TimerName }
  /** A validated advert (see `validateAdvert`) and its IP source. */
  | { type: 'advert'; advert: Advert; src: string }
  /** A new effective priority (tracking, see fsm-group.ts); 1..255. */
  | { type: 'priority'; priority: number }
  /** A sync group's decision (see fsm-group.ts). */
  | { type: 'sync'; to: 'master' | 'backup' };

export interface VrrpState {
  readonly config: ResolvedInstanceConfig;
  readonly name: StateName;
  /** The local Priority in use (configured, or as tracking moved it). */
  readonly priority: number;
  /** Master_Adver_Interval / Active_Adver_Interval in ms: learnt from the master in v3 (RFC 9568 §6.1). */
  readonly masterAdverIntervalMs: number;
  /** Deadlines (ms) of the armed timers. */
  readonly timers: Readonly<Partial<Record<TimerName, number>>>;
  readonly masterDownCause: MasterDownCause;
  /** The master last heard (address and priority), if any. */
  readonly master: { readonly address: string; readonly priority: number } | undefined;
  /** Preempt delay has run out: lower-priority adverts are discarded from now on. */
  readonly preemptReady: boolean;
  /** Sync groups: the Master_Down_Timer fired while held. */
  readonly wantMaster: boolean;
  /** When the last lower-priority re-announcement was sent (rate limit). */
  readonly lastLowerPriorityAnnounce: number | undefined;
  /** When the last lower-priority advert was heard (a gap ends an episode: see onAdvertAsMaster). */
  readonly lastLowerPrioritySeen: number | undefined;
}

export interface StepResult {
  state: VrrpState;
  actions: VrrpAction[];
}

/** Check and complete a configuration. Throws `ERR_VRRP_CONFIG`. */
export function resolveConfig(c: InstanceConfig): ResolvedInstanceConfig {
  const bad = (what: string): never => {
    throw new VrrpError('ERR_VRRP_CONFIG', `VRRP instance (VRID ${String(c.vrid)}): ${what}`);
  };
  if (c.version !== 2 && c.version !== 3) bad(`version ${String(c.version)} is neither 2 nor 3`);
  if (c.family !== 'ipv4' && c.family !== 'ipv6') bad(`family ${String(c.family)}`);
  if (c.version === 2 && c.family !== 'ipv4') bad('VRRPv2 is IPv4 only (RFC 3768); use version 3 for IPv6');
  if (!Number.isInteger(c.vrid) || c.vrid < 1 || c.vrid > 255) bad(`VRID ${c.vrid} is not 1..255 (RFC 9568 §5.2.3)`);
  const priority = c.priority ?? 100;
  if (!Number.isInteger(priority) || priority < 1 || priority > 255) bad(`priority ${priority} is not 1..255 (RFC 9568 §5.2.4)`);
  const iv = c.advertIntervalMs ?? 1000;
  if (c.version === 3 && (!Number.isInteger(iv / 10) || iv < 10 || iv / 10 > MAX_ADVERT_INTERVAL_V3_CS)) {
    bad(`advert interval ${iv} ms is not 10..40950 in steps of 10 (RFC 9568 §5.2.7)`);
  }
  if (c.version === 2 && (!Number.isInteger(iv / 1000) || iv < 1000 || iv / 1000 > MAX_ADVERT_INTERVAL_V2_S)) {
    bad(`advert interval ${iv} ms is not 1..255 s in whole seconds (RFC 3768 §5.3.7)`);
  }
  if (c.addresses.length === 0 || c.addresses.length > MAX_ADDRESSES) bad(`${c.addresses.length} addresses: 1..255 needed (RFC 9568 §5.2.5)`);
  let addresses: string[] = [];
  let primaryAddress = '';
  try {
    addresses = c.addresses.map((a) => canonicalIp(a, c.family));
    primaryAddress = canonicalIp(c.primaryAddress, c.family);
  } catch (e) {
    bad(e instanceof Error ? e.message : String(e));
  }
  if (new Set(addresses).size !== addresses.length) bad('an address is listed twice');
  if (c.family === 'ipv6' && (c.strict ?? true)) {
    if (!isIpv6LinkLocal(addresses[0] as string)) bad(`the first IPv6 address must be link-local (RFC 9568 §5.2.9), not ${addresses[0]}`);
    if (!isIpv6LinkLocal(primaryAddress)) bad(`the IPv6 source must be the interface's link-local address (RFC 9568 §7.2)`);
  }
  const preemptDelayMs = c.preemptDelayMs ?? 0;
  if (!(preemptDelayMs >= 0) || !Number.isFinite(preemptDelayMs)) bad(`preempt delay ${preemptDelayMs}`);
  const authType = c.authType ?? AUTH_NONE;
  if (c.version === 3 && authType !== AUTH_NONE) bad('VRRPv3 has no authentication (RFC 9568 §9)');
  // RFC 3768 §5.3.6: 0; RFC 2338's 1 (simple text) for keepalived. 2 (IP AH) is a different IP protocol, not offered.
  if (authType !== AUTH_NONE && authType !== AUTH_SIMPLE_TEXT) bad(`auth type ${authType}: 0 (none) or 1 (simple text password) only`);
  const authData = c.authData ?? new Uint8Array(VRRP_V2_AUTH_DATA_LENGTH);
  if (authData.length !== VRRP_V2_AUTH_DATA_LENGTH) bad(`auth data is ${authData.length} bytes, not 8`);
  const a = c.announce ?? {};
  const announce: Required<AnnounceConfig> = {
    count: a.count ?? ANNOUNCE_COUNT_DEFAULT,
    repeatCount: a.repeatCount ?? ANNOUNCE_REPEAT_COUNT_DEFAULT,
    repeatDelayMs: a.repeatDelayMs ?? ANNOUNCE_REPEAT_DELAY_MS_DEFAULT,
    onLowerPriority: a.onLowerPriority ?? true,
    refreshMs: a.refreshMs ?? 0,
    refreshCount: a.refreshCount ?? 1,
  };
  for (const [k, v] of Object.entries(announce)) {
    const max = k === 'repeatDelayMs' || k === 'refreshMs' ? 86_400_000 : 100;
    if (typeof v === 'number' && (!Number.isInteger(v) || v < 0 || v > max)) bad(`announce.${k} ${v}`);
  }
  return {
    version: c.version,
    family: c.family,
    vrid: c.vrid,
    priority,
    advertIntervalMs: iv,
    addresses,
    primaryAddress,
    preempt: c.preempt ?? true,
    preemptDelayMs,
    authType,
    authData,
    announce,
    yieldAdvert: c.yieldAdvert ?? true,
    sync: c.sync ?? false,
  };
}

/** A new instance in Initialize (RFC 9568 §6.4.1). Throws `ERR_VRRP_CONFIG` for a bad configuration. */
export function initialState(config: InstanceConfig): VrrpState {
  const cfg = resolveConfig(config);
  return {
    config: cfg,
    name: 'initialize',
    priority: cfg.priority,
    masterAdverIntervalMs: cfg.advertIntervalMs,
    timers: {},
    masterDownCause: 'no-master',
    master: undefined,
    preemptReady: false,
    wantMaster: false,
    lastLowerPriorityAnnounce: undefined,
    lastLowerPrioritySeen: undefined,
  };
}

/** Skew_Time in ms: v3 ((256 - Priority) * Master_Adver_Interval) / 256 (RFC 9568 §6.1); v2 (256 - Priority) / 256 s (RFC 3768 §6.1). */
export function skewTimeMs(s: Pick<VrrpState, 'config' | 'priority' | 'masterAdverIntervalMs'>): number {
  const base = s.config.version === 3 ? s.masterAdverIntervalMs : 1000;
  return ((256 - s.priority) * base) / 256;
}

/** Master_Down_Interval in ms: 3 * Master_Adver_Interval + Skew_Time (RFC 9568 §6.1; v2: the local Advertisement_Interval, RFC 3768 §6.1). */
export function masterDownIntervalMs(s: Pick<VrrpState, 'config' | 'priority' | 'masterAdverIntervalMs'>): number {
  const iv = s.config.version === 3 ? s.masterAdverIntervalMs : s.config.advertIntervalMs;
  return 3 * iv + skewTimeMs(s);
}

/** The advert this instance sends at `priority` (default its own). */
export function buildAdvert(s: VrrpState, priority = s.priority): Advert {
  const c = s.config;
  if (c.version === 3) {
    return { version: 3, family: c.family, vrid: c.vrid, priority, maxAdvertIntervalCs: c.advertIntervalMs / 10, addresses: c.addresses.slice() };
  }
  return {
    version: 2,
    family: 'ipv4',
    vrid: c.vrid,
    priority,
    advertIntervalS: c.advertIntervalMs / 1000,
    authType: c.authType,
    authData: c.authData.slice(),
    addresses: c.addresses.slice(),
  };
}

/**
 * What `validateAdvert` needs to check adverts for this instance, from its
 * configuration; `extra` adds the receive-only settings (unicast peers, TTL check,
 * accepted checksum forms, v2 address mismatch handling).
 */
export function receiveConfigFor(s: VrrpState, extra: Partial<ReceiveConfig> = {}): ReceiveConfig {
  const c = s.config;
  return {
    version: c.version,
    family: c.family,
    vrid: c.vrid,
    addresses: c.addresses,
    advertIntervalMs: c.advertIntervalMs,
    authType: c.authType,
    authData: c.authData,
    ...extra,
  };
}

/** Advance the state machine by one event at time `now` (ms). */
export function step(state: VrrpState, event: VrrpEvent, now: number): StepResult {
  const t = new Step(state, now);
  switch (event.type) {
    case 'startup':
      t.startup();
      break;
    case 'shutdown':
      t.shutdown(event.fault === true ? 'fault' : 'shutdown');
      break;
    case 'timer':
      t.timer(event.timer);
      break;
    case 'advert':
      t.advert(event.advert, event.src);
      break;
    case 'priority':
      t.setPriority(event.priority);
      break;
    case 'sync':
      t.sync(event.to);
      break;
  }
  return { state: t.s, actions: t.actions };
}

/** One step's working state: the state so far and the actions so far. */
class Step {
  s: VrrpState;
  readonly actions: VrrpAction[] = [];
  readonly now: number;

  constructor(s: VrrpState, now: number) {
    this.s = s;
    this.now = now;
  }

  set(patch: Partial<VrrpState>): void {
    this.s = { ...this.s, ...patch };
  }

  setTimer(timer: TimerName, delayMs: number): void {
    const at = this.now + delayMs;
    this.set({ timers: { ...this.s.timers, [timer]: at } });
    this.actions.push({ type: 'set-timer', timer, at });
  }

  cancelTimer(timer: TimerName): void {
    if (this.s.timers[timer] === undefined) return;
    const timers = { ...this.s.timers };
    delete timers[timer];
    this.set({ timers });
    this.actions.push({ type: 'cancel-timer', timer });
  }

  transition(to: StateName, reason: TransitionReason): void {
    this.actions.push({ type: 'transition', from: this.s.name, to, reason, at: this.now });
    this.set({ name: to });
  }

  sendAdvert(priority = this.s.priority): void {
    this.actions.push({ type: 'send-advert', advert: buildAdvert(this.s, priority) });
  }

  announce(count: number): void {
    if (count > 0) this.actions.push({ type: 'announce', family: this.s.config.family, addresses: this.s.config.addresses, count });
  }

  /** Announce now and schedule the second round (keepalived's garp_master_delay). */
  announceWithRepeat(): void {
    const a = this.s.config.announce;
    this.announce(a.count);
    if (a.repeatCount > 0) this.setTimer('announce', a.repeatDelayMs);
    else this.cancelTimer('announce');
  }

  armMasterDown(cause: MasterDownCause, delayMs = masterDownIntervalMs(this.s)): void {
    this.set({ masterDownCause: cause });
    this.setTimer('master-down', delayMs);
  }

  startup(): void {
    if (this.s.name !== 'initialize') return;
    const c = this.s.config;
    this.set({ masterAdverIntervalMs: c.advertIntervalMs, master: undefined, preemptReady: false, wantMaster: false });
    if (this.s.priority === PRIORITY_OWNER) {
      // RFC 9568 §6.4.1: the owner goes straight to Master.
      this.becomeMaster('owner-startup');
      return;
    }
    // RFC 9568 §6.4.1: Active_Adver_Interval = Advertisement_Interval, arm the down timer, Backup.
    // Addresses a previous run may have left configured are removed: a backup holds none.
    this.actions.push({ type: 'remove-addresses', addresses: c.addresses });
    this.armMasterDown('no-master');
    this.transition('backup', 'startup');
  }

  shutdown(reason: 'shutdown' | 'fault'): void {
    if (this.s.name === 'master') {
      // RFC 9568 §6.4.3: cancel Adver_Timer, send priority 0, Initialize.
      this.cancelTimer('adver');
      this.cancelTimer('announce');
      this.cancelTimer('refresh');
      this.sendAdvert(PRIORITY_STOP);
      this.actions.push({ type: 'remove-addresses', addresses: this.s.config.addresses });
      this.transition('initialize', reason);
    } else if (this.s.name === 'backup') {
      // RFC 9568 §6.4.2: cancel the down timer, Initialize.
      this.cancelTimer('master-down');
      this.cancelTimer('preempt');
      if (this.s.wantMaster) this.wantMaster(false);
      this.transition('initialize', reason);
    }
  }

  timer(timer: TimerName): void {
    const due = this.s.timers[timer];
    if (due === undefined) return; // cancelled or never armed: a stale firing
    if (this.now < due) {
      // Fired early (a driver's timer granularity): re-arm for the same deadline.
      this.actions.push({ type: 'set-timer', timer, at: due });
      return;
    }
    const timers = { ...this.s.timers };
    delete timers[timer];
    this.set({ timers });
    switch (timer) {
      case 'adver':
        if (this.s.name !== 'master') return;
        // RFC 9568 §6.4.3: send an ADVERTISEMENT, reset the Adver_Timer.
        this.sendAdvert();
        this.setTimer('adver', this.s.config.advertIntervalMs);
        return;
      case 'master-down':
        if (this.s.name !== 'backup') return;
        if (this.s.config.sync) {
          // Held by a sync group: ask it; the group answers with a `sync` event.
          this.wantMaster(true);
          return;
        }
        // RFC 9568 §6.4.2: the down timer fired: become Master.
        this.becomeMaster(this.s.masterDownCause === 'no-master' ? 'master-down' : this.s.masterDownCause);
        return;
      case 'announce':
        if (this.s.name === 'master') this.announce(this.s.config.announce.repeatCount);
        return;
      case 'refresh':
        if (this.s.name !== 'master') return;
        this.announce(this.s.config.announce.refreshCount);
        this.setTimer('refresh', this.s.config.announce.refreshMs);
        return;
      case 'preempt': {
        if (this.s.name !== 'backup') return;
        this.set({ preemptReady: true });
        const m = this.s.master;
        if (m !== undefined && m.priority < this.s.priority && this.preempts()) {
          // The delay is over and the master is still outranked: take over after the skew time.
          this.armMasterDown('preempt', skewTimeMs(this.s));
        }
        return;
      }
    }
  }

  preempts(): boolean {
    // RFC 9568 §6.1 Preempt_Mode: the owner always preempts.
    return this.s.config.preempt || this.s.priority === PRIORITY_OWNER;
  }

  wantMaster(want: boolean): void {
    if (this.s.wantMaster === want) return;
    this.set({ wantMaster: want });
    this.actions.push({ type: 'want-master', want, cause: this.s.masterDownCause });
  }

  becomeMaster(reason: TransitionReason): void {
    this.cancelTimer('master-down');
    this.cancelTimer('preempt');
    this.set({ wantMaster: false, master: undefined, preemptReady: false });
    // RFC 9568 §6.4.1-2: send an ADVERTISEMENT, then GARP / NA for each address (after
    // the addresses are configured, §8.1.2, §8.2.2), set the Adver_Timer, Master.
    this.sendAdvert();
    this.actions.push({ type: 'add-addresses', addresses: this.s.config.addresses });
    this.announceWithRepeat();
    if (this.s.config.announce.refreshMs > 0) this.setTimer('refresh', this.s.config.announce.refreshMs);
    this.setTimer('adver', this.s.config.advertIntervalMs);
    this.transition('master', reason);
  }

  becomeBackup(reason: TransitionReason): void {
    this.cancelTimer('adver');
    this.cancelTimer('announce');
    this.cancelTimer('refresh');
    this.actions.push({ type: 'remove-addresses', addresses: this.s.config.addresses });
    // Make the better master re-announce, whichever advert crossed first (see the file comment).
    if (reason === 'higher-priority' && this.s.config.yieldAdvert) this.sendAdvert();
    // Stepped down by the group while the peer still waits on our adverts: tell it we
    // stopped (priority 0), so it takes over after its skew time rather than its
    // Master_Down_Interval (RFC 9568 §6.4.2). keepalived sends priority 0 only on FAULT.
    if (reason === 'sync') this.sendAdvert(PRIORITY_STOP);
    this.set({ preemptReady: false, lastLowerPriorityAnnounce: undefined, lastLowerPrioritySeen: undefined });
    this.armMasterDown('no-master');
    this.transition('backup', reason);
  }

  /** v3: Master_Adver_Interval follows the master's advert (RFC 9568 §6.4.2-3). v2 keeps its own (RFC 3768 has none). */
  learnInterval(advert: Advert): void {
    if (advert.version === 3 && this.s.config.version === 3 && advert.maxAdvertIntervalCs > 0) {
      this.set({ masterAdverIntervalMs: advert.maxAdvertIntervalCs * 10 });
    }
  }

  advert(advert: Advert, src: string): void {
    if (this.s.name === 'backup') this.advertInBackup(advert, src);
    else if (this.s.name === 'master') this.advertInMaster(advert, src);
    // Initialize: not running, adverts mean nothing.
  }

  advertInBackup(advert: Advert, src: string): void {
    const mine = this.s.priority;
    if (advert.priority === PRIORITY_STOP) {
      // RFC 9568 §6.4.2: the master is stopping: take over after Skew_Time.
      this.set({ master: { address: src, priority: 0 } });
      this.cancelTimer('preempt');
      this.armMasterDown('master-stopped', skewTimeMs(this.s));
      return;
    }
    const outranked = this.preempts() && advert.priority < mine;
    // Say so once per master and priority, not on every advert.
    const news = this.s.master?.address !== src || this.s.master.priority !== advert.priority;
    if (outranked && this.s.config.preemptDelayMs > 0 && !this.s.preemptReady) {
      // keepalived's preempt_delay: keep following the lower-priority master until the delay runs out.
      if (this.s.timers.preempt === undefined) {
        this.setTimer('preempt', this.s.config.preemptDelayMs);
        this.notice('preempt-held', `master ${src} has priority ${advert.priority} < ${mine}; preempting in ${this.s.config.preemptDelayMs} ms`);
      }
      this.accept(advert, src);
      return;
    }
    if (!outranked) {
      // RFC 9568 §6.4.2: Preempt_Mode False, or Priority >= local: follow this master.
      if (advert.priority >= mine) this.cancelTimer('preempt');
      if (advert.priority < mine && news) this.notice('preempt-held', `master ${src} has priority ${advert.priority} < ${mine}; preempt is off`);
      this.accept(advert, src);
      return;
    }
    // RFC 9568 §6.4.2: preempt and a lower priority: discard. The down timer keeps
    // running, so this backup takes over when it fires, unless a better master we
    // follow is still there (then this was a stray advert, e.g. a stepping-down
    // master's yield advert, and changes nothing).
    const m = this.s.master;
    if (m === undefined || m.address === src || m.priority < mine) {
      this.set({ master: { address: src, priority: advert.priority }, masterDownCause: 'preempt' });
    }
  }

  accept(advert: Advert, src: string): void {
    this.learnInterval(advert);
    this.set({ master: { address: src, priority: advert.priority } });
    this.armMasterDown('no-master');
    if (this.s.wantMaster) this.wantMaster(false);
  }

  advertInMaster(advert: Advert, src: string): void {
    const mine = this.s.priority;
    if (advert.priority === PRIORITY_STOP) {
      // RFC 9568 §6.4.3: another router stopped: advertise now, reset the Adver_Timer.
      this.sendAdvert();
      this.setTimer('adver', this.s.config.advertIntervalMs);
      return;
    }
    const cmp = sameFamily(src, this.s.config.primaryAddress) ? compareIp(src, this.s.config.primaryAddress) : 0;
    if (advert.priority > mine || (advert.priority === mine && cmp > 0)) {
      // RFC 9568 §6.4.3: a better master: learn its interval, arm the down timer, Backup.
      this.learnInterval(advert);
      this.set({ master: { address: src, priority: advert.priority } });
      this.becomeBackup('higher-priority');
      return;
    }
    if (advert.priority === mine && cmp === 0) {
      this.notice('own-address', `advert with our priority ${mine} from our own address ${src}`);
      return;
    }
    // RFC 9568 §6.4.3: discard, and send an ADVERTISEMENT at once to assert Master state.
    this.notice('lower-priority-master', `advert from ${src} with priority ${advert.priority} < ${mine}`);
    this.sendAdvert();
    const a = this.s.config.announce;
    const last = this.s.lastLowerPriorityAnnounce;
    const seen = this.s.lastLowerPrioritySeen;
    this.set({ lastLowerPrioritySeen: this.now });
    // The rate limit holds within one episode (a stream of lower-priority adverts). A silence of
    // more than three of our intervals ended the last one: a split brain that heals again soon
    // after (a flapping partition) gets its own GARP/NA at once, or clients stay on the other MAC.
    const newEpisode = seen !== undefined && this.now - seen > 3 * this.s.config.advertIntervalMs;
    if (a.onLowerPriority && (last === undefined || newEpisode || this.now - last >= Math.max(this.s.config.advertIntervalMs, 1000))) {
      // keepalived garp_lower_prio_repeat: the other router may have drawn clients to itself.
      this.set({ lastLowerPriorityAnnounce: this.now });
      this.announceWithRepeat();
    }
  }

  setPriority(priority: number): void {
    if (!Number.isInteger(priority) || priority < 1 || priority > 255) {
      throw new VrrpError('ERR_VRRP_CONFIG', `priority ${priority} is not 1..255 (RFC 9568 §5.2.4)`);
    }
    if (priority === this.s.priority) return;
    this.set({ priority });
    if (this.s.name === 'master') {
      // Tell the backups now rather than at the next interval.
      this.sendAdvert();
      this.setTimer('adver', this.s.config.advertIntervalMs);
    } else if (this.s.name === 'backup' && this.s.timers['master-down'] === undefined && !this.s.wantMaster) {
      // Not expected (a running backup always has its timer), but never leave a backup without one.
      this.armMasterDown('no-master');
    }
  }

  sync(to: 'master' | 'backup'): void {
    if (to === 'master' && this.s.name === 'backup') this.becomeMaster('sync');
    else if (to === 'backup' && this.s.name === 'master') this.becomeBackup('sync');
    else if (to === 'backup' && this.s.name === 'backup' && this.s.wantMaster) {
      this.wantMaster(false);
      this.armMasterDown('no-master');
    }
  }

  notice(code: NoticeCode, detail: string): void {
    this.actions.push({ type: 'notice', code, detail });
  }
}

function sameFamily(a: string, b: string): boolean {
  try {
    return parseIp(a).length === parseIp(b).length;
  } catch {
    return false;
  }
}
