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
import { IPVS_CMD_GET_INFO, IPVS_CMD_SET_INFO, IPVS_GENL_VERSION } from './constants.js';
import {
  GENL_HDRLEN,
  NLMSG_HDRLEN,
  align4,
  decodeGenlHeader,
  writeGenlHeader,
  type NlmsgHeader,
} from './wire-netlink.js';
import { CMD_SCHEMA, CMD_SCHEMA_NO_STATS, INFO_SCHEMA, attrsLength, decodeAttrsWith, writeAttrs, type WireCmdAttrs, type WireInfo } from './wire-schema.js';

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
  const w = new ByteWriter(ipvsMessageLength(m));
  writeIpvsMessage(w, m);
  return w.finish();
}

export interface DecodeOptions {
  /** Skip IPVS_*_ATTR_STATS / STATS64 (default false: decode them). */
  skipStats?: boolean;
}

/** Decode the genl payload of an IPVS message. */
export function decodeIpvsMessage(buf: Uint8Array, offset = 0, end = buf.length, options: DecodeOptions = {}): IpvsMessage {
  if (end - offset < GENL_HDRLEN) throw new DecodeError('ERR_SHORT_INPUT', `genl header needs ${GENL_HDRLEN} bytes, ${end - offset} left`, offset);
  const h = decodeGenlHeader(buf.subarray(0, end), offset);
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
