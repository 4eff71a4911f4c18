// lvskit in its own process for the BGP benchmark, so its CPU time and peak RSS are measured the way
// the daemons' are. Started by bgp.bench.mjs inside the benchmark's namespace, driven over IPC.
//
//   receive: a passive peer of the table source; answers { count } with the Adj-RIB-In size.
//   send:    announces v4 + v6 prefixes before BIRD connects, so the whole table goes at Established.
import { BgpSpeaker } from 'lvskit/bgp';
import { ADDR, ASN, NEXT_HOP4, NEXT_HOP6 } from './daemons.mjs';
import { prefixV4, prefixV6 } from './lib.mjs';

const mode = process.argv[2];
const send = (m) => process.send?.(m);

if (mode === 'receive') {
  const speaker = new BgpSpeaker({
    localAs: ASN.lvskit,
    routerId: '10.255.0.2',
    listen: { address: ADDR.lvskit, port: 179 },
    peers: [{ address: ADDR.source, remoteAs: ASN.source, passive: true, families: ['ipv4'] }],
  });
  let updates = 0;
  let established = 0;
  speaker.on('peer-up', () => (established = Date.now()));
  // Counted the way an application would watch: the 'routes' event (one per UPDATE that changed something).
  speaker.on('routes', () => updates++);
  await speaker.start();
  process.on('message', (m) => {
    if (m.cmd === 'count') {
      const p = speaker.peers()[0];
      send({ count: p?.routesReceived ?? 0, state: p?.state, updates, established });
    } else if (m.cmd === 'stop') {
      speaker.close().then(() => process.exit(0));
    }
  });
  send({ ready: true });
} else if (mode === 'send') {
  const v4 = Number(process.argv[3]);
  const v6 = Number(process.argv[4]);
  const speaker = new BgpSpeaker({
    localAs: ASN.lvskit,
    routerId: '10.255.0.2',
    listen: { address: ADDR.lvskit, port: 179 },
    peers: [{ address: ADDR.bird, remoteAs: ASN.bird, passive: true, nextHop: { ipv4: NEXT_HOP4, ipv6: NEXT_HOP6 } }],
  });
  for (let i = 0; i < v4; i++) speaker.announce(prefixV4(i));
  for (let i = 0; i < v6; i++) speaker.announce(prefixV6(i));
  await speaker.start();
  process.on('message', (m) => {
    if (m.cmd === 'stop') speaker.close().then(() => process.exit(0));
  });
  send({ ready: true });
} else {
  console.error('usage: lvskit-peer.mjs receive | send <v4> <v6>');
  process.exit(2);
}
