#!/usr/bin/env node
// vrrpd: a small keepalived-like VRRP daemon built only from lvskit's public API.
//
//   npm run build && node examples/vrrpd/vrrpd.mjs examples/vrrpd/vrrpd.example.yaml
//
// Runs the instances of a YAML config (config.mjs; docs/vrrp.md lists the keys) on Linux: raw
// sockets, virtual addresses over rtnetlink, optional virtual MAC (macvlan) and accept mode off
// (nftables). Logs are pino JSON lines on stdout. On every transition it runs the instance's notify
// hooks (argv, no shell): `notify_<state>` as given, and `notify` with keepalived's arguments
// appended (INSTANCE <name> <MASTER|BACKUP|FAULT|STOP> <priority>); the environment carries
// VRRP_INSTANCE, VRRP_STATE, VRRP_REASON, VRRP_PRIORITY. Hooks of one instance run one after
// another, each bounded by notify_timeout; a failing hook is logged, never fatal.
//
// Each unit (a sync group with its members, or an instance in no group) runs as its own VrrpRouter
// over its own LinuxVrrpTransport, so a reload can start and stop units without touching others.
// Accept mode off is vrrpd's own AcceptFilter (one nftables table pair for the process), so its
// addresses can change on a reload.
//
// Signals:
// - SIGHUP: reload the file (reload.mjs says what changes how). A file that does not parse or
//   validate, or names an interface that is not there, is refused with an error log naming each
//   problem (file:line:column: key: ...) and the running config stays. Unchanged units are not
//   touched; new ones start; removed ones stop as on SIGTERM (priority 0, addresses dropped, STOP
//   hooks); priority, addresses, tracking and timers change in place; a change of interface, VRID,
//   version, vmac, unicast peers or sync group members restarts the unit.
// - SIGTERM / SIGINT: every master sends priority 0 (the backup takes over after Skew_Time), the
//   addresses are removed, STOP hooks run, exit 0.
// - SIGUSR1: log a status snapshot.
// Signals are handled one at a time in arrival order (SIGHUPs that arrive during a reload make one
// more reload after it; a stop waits for a reload under way).
// Exit 1 with a message on a bad config or when the interfaces or sockets cannot be set up at start.
import { execFile } from 'node:child_process';
import { LvskitError } from 'lvskit';
import { AcceptFilter, LinuxVrrpTransport, VipManager, VrrpRouter, initialRouterState, linkObject } from 'lvskit/vrrp';
import { pino } from 'pino';
import { loadConfig } from './config.mjs';
import { planReload, reprefixed, unitsOf } from './reload.mjs';

/** RFC 9568 §5.2.4: the address owner, which always accepts (§6.1). */
const PRIORITY_OWNER = 255;

/** keepalived's state names for notify scripts. */
function stateWord(to, reason) {
  if (to === 'master') return 'MASTER';
  if (to === 'backup') return 'BACKUP';
  return reason === 'fault' ? 'FAULT' : 'STOP';
}

const errText = (e) => (e instanceof LvskitError ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e));

/** VrrpRouter / LinuxVrrpTransport options of a config instance. */
function routerInstance(i, primaryAddress, mac) {
  return {
    name: i.name,
    interface: i.interface,
    version: i.version,
    family: i.family,
    vrid: i.vrid,
    priority: i.priority,
    advertIntervalMs: i.advertIntervalMs,
    addresses: i.addresses,
    primaryAddress,
    mac,
    preempt: i.preempt,
    preemptDelayMs: i.preemptDelayMs,
    strict: i.strict,
    vmac: i.vmac,
    announce: { repeatDelayMs: i.repeatDelayMs },
    ...(i.unicastPeers === undefined ? {} : { unicastPeers: i.unicastPeers }),
    // Fault while the interface is down, as keepalived's FAULT state.
    track: i.trackInterface ? [{ object: linkObject(i.interface) }] : [],
  };
}

class Vrrpd {
  /** @type {Map<string, { key: string, router: VrrpRouter, transport: LinuxVrrpTransport, opts: Map<string, object>, group: object | undefined, detach: () => void }>} */
  units = new Map();
  /** Instance name -> its config entry (notify hooks, prefixes), as of the last change applied. */
  cfgOf = new Map();
  /** Notify hooks in order per instance. */
  chains = new Map();
  /** @type {AcceptFilter | undefined} */
  accept;
  blocked = [];

  constructor(file, config, log, vips) {
    this.file = file;
    this.config = config;
    this.log = log;
    this.vips = vips;
  }

  /** Interface facts and checked router options for the units `keys` of `config`; throws a typed error. */
  async prepare(config, keys) {
    const units = unitsOf(config);
    const out = [];
    for (const key of keys) {
      const unit = units.get(key);
      const instances = [];
      for (const name of unit.names) {
        const i = config.instances.find((x) => x.name === name);
        let info;
        try {
          info = await this.vips.interfaceInfo(i.interface, { signal: AbortSignal.timeout(5_000) });
        } catch (e) {
          throw new LvskitError('ERR_VRRPD_INTERFACE', `instance ${name}: ${errText(e)}`, { cause: e });
        }
        const primary = i.family === 'ipv4' ? info.primaryIpv4 : info.linkLocalIpv6;
        if (primary === undefined) throw new LvskitError('ERR_VRRPD_INTERFACE', `instance ${name}: ${i.interface} has no ${i.family === 'ipv4' ? 'IPv4' : 'link-local IPv6'} address`);
        instances.push(routerInstance(i, primary, info.mac));
      }
      const syncGroups = unit.group === undefined ? [] : [unit.group];
      initialRouterState({ instances, syncGroups }); // the core's checks (RFC limits, IPv6 link-local rules), before anything runs
      out.push({ key, instances, group: unit.group });
    }
    return out;
  }

  /** New router options of the instances changed in place, checked per unit; throws a typed error. */
  checkUpdates(config, updates) {
    const out = [];
    const byUnit = new Map();
    for (const u of updates) byUnit.set(u.unit, [...(byUnit.get(u.unit) ?? []), u.instance]);
    for (const [key, names] of byUnit) {
      const unit = this.units.get(key);
      if (unit === undefined) continue; // failed to start earlier: not running, nothing to change
      const opts = new Map(unit.opts);
      for (const name of names) {
        const old = unit.opts.get(name);
        opts.set(name, routerInstance(config.instances.find((x) => x.name === name), old.primaryAddress, old.mac));
      }
      initialRouterState({ instances: [...opts.values()], syncGroups: unit.group === undefined ? [] : [unit.group] });
      for (const name of names) out.push({ key, name, opts: opts.get(name) });
    }
    return out;
  }

  /** Open a unit's transport and router and start it. */
  async startUnit({ key, instances, group }) {
    const log = this.log;
    const transport = await LinuxVrrpTransport.open({
      instances,
      vips: this.vips,
      logger: log.child({ component: 'transport' }),
      prefixLength: (instance, address) => this.cfgOf.get(instance)?.prefixes[address],
    });
    try {
      // With a virtual MAC, GARP / NA come from it.
      for (const i of instances) i.mac = transport.macOf(i.name);
      const down = [...new Set(instances.map((i) => i.interface))].filter((n) => !transport.linkUp(n)).map(linkObject);
      const router = new VrrpRouter({ instances, syncGroups: group === undefined ? [] : [group], initiallyDown: down, transport, logger: log });
      router.on('transition', (e) => this.#onTransition(router, e));
      router.on('transport-error', (e) => log.warn({ instance: e.instance, op: e.op, err: String(e.error) }, 'transport error'));
      transport.on('error', (e) => log.warn({ interface: e.interface, err: String(e.error) }, 'receive error'));
      const detach = transport.attach(router);
      router.start();
      this.units.set(key, { key, router, transport, opts: new Map(instances.map((i) => [i.name, i])), group, detach });
    } catch (e) {
      await transport.close();
      throw e;
    }
  }

  /** Priority 0 from its masters, addresses removed, STOP hooks; then its sockets closed. */
  async stopUnit(key) {
    const u = this.units.get(key);
    if (u === undefined) return;
    this.units.delete(key);
    try {
      await u.router.stop({ signal: AbortSignal.timeout(5_000) });
    } catch (e) {
      this.log.error({ unit: key, err: String(e) }, 'stop did not finish');
    }
    u.detach();
    await u.transport.close();
  }

  #onTransition(router, e) {
    const cfg = this.cfgOf.get(e.instance);
    if (cfg === undefined) return;
    const state = stateWord(e.to, e.reason);
    const priority = router.instanceState(e.instance)?.priority ?? cfg.priority;
    this.log.info({ instance: e.instance, state, reason: e.reason }, `${e.instance} ${state} (${e.reason})`);
    const env = { VRRP_INSTANCE: e.instance, VRRP_STATE: state, VRRP_REASON: e.reason, VRRP_PRIORITY: String(priority) };
    const hooks = [cfg.notify[state.toLowerCase()], cfg.notify.any === undefined ? undefined : [...cfg.notify.any, 'INSTANCE', e.instance, state, String(priority)]];
    let chain = this.chains.get(e.instance) ?? Promise.resolve();
    for (const argv of hooks) if (argv !== undefined) chain = chain.then(() => this.#runHook(argv, env, e.instance));
    this.chains.set(e.instance, chain);
  }

  #runHook(argv, env, instance) {
    return new Promise((resolve) => {
      execFile(argv[0], argv.slice(1), { env: { ...process.env, ...env }, timeout: this.config.notifyTimeoutMs }, (err, stdout, stderr) => {
        if (err) this.log.warn({ instance, argv, err: err.message, stderr: stderr.slice(0, 2000) }, 'notify hook failed');
        else this.log.debug({ instance, argv, stdout: stdout.slice(0, 2000) }, 'notify hook ran');
        resolve();
      });
    });
  }

  /** Addresses whose packets are dropped: accept mode off, not the address owner (RFC 9568 §6.1). */
  static blockedOf(config) {
    return config.instances.filter((i) => i.accept === false && i.priority !== PRIORITY_OWNER).flatMap((i) => i.addresses);
  }

  async setAccept(addresses) {
    const list = [...new Set(addresses)];
    if (list.length === 0 && this.accept === undefined) return;
    this.accept ??= await AcceptFilter.open();
    await this.accept.set(list);
    if (JSON.stringify(list) !== JSON.stringify(this.blocked)) {
      const msg = list.length > 0 ? 'accept mode off: packets to the virtual addresses are dropped (nftables)' : 'accept mode: no address blocked';
      this.log.info({ table: this.accept.table, owned: this.accept.owned, addresses: list }, msg);
    }
    this.blocked = list;
  }

  async start() {
    const plan = planReload({ instances: [], syncGroups: [] }, this.config);
    const prepared = await this.prepare(this.config, plan.add);
    for (const i of this.config.instances) this.cfgOf.set(i.name, i);
    await this.setAccept(Vrrpd.blockedOf(this.config));
    for (const p of prepared) await this.startUnit(p);
  }

  /** Re-read the file and apply it; a file that fails any check changes nothing. */
  async reload() {
    const { log, file } = this;
    let next;
    try {
      next = await loadConfig(file);
    } catch (e) {
      log.error({ file, issues: e.issues ?? [errText(e)] }, `reload refused, the running config stays: ${errText(e)}`);
      return;
    }
    const plan = planReload(this.config, next);
    let prepared;
    let updates;
    try {
      prepared = await this.prepare(next, plan.add);
      updates = this.checkUpdates(next, plan.update);
      await this.setAccept([...this.blocked, ...Vrrpd.blockedOf(next)]); // new addresses never accept, not even for a moment
    } catch (e) {
      log.error({ file, issues: [errText(e)] }, `reload refused, the running config stays: ${errText(e)}`);
      return;
    }
    for (const key of plan.remove) await this.stopUnit(key);
    const oldCfg = new Map(this.cfgOf);
    this.cfgOf = new Map(next.instances.map((i) => [i.name, i]));
    for (const { key, name, opts } of updates) {
      const unit = this.units.get(key);
      // A kept address with a new prefix length: out and in again (a master re-adds and announces it).
      const again = reprefixed(oldCfg.get(name), this.cfgOf.get(name));
      const rest = opts.addresses.filter((a) => !again.includes(a));
      if (again.length > 0 && rest.length > 0) unit.router.reconfigure({ ...opts, addresses: rest });
      unit.router.reconfigure(opts);
      unit.opts.set(name, opts);
    }
    const failed = new Set();
    for (const p of prepared) {
      try {
        await this.startUnit(p);
      } catch (e) {
        failed.add(p.key);
        log.error({ unit: p.key, err: errText(e) }, `reload: ${p.key} could not start (a later reload tries again)`);
      }
    }
    // The running config: the new one, less units that could not start (so the next reload adds them).
    const skip = new Set([...unitsOf(next).values()].filter((u) => failed.has(u.key)).flatMap((u) => u.names));
    this.config = { ...next, instances: next.instances.filter((i) => !skip.has(i.name)), syncGroups: next.syncGroups.filter((g) => !failed.has(`group:${g.name}`)) };
    try {
      await this.setAccept(Vrrpd.blockedOf(this.config));
    } catch (e) {
      log.error({ err: errText(e) }, 'reload: accept-mode rules not updated');
    }
    log.level = next.logLevel;
    const restarted = plan.restart.map((r) => r.unit);
    log.info(
      {
        file,
        added: plan.add.filter((k) => !restarted.includes(k) && !failed.has(k)),
        removed: plan.remove.filter((k) => !restarted.includes(k)),
        restarted: plan.restart,
        changed: plan.update.map((u) => ({ instance: u.instance, keys: u.changed })),
        unchanged: plan.unchanged,
        failed: [...failed],
      },
      'reloaded',
    );
  }

  async stop() {
    await Promise.all([...this.units.keys()].map((k) => this.stopUnit(k)));
    await Promise.race([Promise.all(this.chains.values()), new Promise((r) => setTimeout(r, this.config.notifyTimeoutMs).unref())]);
    if (this.accept !== undefined) {
      try {
        await this.accept.clear();
      } catch (e) {
        this.log.warn({ err: String(e) }, 'accept-mode rules not removed (they go with the socket)');
      }
      this.accept.close();
    }
    this.vips.close();
  }

  snapshot() {
    return [...this.units.values()].flatMap((u) => u.router.snapshot());
  }
}

async function main() {
  const file = process.argv[2];
  if (file === undefined) {
    console.error('usage: vrrpd <config.yaml>');
    process.exit(2);
  }
  const config = await loadConfig(file);
  const log = pino({ level: config.logLevel, base: { pid: process.pid } });
  const d = new Vrrpd(file, config, log, await VipManager.open());

  // Handlers first (a SIGHUP's default action would end the process), run in order after the start.
  let queue = d.start().then(
    () => log.info({ file, instances: config.instances.map((i) => i.name) }, 'vrrpd started'),
    async (e) => {
      await d.stop().catch(() => undefined);
      console.error(`vrrpd: ${e instanceof LvskitError ? e.code : 'ERR'}: ${e instanceof Error ? e.message : String(e)}`);
      process.exit(1);
    },
  );
  let stopping = false;
  let reloadQueued = false;
  process.on('SIGHUP', () => {
    if (stopping || reloadQueued) return;
    reloadQueued = true;
    queue = queue.then(async () => {
      reloadQueued = false;
      log.info({ signal: 'SIGHUP', file }, 'reloading');
      try {
        await d.reload();
      } catch (e) {
        log.error({ err: errText(e) }, 'reload failed part-way (the logs above say what was applied)');
      }
    });
  });
  const stop = (signal) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: priority 0 to the backups');
    queue = queue.then(async () => {
      await d.stop();
      log.info('vrrpd stopped');
      log.flush?.();
      setTimeout(() => process.exit(0), 50);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGUSR1', () => log.info({ status: d.snapshot() }, 'status'));
}

main().catch((e) => {
  console.error(`vrrpd: ${e instanceof LvskitError ? e.code : 'ERR'}: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
