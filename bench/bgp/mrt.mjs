// A TABLE_DUMP_V2 file (RFC 6396 §4.3) holding the benchmark's routes, for `gobgp mrt inject global`:
// the only bulk way into gobgpd's RIB without a gRPC client (one `gobgp global rib add` per prefix
// would take minutes for 110,000 prefixes and measure the CLI, not the daemon).
import { writeFileSync } from 'node:fs';

const TABLE_DUMP_V2 = 13;
const PEER_INDEX_TABLE = 1;
const RIB_IPV4_UNICAST = 2;
const RIB_IPV6_UNICAST = 4;

function record(subtype, body) {
  const h = Buffer.alloc(12);
  h.writeUInt32BE(Math.floor(Date.now() / 1000), 0); // timestamp (RFC 6396 §2)
  h.writeUInt16BE(TABLE_DUMP_V2, 4);
  h.writeUInt16BE(subtype, 6);
  h.writeUInt32BE(body.length, 8);
  return Buffer.concat([h, body]);
}

function prefixBytes(text) {
  const [addr, len] = text.split('/');
  const n = Math.ceil(Number(len) / 8);
  let bytes;
  if (addr.includes(':')) {
    const [head, tail = ''] = addr.split('::');
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    const words = [...h, ...new Array(8 - h.length - t.length).fill('0'), ...t].map((w) => parseInt(w, 16));
    bytes = Buffer.alloc(16);
    words.forEach((w, i) => bytes.writeUInt16BE(w, i * 2));
  } else bytes = Buffer.from(addr.split('.').map(Number));
  return Buffer.concat([Buffer.of(Number(len)), bytes.subarray(0, n)]);
}

/**
 * Attributes of every entry: ORIGIN IGP, an empty AS_PATH (originated here; 4-octet ASes in
 * TABLE_DUMP_V2, §4.3.4), and NEXT_HOP (IPv4) or MP_REACH_NLRI with the next hop and no NLRI (IPv6).
 * RFC 6396 §4.3.4 abbreviates MP_REACH_NLRI to the next hop alone, but gobgp 3.10's `mrt inject` reads
 * it as the full RFC 4760 attribute (AFI, SAFI, next hop, reserved octet), so it gets that form.
 */
function attributes(v6, nextHop) {
  const origin = Buffer.of(0x40, 1, 1, 0);
  const asPath = Buffer.of(0x40, 2, 0);
  if (!v6) return Buffer.concat([origin, asPath, Buffer.of(0x40, 3, 4, ...nextHop.split('.').map(Number))]);
  const nh = prefixBytes(`${nextHop}/128`).subarray(1);
  return Buffer.concat([origin, asPath, Buffer.of(0x80, 14, 21, 0, 2, 1, 16), nh, Buffer.of(0)]);
}

export function writeMrt(file, { v4, v6, nextHop4, nextHop6 }) {
  const parts = [];
  // One peer (ourselves), IPv4 address, 4-octet AS: peer type 0x02 (§4.3.1).
  const peers = Buffer.alloc(4 + 2 + 2 + 1 + 4 + 4 + 4);
  let o = 0;
  o = peers.writeUInt32BE(0x0aff0004, o); // collector BGP ID
  o = peers.writeUInt16BE(0, o); // view name length
  o = peers.writeUInt16BE(1, o); // peer count
  o = peers.writeUInt8(0x02, o);
  o = peers.writeUInt32BE(0x0aff0004, o);
  o = peers.writeUInt32BE(0x7f000004, o);
  peers.writeUInt32BE(65004, o);
  parts.push(record(PEER_INDEX_TABLE, peers));
  let seq = 0;
  const entry = (prefix, subtype, attrs) => {
    const head = Buffer.alloc(4);
    head.writeUInt32BE(seq++ >>> 0);
    const e = Buffer.alloc(2 + 2 + 4 + 2);
    e.writeUInt16BE(1, 0); // entry count
    e.writeUInt16BE(0, 2); // peer index
    e.writeUInt32BE(Math.floor(Date.now() / 1000), 4); // originated time
    e.writeUInt16BE(attrs.length, 8);
    parts.push(record(subtype, Buffer.concat([head, prefixBytes(prefix), e, attrs])));
  };
  const a4 = attributes(false, nextHop4);
  const a6 = attributes(true, nextHop6);
  for (const p of v4) entry(p, RIB_IPV4_UNICAST, a4);
  for (const p of v6) entry(p, RIB_IPV6_UNICAST, a6);
  // gobgp 3.10's `mrt inject` loses a varying tail of the file (the last few hundred records here), so
  // the IPv4 routes come again at the end: re-adding a path it has is a no-op, and the real ones are in.
  for (const p of v4) entry(p, RIB_IPV4_UNICAST, a4);
  writeFileSync(file, Buffer.concat(parts));
}
