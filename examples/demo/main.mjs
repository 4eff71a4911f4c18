#!/usr/bin/env node
// lvskit demo (until the director example lands): a director host check.
//
// What it shows, plainly: the director daemon (examples/director) is not built
// yet. This demo uses what exists today, imported by package name as any user
// would, to report whether this host could run a director: whether the kernel
// has IPVS (asked over generic netlink, the way lvskit/ipvs will), whether we
// may program it, and which routing and VRRP peers are installed. Without IPVS
// a director runs in dry-run mode; this demo says so.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { LvskitError, FakeClock } from 'lvskit';
import { IPVS_GENL_NAME } from 'lvskit/ipvs';
import { BGP_PORT } from 'lvskit/bgp';
import { IPPROTO_VRRP, VRRP_GROUP_V4 } from 'lvskit/vrrp';

const require = createRequire(import.meta.url);

/** Ask the generic-netlink controller for the IPVS family. */
async function ipvsFamily() {
  let netlink;
  try {
    netlink = require('netlink');
  } catch (e) {
    return { ok: false, why: `netlink addon failed to load: ${e.message}` };
  }
  const sock = netlink.createGenericNetlink();
  try {
    const fams = await sock.ctrlRequest(netlink.genl.Commands.GET_FAMILY, { familyName: IPVS_GENL_NAME }, { timeout: 2000 });
    const fam = fams[0];
    return { ok: true, id: fam?.familyId, version: fam?.version };
  } catch (e) {
    const errno = e?.errno ?? e?.code;
    const why = errno === 2 || errno === 'ENOENT' || /ENOENT|No such file/.test(String(e?.message))
      ? 'the kernel has no IPVS (the ip_vs module is not loaded or not built)'
      : `generic netlink said: ${e?.message ?? e}`;
    return { ok: false, why };
  } finally {
    sock.socket.close();
  }
}

/** The installed Debian package version of `pkg`, else null. */
function installed(pkg) {
  const r = spawnSync('dpkg-query', ['-W', '-f', '${Status}|${Version}', pkg], { encoding: 'utf8', timeout: 3000 });
  const [status, ver] = (r.stdout ?? '').split('|');
  return r.status === 0 && status === 'install ok installed' ? `${pkg} ${ver}` : null;
}

const line = (k, v) => console.log(`  ${k.padEnd(22)} ${v}`);

console.log('lvskit demo: director host check');
console.log('(the director daemon is not built yet; this reports what a director would find on this host)\n');

const ipvs = await ipvsFamily();
console.log('kernel');
line('IPVS (generic netlink)', ipvs.ok ? `present: family id ${ipvs.id}, version ${ipvs.version}` : `absent: ${ipvs.why}`);
line('director mode', ipvs.ok ? 'could program IPVS' : 'dry run (would log ipvsadm-equivalent commands)');
line('running as', process.getuid?.() === 0 ? 'root (CAP_NET_ADMIN likely)' : 'non-root: programming IPVS needs CAP_NET_ADMIN');

console.log('\npeers installed on this host');
for (const pkg of ['ipvsadm', 'bird2', 'gobgpd', 'frr', 'keepalived', 'etcd-server']) line(pkg, installed(pkg) ?? 'not installed');

console.log('\nlvskit pieces used above');
line('BGP port', String(BGP_PORT));
line('VRRP', `IP protocol ${IPPROTO_VRRP}, group ${VRRP_GROUP_V4}`);
const clock = new FakeClock();
let keepalives = 0;
const tick = () => {
  keepalives++;
  clock.setTimer(30_000, tick);
};
clock.setTimer(30_000, tick);
clock.advance(24 * 3600 * 1000);
line('fake clock', `a day of 30 s keepalives: ${keepalives} timers fired in memory`);
const err = new LvskitError('ERR_DEMO', 'typed errors carry a code');
line('errors', `${err.name} ${err.code} (instanceof works across ESM and CJS builds)`);
