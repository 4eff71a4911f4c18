/**
 * The netlink request/response layer: one NETLINK_GENERIC socket (from the
 * `netlink` package's RawNetlinkSocket: the socket and nothing else), our own
 * framing (wire-netlink.ts), and per-request sequence matching.
 *
 * Why not the package's request(): it reassembles multipart replies per socket,
 * not per request, so two dumps in flight on one socket fail, and an ENOBUFS
 * from recvmsg reaches an 'error' event nobody listens to, which ends the
 * process. Here:
 * - every request gets its own sequence number; replies are grouped by it, a
 *   request ends at its NLMSG_ERROR (ack or error) or NLMSG_DONE (dumps);
 * - many requests go out in one sendmsg (`sendBatch`), each acked on its own;
 * - dumps run one at a time per socket (the kernel answers a second dump on a
 *   socket whose dump is still running with EBUSY) and of any size: the kernel
 *   fills the next datagram as we read;
 * - ENOBUFS (our receive buffer overflowed: replies were lost) fails every
 *   request in flight with the recoverable `ERR_IPVS_NO_BUFFERS`; the socket
 *   stays usable and late replies of failed requests are dropped by seq;
 * - every request takes `{ signal }`; an aborted dump is drained in the
 *   background so the next dump doesn't hit EBUSY.
 */
import type * as NetlinkPackage from 'netlink';
import { abortReason } from '../util/abort.js';
import type { Logger } from '../util/logger.js';
import { noopLogger } from '../util/logger.js';
import { DecodeError, TimeoutError } from '../util/errors.js';
import { IpvsErrno, IpvsError, errnoToIpvsError, ipvsCmdName } from './errors.js';
import {
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  NLM_F_REQUEST,
  align4,
  decodeDoneErrno,
  decodeNlError,
  decodeNlmsgs,
  type Nlmsg,
} from './wire-netlink.js';

type NetlinkModule = typeof NetlinkPackage;

/** NETLINK_GENERIC (include/uapi/linux/netlink.h). */
export const NETLINK_GENERIC = 16;

/** An errno-carrying error as the native socket reports it. */
export interface ErrnoLike extends Error {
  errno?: number;
  code?: string;
}

/** What the channel needs from a datagram socket; the real one wraps RawNetlinkSocket, tests use a fake kernel. */
export interface DatagramSocket {
  /** Send one datagram to the kernel (port 0). */
  send(data: Uint8Array, callback: (err?: ErrnoLike) => void): void;
  /** Register the datagram handler (called once). */
  onMessage(fn: (data: Uint8Array) => void): void;
  /** Register the receive-error handler (called once), e.g. ENOBUFS. */
  onError(fn: (err: ErrnoLike) => void): void;
  /** Our netlink port id. */
  localPort(): number;
  /** SO_RCVBUF as the kernel set it (after capping and doubling), if known: sizes the batch window. */
  recvBufferSize?(): number;
  close(): void;
}

export interface OpenSocketOptions {
  /** SO_RCVBUF in bytes (the kernel caps it at net.core.rmem_max and doubles it). Default 1 MiB. */
  recvBufferSize?: number;
  /** Read buffer per recvmsg; a larger datagram arrives truncated (reported as lost replies). Default 64 KiB. */
  msgBufferSize?: number;
}

/** Open a NETLINK_GENERIC socket through the `netlink` package (loaded on first use: importing lvskit/ipvs needs no native addon). */
export async function openGenericSocket(options: OpenSocketOptions = {}): Promise<DatagramSocket> {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
    throw new IpvsError('ERR_IPVS_UNSUPPORTED', 'netlink is host-endian and lvskit/ipvs supports little-endian hosts only');
  }
  const mod = (await import('netlink')) as unknown as { default?: NetlinkModule } & NetlinkModule;
  const nl = mod.RawNetlinkSocket === undefined ? mod.default : mod;
  if (nl === undefined) throw new IpvsError('ERR_IPVS_UNSUPPORTED', 'the netlink package has no RawNetlinkSocket');
  const raw = new nl.RawNetlinkSocket(NETLINK_GENERIC, {
    recvBufferSize: options.recvBufferSize ?? 1 << 20,
    sendBufferSize: 1 << 20,
    // Read into a 64 KiB buffer instead of peeking at each datagram's size first: one syscall per
    // datagram, and the kernel sizes dump datagrams by the largest read it has seen
    // (netlink_recvmsg: nlk->max_recvmsg_len, capped at 32 KiB), so dumps come in 32 KiB datagrams
    // rather than 4 KiB ones: fewer rounds, and IPVS restarts each dump round by walking its table.
    messagePeeking: false,
    msgBufferSize: options.msgBufferSize ?? 1 << 16,
  });
  return {
    send(data, callback) {
      // The addon takes Buffers; wrap without copying.
      raw.send(Buffer.from(data.buffer, data.byteOffset, data.byteLength), { port: 0 }, (err) => callback(err));
    },
    onMessage(fn) {
      raw.on('message', (msg) => fn(msg));
      // A datagram larger than the peeked size can't happen with message peeking on; treat it as lost replies.
      raw.on('truncatedMessage', () => fn(new Uint8Array(0)));
    },
    onError(fn) {
      raw.on('error', fn);
    },
    localPort() {
      return raw.address().port;
    },
    recvBufferSize() {
      return raw.getRecvBufferSize();
    },
    close() {
      raw.close();
    },
  };
}

interface Pending {
  seq: number;
  /** The IPVS_CMD_* (or controller command), for error meaning. */
  cmd: number;
  dump: boolean;
  msgs: Nlmsg[];
  /** Set when a dump reply carried NLM_F_DUMP_INTR. */
  interrupted: boolean;
  what: string | undefined;
  resolve: (r: Reply) => void;
  reject: (e: Error) => void;
  /** The caller gave up (abort); a dump is still drained to its end. */
  abandoned: boolean;
  cleanup: () => void;
  /** Set for a request of `sendBatch`: settled through its batch, with no closures of its own. */
  batch?: BatchState;
  /** Its position in the batch. */
  index?: number;
  /** On the last request of a datagram sent with errors-only acks: the other requests of the datagram. */
  run?: SilentRun;
}

/**
 * The requests of one datagram sent without NLM_F_ACK (all but its last): consecutive sequence
 * numbers, not in the pending map (a big load would put 50,000 entries there); the kernel answers
 * only the failed ones, and the answer to the datagram's last request settles the rest.
 */
interface SilentRun {
  first: number;
  count: number;
  /** Batch index of the first. */
  base: number;
  batch: BatchState;
  specs: readonly RequestSpec[];
}

type BatchResult = { ok: true; reply: Reply } | { ok: false; error: IpvsError | Error };

/** One `sendBatch` call: its results, its window and its single timer and abort listener. */
interface BatchState {
  results: BatchResult[];
  /** Requests sent and not yet answered. */
  inFlight: number;
  /** Requests not yet answered (sent or not). */
  left: number;
  /** Something was answered since the timer was last armed. */
  progress: boolean;
  done: () => void;
  /** Send more if the window has room. */
  pump: () => void;
}

const NOOP = (): void => {};
const EMPTY_MSGS: Nlmsg[] = Object.freeze([]) as unknown as Nlmsg[];
/** The result of a batch request the kernel did without a word: one shared object. */
const DONE: BatchResult = Object.freeze({ ok: true, reply: Object.freeze({ msgs: EMPTY_MSGS, interrupted: false }) });

export interface Reply {
  /** Data messages of the reply (no ack, no DONE). */
  msgs: Nlmsg[];
  /** A dump reply was flagged NLM_F_DUMP_INTR (the kernel saw the table change). */
  interrupted: boolean;
}

export interface RequestSpec {
  /** nlmsg_type: the genl family id. */
  type: number;
  /** The genl payload (header + attributes). */
  readonly payload: Uint8Array;
  /**
   * Optional, for batches: the payload's length and a writer of its bytes into a datagram being
   * built (zero-filled there), so a request needs no buffer of its own. `payload` must still
   * give the same bytes (other paths use it).
   */
  readonly payloadLength?: number;
  writePayload?(out: Uint8Array, at: number): void;
  /** The command in the payload, to give errors their meaning. */
  cmd: number;
  /** Dump (NLM_F_DUMP, ends with NLMSG_DONE) instead of do (NLM_F_ACK). */
  dump?: boolean;
  /** Words for error messages (`service tcp/10.0.0.1:80`). */
  what?: string;
}

/** Little-endian u32 at `at` (no DataView per datagram). */
function u32le(b: Uint8Array, at: number): number {
  return ((b[at] as number) | ((b[at + 1] as number) << 8) | ((b[at + 2] as number) << 16) | ((b[at + 3] as number) << 24)) >>> 0;
}

/**
 * Where `dumpEach` gets its dumps: `next()` gives the next dump's request (undefined: no more), and
 * `entry` is called for each data message of the dump in flight with its genl payload in place:
 * `buf[start..end)` (a view of the received datagram, valid during the call only) and its nlmsg_type.
 */
export interface DumpSource {
  next(): RequestSpec | undefined;
  entry(buf: Uint8Array, start: number, end: number, type: number): void;
}

/** One `dumpEach` call: its dumps run one after another, with one watchdog timer and one abort listener. */
interface DumpRun {
  source: DumpSource;
  /** Sequence number of the dump in the kernel. */
  seq: number;
  cmd: number;
  what: string | undefined;
  /** The caller has its result (or error); a dump still in the kernel is drained without reading. */
  settled: boolean;
  /** A datagram of the run arrived since the watchdog last looked. */
  progress: boolean;
  /** Some reply carried NLM_F_DUMP_INTR. */
  interrupted: boolean;
  dumps: number;
  resolve: (r: { dumps: number; interrupted: boolean }) => void;
  reject: (e: Error) => void;
  /** Ends the run's hold on the socket's dump queue. */
  release: () => void;
  timer: ReturnType<typeof setTimeout> | undefined;
  timeoutMs: number | undefined;
  signal: AbortSignal | undefined;
  onAbort: () => void;
  /** One send callback for every request of the run. */
  onSent: (err?: ErrnoLike) => void;
}

export interface ChannelOptions {
  logger?: Logger;
}

/** Requests and their replies over one netlink socket, matched by sequence number. */
export class NetlinkChannel {
  readonly #sock: DatagramSocket;
  readonly #log: Logger;
  readonly #pending = new Map<number, Pending>();
  #seq: number;
  #closed = false;
  /** Our netlink port id, read once (the socket is bound for its whole life). */
  #port: number | undefined;
  /** Datagrams of errors-only batches still waiting for their last answer. */
  readonly #silent = new Set<SilentRun>();
  /** An ENOBUFS hit a batch: batches halve their window. */
  #shrinkWindow = false;
  readonly #stats = { sendmsgs: 0, requests: 0, overflows: 0 };
  /** Tail of the dump queue: dumps run one at a time. */
  #dumpTail: Promise<void> = Promise.resolve();
  /** The `dumpEach` run on this socket, while it has a dump in the kernel (also while one is drained). */
  #run: DumpRun | undefined;

  constructor(sock: DatagramSocket, options: ChannelOptions = {}) {
    this.#sock = sock;
    this.#log = options.logger ?? noopLogger;
    // Start anywhere so a restarted process doesn't match stale replies of its predecessor's socket.
    this.#seq = (Math.floor(Math.random() * 0x7fff_ffff) & 0x7fff_0000) + 1;
    // Nothing may throw back into the socket's native callbacks (the addon would abort the process).
    sock.onMessage((data) => this.#guard(() => this.#receive(data)));
    sock.onError((err) => this.#guard(() => this.#onError(err)));
  }

  /** Requests waiting for replies. */
  get inFlight(): number {
    return this.#pending.size;
  }

  /** Counters since the channel opened: datagrams sent (sendmsg calls), requests in them, receive-buffer overflows. */
  get stats(): { sendmsgs: number; requests: number; overflows: number } {
    return { ...this.#stats };
  }

  #nextSeq(): number {
    this.#seq = (this.#seq + 1) >>> 0;
    if (this.#seq === 0) this.#seq = 1;
    return this.#seq;
  }

  #guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.#log.error({ err: e }, 'netlink reply handling failed');
      try {
        this.#failAll(new IpvsError('ERR_IPVS_PROTOCOL', `netlink reply handling failed: ${(e as Error)?.message ?? String(e)}`, { cause: e }));
      } catch {
        // nothing more to do; the requests time out
      }
    }
  }

  #onError(err: ErrnoLike): void {
    const nobufs = err.errno === IpvsErrno.ENOBUFS || err.code === 'ENOBUFS';
    this.#log.warn({ err, inFlight: this.#pending.size }, nobufs ? 'netlink receive buffer overflowed (ENOBUFS)' : 'netlink socket error');
    this.#stats.overflows += nobufs ? 1 : 0;
    const run = this.#run;
    if (run !== undefined) {
      this.#runFail(
        run,
        nobufs
          ? errnoToIpvsError(IpvsErrno.ENOBUFS, run.cmd, run.what)
          : new IpvsError('ERR_IPVS_KERNEL', `netlink socket error: ${err.message}`, { cause: err, cmd: run.cmd, ...(err.errno === undefined ? {} : { errno: err.errno }) }),
      );
    }
    const all = [...this.#pending.values()];
    for (const p of all) {
      // A dump whose replies were lost may still be running in the kernel; the
      // next dump may see EBUSY once, which the caller's retry absorbs.
      const e = nobufs
        ? errnoToIpvsError(IpvsErrno.ENOBUFS, p.cmd, p.what)
        : new IpvsError('ERR_IPVS_KERNEL', `netlink socket error: ${err.message}`, { cause: err, cmd: p.cmd, ...(err.errno === undefined ? {} : { errno: err.errno }) });
      if (p.batch !== undefined) {
        // Fewer requests in flight from now on: the acks of a full window didn't fit.
        if (nobufs) this.#shrinkWindow = true;
        this.#settle(p, e);
        continue;
      }
      this.#pending.delete(p.seq);
      p.cleanup();
      if (!p.abandoned) p.reject(e);
    }
  }

  #receive(input: Uint8Array): void {
    // A plain Uint8Array view of the addon's Buffer: its subarrays (every message, every attribute) are much cheaper.
    const data = input.constructor === Uint8Array ? input : new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    if (data.length === 0) {
      this.#onError(Object.assign(new Error('truncated netlink datagram'), { errno: IpvsErrno.ENOBUFS, code: 'ENOBUFS' }));
      return;
    }
    const run = this.#run;
    // A datagram of the running dumpEach's dump: read in place (a dump datagram holds only its dump's messages).
    if (run !== undefined && data.length >= NLMSG_HDRLEN && u32le(data, 8) === run.seq) {
      const rest = this.#runReceive(run, data);
      if (rest === data.length) return;
      this.#receiveGeneral(data.subarray(rest));
      return;
    }
    this.#receiveGeneral(data);
  }

  #receiveGeneral(data: Uint8Array): void {
    let msgs: Nlmsg[];
    try {
      msgs = decodeNlmsgs(data);
    } catch (e) {
      this.#log.error({ err: e }, 'undecodable netlink datagram');
      this.#failAll(new IpvsError('ERR_IPVS_PROTOCOL', `undecodable netlink datagram: ${(e as Error).message}`, { cause: e }));
      return;
    }
    for (const m of msgs) {
      const p = this.#pending.get(m.seq);
      if (p === undefined) {
        if (m.type === NLMSG_ERROR && this.#silent.size > 0 && this.#silentAnswer(m)) continue;
        if (m.type !== NLMSG_NOOP) this.#log.debug({ seq: m.seq, type: m.type }, 'dropping netlink message for no request');
        continue;
      }
      if (m.type === NLMSG_ERROR) {
        // Fast path for the common case, a success ack (error 0): no decoding beyond the int.
        const d = m.payload;
        if (d.length >= 20 && (d[0] as number) === 0 && (d[1] as number) === 0 && (d[2] as number) === 0 && (d[3] as number) === 0) {
          this.#settle(p, undefined, true);
          continue;
        }
        let errno: number;
        let message: string | undefined;
        try {
          const e = decodeNlError(m.payload, m.flags);
          errno = e.errno;
          message = e.message;
        } catch (e) {
          this.#settle(p, new IpvsError('ERR_IPVS_PROTOCOL', `bad NLMSG_ERROR: ${(e as Error).message}`, { cause: e, cmd: p.cmd }));
          continue;
        }
        this.#settle(p, errno === 0 ? undefined : errnoToIpvsError(errno, p.cmd, p.what, message), true);
      } else if (m.type === NLMSG_DONE) {
        const errno = decodeDoneErrno(m.payload);
        this.#settle(p, errno === 0 ? undefined : errnoToIpvsError(errno, p.cmd, p.what), true);
      } else if (m.type === NLMSG_OVERRUN) {
        this.#settle(p, new IpvsError('ERR_IPVS_NO_BUFFERS', 'NLMSG_OVERRUN: data lost', { cmd: p.cmd }));
      } else {
        if ((m.flags & NLM_F_DUMP_INTR) !== 0) p.interrupted = true;
        if (p.msgs === EMPTY_MSGS) p.msgs = [];
        if (!p.abandoned) p.msgs.push(m);
      }
    }
  }

  /** An answer (a failure, as a rule) to a request sent without NLM_F_ACK; false if it is no such request's. */
  #silentAnswer(m: Nlmsg): boolean {
    for (const r of this.#silent) {
      const k = (m.seq - r.first) >>> 0;
      if (k >= r.count) continue;
      const i = r.base + k;
      const b = r.batch;
      if (b.results[i] !== undefined) return true; // a repeated answer
      const spec = r.specs[i] as RequestSpec;
      let err: Error | undefined;
      try {
        const e = decodeNlError(m.payload, m.flags);
        if (e.errno !== 0) err = errnoToIpvsError(e.errno, spec.cmd, spec.what, e.message);
      } catch (e) {
        err = new IpvsError('ERR_IPVS_PROTOCOL', `bad NLMSG_ERROR: ${(e as Error).message}`, { cause: e, cmd: spec.cmd });
      }
      b.results[i] = err === undefined ? DONE : { ok: false, error: err };
      b.inFlight--;
      b.left--;
      b.progress = true;
      return true;
    }
    return false;
  }

  #settle(p: Pending, err: Error | undefined, fromKernel = false): void {
    this.#pending.delete(p.seq);
    const b = p.batch;
    if (b !== undefined) {
      b.results[p.index as number] = err === undefined ? (p.msgs.length === 0 ? DONE : { ok: true, reply: { msgs: p.msgs, interrupted: false } }) : { ok: false, error: err };
      b.inFlight--;
      b.left--;
      b.progress = true;
      const r = p.run;
      if (r !== undefined) {
        this.#silent.delete(r);
        // The answer to a datagram's last request: the kernel handled the datagram's requests in
        // order and answers each failed one whatever its flags (netlink_rcv_skb), so those not
        // answered by now succeeded. Without that answer (lost replies, abort, timeout, close)
        // they share the last one's error: nobody knows what became of them.
        for (let i = r.base; i < r.base + r.count; i++) {
          if (b.results[i] !== undefined) continue;
          b.results[i] = fromKernel ? DONE : { ok: false, error: err as Error };
          b.inFlight--;
          b.left--;
        }
      }
      if (b.left === 0) b.done();
      else b.pump();
      return;
    }
    p.cleanup();
    if (p.abandoned) return;
    if (err === undefined) p.resolve({ msgs: p.msgs, interrupted: p.interrupted });
    else p.reject(err);
  }

  #failAll(err: Error): void {
    if (this.#run !== undefined) this.#runFail(this.#run, err);
    const all = [...this.#pending.values()];
    for (const p of all) {
      if (p.batch !== undefined) {
        this.#settle(p, err);
        continue;
      }
      this.#pending.delete(p.seq);
      p.cleanup();
      if (!p.abandoned) p.reject(err);
    }
  }

  #register(spec: RequestSpec, seq: number, signal: AbortSignal | undefined, timeoutMs: number | undefined, onDone?: () => void): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => this.#track(spec, seq, signal, timeoutMs, onDone, resolve, reject));
  }

  /** Register a request in flight; exactly one of `resolve` / `reject` is called (for a live caller). */
  #track(
    spec: RequestSpec,
    seq: number,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    onDone: (() => void) | undefined,
    resolve: (r: Reply) => void,
    reject: (e: Error) => void,
  ): void {
    {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const arm = (ms: number, fn: () => void): void => {
        if (timer !== undefined) clearTimeout(timer);
        timer = setTimeout(fn, ms);
        timer.unref?.();
      };
      const fail = (e: Error): void => {
        if (spec.dump === true) {
          if (p.abandoned) {
            // The kernel never finished the abandoned dump: stop waiting for it.
            this.#pending.delete(seq);
            p.cleanup();
            return;
          }
          // Keep draining the dump so the kernel finishes it (a new dump on this socket would get
          // EBUSY meanwhile); drop its data; give up on it after one more timeout.
          p.abandoned = true;
          p.msgs = [];
          signal?.removeEventListener('abort', onAbort);
          arm(timeoutMs ?? 30_000, () => fail(e));
          reject(e);
        } else {
          this.#pending.delete(seq);
          p.cleanup();
          reject(e);
        }
      };
      const onAbort = (): void => fail(abortReason(signal as AbortSignal));
      const p: Pending = {
        seq,
        cmd: spec.cmd,
        dump: spec.dump === true,
        msgs: [],
        interrupted: false,
        what: spec.what,
        resolve,
        reject,
        abandoned: false,
        cleanup: () => {
          signal?.removeEventListener('abort', onAbort);
          if (timer !== undefined) clearTimeout(timer);
          onDone?.();
        },
      };
      this.#pending.set(seq, p);
      signal?.addEventListener('abort', onAbort, { once: true });
      // A plain timer per request: much cheaper than AbortSignal.any + AbortSignal.timeout per call.
      if (timeoutMs !== undefined && Number.isFinite(timeoutMs)) {
        arm(timeoutMs, () => fail(new TimeoutError(timeoutMs, `${ipvsCmdName(spec.cmd)}${spec.what === undefined ? '' : ` (${spec.what})`}`)));
      }
    }
  }

  #frame(spec: RequestSpec, seq: number, out: Uint8Array, at: number, ack = true, view?: DataView): number {
    const direct = spec.payloadLength !== undefined && spec.writePayload !== undefined;
    const len = NLMSG_HDRLEN + (direct ? (spec.payloadLength as number) : spec.payload.length);
    const v = view ?? new DataView(out.buffer, out.byteOffset, out.byteLength);
    v.setUint32(at, len, true);
    v.setUint16(at + 4, spec.type, true);
    v.setUint16(at + 6, NLM_F_REQUEST | (spec.dump === true ? NLM_F_DUMP : ack ? NLM_F_ACK : 0), true);
    v.setUint32(at + 8, seq, true);
    v.setUint32(at + 12, (this.#port ??= this.#sock.localPort() >>> 0), true);
    if (direct) spec.writePayload?.(out, at + NLMSG_HDRLEN);
    else out.set(spec.payload, at + NLMSG_HDRLEN);
    return at + align4(len);
  }

  #send(data: Uint8Array, seqs: number[]): void {
    this.#stats.sendmsgs++;
    this.#stats.requests += seqs.length;
    this.#sock.send(data, (err) => {
      if (err === undefined) return;
      for (const seq of seqs) {
        const p = this.#pending.get(seq);
        if (p === undefined) continue;
        this.#settle(p, new IpvsError('ERR_IPVS_KERNEL', `sendmsg failed: ${err.message}`, { cause: err, cmd: p.cmd, ...(err.errno === undefined ? {} : { errno: err.errno }) }));
      }
    });
  }

  #check(signal: AbortSignal | undefined): void {
    if (this.#closed) throw new IpvsError('ERR_IPVS_CLOSED', 'the IPVS client is closed');
    if (signal?.aborted) throw abortReason(signal);
  }

  /** One request; resolves with its reply messages, rejects with a typed `IpvsError`. */
  async request(spec: RequestSpec, options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<Reply> {
    this.#check(options.signal);
    if (spec.dump === true) return this.#dump(spec, options.signal, options.timeoutMs);
    const seq = this.#nextSeq();
    const buf = new Uint8Array(align4(NLMSG_HDRLEN + spec.payload.length));
    this.#frame(spec, seq, buf, 0);
    const done = this.#register(spec, seq, options.signal, options.timeoutMs);
    this.#send(buf, [seq]);
    return done;
  }

  async #dump(spec: RequestSpec, signal: AbortSignal | undefined, timeoutMs: number | undefined): Promise<Reply> {
    let release!: () => void;
    const prev = this.#dumpTail;
    this.#dumpTail = new Promise<void>((r) => (release = r));
    let registered = false;
    try {
      await prev;
      this.#check(signal);
      const seq = this.#nextSeq();
      const buf = new Uint8Array(align4(NLMSG_HDRLEN + spec.payload.length));
      this.#frame(spec, seq, buf, 0);
      // The queue moves on when the kernel has finished the dump, not when the caller stops waiting.
      const done = this.#register(spec, seq, signal, timeoutMs, release);
      registered = true;
      this.#send(buf, [seq]);
      return await done;
    } finally {
      if (!registered) release();
    }
  }

  /**
   * Many do-requests, `chunkSize` of them per sendmsg, with at most `window`
   * unanswered at once (the kernel handles a datagram's requests in order
   * inside sendmsg and queues one ack per request on our receive buffer, so
   * the window bounds what that buffer must hold). Every ack is matched to
   * its request by sequence number and checked. Resolves with one result per
   * request, in order: its reply or its error (never rejects for a kernel
   * error of one request). Lost acks (ENOBUFS) come back as recoverable
   * `ERR_IPVS_NO_BUFFERS` results, and the window halves for the rest. One
   * timer for the whole batch: `timeoutMs` without any ack fails what is left.
   */
  async sendBatch(
    specs: readonly RequestSpec[],
    options: { signal?: AbortSignal; chunkSize?: number; window?: number; timeoutMs?: number; ackEach?: boolean } = {},
  ): Promise<BatchResult[]> {
    this.#check(options.signal);
    for (const s of specs) if (s.dump === true) throw new IpvsError('ERR_IPVS_INVALID_CONFIG', 'dumps cannot be batched');
    const results: BatchResult[] = new Array<BatchResult>(specs.length);
    if (specs.length === 0) return results;
    const chunk = Math.max(1, Math.floor(options.chunkSize ?? 128));
    let window = Math.max(chunk, Math.floor(options.window ?? chunk * 2));
    const signal = options.signal;
    const timeoutMs = options.timeoutMs;
    const ackEach = options.ackEach === true;
    let next = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let finish!: () => void;
    const allDone = new Promise<void>((r) => (finish = r));
    const failRest = (e: Error): void => {
      // Unsent requests fail too; answered ones keep their result.
      for (let i = next; i < specs.length; i++) {
        results[i] = { ok: false, error: e };
        state.left--;
      }
      next = specs.length;
      for (const p of [...this.#pending.values()]) if (p.batch === state) this.#settle(p, e);
      if (state.left === 0) state.done();
    };
    const onAbort = (): void => failRest(abortReason(signal as AbortSignal));
    const state: BatchState = {
      results,
      inFlight: 0,
      left: specs.length,
      progress: false,
      done: () => {
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        finish();
      },
      pump: NOOP,
    };
    const sendChunk = (): void => {
      if (this.#shrinkWindow) {
        this.#shrinkWindow = false;
        window = Math.max(chunk, window >> 1);
      }
      const end = Math.min(specs.length, next + chunk);
      let size = 0;
      for (let i = next; i < end; i++) {
        const s = specs[i] as RequestSpec;
        size += align4(NLMSG_HDRLEN + (s.payloadLength !== undefined && s.writePayload !== undefined ? s.payloadLength : s.payload.length));
      }
      const buf = new Uint8Array(size);
      // One view for the datagram's headers (not one per request).
      const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      const count = end - next;
      // Consecutive sequence numbers for the datagram (a silent run is a range).
      if (((this.#seq + count) >>> 0) < this.#seq || this.#seq + count > 0xffff_fff0) this.#seq = 0;
      const seqs: number[] = new Array<number>(count);
      let at = 0;
      for (let i = next; i < end; i++) {
        const s = specs[i] as RequestSpec;
        const seq = this.#nextSeq();
        const last = i === end - 1;
        at = this.#frame(s, seq, buf, at, ackEach || last, view);
        seqs[i - next] = seq;
        if (!ackEach && !last) continue;
        let run: SilentRun | undefined;
        if (!ackEach && count > 1) {
          run = { first: seqs[0] as number, count: count - 1, base: next, batch: state, specs };
          this.#silent.add(run);
        }
        this.#pending.set(seq, {
          seq,
          cmd: s.cmd,
          dump: false,
          msgs: EMPTY_MSGS,
          interrupted: false,
          what: s.what,
          resolve: NOOP,
          reject: NOOP,
          abandoned: false,
          cleanup: NOOP,
          batch: state,
          index: i,
          ...(run === undefined ? {} : { run }),
        });
      }
      state.inFlight += end - next;
      next = end;
      this.#send(buf, seqs);
    };
    // Called after every answer: refill the window a whole chunk at a time.
    state.pump = () => {
      if (this.#closed && next < specs.length) {
        failRest(new IpvsError('ERR_IPVS_CLOSED', 'the IPVS client was closed'));
        return;
      }
      while (next < specs.length && state.inFlight + Math.min(chunk, specs.length - next) <= window) sendChunk();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    if (timeoutMs !== undefined && Number.isFinite(timeoutMs)) {
      const tick = (): void => {
        if (state.left === 0) return;
        if (state.progress) {
          state.progress = false;
          timer = setTimeout(tick, timeoutMs);
          timer.unref?.();
          return;
        }
        failRest(new TimeoutError(timeoutMs, `batch of ${specs.length} requests (${state.left} unanswered)`));
      };
      timer = setTimeout(tick, timeoutMs);
      timer.unref?.();
    }
    state.pump();
    await allDone;
    return results;
  }

  /**
   * Many dumps, one after another on this socket (the kernel runs one dump at a time per socket),
   * without a promise, timer, closure or message object per dump: each dump's next request is sent
   * from the receive handler as soon as the previous dump's NLMSG_DONE is read, data messages are
   * handed to `source.entry` in place in the received datagram, and one watchdog covers the run
   * (`timeoutMs` without any reply fails it with ERR_TIMEOUT). It takes the socket's dump queue for
   * the whole run. Resolves with the number of dumps and whether any reply carried NLM_F_DUMP_INTR;
   * rejects with the first error: a kernel error of a dump (typed), lost replies (ENOBUFS, as the
   * recoverable `ERR_IPVS_NO_BUFFERS`), a failed sendmsg, an exception thrown by `source`
   * (`ERR_IPVS_PROTOCOL`), abort, close. A dump still running in the kernel at that point is drained
   * (read to its end and dropped) before the next dump on this socket is sent, so it doesn't meet EBUSY;
   * the drain gives up after one more `timeoutMs` without a reply.
   */
  async dumpEach(source: DumpSource, options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<{ dumps: number; interrupted: boolean }> {
    this.#check(options.signal);
    let release!: () => void;
    const prev = this.#dumpTail;
    this.#dumpTail = new Promise<void>((r) => (release = r));
    let started = false;
    try {
      await prev;
      this.#check(options.signal);
      const signal = options.signal;
      const timeoutMs = options.timeoutMs !== undefined && Number.isFinite(options.timeoutMs) ? options.timeoutMs : undefined;
      const done = new Promise<{ dumps: number; interrupted: boolean }>((resolve, reject) => {
        const run: DumpRun = {
          source,
          seq: 0,
          cmd: 0,
          what: undefined,
          settled: false,
          progress: false,
          interrupted: false,
          dumps: 0,
          resolve,
          reject,
          release,
          timer: undefined,
          timeoutMs,
          signal,
          onAbort: () => this.#guard(() => this.#runFail(run, abortReason(signal as AbortSignal))),
          onSent: (err) => {
            if (err === undefined) return;
            this.#guard(() => {
              if (this.#run === run) this.#runFail(run, new IpvsError('ERR_IPVS_KERNEL', `sendmsg failed: ${err.message}`, { cause: err, cmd: run.cmd, ...(err.errno === undefined ? {} : { errno: err.errno }) }));
            });
          },
        };
        signal?.addEventListener('abort', run.onAbort, { once: true });
        if (timeoutMs !== undefined) this.#runArm(run);
        started = true;
        this.#runNext(run);
      });
      return await done;
    } finally {
      if (!started) release();
    }
  }

  /** Send the run's next dump request, or finish the run when there is none. */
  #runNext(run: DumpRun): void {
    let spec: RequestSpec | undefined;
    try {
      spec = run.source.next();
    } catch (e) {
      // No dump of the run is in the kernel now: nothing to drain.
      this.#runEnd(run);
      if (!run.settled) {
        run.settled = true;
        run.reject(e instanceof Error ? e : new IpvsError('ERR_IPVS_PROTOCOL', `dump request: ${String(e)}`, { cause: e }));
      }
      return;
    }
    if (spec === undefined) {
      this.#runEnd(run);
      if (!run.settled) {
        run.settled = true;
        run.resolve({ dumps: run.dumps, interrupted: run.interrupted });
      }
      return;
    }
    const seq = this.#nextSeq();
    const len = NLMSG_HDRLEN + (spec.payloadLength !== undefined && spec.writePayload !== undefined ? spec.payloadLength : spec.payload.length);
    const buf = new Uint8Array(align4(len));
    this.#frame(spec.dump === true ? spec : { ...spec, dump: true }, seq, buf, 0);
    run.seq = seq;
    run.cmd = spec.cmd;
    run.what = spec.what;
    run.dumps++;
    this.#run = run;
    this.#stats.sendmsgs++;
    this.#stats.requests++;
    this.#sock.send(buf, run.onSent);
  }

  /**
   * Read a datagram of the run's dump in place; returns where the run's messages end (the datagram's
   * length as a rule; a message of another request, which a dump datagram should never hold, and what
   * follows go the general way).
   */
  #runReceive(run: DumpRun, data: Uint8Array): number {
    const end = data.length;
    let at = 0;
    run.progress = true;
    while (end - at >= NLMSG_HDRLEN) {
      const len = u32le(data, at);
      if (len < NLMSG_HDRLEN || len > end - at) {
        this.#runFail(run, new IpvsError('ERR_IPVS_PROTOCOL', `undecodable netlink datagram: nlmsg_len ${len} invalid with ${end - at} byte(s) left`, { cmd: run.cmd }));
        return end;
      }
      if (u32le(data, at + 8) !== run.seq) return at;
      const type = (data[at + 4] as number) | ((data[at + 5] as number) << 8);
      const flags = (data[at + 6] as number) | ((data[at + 7] as number) << 8);
      const next = Math.min(end, at + align4(len));
      if (type === NLMSG_DONE || type === NLMSG_ERROR) {
        // NLMSG_DONE carries the dump's result (0 or -errno); an NLMSG_ERROR, its failure.
        let errno = len >= NLMSG_HDRLEN + 4 ? -(u32le(data, at + NLMSG_HDRLEN) | 0) : 0;
        let message: string | undefined;
        if (type === NLMSG_ERROR && errno !== 0) {
          try {
            const e = decodeNlError(data.subarray(at + NLMSG_HDRLEN, at + len), flags);
            errno = e.errno;
            message = e.message;
          } catch {
            // keep the errno read above
          }
        }
        if (run.settled) {
          // The drained dump ended: the socket's dump queue moves on.
          this.#runEnd(run);
        } else if (errno !== 0) {
          this.#runFail(run, errnoToIpvsError(errno, run.cmd, run.what, message));
          this.#runEnd(run); // the kernel ended this dump: nothing to drain
        } else {
          this.#runNext(run);
        }
        // Whatever follows (nothing, as a rule) belongs to no dump of the run any more.
        return next;
      }
      if (type === NLMSG_OVERRUN) {
        this.#runFail(run, new IpvsError('ERR_IPVS_NO_BUFFERS', 'NLMSG_OVERRUN: data lost', { cmd: run.cmd }));
      } else if (type !== NLMSG_NOOP && !run.settled) {
        if ((flags & NLM_F_DUMP_INTR) !== 0) run.interrupted = true;
        try {
          run.source.entry(data, at + NLMSG_HDRLEN, at + len, type);
        } catch (e) {
          this.#runFail(run, e instanceof IpvsError ? e : new IpvsError('ERR_IPVS_PROTOCOL', `${ipvsCmdName(run.cmd)}: undecodable reply: ${(e as Error)?.message ?? String(e)}`, { cause: e, cmd: run.cmd }));
        }
      }
      at = next;
    }
    return end;
  }

  /** The run fails: the caller gets `err` now; the dump in the kernel, if any, is drained (or dropped on a closed socket). */
  #runFail(run: DumpRun, err: Error): void {
    if (!run.settled) {
      run.settled = true;
      run.signal?.removeEventListener('abort', run.onAbort);
      run.reject(err);
    }
    if (this.#closed || this.#run !== run) {
      this.#runEnd(run);
      return;
    }
    // Keep reading the dump in flight to its end; the watchdog bounds that (armed now if there was none).
    if (run.timer === undefined) {
      run.timeoutMs ??= 30_000;
      this.#runArm(run);
    }
  }

  /** The run holds the socket no more: timer off, dump queue released. */
  #runEnd(run: DumpRun): void {
    if (this.#run === run) this.#run = undefined;
    if (run.timer !== undefined) clearTimeout(run.timer);
    run.timer = undefined;
    run.signal?.removeEventListener('abort', run.onAbort);
    run.release();
  }

  /** The run's one watchdog: fires after `timeoutMs`, and fails the run only when no reply came in that time. */
  #runArm(run: DumpRun): void {
    const ms = run.timeoutMs as number;
    run.progress = false;
    run.timer = setTimeout(() => {
      run.timer = undefined;
      if (this.#run !== run) return;
      if (run.progress) {
        this.#runArm(run);
        return;
      }
      this.#guard(() => {
        if (run.settled) this.#runEnd(run); // the drained dump never ended: give up on it
        else {
          this.#runFail(run, new TimeoutError(ms, `${ipvsCmdName(run.cmd)}${run.what === undefined ? '' : ` (${run.what})`}`));
        }
      });
    }, ms);
    run.timer.unref?.();
  }

  /** Close the socket; requests in flight fail with `ERR_IPVS_CLOSED`. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#failAll(new IpvsError('ERR_IPVS_CLOSED', 'the IPVS client was closed'));
    this.#sock.close();
  }
}

/** True for a `DecodeError` (used by callers turning decode failures into ERR_IPVS_PROTOCOL). */
export function isDecodeError(e: unknown): e is DecodeError {
  return e instanceof DecodeError;
}
