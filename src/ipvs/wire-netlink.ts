/**
 * Netlink framing, pure: message headers (struct nlmsghdr), the generic-netlink
 * header (struct genlmsghdr), attribute TLVs (struct nlattr), error/ack payloads
 * (struct nlmsgerr) and the generic-netlink controller's GETFAMILY exchange.
 *
 * Layouts from include/uapi/linux/netlink.h and include/uapi/linux/genetlink.h.
 * Netlink is host-endian; lvskit supports little-endian hosts (x86-64, arm64),
 * which the transport checks before opening a socket.
 *
 * No sockets here: bytes in, plain data out. Malformed input raises a
 * `DecodeError` with an `ERR_NETLINK_*` code, never anything else.
 */
import { ByteReader, ByteWriter } from '../util/bytes.js';
import { DecodeError } from '../util/errors.js';

// include/uapi/linux/netlink.h
export const NLMSG_HDRLEN = 16;
export const NLMSG_NOOP = 0x1;
export const NLMSG_ERROR = 0x2;
export const NLMSG_DONE = 0x3;
export const NLMSG_OVERRUN = 0x4;
/** Message types below this are netlink's own control messages. */
export const NLMSG_MIN_TYPE = 0x10;

export const NLM_F_REQUEST = 0x01;
export const NLM_F_MULTI = 0x02;
export const NLM_F_ACK = 0x04;
export const NLM_F_ECHO = 0x08;
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_DUMP_FILTERED = 0x20;
export const NLM_F_ROOT = 0x100;
export const NLM_F_MATCH = 0x200;
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
/** Flags of an NLMSG_ERROR (ack) message. */
export const NLM_F_CAPPED = 0x100;
export const NLM_F_ACK_TLVS = 0x200;

export const NLA_HDRLEN = 4;
export const NLA_F_NESTED = 0x8000;
export const NLA_F_NET_BYTEORDER = 0x4000;
export const NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xffff;

/** enum nlmsgerr_attrs: extended-ack TLVs after the error header. */
export const NLMSGERR_ATTR_MSG = 1;
export const NLMSGERR_ATTR_OFFS = 2;

// include/uapi/linux/genetlink.h
export const GENL_HDRLEN = 4;
export const GENL_ID_CTRL = 0x10;
export const CTRL_CMD_NEWFAMILY = 1;
export const CTRL_CMD_GETFAMILY = 3;
export const CTRL_ATTR_FAMILY_ID = 1;
export const CTRL_ATTR_FAMILY_NAME = 2;
export const CTRL_ATTR_VERSION = 3;
export const CTRL_ATTR_HDRSIZE = 4;
export const CTRL_ATTR_MAXATTR = 5;
/** The controller's own version (any value is accepted by the kernel). */
export const CTRL_VERSION = 2;

/** NLMSG_ALIGN / NLA_ALIGN: everything in netlink is padded to 4 bytes. */
export function align4(n: number): number {
  return (n + 3) & ~3;
}

export interface NlmsgHeader {
  /** nlmsg_type: NLMSG_* or, for generic netlink, the family id. */
  type: number;
  /** nlmsg_flags: NLM_F_*. */
  flags: number;
  /** nlmsg_seq: echoed by the kernel in every reply, how replies find their request. */
  seq: number;
  /** nlmsg_pid: the sender's port id (0 from the kernel). */
  port: number;
}

export interface Nlmsg extends NlmsgHeader {
  /** The payload (everything after the 16-byte header, without trailing padding), a view into the input. */
  payload: Uint8Array;
}

/** Length of a netlink message with `payloadLength` bytes of payload, padding included. */
export function nlmsgLength(payloadLength: number): number {
  return align4(NLMSG_HDRLEN + payloadLength);
}

/** Write one netlink message (header, payload, padding) into `w`. */
export function writeNlmsg(w: ByteWriter, h: NlmsgHeader, payload: Uint8Array): void {
  const len = NLMSG_HDRLEN + payload.length;
  w.u32le(len).u16le(h.type).u16le(h.flags).u32le(h.seq >>> 0).u32le(h.port >>> 0);
  w.bytes(payload);
  w.zeros(align4(len) - len);
}

/** Encode one netlink message. */
export function encodeNlmsg(h: NlmsgHeader, payload: Uint8Array): Uint8Array {
  const w = new ByteWriter(nlmsgLength(payload.length));
  writeNlmsg(w, h, payload);
  return w.finish();
}

/**
 * Split a datagram into its netlink messages (the kernel packs many into one
 * recvmsg, NLMSG_NEXT). A length field that is too small or runs past the end is
 * `ERR_NETLINK_BAD_LENGTH`.
 */
export function decodeNlmsgs(buf: Uint8Array, offset = 0, end = buf.length): Nlmsg[] {
  const out: Nlmsg[] = [];
  const r = new ByteReader(buf, offset, end);
  while (r.remaining >= NLMSG_HDRLEN) {
    const at = r.offset;
    const len = r.u32le('nlmsg_len');
    if (len < NLMSG_HDRLEN || len > r.remaining + 4) {
      throw new DecodeError('ERR_NETLINK_BAD_LENGTH', `nlmsg_len ${len} invalid with ${r.remaining + 4} byte(s) left`, at);
    }
    const type = r.u16le('nlmsg_type');
    const flags = r.u16le('nlmsg_flags');
    const seq = r.u32le('nlmsg_seq');
    const port = r.u32le('nlmsg_pid');
    const payload = r.bytes(len - NLMSG_HDRLEN, 'netlink payload');
    out.push({ type, flags, seq, port, payload });
    // The last message of a datagram may go without its padding.
    r.skipBytes(Math.min(align4(len) - len, r.remaining));
  }
  if (r.remaining !== 0) {
    throw new DecodeError('ERR_NETLINK_BAD_LENGTH', `${r.remaining} stray byte(s) after the last netlink message`, r.offset);
  }
  return out;
}

/** struct genlmsghdr: cmd, version, reserved. */
export interface GenlHeader {
  cmd: number;
  version: number;
}

export function writeGenlHeader(w: ByteWriter, h: GenlHeader): void {
  w.u8(h.cmd).u8(h.version).u16le(0);
}

export function decodeGenlHeader(buf: Uint8Array, offset = 0): GenlHeader {
  const r = new ByteReader(buf, offset);
  const cmd = r.u8('genl cmd');
  const version = r.u8('genl version');
  r.u16le('genl reserved');
  return { cmd, version };
}

/** One attribute as it lies on the wire. */
export interface NlAttr {
  /** nla_type without the NLA_F_* bits. */
  type: number;
  /** NLA_F_NESTED was set. The kernel's IPVS replies never set it (nla_nest_start_noflag). */
  nested: boolean;
  /** NLA_F_NET_BYTEORDER was set. */
  netByteOrder: boolean;
  /** Payload without padding, a view into the input. */
  data: Uint8Array;
}

/** Bytes an attribute with `payloadLength` bytes of payload takes, padding included (nla_total_size). */
export function attrLength(payloadLength: number): number {
  return align4(NLA_HDRLEN + payloadLength);
}

/** Write an attribute header (nla_len = header + payload, unpadded) for a payload of `payloadLength`. */
export function writeAttrHeader(w: ByteWriter, type: number, payloadLength: number, flags = 0): void {
  const len = NLA_HDRLEN + payloadLength;
  if (len > 0xffff) throw new RangeError(`netlink attribute ${type} too long: ${len} bytes`);
  w.u16le(len).u16le((type & NLA_TYPE_MASK) | flags);
}

/** Write padding after an attribute payload of `payloadLength` bytes. */
export function writeAttrPad(w: ByteWriter, payloadLength: number): void {
  w.zeros(attrLength(payloadLength) - NLA_HDRLEN - payloadLength);
}

/** Write a whole attribute with a byte payload. */
export function writeAttr(w: ByteWriter, type: number, data: Uint8Array, flags = 0): void {
  writeAttrHeader(w, type, data.length, flags);
  w.bytes(data);
  writeAttrPad(w, data.length);
}

/**
 * Parse a run of attributes (nla_for_each_attr). Like the kernel, fewer than 4
 * trailing bytes are ignored; an nla_len below 4 or past the end is
 * `ERR_NETLINK_BAD_ATTR`.
 */
export function decodeAttrs(buf: Uint8Array, offset = 0, end = buf.length): NlAttr[] {
  if (offset < 0 || end > buf.length || offset > end) throw new RangeError(`decodeAttrs: bad range ${offset}..${end} of ${buf.length}`);
  const out: NlAttr[] = [];
  // Hot path (a dump of 10,000 services is ~300,000 attributes): plain byte arithmetic, no reader objects.
  let at = offset;
  while (end - at >= NLA_HDRLEN) {
    const len = (buf[at] as number) | ((buf[at + 1] as number) << 8);
    const rawType = (buf[at + 2] as number) | ((buf[at + 3] as number) << 8);
    if (len < NLA_HDRLEN || at + len > end) {
      throw new DecodeError('ERR_NETLINK_BAD_ATTR', `attribute ${rawType & NLA_TYPE_MASK}: nla_len ${len} invalid with ${end - at} byte(s) left`, at);
    }
    out.push({
      type: rawType & NLA_TYPE_MASK,
      nested: (rawType & NLA_F_NESTED) !== 0,
      netByteOrder: (rawType & NLA_F_NET_BYTEORDER) !== 0,
      data: buf.subarray(at + NLA_HDRLEN, at + len),
    });
    at = Math.min(at + align4(len), end);
  }
  return out;
}

/** The payload of an NLMSG_ERROR message (struct nlmsgerr), an ack when `errno` is 0. */
export interface NlError {
  /** Positive errno (the kernel sends it negated); 0 for an ack. */
  errno: number;
  /** Header of the request this answers (its seq is the one to match). */
  request: NlmsgHeader;
  /** NLMSGERR_ATTR_MSG from an extended ack, when the kernel sent one. */
  message?: string;
}

/** Decode the payload of an NLMSG_ERROR message. */
export function decodeNlError(payload: Uint8Array, flags: number): NlError {
  const r = new ByteReader(payload);
  const error = r.u32le('nlmsgerr.error') | 0;
  const at = r.offset;
  const len = r.u32le('nlmsgerr.msg.nlmsg_len');
  const type = r.u16le('nlmsgerr.msg.nlmsg_type');
  const rflags = r.u16le('nlmsgerr.msg.nlmsg_flags');
  const seq = r.u32le('nlmsgerr.msg.nlmsg_seq');
  const port = r.u32le('nlmsgerr.msg.nlmsg_pid');
  const out: NlError = { errno: error === 0 ? 0 : -error, request: { type, flags: rflags, seq, port } };
  if (error > 0) throw new DecodeError('ERR_NETLINK_BAD_ERROR', `nlmsgerr.error ${error} is positive`, 0);
  // The request's payload follows unless the ack is capped (always capped for success acks).
  if ((flags & NLM_F_CAPPED) === 0 && error !== 0) {
    if (len < NLMSG_HDRLEN) throw new DecodeError('ERR_NETLINK_BAD_LENGTH', `echoed nlmsg_len ${len} too small`, at);
    r.skipBytes(Math.min(align4(len) - NLMSG_HDRLEN, r.remaining));
  }
  if ((flags & NLM_F_ACK_TLVS) !== 0 && r.remaining > 0) {
    for (const a of decodeAttrs(payload, r.offset)) {
      if (a.type === NLMSGERR_ATTR_MSG) out.message = decodeCString(a.data);
    }
  }
  return out;
}

/** Encode an NLMSG_ERROR payload (what the kernel sends; used by tests and fakes). */
export function encodeNlError(errno: number, request: NlmsgHeader, requestPayload?: Uint8Array): Uint8Array {
  const body = errno !== 0 && requestPayload !== undefined ? requestPayload : new Uint8Array(0);
  const w = new ByteWriter(4 + NLMSG_HDRLEN + align4(body.length));
  w.u32le(-errno >>> 0);
  w.u32le(NLMSG_HDRLEN + body.length).u16le(request.type).u16le(request.flags).u32le(request.seq >>> 0).u32le(request.port >>> 0);
  w.bytes(body);
  w.zeros(align4(body.length) - body.length);
  return w.finish();
}

/** The payload of NLMSG_DONE: an int, 0 or a negative errno when a dump failed. Returns the positive errno. */
export function decodeDoneErrno(payload: Uint8Array): number {
  if (payload.length < 4) return 0; // old kernels may send an empty DONE
  const e = new ByteReader(payload).u32le('NLMSG_DONE error') | 0;
  return e === 0 ? 0 : -e;
}

/** A NUL-terminated string attribute (NLA_NUL_STRING); text after the first NUL is ignored. */
const utf8 = new TextDecoder('utf-8', { fatal: false });

export function decodeCString(data: Uint8Array): string {
  const nul = data.indexOf(0);
  const s = nul === -1 ? data : data.subarray(0, nul);
  // Scheduler, PE and interface names are short ASCII: skip the decoder for them.
  if (s.length <= 32 && s.every((c) => c < 0x80)) return String.fromCharCode(...s);
  return utf8.decode(s);
}

/** A string as NLA_NUL_STRING bytes, NUL included. */
export function encodeCString(s: string): Uint8Array {
  const b = new TextEncoder().encode(s);
  const out = new Uint8Array(b.length + 1);
  out.set(b);
  return out;
}

/** Payload of CTRL_CMD_GETFAMILY for `name` (genl header + CTRL_ATTR_FAMILY_NAME). */
export function encodeGetFamily(name: string): Uint8Array {
  const s = encodeCString(name);
  const w = new ByteWriter(GENL_HDRLEN + attrLength(s.length));
  writeGenlHeader(w, { cmd: CTRL_CMD_GETFAMILY, version: CTRL_VERSION });
  writeAttr(w, CTRL_ATTR_FAMILY_NAME, s);
  return w.finish();
}

export interface GenlFamily {
  id: number;
  name: string;
  version: number;
  hdrsize: number;
  maxattr: number;
}

/** Decode the controller's CTRL_CMD_NEWFAMILY reply payload. */
export function decodeFamily(payload: Uint8Array): GenlFamily {
  const h = decodeGenlHeader(payload);
  if (h.cmd !== CTRL_CMD_NEWFAMILY) {
    throw new DecodeError('ERR_NETLINK_UNEXPECTED', `controller replied with command ${h.cmd}, not CTRL_CMD_NEWFAMILY`, 0);
  }
  const fam: GenlFamily = { id: 0, name: '', version: 0, hdrsize: 0, maxattr: 0 };
  for (const a of decodeAttrs(payload, GENL_HDRLEN)) {
    const r = new ByteReader(a.data);
    if (a.type === CTRL_ATTR_FAMILY_ID) fam.id = r.u16le('CTRL_ATTR_FAMILY_ID');
    else if (a.type === CTRL_ATTR_FAMILY_NAME) fam.name = decodeCString(a.data);
    else if (a.type === CTRL_ATTR_VERSION) fam.version = r.u32le('CTRL_ATTR_VERSION');
    else if (a.type === CTRL_ATTR_HDRSIZE) fam.hdrsize = r.u32le('CTRL_ATTR_HDRSIZE');
    else if (a.type === CTRL_ATTR_MAXATTR) fam.maxattr = r.u32le('CTRL_ATTR_MAXATTR');
  }
  if (fam.id === 0) throw new DecodeError('ERR_NETLINK_UNEXPECTED', 'controller reply has no CTRL_ATTR_FAMILY_ID', 0);
  return fam;
}
