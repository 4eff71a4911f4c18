/**
 * Receive validation: the RFC 9568 §7.1 (v3) and RFC 3768 §7.1 (v2) checks, as
 * a verdict. Never throws, never loops over more than the packet's bytes.
 *
 * Input is what the socket layer knows about the IP packet (family, source,
 * destination, protocol, TTL / hop limit) and its payload; the instance's own
 * configuration says what to expect. The verdict is one of:
 * - `ok`: hand `advert` to the state machine. `intervalMismatch` and
 *   `addressMismatch` are the "SHOULD log" misconfigurations of RFC 9568 §7.1,
 *   which v3 keeps the packet for; the caller logs and counts them.
 * - `other-vrid`: a packet for another virtual router; not this instance's
 *   business (not an error, not counted as one).
 * - `invalid` with a `reason`: discard (RFC 9568 §7.1 "the receiver MUST discard
 *   the packet"), log and count.
 *
 * Order of checks: the VRID first, so another virtual router's packets never land
 * in this instance's error counters (as keepalived demultiplexes by VRID before
 * checking), then the RFC's list in its order.
 */
import { DecodeError } from '../util/errors.js';
import { type AddressFamily, addressFamily, compareIp } from './address.js';
import { type ChecksumForm, type DecodedAdvert, advertLength, decodeAdvert, verifyAdvertChecksum } from './codec.js';
import { AUTH_NONE, AUTH_SIMPLE_TEXT, IPPROTO_VRRP, PRIORITY_OWNER, VRRP_TTL, VRRP_TYPE_ADVERTISEMENT } from './constants.js';

/** The IP-level facts of a received packet, plus its payload. */
export interface ReceivedPacket {
  family: AddressFamily;
  /** IP source address. */
  src: string;
  /** IP destination address (the group, or this host for unicast). */
  dst: string;
  /** IPv4 TTL or IPv6 Hop Limit as received. */
  ttl: number;
  /** IP protocol / next header; checked when given. */
  protocol?: number;
  /** The IP payload: the VRRP message (IP total length already applied). */
  payload: Uint8Array;
}

/** What the receiving instance expects. */
export interface ReceiveConfig {
  version: 2 | 3;
  family: AddressFamily;
  vrid: number;
  /** The instance's virtual addresses, for the address list check. */
  addresses: readonly string[];
  /** The locally configured Advertisement_Interval in ms (RFC 9568 §6.1). */
  advertIntervalMs: number;
  /** v2: the locally configured Auth Type (default 0) and, for type 1, the 8 data bytes. */
  authType?: number;
  authData?: Uint8Array;
  /** Check TTL / hop limit is 255 (default true; unicast peers beyond a router may need false). */
  checkTtl?: boolean;
  /** With unicast peers: adverts from other sources are refused. */
  unicastPeers?: readonly string[];
  /** v3 IPv4: the checksum forms accepted, tried in order (default: pseudo-header, plain, pseudo-header-group). */
  acceptChecksum?: readonly ChecksumForm[];
  /**
   * v2: what a non-owner advert with another address list gets. `drop` (default)
   * is RFC 3768 §7.1; `flag` keeps it with `addressMismatch`, as keepalived does
   * (it counts the error and accepts the packet), for peers whose lists differ
   * on purpose (keepalived's `virtual_ipaddress_excluded` are not advertised).
   * Dropping a live master's adverts makes this router a second master.
   */
  v2AddressMismatch?: 'drop' | 'flag';
}

export type InvalidReason =
  /** The IP header does not hold together, or the packet is a fragment (codec-ip.ts). */
  | 'ip-header'
  /** The packet's address family is not the instance's. */
  | 'family'
  /** IP protocol is not 112 (RFC 9568 §5.1.1.4). */
  | 'protocol'
  /** TTL / hop limit is not 255 (RFC 9568 §5.1.1.3, §5.1.2.3, §7.1). */
  | 'ttl'
  /** Version is not the configured one (RFC 9568 §7.1; RFC 3768 §7.1). */
  | 'version'
  /** Type is not 1, ADVERTISEMENT (RFC 9568 §5.2.2, §7.1). */
  | 'type'
  /** The payload ends inside the packet (RFC 9568 §7.1 "complete VRRP packet"). */
  | 'truncated'
  /** Bytes follow the packet: the IP length and the address count disagree. */
  | 'length'
  /** No accepted checksum form matches (RFC 9568 §5.2.8, §7.1; RFC 3768 §5.3.8). */
  | 'checksum'
  /** Count IPvX Addr is zero (RFC 9568 §5.2.5, erratum 8299), or differs from ours in v2 from a non-owner (RFC 3768 §7.1). */
  | 'address-count'
  /** v2 from a non-owner: the address list differs from ours (RFC 3768 §7.1: MUST drop). */
  | 'address-list'
  /** v3: Max Advertise Interval is zero (RFC 9568 §7.1, erratum 8301); v2: interval differs from ours (RFC 3768 §7.1). */
  | 'interval'
  /** v2: Auth Type or simple password differs from ours (RFC 3768 §7.1, RFC 2338 §5.3.6). */
  | 'auth'
  /** Unicast mode: the source is not a configured peer. */
  | 'source';

export type ReceiveVerdict =
  | {
      kind: 'ok';
      advert: DecodedAdvert;
      /** IP source: the sender's primary address, for the tie break (RFC 9568 §6.4.3). */
      src: string;
      /** Which checksum form matched (v3 IPv4: tells a keepalived/FRR peer from an RFC 9568 one). */
      checksumForm: ChecksumForm;
      /** v3: the advert's interval differs from ours; kept, SHOULD be logged (RFC 9568 §7.1). */
      intervalMismatch: boolean;
      /** The address list differs from ours; kept, SHOULD be logged (RFC 9568 §7.1; v2 owner only). */
      addressMismatch: boolean;
    }
  | { kind: 'other-vrid'; vrid: number }
  | { kind: 'invalid'; reason: InvalidReason; detail: string };

/** Validate a received packet against the instance's configuration. Never throws. */
export function validateAdvert(pkt: ReceivedPacket, cfg: ReceiveConfig): ReceiveVerdict {
  try {
    return validate(pkt, cfg);
  } catch (e) {
    // Only a malformed `cfg` (a caller bug; `receiveConfigFor` builds a sound one) can get
    // here; still a verdict, not an exception.
    return invalid('family', `cannot validate: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function invalid(reason: InvalidReason, detail: string): ReceiveVerdict {
  return { kind: 'invalid', reason, detail };
}

function validate(pkt: ReceivedPacket, cfg: ReceiveConfig): ReceiveVerdict {
  const p = pkt.payload;
  if (pkt.family !== cfg.family || addressFamily(pkt.src) !== pkt.family || addressFamily(pkt.dst) !== pkt.family) {
    return invalid('family', `${pkt.family} packet ${pkt.src} -> ${pkt.dst} for a ${cfg.family} instance`);
  }
  if (pkt.protocol !== undefined && pkt.protocol !== IPPROTO_VRRP) {
    return invalid('protocol', `IP protocol ${pkt.protocol}, not ${IPPROTO_VRRP}`);
  }
  if (p.length < 2) return invalid('truncated', `${p.length} byte(s): no VRID`);
  const vrid = p[1] as number;
  if (vrid !== cfg.vrid) return { kind: 'other-vrid', vrid };

  // RFC 9568 §7.1, in its order.
  if ((cfg.checkTtl ?? true) && pkt.ttl !== VRRP_TTL) {
    return invalid('ttl', `${pkt.family === 'ipv4' ? 'TTL' : 'hop limit'} ${pkt.ttl}, not ${VRRP_TTL}`);
  }
  const version = (p[0] as number) >> 4;
  if (version !== cfg.version) return invalid('version', `version ${version}, configured ${cfg.version}`);
  const type = (p[0] as number) & 0x0f;
  if (type !== VRRP_TYPE_ADVERTISEMENT) return invalid('type', `type ${type}, not ${VRRP_TYPE_ADVERTISEMENT} (ADVERTISEMENT)`);

  let advert: DecodedAdvert;
  try {
    advert = decodeAdvert(p, 0, pkt.family);
  } catch (e) {
    if (e instanceof DecodeError && e.code === 'ERR_SHORT_INPUT') return invalid('truncated', e.message);
    if (e instanceof DecodeError && e.code === 'ERR_VRRP_V2_IPV6') return invalid('version', e.message);
    throw e;
  }
  const len = advertLength(advert);
  if (p.length !== len) return invalid('length', `${p.length} bytes for a ${len}-byte packet with ${advert.addresses.length} address(es)`);

  const checksumForm = verifyAdvertChecksum(p, {
    version: cfg.version,
    family: pkt.family,
    src: pkt.src,
    dst: pkt.dst,
    ...(cfg.acceptChecksum !== undefined ? { accept: cfg.acceptChecksum } : {}),
  });
  if (checksumForm === undefined) return invalid('checksum', `bad checksum 0x${advert.checksum.toString(16).padStart(4, '0')}`);

  if (cfg.unicastPeers !== undefined && !cfg.unicastPeers.some((peer) => sameIp(peer, pkt.src))) {
    return invalid('source', `${pkt.src} is not a unicast peer`);
  }

  // RFC 9568 §5.2.5 (erratum 8299): an advert without addresses MUST be ignored.
  if (advert.addresses.length === 0) return invalid('address-count', 'no addresses');

  let intervalMismatch = false;
  if (advert.version === 3) {
    // RFC 9568 §7.1 (erratum 8301): the Max Advertise Interval MUST be non-zero.
    if (advert.maxAdvertIntervalCs === 0) return invalid('interval', 'max advertise interval 0');
    // RFC 9568 §7.1: MAY verify the interval matches; SHOULD log. The backup learns it (§6.4.2).
    intervalMismatch = advert.maxAdvertIntervalCs * 10 !== cfg.advertIntervalMs;
  } else {
    // RFC 3768 §7.1: MUST verify that the Auth Type matches the local one.
    const localAuth = cfg.authType ?? AUTH_NONE;
    if (advert.authType !== localAuth) return invalid('auth', `auth type ${advert.authType}, configured ${localAuth}`);
    if (localAuth === AUTH_SIMPLE_TEXT && !sameAuthData(advert.authData, cfg.authData)) {
      return invalid('auth', 'simple password differs');
    }
  }

  const addressMismatch = !sameAddressSet(advert.addresses, cfg.addresses);
  if (advert.version === 2 && addressMismatch && advert.priority !== PRIORITY_OWNER && cfg.v2AddressMismatch !== 'flag') {
    // RFC 3768 §7.1: if the list is wrong and the sender is not the owner, MUST drop.
    if (advert.addresses.length !== cfg.addresses.length) {
      return invalid('address-count', `${advert.addresses.length} address(es), configured ${cfg.addresses.length}`);
    }
    return invalid('address-list', `addresses ${advert.addresses.join(',')} differ from ${cfg.addresses.join(',')}`);
  }
  if (advert.version === 2 && advert.advertIntervalS * 1000 !== cfg.advertIntervalMs) {
    // RFC 3768 §7.1: MUST verify the Adver Interval matches; discard if not.
    return invalid('interval', `advertisement interval ${advert.advertIntervalS} s, configured ${cfg.advertIntervalMs / 1000} s`);
  }
  return { kind: 'ok', advert, src: pkt.src, checksumForm, intervalMismatch, addressMismatch };
}

function sameIp(a: string, b: string): boolean {
  return addressFamily(a) === addressFamily(b) && compareIp(a, b) === 0;
}

function sameAddressSet(got: readonly string[], want: readonly string[]): boolean {
  if (got.length !== want.length) return false;
  // Addresses are few (at most 255): quadratic is fine and bounded.
  return want.every((w) => got.some((g) => sameIp(g, w))) && got.every((g) => want.some((w) => sameIp(g, w)));
}

/** Compare 8-byte auth data without an early exit (keepalived compares in constant time too). */
function sameAuthData(got: Uint8Array, want: Uint8Array | undefined): boolean {
  const w = want ?? new Uint8Array(8);
  let diff = got.length ^ w.length;
  for (let i = 0; i < 8; i++) diff |= (got[i] ?? 0) ^ (w[i] ?? 0);
  return diff === 0;
}

/** Counters for verdicts, keyed like the verdicts (RFC 6527 keeps similar per-router statistics). */
export type ReceiveCounters = Record<InvalidReason | 'ok' | 'other-vrid' | 'interval-mismatch' | 'address-mismatch' | 'priority-zero', number>;

export function emptyReceiveCounters(): ReceiveCounters {
  return {
    ok: 0,
    'other-vrid': 0,
    'interval-mismatch': 0,
    'address-mismatch': 0,
    'priority-zero': 0,
    'ip-header': 0,
    family: 0,
    protocol: 0,
    ttl: 0,
    version: 0,
    type: 0,
    truncated: 0,
    length: 0,
    checksum: 0,
    'address-count': 0,
    'address-list': 0,
    interval: 0,
    auth: 0,
    source: 0,
  };
}

/** Count one verdict into `counters` (mutates and returns it). */
export function countVerdict(counters: ReceiveCounters, v: ReceiveVerdict): ReceiveCounters {
  if (v.kind === 'invalid') counters[v.reason]++;
  else if (v.kind === 'other-vrid') counters['other-vrid']++;
  else {
    counters.ok++;
    if (v.intervalMismatch) counters['interval-mismatch']++;
    if (v.addressMismatch) counters['address-mismatch']++;
    if (v.advert.priority === 0) counters['priority-zero']++;
  }
  return counters;
}

/**
 * For a v3 IPv4 instance that follows its peers' checksum form: the form to send
 * after this verdict. An accepted v3 IPv4 advert shows how its sender computes
 * the checksum (keepalived and FRR: `pseudo-header`; RFC 9568 routers: `plain`;
 * keepalived before 2.0 to unicast peers: `pseudo-header-group`), and that
 * sender accepts only its own form; anything else keeps `current`.
 */
export function followChecksumForm(current: ChecksumForm, verdict: ReceiveVerdict): ChecksumForm {
  if (verdict.kind !== 'ok' || verdict.advert.version !== 3 || verdict.advert.family !== 'ipv4') return current;
  return verdict.checksumForm;
}
