/**
 * A fake kernel behind a `DatagramSocket`: the genl controller and the IPVS
 * family, answering as net/netfilter/ipvs/ip_vs_ctl.c does (errno choices,
 * acks, NLM_F_MULTI dumps ending with NLMSG_DONE), with knobs for what a real
 * kernel does rarely: dumps split over many datagrams and delivered
 * interleaved with other replies, lost replies with ENOBUFS, EPERM, no module.
 *
 * It speaks bytes: requests are decoded and replies encoded with the same
 * wire codecs, so the client is tested through its real framing.
 */
import { ByteWriter, toHex } from '../../../src/util/bytes.js';
import * as K from '../../../src/ipvs/constants.js';
import type { DatagramSocket, ErrnoLike } from '../../../src/ipvs/transport.js';
import {
  CTRL_CMD_NEWFAMILY,
  GENL_ID_CTRL,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_MULTI,
  decodeAttrs,
  decodeCString,
  decodeNlmsgs,
  encodeCString,
  encodeNlError,
  encodeNlmsg,
  writeAttr,
  writeGenlHeader,
  type Nlmsg,
} from '../../../src/ipvs/wire-netlink.js';
import type { WireDaemon, WireDest, WireService } from '../../../src/ipvs/wire-schema.js';
import { decodeIpvsMessage, encodeIpvsMessage } from '../../../src/ipvs/wire.js';

const E = { EPERM: 1, ENOENT: 2, ESRCH: 3, EEXIST: 17, EINVAL: 22 };

function svcKey(s: WireService | undefined): string | undefined {
  if (s?.af === undefined) return undefined;
  if (s.fwmark !== undefined && s.fwmark !== 0) return `${s.af}/fwm/${s.fwmark}`;
  if (s.protocol === undefined || s.addr === undefined || s.port === undefined) return undefined;
  return `${s.af}/${s.protocol}/${toHex(s.addr)}/${s.port}`;
}

function destKey(d: WireDest | undefined): string | undefined {
  if (d?.addr === undefined || d.port === undefined) return undefined;
  return `${toHex(d.addr)}/${d.port}`;
}

export class FakeKernel implements DatagramSocket {
  familyId = 0x1c;
  ipvsLoaded = true;
  permitted = true;
  /** Messages per reply datagram in dumps. */
  dumpBatch = 3;
  schedulers = new Set(['rr', 'wrr', 'wlc', 'lc', 'sh', 'mh', 'none']);
  services = new Map<string, { w: WireService; dests: Map<string, WireDest> }>();
  daemons: WireDaemon[] = [];
  timeouts = { timeoutTcp: 900, timeoutTcpFin: 120, timeoutUdp: 300 };
  /** Datagrams the client sent, and the netlink messages in them. */
  datagrams: Uint8Array[] = [];
  requests: Nlmsg[] = [];
  /** Drop every reply of the next datagram and report ENOBUFS instead (a receive-buffer overflow). */
  overflowNext = false;
  /** The same for the datagram this many sends from now (0 = the next). */
  overflowIn: number | undefined;
  closed = false;
  /** Answer these commands with this errno. */
  refuse = new Map<number, number>();
  /** Answer nothing at all (a reply that never comes). */
  silent = false;
  /** Fail the next sendmsg with this errno. */
  failSendErrno: number | undefined;
  /** Called before each request is handled (to change the table under the client). */
  beforeHandle: ((m: Nlmsg) => void) | undefined;
  #onMessage: (d: Uint8Array) => void = () => undefined;
  #onError: (e: ErrnoLike) => void = () => undefined;
  #queue: Uint8Array[] = [];
  #draining = false;

  send(data: Uint8Array, callback: (err?: ErrnoLike) => void): void {
    this.datagrams.push(data.slice());
    if (this.failSendErrno !== undefined) {
      const errno = this.failSendErrno;
      this.failSendErrno = undefined;
      queueMicrotask(() => callback(Object.assign(new Error(`sendmsg errno ${errno}`), { errno })));
      return;
    }
    if (this.silent) {
      queueMicrotask(() => callback());
      return;
    }
    const replies: Uint8Array[][] = [];
    for (const m of decodeNlmsgs(data)) {
      this.requests.push(m);
      this.beforeHandle?.(m);
      replies.push(this.#handle(m));
    }
    queueMicrotask(() => callback());
    if (this.overflowIn !== undefined && this.overflowIn-- === 0) {
      this.overflowIn = undefined;
      this.overflowNext = true;
    }
    if (this.overflowNext) {
      this.overflowNext = false;
      setImmediate(() => this.#onError(Object.assign(new Error('recvmsg ENOBUFS'), { errno: 105, code: 'ENOBUFS' })));
      return;
    }
    // Interleave: each request's datagrams take turns, so replies of different requests mix.
    const longest = Math.max(0, ...replies.map((r) => r.length));
    for (let i = 0; i < longest; i++) for (const r of replies) if (r[i] !== undefined) this.#queue.push(r[i] as Uint8Array);
    this.#drain();
  }

  #drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    const step = (): void => {
      const next = this.#queue.shift();
      if (next === undefined || this.closed) {
        this.#draining = false;
        return;
      }
      this.#onMessage(next);
      setImmediate(step);
    };
    setImmediate(step);
  }

  onMessage(fn: (d: Uint8Array) => void): void {
    this.#onMessage = fn;
  }
  onError(fn: (e: ErrnoLike) => void): void {
    this.#onError = fn;
  }
  localPort(): number {
    return 4242;
  }
  close(): void {
    this.closed = true;
  }

  /** Inject a datagram as if the kernel sent it (e.g. a stale reply). */
  inject(d: Uint8Array): void {
    this.#queue.push(d);
    this.#drain();
  }

  #ack(m: Nlmsg, errno: number): Uint8Array {
    return encodeNlmsg({ type: NLMSG_ERROR, flags: errno === 0 ? 0x100 : 0, seq: m.seq, port: m.port }, encodeNlError(errno, m, m.payload));
  }

  #msg(m: Nlmsg, payload: Uint8Array, multi: boolean): Uint8Array {
    return encodeNlmsg({ type: this.familyId, flags: multi ? NLM_F_MULTI : 0, seq: m.seq, port: m.port }, payload);
  }

  #dump(m: Nlmsg, payloads: Uint8Array[]): Uint8Array[] {
    const out: Uint8Array[] = [];
    const done = encodeNlmsg({ type: NLMSG_DONE, flags: NLM_F_MULTI, seq: m.seq, port: m.port }, new Uint8Array(4));
    for (let i = 0; i < payloads.length; i += this.dumpBatch) {
      const parts = payloads.slice(i, i + this.dumpBatch).map((p) => this.#msg(m, p, true));
      if (i + this.dumpBatch >= payloads.length) parts.push(done);
      out.push(concat(parts));
    }
    if (payloads.length === 0) out.push(done);
    return out;
  }

  #handle(m: Nlmsg): Uint8Array[] {
    const ack = (m.flags & NLM_F_ACK) !== 0;
    const dump = (m.flags & NLM_F_DUMP) === NLM_F_DUMP;
    const reply = (errno: number, data: Uint8Array[] = []): Uint8Array[] =>
      errno !== 0 ? [this.#ack(m, errno)] : ack ? [...data.map((d) => this.#msg(m, d, false)), this.#ack(m, 0)] : data.map((d) => this.#msg(m, d, false));
    if (m.type === GENL_ID_CTRL) {
      const name = decodeAttrs(m.payload, 4).find((a) => a.type === 2);
      const wanted = name === undefined ? '' : decodeCString(name.data);
      if (wanted !== 'IPVS' || !this.ipvsLoaded) return [this.#ack(m, E.ENOENT)];
      const w = new ByteWriter();
      writeGenlHeader(w, { cmd: CTRL_CMD_NEWFAMILY, version: 2 });
      writeAttr(w, 2, encodeCString('IPVS'));
      writeAttr(w, 1, new Uint8Array([this.familyId & 0xff, this.familyId >> 8]));
      writeAttr(w, 3, new Uint8Array([1, 0, 0, 0]));
      return [encodeNlmsg({ type: GENL_ID_CTRL, flags: 0, seq: m.seq, port: m.port }, w.finish()), ...(ack ? [this.#ack(m, 0)] : [])];
    }
    if (m.type !== this.familyId) return [this.#ack(m, E.EINVAL)];
    if (!this.permitted) return [this.#ack(m, E.EPERM)];
    const req = decodeIpvsMessage(m.payload);
    const refused = this.refuse.get(req.cmd);
    if (refused !== undefined) return [this.#ack(m, refused)];
    const a = req.attrs ?? {};
    const key = svcKey(a.service);
    const svc = key === undefined ? undefined : this.services.get(key);
    const enc = (cmd: number, attrs: object): Uint8Array => encodeIpvsMessage({ cmd, attrs });
    switch (req.cmd) {
      case K.IPVS_CMD_GET_SERVICE:
        if (dump) return this.#dump(m, [...this.services.values()].map((s) => enc(K.IPVS_CMD_NEW_SERVICE, { service: { ...s.w, flags: { flags: (s.w.flags?.flags ?? 0) | 2, mask: 0xffffffff } } })));
        if (key === undefined) return reply(E.EINVAL);
        return svc === undefined ? reply(E.ESRCH) : reply(0, [enc(K.IPVS_CMD_NEW_SERVICE, { service: svc.w })]);
      case K.IPVS_CMD_GET_DEST:
        return this.#dump(m, svc === undefined ? [] : [...svc.dests.values()].map((d) => enc(K.IPVS_CMD_NEW_DEST, { dest: d })));
      case K.IPVS_CMD_GET_DAEMON:
        return this.#dump(m, this.daemons.map((d) => enc(K.IPVS_CMD_NEW_DAEMON, { daemon: d })));
      case K.IPVS_CMD_GET_INFO:
        return reply(0, [encodeIpvsMessage({ cmd: K.IPVS_CMD_SET_INFO, info: { version: 0x010201, connTabSize: 4096 } })]);
      case K.IPVS_CMD_GET_CONFIG:
        return reply(0, [enc(K.IPVS_CMD_SET_CONFIG, this.timeouts)]);
      case K.IPVS_CMD_SET_CONFIG:
        if (a.timeoutTcp) this.timeouts.timeoutTcp = a.timeoutTcp;
        if (a.timeoutTcpFin) this.timeouts.timeoutTcpFin = a.timeoutTcpFin;
        if (a.timeoutUdp) this.timeouts.timeoutUdp = a.timeoutUdp;
        return reply(0);
      case K.IPVS_CMD_FLUSH:
        this.services.clear();
        return reply(0);
      case K.IPVS_CMD_NEW_DAEMON:
        if (this.daemons.some((d) => d.state === a.daemon?.state)) return reply(E.EEXIST);
        this.daemons.push(a.daemon ?? {});
        return reply(0);
      case K.IPVS_CMD_DEL_DAEMON:
        this.daemons = this.daemons.filter((d) => d.state !== a.daemon?.state);
        return reply(0);
    }
    if (req.cmd === K.IPVS_CMD_ZERO && a.service === undefined) return reply(0);
    if (key === undefined) return reply(E.EINVAL);
    const full = req.cmd === K.IPVS_CMD_NEW_SERVICE || req.cmd === K.IPVS_CMD_SET_SERVICE;
    if (full) {
      const s = a.service as WireService;
      if (s.schedName === undefined || s.flags === undefined || s.timeout === undefined || s.netmask === undefined) return reply(E.EINVAL);
      if (!this.schedulers.has(s.schedName) || (s.peName !== undefined && s.peName !== 'sip')) {
        if (!(req.cmd === K.IPVS_CMD_NEW_SERVICE && svc !== undefined)) return reply(E.ENOENT);
      }
    }
    if (req.cmd === K.IPVS_CMD_NEW_SERVICE) {
      if (svc !== undefined) return reply(E.EEXIST);
      const s = { ...(a.service as WireService) };
      this.services.set(key, { w: s, dests: new Map() });
      return reply(0);
    }
    if (svc === undefined) return reply(E.ESRCH);
    switch (req.cmd) {
      case K.IPVS_CMD_SET_SERVICE:
        svc.w = { ...svc.w, ...a.service };
        return reply(0);
      case K.IPVS_CMD_DEL_SERVICE:
        this.services.delete(key);
        return reply(0);
      case K.IPVS_CMD_ZERO:
        return reply(0);
    }
    const dk = destKey(a.dest);
    if (dk === undefined) return reply(E.EINVAL);
    const d = svc.dests.get(dk);
    switch (req.cmd) {
      case K.IPVS_CMD_NEW_DEST:
        if (d !== undefined) return reply(E.EEXIST);
        if (a.dest?.fwdMethod === undefined || a.dest.weight === undefined) return reply(E.EINVAL);
        svc.dests.set(dk, { ...a.dest, activeConns: 0, inactConns: 0, persistConns: 0 });
        return reply(0);
      case K.IPVS_CMD_SET_DEST:
        if (d === undefined) return reply(E.ENOENT);
        svc.dests.set(dk, { ...d, ...a.dest });
        return reply(0);
      case K.IPVS_CMD_DEL_DEST:
        if (d === undefined) return reply(E.ENOENT);
        svc.dests.delete(dk);
        return reply(0);
    }
    return reply(E.EINVAL);
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
