/**
 * Reading destination dumps straight into the public model: one pass over a dump entry's bytes
 * to a `Destination`, with no wire object, no address byte copy and no per-field lookups, and
 * IPv4 address text from a small cache. The same result as
 * `destinationFromWire(decodeDestDumpEntry(entry), family)` (unit-tested against it); anything
 * unusual (tunnels, IPv6, an attribute of an unexpected size or type) goes that way instead.
 */
import * as K from './constants.js';
import { destinationFromWire, type AddressFamily, type Destination, type Forwarding } from './model.js';
import { decodeDestDumpEntry } from './wire.js';

const GENL_HDRLEN = 4;
const NLA_HDRLEN = 4;
const NLA_TYPE_MASK = 0x3fff;
const AF_INET = 2;
const FWD: (Forwarding | undefined)[] = ['masq', 'local', undefined, 'route', 'bypass'];

const v4Text = new Map<number, string>();

function ipv4At(buf: Uint8Array, v: number): string {
  const a = buf[v] as number;
  const b = buf[v + 1] as number;
  const c = buf[v + 2] as number;
  const d = buf[v + 3] as number;
  const k = ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
  let s = v4Text.get(k);
  if (s === undefined) {
    s = `${a}.${b}.${c}.${d}`;
    if (v4Text.size >= 1 << 16) v4Text.clear();
    v4Text.set(k, s);
  }
  return s;
}

function slow(buf: Uint8Array, serviceFamily: AddressFamily): Destination | undefined {
  const w = decodeDestDumpEntry(buf);
  return w === undefined ? undefined : destinationFromWire(w, serviceFamily);
}

const u32At = (buf: Uint8Array, v: number): number => ((buf[v] as number) | ((buf[v + 1] as number) << 8) | ((buf[v + 2] as number) << 16) | ((buf[v + 3] as number) << 24)) >>> 0;

/** One IPVS_CMD_GET_DEST dump entry (its genl payload) as a `Destination` without counters; undefined for an entry without one. */
export function readDestEntry(buf: Uint8Array, serviceFamily: AddressFamily): Destination | undefined {
  return readDestEntryAt(buf, 0, buf.length, serviceFamily);
}

/** The same for the entry at `buf[start..end)` (read in place, e.g. in a received datagram). */
export function readDestEntryAt(buf: Uint8Array, start: number, end: number, serviceFamily: AddressFamily): Destination | undefined {
  if (start !== 0 || end !== buf.length) {
    if (start < 0 || end > buf.length || end < start) throw new RangeError(`entry [${start}, ${end}) outside ${buf.length} bytes`);
  }
  if (end - start < GENL_HDRLEN + NLA_HDRLEN) return slow(buf.subarray(start, end), serviceFamily);
  const at = start + GENL_HDRLEN;
  const len = (buf[at] as number) | ((buf[at + 1] as number) << 8);
  const type = ((buf[at + 2] as number) | ((buf[at + 3] as number) << 8)) & NLA_TYPE_MASK;
  // Exactly one attribute, the destination.
  if (type !== K.IPVS_CMD_ATTR_DEST || len < NLA_HDRLEN || at + ((len + 3) & ~3) < end || at + len > end) return slow(buf.subarray(start, end), serviceFamily);
  let addr = -1;
  let af = 0;
  let port = 0;
  let fwd = 0;
  let weight = 0;
  let uThresh = 0;
  let lThresh = 0;
  let active = -1;
  let inactive = -1;
  let persistent = -1;
  let p = at + NLA_HDRLEN;
  const stop = at + len;
  while (stop - p >= NLA_HDRLEN) {
    const l = (buf[p] as number) | ((buf[p + 1] as number) << 8);
    const t = ((buf[p + 2] as number) | ((buf[p + 3] as number) << 8)) & NLA_TYPE_MASK;
    if (l < NLA_HDRLEN || p + l > stop) return slow(buf.subarray(start, end), serviceFamily);
    const v = p + NLA_HDRLEN;
    const n = l - NLA_HDRLEN;
    switch (t) {
      case K.IPVS_DEST_ATTR_ADDR:
        if (n !== 16) return slow(buf.subarray(start, end), serviceFamily);
        addr = v;
        break;
      case K.IPVS_DEST_ATTR_PORT:
      case K.IPVS_DEST_ATTR_TUN_PORT:
        if (n !== 2) return slow(buf.subarray(start, end), serviceFamily);
        if (t === K.IPVS_DEST_ATTR_PORT) port = ((buf[v] as number) << 8) | (buf[v + 1] as number);
        break;
      case K.IPVS_DEST_ATTR_ADDR_FAMILY:
      case K.IPVS_DEST_ATTR_TUN_FLAGS:
        if (n !== 2) return slow(buf.subarray(start, end), serviceFamily);
        if (t === K.IPVS_DEST_ATTR_ADDR_FAMILY) af = (buf[v] as number) | ((buf[v + 1] as number) << 8);
        break;
      case K.IPVS_DEST_ATTR_TUN_TYPE:
        if (n !== 1) return slow(buf.subarray(start, end), serviceFamily);
        break;
      case K.IPVS_DEST_ATTR_FWD_METHOD:
      case K.IPVS_DEST_ATTR_WEIGHT:
      case K.IPVS_DEST_ATTR_U_THRESH:
      case K.IPVS_DEST_ATTR_L_THRESH:
      case K.IPVS_DEST_ATTR_ACTIVE_CONNS:
      case K.IPVS_DEST_ATTR_INACT_CONNS:
      case K.IPVS_DEST_ATTR_PERSIST_CONNS: {
        if (n !== 4) return slow(buf.subarray(start, end), serviceFamily);
        const x = u32At(buf, v);
        if (t === K.IPVS_DEST_ATTR_FWD_METHOD) fwd = x;
        else if (t === K.IPVS_DEST_ATTR_WEIGHT) weight = x;
        else if (t === K.IPVS_DEST_ATTR_U_THRESH) uThresh = x;
        else if (t === K.IPVS_DEST_ATTR_L_THRESH) lThresh = x;
        else if (t === K.IPVS_DEST_ATTR_ACTIVE_CONNS) active = x;
        else if (t === K.IPVS_DEST_ATTR_INACT_CONNS) inactive = x;
        else persistent = x;
        break;
      }
      case K.IPVS_DEST_ATTR_STATS:
      case K.IPVS_DEST_ATTR_STATS64:
        break; // counters: not read here
      default:
        return slow(buf.subarray(start, end), serviceFamily);
    }
    p += (l + 3) & ~3;
  }
  if (p < stop) return slow(buf.subarray(start, end), serviceFamily);
  // IPv4 only here (a missing family is the service's, as destinationFromWire takes it).
  if (!(af === AF_INET || (af === 0 && serviceFamily === 'ipv4'))) return slow(buf.subarray(start, end), serviceFamily);
  const forwarding = FWD[fwd & K.IP_VS_CONN_F_FWD_MASK];
  if (forwarding === undefined) return slow(buf.subarray(start, end), serviceFamily);
  const d: Destination = {
    address: addr < 0 ? '0.0.0.0' : ipv4At(buf, addr),
    port,
    forwarding,
    weight,
    upperThreshold: uThresh,
    lowerThreshold: lThresh,
    family: 'ipv4',
  };
  if (active >= 0) d.activeConns = active;
  if (inactive >= 0) d.inactiveConns = inactive;
  if (persistent >= 0) d.persistentConns = persistent;
  return d;
}
