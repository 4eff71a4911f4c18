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
// SIGTERM / SIGINT: every master sends priority 0 (the backup takes over after Skew_Time), the
// addresses are removed, STOP hooks run, exit 0. SIGUSR1 logs a status snapshot.
// Exit 1 with a message on a bad config or when the interfaces or sockets cannot be set up.
import { execFile } from 'node:child_process';
import { LvskitError } from 'lvskit';
import { LinuxVrrpTransport, VipManager, VrrpRouter, linkObject } from 'lvskit/vrrp';
import { pino } from 'pino';
import { loadConfig } from './config.mjs';

/** keepalived's state names for notify scripts. */
function stateWord(to, reason) {
  if (to === 'master') return 'MASTER';
  if (to === 'backup') return 'BACKUP';
  return reason === 'fault' ? 'FAULT' : 'STOP';
}

async function main() {
  const file = process.argv[2];
  if (file === undefined) {
    console.error('usage: vrrpd <config.yaml>');
    process.exit(2);
  }
  const config = await loadConfig(file);
  const log = pino({ level: config.logLevel, base: { pid: process.pid } });
  const vips = await VipManager.open();

  // Interface facts: the advert source (primary IPv4 / link-local IPv6) and MAC of each interface.
  const instances = [];
  for (const i of config.instances) {
    const info = await vips.interfaceInfo(i.interface);
    const primary = i.family === 'ipv4' ? info.primaryIpv4 : info.linkLocalIpv6;
    if (primary === undefined) throw new LvskitError('ERR_VRRPD_INTERFACE', `${i.interface} has no ${i.family === 'ipv4' ? 'IPv4' : 'link-local IPv6'} address`);
    instances.push({
      name: i.name,
      interface: i.interface,
      version: i.version,
      family: i.family,
      vrid: i.vrid,
      priority: i.priority,
      advertIntervalMs: i.advertIntervalMs,
      addresses: i.addresses,
      primaryAddress: primary,
      mac: info.mac,
      preempt: i.preempt,
      preemptDelayMs: i.preemptDelayMs,
      strict: i.strict,
      vmac: i.vmac,
      accept: i.accept,
      announce: { repeatDelayMs: i.repeatDelayMs },
      ...(i.unicastPeers === undefined ? {} : { unicastPeers: i.unicastPeers }),
      // Fault while the interface is down, as keepalived's FAULT state.
      track: i.trackInterface ? [{ object: linkObject(i.interface) }] : [],
    });
  }
  const prefixes = new Map(config.instances.map((i) => [i.name, i.prefixes]));
  const transport = await LinuxVrrpTransport.open({
    instances,
    vips,
    logger: log.child({ component: 'transport' }),
    prefixLength: (instance, address) => prefixes.get(instance)?.[address],
  });
  // With a virtual MAC, GARP / NA come from it.
  for (const i of instances) i.mac = transport.macOf(i.name);
  const down = [...new Set(instances.map((i) => i.interface))].filter((n) => !transport.linkUp(n)).map(linkObject);
  const router = new VrrpRouter({ instances, syncGroups: config.syncGroups, initiallyDown: down, transport, logger: log });

  // Notify hooks, in order per instance.
  const chains = new Map();
  const runHook = (argv, env, instance) =>
    new Promise((resolve) => {
      execFile(argv[0], argv.slice(1), { env: { ...process.env, ...env }, timeout: config.notifyTimeoutMs }, (err, stdout, stderr) => {
        if (err) log.warn({ instance, argv, err: err.message, stderr: stderr.slice(0, 2000) }, 'notify hook failed');
        else log.debug({ instance, argv, stdout: stdout.slice(0, 2000) }, 'notify hook ran');
        resolve();
      });
    });
  router.on('transition', (e) => {
    const cfg = config.instances.find((i) => i.name === e.instance);
    if (cfg === undefined) return;
    const state = stateWord(e.to, e.reason);
    const priority = router.instanceState(e.instance)?.priority ?? cfg.priority;
    log.info({ instance: e.instance, state, reason: e.reason }, `${e.instance} ${state} (${e.reason})`);
    const env = { VRRP_INSTANCE: e.instance, VRRP_STATE: state, VRRP_REASON: e.reason, VRRP_PRIORITY: String(priority) };
    const hooks = [cfg.notify[state.toLowerCase()], cfg.notify.any === undefined ? undefined : [...cfg.notify.any, 'INSTANCE', e.instance, state, String(priority)]];
    let chain = chains.get(e.instance) ?? Promise.resolve();
    for (const argv of hooks) if (argv !== undefined) chain = chain.then(() => runHook(argv, env, e.instance));
    chains.set(e.instance, chain);
  });
  router.on('transport-error', (e) => log.warn({ instance: e.instance, op: e.op, err: String(e.error) }, 'transport error'));
  transport.on('error', (e) => log.warn({ interface: e.interface, err: String(e.error) }, 'receive error'));
  transport.attach(router);
  router.start();
  log.info({ file, instances: instances.map((i) => i.name) }, 'vrrpd started');

  let stopping = false;
  const stop = async (signal) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: priority 0 to the backups');
    try {
      await router.stop({ signal: AbortSignal.timeout(5_000) });
    } catch (e) {
      log.error({ err: String(e) }, 'stop did not finish');
    }
    await Promise.race([Promise.all(chains.values()), new Promise((r) => setTimeout(r, config.notifyTimeoutMs).unref())]);
    await transport.close();
    vips.close();
    log.info('vrrpd stopped');
    log.flush?.();
    setTimeout(() => process.exit(0), 50);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGUSR1', () => log.info({ status: router.snapshot() }, 'status'));
}

main().catch((e) => {
  const code = e instanceof LvskitError ? e.code : 'ERR';
  console.error(`vrrpd: ${code}: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
