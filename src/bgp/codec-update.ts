/**
 * UPDATE (RFC 4271 §4.3) and End-of-RIB (RFC 4724 §2).
 *
 * `decodeUpdate` returns a verdict rather than only throwing, so a session can
 * follow RFC 7606 without resetting:
 * - `{ kind: 'update', update, discarded }`: apply it; `discarded` lists the
 *   attributes dropped (attribute discard, repeated attributes);
 * - `{ kind: 'treat-as-withdraw', withdrawn, errors }`: withdraw every prefix
 *   the UPDATE mentioned, in any field (RFC 7606 §2);
 * and throws a `BgpError` (handling `session-reset`) when the session must end:
 * field lengths that do not add up, NLRI that cannot be parsed (§5.3), bad MP_*
 * attributes (§7.11), an unrecognized well-known attribute.
 */
import { ByteReader, ByteWriter } from '../util/bytes.js';
import {
  Afi,
  BGP_HEADER_LENGTH,
  BGP_MAX_EXTENDED_MESSAGE_LENGTH,
  BGP_MAX_MESSAGE_LENGTH,
  ErrorCode,
  MessageType,
  Safi,
  UpdateErrorSubcode,
} from './constants.js';
import type { AddressFamily, Nlri } from './codec-address.js';
import { nlriListLength, readNlri, writeNlri } from './codec-address.js';
import { attributesLength, AttributeType, preparedLength, prepareAttributes, readAttributes, writePrepared } from './codec-attributes.js';
import type { AttributeCodecOptions, PathAttributes } from './codec-attributes.js';
import { decodeHeader, writeHeader } from './codec-header.js';
import type { BgpError } from './errors.js';
import { bgpError } from './errors.js';

export interface UpdateMessage {
  /** IPv4 prefixes in the Withdrawn Routes field. */
  withdrawn: Nlri[];
  attributes: PathAttributes;
  /** IPv4 prefixes in the NLRI field. */
  nlri: Nlri[];
}

export interface UpdateCodecOptions extends AttributeCodecOptions {
  /** The extended message capability was negotiated: up to 65535 bytes (RFC 8654 §3). */
  extendedMessage?: boolean;
}

export type UpdateVerdict =
  | { kind: 'update'; update: UpdateMessage; discarded: BgpError[] }
  | { kind: 'treat-as-withdraw'; withdrawn: Nlri[]; errors: BgpError[] };

function maxLength(opts: UpdateCodecOptions): number {
  return opts.extendedMessage === true ? BGP_MAX_EXTENDED_MESSAGE_LENGTH : BGP_MAX_MESSAGE_LENGTH;
}

function addPath4(opts: UpdateCodecOptions): boolean {
  return opts.addPath?.ipv4 === true;
}

export function updateLength(msg: UpdateMessage, opts: UpdateCodecOptions = {}): number {
  const ap = addPath4(opts);
  return BGP_HEADER_LENGTH + 4 + nlriListLength(msg.withdrawn, ap) + attributesLength(msg.attributes, opts) + nlriListLength(msg.nlri, ap);
}

/** Encode an UPDATE. Throws a `RangeError` when it would exceed the message size limit. */
export function encodeUpdate(msg: UpdateMessage, opts: UpdateCodecOptions = {}): Uint8Array {
  const ap = addPath4(opts);
  const prepared = prepareAttributes(msg.attributes, opts);
  const length = BGP_HEADER_LENGTH + 4 + nlriListLength(msg.withdrawn, ap) + preparedLength(prepared) + nlriListLength(msg.nlri, ap);
  if (length > maxLength(opts)) throw new RangeError(`UPDATE of ${length} bytes exceeds ${maxLength(opts)}`);
  const w = new ByteWriter(length);
  w.zeros(BGP_HEADER_LENGTH);
  const wl = w.reserveU16();
  writeNlri(w, msg.withdrawn, Afi.IPV4, ap);
  w.patchU16(wl, w.length - wl - 2);
  const al = w.reserveU16();
  writePrepared(w, prepared);
  w.patchU16(al, w.length - al - 2);
  writeNlri(w, msg.nlri, Afi.IPV4, ap);
  const out = w.finish();
  if (out.length !== length) throw new Error(`internal: UPDATE wrote ${out.length} of ${length} bytes`);
  writeHeader(out, 0, MessageType.UPDATE, length);
  return out;
}

const sessionReset = (subcode: number, detail: string, data?: Uint8Array): BgpError =>
  bgpError(ErrorCode.UPDATE_MESSAGE, subcode, detail, { handling: 'session-reset', ...(data === undefined ? {} : { data }) });

/** Decode an UPDATE (header included) at `offset`, with RFC 7606 handling. See the file comment. */
export function decodeUpdate(buf: Uint8Array, offset = 0, opts: UpdateCodecOptions = {}): UpdateVerdict {
  const h = decodeHeader(buf, offset, maxLength(opts));
  if (h.type !== MessageType.UPDATE) throw new RangeError(`decodeUpdate: message type ${h.type} is not UPDATE`);
  const end = offset + h.length;
  if (end > buf.length) throw sessionReset(UpdateErrorSubcode.MALFORMED_ATTRIBUTE_LIST, `UPDATE of ${h.length} bytes is truncated`);
  const r = new ByteReader(buf, offset + BGP_HEADER_LENGTH, end);
  const ap = addPath4(opts);

  // RFC 4271 §6.3: Withdrawn Routes Length + Total Attribute Length + 23 > message length.
  const wlen = r.u16();
  if (wlen + 2 > r.remaining) {
    throw sessionReset(UpdateErrorSubcode.MALFORMED_ATTRIBUTE_LIST, `withdrawn routes length ${wlen} overruns the message`);
  }
  // (No sub-reader for an empty field: announcements, nearly every UPDATE of a table, have none.)
  const withdrawn = wlen === 0 ? [] : readNlri(r.sub(wlen), Afi.IPV4, ap);
  // RFC 7606 §5.3: unparseable Withdrawn Routes or NLRI fields mean session reset.
  if (typeof withdrawn === 'string') throw sessionReset(UpdateErrorSubcode.INVALID_NETWORK_FIELD, `withdrawn routes: ${withdrawn}`);
  const alen = r.u16();
  if (alen > r.remaining) {
    throw sessionReset(UpdateErrorSubcode.MALFORMED_ATTRIBUTE_LIST, `total path attribute length ${alen} overruns the message`);
  }
  const attrReader = r.sub(alen);
  const nlri = readNlri(r, Afi.IPV4, ap);
  if (typeof nlri === 'string') throw sessionReset(UpdateErrorSubcode.INVALID_NETWORK_FIELD, `NLRI: ${nlri}`);

  const got = readAttributes(attrReader, opts, withdrawn.length > 0 || nlri.length > 0);
  const a = got.attributes;
  const errors = got.withdrawErrors;

  // RFC 4271 §6.3 / RFC 7606 §3 d: well-known mandatory attributes, needed when there is NLRI.
  // NEXT_HOP only for the NLRI field (RFC 4760 §3: MP_REACH carries its own).
  const reach = nlri.length > 0 || (a.mpReach !== undefined && a.mpReach.nlri.length > 0);
  if (reach && !got.overrun) {
    const missing: number[] = [];
    const present = got.present;
    if (!present.has(AttributeType.ORIGIN)) missing.push(AttributeType.ORIGIN);
    if (!present.has(AttributeType.AS_PATH)) missing.push(AttributeType.AS_PATH);
    if (nlri.length > 0 && !present.has(AttributeType.NEXT_HOP)) missing.push(AttributeType.NEXT_HOP);
    for (const m of missing) {
      // Data: the type code of the missing attribute.
      errors.push(
        bgpError(ErrorCode.UPDATE_MESSAGE, UpdateErrorSubcode.MISSING_WELL_KNOWN_ATTRIBUTE, `attribute ${m} missing`, {
          handling: 'treat-as-withdraw',
          data: Uint8Array.of(m),
        }),
      );
    }
  }

  if (errors.length > 0) {
    const all: Nlri[] = [...withdrawn, ...nlri];
    if (a.mpReach !== undefined) all.push(...a.mpReach.nlri);
    if (a.mpUnreach !== undefined) all.push(...a.mpUnreach.withdrawn);
    return { kind: 'treat-as-withdraw', withdrawn: all, errors };
  }
  return { kind: 'update', update: { withdrawn, attributes: a, nlri }, discarded: got.discarded };
}

/** The End-of-RIB marker of a family (RFC 4724 §2): an empty UPDATE for IPv4 unicast, an empty MP_UNREACH otherwise. */
export function endOfRib(afi: AddressFamily, safi: number = Safi.UNICAST): UpdateMessage {
  if (afi === Afi.IPV4 && safi === Safi.UNICAST) return { withdrawn: [], attributes: {}, nlri: [] };
  return { withdrawn: [], attributes: { mpUnreach: { afi, safi, withdrawn: [] } }, nlri: [] };
}

/** The family whose End-of-RIB this UPDATE is, or undefined when it is not one (RFC 4724 §2). */
export function isEndOfRib(u: UpdateMessage): { afi: number; safi: number } | undefined {
  if (u.withdrawn.length > 0 || u.nlri.length > 0) return undefined;
  const keys = Object.keys(u.attributes).filter((k) => u.attributes[k as keyof PathAttributes] !== undefined);
  if (keys.length === 0) return { afi: Afi.IPV4, safi: Safi.UNICAST };
  const m = u.attributes.mpUnreach;
  if (keys.length === 1 && m !== undefined && m.withdrawn.length === 0) return { afi: m.afi, safi: m.safi };
  return undefined;
}
