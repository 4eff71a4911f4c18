/**
 * The HTTP/1.1 client behind `HttpCheck` (internal): one request per
 * connection, written once; the status line and header fields parsed as they
 * arrive (RFC 9112 §2-§5); the body framed by Content-Length, chunked
 * transfer coding (§7.1) or the end of the connection (§6.3), read up to a
 * cap; the connection closed as soon as the answer is known.
 *
 * Plain connections read into one shared buffer (`onread`), so no Buffer is
 * allocated per read; TLS connections use `tls.connect` with one secure
 * context per check configuration, SNI and name verification as asked.
 *
 * Each exchange keeps its own deadline and latency, as `runTimed` would, but
 * without an AbortController, a timer, event listeners or closures per check:
 * at thousands of checks a second those cost as much as the exchange. The
 * deadline sits in the shared queue of its timeout value (`deadlines.ts`).
 * Every failure is a down result. Two ways in: `exchangeHttp` (a promise;
 * only the caller's abort rejects) and `startHttp` (a callback and a
 * `cancel()`, no promise: what `Monitor` uses for built-in checks).
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { checkServerIdentity, connect as tlsConnect, createSecureContext, type PeerCertificate, type SecureContext } from 'node:tls';
import { abortReason } from '../util/abort.js';
import { deadlineQueue, type DeadlineQueue, type Expiring } from './deadlines.js';
import { describeError, link, unlink, type Outcome } from './result.js';
import type { CheckSink, RunningCheck } from './start.js';
import type { CheckResult } from './types.js';

export interface HttpExchange {
  address: string;
  port: number;
  /** The whole request, ready to write. */
  request: Buffer;
  /** The request was HEAD: the response has no body (RFC 9110 §9.3.2). */
  head: boolean;
  maxBodyBytes: number;
  /** Keep the body (for matching) rather than only counting it. */
  keepBody: boolean;
  /** Close with a RST once the answer is known (no TIME_WAIT on either side), else with a FIN. */
  reset: boolean;
  tls?: { servername: string; verify: boolean; ca?: string | Buffer | Array<string | Buffer>; context?: SecureContext };
}

/** Decides what a response means: from the status alone, or after the body. */
export interface HttpJudge {
  /** A verdict from the status (and `Location`), or `undefined` to read the body and call `onBody`. */
  onStatus(status: number, location: string | undefined, details: Record<string, unknown>): Outcome | undefined;
  onBody(status: number, body: string | undefined, bytes: number, capped: boolean, details: Record<string, unknown>): Outcome;
}

/** Response heads larger than this are refused. */
export const MAX_HEAD_BYTES = 32 * 1024;
/** Chunk-size and trailer lines longer than this are refused. */
const MAX_LINE = 4096;

/** One shared read buffer for plain connections: every read is consumed before the callback returns. */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

const enum Phase {
  Head,
  Body,
  Done,
}
const enum Framing {
  Length,
  Chunked,
  Close,
}
const enum Chunk {
  Size,
  Data,
  DataEnd,
  Trailer,
}

/**
 * Run one exchange within `timeoutMs`; `judge` decides what the response
 * means. Resolves the check's result (down for every failure, `timed out
 * after N ms` at the deadline); rejects with an `AbortError` only when
 * `signal` fires.
 */
export function exchangeHttp(ex: HttpExchange, judge: HttpJudge, timeoutMs: number, signal: AbortSignal | undefined): Promise<CheckResult> {
  return new Promise<CheckResult>((resolve, reject) => {
    new Exchange(ex, judge, timeoutMs, deadlineQueue(timeoutMs), new PromiseSink(resolve, reject), signal);
  });
}

/**
 * Start one exchange within `timeoutMs` (its deadline in `deadlines`, the
 * queue of that timeout value); `sink.done` gets the result, once, from a
 * later turn of the event loop, unless `cancel()` is called first (then
 * nothing is reported and the connection is closed at once).
 */
export function startHttp(ex: HttpExchange, judge: HttpJudge, timeoutMs: number, deadlines: DeadlineQueue, sink: CheckSink): RunningCheck {
  return new Exchange(ex, judge, timeoutMs, deadlines, sink, undefined);
}

/** The promise side of `exchangeHttp`. */
class PromiseSink implements CheckSink {
  readonly done: (r: CheckResult) => void;
  readonly reject: (e: unknown) => void;
  constructor(resolve: (r: CheckResult) => void, reject: (e: unknown) => void) {
    this.done = resolve;
    this.reject = reject;
  }
}

const EXCHANGE = Symbol('lvskit.httpExchange');

type Tagged = Socket & { [EXCHANGE]?: Exchange };

// Node calls the `onread` callback and event listeners with the socket as `this`: one function each
// for every connection, which finds its exchange on the socket (no closures per check).
function onPlainRead(this: Tagged, n: number, buf: Uint8Array): boolean {
  return this[EXCHANGE]?.onRead(n, buf as Buffer) ?? true;
}
function onTlsData(this: Tagged, d: Buffer): void {
  this[EXCHANGE]?.onRead(d.length, d);
}
function onSockEnd(this: Tagged): void {
  this[EXCHANGE]?.onEnd();
}
function onSockError(this: Tagged, e: Error): void {
  this[EXCHANGE]?.onError(e);
}
function onSockConnect(this: Tagged): void {
  const x = this[EXCHANGE];
  if (x !== undefined && x.phase !== Phase.Done) this.write(x.ex.request);
}
const ONREAD = { buffer: READ_BUFFER, callback: onPlainRead };

class Exchange implements Expiring, RunningCheck {
  readonly ex: HttpExchange;
  readonly judge: HttpJudge;
  readonly timeoutMs: number;
  readonly signal: AbortSignal | undefined;
  readonly sink: CheckSink;
  readonly t0: number;
  readonly deadline: number;
  dslot = -1;
  readonly deadlines: DeadlineQueue;
  readonly sock: Socket;
  phase = Phase.Head;
  headText = '';
  status = 0;
  details: Record<string, unknown> | undefined;
  framing = Framing.Close;
  remaining = 0;
  chunk = Chunk.Size;
  line = '';
  bytes = 0;
  parts: Buffer[] | undefined;
  /** Fields of the head being read. */
  length: number | undefined = undefined;
  lengthBad = false;
  te: string | undefined = undefined;
  location: string | undefined = undefined;

  constructor(ex: HttpExchange, judge: HttpJudge, timeoutMs: number, deadlines: DeadlineQueue, sink: CheckSink, signal: AbortSignal | undefined) {
    this.ex = ex;
    this.judge = judge;
    this.timeoutMs = timeoutMs;
    this.signal = signal;
    this.sink = sink;
    this.deadlines = deadlines;
    this.t0 = performance.now();
    this.deadline = this.t0 + timeoutMs;
    if (ex.keepBody) this.parts = [];
    const t = ex.tls;
    if (t === undefined) {
      this.sock = netConnect({
        host: ex.address,
        port: ex.port,
        onread: ONREAD,
      });
      (this.sock as Tagged)[EXCHANGE] = this;
      // Written once connected: one shared listener, where a write queued before
      // the connection is up costs the socket two closures and two once-wrappers.
      this.sock.on('connect', onSockConnect);
    } else {
      t.context ??= createSecureContext(t.ca === undefined ? {} : { ca: t.ca });
      const name = t.servername;
      this.sock = tlsConnect({
        host: ex.address,
        port: ex.port,
        secureContext: t.context,
        // SNI carries names only (RFC 6066 §3); an IP literal is verified against the certificate's IP SANs without SNI.
        ...(isIP(name) ? {} : { servername: name }),
        rejectUnauthorized: t.verify,
        checkServerIdentity: (_host: string, cert: PeerCertificate) => checkServerIdentity(name, cert),
      });
      this.sock.on('data', onTlsData);
      (this.sock as Tagged)[EXCHANGE] = this;
      // Written before the connection is up: the socket sends it after the handshake.
      this.sock.write(ex.request);
    }
    this.sock.on('end', onSockEnd);
    this.sock.on('error', onSockError);
    deadlines.add(this);
    if (signal !== undefined) link(signal, this);
  }

  /** Stop at once and report nothing (the caller no longer wants the result). */
  cancel(): void {
    if (this.phase !== Phase.Done) this.close(false);
  }

  /** The deadline passed (called by the deadline queue). */
  expire(): void {
    this.timedOut();
  }

  onRead(n: number, buf: Buffer): boolean {
    if (this.phase !== Phase.Done) this.feed(buf, 0, n);
    return true;
  }

  /** Stop the exchange: deadline and abort link released, socket closed (with a RST when asked and possible). */
  close(reset: boolean): void {
    this.phase = Phase.Done;
    this.deadlines.remove(this);
    if (this.signal !== undefined) unlink(this.signal, this);
    // SO_LINGER 0 then close: a RST, as HAProxy ends its checks (plain TCP only: a TLS socket has no TCP handle of its own).
    if (reset && this.ex.tls === undefined && !this.sock.destroyed) this.sock.resetAndDestroy();
    else this.sock.destroy();
  }

  finish(o: Outcome): void {
    if (this.phase === Phase.Done) return;
    this.close(this.ex.reset);
    const r: CheckResult = { ok: o.ok, reason: o.reason, latencyMs: performance.now() - this.t0 };
    if (o.details !== undefined) r.details = o.details;
    this.sink.done(r);
  }

  /** A failure before any response: down, with the error described. */
  fail(e: unknown): void {
    this.finish({ ok: false, reason: describeError(e) });
  }

  timedOut(): void {
    if (this.phase === Phase.Done) return;
    this.close(false);
    this.sink.done({ ok: false, reason: `timed out after ${this.timeoutMs} ms`, latencyMs: performance.now() - this.t0, details: { timeout: true } });
  }

  /** The caller's signal fired (called through `link`; only exchanges from `exchangeHttp` have one). */
  abort(): void {
    if (this.phase === Phase.Done) return;
    this.close(false);
    (this.sink as PromiseSink).reject(abortReason(this.signal as AbortSignal));
  }

  broken(why: string): void {
    this.finish({ ok: false, reason: `HTTP ${this.status}, response broken mid-body${why}`, details: this.details ?? { status: this.status } });
  }

  onEnd(): void {
    if (this.phase === Phase.Head) {
      if (this.headText === '') {
        // What node:http calls a hang-up: the server closed before any response.
        this.fail(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
      } else if (!looksLikeHttp(this.headText)) {
        this.finish(notHttp(this.headText));
      } else {
        this.finish({ ok: false, reason: `connection closed within the response head (${this.headText.length} bytes)` });
      }
    } else if (this.phase === Phase.Body) {
      if (this.framing === Framing.Close) this.complete(false);
      else this.broken('');
    }
  }

  onError(e: Error): void {
    if (this.phase === Phase.Head) this.fail(e);
    else if (this.phase === Phase.Body) this.broken(`: ${describeError(e)}`);
  }

  feed(buf: Buffer, start: number, end: number): void {
    let at = start;
    while (at < end && this.phase === Phase.Head) at = this.feedHead(buf, at, end);
    if (at < end && this.phase === Phase.Body) this.feedBody(buf, at, end);
  }

  /** Takes head bytes from `buf[at..end)`; returns where the head's consumption ended. */
  feedHead(buf: Buffer, at: number, end: number): number {
    if (this.headText === '') {
      const rest = this.headFromBytes(buf, at, end);
      if (rest >= 0) return rest;
    }
    const before = this.headText.length;
    this.headText += buf.toString('latin1', at, end);
    const text = this.headText;
    if (!looksLikeHttp(text)) {
      this.finish(notHttp(text));
      return end;
    }
    const idx = text.indexOf('\r\n\r\n', before > 3 ? before - 3 : 0);
    if (idx < 0) {
      if (text.length > MAX_HEAD_BYTES) this.finish({ ok: false, reason: `response head longer than ${MAX_HEAD_BYTES} bytes` });
      return end;
    }
    if (idx > MAX_HEAD_BYTES) {
      this.finish({ ok: false, reason: `response head longer than ${MAX_HEAD_BYTES} bytes` });
      return end;
    }
    // Bytes after the head in this read (latin1: one char per byte).
    const rest = end - (text.length - (idx + 4));
    this.headText = '';
    this.onHeadText(text.slice(0, idx));
    return rest;
  }

  onHeadText(head: string): void {
    const lines = head.split('\r\n');
    // RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ]
    const m = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0] as string);
    if (m === null) {
      this.finish({ ok: false, reason: `not an HTTP/1.x status line: ${JSON.stringify(preview(lines[0] as string))}` });
      return;
    }
    const status = Number(m[1]);
    // RFC 9110 §15.2: interim 1xx responses precede the final one (101 would switch protocols: take it as final).
    if (status >= 100 && status < 200 && status !== 101) return;
    this.startHead(status);
    for (let i = 1; i < lines.length; i++) {
      const l = lines[i] as string;
      const colon = l.indexOf(':');
      if (colon <= 0) continue;
      const name = l.slice(0, colon).toLowerCase();
      if (name === 'content-length') this.header(Field.ContentLength, l.slice(colon + 1));
      else if (name === 'transfer-encoding') this.header(Field.TransferEncoding, l.slice(colon + 1));
      else if (name === 'location') this.header(Field.Location, l.slice(colon + 1));
    }
    this.onHead(status);
  }

  /**
   * The head when it came whole in one read (as it nearly always does), read
   * from the bytes: the status line checked in place and only the three
   * fields wanted turned into strings. Returns where the head ended, or -1
   * when the bytes are not that simple case (then the text path decides, with
   * the same outcome, and says what was wrong).
   */
  headFromBytes(buf: Buffer, at: number, end: number): number {
    // "HTTP/1.x NNN" and the empty line at the least.
    if (end - at < 16 || !isStatusLineStart(buf, at)) return -1;
    // Plain loops over the bytes: a head is a hundred bytes or so, less than the cost of native calls per line.
    // The end of the head: the first CRLF CRLF, within this read (the read buffer is shared: bytes past `end` are stale).
    const last = Math.min(end, at + MAX_HEAD_BYTES + 4) - 4;
    let idx = -1;
    for (let i = at + 12; i <= last; i++) {
      if (buf[i] === 13 && buf[i + 1] === 10 && buf[i + 2] === 13 && buf[i + 3] === 10) {
        idx = i;
        break;
      }
    }
    if (idx < 0) return -1;
    let l0 = at + 12;
    while (!(buf[l0] === 13 && buf[l0 + 1] === 10)) l0++;
    // RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ]
    if (l0 - at !== 12 && buf[at + 12] !== 0x20) return -1;
    const status = (buf[at + 9] as number) * 100 + (buf[at + 10] as number) * 10 + (buf[at + 11] as number) - 0x30 * 111;
    // RFC 9110 §15.2: an interim 1xx response is skipped, as in `onHeadText`.
    if (status >= 100 && status < 200 && status !== 101) return idx + 4;
    this.startHead(status);
    let pos = l0 + 2;
    while (pos < idx) {
      // One header line: [pos, le), its first colon at `colon` (-1: none).
      let le = pos;
      let colon = -1;
      for (; le < idx; le++) {
        const c = buf[le];
        if (c === 13 && buf[le + 1] === 10) break;
        if (c === 0x3a && colon < 0) colon = le;
      }
      if (colon > pos) {
        const n = colon - pos;
        if (n === 14 && nameIs(buf, pos, CONTENT_LENGTH)) this.header(Field.ContentLength, buf.toString('latin1', colon + 1, le));
        else if (n === 17 && nameIs(buf, pos, TRANSFER_ENCODING)) this.header(Field.TransferEncoding, buf.toString('latin1', colon + 1, le));
        else if (n === 8 && nameIs(buf, pos, LOCATION)) this.header(Field.Location, buf.toString('latin1', colon + 1, le));
      }
      pos = le + 2;
    }
    this.onHead(status);
    return idx + 4;
  }

  startHead(status: number): void {
    this.status = status;
    this.length = undefined;
    this.lengthBad = false;
    this.te = undefined;
    this.location = undefined;
  }

  header(field: Field, value: string): void {
    if (field === Field.ContentLength) {
      // RFC 9112 §6.3: a list of equal values is that value; anything else is an error.
      if (value.indexOf(',') < 0) {
        const t = value.trim();
        if (!/^\d{1,15}$/.test(t) || (this.length !== undefined && Number(t) !== this.length)) this.lengthBad = true;
        else this.length = Number(t);
        return;
      }
      for (const v of value.split(',')) {
        const t = v.trim();
        if (!/^\d{1,15}$/.test(t) || (this.length !== undefined && Number(t) !== this.length)) this.lengthBad = true;
        else this.length = Number(t);
      }
    } else if (field === Field.TransferEncoding) {
      this.te = this.te === undefined ? value.trim() : `${this.te}, ${value.trim()}`;
    } else {
      this.location = value.trim();
    }
  }

  /** The final response's head is read: decide from the status, or set up reading the body. */
  onHead(status: number): void {
    const { length, lengthBad, te, location } = this;
    const details: Record<string, unknown> = { status };
    if (location !== undefined) details.location = location;
    this.details = details;
    const verdict = this.judge.onStatus(status, location, details);
    if (verdict !== undefined) {
      this.finish(verdict);
      return;
    }
    // RFC 9112 §6.3: no body after HEAD, 1xx, 204 and 304; chunked when it is the final coding;
    // any other transfer coding, or none and no length, is read until the connection closes.
    if (this.ex.head || status === 204 || status === 304 || status < 200) {
      this.complete(false);
      return;
    }
    if (te !== undefined) {
      this.framing = /(?:^|,)\s*chunked\s*$/i.test(te) ? Framing.Chunked : Framing.Close;
    } else if (lengthBad) {
      this.finish({ ok: false, reason: `HTTP ${status}, invalid content-length`, details: { status } });
      return;
    } else if (length !== undefined) {
      this.framing = Framing.Length;
      this.remaining = length;
      if (length === 0) {
        this.complete(false);
        return;
      }
    } else {
      this.framing = Framing.Close;
    }
    this.phase = Phase.Body;
    if (this.ex.maxBodyBytes === 0) this.complete(true);
  }

  feedBody(buf: Buffer, at: number, end: number): void {
    if (this.framing === Framing.Length) {
      const n = Math.min(end - at, this.remaining);
      this.remaining -= n;
      if (this.take(buf, at, at + n)) return;
      if (this.remaining === 0) this.complete(false);
      return;
    }
    if (this.framing === Framing.Close) {
      this.take(buf, at, end);
      return;
    }
    // RFC 9112 §7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF; last-chunk = 1*"0" [ chunk-ext ] CRLF; then trailers and CRLF.
    while (at < end && this.phase === Phase.Body) {
      if (this.chunk === Chunk.Data) {
        const n = Math.min(end - at, this.remaining);
        this.remaining -= n;
        if (this.take(buf, at, at + n)) return;
        at += n;
        if (this.remaining === 0) this.chunk = Chunk.DataEnd;
        continue;
      }
      const nl = buf.indexOf(10, at);
      const stop = nl < 0 || nl >= end ? end : nl;
      this.line += buf.toString('latin1', at, stop);
      at = stop;
      if (this.line.length > MAX_LINE) {
        this.broken(': chunk line too long');
        return;
      }
      if (stop === end) return;
      at++; // the LF
      const line = this.line.endsWith('\r') ? this.line.slice(0, -1) : this.line;
      this.line = '';
      if (this.chunk === Chunk.DataEnd) {
        if (line !== '') {
          this.broken(': chunk data longer than its size');
          return;
        }
        this.chunk = Chunk.Size;
      } else if (this.chunk === Chunk.Size) {
        const hex = line.split(';', 1)[0]?.trim() ?? '';
        if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) {
          this.broken(`: bad chunk size ${JSON.stringify(preview(line))}`);
          return;
        }
        this.remaining = parseInt(hex, 16);
        this.chunk = this.remaining === 0 ? Chunk.Trailer : Chunk.Data;
      } else if (line === '') {
        this.complete(false);
        return;
      }
    }
  }

  /** Count (and keep) body bytes; true once the cap is reached (the exchange is then finished). */
  take(buf: Buffer, from: number, to: number): boolean {
    const room = this.ex.maxBodyBytes - this.bytes;
    const n = Math.min(to - from, room);
    if (n > 0) {
      this.parts?.push(Buffer.from(buf.subarray(from, from + n)));
      this.bytes += n;
    }
    if (this.bytes >= this.ex.maxBodyBytes && (to - from > n || this.moreToCome())) {
      this.complete(true);
      return true;
    }
    return false;
  }

  /** Whether the body goes on past what was read so far. */
  moreToCome(): boolean {
    if (this.framing === Framing.Length) return this.remaining > 0;
    return true;
  }

  complete(capped: boolean): void {
    const body = this.parts === undefined ? undefined : Buffer.concat(this.parts).toString('utf8');
    this.finish(this.judge.onBody(this.status, body, this.bytes, capped, this.details as Record<string, unknown>));
  }
}

const enum Field {
  ContentLength,
  TransferEncoding,
  Location,
}
const CONTENT_LENGTH = Buffer.from('content-length', 'latin1');
const TRANSFER_ENCODING = Buffer.from('transfer-encoding', 'latin1');
const LOCATION = Buffer.from('location', 'latin1');
const HTTP1 = Buffer.from('HTTP/1.', 'latin1');

/** `buf[at..]` starts `HTTP/1.0 NNN` or `HTTP/1.1 NNN` (N a digit). */
function isStatusLineStart(buf: Buffer, at: number): boolean {
  for (let i = 0; i < 7; i++) if (buf[at + i] !== HTTP1[i]) return false;
  const minor = buf[at + 7];
  if ((minor !== 0x30 && minor !== 0x31) || buf[at + 8] !== 0x20) return false;
  for (let i = 9; i < 12; i++) {
    const d = buf[at + i] as number;
    if (d < 0x30 || d > 0x39) return false;
  }
  return true;
}

/** The field name at `buf[at..]` is `lower` (lower-case ASCII), in any case. */
function nameIs(buf: Buffer, at: number, lower: Buffer): boolean {
  for (let i = 0; i < lower.length; i++) {
    const b = buf[at + i] as number;
    const w = lower[i] as number;
    if (b !== w && !(w >= 0x61 && w <= 0x7a && b === w - 0x20)) return false;
  }
  return true;
}

function looksLikeHttp(text: string): boolean {
  const n = Math.min(text.length, 5);
  return text.slice(0, n) === 'HTTP/'.slice(0, n);
}

function notHttp(text: string): Outcome {
  return { ok: false, reason: `not an HTTP response: ${JSON.stringify(preview(text))}` };
}

function preview(s: string): string {
  return s.length > 60 ? `${s.slice(0, 60)}...` : s;
}
