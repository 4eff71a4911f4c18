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
import { familyOf } from './codec-address.js';
import type { PathAttributes } from './codec-attributes.js';
import type { NotificationMessage } from './codec-messages.js';
import type { UpdateCodecOptions, UpdateMessage, UpdateVerdict } from './codec-update.js';
import { isEndOfRib } from './codec-update.js';
import type { OutRoute } from './plan-updates.js';
import { attributesKey, attributesKeyUncached, planUpdates } from './plan-updates.js';

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

export class AdjRibIn {
  readonly #routes = new Map<string, InRoute>();
  /**
   * Attribute sets, interned: routes received in different UPDATEs with equal
   * attributes share one object (a full table has ~10x fewer sets than routes).
   */
  readonly #sets = new Map<string, { attrs: PathAttributes; refs: number }>();
  /** Key of each held attribute object. */
  readonly #keys = new Map<PathAttributes, string>();
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
    return this.#routes.size;
  }

  /**
   * Accept announcements of these families only (those the session negotiated):
   * others are ignored and counted in `ignored` (RFC 4760 §7). Undefined: all.
   */
  acceptFamilies(families: AddressFamily[] | undefined): void {
    this.#families = families === undefined ? undefined : new Set(families);
  }

  get(prefix: string, pathId?: number): InRoute | undefined {
    return this.#routes.get(routeKey(prefix, pathId));
  }

  /** All routes, or those of one family. */
  *routes(afi?: AddressFamily): IterableIterator<InRoute> {
    for (const r of this.#routes.values()) if (afi === undefined || r.afi === afi) yield r;
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
    for (const n of u.withdrawn) this.#remove(n, change);
    if (u.attributes.mpUnreach !== undefined) for (const n of u.attributes.mpUnreach.withdrawn) this.#remove(n, change);
    const { nextHop, mpReach, mpUnreach: _mu, ...fresh } = u.attributes;
    const attrs = u.nlri.length > 0 || (mpReach !== undefined && mpReach.nlri.length > 0) ? this.#intern(fresh) : fresh;
    const local = this.#localAs;
    if (local !== undefined && attrs.asPath?.some((sg) => sg.asns.includes(local)) === true) {
      // RFC 4271 §9.1.2: our own AS in the path makes the routes unfeasible; treat them as withdrawn.
      for (const n of u.nlri) this.#remove(n, change);
      if (mpReach !== undefined) for (const n of mpReach.nlri) this.#remove(n, change);
      this.#unused(attrs);
      return change;
    }
    const fam = this.#families;
    if (u.nlri.length > 0 && nextHop !== undefined) {
      if (fam !== undefined && !fam.has(Afi.IPV4)) change.ignored += u.nlri.length;
      else {
        const nh = [nextHop]; // shared by the UPDATE's routes, like the attributes
        for (const n of u.nlri) this.#add(n, Afi.IPV4, nh, attrs, change);
      }
    }
    if (mpReach !== undefined) {
      if (fam !== undefined && !fam.has(mpReach.afi)) change.ignored += mpReach.nlri.length;
      else for (const n of mpReach.nlri) this.#add(n, mpReach.afi, mpReach.nextHop, attrs, change);
    }
    this.#unused(attrs);
    change.maxPrefixesExceeded = change.announced.length > 0 && this.#routes.size > this.#maxPrefixes;
    return change;
  }

  /** The held object equal to `a`, or `a` entered with no references yet (dropped again by `#unused` if none come). */
  #intern(a: PathAttributes): PathAttributes {
    const k = attributesKeyUncached(a);
    const e = this.#sets.get(k);
    if (e !== undefined) return e.attrs;
    this.#sets.set(k, { attrs: a, refs: 0 });
    this.#keys.set(a, k);
    return a;
  }

  #ref(a: PathAttributes, delta: 1 | -1): void {
    const k = this.#keys.get(a);
    const e = k === undefined ? undefined : this.#sets.get(k);
    if (k === undefined || e === undefined) return;
    e.refs += delta;
    if (e.refs <= 0) {
      this.#sets.delete(k);
      this.#keys.delete(a);
    }
  }

  #unused(a: PathAttributes): void {
    const k = this.#keys.get(a);
    if (k !== undefined && this.#sets.get(k)?.refs === 0) {
      this.#sets.delete(k);
      this.#keys.delete(a);
    }
  }

  /** Distinct attribute sets held (for memory accounting and tests). */
  get attributeSets(): number {
    return this.#sets.size;
  }

  #add(n: Nlri, afi: AddressFamily, nextHop: string[], attributes: PathAttributes, change: RibInChange): void {
    const r: InRoute = { prefix: n.prefix, afi, nextHop, attributes, stale: false };
    if (n.pathId !== undefined) r.pathId = n.pathId;
    const k = routeKey(n.prefix, n.pathId);
    const old = this.#routes.get(k);
    if (old !== undefined) this.#ref(old.attributes, -1);
    this.#ref(attributes, 1);
    this.#routes.set(k, r);
    change.announced.push(r);
  }

  #remove(n: Nlri, change: RibInChange): void {
    const k = routeKey(n.prefix, n.pathId);
    const r = this.#routes.get(k);
    if (r === undefined) return;
    this.#routes.delete(k);
    this.#ref(r.attributes, -1);
    change.withdrawn.push(r);
  }

  /** Mark every route (of a family) stale, as the session goes down gracefully (RFC 4724 §4.2). Returns how many. */
  markStale(afi?: AddressFamily): number {
    let n = 0;
    for (const [k, r] of this.#routes) {
      if (afi !== undefined && r.afi !== afi) continue;
      this.#routes.set(k, { ...r, stale: true });
      n++;
    }
    return n;
  }

  /** Remove the routes still stale (after End-of-RIB or the restart time, RFC 4724 §4.2); returns them. */
  sweepStale(afi?: AddressFamily): InRoute[] {
    const gone: InRoute[] = [];
    for (const [k, r] of this.#routes) {
      if (!r.stale || (afi !== undefined && r.afi !== afi)) continue;
      this.#routes.delete(k);
      this.#ref(r.attributes, -1);
      gone.push(r);
    }
    return gone;
  }

  /** Drop everything (a session ended without graceful restart); returns what was there. */
  clear(): InRoute[] {
    const all = [...this.#routes.values()];
    this.#routes.clear();
    this.#sets.clear();
    this.#keys.clear();
    return all;
  }
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
