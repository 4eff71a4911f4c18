/**
 * The IPVS generic-netlink attribute schema, table-driven and pure.
 *
 * Every nested attribute set of include/uapi/linux/ip_vs.h is a table of
 * fields: the kernel's attribute name and number, the key it takes in the wire
 * model, and its encoding. One generic codec (`encodeAttrs` / `decodeAttrs` /
 * `attrsLength`) walks a table, so adding an attribute is one line.
 *
 * Encodings, as net/netfilter/ipvs/ip_vs_ctl.c reads and writes them:
 * - u8/u16/u32/u64: host byte order (nla_get_u16 ...), little-endian here.
 * - be16: network byte order (nla_get_be16): service and destination ports,
 *   IPVS_DEST_ATTR_TUN_PORT.
 * - raw4: IPVS_SVC_ATTR_NETMASK, a __be32 the kernel copies as is. For AF_INET
 *   it is the mask in network order (255.255.255.0 = ff ff ff 00); for AF_INET6
 *   ipvsadm and the kernel store the prefix length there as a host-order
 *   integer (ip_vs_add_service checks 1..128). The model layer interprets it.
 * - addr: union nf_inet_addr, 16 bytes; an IPv4 address sits in the first 4.
 *   ipvsadm and the kernel always send all 16; a shorter one is accepted.
 * - in_addr / in6_addr: the sync daemon's multicast group (nla_get_in_addr).
 * - string: NLA_NUL_STRING with the kernel's maximum length (NUL excluded).
 * - flags: struct ip_vs_flags { __u32 flags; __u32 mask; }, host order.
 * - nested: another table. Requests set NLA_F_NESTED; the kernel's replies
 *   don't (nla_nest_start_noflag), and its parser ignores the bit.
 *
 * Attributes a table doesn't know (a newer kernel's) are kept in `unknown` and
 * written back after the known ones, so nothing is lost in a round trip.
 * IPVS_STATS_ATTR_PAD (alignment filler from nla_put_u64_64bit) is dropped.
 */
import type { ByteWriter } from '../util/bytes.js';
import { DecodeError } from '../util/errors.js';
import * as K from './constants.js';
import {
  NLA_F_NESTED,
  NLA_F_NET_BYTEORDER,
  NLA_HDRLEN,
  NLA_TYPE_MASK,
  align4,
  attrLength,
  decodeCString,
  type NlAttr,
} from './wire-netlink.js';

export type FieldKind =
  | { kind: 'u8' }
  | { kind: 'u16' }
  | { kind: 'u32' }
  | { kind: 'u64' }
  | { kind: 'be16' }
  | { kind: 'raw4' }
  | { kind: 'addr' }
  | { kind: 'in_addr' }
  | { kind: 'in6_addr' }
  | { kind: 'string'; max: number }
  | { kind: 'flags' }
  | { kind: 'nested'; schema: Schema<object> };

export interface FieldSpec {
  /** The kernel's name, e.g. `IPVS_SVC_ATTR_PORT`. */
  name: string;
  /** Attribute number. */
  type: number;
  /** Key in the wire model object. */
  key: string;
  enc: FieldKind;
}

/** A table of fields for one attribute set; `T` is the wire-model object it decodes to. */
export interface Schema<T extends object> {
  /** Name of the set, for error messages (`IPVS_SVC_ATTR`). */
  name: string;
  fields: readonly FieldSpec[];
  /** Attribute numbers read and then dropped (padding). */
  ignore?: readonly number[];
  /** Phantom: the model type. */
  readonly __model?: T;
}

/** Attributes a table didn't know, kept for the round trip. */
export interface HasUnknown {
  unknown?: NlAttr[];
}

/** struct ip_vs_flags (include/uapi/linux/ip_vs.h). */
export interface IpvsFlagsWire {
  flags: number;
  mask: number;
}

/** IPVS_SVC_ATTR_STATS / IPVS_DEST_ATTR_STATS: u32 counters, except the byte counts (u64). */
export interface WireStats extends HasUnknown {
  conns?: number;
  inpkts?: number;
  outpkts?: number;
  inbytes?: bigint;
  outbytes?: bigint;
  cps?: number;
  inpps?: number;
  outpps?: number;
  inbps?: number;
  outbps?: number;
}

/** IPVS_SVC_ATTR_STATS64 / IPVS_DEST_ATTR_STATS64: every counter u64. */
export interface WireStats64 extends HasUnknown {
  conns?: bigint;
  inpkts?: bigint;
  outpkts?: bigint;
  inbytes?: bigint;
  outbytes?: bigint;
  cps?: bigint;
  inpps?: bigint;
  outpps?: bigint;
  inbps?: bigint;
  outbps?: bigint;
}

/** Attributes nested in IPVS_CMD_ATTR_SERVICE. */
export interface WireService extends HasUnknown {
  af?: number;
  protocol?: number;
  /** union nf_inet_addr (16 bytes as sent by ipvsadm and the kernel). */
  addr?: Uint8Array;
  port?: number;
  fwmark?: number;
  schedName?: string;
  flags?: IpvsFlagsWire;
  /** Persistence timeout in seconds. */
  timeout?: number;
  /** The raw __be32 (see the file comment). */
  netmask?: Uint8Array;
  stats?: WireStats;
  peName?: string;
  stats64?: WireStats64;
}

/** Attributes nested in IPVS_CMD_ATTR_DEST. */
export interface WireDest extends HasUnknown {
  addr?: Uint8Array;
  port?: number;
  /** IP_VS_CONN_F_* forwarding method (low 3 bits). */
  fwdMethod?: number;
  weight?: number;
  uThresh?: number;
  lThresh?: number;
  activeConns?: number;
  inactConns?: number;
  persistConns?: number;
  stats?: WireStats;
  addrFamily?: number;
  stats64?: WireStats64;
  tunType?: number;
  tunPort?: number;
  tunFlags?: number;
}

/** Attributes nested in IPVS_CMD_ATTR_DAEMON. */
export interface WireDaemon extends HasUnknown {
  state?: number;
  mcastIfn?: string;
  syncId?: number;
  syncMaxlen?: number;
  /** IPv4 group, 4 bytes network order. */
  mcastGroup?: Uint8Array;
  /** IPv6 group, 16 bytes. */
  mcastGroup6?: Uint8Array;
  mcastPort?: number;
  mcastTtl?: number;
}

/** Top-level attributes of every IPVS command except the info reply. */
export interface WireCmdAttrs extends HasUnknown {
  service?: WireService;
  dest?: WireDest;
  daemon?: WireDaemon;
  timeoutTcp?: number;
  timeoutTcpFin?: number;
  timeoutUdp?: number;
}

/** Top-level attributes of the IPVS_CMD_GET_INFO reply (IPVS_CMD_SET_INFO). */
export interface WireInfo extends HasUnknown {
  /** IP_VS_VERSION_CODE, e.g. 0x010201 for 1.2.1. */
  version?: number;
  connTabSize?: number;
}

function f(name: string, type: number, key: string, enc: FieldKind): FieldSpec {
  return { name, type, key, enc };
}

const u8 = { kind: 'u8' } as const;
const u16 = { kind: 'u16' } as const;
const u32 = { kind: 'u32' } as const;
const u64 = { kind: 'u64' } as const;
const be16 = { kind: 'be16' } as const;

export const STATS_SCHEMA: Schema<WireStats> = {
  name: 'IPVS_STATS_ATTR',
  fields: [
    f('IPVS_STATS_ATTR_CONNS', K.IPVS_STATS_ATTR_CONNS, 'conns', u32),
    f('IPVS_STATS_ATTR_INPKTS', K.IPVS_STATS_ATTR_INPKTS, 'inpkts', u32),
    f('IPVS_STATS_ATTR_OUTPKTS', K.IPVS_STATS_ATTR_OUTPKTS, 'outpkts', u32),
    f('IPVS_STATS_ATTR_INBYTES', K.IPVS_STATS_ATTR_INBYTES, 'inbytes', u64),
    f('IPVS_STATS_ATTR_OUTBYTES', K.IPVS_STATS_ATTR_OUTBYTES, 'outbytes', u64),
    f('IPVS_STATS_ATTR_CPS', K.IPVS_STATS_ATTR_CPS, 'cps', u32),
    f('IPVS_STATS_ATTR_INPPS', K.IPVS_STATS_ATTR_INPPS, 'inpps', u32),
    f('IPVS_STATS_ATTR_OUTPPS', K.IPVS_STATS_ATTR_OUTPPS, 'outpps', u32),
    f('IPVS_STATS_ATTR_INBPS', K.IPVS_STATS_ATTR_INBPS, 'inbps', u32),
    f('IPVS_STATS_ATTR_OUTBPS', K.IPVS_STATS_ATTR_OUTBPS, 'outbps', u32),
  ],
  ignore: [K.IPVS_STATS_ATTR_PAD],
};

export const STATS64_SCHEMA: Schema<WireStats64> = {
  name: 'IPVS_STATS_ATTR',
  fields: STATS_SCHEMA.fields.map((x) => ({ ...x, enc: u64 })),
  ignore: [K.IPVS_STATS_ATTR_PAD],
};

/** In the order ipvsadm's libipvs (ipvs_nl_fill_service_attr) and the kernel (ip_vs_genl_fill_service) write them. */
export const SERVICE_SCHEMA: Schema<WireService> = {
  name: 'IPVS_SVC_ATTR',
  fields: [
    f('IPVS_SVC_ATTR_AF', K.IPVS_SVC_ATTR_AF, 'af', u16),
    f('IPVS_SVC_ATTR_FWMARK', K.IPVS_SVC_ATTR_FWMARK, 'fwmark', u32),
    f('IPVS_SVC_ATTR_PROTOCOL', K.IPVS_SVC_ATTR_PROTOCOL, 'protocol', u16),
    f('IPVS_SVC_ATTR_ADDR', K.IPVS_SVC_ATTR_ADDR, 'addr', { kind: 'addr' }),
    f('IPVS_SVC_ATTR_PORT', K.IPVS_SVC_ATTR_PORT, 'port', be16),
    // NLA_NUL_STRING, .len = IP_VS_SCHEDNAME_MAXLEN - 1 (ip_vs_svc_policy)
    f('IPVS_SVC_ATTR_SCHED_NAME', K.IPVS_SVC_ATTR_SCHED_NAME, 'schedName', { kind: 'string', max: K.IP_VS_SCHEDNAME_MAXLEN - 1 }),
    f('IPVS_SVC_ATTR_PE_NAME', K.IPVS_SVC_ATTR_PE_NAME, 'peName', { kind: 'string', max: K.IP_VS_PENAME_MAXLEN - 1 }),
    f('IPVS_SVC_ATTR_FLAGS', K.IPVS_SVC_ATTR_FLAGS, 'flags', { kind: 'flags' }),
    f('IPVS_SVC_ATTR_TIMEOUT', K.IPVS_SVC_ATTR_TIMEOUT, 'timeout', u32),
    f('IPVS_SVC_ATTR_NETMASK', K.IPVS_SVC_ATTR_NETMASK, 'netmask', { kind: 'raw4' }),
    f('IPVS_SVC_ATTR_STATS', K.IPVS_SVC_ATTR_STATS, 'stats', { kind: 'nested', schema: STATS_SCHEMA }),
    f('IPVS_SVC_ATTR_STATS64', K.IPVS_SVC_ATTR_STATS64, 'stats64', { kind: 'nested', schema: STATS64_SCHEMA }),
  ],
};

/** In the order ipvsadm's libipvs (ipvs_nl_fill_dest_attr) writes them, then the read-only ones. */
export const DEST_SCHEMA: Schema<WireDest> = {
  name: 'IPVS_DEST_ATTR',
  fields: [
    f('IPVS_DEST_ATTR_ADDR_FAMILY', K.IPVS_DEST_ATTR_ADDR_FAMILY, 'addrFamily', u16),
    f('IPVS_DEST_ATTR_ADDR', K.IPVS_DEST_ATTR_ADDR, 'addr', { kind: 'addr' }),
    f('IPVS_DEST_ATTR_PORT', K.IPVS_DEST_ATTR_PORT, 'port', be16),
    f('IPVS_DEST_ATTR_FWD_METHOD', K.IPVS_DEST_ATTR_FWD_METHOD, 'fwdMethod', u32),
    f('IPVS_DEST_ATTR_WEIGHT', K.IPVS_DEST_ATTR_WEIGHT, 'weight', u32),
    f('IPVS_DEST_ATTR_TUN_TYPE', K.IPVS_DEST_ATTR_TUN_TYPE, 'tunType', u8),
    f('IPVS_DEST_ATTR_TUN_PORT', K.IPVS_DEST_ATTR_TUN_PORT, 'tunPort', be16),
    f('IPVS_DEST_ATTR_TUN_FLAGS', K.IPVS_DEST_ATTR_TUN_FLAGS, 'tunFlags', u16),
    f('IPVS_DEST_ATTR_U_THRESH', K.IPVS_DEST_ATTR_U_THRESH, 'uThresh', u32),
    f('IPVS_DEST_ATTR_L_THRESH', K.IPVS_DEST_ATTR_L_THRESH, 'lThresh', u32),
    f('IPVS_DEST_ATTR_ACTIVE_CONNS', K.IPVS_DEST_ATTR_ACTIVE_CONNS, 'activeConns', u32),
    f('IPVS_DEST_ATTR_INACT_CONNS', K.IPVS_DEST_ATTR_INACT_CONNS, 'inactConns', u32),
    f('IPVS_DEST_ATTR_PERSIST_CONNS', K.IPVS_DEST_ATTR_PERSIST_CONNS, 'persistConns', u32),
    f('IPVS_DEST_ATTR_STATS', K.IPVS_DEST_ATTR_STATS, 'stats', { kind: 'nested', schema: STATS_SCHEMA }),
    f('IPVS_DEST_ATTR_STATS64', K.IPVS_DEST_ATTR_STATS64, 'stats64', { kind: 'nested', schema: STATS64_SCHEMA }),
  ],
};

/** ip_vs_daemon_policy / ip_vs_genl_fill_daemon. */
export const DAEMON_SCHEMA: Schema<WireDaemon> = {
  name: 'IPVS_DAEMON_ATTR',
  fields: [
    f('IPVS_DAEMON_ATTR_STATE', K.IPVS_DAEMON_ATTR_STATE, 'state', u32),
    f('IPVS_DAEMON_ATTR_MCAST_IFN', K.IPVS_DAEMON_ATTR_MCAST_IFN, 'mcastIfn', { kind: 'string', max: K.IP_VS_IFNAME_MAXLEN - 1 }),
    f('IPVS_DAEMON_ATTR_SYNC_ID', K.IPVS_DAEMON_ATTR_SYNC_ID, 'syncId', u32),
    f('IPVS_DAEMON_ATTR_SYNC_MAXLEN', K.IPVS_DAEMON_ATTR_SYNC_MAXLEN, 'syncMaxlen', u16),
    f('IPVS_DAEMON_ATTR_MCAST_GROUP', K.IPVS_DAEMON_ATTR_MCAST_GROUP, 'mcastGroup', { kind: 'in_addr' }),
    f('IPVS_DAEMON_ATTR_MCAST_GROUP6', K.IPVS_DAEMON_ATTR_MCAST_GROUP6, 'mcastGroup6', { kind: 'in6_addr' }),
    // nla_get_u16 / nla_put_u16: host order, unlike the service ports.
    f('IPVS_DAEMON_ATTR_MCAST_PORT', K.IPVS_DAEMON_ATTR_MCAST_PORT, 'mcastPort', u16),
    f('IPVS_DAEMON_ATTR_MCAST_TTL', K.IPVS_DAEMON_ATTR_MCAST_TTL, 'mcastTtl', u8),
  ],
};

/** ip_vs_cmd_policy. */
export const CMD_SCHEMA: Schema<WireCmdAttrs> = {
  name: 'IPVS_CMD_ATTR',
  fields: [
    f('IPVS_CMD_ATTR_SERVICE', K.IPVS_CMD_ATTR_SERVICE, 'service', { kind: 'nested', schema: SERVICE_SCHEMA }),
    f('IPVS_CMD_ATTR_DEST', K.IPVS_CMD_ATTR_DEST, 'dest', { kind: 'nested', schema: DEST_SCHEMA }),
    f('IPVS_CMD_ATTR_DAEMON', K.IPVS_CMD_ATTR_DAEMON, 'daemon', { kind: 'nested', schema: DAEMON_SCHEMA }),
    f('IPVS_CMD_ATTR_TIMEOUT_TCP', K.IPVS_CMD_ATTR_TIMEOUT_TCP, 'timeoutTcp', u32),
    f('IPVS_CMD_ATTR_TIMEOUT_TCP_FIN', K.IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, 'timeoutTcpFin', u32),
    f('IPVS_CMD_ATTR_TIMEOUT_UDP', K.IPVS_CMD_ATTR_TIMEOUT_UDP, 'timeoutUdp', u32),
  ],
};

function withoutStats<T extends object>(schema: Schema<T>, statsTypes: number[]): Schema<T> {
  return { name: schema.name, fields: schema.fields.filter((x) => !statsTypes.includes(x.type)), ignore: [...(schema.ignore ?? []), ...statsTypes] };
}

/**
 * CMD_SCHEMA that skips the counters of services and destinations (a reconciler reading a big table
 * needs settings, not counters: decoding the 20 counter attributes of each entry is most of the work).
 */
export const CMD_SCHEMA_NO_STATS: Schema<WireCmdAttrs> = {
  name: CMD_SCHEMA.name,
  fields: CMD_SCHEMA.fields.map((x) =>
    x.key === 'service'
      ? { ...x, enc: { kind: 'nested', schema: withoutStats(SERVICE_SCHEMA, [K.IPVS_SVC_ATTR_STATS, K.IPVS_SVC_ATTR_STATS64]) } }
      : x.key === 'dest'
        ? { ...x, enc: { kind: 'nested', schema: withoutStats(DEST_SCHEMA, [K.IPVS_DEST_ATTR_STATS, K.IPVS_DEST_ATTR_STATS64]) } }
        : x,
  ),
};

/** ip_vs_genl_get_cmd, IPVS_CMD_GET_INFO branch. */
export const INFO_SCHEMA: Schema<WireInfo> = {
  name: 'IPVS_INFO_ATTR',
  fields: [
    f('IPVS_INFO_ATTR_VERSION', K.IPVS_INFO_ATTR_VERSION, 'version', u32),
    f('IPVS_INFO_ATTR_CONN_TAB_SIZE', K.IPVS_INFO_ATTR_CONN_TAB_SIZE, 'connTabSize', u32),
  ],
};

// ---------------------------------------------------------------------------
// The generic codec.

const textEncoder = new TextEncoder();

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** UTF-8 length without encoding (scheduler and interface names are ASCII). */
function utf8Length(s: string): number {
  return isAscii(s) ? s.length : textEncoder.encode(s).length;
}

function payloadLength(enc: FieldKind, v: unknown, name: string): number {
  const fixed = fixedLength(enc);
  if (fixed !== undefined) return fixed;
  switch (enc.kind) {
    case 'addr': {
      const b = v as Uint8Array;
      if (b.length > 16) throw new RangeError(`${name}: address of ${b.length} bytes (union nf_inet_addr holds 16)`);
      return b.length;
    }
    case 'string': {
      const n = utf8Length(v as string);
      if (n > enc.max) throw new RangeError(`${name}: "${String(v)}" is longer than ${enc.max} bytes`);
      if ((v as string).includes('\0')) throw new RangeError(`${name}: string contains NUL`);
      return n + 1;
    }
    case 'nested':
      return attrsLength(enc.schema, v as object);
    default:
      throw new RangeError(`${name}: no length for field kind ${enc.kind}`);
  }
}

/** Bytes the attributes of `value` take under `schema`, padding included. */
export function attrsLength<T extends object>(schema: Schema<T>, value: T): number {
  // Indexed loops, no iterator or `?? []` array per call: this runs for every attribute set of every request.
  const rec = value as Record<string, unknown>;
  const fields = schema.fields;
  let n = 0;
  for (let i = 0; i < fields.length; i++) {
    const fs = fields[i] as FieldSpec;
    const v = rec[fs.key];
    if (v === undefined) continue;
    n += attrLength(payloadLength(fs.enc, v, fs.name));
  }
  const unknown = (value as HasUnknown).unknown;
  if (unknown !== undefined) for (let i = 0; i < unknown.length; i++) n += attrLength((unknown[i] as NlAttr).data.length);
  return n;
}

function checkUint(v: unknown, max: number, name: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    throw new RangeError(`${name}: ${String(v)} is not an integer in 0..${max}`);
  }
  return v;
}

function header(buf: Uint8Array, at: number, type: number, payloadLen: number, flags: number): number {
  const len = NLA_HDRLEN + payloadLen;
  if (len > 0xffff) throw new RangeError(`netlink attribute ${type} too long: ${len} bytes`);
  const t = (type & NLA_TYPE_MASK) | flags;
  buf[at] = len & 0xff;
  buf[at + 1] = len >>> 8;
  buf[at + 2] = t & 0xff;
  buf[at + 3] = t >>> 8;
  return at + NLA_HDRLEN;
}

function putU32le(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v & 0xff;
  buf[at + 1] = (v >>> 8) & 0xff;
  buf[at + 2] = (v >>> 16) & 0xff;
  buf[at + 3] = v >>> 24;
}

/**
 * Write one attribute at `buf[at]` (a zero-filled buffer: padding is left as
 * is) and return the offset after its padding. Bytes are set one by one:
 * no DataView or writer object per attribute, as this runs for every
 * attribute of every request of a big batch.
 */
function writeFieldAt(buf: Uint8Array, at: number, fs: FieldSpec, v: unknown): number {
  const enc = fs.enc;
  const len = payloadLength(enc, v, fs.name);
  const p = header(buf, at, fs.type, len, enc.kind === 'nested' ? NLA_F_NESTED : 0);
  switch (enc.kind) {
    case 'u8':
      buf[p] = checkUint(v, 0xff, fs.name);
      break;
    case 'u16': {
      const x = checkUint(v, 0xffff, fs.name);
      buf[p] = x & 0xff;
      buf[p + 1] = x >>> 8;
      break;
    }
    case 'be16': {
      const x = checkUint(v, 0xffff, fs.name);
      buf[p] = x >>> 8;
      buf[p + 1] = x & 0xff;
      break;
    }
    case 'u32':
      putU32le(buf, p, checkUint(v, 0xffff_ffff, fs.name));
      break;
    case 'u64': {
      if (typeof v !== 'bigint') throw new RangeError(`${fs.name}: expected a bigint`);
      if (v < 0n || v > 0xffff_ffff_ffff_ffffn) throw new RangeError(`u64 out of range: ${v}`);
      putU32le(buf, p, Number(v & 0xffff_ffffn));
      putU32le(buf, p + 4, Number(v >> 32n));
      break;
    }
    case 'raw4':
    case 'in_addr':
    case 'in6_addr': {
      const b = v as Uint8Array;
      if (b.length !== len) throw new RangeError(`${fs.name}: expected ${len} bytes, got ${b.length}`);
      buf.set(b, p);
      break;
    }
    case 'addr':
      buf.set(v as Uint8Array, p);
      break;
    case 'string': {
      const str = v as string;
      if (isAscii(str)) for (let i = 0; i < str.length; i++) buf[p + i] = str.charCodeAt(i);
      else buf.set(textEncoder.encode(str), p);
      buf[p + len - 1] = 0;
      break;
    }
    case 'flags': {
      const fl = v as IpvsFlagsWire;
      putU32le(buf, p, checkUint(fl.flags, 0xffff_ffff, fs.name));
      putU32le(buf, p + 4, checkUint(fl.mask, 0xffff_ffff, fs.name));
      break;
    }
    case 'nested':
      writeAttrsAt(buf, p, enc.schema, v as object);
      break;
  }
  return at + attrLength(len);
}

/** Write the attributes of `value` at `buf[at]` (zero-filled); returns the offset after them. */
export function writeAttrsAt<T extends object>(buf: Uint8Array, at: number, schema: Schema<T>, value: T): number {
  const rec = value as Record<string, unknown>;
  const fields = schema.fields;
  for (let i = 0; i < fields.length; i++) {
    const fs = fields[i] as FieldSpec;
    const v = rec[fs.key];
    if (v !== undefined) at = writeFieldAt(buf, at, fs, v);
  }
  const unknown = (value as HasUnknown).unknown;
  if (unknown === undefined) return at;
  for (const a of unknown) {
    const p = header(buf, at, a.type, a.data.length, (a.nested ? NLA_F_NESTED : 0) | (a.netByteOrder ? NLA_F_NET_BYTEORDER : 0));
    buf.set(a.data, p);
    at += attrLength(a.data.length);
  }
  return at;
}

/** Write the attributes of `value` (known ones in table order, then unknown ones as they came). */
export function writeAttrs<T extends object>(w: ByteWriter, schema: Schema<T>, value: T): void {
  w.bytes(encodeAttrs(schema, value));
}

/** Encode the attributes of `value` under `schema`. */
export function encodeAttrs<T extends object>(schema: Schema<T>, value: T): Uint8Array {
  const out = new Uint8Array(attrsLength(schema, value));
  writeAttrsAt(out, 0, schema, value);
  return out;
}

function fixedLength(enc: FieldKind): number | undefined {
  switch (enc.kind) {
    case 'u8':
      return 1;
    case 'u16':
    case 'be16':
      return 2;
    case 'u32':
    case 'raw4':
    case 'in_addr':
      return 4;
    case 'u64':
    case 'flags':
      return 8;
    case 'in6_addr':
      return 16;
    default:
      return undefined;
  }
}

function u32le(d: Uint8Array, i: number): number {
  return ((d[i] as number) | ((d[i + 1] as number) << 8) | ((d[i + 2] as number) << 16) | ((d[i + 3] as number) << 24)) >>> 0;
}

/** Field lookup by attribute number, built once per schema. */
const byType = new WeakMap<Schema<object>, Map<number, FieldSpec>>();
function fieldsByType(schema: Schema<object>): Map<number, FieldSpec> {
  let m = byType.get(schema);
  if (m === undefined) {
    m = new Map(schema.fields.map((x) => [x.type, x]));
    byType.set(schema, m);
  }
  return m;
}

/** Read one field's value from `buf[start, start + len)`; `at` is the attribute's offset, for errors. */
function readField(fs: FieldSpec, buf: Uint8Array, start: number, len: number, at: number): unknown {
  const enc = fs.enc;
  const want = fixedLength(enc);
  // Like nla_get_*, a longer payload is read from its start (the kernel only
  // warns); a shorter one is malformed.
  if (want !== undefined && len < want) {
    throw new DecodeError('ERR_IPVS_BAD_ATTR', `${fs.name}: ${len} byte(s), need ${want}`, at);
  }
  switch (enc.kind) {
    case 'u8':
      return buf[start];
    case 'u16':
      return (buf[start] as number) | ((buf[start + 1] as number) << 8);
    case 'be16':
      return ((buf[start] as number) << 8) | (buf[start + 1] as number);
    case 'u32':
      return u32le(buf, start);
    case 'u64': {
      // BigInt arithmetic is slow; counters mostly fit in 32 bits.
      const lo = u32le(buf, start);
      const hi = u32le(buf, start + 4);
      return hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
    }
    case 'raw4':
    case 'in_addr':
      return buf.slice(start, start + 4);
    case 'in6_addr':
      return buf.slice(start, start + 16);
    case 'addr':
      if (len > 16) throw new DecodeError('ERR_IPVS_BAD_ATTR', `${fs.name}: ${len} bytes, more than union nf_inet_addr`, at);
      return buf.slice(start, start + len);
    case 'string':
      return decodeCString(buf.subarray(start, start + len));
    case 'flags':
      return { flags: u32le(buf, start), mask: u32le(buf, start + 4) };
    case 'nested':
      return decodeAttrsAt(enc.schema, buf, start, start + len);
  }
}

/**
 * One pass over the TLVs of `buf[offset, end)` (the hot path of a dump: no
 * per-attribute objects for known fields). Offsets in errors are offsets in `buf`.
 */
function decodeAttrsAt<T extends object>(schema: Schema<T>, buf: Uint8Array, offset: number, end: number): T {
  if (offset < 0 || end > buf.length || offset > end) throw new RangeError(`decodeAttrs: bad range ${offset}..${end} of ${buf.length}`);
  const out: Record<string, unknown> = {};
  const fields = fieldsByType(schema);
  let unknown: NlAttr[] | undefined;
  let at = offset;
  while (end - at >= NLA_HDRLEN) {
    const len = (buf[at] as number) | ((buf[at + 1] as number) << 8);
    const rawType = (buf[at + 2] as number) | ((buf[at + 3] as number) << 8);
    const type = rawType & NLA_TYPE_MASK;
    if (len < NLA_HDRLEN || at + len > end) {
      throw new DecodeError('ERR_NETLINK_BAD_ATTR', `${schema.name}: attribute ${type}: nla_len ${len} invalid with ${end - at} byte(s) left`, at);
    }
    const fs = fields.get(type);
    if (fs !== undefined) out[fs.key] = readField(fs, buf, at + NLA_HDRLEN, len - NLA_HDRLEN, at);
    else if (schema.ignore?.includes(type) !== true) {
      (unknown ??= []).push({
        type,
        nested: (rawType & NLA_F_NESTED) !== 0,
        netByteOrder: (rawType & NLA_F_NET_BYTEORDER) !== 0,
        data: buf.slice(at + NLA_HDRLEN, at + len),
      });
    }
    at = Math.min(at + align4(len), end);
  }
  if (unknown !== undefined) out['unknown'] = unknown;
  return out as T;
}

/**
 * Decode a run of attributes under `schema`. Malformed TLVs and attributes too
 * short for their type raise a `DecodeError` (`ERR_NETLINK_BAD_ATTR`,
 * `ERR_IPVS_BAD_ATTR`) with the offset in `buf`.
 */
export function decodeAttrsWith<T extends object>(schema: Schema<T>, buf: Uint8Array, offset = 0, end = buf.length): T {
  return decodeAttrsAt(schema, buf, offset, end);
}

// Named codecs per attribute set (encodeX / decodeX / xLength).

export const encodeService = (s: WireService): Uint8Array => encodeAttrs(SERVICE_SCHEMA, s);
export const decodeService = (buf: Uint8Array, offset = 0, end = buf.length): WireService => decodeAttrsWith(SERVICE_SCHEMA, buf, offset, end);
export const serviceLength = (s: WireService): number => attrsLength(SERVICE_SCHEMA, s);

export const encodeDest = (d: WireDest): Uint8Array => encodeAttrs(DEST_SCHEMA, d);
export const decodeDest = (buf: Uint8Array, offset = 0, end = buf.length): WireDest => decodeAttrsWith(DEST_SCHEMA, buf, offset, end);
export const destLength = (d: WireDest): number => attrsLength(DEST_SCHEMA, d);

export const encodeDaemon = (d: WireDaemon): Uint8Array => encodeAttrs(DAEMON_SCHEMA, d);
export const decodeDaemon = (buf: Uint8Array, offset = 0, end = buf.length): WireDaemon => decodeAttrsWith(DAEMON_SCHEMA, buf, offset, end);
export const daemonLength = (d: WireDaemon): number => attrsLength(DAEMON_SCHEMA, d);

export const encodeInfo = (i: WireInfo): Uint8Array => encodeAttrs(INFO_SCHEMA, i);
export const decodeInfo = (buf: Uint8Array, offset = 0, end = buf.length): WireInfo => decodeAttrsWith(INFO_SCHEMA, buf, offset, end);
export const infoLength = (i: WireInfo): number => attrsLength(INFO_SCHEMA, i);

/** The three timeouts (IPVS_CMD_SET_CONFIG / the GET_CONFIG reply), seconds. */
export interface WireTimeouts {
  timeoutTcp?: number;
  timeoutTcpFin?: number;
  timeoutUdp?: number;
}
export const encodeTimeouts = (t: WireTimeouts): Uint8Array => encodeAttrs(CMD_SCHEMA, pickTimeouts(t));
export const decodeTimeouts = (buf: Uint8Array, offset = 0, end = buf.length): WireTimeouts => pickTimeouts(decodeAttrsWith(CMD_SCHEMA, buf, offset, end));
export const timeoutsLength = (t: WireTimeouts): number => attrsLength(CMD_SCHEMA, pickTimeouts(t));

function pickTimeouts(t: WireTimeouts): WireTimeouts {
  const out: WireTimeouts = {};
  if (t.timeoutTcp !== undefined) out.timeoutTcp = t.timeoutTcp;
  if (t.timeoutTcpFin !== undefined) out.timeoutTcpFin = t.timeoutTcpFin;
  if (t.timeoutUdp !== undefined) out.timeoutUdp = t.timeoutUdp;
  return out;
}
