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
 * without an AbortController, event listeners or closures per check: at
 * thousands of checks a second those cost as much as the exchange. Every
 * failure resolves a down result; only the caller's abort rejects.
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { checkServerIdentity, connect as tlsConnect, createSecureContext, type PeerCertificate, type SecureContext } from 'node:tls';
import { abortReason } from '../util/abort.js';
import { describeError, link, unlink, type Outcome } from './result.js';
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
    new Exchange(ex, judge, timeoutMs, signal, resolve, reject);
  });
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
const ONREAD = { buffer: READ_BUFFER, callback: onPlainRead };

function onDeadline(x: Exchange): void {
  x.timedOut();
}

class Exchange {
  readonly ex: HttpExchange;
  readonly judge: HttpJudge;
  readonly timeoutMs: number;
  readonly signal: AbortSignal | undefined;
  readonly resolve: (r: CheckResult) => void;
  readonly reject: (e: unknown) => void;
  readonly t0: number;
  readonly timer: ReturnType<typeof setTimeout>;
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

  constructor(
    ex: HttpExchange,
    judge: HttpJudge,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    resolve: (r: CheckResult) => void,
    reject: (e: unknown) => void,
  ) {
    this.ex = ex;
    this.judge = judge;
    this.timeoutMs = timeoutMs;
    this.signal = signal;
    this.resolve = resolve;
    this.reject = reject;
    this.t0 = performance.now();
    if (ex.keepBody) this.parts = [];
    const t = ex.tls;
    if (t === undefined) {
      this.sock = netConnect({
        host: ex.address,
        port: ex.port,
        onread: ONREAD,
      });
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
    }
    (this.sock as Tagged)[EXCHANGE] = this;
    // Written before the connection is up: the socket queues it and sends it once connected (after the handshake over TLS).
    this.sock.write(ex.request);
    this.sock.on('end', onSockEnd);
    this.sock.on('error', onSockError);
    this.timer = setTimeout(onDeadline, timeoutMs, this);
    if (signal !== undefined) link(signal, this);
  }

  onRead(n: number, buf: Buffer): boolean {
    if (this.phase !== Phase.Done) this.feed(buf, 0, n);
    return true;
  }

  /** Stop the exchange: deadline and abort link released, socket closed (with a RST when asked and possible). */
  close(reset: boolean): void {
    this.phase = Phase.Done;
    clearTimeout(this.timer);
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
    this.resolve(r);
  }

  /** A failure before any response: down, with the error described. */
  fail(e: unknown): void {
    this.finish({ ok: false, reason: describeError(e) });
  }

  timedOut(): void {
    if (this.phase === Phase.Done) return;
    this.close(false);
    this.resolve({ ok: false, reason: `timed out after ${this.timeoutMs} ms`, latencyMs: performance.now() - this.t0, details: { timeout: true } });
  }

  /** The caller's signal fired (called through `link`). */
  abort(): void {
    if (this.phase === Phase.Done) return;
    this.close(false);
    this.reject(abortReason(this.signal as AbortSignal));
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
    this.status = status;
    let length: number | undefined;
    let lengthBad = false;
    let te: string | undefined;
    let location: string | undefined;
    for (let i = 1; i < lines.length; i++) {
      const l = lines[i] as string;
      const colon = l.indexOf(':');
      if (colon <= 0) continue;
      const name = l.slice(0, colon).toLowerCase();
      if (name === 'content-length') {
        // RFC 9112 §6.3: a list of equal values is that value; anything else is an error.
        for (const v of l.slice(colon + 1).split(',')) {
          const t = v.trim();
          if (!/^\d{1,15}$/.test(t) || (length !== undefined && Number(t) !== length)) lengthBad = true;
          else length = Number(t);
        }
      } else if (name === 'transfer-encoding') {
        te = te === undefined ? l.slice(colon + 1).trim() : `${te}, ${l.slice(colon + 1).trim()}`;
      } else if (name === 'location') {
        location = l.slice(colon + 1).trim();
      }
    }
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
