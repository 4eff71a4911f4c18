// What a SIGHUP reload of vrrpd changes (pure: two parsed configs in, a plan out; nothing here
// touches the network). vrrpd runs each unit — a sync group with its members, or an instance that
// is in no group — as its own router and transport, so units can come and go without touching
// the others. For each unit:
// - unchanged (only notify hooks, log level or notify timeout differ): left alone;
// - new: started; gone: stopped (a master sends priority 0 and drops its addresses, as keepalived
//   does for an instance removed from its config);
// - changed in place: what `VrrpRouter.reconfigure` applies without a state change (priority,
//   addresses and their prefixes, advert interval, preempt, preempt delay, strict, track_interface,
//   garp_repeat_delay) and accept mode (vrrpd's own nftables rules);
// - restarted (stopped, then started again): a change of what names the virtual router or what the
//   transport set up when it opened — interface, VRID, version, family, vmac, unicast peers — or
//   of a sync group's members.

/** Settings applied in place. */
export const IN_PLACE = ['priority', 'addresses', 'prefixes', 'advertIntervalMs', 'preempt', 'preemptDelayMs', 'strict', 'trackInterface', 'repeatDelayMs', 'accept'];
/** Settings whose change restarts the instance's unit. */
export const RESTART = ['interface', 'vrid', 'version', 'family', 'vmac', 'unicastPeers'];

const same = (a, b) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/**
 * The units of a config: `group:<name>` for a sync group (its members in the group's order) and
 * `instance:<name>` for an instance in no group.
 * @returns {Map<string, { key: string, names: string[], group: { name: string, instances: string[] } | undefined }>}
 */
export function unitsOf(config) {
  const units = new Map();
  const grouped = new Set();
  for (const g of config.syncGroups) {
    units.set(`group:${g.name}`, { key: `group:${g.name}`, names: [...g.instances], group: g });
    for (const n of g.instances) grouped.add(n);
  }
  for (const i of config.instances) if (!grouped.has(i.name)) units.set(`instance:${i.name}`, { key: `instance:${i.name}`, names: [i.name], group: undefined });
  return units;
}

/**
 * Compare the running config with a new one.
 * @returns {{
 *   remove: string[], add: string[], unchanged: string[],
 *   restart: { unit: string, why: string }[],
 *   update: { unit: string, instance: string, changed: string[] }[],
 * }} unit keys; `restart` units are in both `remove` and `add`; `update` lists the instances changed in place.
 */
export function planReload(running, next) {
  const before = unitsOf(running);
  const after = unitsOf(next);
  const oldByName = new Map(running.instances.map((i) => [i.name, i]));
  const newByName = new Map(next.instances.map((i) => [i.name, i]));
  const plan = { remove: [], add: [], unchanged: [], restart: [], update: [] };
  for (const key of before.keys()) if (!after.has(key)) plan.remove.push(key);
  for (const [key, unit] of after) {
    const old = before.get(key);
    if (old === undefined) {
      plan.add.push(key);
      continue;
    }
    let why;
    if (!same(old.names, unit.names)) why = `members ${old.names.join(',')} -> ${unit.names.join(',')}`;
    const updates = [];
    for (const name of unit.names) {
      if (why !== undefined) break;
      const a = oldByName.get(name);
      const b = newByName.get(name);
      const restart = RESTART.filter((k) => !same(a[k], b[k]));
      if (restart.length > 0) {
        why = `${name}: ${restart.join(', ')} changed`;
        break;
      }
      const changed = IN_PLACE.filter((k) => !same(a[k], b[k]));
      if (changed.length > 0) updates.push({ unit: key, instance: name, changed });
    }
    if (why !== undefined) {
      plan.restart.push({ unit: key, why });
      plan.remove.push(key);
      plan.add.push(key);
    } else if (updates.length > 0) plan.update.push(...updates);
    else plan.unchanged.push(key);
  }
  return plan;
}

/** Addresses kept whose prefix length changed (a master removes and adds them again). */
export function reprefixed(a, b) {
  return a.addresses.filter((x) => b.addresses.includes(x) && (a.prefixes[x] ?? null) !== (b.prefixes[x] ?? null));
}
