/**
 * IPVS generic-netlink messages, pure: the genl header (command, version)
 * followed by the command's top-level attributes (include/uapi/linux/ip_vs.h).
 *
 * The reply to IPVS_CMD_GET_INFO (sent as IPVS_CMD_SET_INFO) carries the
 * IPVS_INFO_ATTR_* numbers at top level, which overlap IPVS_CMD_ATTR_*; the
 * command decides which table applies.
 */
import { ByteWriter } from '../util/bytes.js';
import { DecodeError } from '../util/errors.js';
import {
  IPVS_CMD_ATTR_DEST,
  IPVS_CMD_GET_INFO,
  IPVS_CMD_SET_INFO,
  IPVS_DEST_ATTR_ACTIVE_CONNS,
  IPVS_DEST_ATTR_ADDR,
  IPVS_DEST_ATTR_ADDR_FAMILY,
  IPVS_DEST_ATTR_FWD_METHOD,
  IPVS_DEST_ATTR_INACT_CONNS,
  IPVS_DEST_ATTR_L_THRESH,
  IPVS_DEST_ATTR_PERSIST_CONNS,
  IPVS_DEST_ATTR_PORT,
  IPVS_DEST_ATTR_STATS,
  IPVS_DEST_ATTR_STATS64,
  IPVS_DEST_ATTR_TUN_FLAGS,
  IPVS_DEST_ATTR_TUN_PORT,
  IPVS_DEST_ATTR_TUN_TYPE,
  IPVS_DEST_ATTR_U_THRESH,
  IPVS_DEST_ATTR_WEIGHT,
  IPVS_GENL_VERSION,
} from './constants.js';
import {
  GENL_HDRLEN,
  NLA_F_NESTED,
  NLA_HDRLEN,
  NLA_TYPE_MASK,
  NLMSG_HDRLEN,
  align4,
  attrLength,
  writeGenlHeader,
  type NlmsgHeader,
} from './wire-netlink.js';
import {
  CMD_SCHEMA,
  CMD_SCHEMA_NO_STATS,
  INFO_SCHEMA,
  attrsLength,
  decodeAttrsWith,
  encodeAttrs,
  writeAttrs,
  writeAttrsAt,
  type WireCmdAttrs,
  type WireDest,
  type WireInfo,
} from './wire-schema.js';

export type IpvsMessage =
  | { cmd: number; version?: number; attrs: WireCmdAttrs; info?: undefined }
  | { cmd: typeof IPVS_CMD_SET_INFO | typeof IPVS_CMD_GET_INFO; version?: number; info: WireInfo; attrs?: undefined };

function isInfo(cmd: number): boolean {
  return cmd === IPVS_CMD_SET_INFO || cmd === IPVS_CMD_GET_INFO;
}

/** Bytes of the genl payload (header + attributes). */
export function ipvsMessageLength(m: IpvsMessage): number {
  return GENL_HDRLEN + (m.info !== undefined ? attrsLength(INFO_SCHEMA, m.info) : attrsLength(CMD_SCHEMA, m.attrs ?? {}));
}

export function writeIpvsMessage(w: ByteWriter, m: IpvsMessage): void {
  writeGenlHeader(w, { cmd: m.cmd, version: m.version ?? IPVS_GENL_VERSION });
  if (m.info !== undefined) writeAttrs(w, INFO_SCHEMA, m.info);
  else writeAttrs(w, CMD_SCHEMA, m.attrs ?? {});
}

/** Encode the genl payload of an IPVS message. */
export function encodeIpvsMessage(m: IpvsMessage): Uint8Array {
  // One exact allocation, attributes written in place (this runs for every request of a batch).
  const out = new Uint8Array(ipvsMessageLength(m));
  const version = m.version ?? IPVS_GENL_VERSION;
  if (!Number.isInteger(m.cmd) || m.cmd < 0 || m.cmd > 0xff) throw new RangeError(`u8 out of range: ${m.cmd}`);
  if (!Number.isInteger(version) || version < 0 || version > 0xff) throw new RangeError(`u8 out of range: ${version}`);
  // struct genlmsghdr { u8 cmd; u8 version; u16 reserved; } (include/uapi/linux/genetlink.h)
  out[0] = m.cmd;
  out[1] = version;
  if (m.info !== undefined) writeAttrsAt(out, GENL_HDRLEN, INFO_SCHEMA, m.info);
  else writeAttrsAt(out, GENL_HDRLEN, CMD_SCHEMA, m.attrs ?? {});
  return out;
}

export interface DecodeOptions {
  /** Skip IPVS_*_ATTR_STATS / STATS64 (default false: decode them). */
  skipStats?: boolean;
}

/** Decode the genl payload of an IPVS message. */
export function decodeIpvsMessage(buf: Uint8Array, offset = 0, end = buf.length, options: DecodeOptions = {}): IpvsMessage {
  if (end - offset < GENL_HDRLEN) throw new DecodeError('ERR_SHORT_INPUT', `genl header needs ${GENL_HDRLEN} bytes, ${end - offset} left`, offset);
  // struct genlmsghdr read in place (no reader object: this runs for every entry of a dump).
  const h = { cmd: buf[offset] as number, version: buf[offset + 1] as number };
  if (isInfo(h.cmd)) {
    return { cmd: h.cmd as typeof IPVS_CMD_SET_INFO, version: h.version, info: decodeAttrsWith(INFO_SCHEMA, buf, offset + GENL_HDRLEN, end) };
  }
  return { cmd: h.cmd, version: h.version, attrs: decodeAttrsWith(options.skipStats === true ? CMD_SCHEMA_NO_STATS : CMD_SCHEMA, buf, offset + GENL_HDRLEN, end) };
}

/** Bytes a whole netlink request (nlmsghdr + genl payload) takes. */
export function ipvsRequestLength(m: IpvsMessage): number {
  return align4(NLMSG_HDRLEN + ipvsMessageLength(m));
}

/** Append a whole netlink request for family `h.type` into `w` (for batching many into one sendmsg). */
export function writeIpvsRequest(w: ByteWriter, h: NlmsgHeader, m: IpvsMessage): void {
  const len = NLMSG_HDRLEN + ipvsMessageLength(m);
  w.u32le(len).u16le(h.type).u16le(h.flags).u32le(h.seq >>> 0).u32le(h.port >>> 0);
  writeIpvsMessage(w, m);
  w.zeros(align4(len) - len);
}

/** Encode a whole netlink request. */
export function encodeIpvsRequest(h: NlmsgHeader, m: IpvsMessage): Uint8Array {
  const w = new ByteWriter(ipvsRequestLength(m));
  writeIpvsRequest(w, h, m);
  return w.finish();
}


function u32At(out: Uint8Array, at: number, type: number, v: number, name: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) throw new RangeError(`${name}: ${String(v)} is not an integer in 0..${0xffff_ffff}`);
  out[at] = 8; // nla_len: header + 4
  out[at + 2] = type;
  out[at + 4] = v & 0xff;
  out[at + 5] = (v >>> 8) & 0xff;
  out[at + 6] = (v >>> 16) & 0xff;
  out[at + 7] = v >>> 24;
  return at + 8;
}

function u16At(out: Uint8Array, at: number, type: number, v: number, name: string, bigEndian: boolean): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new RangeError(`${name}: ${String(v)} is not an integer in 0..${0xffff}`);
  out[at] = 6; // nla_len: header + 2, then 2 bytes of padding
  out[at + 2] = type;
  out[at + 4] = bigEndian ? v >>> 8 : v & 0xff;
  out[at + 5] = bigEndian ? v & 0xff : v >>> 8;
  return at + 8;
}

/**
 * The genl payload of IPVS_CMD_NEW_DEST / SET_DEST / DEL_DEST, built straight
 * into one buffer: the bulk of a big plan is destination requests, and the
 * table-driven codec's work per attribute is most of their cost. `serviceAttr`
 * is the whole encoded IPVS_CMD_ATTR_SERVICE attribute (shared by all requests
 * of a service). The bytes are exactly `encodeIpvsMessage({ cmd, attrs: {
 * service, dest } })` (unit-tested against it); a `dest` with attributes a
 * request doesn't carry (counters, unknown ones) goes through that codec.
 */
export function encodeDestRequest(cmd: number, serviceAttr: Uint8Array, dest: WireDest): Uint8Array {
  // The DEST_SCHEMA fields a request doesn't carry (counters, connection counts) and unknown attributes.
  if (
    dest.activeConns !== undefined ||
    dest.inactConns !== undefined ||
    dest.persistConns !== undefined ||
    dest.stats !== undefined ||
    dest.stats64 !== undefined ||
    dest.unknown !== undefined
  ) {
    {
      const destAttr = encodeAttrs(CMD_SCHEMA, { dest });
      const out = new Uint8Array(GENL_HDRLEN + serviceAttr.length + destAttr.length);
      out[0] = cmd;
      out[1] = IPVS_GENL_VERSION;
      out.set(serviceAttr, GENL_HDRLEN);
      out.set(destAttr, GENL_HDRLEN + serviceAttr.length);
      return out;
    }
  }
  const addr = dest.addr;
  if (addr !== undefined && addr.length > 16) throw new RangeError(`IPVS_DEST_ATTR_ADDR: address of ${addr.length} bytes (union nf_inet_addr holds 16)`);
  let inner = 0;
  if (dest.addrFamily !== undefined) inner += 8;
  if (addr !== undefined) inner += attrLength(addr.length);
  if (dest.port !== undefined) inner += 8;
  if (dest.fwdMethod !== undefined) inner += 8;
  if (dest.weight !== undefined) inner += 8;
  if (dest.tunType !== undefined) inner += 8;
  if (dest.tunPort !== undefined) inner += 8;
  if (dest.tunFlags !== undefined) inner += 8;
  if (dest.uThresh !== undefined) inner += 8;
  if (dest.lThresh !== undefined) inner += 8;
  const out = new Uint8Array(GENL_HDRLEN + serviceAttr.length + NLA_HDRLEN + inner);
  if (!Number.isInteger(cmd) || cmd < 0 || cmd > 0xff) throw new RangeError(`u8 out of range: ${cmd}`);
  out[0] = cmd;
  out[1] = IPVS_GENL_VERSION;
  out.set(serviceAttr, GENL_HDRLEN);
  let at = GENL_HDRLEN + serviceAttr.length;
  // IPVS_CMD_ATTR_DEST, nested
  const nlaLen = NLA_HDRLEN + inner;
  if (nlaLen > 0xffff) throw new RangeError(`netlink attribute ${IPVS_CMD_ATTR_DEST} too long: ${nlaLen} bytes`);
  out[at] = nlaLen & 0xff;
  out[at + 1] = nlaLen >>> 8;
  out[at + 2] = IPVS_CMD_ATTR_DEST;
  out[at + 3] = NLA_F_NESTED >>> 8;
  at += NLA_HDRLEN;
  if (dest.addrFamily !== undefined) at = u16At(out, at, IPVS_DEST_ATTR_ADDR_FAMILY, dest.addrFamily, 'IPVS_DEST_ATTR_ADDR_FAMILY', false);
  if (addr !== undefined) {
    out[at] = NLA_HDRLEN + addr.length;
    out[at + 2] = IPVS_DEST_ATTR_ADDR;
    out.set(addr, at + NLA_HDRLEN);
    at += attrLength(addr.length);
  }
  if (dest.port !== undefined) at = u16At(out, at, IPVS_DEST_ATTR_PORT, dest.port, 'IPVS_DEST_ATTR_PORT', true);
  if (dest.fwdMethod !== undefined) at = u32At(out, at, IPVS_DEST_ATTR_FWD_METHOD, dest.fwdMethod, 'IPVS_DEST_ATTR_FWD_METHOD');
  if (dest.weight !== undefined) at = u32At(out, at, IPVS_DEST_ATTR_WEIGHT, dest.weight, 'IPVS_DEST_ATTR_WEIGHT');
  if (dest.tunType !== undefined) {
    if (!Number.isInteger(dest.tunType) || dest.tunType < 0 || dest.tunType > 0xff) throw new RangeError(`IPVS_DEST_ATTR_TUN_TYPE: ${String(dest.tunType)} is not an integer in 0..255`);
    out[at] = 5; // header + 1, then 3 bytes of padding
    out[at + 2] = IPVS_DEST_ATTR_TUN_TYPE;
    out[at + 4] = dest.tunType;
    at += 8;
  }
  if (dest.tunPort !== undefined) at = u16At(out, at, IPVS_DEST_ATTR_TUN_PORT, dest.tunPort, 'IPVS_DEST_ATTR_TUN_PORT', true);
  if (dest.tunFlags !== undefined) at = u16At(out, at, IPVS_DEST_ATTR_TUN_FLAGS, dest.tunFlags, 'IPVS_DEST_ATTR_TUN_FLAGS', false);
  if (dest.uThresh !== undefined) at = u32At(out, at, IPVS_DEST_ATTR_U_THRESH, dest.uThresh, 'IPVS_DEST_ATTR_U_THRESH');
  if (dest.lThresh !== undefined) u32At(out, at, IPVS_DEST_ATTR_L_THRESH, dest.lThresh, 'IPVS_DEST_ATTR_L_THRESH');
  return out;
}

/**
 * `encodeDestRequest(cmd, serviceAttr, dest)` for a destination without tunnel attributes, from
 * plain values (no `WireDest` object, no padded address copy): `addr` is the address's 4 or 16
 * bytes; `full` adds forwarding, weight and both thresholds (NEW/SET), else only the identity
 * (DEL). The values must already be valid (a normal destination's are); the bytes are the same.
 */
export function encodeDestRequestPlain(
  cmd: number,
  serviceAttr: Uint8Array,
  af: number,
  addr: Uint8Array,
  port: number,
  full: boolean,
  fwdMethod: number,
  weight: number,
  uThresh: number,
  lThresh: number,
): Uint8Array {
  const out = new Uint8Array(destRequestPlainLength(serviceAttr.length, full));
  writeDestRequestPlain(out, 0, cmd, serviceAttr, af, addr, port, full, fwdMethod, weight, uThresh, lThresh);
  return out;
}

/** The length of `encodeDestRequestPlain`'s payload. */
export function destRequestPlainLength(serviceAttrLength: number, full: boolean): number {
  return GENL_HDRLEN + serviceAttrLength + NLA_HDRLEN + 8 + NLA_HDRLEN + 16 + 8 + (full ? 32 : 0);
}

/**
 * `encodeDestRequestPlain`'s bytes written at `start` of `out`, which must be zero there (a
 * fresh buffer: padding is left as it is), so a batch can encode straight into its datagram.
 */
export function writeDestRequestPlain(
  out: Uint8Array,
  start: number,
  cmd: number,
  serviceAttr: Uint8Array,
  af: number,
  addr: Uint8Array,
  port: number,
  full: boolean,
  fwdMethod: number,
  weight: number,
  uThresh: number,
  lThresh: number,
): void {
  const inner = 8 + NLA_HDRLEN + 16 + 8 + (full ? 32 : 0);
  out[start] = cmd;
  out[start + 1] = IPVS_GENL_VERSION;
  out.set(serviceAttr, start + GENL_HDRLEN);
  let at = start + GENL_HDRLEN + serviceAttr.length;
  const nlaLen = NLA_HDRLEN + inner;
  out[at] = nlaLen & 0xff;
  out[at + 1] = nlaLen >>> 8;
  out[at + 2] = IPVS_CMD_ATTR_DEST;
  out[at + 3] = NLA_F_NESTED >>> 8;
  at += NLA_HDRLEN;
  // IPVS_DEST_ATTR_ADDR_FAMILY, u16 host order
  out[at] = 6;
  out[at + 2] = IPVS_DEST_ATTR_ADDR_FAMILY;
  out[at + 4] = af & 0xff;
  out[at + 5] = af >>> 8;
  at += 8;
  // IPVS_DEST_ATTR_ADDR, union nf_inet_addr
  out[at] = NLA_HDRLEN + 16;
  out[at + 2] = IPVS_DEST_ATTR_ADDR;
  out.set(addr, at + NLA_HDRLEN);
  at += NLA_HDRLEN + 16;
  // IPVS_DEST_ATTR_PORT, network order
  out[at] = 6;
  out[at + 2] = IPVS_DEST_ATTR_PORT;
  out[at + 4] = port >>> 8;
  out[at + 5] = port & 0xff;
  at += 8;
  if (!full) return;
  at = u32Plain(out, at, IPVS_DEST_ATTR_FWD_METHOD, fwdMethod);
  at = u32Plain(out, at, IPVS_DEST_ATTR_WEIGHT, weight);
  at = u32Plain(out, at, IPVS_DEST_ATTR_U_THRESH, uThresh);
  u32Plain(out, at, IPVS_DEST_ATTR_L_THRESH, lThresh);
}

function u32Plain(out: Uint8Array, at: number, type: number, v: number): number {
  out[at] = 8;
  out[at + 2] = type;
  out[at + 4] = v & 0xff;
  out[at + 5] = (v >>> 8) & 0xff;
  out[at + 6] = (v >>> 16) & 0xff;
  out[at + 7] = v >>> 24;
  return at + 8;
}

/**
 * A destination dump entry (the genl payload of one IPVS_CMD_GET_DEST reply
 * message) decoded without its counters: the same `WireDest` as
 * `decodeIpvsMessage(payload, 0, end, { skipStats: true }).attrs.dest`
 * (unit-tested against it), read in one pass with no per-field lookups, for
 * reading big tables. Anything unusual (an attribute this reader doesn't know,
 * a short one) goes through the table-driven codec, which keeps or reports it.
 */
export function decodeDestDumpEntry(buf: Uint8Array): WireDest | undefined {
  const end = buf.length;
  if (end < GENL_HDRLEN) return slowDest(buf);
  let at = GENL_HDRLEN;
  let dest: WireDest | undefined;
  while (end - at >= NLA_HDRLEN) {
    const len = (buf[at] as number) | ((buf[at + 1] as number) << 8);
    const type = ((buf[at + 2] as number) | ((buf[at + 3] as number) << 8)) & NLA_TYPE_MASK;
    if (len < NLA_HDRLEN || at + len > end) return slowDest(buf);
    if (type !== IPVS_CMD_ATTR_DEST) return slowDest(buf);
    const d: WireDest = {};
    let p = at + NLA_HDRLEN;
    const stop = at + len;
    while (stop - p >= NLA_HDRLEN) {
      const l = (buf[p] as number) | ((buf[p + 1] as number) << 8);
      const t = ((buf[p + 2] as number) | ((buf[p + 3] as number) << 8)) & NLA_TYPE_MASK;
      if (l < NLA_HDRLEN || p + l > stop) return slowDest(buf);
      const v = p + NLA_HDRLEN;
      const n = l - NLA_HDRLEN;
      const u32 = n >= 4 ? ((buf[v] as number) | ((buf[v + 1] as number) << 8) | ((buf[v + 2] as number) << 16) | ((buf[v + 3] as number) << 24)) >>> 0 : -1;
      const u16 = n >= 2 ? (buf[v] as number) | ((buf[v + 1] as number) << 8) : -1;
      const be16 = n >= 2 ? ((buf[v] as number) << 8) | (buf[v + 1] as number) : -1;
      switch (t) {
        case IPVS_DEST_ATTR_ADDR:
          if (n > 16) return slowDest(buf);
          d.addr = buf.slice(v, v + n);
          break;
        case IPVS_DEST_ATTR_PORT:
          if (be16 < 0) return slowDest(buf);
          d.port = be16;
          break;
        case IPVS_DEST_ATTR_FWD_METHOD:
        case IPVS_DEST_ATTR_WEIGHT:
        case IPVS_DEST_ATTR_U_THRESH:
        case IPVS_DEST_ATTR_L_THRESH:
        case IPVS_DEST_ATTR_ACTIVE_CONNS:
        case IPVS_DEST_ATTR_INACT_CONNS:
        case IPVS_DEST_ATTR_PERSIST_CONNS:
          if (u32 < 0) return slowDest(buf);
          if (t === IPVS_DEST_ATTR_FWD_METHOD) d.fwdMethod = u32;
          else if (t === IPVS_DEST_ATTR_WEIGHT) d.weight = u32;
          else if (t === IPVS_DEST_ATTR_U_THRESH) d.uThresh = u32;
          else if (t === IPVS_DEST_ATTR_L_THRESH) d.lThresh = u32;
          else if (t === IPVS_DEST_ATTR_ACTIVE_CONNS) d.activeConns = u32;
          else if (t === IPVS_DEST_ATTR_INACT_CONNS) d.inactConns = u32;
          else d.persistConns = u32;
          break;
        case IPVS_DEST_ATTR_ADDR_FAMILY:
        case IPVS_DEST_ATTR_TUN_FLAGS:
          if (u16 < 0) return slowDest(buf);
          if (t === IPVS_DEST_ATTR_ADDR_FAMILY) d.addrFamily = u16;
          else d.tunFlags = u16;
          break;
        case IPVS_DEST_ATTR_TUN_PORT:
          if (be16 < 0) return slowDest(buf);
          d.tunPort = be16;
          break;
        case IPVS_DEST_ATTR_TUN_TYPE:
          if (n < 1) return slowDest(buf);
          d.tunType = buf[v] as number;
          break;
        case IPVS_DEST_ATTR_STATS:
        case IPVS_DEST_ATTR_STATS64:
          break; // counters: not read here
        default:
          return slowDest(buf);
      }
      p += align4(l);
    }
    if (dest !== undefined) return slowDest(buf); // two dest attributes: let the codec decide
    dest = d;
    at = Math.min(at + align4(len), end);
  }
  return dest;
}

function slowDest(buf: Uint8Array): WireDest | undefined {
  const m = decodeIpvsMessage(buf, 0, buf.length, { skipStats: true });
  return m.attrs?.dest;
}
