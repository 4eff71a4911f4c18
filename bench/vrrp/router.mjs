// lvskit's VRRP router for the benchmark, built from the public API (`lvskit/vrrp`, the dist build
// `npm run bench` makes first), run inside a lab namespace:
//   ip netns exec <ns> node bench/vrrp/router.mjs '{"interface":"eth0","vrid":77,"priority":150,
//     "advertIntervalMs":100,"addresses":["10.77.0.100"],"module":"file:///..."}'
// (`module`, optional: where to load lvskit/vrrp from, the bench's snapshot of dist/)
// v3 IPv4, GARP/NA and every other setting at lvskit's defaults (keepalived's: 5 GARPs at once, 5
// more after 5 s), the instance tracking its link (fault while it is down, as keepalived's does).
// Prints `ready`, one `transition {json}` per transition, `transport-error {json}`; SIGTERM / SIGINT:
// a clean stop (priority 0, addresses removed), `stopped`, exit 0. A startup error: `error <msg>`, exit 1.
const args = JSON.parse(process.argv[2] ?? '{}');
const { LinuxVrrpTransport, VipManager, VrrpRouter, linkObject } = await import(args.module ?? 'lvskit/vrrp');

async function main() {
  const vips = await VipManager.open();
  const info = await vips.interfaceInfo(args.interface);
  if (info.primaryIpv4 === undefined) throw new Error(`${args.interface} has no IPv4 address`);
  const instance = {
    name: 'vi',
    interface: args.interface,
    version: 3,
    family: 'ipv4',
    vrid: args.vrid,
    priority: args.priority,
    advertIntervalMs: args.advertIntervalMs,
    addresses: args.addresses,
    mac: info.mac,
    primaryAddress: info.primaryIpv4,
    track: [{ object: linkObject(args.interface) }],
    ...(args.takeoverOrder !== undefined ? { takeoverOrder: args.takeoverOrder } : {}),
  };
  const transport = await LinuxVrrpTransport.open({ instances: [instance], vips });
  const initiallyDown = transport.linkUp(args.interface) ? [] : [linkObject(args.interface)];
  const router = new VrrpRouter({ instances: [instance], transport, initiallyDown });
  router.on('transition', (e) => console.log(`transition ${JSON.stringify(e)}`));
  router.on('transport-error', (e) => console.log(`transport-error ${JSON.stringify({ op: e.op, error: String(e.error) })}`));
  transport.attach(router);
  router.start();
  console.log('ready');

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    router
      .stop({ signal: AbortSignal.timeout(5_000) })
      .catch((e) => console.log(`stop-error ${String(e)}`))
      .finally(async () => {
        await transport.close();
        vips.close();
        console.log('stopped');
        setTimeout(() => process.exit(0), 20);
      });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => {
  console.log(`error ${e?.code ?? 'ERR'} ${e?.message ?? String(e)}`);
  process.exitCode = 1;
  setTimeout(() => process.exit(1), 100).unref();
});
