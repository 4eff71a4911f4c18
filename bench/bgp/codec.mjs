// Codec micro-benchmark: UPDATE encode and decode rates, in prefixes per second, for the two table shapes
// of the receive benchmark, plus the whole in-process receive path (framer -> decode -> Adj-RIB-In).
import { AdjRibIn, MessageFramer, decodeMessage, encodeUpdate, planUpdates } from 'lvskit/bgp';
import { NEXT_HOP4 } from './daemons.mjs';
import { prefixV4 } from './lib.mjs';

/** The routes of a shape as the planner takes them (`sets`: 10 prefixes per attribute set, like the source BIRD). */
export function tableRoutes(n, shape) {
  const routes = new Array(n);
  let attrs;
  for (let i = 0; i < n; i++) {
    if (shape === 'one') attrs ??= { origin: 'incomplete', asPath: [{ type: 'sequence', asns: [65001] }] };
    else if (i % 10 === 0) {
      const k = i / 10;
      attrs = {
        origin: 'incomplete',
        asPath: [{ type: 'sequence', asns: [65001] }],
        med: k,
        communities: [(65000 << 16) | k % 65536, (65001 << 16) | Math.floor(k / 1000)].map((x) => x >>> 0),
        largeCommunities: [{ globalAdmin: 65001, localData1: k, localData2: 100 }],
      };
    }
    routes[i] = { prefix: prefixV4(i), attributes: attrs, nextHop: [NEXT_HOP4] };
  }
  return routes;
}

function best(runs, fn) {
  let t = Infinity;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    t = Math.min(t, performance.now() - t0);
  }
  return t / 1000;
}

export function codecBench(n, shape, runs = 3) {
  const routes = tableRoutes(n, shape);
  const msgs = planUpdates(routes, []);
  let bytes = [];
  const encodeS = best(runs, () => {
    bytes = msgs.map((m) => encodeUpdate(m));
  });
  const decodeS = best(runs, () => {
    for (const b of bytes) decodeMessage(b, 0, {});
  });
  // The receive path as a session runs it: a TCP-like stream in 64 KiB chunks through the framer.
  const total = bytes.reduce((s, b) => s + b.length, 0);
  const stream = new Uint8Array(total);
  let o = 0;
  for (const b of bytes) {
    stream.set(b, o);
    o += b.length;
  }
  let held = 0;
  const receiveS = best(runs, () => {
    const framer = new MessageFramer();
    const rib = new AdjRibIn();
    for (let at = 0; at < total; at += 65536) {
      for (const f of framer.push(stream.subarray(at, Math.min(total, at + 65536)))) {
        const m = decodeMessage(f, 0, {});
        if (m.kind === 'update') rib.apply(m.update);
      }
    }
    held = rib.size;
  });
  if (held !== n) throw new Error(`receive path holds ${held} of ${n} routes`);
  return {
    shape,
    n,
    messages: msgs.length,
    perUpdate: n / msgs.length,
    encodeRate: n / encodeS,
    decodeRate: n / decodeS,
    receiveRate: n / receiveS,
  };
}
