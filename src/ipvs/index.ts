/**
 * lvskit/ipvs: an IPVS generic-netlink client and a declarative reconciler.
 *
 * Kernel interface: include/uapi/linux/ip_vs.h (commands, attributes, flags)
 * and net/netfilter/ipvs/ip_vs_ctl.c (what each command needs, which errno
 * means what); netlink framing from include/uapi/linux/netlink.h and
 * genetlink.h. Behaviour checked against ipvsadm on a real kernel (kernel tier).
 *
 * Status: complete for the issue it was built for. The client covers services
 * and destinations (TCP, UDP, SCTP, IPv4, IPv6, fwmark; every attribute of
 * the 6.1 kernel), counters, timeouts, the sync daemon, zero, flush and info;
 * `plan()` / `apply()` reconcile owned services with drain and drift repair;
 * the dry run renders `ipvsadm -R` input. Tested: unit (codecs with kernel
 * golden bytes, plan properties, a fake kernel for the client and batches) and
 * kernel tier (test/kernel/ipvs.test.ts: every operation against ipvsadm on a
 * Debian 6.1 kernel in QEMU, 10,000-entry dumps, errors, ENOBUFS, the
 * docs/ipvs.md example). Benchmarks against ipvsadm: bench/ipvs.bench.mjs,
 * figures in BENCHMARKS.md. User docs: docs/ipvs.md.
 *
 * Files (pure unless marked):
 * - constants.ts    IPVS_CMD_*, IPVS_*_ATTR_*, IP_VS_* flags, with the kernel's names
 * - errors.ts       `IpvsError` with the kernel's errno meaning; `IpvsBatchError`
 * - wire-netlink.ts nlmsghdr, genlmsghdr, nlattr TLVs, acks/errors, genl controller GETFAMILY
 * - wire-schema.ts  table-driven codec of every IPVS attribute set (service, dest, daemon, stats, info, timeouts)
 * - wire.ts         whole IPVS messages (genl header + attributes) and requests; a fast encoder for
 *                   destination requests (byte-for-byte the table-driven codec's output, unit-tested)
 * - address.ts      strict IPv4/IPv6 text <-> bytes, RFC 5952 canonical text
 * - model.ts        public `Service` / `Destination`, defaults as ipvsadm, keys, toWire/fromWire, compare
 * - plan.ts         `plan(desired, actual, options)`: minimal ordered ops, foreign services, draining, drift;
 *                   `planIncremental` against an indexed table, per-destination work only for changed services
 * - plan-render.ts  dry run: ops and tables as `ipvsadm -R` input
 * - transport.ts    (socket) request/response layer: seq matching, batches (many requests per
 *                   datagram, a bounded window, acks on each datagram's last request or on every
 *                   request), dumps, ENOBUFS as a recoverable error
 * - client.ts       (socket) `IpvsClient`: services, destinations, timeouts, sync daemon, zero, flush, info
 * - apply.ts        (driver) `apply(desired, options)`: read (or take a known table), plan, send pipelined, verify
 */
export * from './constants.js';
export * from './errors.js';
export {
  AF_INET,
  AF_INET6,
  canonicalAddress,
  formatAddress,
  parseAddress,
  type AddressFamily,
  type ParsedAddress,
} from './address.js';
export {
  PROTOCOL_NUMBERS,
  defaultDestinationPort,
  denormalizeDestination,
  denormalizeService,
  destinationFromWire,
  destinationKey,
  destinationToWire,
  diffDestination,
  diffService,
  fromWire,
  isFwmarkService,
  normalizeDestination,
  normalizeService,
  sameDestination,
  sameService,
  schedFlagNames,
  serviceFromWire,
  serviceIdOf,
  serviceIdToWire,
  serviceKey,
  serviceToWire,
  toWire,
  type AddressServiceId,
  type Destination,
  type Forwarding,
  type FwmarkServiceId,
  type NormalDestination,
  type NormalService,
  type Persistence,
  type Protocol,
  type SchedFlag,
  type Service,
  type ServiceId,
  type ServiceOptions,
  type Stats,
  type Tunnel,
  type TunnelChecksum,
  type TunnelType,
} from './model.js';
export {
  applyOpsToIndex,
  applyOpsToTable,
  drainKey,
  indexTable,
  plan,
  planIncremental,
  tableOfIndex,
  type IncrementalOptions,
  type NormalEntry,
  type TableIndex,
  type DrainEntry,
  type DrainOptions,
  type DrainingDestination,
  type Drift,
  type Op,
  type Plan,
  type PlanOptions,
  type TableService,
} from './plan.js';
export { renderOp, renderOps, renderServiceArg, renderTable, type RenderOptions } from './plan-render.js';
export * from './wire-netlink.js';
export * from './wire-schema.js';
export * from './wire.js';
export { NetlinkChannel, openGenericSocket, NETLINK_GENERIC, type DatagramSocket, type DumpSource, type ErrnoLike, type Reply, type RequestSpec } from './transport.js';
export {
  IpvsClient,
  type ApplyOpsResult,
  type CallOptions,
  type IpvsClientOptions,
  type IpvsInfo,
  type ReadEngine,
  type SyncDaemon,
  type Timeouts,
} from './client.js';
export { apply, applyOrThrow, type ApplyOptions, type ApplyResult } from './apply.js';
