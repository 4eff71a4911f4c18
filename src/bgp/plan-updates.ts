/**
 * UPDATE batching: turn a set of route announcements and withdrawals into
 * few UPDATE messages. Routes with the same path attributes and next hop share
 * an UPDATE (RFC 4271 §4.3: one attribute set, many NLRI); each message is
 * filled up to the size limit (4096, or 65535 with RFC 8654). IPv4 routes use
 * the NLRI and Withdrawn Routes fields; IPv6 routes MP_REACH_NLRI and
 * MP_UNREACH_NLRI (RFC 4760).
 */
import { toHex } from '../util/bytes.js';
import { Afi, BGP_MAX_EXTENDED_MESSAGE_LENGTH, BGP_MAX_MESSAGE_LENGTH, Safi } from './constants.js';
import type { Nlri } from './codec-address.js';
import { familyOf, nlriLength } from './codec-address.js';
import type { PathAttributes } from './codec-attributes.js';
import type { UpdateCodecOptions, UpdateMessage } from './codec-update.js';
import { updateLength } from './codec-update.js';

/** A route to send: prefix, attributes (without NEXT_HOP and MP_*), and next hop(s). */
export interface OutRoute {
  /** Canonical prefix text. */
  prefix: string;
  pathId?: number;
  /**
   * Everything but NEXT_HOP, MP_REACH_NLRI and MP_UNREACH_NLRI, which the planner fills in.
   * Treated as immutable: its key is cached per object, so build a new object to change it.
   */
  attributes: PathAttributes;
  /** IPv4 routes: one IPv4 address. IPv6 routes: a global address and optionally a link-local one (RFC 2545 §3). */
  nextHop: string[];
}

const attrKeyCache = new WeakMap<PathAttributes, string>();

/**
 * A canonical key of an attribute set: equal keys mean equal attributes on the
 * wire (structure, not identity; cached per object). NEXT_HOP and MP_* are not
 * part of it: the planner sets those.
 */
export function attributesKey(a: PathAttributes, _opts: UpdateCodecOptions = {}): string {
  let k = attrKeyCache.get(a);
  if (k !== undefined) return k;
  k = attributesKeyUncached(a);
  attrKeyCache.set(a, k);
  return k;
}

/** `attributesKey` without the cache, for objects seen once (each decoded UPDATE's). */
export function attributesKeyUncached(a: PathAttributes): string {
  let k = `${a.origin ?? ''}|`;
  if (a.asPath !== undefined) for (const sg of a.asPath) k += `${sg.type}:${sg.asns.join(',')};`;
  k += `|${a.med ?? ''}|${a.localPref ?? ''}|${a.atomicAggregate === true ? 'A' : ''}|`;
  if (a.aggregator !== undefined) k += `${a.aggregator.asn}@${a.aggregator.address}`;
  k += `|${a.communities?.join(',') ?? ''}|${a.originatorId ?? ''}|${a.clusterList?.join(',') ?? ''}|`;
  if (a.extendedCommunities !== undefined) k += a.extendedCommunities.map((x) => x.toString(16)).join(',');
  k += '|';
  if (a.largeCommunities !== undefined) for (const c of a.largeCommunities) k += `${c.globalAdmin}:${c.localData1}:${c.localData2},`;
  k += '|';
  if (a.unknown !== undefined) for (const u of a.unknown) k += `${u.flags}/${u.type}/${toHex(u.value)},`;
  return k;
}

/** The key that decides which routes can share an UPDATE. */
export function routeGroupKey(r: OutRoute, opts: UpdateCodecOptions = {}): string {
  return `${familyOf(r.prefix)}|${r.nextHop.join(',')}|${attributesKey(r.attributes, opts)}`;
}

function prefixBits(prefix: string): number {
  const slash = prefix.lastIndexOf('/');
  return slash < 0 ? (prefix.includes(':') ? 128 : 32) : Number(prefix.slice(slash + 1));
}

function limit(opts: UpdateCodecOptions): number {
  return opts.extendedMessage === true ? BGP_MAX_EXTENDED_MESSAGE_LENGTH : BGP_MAX_MESSAGE_LENGTH;
}

function nlriOf(r: { prefix: string; pathId?: number }): Nlri {
  return r.pathId === undefined ? { prefix: r.prefix } : { prefix: r.prefix, pathId: r.pathId };
}

/**
 * Cut `items` into chunks that fit: `base` is the size of the message with an
 * empty chunk (plus slack for an attribute header that may grow to the
 * extended length form). The caller builds one UPDATE per chunk.
 */
function chunked(items: Nlri[], addPath: boolean, base: number, max: number): Nlri[][] {
  const out: Nlri[][] = [];
  let chunk: Nlri[] = [];
  let size = base;
  for (const n of items) {
    const len = nlriLength(prefixBits(n.prefix), addPath);
    if (base + len > max) throw new RangeError(`an UPDATE for ${n.prefix} cannot fit in ${max} bytes (attributes too large)`);
    if (size + len > max) {
      out.push(chunk);
      chunk = [];
      size = base;
    }
    chunk.push(n);
    size += len;
  }
  if (chunk.length > 0) out.push(chunk);
  return out;
}

// Message builders as plain functions (the build wraps named closures, which costs per call).
function withdraw4(c: Nlri[]): UpdateMessage {
  return { withdrawn: c, attributes: {}, nlri: [] };
}
function withdraw6(c: Nlri[]): UpdateMessage {
  return { withdrawn: [], attributes: { mpUnreach: { afi: Afi.IPV6, safi: Safi.UNICAST, withdrawn: c } }, nlri: [] };
}
function announce4(attrs: PathAttributes, nh: string, c: Nlri[]): UpdateMessage {
  return { withdrawn: [], attributes: { ...attrs, nextHop: nh }, nlri: c };
}
function announce6(attrs: PathAttributes, nh: string[], c: Nlri[]): UpdateMessage {
  return { withdrawn: [], attributes: { mpReach: { afi: Afi.IPV6, safi: Safi.UNICAST, nextHop: nh, nlri: c }, ...attrs }, nlri: [] };
}

/**
 * Plan the UPDATEs for `announce` and `withdraw`: withdrawals first (IPv4 in
 * the Withdrawn Routes field, IPv6 in MP_UNREACH_NLRI), then one run of
 * messages per attribute set, in the order the sets first appear.
 */
export function planUpdates(announce: readonly OutRoute[], withdraw: readonly Nlri[], opts: UpdateCodecOptions = {}): UpdateMessage[] {
  const max = limit(opts);
  const ap4 = opts.addPath?.ipv4 === true;
  const ap6 = opts.addPath?.ipv6 === true;
  const out: UpdateMessage[] = [];

  const w4 = withdraw.filter((n) => familyOf(n.prefix) === Afi.IPV4);
  const w6 = withdraw.filter((n) => familyOf(n.prefix) === Afi.IPV6);
  if (w4.length > 0) for (const c of chunked(w4, ap4, updateLength(withdraw4([]), opts), max)) out.push(withdraw4(c));
  if (w6.length > 0) for (const c of chunked(w6, ap6, updateLength(withdraw6([]), opts) + 1, max)) out.push(withdraw6(c));

  // Two levels, so no key string is built per route: attribute-set key (cached per object, its hash
  // cached by the engine), then next hop (with the family for IPv6). Insertion order is kept.
  type Group = { first: OutRoute; nlri: Nlri[] };
  const ordered: Group[] = [];
  const groups = new Map<string, Map<string, Group>>();
  for (const r of announce) {
    const ak = attributesKey(r.attributes, opts);
    let inner = groups.get(ak);
    if (inner === undefined) {
      inner = new Map();
      groups.set(ak, inner);
    }
    const nk = r.nextHop.length === 1 ? (r.nextHop[0] as string) : r.nextHop.join(',');
    const k = r.prefix.includes(':') ? `6|${nk}` : nk;
    const g = inner.get(k);
    if (g === undefined) {
      const ng = { first: r, nlri: [nlriOf(r)] };
      inner.set(k, ng);
      ordered.push(ng);
    } else g.nlri.push(nlriOf(r));
  }
  for (const { first, nlri } of ordered) {
    // The planner owns NEXT_HOP and the MP attributes; anything the caller left there is ignored.
    const { nextHop: _nh, mpReach: _mr, mpUnreach: _mu, ...attrs } = first.attributes;
    if (familyOf(first.prefix) === Afi.IPV4) {
      const nh = first.nextHop[0];
      if (nh === undefined || first.nextHop.length !== 1) throw new RangeError(`IPv4 route ${first.prefix} needs exactly one next hop`);
      for (const c of chunked(nlri, ap4, updateLength(announce4(attrs, nh, []), opts), max)) out.push(announce4(attrs, nh, c));
    } else {
      if (first.nextHop.length < 1 || first.nextHop.length > 2) throw new RangeError(`IPv6 route ${first.prefix} needs one or two next hops`);
      const nh = first.nextHop;
      for (const c of chunked(nlri, ap6, updateLength(announce6(attrs, nh, []), opts) + 1, max)) out.push(announce6(attrs, nh, c));
    }
  }
  return out;
}
