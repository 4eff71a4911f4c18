/**
 * The public model of an IPVS table, apart from the wire model: `Service` and
 * `Destination` in the words an operator uses (protocol names, addresses as
 * text, forwarding by name), `toWire` / `fromWire` to and from the kernel's
 * attributes, keys to reconcile by, and comparison that ignores counters.
 *
 * Defaults follow ipvsadm so that a model rendered as ipvsadm commands and the
 * same model applied over netlink give the same table: scheduler `wlc`,
 * forwarding `route` (-g), weight 1, thresholds 0 (none), persistence timeout
 * 300 s when persistent, netmask /32 (IPv4) or /128 (IPv6).
 */
import * as K from './constants.js';
import {
  afToFamily,
  familyToAf,
  formatAddress,
  fromInetAddr,
  parseAddress,
  parseAddressShared,
  toInetAddr,
  type AddressFamily,
} from './address.js';
import { IpvsError } from './errors.js';
import type { WireDest, WireService, WireStats, WireStats64 } from './wire-schema.js';

export type { AddressFamily } from './address.js';

export type Protocol = 'tcp' | 'udp' | 'sctp';
/** Forwarding method (IP_VS_CONN_F_*): masquerading (NAT), direct routing, tunnelling, local node, bypass. */
export type Forwarding = 'masq' | 'route' | 'tunnel' | 'local' | 'bypass';
export type TunnelType = 'ipip' | 'gue' | 'gre';
/** Tunnel checksum mode (IP_VS_TUNNEL_ENCAP_FLAG_*), ipvsadm's --tun-nocsum / --tun-csum / --tun-remcsum. */
export type TunnelChecksum = 'nocsum' | 'csum' | 'remcsum';
/** Scheduler flags by ipvsadm's -b names: sh-* and mh-* name SCHED1/SCHED2 for those schedulers. */
export type SchedFlag = 'sh-fallback' | 'sh-port' | 'mh-fallback' | 'mh-port' | 'flag-1' | 'flag-2' | 'flag-3';

/** IPPROTO_* (include/uapi/linux/in.h). */
export const PROTOCOL_NUMBERS: Record<Protocol, number> = { tcp: 6, udp: 17, sctp: 132 };

/** A virtual service by address: protocol, address, port. */
export interface AddressServiceId {
  protocol: Protocol;
  address: string;
  port: number;
}
/** A virtual service by firewall mark (and address family: a mark may have an IPv4 and an IPv6 service). */
export interface FwmarkServiceId {
  fwmark: number;
  /** Default 'ipv4'. */
  family?: AddressFamily;
}
export type ServiceId = AddressServiceId | FwmarkServiceId;

export interface Persistence {
  /** Seconds (ipvsadm -p); default 300. */
  timeout?: number;
  /** ipvsadm -M: an IPv4 mask (`255.255.255.0`) or prefix length; for IPv6 a prefix length. Default: a single client address. */
  netmask?: string | number;
}

export interface ServiceOptions {
  /** Scheduler name (`rr`, `wrr`, `wlc`, `sh`, `mh`, ...); default `wlc` as ipvsadm. */
  scheduler?: string;
  /** Persistent service (IP_VS_SVC_F_PERSISTENT) with its timeout and netmask. */
  persistence?: Persistence;
  /** One-packet scheduling (IP_VS_SVC_F_ONEPACKET, ipvsadm -o), UDP only. */
  onePacket?: boolean;
  /** Scheduler flags (ipvsadm -b). */
  schedFlags?: SchedFlag[];
  /** Persistence engine (`sip`), ipvsadm --pe. */
  pe?: string;
  /** Flag bits this library has no name for, kept as they came (HASHED is never included). */
  otherFlags?: number;
}

/** Counters (from IPVS_*_ATTR_STATS64, falling back to the 32-bit STATS). Read-only. */
export interface Stats {
  conns: bigint;
  inPackets: bigint;
  outPackets: bigint;
  inBytes: bigint;
  outBytes: bigint;
  cps: bigint;
  inPps: bigint;
  outPps: bigint;
  inBps: bigint;
  outBps: bigint;
}

export type Service = ServiceId &
  ServiceOptions & {
    /** Read from the kernel; ignored when writing and comparing. */
    stats?: Stats;
  };

export interface Tunnel {
  type: TunnelType;
  /** GUE destination port. */
  port?: number;
  checksum?: TunnelChecksum;
}

export interface Destination {
  address: string;
  /** Default: the service's port (0 for fwmark services). */
  port?: number;
  /** Default `route` (ipvsadm's default, -g). */
  forwarding?: Forwarding;
  /** Default 1; 0 takes the destination out of scheduling (quiesced) without dropping its connections. */
  weight?: number;
  /** Upper connection threshold (ipvsadm -x); 0 = none. */
  upperThreshold?: number;
  /** Lower connection threshold (ipvsadm -y); 0 = none. */
  lowerThreshold?: number;
  /** Tunnel settings, for forwarding `tunnel`. */
  tunnel?: Tunnel;
  /** Address family; derived from `address` (IPv4 destinations of IPv6 services need `tunnel`). */
  family?: AddressFamily;
  /** Read from the kernel; ignored when writing and comparing. */
  activeConns?: number;
  inactiveConns?: number;
  persistentConns?: number;
  stats?: Stats;
}

/** A service with every default filled in and its address canonical. */
export interface NormalService {
  kind: 'address' | 'fwmark';
  family: AddressFamily;
  protocol: Protocol;
  address: string;
  port: number;
  fwmark: number;
  scheduler: string;
  persistent: boolean;
  timeout: number;
  /** IPv4: mask as dotted quad; IPv6: prefix length as decimal text. */
  netmask: string;
  onePacket: boolean;
  /** IP_VS_SVC_F_SCHED1..3 bits. */
  schedBits: number;
  otherFlags: number;
  pe: string;
}

export interface NormalDestination {
  family: AddressFamily;
  address: string;
  port: number;
  forwarding: Forwarding;
  weight: number;
  upperThreshold: number;
  lowerThreshold: number;
  tunnelType: TunnelType;
  tunnelPort: number;
  tunnelChecksum: TunnelChecksum;
}

function invalid(msg: string): IpvsError {
  return new IpvsError('ERR_IPVS_INVALID_CONFIG', msg);
}

function checkInt(v: unknown, min: number, max: number, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw invalid(`${what} must be an integer in ${min}..${max}, got ${String(v)}`);
  }
  return v;
}

export function isFwmarkService(s: ServiceId): s is FwmarkServiceId {
  return (s as FwmarkServiceId).fwmark !== undefined;
}

const SCHED_FLAG_BITS: Record<SchedFlag, number> = {
  'sh-fallback': K.IP_VS_SVC_F_SCHED_SH_FALLBACK,
  'sh-port': K.IP_VS_SVC_F_SCHED_SH_PORT,
  'mh-fallback': K.IP_VS_SVC_F_SCHED_MH_FALLBACK,
  'mh-port': K.IP_VS_SVC_F_SCHED_MH_PORT,
  'flag-1': K.IP_VS_SVC_F_SCHED1,
  'flag-2': K.IP_VS_SVC_F_SCHED2,
  'flag-3': K.IP_VS_SVC_F_SCHED3,
};
const SCHED_BITS = K.IP_VS_SVC_F_SCHED1 | K.IP_VS_SVC_F_SCHED2 | K.IP_VS_SVC_F_SCHED3;
const NAMED_BITS = K.IP_VS_SVC_F_PERSISTENT | K.IP_VS_SVC_F_HASHED | K.IP_VS_SVC_F_ONEPACKET | SCHED_BITS;

/** Names for SCHED1..3 bits as ipvsadm prints them for `scheduler`. */
export function schedFlagNames(scheduler: string, bits: number): SchedFlag[] {
  const out: SchedFlag[] = [];
  const named = scheduler === 'sh' || scheduler === 'mh';
  if (bits & K.IP_VS_SVC_F_SCHED1) out.push(named ? (`${scheduler}-fallback` as SchedFlag) : 'flag-1');
  if (bits & K.IP_VS_SVC_F_SCHED2) out.push(named ? (`${scheduler}-port` as SchedFlag) : 'flag-2');
  if (bits & K.IP_VS_SVC_F_SCHED3) out.push('flag-3');
  return out;
}

function ipv4MaskFromPrefix(len: number): string {
  const b = new Uint8Array(4);
  for (let i = 0; i < 4; i++) b[i] = len >= (i + 1) * 8 ? 255 : len <= i * 8 ? 0 : (0xff << (8 - (len - i * 8))) & 0xff;
  return formatAddress(b);
}

function normalNetmask(family: AddressFamily, m: string | number | undefined): string {
  if (family === 'ipv6') {
    const n = m === undefined ? 128 : typeof m === 'number' ? m : Number(m);
    return String(checkInt(n, 1, 128, 'IPv6 persistence netmask (prefix length)'));
  }
  if (m === undefined) return '255.255.255.255';
  if (typeof m === 'number') return ipv4MaskFromPrefix(checkInt(m, 0, 32, 'IPv4 persistence netmask (prefix length)'));
  if (/^\d+$/.test(m)) return ipv4MaskFromPrefix(checkInt(Number(m), 0, 32, 'IPv4 persistence netmask (prefix length)'));
  const p = parseAddress(m);
  if (p.family !== 'ipv4') throw invalid(`IPv4 persistence netmask ${m} is not an IPv4 mask`);
  return p.text;
}

/** Fill defaults, canonicalise and validate a service; `ERR_IPVS_INVALID_CONFIG` / `ERR_IPVS_INVALID_ADDRESS` when it can't be. */
export function normalizeService(s: Service): NormalService {
  if (typeof s !== 'object' || s === null) throw invalid('a service must be an object');
  let family: AddressFamily;
  let kind: NormalService['kind'];
  let protocol: Protocol = 'tcp';
  let address: string;
  let port = 0;
  let fwmark = 0;
  if (isFwmarkService(s)) {
    kind = 'fwmark';
    fwmark = checkInt(s.fwmark, 1, 0xffff_ffff, 'fwmark');
    family = s.family ?? 'ipv4';
    if (family !== 'ipv4' && family !== 'ipv6') throw invalid(`family must be 'ipv4' or 'ipv6', got ${String(family)}`);
    address = family === 'ipv4' ? '0.0.0.0' : '::';
  } else {
    kind = 'address';
    if (!(s.protocol in PROTOCOL_NUMBERS)) throw invalid(`protocol must be tcp, udp or sctp, got ${String(s.protocol)}`);
    protocol = s.protocol;
    const a = parseAddressShared(s.address);
    family = a.family;
    address = a.text;
    port = checkInt(s.port, 0, 0xffff, 'port');
  }
  const scheduler = s.scheduler ?? 'wlc';
  if (typeof scheduler !== 'string' || !/^[A-Za-z0-9_-]{1,15}$/.test(scheduler)) {
    throw invalid(`scheduler must be 1-15 characters [A-Za-z0-9_-], got ${JSON.stringify(scheduler)}`);
  }
  const pe = s.pe ?? '';
  if (typeof pe !== 'string' || (pe !== '' && !/^[A-Za-z0-9_-]{1,15}$/.test(pe))) throw invalid(`pe must be 1-15 characters, got ${JSON.stringify(pe)}`);
  let schedBits = 0;
  for (const name of s.schedFlags ?? []) {
    const bit = SCHED_FLAG_BITS[name];
    if (bit === undefined) throw invalid(`unknown scheduler flag ${JSON.stringify(name)}`);
    schedBits |= bit;
  }
  const otherFlags = checkInt(s.otherFlags ?? 0, 0, 0xffff_ffff, 'otherFlags') & ~NAMED_BITS;
  const persistent = s.persistence !== undefined;
  const timeout = persistent ? checkInt(s.persistence?.timeout ?? 300, 0, 0x7fff_ffff, 'persistence timeout') : 0;
  const netmask = normalNetmask(family, persistent ? s.persistence?.netmask : undefined);
  return {
    kind,
    family,
    protocol,
    address,
    port,
    fwmark,
    scheduler,
    persistent,
    timeout,
    netmask,
    onePacket: s.onePacket === true,
    schedBits,
    otherFlags,
    pe,
  };
}

/** A stable key for a service: `tcp/10.0.0.1:80`, `udp/[2001:db8::1]:53`, `fwmark/ipv4/5`. */
export function serviceKey(s: ServiceId): string {
  if (isFwmarkService(s)) return `fwmark/${s.family ?? 'ipv4'}/${checkInt(s.fwmark, 1, 0xffff_ffff, 'fwmark')}`;
  const a = parseAddressShared(s.address);
  return `${s.protocol}/${a.family === 'ipv6' ? `[${a.text}]` : a.text}:${s.port}`;
}

function normalKey(n: NormalService): string {
  if (n.kind === 'fwmark') return `fwmark/${n.family}/${n.fwmark}`;
  return `${n.protocol}/${n.family === 'ipv6' ? `[${n.address}]` : n.address}:${n.port}`;
}

/** The identifying part of a service, canonical. */
export function serviceIdOf(s: ServiceId): ServiceId {
  if (isFwmarkService(s)) return { fwmark: s.fwmark, family: s.family ?? 'ipv4' };
  return { protocol: s.protocol, address: canonicalOf(s.address), port: s.port };
}

function canonicalOf(a: string): string {
  return parseAddressShared(a).text;
}

/** The port a destination of `service` gets when it doesn't give one (ipvsadm: the service's port). */
export function defaultDestinationPort(service: ServiceId): number {
  return isFwmarkService(service) ? 0 : service.port;
}

/** A stable key for a destination within a service: `10.0.0.2:80`, `[2001:db8::2]:80`. */
export function destinationKey(d: Pick<Destination, 'address' | 'port'>, service?: ServiceId): string {
  const a = parseAddressShared(d.address);
  const port = d.port ?? (service === undefined ? 0 : defaultDestinationPort(service));
  return `${a.family === 'ipv6' ? `[${a.text}]` : a.text}:${port}`;
}

const FWD_BY_NAME: Record<Forwarding, number> = {
  masq: K.IP_VS_CONN_F_MASQ,
  local: K.IP_VS_CONN_F_LOCALNODE,
  tunnel: K.IP_VS_CONN_F_TUNNEL,
  route: K.IP_VS_CONN_F_DROUTE,
  bypass: K.IP_VS_CONN_F_BYPASS,
};
const TUN_BY_NAME: Record<TunnelType, number> = {
  ipip: K.IP_VS_CONN_F_TUNNEL_TYPE_IPIP,
  gue: K.IP_VS_CONN_F_TUNNEL_TYPE_GUE,
  gre: K.IP_VS_CONN_F_TUNNEL_TYPE_GRE,
};
const CSUM_BY_NAME: Record<TunnelChecksum, number> = {
  nocsum: K.IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM,
  csum: K.IP_VS_TUNNEL_ENCAP_FLAG_CSUM,
  remcsum: K.IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM,
};

/** The IP_VS_CONN_F_* forwarding method of a forwarding name. */
export function forwardingCode(f: Forwarding): number {
  return FWD_BY_NAME[f];
}

/**
 * Fill defaults, canonicalise and validate a destination of `service`.
 * Direct routing and tunnelling can't change the port (the packet keeps the
 * service's); ipvsadm silently forces the service port there, so a different
 * port is an error here rather than a surprise (fwmark services excepted).
 */
export function normalizeDestination(d: Destination, service: Service | NormalService): NormalDestination {
  if (typeof d !== 'object' || d === null) throw invalid('a destination must be an object');
  const svc = 'kind' in service ? service : normalizeService(service);
  const a = parseAddressShared(d.address);
  if (d.family !== undefined && d.family !== a.family) throw invalid(`destination ${d.address} is ${a.family}, not ${d.family}`);
  const forwarding = d.forwarding ?? 'route';
  if (!(forwarding in FWD_BY_NAME)) throw invalid(`forwarding must be masq, route, tunnel, local or bypass, got ${String(forwarding)}`);
  const port = checkInt(d.port ?? (svc.kind === 'fwmark' ? 0 : svc.port), 0, 0xffff, 'destination port');
  if (svc.kind === 'address' && (forwarding === 'route' || forwarding === 'tunnel') && port !== svc.port) {
    throw invalid(`destination ${d.address}:${port}: ${forwarding === 'route' ? 'direct routing' : 'tunnelling'} keeps the service port ${svc.port}; use masq to change ports`);
  }
  if (a.family !== svc.family && forwarding !== 'tunnel') {
    // ip_vs_genl_set_cmd: mixed-family destinations only with IP_VS_CONN_F_TUNNEL
    throw invalid(`destination ${a.text} (${a.family}) of an ${svc.family} service needs forwarding 'tunnel'`);
  }
  const weight = checkInt(d.weight ?? 1, 0, 0x7fff_ffff, 'weight');
  const upperThreshold = checkInt(d.upperThreshold ?? 0, 0, 0xffff_ffff, 'upperThreshold');
  const lowerThreshold = checkInt(d.lowerThreshold ?? 0, 0, 0xffff_ffff, 'lowerThreshold');
  if (d.tunnel !== undefined && forwarding !== 'tunnel') throw invalid(`destination ${a.text}: tunnel settings need forwarding 'tunnel'`);
  const tunnelType = d.tunnel?.type ?? 'ipip';
  if (!(tunnelType in TUN_BY_NAME)) throw invalid(`tunnel type must be ipip, gue or gre, got ${String(tunnelType)}`);
  const tunnelPort = checkInt(d.tunnel?.port ?? 0, 0, 0xffff, 'tunnel port');
  if (tunnelType === 'gue' && tunnelPort === 0) throw invalid(`destination ${a.text}: a GUE tunnel needs a port`);
  if (tunnelType !== 'gue' && tunnelPort !== 0) throw invalid(`destination ${a.text}: only GUE tunnels have a port`);
  const tunnelChecksum = d.tunnel?.checksum ?? 'nocsum';
  if (!(tunnelChecksum in CSUM_BY_NAME)) throw invalid(`tunnel checksum must be nocsum, csum or remcsum, got ${String(tunnelChecksum)}`);
  if (tunnelType === 'ipip' && tunnelChecksum !== 'nocsum') throw invalid(`destination ${a.text}: ipip tunnels have no checksum option`);
  // Remote checksum offload is a GUE option; ipvsadm refuses --tun-remcsum with gre (the kernel would take it).
  if (tunnelType === 'gre' && tunnelChecksum === 'remcsum') throw invalid(`destination ${a.text}: remcsum needs a gue tunnel`);
  return { family: a.family, address: a.text, port, forwarding, weight, upperThreshold, lowerThreshold, tunnelType, tunnelPort, tunnelChecksum };
}

function isU(v: unknown, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;
}

/**
 * `normalizeDestination(d, svc)` for the common destination of an address service (direct
 * routing or masquerade, same family, no tunnel settings, valid numbers): the same object, with
 * fewer checks to run. Anything else goes through `normalizeDestination`, which gives the
 * result or the error.
 */
export function normalizeDestinationFast(d: Destination, svc: NormalService): NormalDestination {
  if (typeof d !== 'object' || d === null || svc.kind !== 'address' || d.tunnel !== undefined || typeof d.address !== 'string') return normalizeDestination(d, svc);
  const forwarding = d.forwarding ?? 'route';
  const port = d.port ?? svc.port;
  const weight = d.weight ?? 1;
  const upperThreshold = d.upperThreshold ?? 0;
  const lowerThreshold = d.lowerThreshold ?? 0;
  if (
    (forwarding !== 'route' && forwarding !== 'masq') ||
    !isU(port, 0xffff) ||
    (forwarding === 'route' && port !== svc.port) ||
    !isU(weight, 0x7fff_ffff) ||
    !isU(upperThreshold, 0xffff_ffff) ||
    !isU(lowerThreshold, 0xffff_ffff)
  ) {
    return normalizeDestination(d, svc);
  }
  const a = parseAddressShared(d.address);
  if (a.family !== svc.family || (d.family !== undefined && d.family !== a.family)) return normalizeDestination(d, svc);
  return { family: a.family, address: a.text, port, forwarding, weight, upperThreshold, lowerThreshold, tunnelType: 'ipip', tunnelPort: 0, tunnelChecksum: 'nocsum' };
}

function netmaskBytes(n: NormalService): Uint8Array {
  if (n.family === 'ipv4') return parseAddress(n.netmask).bytes;
  // The prefix length as a host-order (little-endian) u32 in the __be32 field, as ipvsadm sends it.
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, Number(n.netmask), true);
  return b;
}

/** Only the identifying attributes (enough for DEL_SERVICE, GET_SERVICE, GET_DEST, ZERO). */
export function serviceIdToWire(s: ServiceId | NormalService): WireService {
  const n = 'kind' in s ? s : normalizeService({ ...s, scheduler: 'wlc' } as Service);
  if (n.kind === 'fwmark') return { af: familyToAf(n.family), fwmark: n.fwmark };
  return {
    af: familyToAf(n.family),
    protocol: PROTOCOL_NUMBERS[n.protocol],
    addr: toInetAddr(parseAddressShared(n.address)),
    port: n.port,
  };
}

/** The full attribute set of a service for IPVS_CMD_NEW_SERVICE / IPVS_CMD_SET_SERVICE. */
export function serviceToWire(s: Service | NormalService): WireService {
  const n = 'kind' in s ? s : normalizeService(s);
  const flags =
    (n.persistent ? K.IP_VS_SVC_F_PERSISTENT : 0) | (n.onePacket ? K.IP_VS_SVC_F_ONEPACKET : 0) | n.schedBits | n.otherFlags;
  const w: WireService = serviceIdToWire(n);
  w.schedName = n.scheduler;
  if (n.pe !== '') w.peName = n.pe;
  // mask ~0: every flag is set as given (ip_vs_genl_parse_service merges flags & mask), as ipvsadm does.
  w.flags = { flags: flags >>> 0, mask: 0xffff_ffff };
  w.timeout = n.timeout;
  w.netmask = netmaskBytes(n);
  return w;
}

function statsFromWire(s64: WireStats64 | undefined, s32: WireStats | undefined): Stats | undefined {
  if (s64 === undefined && s32 === undefined) return undefined;
  const pick = (a: bigint | undefined, b: number | bigint | undefined): bigint => a ?? (b === undefined ? 0n : BigInt(b));
  return {
    conns: pick(s64?.conns, s32?.conns),
    inPackets: pick(s64?.inpkts, s32?.inpkts),
    outPackets: pick(s64?.outpkts, s32?.outpkts),
    inBytes: pick(s64?.inbytes, s32?.inbytes),
    outBytes: pick(s64?.outbytes, s32?.outbytes),
    cps: pick(s64?.cps, s32?.cps),
    inPps: pick(s64?.inpps, s32?.inpps),
    outPps: pick(s64?.outpps, s32?.outpps),
    inBps: pick(s64?.inbps, s32?.inbps),
    outBps: pick(s64?.outbps, s32?.outbps),
  };
}

function protocolName(n: number): Protocol {
  for (const [k, v] of Object.entries(PROTOCOL_NUMBERS)) if (v === n) return k as Protocol;
  throw new IpvsError('ERR_IPVS_UNSUPPORTED', `IP protocol ${n} is not tcp, udp or sctp`);
}

/** A service as the kernel describes it (a dump entry or GET_SERVICE reply). */
export function serviceFromWire(w: WireService): Service {
  if (w.af === undefined) throw new IpvsError('ERR_IPVS_PROTOCOL', 'service without IPVS_SVC_ATTR_AF');
  const family = afToFamily(w.af);
  const flags = w.flags?.flags ?? 0;
  const scheduler = w.schedName ?? 'none';
  const opts: ServiceOptions = { scheduler };
  if (flags & K.IP_VS_SVC_F_PERSISTENT) {
    const p: Persistence = { timeout: w.timeout ?? 0 };
    if (w.netmask !== undefined) {
      p.netmask = family === 'ipv4' ? formatAddress(w.netmask) : new DataView(w.netmask.buffer, w.netmask.byteOffset, 4).getUint32(0, true);
    }
    opts.persistence = p;
  }
  if (flags & K.IP_VS_SVC_F_ONEPACKET) opts.onePacket = true;
  const sched = schedFlagNames(scheduler, flags & SCHED_BITS);
  if (sched.length > 0) opts.schedFlags = sched;
  if (w.peName !== undefined && w.peName !== '') opts.pe = w.peName;
  const other = flags & ~NAMED_BITS;
  if (other !== 0) opts.otherFlags = other >>> 0;
  const stats = statsFromWire(w.stats64, w.stats);
  const base: Service =
    w.fwmark !== undefined && w.fwmark !== 0
      ? { fwmark: w.fwmark, family, ...opts }
      : {
          protocol: protocolName(w.protocol ?? -1),
          address: fromInetAddr(family, w.addr ?? new Uint8Array(16)),
          port: w.port ?? 0,
          ...opts,
        };
  if (stats !== undefined) base.stats = stats;
  return base;
}

/** The attributes of a destination for IPVS_CMD_NEW_DEST / IPVS_CMD_SET_DEST (`full`) or DEL_DEST. */
export function destinationToWire(d: Destination | NormalDestination, service: Service | NormalService, full = true): WireDest {
  const n = 'tunnelType' in d ? d : normalizeDestination(d, service);
  const w: WireDest = {
    addrFamily: familyToAf(n.family),
    addr: toInetAddr(parseAddressShared(n.address)),
    port: n.port,
  };
  if (!full) return w;
  w.fwdMethod = FWD_BY_NAME[n.forwarding];
  w.weight = n.weight;
  if (n.forwarding === 'tunnel') {
    w.tunType = TUN_BY_NAME[n.tunnelType];
    if (n.tunnelType === 'gue') w.tunPort = n.tunnelPort;
    if (n.tunnelType !== 'ipip') w.tunFlags = CSUM_BY_NAME[n.tunnelChecksum];
  }
  w.uThresh = n.upperThreshold;
  w.lThresh = n.lowerThreshold;
  return w;
}

/** Reverse lookups, built once per table (this runs for every destination of a dump). */
const reverse = new WeakMap<object, Map<number, string>>();
function nameOf<T extends string>(table: Record<T, number>, v: number, what: string): T {
  let m = reverse.get(table);
  if (m === undefined) {
    m = new Map(Object.entries(table).map(([k, x]) => [x as number, k]));
    reverse.set(table, m);
  }
  const name = m.get(v);
  if (name === undefined) throw new IpvsError('ERR_IPVS_UNSUPPORTED', `unknown ${what} ${v}`);
  return name as T;
}

/** A destination as the kernel describes it; `serviceFamily` fills in a missing IPVS_DEST_ATTR_ADDR_FAMILY (old kernels). */
export function destinationFromWire(w: WireDest, serviceFamily: AddressFamily): Destination {
  const family = w.addrFamily !== undefined && w.addrFamily !== 0 ? afToFamily(w.addrFamily) : serviceFamily;
  const forwarding = nameOf(FWD_BY_NAME, (w.fwdMethod ?? 0) & K.IP_VS_CONN_F_FWD_MASK, 'forwarding method');
  const d: Destination = {
    address: fromInetAddr(family, w.addr ?? new Uint8Array(16)),
    port: w.port ?? 0,
    forwarding,
    weight: w.weight ?? 0,
    upperThreshold: w.uThresh ?? 0,
    lowerThreshold: w.lThresh ?? 0,
    family,
  };
  if (forwarding === 'tunnel') {
    const type = nameOf(TUN_BY_NAME, w.tunType ?? 0, 'tunnel type');
    const t: Tunnel = { type };
    if (type === 'gue') t.port = w.tunPort ?? 0;
    if (type !== 'ipip') {
      const fl = w.tunFlags ?? 0;
      t.checksum = fl & K.IP_VS_TUNNEL_ENCAP_FLAG_CSUM ? 'csum' : fl & K.IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM ? 'remcsum' : 'nocsum';
    }
    d.tunnel = t;
  }
  if (w.activeConns !== undefined) d.activeConns = w.activeConns;
  if (w.inactConns !== undefined) d.inactiveConns = w.inactConns;
  if (w.persistConns !== undefined) d.persistentConns = w.persistConns;
  const stats = statsFromWire(w.stats64, w.stats);
  if (stats !== undefined) d.stats = stats;
  return d;
}

/** Generic `toWire` / `fromWire` pair for callers who prefer one name. */
export const toWire = serviceToWire;
export const fromWire = serviceFromWire;

/** Field names in which two services differ (ignoring stats); empty when equal. */
export function diffService(a: Service | NormalService, b: Service | NormalService): (keyof NormalService)[] {
  const x = 'kind' in a ? a : normalizeService(a);
  const y = 'kind' in b ? b : normalizeService(b);
  const out: (keyof NormalService)[] = [];
  for (const k of Object.keys(x) as (keyof NormalService)[]) if (x[k] !== y[k]) out.push(k);
  return out;
}

/** Field names in which two destinations differ (ignoring counters and stats); empty when equal. */
export function diffDestination(a: NormalDestination, b: NormalDestination): (keyof NormalDestination)[] {
  const out: (keyof NormalDestination)[] = [];
  for (const k of Object.keys(a) as (keyof NormalDestination)[]) if (a[k] !== b[k]) out.push(k);
  return out;
}

/** Same service, same settings (stats ignored). */
export function sameService(a: Service, b: Service): boolean {
  return diffService(a, b).length === 0;
}

/** Same destination, same settings, within `service` (counters and stats ignored). */
export function sameDestination(a: Destination, b: Destination, service: Service): boolean {
  const s = normalizeService(service);
  return diffDestination(normalizeDestination(a, s), normalizeDestination(b, s)).length === 0;
}

/** Back from normal form to the public shape (only non-default options set). */
export function denormalizeService(n: NormalService): Service {
  const opts: ServiceOptions = { scheduler: n.scheduler };
  if (n.persistent) {
    const p: Persistence = { timeout: n.timeout };
    const defaultMask = n.family === 'ipv4' ? '255.255.255.255' : '128';
    if (n.netmask !== defaultMask) p.netmask = n.family === 'ipv4' ? n.netmask : Number(n.netmask);
    opts.persistence = p;
  }
  if (n.onePacket) opts.onePacket = true;
  const sf = schedFlagNames(n.scheduler, n.schedBits);
  if (sf.length > 0) opts.schedFlags = sf;
  if (n.pe !== '') opts.pe = n.pe;
  if (n.otherFlags !== 0) opts.otherFlags = n.otherFlags;
  if (n.kind === 'fwmark') return { fwmark: n.fwmark, family: n.family, ...opts };
  return { protocol: n.protocol, address: n.address, port: n.port, ...opts };
}

export function denormalizeDestination(n: NormalDestination): Destination {
  const d: Destination = {
    address: n.address,
    port: n.port,
    forwarding: n.forwarding,
    weight: n.weight,
    upperThreshold: n.upperThreshold,
    lowerThreshold: n.lowerThreshold,
    family: n.family,
  };
  if (n.forwarding === 'tunnel') {
    const t: Tunnel = { type: n.tunnelType };
    if (n.tunnelType === 'gue') t.port = n.tunnelPort;
    if (n.tunnelType !== 'ipip') t.checksum = n.tunnelChecksum;
    d.tunnel = t;
  }
  return d;
}

export { normalKey as normalServiceKey };
