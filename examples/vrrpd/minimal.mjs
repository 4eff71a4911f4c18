// One VRRP instance holding a virtual IPv4 address: the README-sized example of docs/vrrp.md.
//   npm run build && sudo node examples/vrrpd/minimal.mjs [interface] [vip] [priority]
import { LinuxVrrpTransport, VipManager, VrrpRouter, linkObject } from 'lvskit/vrrp';

const [ifname = 'eth0', vip = '192.0.2.100', priority = '150'] = process.argv.slice(2);
const vips = await VipManager.open(); // rtnetlink: interface facts and the VIP
const nic = await vips.interfaceInfo(ifname);
const instance = {
  name: 'web', interface: ifname, version: 3, family: 'ipv4', vrid: 51,
  priority: Number(priority), advertIntervalMs: 1000, addresses: [vip],
  primaryAddress: nic.primaryIpv4, mac: nic.mac,
  track: [{ object: linkObject(ifname) }], // fault while the link is down
};
const transport = await LinuxVrrpTransport.open({ instances: [instance], vips });
const router = new VrrpRouter({ instances: [instance], transport });
router.on('transition', (e) => console.log(`${e.instance}: ${e.from} -> ${e.to} (${e.reason})`));
transport.attach(router); // received adverts and link changes go to the router
router.start();

let stopping = false; // a second SIGTERM while handing over must not kill the process mid-way
process.on('SIGTERM', async () => {
  if (stopping) return;
  stopping = true;
  await router.stop(); // priority 0: the backup takes over after Skew_Time; VIP removed
  await transport.close();
  vips.close();
});
