/**
 * Adj-RIB-In and Adj-RIB-Out (RFC 4271 §3.2), pure data structures.
 *
 * `AdjRibIn` holds what one peer announced: it applies UPDATE verdicts
 * (including RFC 7606 treat-as-withdraw), reports what changed, counts
 * prefixes against a limit (RFC 4486 Cease / Maximum Number of Prefixes
 * Reached), and marks routes stale and sweeps them for graceful restart
 * (RFC 4724 §4.2).
 *
 * `AdjRibOut` holds what we want one peer to have, and what it has been sent.
 * Changes accumulate until `flush()` turns them into UPDATEs (batched by
 * `planUpdates`); `resend()` after a new session or a route refresh
 * (RFC 2918 §4) makes the next flush send the whole table.
 */
import { Afi, CeaseSubcode, ErrorCode, Safi } from './constants.js';
import type { AddressFamily, Nlri } from './codec-address.js';
import { familyOf, ipv4PrefixKey } from './codec-address.js';
import type { AsPathSegment, PathAttributes, UnknownAttribute } from './codec-attributes.js';
import type { LargeCommunity } from './communities.js';
import type { NotificationMessage } from './codec-messages.js';
import type { UpdateCodecOptions, UpdateMessage, UpdateVerdict } from './codec-update.js';
import { isEndOfRib } from './codec-update.js';
import type { OutRoute } from './plan-updates.js';
import { attributesKey, planUpdates } from './plan-updates.js';

/** Map key of a route: the prefix, and the path identifier under ADD-PATH. */
export function routeKey(prefix: string, pathId?: number): string {
  return pathId === undefined ? prefix : `${prefix}#${pathId}`;
}

/** A route received from a peer. */
export interface InRoute {
  prefix: string;
  pathId?: number;
  afi: AddressFamily;
  /** NEXT_HOP for IPv4 NLRI; the MP_REACH_NLRI next hop(s) otherwise. */
  nextHop: string[];
  /** The path attributes without NEXT_HOP and MP_*; shared by the routes of one UPDATE. */
  attributes: PathAttributes;
  /** Kept from before a graceful restart, not yet refreshed (RFC 4724 §4.2). */
  stale: boolean;
}

export interface RibInChange {
  /** New or changed routes. */
  announced: InRoute[];
  /** Routes that were present and are now gone. */
  withdrawn: InRoute[];
  /** Routes of families not accepted (see `acceptFamilies`), ignored. */
  ignored: number;
  /** The UPDATE was an End-of-RIB marker for this family (RFC 4724 §2). */
  endOfRib?: { afi: number; safi: number };
  /** The limit was passed by this UPDATE (RFC 4486). */
  maxPrefixesExceeded: boolean;
}

/** The NOTIFICATION for a passed prefix limit: Cease / 1 with AFI, SAFI and the limit as data (RFC 4486 §4). */
export function maxPrefixesNotification(afi: number, safi: number, limit: number): NotificationMessage {
  const data = new Uint8Array(7);
  const v = new DataView(data.buffer);
  v.setUint16(0, afi);
  v.setUint8(2, safi);
  v.setUint32(3, Math.min(limit, 0xffffffff));
  return { code: ErrorCode.CEASE, subcode: CeaseSubcode.MAXIMUM_PREFIXES_REACHED, data };
}

/**
 * Routes sharing one attribute set, next hop, family and stale flag: what an
 * Adj-RIB-In entry points at. A full table has ~10x fewer of these than routes.
 */
/** One attribute set held, with the path sets that use it. */
interface AttrSet {
  readonly hash: number;
  readonly attrs: PathAttributes;
  readonly paths: PathSet[];
}

interface PathSet {
  readonly set: AttrSet;
  readonly afi: AddressFamily;
  readonly nextHop: string[];
  readonly attributes: PathAttributes;
  readonly stale: boolean;
  /** Routes pointing here. */
  refs: number;
}

/** `ipv4PrefixKey` (canonical IPv4 text as `address * 64 + length`, else -1): the Adj-RIB-In's IPv4 key. */
const v4Key = ipv4PrefixKey;

function v4Text(addr: number, len: number): string {
  const a = addr >>> 0;
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}/${len}`;
}

/** Splits a route key back into prefix and path identifier. */
function splitKey(k: string): { prefix: string; pathId?: number } {
  const hash = k.indexOf('#');
  return hash < 0 ? { prefix: k } : { prefix: k.slice(0, hash), pathId: Number(k.slice(hash + 1)) };
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function hasAs(path: readonly AsPathSegment[] | undefined, asn: number): boolean {
  if (path === undefined) return false;
  for (const sg of path) for (const a of sg.asns) if (a === asn) return true;
  return false;
}

// Attribute sets are interned by a numeric hash and a field-by-field comparison: no key string per
// UPDATE. Both ignore NEXT_HOP and MP_* (the path set holds the next hop; MP_* carry the NLRI).

function mix(h: number, v: number): number {
  return Math.imul(h ^ v, 0x01000193) | 0; // FNV-1a step on 32-bit words
}

function mixArray(h: number, xs: readonly number[] | undefined): number {
  if (xs === undefined) return mix(h, -1);
  h = mix(h, xs.length);
  for (const x of xs) h = mix(h, x | 0);
  return h;
}

function attributesHash(a: PathAttributes): number {
  let h = 0x811c9dc5 | 0;
  h = mix(h, a.origin === undefined ? -1 : a.origin.length);
  if (a.asPath !== undefined) for (const sg of a.asPath) h = mixArray(mix(h, sg.type.length), sg.asns);
  h = mix(h, a.med ?? -1);
  h = mix(h, a.localPref ?? -1);
  h = mixArray(h, a.communities);
  if (a.largeCommunities !== undefined) for (const c of a.largeCommunities) h = mix(mix(mix(h, c.globalAdmin), c.localData1), c.localData2);
  h = mix(h, a.extendedCommunities?.length ?? -1);
  h = mix(h, a.unknown?.length ?? -1);
  return h;
}

function sameNumbers(a: readonly number[] | undefined, b: readonly number[] | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Equal path attributes, NEXT_HOP and MP_* aside. */
function sameAttributes(a: PathAttributes, b: PathAttributes): boolean {
  if (a.origin !== b.origin || a.med !== b.med || a.localPref !== b.localPref || a.atomicAggregate !== b.atomicAggregate) return false;
  if (a.originatorId !== b.originatorId || !sameNumbers(a.communities, b.communities)) return false;
  if (a.asPath !== b.asPath) {
    if (a.asPath === undefined || b.asPath === undefined || a.asPath.length !== b.asPath.length) return false;
    for (let i = 0; i < a.asPath.length; i++) {
      const x = a.asPath[i] as AsPathSegment;
      const y = b.asPath[i] as AsPathSegment;
      if (x.type !== y.type || !sameNumbers(x.asns, y.asns)) return false;
    }
  }
  if (a.aggregator !== b.aggregator && (a.aggregator?.asn !== b.aggregator?.asn || a.aggregator?.address !== b.aggregator?.address)) return false;
  if (a.clusterList !== b.clusterList && (a.clusterList === undefined || b.clusterList === undefined || !sameStrings(a.clusterList, b.clusterList))) return false;
  if (a.largeCommunities !== b.largeCommunities) {
    const x = a.largeCommunities;
    const y = b.largeCommunities;
    if (x === undefined || y === undefined || x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) {
      const p = x[i] as LargeCommunity;
      const q = y[i] as LargeCommunity;
      if (p.globalAdmin !== q.globalAdmin || p.localData1 !== q.localData1 || p.localData2 !== q.localData2) return false;
    }
  }
  if (a.extendedCommunities !== b.extendedCommunities) {
    const x = a.extendedCommunities;
    const y = b.extendedCommunities;
    if (x === undefined || y === undefined || x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  }
  if (a.unknown !== b.unknown) {
    const x = a.unknown;
    const y = b.unknown;
    if (x === undefined || y === undefined || x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) {
      const p = x[i] as UnknownAttribute;
      const q = y[i] as UnknownAttribute;
      if (p.type !== q.type || p.flags !== q.flags || !sameBytes(p.value, q.value)) return false;
    }
  }
  return true;
}

/** The attributes without NEXT_HOP and MP_*: field by field (an object rest copy is slower). */
function stripReach(a: PathAttributes): PathAttributes {
  const o: PathAttributes = {};
  if (a.origin !== undefined) o.origin = a.origin;
  if (a.asPath !== undefined) o.asPath = a.asPath;
  if (a.med !== undefined) o.med = a.med;
  if (a.localPref !== undefined) o.localPref = a.localPref;
  if (a.atomicAggregate !== undefined) o.atomicAggregate = a.atomicAggregate;
  if (a.aggregator !== undefined) o.aggregator = a.aggregator;
  if (a.communities !== undefined) o.communities = a.communities;
  if (a.originatorId !== undefined) o.originatorId = a.originatorId;
  if (a.clusterList !== undefined) o.clusterList = a.clusterList;
  if (a.extendedCommunities !== undefined) o.extendedCommunities = a.extendedCommunities;
  if (a.largeCommunities !== undefined) o.largeCommunities = a.largeCommunities;
  if (a.unknown !== undefined) o.unknown = a.unknown;
  return o;
}

export class AdjRibIn {
  /**
   * IPv4 routes without a path identifier (nearly all of a full table), one
   * map per prefix length keyed by the address as an int32: a small integer
   * key costs no allocation, so a route is one map entry (~30 bytes) and no
   * object of its own. `InRoute` objects are built when asked for.
   */
  readonly #v4: Map<number, PathSet>[] = Array.from({ length: 33 }, () => new Map<number, PathSet>());
  /** Every other route (IPv6, ADD-PATH), by `routeKey`. */
  readonly #other = new Map<string, PathSet>();
  #count = 0;
  /**
   * Attribute sets, interned: routes received in different UPDATEs with equal
   * attributes share one object; with it, the path sets that use it.
   */
  readonly #sets = new Map<number, AttrSet[]>();
  #setCount = 0;
  readonly #maxPrefixes: number;
  readonly #localAs: number | undefined;
  #families: Set<AddressFamily> | undefined;

  /**
   * `maxPrefixes`: the limit for `maxPrefixesExceeded`. `localAs`: routes whose
   * AS_PATH holds it are loops and are not accepted (RFC 4271 §9.1.2); one that
   * replaces an accepted route withdraws it.
   */
  constructor(options: { maxPrefixes?: number; localAs?: number } = {}) {
    this.#maxPrefixes = options.maxPrefixes ?? Infinity;
    this.#localAs = options.localAs;
  }

  get size(): number {
    return this.#count;
  }

  /**
   * Accept announcements of these families only (those the session negotiated):
   * others are ignored and counted in `ignored` (RFC 4760 §7). Undefined: all.
   */
  acceptFamilies(families: AddressFamily[] | undefined): void {
    this.#families = families === undefined ? undefined : new Set(families);
  }

  get(prefix: string, pathId?: number): InRoute | undefined {
    const ps = this.#lookup(prefix, pathId);
    return ps === undefined ? undefined : inRoute(prefix, pathId, ps);
  }

  /** All routes, or those of one family. */
  *routes(afi?: AddressFamily): IterableIterator<InRoute> {
    if (afi === undefined || afi === Afi.IPV4) {
      for (let len = 0; len <= 32; len++) for (const [a, ps] of this.#v4[len] as Map<number, PathSet>) yield inRoute(v4Text(a, len), undefined, ps);
    }
    for (const [k, ps] of this.#other) {
      if (afi !== undefined && ps.afi !== afi) continue;
      const { prefix, pathId } = splitKey(k);
      yield inRoute(prefix, pathId, ps);
    }
  }

  /** Apply one decoded UPDATE. */
  apply(verdict: UpdateVerdict): RibInChange {
    const change: RibInChange = { announced: [], withdrawn: [], ignored: 0, maxPrefixesExceeded: false };
    if (verdict.kind === 'treat-as-withdraw') {
      // RFC 7606 §2: as if every prefix of the UPDATE had been withdrawn.
      for (const n of verdict.withdrawn) this.#remove(n, change);
      return change;
    }
    const u = verdict.update;
    const eor = isEndOfRib(u);
    if (eor !== undefined) {
      change.endOfRib = eor;
      return change;
    }
    const a = u.attributes;
    for (const n of u.withdrawn) this.#remove(n, change);
    if (a.mpUnreach !== undefined) for (const n of a.mpUnreach.withdrawn) this.#remove(n, change);
    const mpReach = a.mpReach;
    if (u.nlri.length === 0 && (mpReach === undefined || mpReach.nlri.length === 0)) return change;
    const local = this.#localAs;
    if (local !== undefined && hasAs(a.asPath, local)) {
      // RFC 4271 §9.1.2: our own AS in the path makes the routes unfeasible; treat them as withdrawn.
      for (const n of u.nlri) this.#remove(n, change);
      if (mpReach !== undefined) for (const n of mpReach.nlri) this.#remove(n, change);
      return change;
    }
    const fam = this.#families;
    const hash = attributesHash(a);
    if (u.nlri.length > 0 && a.nextHop !== undefined) {
      if (fam !== undefined && !fam.has(Afi.IPV4)) change.ignored += u.nlri.length;
      else {
        const ps = this.#pathSet(Afi.IPV4, [a.nextHop], a, hash, false);
        for (const n of u.nlri) this.#add(n, ps, change);
        this.#unused(ps);
      }
    }
    if (mpReach !== undefined && mpReach.nlri.length > 0) {
      if (fam !== undefined && !fam.has(mpReach.afi)) change.ignored += mpReach.nlri.length;
      else {
        const ps = this.#pathSet(mpReach.afi, mpReach.nextHop, a, hash, false);
        for (const n of mpReach.nlri) this.#add(n, ps, change);
        this.#unused(ps);
      }
    }
    change.maxPrefixesExceeded = change.announced.length > 0 && this.#count > this.#maxPrefixes;
    return change;
  }

  /**
   * The held path set for these facts, or a new one with no routes yet (dropped
   * by `#unused` if none come). One string key per UPDATE (the attribute key);
   * the few path sets of an attribute set are told apart by a scan.
   */
  #pathSet(afi: AddressFamily, nextHop: string[], a: PathAttributes, hash: number, stale: boolean): PathSet {
    let bucket = this.#sets.get(hash);
    let set: AttrSet | undefined;
    if (bucket !== undefined) {
      for (const s of bucket) {
        if (sameAttributes(s.attrs, a)) {
          set = s;
          break;
        }
      }
    }
    if (set === undefined) {
      set = { hash, attrs: stripReach(a), paths: [] };
      if (bucket === undefined) this.#sets.set(hash, (bucket = []));
      bucket.push(set);
      this.#setCount++;
    }
    for (const ps of set.paths) if (ps.afi === afi && ps.stale === stale && sameStrings(ps.nextHop, nextHop)) return ps;
    const ps: PathSet = { set, afi, nextHop, attributes: set.attrs, stale, refs: 0 };
    set.paths.push(ps);
    return ps;
  }

  #unused(ps: PathSet): void {
    if (ps.refs > 0) return;
    const set = ps.set;
    const i = set.paths.indexOf(ps);
    if (i < 0) return;
    set.paths.splice(i, 1);
    if (set.paths.length > 0) return;
    const bucket = this.#sets.get(set.hash);
    const j = bucket === undefined ? -1 : bucket.indexOf(set);
    if (bucket === undefined || j < 0) return;
    bucket.splice(j, 1);
    if (bucket.length === 0) this.#sets.delete(set.hash);
    this.#setCount--;
  }

  #release(ps: PathSet): void {
    ps.refs--;
    this.#unused(ps);
  }

  /** Distinct attribute sets held (for memory accounting and tests). */
  get attributeSets(): number {
    return this.#setCount;
  }

  #lookup(prefix: string, pathId: number | undefined): PathSet | undefined {
    if (pathId === undefined) {
      const k = v4Key(prefix);
      if (k >= 0) return (this.#v4[k % 64] as Map<number, PathSet>).get(Math.floor(k / 64) | 0);
    }
    return this.#other.get(routeKey(prefix, pathId));
  }

  /** Point the route at `ps`; returns what it pointed at before. */
  #put(prefix: string, pathId: number | undefined, ps: PathSet): PathSet | undefined {
    if (pathId === undefined) {
      const k = v4Key(prefix);
      if (k >= 0) {
        const m = this.#v4[k % 64] as Map<number, PathSet>;
        const a = Math.floor(k / 64) | 0;
        const old = m.get(a);
        m.set(a, ps);
        return old;
      }
    }
    const key = routeKey(prefix, pathId);
    const old = this.#other.get(key);
    this.#other.set(key, ps);
    return old;
  }

  #delete(prefix: string, pathId: number | undefined): PathSet | undefined {
    if (pathId === undefined) {
      const k = v4Key(prefix);
      if (k >= 0) {
        const m = this.#v4[k % 64] as Map<number, PathSet>;
        const a = Math.floor(k / 64) | 0;
        const old = m.get(a);
        if (old !== undefined) m.delete(a);
        return old;
      }
    }
    const key = routeKey(prefix, pathId);
    const old = this.#other.get(key);
    if (old !== undefined) this.#other.delete(key);
    return old;
  }

  #add(n: Nlri, ps: PathSet, change: RibInChange): void {
    const old = this.#put(n.prefix, n.pathId, ps);
    if (old !== ps) {
      ps.refs++;
      if (old === undefined) this.#count++;
      else this.#release(old);
    }
    change.announced.push(inRoute(n.prefix, n.pathId, ps));
  }

  #remove(n: Nlri, change: RibInChange): void {
    const ps = this.#delete(n.prefix, n.pathId);
    if (ps === undefined) return;
    this.#count--;
    change.withdrawn.push(inRoute(n.prefix, n.pathId, ps));
    this.#release(ps);
  }

  /** Mark every route (of a family) stale, as the session goes down gracefully (RFC 4724 §4.2). Returns how many. */
  markStale(afi?: AddressFamily): number {
    let n = 0;
    const restale = (ps: PathSet): PathSet => {
      if (ps.stale) return ps;
      const s = this.#pathSet(ps.afi, ps.nextHop, ps.attributes, ps.set.hash, true);
      s.refs++;
      this.#release(ps);
      return s;
    };
    if (afi === undefined || afi === Afi.IPV4) {
      for (const m of this.#v4) {
        for (const [a, ps] of m) {
          m.set(a, restale(ps)); // an existing key: iteration is not disturbed
          n++;
        }
      }
    }
    for (const [k, ps] of this.#other) {
      if (afi !== undefined && ps.afi !== afi) continue;
      this.#other.set(k, restale(ps));
      n++;
    }
    return n;
  }

  /** Remove the routes still stale (after End-of-RIB or the restart time, RFC 4724 §4.2); returns them. */
  sweepStale(afi?: AddressFamily): InRoute[] {
    const gone: InRoute[] = [];
    if (afi === undefined || afi === Afi.IPV4) {
      for (let len = 0; len <= 32; len++) {
        const m = this.#v4[len] as Map<number, PathSet>;
        for (const [a, ps] of m) {
          if (!ps.stale) continue;
          m.delete(a); // deleting the current entry during iteration is allowed
          gone.push(inRoute(v4Text(a, len), undefined, ps));
          this.#count--;
          this.#release(ps);
        }
      }
    }
    for (const [k, ps] of this.#other) {
      if (!ps.stale || (afi !== undefined && ps.afi !== afi)) continue;
      this.#other.delete(k);
      const { prefix, pathId } = splitKey(k);
      gone.push(inRoute(prefix, pathId, ps));
      this.#count--;
      this.#release(ps);
    }
    return gone;
  }

  /** Drop everything (a session ended without graceful restart); returns what was there. */
  clear(): InRoute[] {
    const all = [...this.routes()];
    for (const m of this.#v4) m.clear();
    this.#other.clear();
    this.#sets.clear();
    this.#setCount = 0;
    this.#count = 0;
    return all;
  }
}

function inRoute(prefix: string, pathId: number | undefined, ps: PathSet): InRoute {
  const r: InRoute = { prefix, afi: ps.afi, nextHop: ps.nextHop, attributes: ps.attributes, stale: ps.stale };
  if (pathId !== undefined) r.pathId = pathId;
  return r;
}

/** Families of the unicast SAFI, as End-of-RIB needs them. */
export function familiesOf(routes: Iterable<{ prefix: string }>): { afi: AddressFamily; safi: number }[] {
  const seen = new Set<AddressFamily>();
  for (const r of routes) seen.add(familyOf(r.prefix));
  return [...seen].sort().map((afi) => ({ afi, safi: Safi.UNICAST }));
}

export class AdjRibOut {
  /** What we want the peer to have. */
  readonly #desired = new Map<string, OutRoute>();
  /** What the peer has been sent: key -> signature. */
  readonly #advertised = new Map<string, string>();
  /** Keys changed since the last flush. */
  readonly #dirty = new Set<string>();

  get size(): number {
    return this.#desired.size;
  }

  /** Number of routes changed and not yet flushed. */
  get pending(): number {
    return this.#dirty.size;
  }

  get(prefix: string, pathId?: number): OutRoute | undefined {
    return this.#desired.get(routeKey(prefix, pathId));
  }

  routes(): IterableIterator<OutRoute> {
    return this.#desired.values();
  }

  /** Announce (or change) a route. */
  set(route: OutRoute): void {
    const k = routeKey(route.prefix, route.pathId);
    this.#desired.set(k, route);
    this.#dirty.add(k);
  }

  /** Withdraw a route; false when it was not there. */
  withdraw(prefix: string, pathId?: number): boolean {
    const k = routeKey(prefix, pathId);
    if (!this.#desired.delete(k)) return false;
    this.#dirty.add(k);
    return true;
  }

  /** The next flush sends everything again (new session, or a route refresh request: RFC 2918 §4). */
  resend(): void {
    this.#advertised.clear();
    for (const k of this.#desired.keys()) this.#dirty.add(k);
  }

  /**
   * The UPDATEs that bring the peer from what it was sent to what we want:
   * changed routes only, batched by attribute set. Marks them sent.
   */
  flush(opts: UpdateCodecOptions = {}): UpdateMessage[] {
    const announce: OutRoute[] = [];
    const withdraw: Nlri[] = [];
    for (const k of this.#dirty) {
      const r = this.#desired.get(k);
      const was = this.#advertised.get(k);
      if (r === undefined) {
        if (was !== undefined) {
          const hash = k.indexOf('#');
          withdraw.push(hash < 0 ? { prefix: k } : { prefix: k.slice(0, hash), pathId: Number(k.slice(hash + 1)) });
          this.#advertised.delete(k);
        }
        continue;
      }
      const sig = `${r.nextHop.join(',')}|${attributesKey(r.attributes, opts)}`;
      if (sig === was) continue;
      announce.push(r);
      this.#advertised.set(k, sig);
    }
    this.#dirty.clear();
    return planUpdates(announce, withdraw, opts);
  }
}
