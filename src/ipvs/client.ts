/**
 * The IPVS generic-netlink client: resolve the `IPVS` family through the genl
 * controller, then services, destinations, timeouts, the sync daemon, zero,
 * flush and info, each a typed request over `NetlinkChannel` (transport.ts).
 *
 * Errors are `IpvsError`s with the kernel's meaning (errors.ts). Every method
 * takes `{ signal }`; `timeoutMs` per call bounds a reply that never comes.
 */
import type { Logger } from '../util/logger.js';
import * as K from './constants.js';
import { IpvsBatchError, IpvsError, ipvsCmdName, type BatchFailure } from './errors.js';
import { AF_INET, AF_INET6, familyToAf, formatAddress, parseAddress, parseAddressShared, toInetAddr, type AddressFamily } from './address.js';
import {
  defaultDestinationPort,
  destinationFromWire,
  destinationToWire,
  forwardingCode,
  isFwmarkService,
  serviceFromWire,
  serviceIdToWire,
  serviceKey,
  serviceToWire,
  type Destination,
  type NormalDestination,
  type NormalService,
  type Service,
  type ServiceId,
} from './model.js';
import type { Op, TableService } from './plan.js';
import { NetlinkChannel, openGenericSocket, type DatagramSocket, type DumpSource, type Reply, type RequestSpec } from './transport.js';
import { readDestEntry, readDestEntryAt } from './dump.js';
import { nativeDump, nativeReadTable, type NlDumpBinding } from './native-dump.js';
import { GENL_ID_CTRL, CTRL_CMD_GETFAMILY, decodeFamily, encodeGetFamily, type GenlFamily } from './wire-netlink.js';
import { CMD_SCHEMA, encodeAttrs, type WireDaemon, type WireService } from './wire-schema.js';
import { decodeIpvsMessage, destRequestPlainLength, encodeDestRequest, encodeDestRequestPlain, encodeIpvsMessage, writeDestRequestPlain, type IpvsMessage } from './wire.js';

/** How `readTable` reads the kernel: see `IpvsClient.readTable`. */
export type ReadEngine = 'native' | 'batched' | 'requests';

export interface CallOptions {
  signal?: AbortSignal;
  /** Listing calls: decode counters (stats) too. Default true; `readTable` for reconciling passes false. */
  stats?: boolean;
  /** Give up on a reply after this long (ms). Default: the client's `timeoutMs`. */
  timeoutMs?: number;
}

export interface IpvsClientOptions {
  signal?: AbortSignal;
  logger?: Logger;
  /** Default per-call timeout (ms); default 30 s. Dumps of huge tables may need more. */
  timeoutMs?: number;
  /**
   * Requests per sendmsg in batches. Default: half the window, at most 256.
   */
  batchSize?: number;
  /**
   * Batch requests unanswered at once. Default: what the receive buffer holds, counting 1 KiB per
   * ack (an ack is a small skb, but the buffer counts its whole allocation, some 700 bytes), at least 16.
   */
  window?: number;
  /**
   * Batches: set NLM_F_ACK on every request, so the kernel answers each one. Default false: only
   * a datagram's last request asks for an ack. The kernel answers every failed request anyway
   * (netlink_rcv_skb) and handles a datagram's requests in order, so that last answer settles the
   * others as done; a lost answer (ENOBUFS) fails the whole datagram as recoverable. One answer per
   * datagram instead of one per request is most of the speed of a big load.
   */
  ackEach?: boolean;
  /** SO_RCVBUF (default 1 MiB, capped by the kernel at net.core.rmem_max x 2). */
  recvBufferSize?: number;
  /** The genl family name (default `IPVS`). */
  familyName?: string;
  /** A socket to use instead of opening one (tests). */
  socket?: DatagramSocket;
  /**
   * Sockets used together to dump destinations in `readTable` (one dump at a time per socket, so
   * several sockets save round trips on tables with many services). Default 4 (8 measured no better in the VM bench once run order was accounted for); extra sockets open
   * on first use. With an injected `socket`, only if `openSocket` is given too.
   */
  dumpSockets?: number;
  /** Opens the extra dump sockets (default: `openGenericSocket`). */
  openSocket?: () => Promise<DatagramSocket>;
}

export interface IpvsInfo {
  /** IP_VS_VERSION_CODE as text, e.g. `1.2.1`. */
  version: string;
  versionCode: number;
  /** Size of the connection hash table. */
  connTabSize: number;
}

/** Connection timeouts in seconds (ipvsadm --set tcp tcpfin udp); 0 in a set call leaves one unchanged. */
export interface Timeouts {
  tcp: number;
  tcpFin: number;
  udp: number;
}

/** A connection-sync daemon (ipvsadm --start-daemon). */
export interface SyncDaemon {
  state: 'master' | 'backup';
  /** Multicast interface (not `lo`: it can't do multicast). */
  interface: string;
  syncId?: number;
  /** Maximum sync message length. */
  maxLen?: number;
  /** Multicast group (IPv4 or IPv6); default 224.0.0.81. */
  group?: string;
  port?: number;
  ttl?: number;
}

/** Result of `applyOps`: how many operations went through and which failed. */
export interface ApplyOpsResult {
  applied: number;
  failures: BatchFailure[];
}

function svcWhat(s: ServiceId | NormalService): string {
  if ('kind' in s) return s.kind === 'fwmark' ? `fwmark/${s.family}/${s.fwmark}` : `${s.protocol}/${s.address}:${s.port}`;
  return `service ${serviceKey(s)}`;
}

/** A client for the kernel's IPVS over generic netlink. Create with `IpvsClient.open()`. */
export class IpvsClient {
  readonly family: GenlFamily;
  readonly #ch: NetlinkChannel;
  readonly #timeoutMs: number;
  readonly #batchSize: number;
  readonly #window: number;
  readonly #options: IpvsClientOptions;
  /** Extra channels for concurrent destination dumps, opened on first use. */
  #dumpChannels: Promise<NetlinkChannel[]> | undefined;
  readonly #extra: NetlinkChannel[] = [];
  #closed = false;
  /** Dump requests the addon sent for `readTable` (counted in `stats.requests` and `stats.sendmsgs`). */
  #nativeDumps = 0;

  private constructor(ch: NetlinkChannel, family: GenlFamily, options: IpvsClientOptions, sock: DatagramSocket) {
    this.#ch = ch;
    this.family = family;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    const rcvbuf = sock.recvBufferSize?.() ?? 0;
    const fromBuffer = rcvbuf > 0 ? Math.max(16, Math.floor(rcvbuf / 1024)) : 256;
    this.#window = options.window ?? Math.max(fromBuffer, options.batchSize ?? 0);
    this.#batchSize = options.batchSize ?? Math.max(1, Math.min(256, this.#window >> 1));
    this.#options = options;
  }

  /**
   * Open a netlink socket and resolve the IPVS family. Fails with
   * `ERR_IPVS_MODULE_MISSING` when the family isn't registered (ip_vs not
   * loaded: `modprobe ip_vs`).
   */
  static async open(options: IpvsClientOptions = {}): Promise<IpvsClient> {
    const sock = options.socket ?? (await openGenericSocket(options.recvBufferSize === undefined ? {} : { recvBufferSize: options.recvBufferSize }));
    const ch = new NetlinkChannel(sock, options.logger === undefined ? {} : { logger: options.logger });
    const name = options.familyName ?? K.IPVS_GENL_NAME;
    try {
      const reply = await ch.request(
        { type: GENL_ID_CTRL, cmd: CTRL_CMD_GETFAMILY, payload: encodeGetFamily(name), what: `genl family ${name}` },
        { ...(options.signal === undefined ? {} : { signal: options.signal }), timeoutMs: options.timeoutMs ?? 30_000 },
      );
      const first = reply.msgs[0];
      if (first === undefined) throw new IpvsError('ERR_IPVS_PROTOCOL', 'the genl controller sent no family');
      let family: GenlFamily;
      try {
        family = decodeFamily(first.payload);
      } catch (e) {
        throw new IpvsError('ERR_IPVS_PROTOCOL', `bad controller reply: ${(e as Error).message}`, { cause: e });
      }
      return new IpvsClient(ch, family, options, sock);
    } catch (e) {
      ch.close();
      // CTRL_CMD_GETFAMILY answers ENOENT for an unknown family (genl_family_find_byname).
      if (e instanceof IpvsError && e.errno === 2) {
        throw new IpvsError('ERR_IPVS_MODULE_MISSING', `the ${name} generic-netlink family is not registered: is the ip_vs module loaded? (modprobe ip_vs)`, { cause: e, errno: 2 });
      }
      throw e;
    }
  }

  /**
   * Netlink traffic since `open`, over all this client's sockets: datagrams sent (sendmsg calls,
   * each one round trip at most), the requests in them, and receive-buffer overflows (ENOBUFS).
   * The dumps `readTable` runs in the native addon count as one datagram and one request each.
   */
  get stats(): { sendmsgs: number; requests: number; overflows: number } {
    const out = { sendmsgs: this.#nativeDumps, requests: this.#nativeDumps, overflows: 0 };
    for (const ch of [this.#ch, ...this.#extra]) {
      const s = ch.stats;
      out.sendmsgs += s.sendmsgs;
      out.requests += s.requests;
      out.overflows += s.overflows;
    }
    return out;
  }

  close(): void {
    this.#closed = true;
    this.#ch.close();
    for (const c of this.#extra) c.close();
  }

  /** The main channel plus up to `dumpSockets - 1` extra ones (fewer if they can't be opened). */
  async #channels(): Promise<NetlinkChannel[]> {
    const want = Math.max(1, this.#options.dumpSockets ?? 4) - 1;
    const open = this.#options.openSocket ?? (this.#options.socket === undefined ? () => openGenericSocket(this.#options.recvBufferSize === undefined ? {} : { recvBufferSize: this.#options.recvBufferSize }) : undefined);
    if (want === 0 || open === undefined) return [this.#ch];
    this.#dumpChannels ??= (async () => {
      const out: NetlinkChannel[] = [];
      for (let i = 0; i < want; i++) {
        try {
          const ch = new NetlinkChannel(await open(), this.#options.logger === undefined ? {} : { logger: this.#options.logger });
          out.push(ch);
          this.#extra.push(ch);
        } catch {
          break; // fewer sockets is fine
        }
      }
      if (this.#closed) out.forEach((c) => c.close());
      return out;
    })();
    return [this.#ch, ...(await this.#dumpChannels)];
  }

  /** Per-request options for the channel: the caller's signal and a plain per-request timer. */
  #req(o: CallOptions): { signal?: AbortSignal; timeoutMs: number } {
    const timeoutMs = o.timeoutMs ?? this.#timeoutMs;
    return o.signal === undefined ? { timeoutMs } : { signal: o.signal, timeoutMs };
  }

  #spec(m: IpvsMessage, what?: string, dump = false): RequestSpec {
    const spec: RequestSpec = { type: this.family.id, cmd: m.cmd, payload: encodeIpvsMessage(m), dump };
    if (what !== undefined) spec.what = what;
    return spec;
  }

  async #do(m: IpvsMessage, o: CallOptions, what?: string): Promise<Reply> {
    return this.#ch.request(this.#spec(m, what), this.#req(o));
  }

  async #dumpMsgs(m: IpvsMessage, o: CallOptions, what?: string, ch: NetlinkChannel = this.#ch): Promise<IpvsMessage[]> {
    const reply = await ch.request(this.#spec(m, what, true), this.#req(o));
    return this.#decode(reply, m.cmd, o.stats === false);
  }

  #decode(reply: Reply, cmd: number, skipStats = false): IpvsMessage[] {
    try {
      return reply.msgs.filter((x) => x.type === this.family.id).map((x) => decodeIpvsMessage(x.payload, 0, x.payload.length, { skipStats }));
    } catch (e) {
      throw new IpvsError('ERR_IPVS_PROTOCOL', `${ipvsCmdName(cmd)}: undecodable reply: ${(e as Error).message}`, { cause: e, cmd });
    }
  }

  // ---- info, timeouts ------------------------------------------------------

  /** IPVS version and connection table size (IPVS_CMD_GET_INFO). */
  async info(o: CallOptions = {}): Promise<IpvsInfo> {
    const [m] = this.#decode(await this.#do({ cmd: K.IPVS_CMD_GET_INFO, attrs: {} }, o), K.IPVS_CMD_GET_INFO);
    const i = m?.info;
    if (i?.version === undefined) throw new IpvsError('ERR_IPVS_PROTOCOL', 'IPVS_CMD_GET_INFO reply without IPVS_INFO_ATTR_VERSION');
    const v = i.version;
    return { version: `${(v >> 16) & 0xff}.${(v >> 8) & 0xff}.${v & 0xff}`, versionCode: v, connTabSize: i.connTabSize ?? 0 };
  }

  /** TCP, TCP FIN and UDP connection timeouts in seconds (IPVS_CMD_GET_CONFIG). */
  async getTimeouts(o: CallOptions = {}): Promise<Timeouts> {
    const [m] = this.#decode(await this.#do({ cmd: K.IPVS_CMD_GET_CONFIG, attrs: {} }, o), K.IPVS_CMD_GET_CONFIG);
    const a = m?.attrs ?? {};
    return { tcp: a.timeoutTcp ?? 0, tcpFin: a.timeoutTcpFin ?? 0, udp: a.timeoutUdp ?? 0 };
  }

  /** Set timeouts (IPVS_CMD_SET_CONFIG); omitted ones are left as they are. */
  async setTimeouts(t: Partial<Timeouts>, o: CallOptions = {}): Promise<void> {
    const attrs: IpvsMessage['attrs'] = {};
    if (t.tcp !== undefined) attrs.timeoutTcp = t.tcp;
    if (t.tcpFin !== undefined) attrs.timeoutTcpFin = t.tcpFin;
    if (t.udp !== undefined) attrs.timeoutUdp = t.udp;
    await this.#do({ cmd: K.IPVS_CMD_SET_CONFIG, attrs }, o);
  }

  // ---- services --------------------------------------------------------------

  /** Every service (IPVS_CMD_GET_SERVICE dump), with stats. */
  async listServices(o: CallOptions = {}): Promise<Service[]> {
    const msgs = await this.#dumpMsgs({ cmd: K.IPVS_CMD_GET_SERVICE, attrs: {} }, o);
    return msgs.flatMap((m) => (m.attrs?.service === undefined ? [] : [serviceFromWire(m.attrs.service)]));
  }

  /** One service; `ERR_IPVS_NO_SERVICE` when absent. */
  async getService(id: ServiceId, o: CallOptions = {}): Promise<Service> {
    const [m] = this.#decode(await this.#do({ cmd: K.IPVS_CMD_GET_SERVICE, attrs: { service: serviceIdToWire(id) } }, o, svcWhat(id)), K.IPVS_CMD_GET_SERVICE);
    const s = m?.attrs?.service;
    if (s === undefined) throw new IpvsError('ERR_IPVS_PROTOCOL', 'IPVS_CMD_GET_SERVICE reply without a service');
    return serviceFromWire(s);
  }

  /** Add a service; `ERR_IPVS_EXISTS` if it is there, `ERR_IPVS_UNKNOWN_SCHEDULER` for a scheduler the kernel lacks. */
  async addService(s: Service, o: CallOptions = {}): Promise<void> {
    await this.#do({ cmd: K.IPVS_CMD_NEW_SERVICE, attrs: { service: serviceToWire(s) } }, o, svcWhat(s));
  }

  /** Replace a service's settings in place (scheduler, flags, persistence, PE); its destinations and connections stay. */
  async editService(s: Service, o: CallOptions = {}): Promise<void> {
    await this.#do({ cmd: K.IPVS_CMD_SET_SERVICE, attrs: { service: serviceToWire(s) } }, o, svcWhat(s));
  }

  async deleteService(id: ServiceId, o: CallOptions = {}): Promise<void> {
    await this.#do({ cmd: K.IPVS_CMD_DEL_SERVICE, attrs: { service: serviceIdToWire(id) } }, o, svcWhat(id));
  }

  // ---- destinations ------------------------------------------------------------

  /** The destinations of a service (IPVS_CMD_GET_DEST dump); a missing service gives an empty list, as the kernel does. */
  async listDestinations(id: ServiceId, o: CallOptions = {}): Promise<Destination[]> {
    return this.#listDestinations(id, o, this.#ch);
  }

  async #listDestinations(id: ServiceId, o: CallOptions, ch: NetlinkChannel): Promise<Destination[]> {
    const family: AddressFamily = isFwmarkService(id) ? (id.family ?? 'ipv4') : parseAddressShared(id.address).family;
    if (family !== 'ipv4' && family !== 'ipv6') throw new IpvsError('ERR_IPVS_INVALID_CONFIG', `family must be 'ipv4' or 'ipv6', got ${String(family)}`);
    const m: IpvsMessage = { cmd: K.IPVS_CMD_GET_DEST, attrs: { service: serviceIdToWire(id) } };
    if (o.stats !== false) {
      const msgs = await this.#dumpMsgs(m, o, svcWhat(id), ch);
      return msgs.flatMap((x) => (x.attrs?.dest === undefined ? [] : [destinationFromWire(x.attrs.dest, family)]));
    }
    // Settings only (readTable for reconciling): the one-pass reader of dump entries.
    const reply = await ch.request(this.#spec(m, svcWhat(id), true), this.#req(o));
    const out: Destination[] = [];
    try {
      for (const x of reply.msgs) {
        if (x.type !== this.family.id) continue;
        const d = readDestEntry(x.payload, family);
        if (d !== undefined) out.push(d);
      }
    } catch (e) {
      if (e instanceof IpvsError) throw e;
      throw new IpvsError('ERR_IPVS_PROTOCOL', `IPVS_CMD_GET_DEST: undecodable reply: ${(e as Error).message}`, { cause: e, cmd: K.IPVS_CMD_GET_DEST });
    }
    return out;
  }

  async addDestination(service: Service, d: Destination, o: CallOptions = {}): Promise<void> {
    await this.#do({ cmd: K.IPVS_CMD_NEW_DEST, attrs: { service: serviceIdToWire(service), dest: destinationToWire(d, service) } }, o, svcWhat(service));
  }

  async editDestination(service: Service, d: Destination, o: CallOptions = {}): Promise<void> {
    await this.#do({ cmd: K.IPVS_CMD_SET_DEST, attrs: { service: serviceIdToWire(service), dest: destinationToWire(d, service) } }, o, svcWhat(service));
  }

  async deleteDestination(service: Service, d: Pick<Destination, 'address' | 'port'>, o: CallOptions = {}): Promise<void> {
    // Only the identity (address family, address, port): ip_vs_genl_parse_dest without full_entry.
    const a = parseAddress(d.address);
    const port = d.port ?? defaultDestinationPort(service);
    if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new IpvsError('ERR_IPVS_INVALID_CONFIG', `destination port must be in 0..65535, got ${port}`);
    const dest = { addrFamily: familyToAf(a.family), addr: toInetAddr(a), port };
    await this.#do({ cmd: K.IPVS_CMD_DEL_DEST, attrs: { service: serviceIdToWire(service), dest } }, o, svcWhat(service));
  }

  /**
   * The whole table: every service with its destinations: one service dump, then one destination
   * dump per service (the kernel has no dump of all destinations). Engines:
   * - `native` (the default when lvskit's addon loads and the client owns its socket): the dumps
   *   run in C on the libuv threadpool on a socket of the addon's own, and one buffer comes back
   *   to decode (native-dump.ts, native/lvskit_nldump.c);
   * - `requests` (the fallback): one dump request each, on `dumpSockets` sockets in parallel;
   * - `batched`: the destination dumps back to back on `dumpSockets` sockets, each a `dumpEach`
   *   run (transport.ts: the next dump sent from the receive handler of the previous one's end,
   *   entries read in place, one watchdog per socket). Less work per dump on paper, but it did
   *   not measure faster than `requests` in the benchmark VM (BENCHMARKS.md), so it is opt-in.
   * Asking for `native` where the addon can't load gives `requests`.
   */
  async readTable(o: CallOptions & { stable?: boolean; engine?: ReadEngine } = {}): Promise<TableService[]> {
    const engine = this.readEngine(o.engine);
    const once = async (): Promise<TableService[]> =>
      engine === 'requests' ? this.#readTableRequests(o) : engine === 'native' ? this.#readTableNative(o) : this.#readTableBatched(o);
    if (o.stable !== true) return once();
    // IPVS dumps resume by position and never set NLM_F_DUMP_INTR: a table changing mid-dump can
    // skip or repeat entries. With `stable`, read until two reads in a row agree (at most 4 reads).
    let prev = await once();
    for (let i = 0; i < 3; i++) {
      const next = await once();
      if (tableSignature(next) === tableSignature(prev)) return next;
      prev = next;
    }
    throw new IpvsError('ERR_IPVS_BUSY', 'the IPVS table kept changing while it was read');
  }

  /** The engine `readTable` uses for `wanted` (default: `native` when it can, else `requests`). */
  readEngine(wanted?: ReadEngine): ReadEngine {
    if (wanted === 'requests' || wanted === 'batched') return wanted;
    // An injected socket (a fake kernel in tests) is the only kernel this client may talk to.
    if (this.#options.socket !== undefined || this.#closed) return 'requests';
    return nativeDump() === undefined ? 'requests' : 'native';
  }

  async #readTableNative(o: CallOptions): Promise<TableService[]> {
    if (this.#closed) throw new IpvsError('ERR_IPVS_CLOSED', 'the IPVS client is closed');
    const b = nativeDump() as NlDumpBinding;
    const r = await nativeReadTable(b, this.family.id, { ...(o.signal === undefined ? {} : { signal: o.signal }), timeoutMs: o.timeoutMs ?? this.#timeoutMs, stats: o.stats !== false });
    this.#nativeDumps += r.dumps;
    return r.table;
  }

  async #readTableRequests(o: CallOptions): Promise<TableService[]> {
    const services = await this.listServices(o);
    const out: TableService[] = services.map((s) => ({ ...s }));
    // One worker per socket, each taking the next service: dumps in parallel across sockets.
    const chs = services.length > 1 ? await this.#channels() : [this.#ch];
    let next = 0;
    await Promise.all(
      chs.map(async (ch) => {
        while (next < out.length) {
          const s = out[next++] as TableService;
          s.destinations = await this.#listDestinations(s, o, ch);
        }
      }),
    );
    return out;
  }

  async #readTableBatched(o: CallOptions): Promise<TableService[]> {
    const msgs = await this.#dumpMsgs({ cmd: K.IPVS_CMD_GET_SERVICE, attrs: {} }, o);
    const out: TableService[] = [];
    const ids: WireService[] = [];
    for (const m of msgs) {
      const w = m.attrs?.service;
      if (w === undefined) continue;
      out.push(serviceFromWire(w));
      // The service's identity as the kernel sent it: the destination dump's request needs nothing else.
      ids.push(w.fwmark !== undefined && w.fwmark !== 0 ? { af: w.af as number, fwmark: w.fwmark } : { af: w.af as number, protocol: w.protocol as number, addr: w.addr as Uint8Array, port: w.port as number });
    }
    if (out.length === 0) return out;
    const chs = out.length > 1 ? await this.#channels() : [this.#ch];
    const stats = o.stats !== false;
    const familyId = this.family.id;
    const timeoutMs = o.timeoutMs ?? this.#timeoutMs;
    let next = 0;
    const source = (): DumpSource => {
      let list: Destination[] = [];
      let family: AddressFamily = 'ipv4';
      return {
        next: () => {
          if (next >= out.length) return undefined;
          const i = next++;
          const s = out[i] as TableService;
          const id = ids[i] as WireService;
          list = s.destinations = [];
          family = id.af === AF_INET6 ? 'ipv6' : 'ipv4';
          return { type: familyId, cmd: K.IPVS_CMD_GET_DEST, payload: encodeIpvsMessage({ cmd: K.IPVS_CMD_GET_DEST, attrs: { service: id } }), dump: true, what: svcWhat(s) };
        },
        entry: (buf, start, end, type) => {
          if (type !== familyId) return;
          if (stats) {
            const d = decodeIpvsMessage(buf, start, end).attrs?.dest;
            if (d !== undefined) list.push(destinationFromWire(d, family));
            return;
          }
          const d = readDestEntryAt(buf, start, end, family);
          if (d !== undefined) list.push(d);
        },
      };
    };
    const opts = o.signal === undefined ? { timeoutMs } : { signal: o.signal, timeoutMs };
    try {
      await Promise.all(chs.map((ch) => ch.dumpEach(source(), opts)));
    } catch (e) {
      next = out.length; // the other sockets stop after their dump in flight
      throw e;
    }
    return out;
  }

  // ---- whole table -------------------------------------------------------------

  /** Zero the counters of one service, or of everything (IPVS_CMD_ZERO). */
  async zero(id?: ServiceId, o: CallOptions = {}): Promise<void> {
    await this.#do({ cmd: K.IPVS_CMD_ZERO, attrs: id === undefined ? {} : { service: serviceIdToWire(id) } }, o);
  }

  /** Delete every service (IPVS_CMD_FLUSH). Prefer reconciling: the kernel keeps flushed destinations on a list every new one searches. */
  async flush(o: CallOptions = {}): Promise<void> {
    await this.#do({ cmd: K.IPVS_CMD_FLUSH, attrs: {} }, o);
  }

  // ---- sync daemon ---------------------------------------------------------------

  /** Start a connection-sync daemon (IPVS_CMD_NEW_DAEMON). */
  async startDaemon(d: SyncDaemon, o: CallOptions = {}): Promise<void> {
    const w: WireDaemon = {
      state: d.state === 'master' ? K.IP_VS_STATE_MASTER : K.IP_VS_STATE_BACKUP,
      mcastIfn: d.interface,
      syncId: d.syncId ?? 0,
    };
    if (d.maxLen !== undefined) w.syncMaxlen = d.maxLen;
    if (d.group !== undefined) {
      const g = parseAddress(d.group);
      if (g.family === 'ipv4') w.mcastGroup = g.bytes;
      else w.mcastGroup6 = g.bytes;
    }
    if (d.port !== undefined) w.mcastPort = d.port;
    if (d.ttl !== undefined) w.mcastTtl = d.ttl;
    await this.#do({ cmd: K.IPVS_CMD_NEW_DAEMON, attrs: { daemon: w } }, o, `${d.state} sync daemon on ${d.interface}`);
  }

  /** Stop the master or backup sync daemon (IPVS_CMD_DEL_DAEMON). */
  async stopDaemon(state: SyncDaemon['state'], o: CallOptions = {}): Promise<void> {
    await this.#do({ cmd: K.IPVS_CMD_DEL_DAEMON, attrs: { daemon: { state: state === 'master' ? K.IP_VS_STATE_MASTER : K.IP_VS_STATE_BACKUP } } }, o);
  }

  /** Running sync daemons (IPVS_CMD_GET_DAEMON dump). */
  async listDaemons(o: CallOptions = {}): Promise<SyncDaemon[]> {
    const msgs = await this.#dumpMsgs({ cmd: K.IPVS_CMD_GET_DAEMON, attrs: {} }, o);
    const out: SyncDaemon[] = [];
    for (const m of msgs) {
      const w = m.attrs?.daemon;
      if (w === undefined) continue;
      const d: SyncDaemon = { state: w.state === K.IP_VS_STATE_BACKUP ? 'backup' : 'master', interface: w.mcastIfn ?? '', syncId: w.syncId ?? 0 };
      if (w.syncMaxlen !== undefined) d.maxLen = w.syncMaxlen;
      if (w.mcastGroup6 !== undefined) d.group = formatAddress(w.mcastGroup6);
      else if (w.mcastGroup !== undefined) d.group = formatAddress(w.mcastGroup);
      if (w.mcastPort !== undefined) d.port = w.mcastPort;
      if (w.mcastTtl !== undefined) d.ttl = w.mcastTtl;
      out.push(d);
    }
    return out;
  }

  // ---- plans -----------------------------------------------------------------------

  /** The netlink message for a plan operation. */
  static opMessage(op: Op): IpvsMessage {
    // The ops of one service share its NormalService: build its identifying attributes once.
    const id = (s: NormalService): WireService => {
      let w = idCache.get(s);
      if (w === undefined) {
        w = serviceIdToWire(s);
        idCache.set(s, w);
      }
      return w;
    };
    switch (op.kind) {
      case 'add-service':
        return { cmd: K.IPVS_CMD_NEW_SERVICE, attrs: { service: serviceToWire(op.service) } };
      case 'edit-service':
        return { cmd: K.IPVS_CMD_SET_SERVICE, attrs: { service: serviceToWire(op.service) } };
      case 'delete-service':
        return { cmd: K.IPVS_CMD_DEL_SERVICE, attrs: { service: id(op.service) } };
      case 'add-destination':
        return { cmd: K.IPVS_CMD_NEW_DEST, attrs: { service: id(op.service), dest: destinationToWire(op.destination, op.service) } };
      case 'edit-destination':
        return { cmd: K.IPVS_CMD_SET_DEST, attrs: { service: id(op.service), dest: destinationToWire(op.destination, op.service) } };
      case 'delete-destination':
        return { cmd: K.IPVS_CMD_DEL_DEST, attrs: { service: id(op.service), dest: destinationToWire(op.destination, op.service, false) } };
    }
  }

  /** The genl payload of a plan operation: `encodeIpvsMessage(IpvsClient.opMessage(op))`, built faster. */
  static opPayload(op: Op): Uint8Array {
    return opPayload(op);
  }

  /**
   * Send plan operations pipelined (many per sendmsg, in order; the kernel
   * handles them in order) and check every ack. Never throws for kernel
   * errors of single operations: they come back in `failures`.
   */
  async applyOps(ops: readonly Op[], o: CallOptions = {}): Promise<ApplyOpsResult> {
    const specs: RequestSpec[] = new Array<RequestSpec>(ops.length);
    const type = this.family.id;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i] as Op;
      specs[i] = new OpSpec(type, op);
    }
    const results = await this.#ch.sendBatch(specs, { ...this.#req(o), chunkSize: this.#batchSize, window: this.#window, ackEach: this.#options.ackEach === true });
    const failures: BatchFailure[] = [];
    results.forEach((r, index) => {
      if (!r.ok) {
        const e = r.error;
        if (!(e instanceof IpvsError)) throw e; // aborts and timeouts end the whole batch
        failures.push({ index, error: e });
      }
    });
    return { applied: ops.length - failures.length, failures };
  }

  /** `applyOps`, throwing an `IpvsBatchError` if any operation failed. */
  async applyOpsOrThrow(ops: readonly Op[], o: CallOptions = {}): Promise<number> {
    const r = await this.applyOps(ops, o);
    if (r.failures.length > 0) throw new IpvsBatchError(r.failures, ops.length);
    return r.applied;
  }
}

/**
 * The request of one plan operation. Its words for error messages are made only when asked for
 * (an error): a big load would otherwise build 50,000 strings nobody reads.
 */
class OpSpec implements RequestSpec {
  readonly cmd: number;
  /** Set for a destination op without a tunnel: written straight into the batch's datagram. */
  readonly payloadLength?: number;
  #svcAttr: Uint8Array | undefined;
  #payload: Uint8Array | undefined;

  constructor(
    readonly type: number,
    readonly op: Op,
  ) {
    this.cmd = opCmd(op);
    if ((op.kind === 'add-destination' || op.kind === 'edit-destination' || op.kind === 'delete-destination') && op.destination.forwarding !== 'tunnel') {
      this.#svcAttr = serviceIdAttr(op.service);
      this.payloadLength = destRequestPlainLength(this.#svcAttr.length, op.kind !== 'delete-destination');
    } else {
      this.#payload = opPayload(op);
    }
  }

  get payload(): Uint8Array {
    return (this.#payload ??= opPayload(this.op));
  }

  writePayload(out: Uint8Array, at: number): void {
    const op = this.op as Extract<Op, { destination: NormalDestination }>;
    const n = op.destination;
    const a = parseAddressShared(n.address);
    writeDestRequestPlain(out, at, this.cmd, this.#svcAttr as Uint8Array, familyToAf(a.family), a.bytes, n.port, op.kind !== 'delete-destination', forwardingCode(n.forwarding), n.weight, n.upperThreshold, n.lowerThreshold);
  }

  get what(): string {
    const op = this.op;
    return `${op.kind} ${op.key}${'destKey' in op ? ` ${op.destKey}` : ''}`;
  }
}

/** The encoded IPVS_CMD_ATTR_SERVICE attribute (identity only) of a service, made once per service. */
function serviceIdAttr(s: NormalService): Uint8Array {
  let svc = idAttrCache.get(s);
  if (svc === undefined) {
    svc = encodeAttrs(CMD_SCHEMA, { service: serviceIdToWire(s) });
    idAttrCache.set(s, svc);
  }
  return svc;
}

const idCache = new WeakMap<NormalService, WireService>();

/** The encoded IPVS_CMD_ATTR_SERVICE attribute (identity only) of a service, shared by all its destination ops. */
const idAttrCache = new WeakMap<NormalService, Uint8Array>();

function opCmd(op: Op): number {
  switch (op.kind) {
    case 'add-service':
      return K.IPVS_CMD_NEW_SERVICE;
    case 'edit-service':
      return K.IPVS_CMD_SET_SERVICE;
    case 'delete-service':
      return K.IPVS_CMD_DEL_SERVICE;
    case 'add-destination':
      return K.IPVS_CMD_NEW_DEST;
    case 'edit-destination':
      return K.IPVS_CMD_SET_DEST;
    case 'delete-destination':
      return K.IPVS_CMD_DEL_DEST;
  }
}

/**
 * The genl payload of a plan operation: the same bytes as
 * `encodeIpvsMessage(IpvsClient.opMessage(op))`, built faster for
 * destination ops (the bulk of a big plan): the service attribute is encoded
 * once per service and copied, only the destination attribute is encoded.
 */
function opPayload(op: Op): Uint8Array {
  if (op.kind !== 'add-destination' && op.kind !== 'edit-destination' && op.kind !== 'delete-destination') {
    return encodeIpvsMessage(IpvsClient.opMessage(op));
  }
  const svc = serviceIdAttr(op.service);
  const n = op.destination;
  if (n.forwarding !== 'tunnel') {
    // The bulk of a load: no tunnel attributes, so no WireDest and no padded address copy.
    const a = parseAddressShared(n.address);
    return encodeDestRequestPlain(opCmd(op), svc, familyToAf(a.family), a.bytes, n.port, op.kind !== 'delete-destination', forwardingCode(n.forwarding), n.weight, n.upperThreshold, n.lowerThreshold);
  }
  return encodeDestRequest(opCmd(op), svc, destinationToWire(n, op.service, op.kind !== 'delete-destination'));
}

/** Settings of a table without counters, for comparing two reads. */
function tableSignature(t: readonly TableService[]): string {
  const strip = ({ stats: _s, activeConns: _a, inactiveConns: _i, persistentConns: _p, ...rest }: Record<string, unknown>): Record<string, unknown> => rest;
  return JSON.stringify(
    t.map((s) => ({ ...strip(s as unknown as Record<string, unknown>), destinations: (s.destinations ?? []).map((d) => strip(d as unknown as Record<string, unknown>)) })),
  );
}

export { AF_INET, AF_INET6 };
