/**
 * OPEN (RFC 4271 §4.2) with capabilities (RFC 5492) and extended optional
 * parameters length (RFC 9072).
 *
 * Capabilities decoded into fields: multiprotocol (RFC 4760 §8), route refresh
 * (RFC 2918 §2), extended message (RFC 8654 §3), graceful restart (RFC 4724 §3,
 * N bit RFC 8538 §2), 4-octet AS (RFC 6793 §3), ADD-PATH (RFC 7911 §4) and
 * enhanced route refresh (RFC 7313 §3). Any other capability is kept as
 * `{ kind: 'unknown', code, value }` so nothing is lost in a round trip.
 *
 * `encodeOpen` / `decodeOpen` work on the whole message, header included.
 */
import { ByteReader, ByteWriter } from '../util/bytes.js';
import { DecodeError } from '../util/errors.js';
import { AS_TRANS, BGP_HEADER_LENGTH, ErrorCode, MessageType, OpenErrorSubcode } from './constants.js';
import { formatIPv4, parseIPv4 } from './codec-address.js';
import { decodeHeader, writeHeader } from './codec-header.js';
import { BgpError, bgpError } from './errors.js';

/** Capability codes (IANA "Capability Codes" registry). */
export const CapabilityCode = {
  MULTIPROTOCOL: 1,
  ROUTE_REFRESH: 2,
  EXTENDED_NEXT_HOP: 5,
  EXTENDED_MESSAGE: 6,
  GRACEFUL_RESTART: 64,
  FOUR_OCTET_AS: 65,
  ADD_PATH: 69,
  ENHANCED_ROUTE_REFRESH: 70,
} as const;

/** Optional parameter types (RFC 5492 §4; RFC 9072 §2 reserves 255). */
export const OptionalParameterType = { CAPABILITIES: 2, EXTENDED_LENGTH: 255 } as const;

export interface AfiSafi {
  afi: number;
  safi: number;
}

/** ADD-PATH Send/Receive field (RFC 7911 §4). */
export type AddPathDirection = 'receive' | 'send' | 'both';

export type Capability =
  | ({ kind: 'multiprotocol' } & AfiSafi)
  | { kind: 'route-refresh' }
  | { kind: 'enhanced-route-refresh' }
  | { kind: 'extended-message' }
  | { kind: 'four-octet-as'; asn: number }
  | {
      kind: 'graceful-restart';
      /** R bit: the sender has restarted (RFC 4724 §3). */
      restarting: boolean;
      /** N bit: graceful restart also covers NOTIFICATIONs (RFC 8538 §2). */
      notification: boolean;
      /** Seconds, 0..4095. */
      restartTime: number;
      families: (AfiSafi & { forwardingPreserved: boolean })[];
    }
  | { kind: 'add-path'; families: (AfiSafi & { direction: AddPathDirection })[] }
  | { kind: 'unknown'; code: number; value: Uint8Array };

export interface OpenMessage {
  /** Always 4 on send; the decoder refuses anything else (RFC 4271 §6.2). */
  version: number;
  /** The 2-octet My Autonomous System field: AS_TRANS when the real AS needs 4 octets (RFC 6793 §4.1). */
  myAs: number;
  /** Seconds; 0 or >= 3 (RFC 4271 §4.2). */
  holdTime: number;
  /** BGP Identifier as dotted quad. */
  bgpId: string;
  capabilities: Capability[];
}

const ADD_PATH_DIRECTIONS: AddPathDirection[] = ['receive', 'send', 'both'];

/** The value bytes of one capability. */
function capabilityValue(c: Capability): Uint8Array {
  const w = new ByteWriter(16);
  switch (c.kind) {
    case 'multiprotocol':
      // RFC 4760 §8: AFI, reserved, SAFI.
      w.u16(c.afi).u8(0).u8(c.safi);
      break;
    case 'route-refresh':
    case 'enhanced-route-refresh':
    case 'extended-message':
      break;
    case 'four-octet-as':
      w.u32(c.asn);
      break;
    case 'graceful-restart': {
      if (!Number.isInteger(c.restartTime) || c.restartTime < 0 || c.restartTime > 4095) {
        throw new RangeError(`graceful restart time ${c.restartTime} outside 0..4095`);
      }
      // RFC 4724 §3: Restart Flags (4 bits: R, N) and Restart Time (12 bits).
      w.u16((c.restarting ? 0x8000 : 0) | (c.notification ? 0x4000 : 0) | c.restartTime);
      for (const f of c.families) w.u16(f.afi).u8(f.safi).u8(f.forwardingPreserved ? 0x80 : 0);
      break;
    }
    case 'add-path':
      for (const f of c.families) w.u16(f.afi).u8(f.safi).u8(ADD_PATH_DIRECTIONS.indexOf(f.direction) + 1);
      break;
    case 'unknown':
      w.bytes(c.value);
      break;
  }
  return w.finish();
}

function capabilityCode(c: Capability): number {
  switch (c.kind) {
    case 'multiprotocol':
      return CapabilityCode.MULTIPROTOCOL;
    case 'route-refresh':
      return CapabilityCode.ROUTE_REFRESH;
    case 'enhanced-route-refresh':
      return CapabilityCode.ENHANCED_ROUTE_REFRESH;
    case 'extended-message':
      return CapabilityCode.EXTENDED_MESSAGE;
    case 'four-octet-as':
      return CapabilityCode.FOUR_OCTET_AS;
    case 'graceful-restart':
      return CapabilityCode.GRACEFUL_RESTART;
    case 'add-path':
      return CapabilityCode.ADD_PATH;
    case 'unknown':
      return c.code;
  }
}

/** Each capability as code, length, value (RFC 5492 §4). */
function encodeCapabilityTlvs(caps: Capability[]): Uint8Array[] {
  return caps.map((c) => {
    const v = capabilityValue(c);
    if (v.length > 255) throw new RangeError(`capability ${capabilityCode(c)} value is ${v.length} bytes; at most 255 fit`);
    const out = new Uint8Array(2 + v.length);
    out[0] = capabilityCode(c);
    out[1] = v.length;
    out.set(v, 2);
    return out;
  });
}

/**
 * Optional parameters: capabilities packed greedily into Capabilities
 * parameters of at most 255 bytes. When they add up to more than 255 bytes the
 * RFC 9072 §2 encoding is used (Non-Ext OP Len 255, Non-Ext OP Type 255, then a
 * 2-octet length, and 2-octet parameter lengths).
 */
function encodeOptionalParameters(caps: Capability[]): Uint8Array {
  const tlvs = encodeCapabilityTlvs(caps);
  const groups: Uint8Array[][] = [];
  let size = 256;
  for (const t of tlvs) {
    if (size + t.length > 255) {
      groups.push([]);
      size = 0;
    }
    (groups[groups.length - 1] as Uint8Array[]).push(t);
    size += t.length;
  }
  const plain = groups.reduce((n, g) => n + 2 + g.reduce((m, t) => m + t.length, 0), 0);
  const w = new ByteWriter(plain + 4);
  if (plain <= 255) {
    w.u8(plain);
    for (const g of groups) {
      w.u8(OptionalParameterType.CAPABILITIES).u8(g.reduce((m, t) => m + t.length, 0));
      for (const t of g) w.bytes(t);
    }
  } else {
    const all = tlvs.reduce((n, t) => n + t.length, 0);
    // RFC 9072 §2: one Capabilities parameter with a 2-octet length.
    w.u8(255).u8(OptionalParameterType.EXTENDED_LENGTH).u16(3 + all);
    w.u8(OptionalParameterType.CAPABILITIES).u16(all);
    for (const t of tlvs) w.bytes(t);
  }
  return w.finish();
}

export function openLength(msg: OpenMessage): number {
  return BGP_HEADER_LENGTH + 9 + encodeOptionalParameters(msg.capabilities).length;
}

export function encodeOpen(msg: OpenMessage): Uint8Array {
  const bgpId = parseIPv4(msg.bgpId);
  if (bgpId === undefined) throw new RangeError(`BGP identifier must be a dotted quad: ${msg.bgpId}`);
  const params = encodeOptionalParameters(msg.capabilities);
  const length = BGP_HEADER_LENGTH + 9 + params.length;
  if (length > 4096) throw new RangeError(`OPEN of ${length} bytes exceeds 4096 (RFC 8654 §4)`);
  const w = new ByteWriter(length);
  w.zeros(BGP_HEADER_LENGTH);
  w.u8(msg.version).u16(msg.myAs).u16(msg.holdTime).bytes(bgpId).bytes(params);
  const out = w.finish();
  writeHeader(out, 0, MessageType.OPEN, length);
  return out;
}

function openError(subcode: number, detail: string, data?: Uint8Array, cause?: unknown): BgpError {
  return bgpError(ErrorCode.OPEN_MESSAGE, subcode, detail, { ...(data === undefined ? {} : { data }), cause });
}

/**
 * Decode an OPEN message (header included) at `offset`. Checks what the message
 * alone can tell (RFC 4271 §6.2): version 4, hold time not 1 or 2, a non-zero
 * BGP identifier, well-formed optional parameters. Checks against the
 * configuration (peer AS, our own identifier) belong to the session.
 */
export function decodeOpen(buf: Uint8Array, offset = 0): OpenMessage {
  const h = decodeHeader(buf, offset);
  if (h.type !== MessageType.OPEN) throw new RangeError(`decodeOpen: message type ${h.type} is not OPEN`);
  if (buf.length - offset < h.length) {
    throw openError(0, `message of ${h.length} bytes is truncated`);
  }
  const r = new ByteReader(buf, offset + BGP_HEADER_LENGTH, offset + h.length);
  try {
    const version = r.u8();
    // RFC 4271 §6.2: data is the largest locally supported version, 2 octets.
    if (version !== 4) throw openError(OpenErrorSubcode.UNSUPPORTED_VERSION_NUMBER, `version ${version}`, Uint8Array.of(0, 4));
    const myAs = r.u16();
    const holdTime = r.u16();
    // RFC 4271 §6.2: hold time 1 or 2 seconds MUST be rejected.
    if (holdTime === 1 || holdTime === 2) throw openError(OpenErrorSubcode.UNACCEPTABLE_HOLD_TIME, `hold time ${holdTime}`);
    const idBytes = r.bytes(4);
    // RFC 6286 §2.1: any non-zero 32-bit value.
    if (idBytes.every((b) => b === 0)) throw openError(OpenErrorSubcode.BAD_BGP_IDENTIFIER, 'BGP identifier 0.0.0.0');
    const bgpId = formatIPv4(idBytes);
    const capabilities = decodeOptionalParameters(r);
    return { version, myAs, holdTime, bgpId, capabilities };
  } catch (e) {
    if (e instanceof BgpError) throw e;
    if (e instanceof DecodeError) throw openError(0, `malformed optional parameters: ${e.message}`, undefined, e);
    throw e;
  }
}

function decodeOptionalParameters(r: ByteReader): Capability[] {
  const nonExtLen = r.u8('Opt Parm Len');
  const caps: Capability[] = [];
  if (nonExtLen === 0) {
    if (r.remaining !== 0) throw openError(0, `${r.remaining} byte(s) after empty optional parameters`);
    return caps;
  }
  // RFC 9072 §2: a first parameter type of 255 means the extended encoding.
  const extended = r.peekU8() === OptionalParameterType.EXTENDED_LENGTH;
  let params: ByteReader;
  if (extended) {
    r.u8();
    const extLen = r.u16('Extended Opt. Parm. Length');
    params = r.sub(extLen, 'optional parameters');
  } else {
    params = r.sub(nonExtLen, 'optional parameters');
  }
  if (r.remaining !== 0) throw openError(0, `optional parameters length leaves ${r.remaining} byte(s) unaccounted for`);
  // Each parameter consumes at least 2 bytes: bounded.
  while (params.remaining > 0) {
    const type = params.u8('parameter type');
    const len = extended ? params.u16('parameter length') : params.u8('parameter length');
    const value = params.sub(len, 'parameter value');
    if (type !== OptionalParameterType.CAPABILITIES) {
      // RFC 4271 §6.2; Authentication (type 1) is deprecated by RFC 5492 §4.
      throw openError(OpenErrorSubcode.UNSUPPORTED_OPTIONAL_PARAMETER, `optional parameter type ${type}`);
    }
    while (value.remaining > 0) {
      const code = value.u8('capability code');
      const clen = value.u8('capability length');
      caps.push(decodeCapability(code, value.bytes(clen, 'capability value')));
    }
  }
  return caps;
}

function decodeCapability(code: number, v: Uint8Array): Capability {
  const r = new ByteReader(v);
  // RFC 4271 §6.2: a recognized but malformed optional parameter is "Unspecific" (subcode 0).
  const expect = (n: number): void => {
    if (v.length !== n) throw openError(0, `capability ${code} has length ${v.length}, expected ${n}`);
  };
  switch (code) {
    case CapabilityCode.MULTIPROTOCOL: {
      expect(4);
      const afi = r.u16();
      r.u8();
      return { kind: 'multiprotocol', afi, safi: r.u8() };
    }
    case CapabilityCode.ROUTE_REFRESH:
      expect(0);
      return { kind: 'route-refresh' };
    case CapabilityCode.ENHANCED_ROUTE_REFRESH:
      expect(0);
      return { kind: 'enhanced-route-refresh' };
    case CapabilityCode.EXTENDED_MESSAGE:
      expect(0);
      return { kind: 'extended-message' };
    case CapabilityCode.FOUR_OCTET_AS:
      expect(4);
      return { kind: 'four-octet-as', asn: r.u32() };
    case CapabilityCode.GRACEFUL_RESTART: {
      if (v.length < 2 || (v.length - 2) % 4 !== 0) throw openError(0, `graceful restart capability of ${v.length} bytes`);
      const flags = r.u16();
      const families: (AfiSafi & { forwardingPreserved: boolean })[] = [];
      while (r.remaining > 0) {
        const afi = r.u16();
        const safi = r.u8();
        families.push({ afi, safi, forwardingPreserved: (r.u8() & 0x80) !== 0 });
      }
      return {
        kind: 'graceful-restart',
        restarting: (flags & 0x8000) !== 0,
        notification: (flags & 0x4000) !== 0,
        restartTime: flags & 0x0fff,
        families,
      };
    }
    case CapabilityCode.ADD_PATH: {
      if (v.length === 0 || v.length % 4 !== 0) throw openError(0, `ADD-PATH capability of ${v.length} bytes`);
      const families: (AfiSafi & { direction: AddPathDirection })[] = [];
      while (r.remaining > 0) {
        const afi = r.u16();
        const safi = r.u8();
        const sr = r.u8();
        const direction = ADD_PATH_DIRECTIONS[sr - 1];
        // RFC 7911 §4: any other Send/Receive value: treat the capability as not understood.
        if (direction === undefined) return { kind: 'unknown', code, value: v.slice() };
        families.push({ afi, safi, direction });
      }
      return { kind: 'add-path', families };
    }
    default:
      return { kind: 'unknown', code, value: v.slice() };
  }
}

/** The sender's AS: the 4-octet AS capability when present (RFC 6793 §3), else My Autonomous System. */
export function openAs(msg: OpenMessage): number {
  for (const c of msg.capabilities) if (c.kind === 'four-octet-as') return c.asn;
  return msg.myAs;
}

/** The My Autonomous System field for a speaker in `asn` (RFC 6793 §4.1: AS_TRANS when it needs 4 octets). */
export function myAsField(asn: number): number {
  return asn > 0xffff ? AS_TRANS : asn;
}

/** Find the first capability of a kind. */
export function findCapability<K extends Capability['kind']>(caps: Capability[], kind: K): Extract<Capability, { kind: K }> | undefined {
  return caps.find((c): c is Extract<Capability, { kind: K }> => c.kind === kind);
}
