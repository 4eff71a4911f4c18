/**
 * Big-endian (network order) byte reading and writing for the codecs.
 *
 * `ByteReader` never reads past its end: a short input raises a `DecodeError`
 * with code `ERR_SHORT_INPUT` and the offset, which codecs catch and translate
 * into their protocol's meaning (a BGP NOTIFICATION, a VRRP verdict). Readers
 * can be narrowed to a sub-range (`sub(n)`) so a length-prefixed field can never
 * read into its neighbour.
 *
 * `ByteWriter` grows as needed; codecs that know their length up front pass it
 * so the buffer is allocated once.
 */
import { DecodeError } from './errors.js';

export class ByteReader {
  readonly buf: Uint8Array;
  readonly #view: DataView;
  readonly #end: number;
  #pos: number;

  /** Read `buf` from `offset` up to `end` (default: the end of `buf`). */
  constructor(buf: Uint8Array, offset = 0, end = buf.length) {
    if (offset < 0 || end > buf.length || offset > end) {
      throw new RangeError(`ByteReader: bad range ${offset}..${end} of ${buf.length}`);
    }
    this.buf = buf;
    this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.#pos = offset;
    this.#end = end;
  }

  /** Current absolute offset into `buf`. */
  get offset(): number {
    return this.#pos;
  }
  /** Absolute end offset of this reader. */
  get end(): number {
    return this.#end;
  }
  /** Bytes left before the end. */
  get remaining(): number {
    return this.#end - this.#pos;
  }

  /** Throw `ERR_SHORT_INPUT` unless `n` more bytes are available. */
  need(n: number, what = 'field'): void {
    if (n > this.#end - this.#pos) {
      throw new DecodeError(
        'ERR_SHORT_INPUT',
        `input ends inside ${what}: need ${n} byte(s), ${this.#end - this.#pos} left`,
        this.#pos,
      );
    }
  }

  u8(what?: string): number {
    this.need(1, what);
    return this.#view.getUint8(this.#pos++);
  }
  u16(what?: string): number {
    this.need(2, what);
    const v = this.#view.getUint16(this.#pos);
    this.#pos += 2;
    return v;
  }
  u32(what?: string): number {
    this.need(4, what);
    const v = this.#view.getUint32(this.#pos);
    this.#pos += 4;
    return v;
  }
  u64(what?: string): bigint {
    this.need(8, what);
    const v = this.#view.getBigUint64(this.#pos);
    this.#pos += 8;
    return v;
  }
  /** Little-endian / host-order reads, for netlink (which is host-endian; x86 and arm64 are little). */
  u16le(what?: string): number {
    this.need(2, what);
    const v = this.#view.getUint16(this.#pos, true);
    this.#pos += 2;
    return v;
  }
  u32le(what?: string): number {
    this.need(4, what);
    const v = this.#view.getUint32(this.#pos, true);
    this.#pos += 4;
    return v;
  }
  u64le(what?: string): bigint {
    this.need(8, what);
    const v = this.#view.getBigUint64(this.#pos, true);
    this.#pos += 8;
    return v;
  }

  /** `n` bytes as a view into the input (no copy). */
  bytes(n: number, what?: string): Uint8Array {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`ByteReader.bytes: bad length ${n}`);
    this.need(n, what);
    const v = this.buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return v;
  }

  /** Everything left, as a view. */
  rest(): Uint8Array {
    return this.bytes(this.remaining);
  }

  skipBytes(n: number, what?: string): void {
    this.need(n, what);
    this.#pos += n;
  }

  /** A reader over the next `n` bytes; this reader moves past them. */
  sub(n: number, what?: string): ByteReader {
    this.need(n, what);
    const r = new ByteReader(this.buf, this.#pos, this.#pos + n);
    this.#pos += n;
    return r;
  }

  /** Look at a byte ahead without consuming it. */
  peekU8(ahead = 0): number | undefined {
    const at = this.#pos + ahead;
    return at < this.#end ? this.#view.getUint8(at) : undefined;
  }
}

export class ByteWriter {
  #buf: Uint8Array;
  #view: DataView;
  #pos = 0;

  constructor(initialSize = 64) {
    this.#buf = new Uint8Array(Math.max(1, initialSize));
    this.#view = new DataView(this.#buf.buffer);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#pos;
  }

  #room(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#pos));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }

  u8(v: number): this {
    checkUint(v, 0xff, 'u8');
    this.#room(1);
    this.#view.setUint8(this.#pos++, v);
    return this;
  }
  u16(v: number): this {
    checkUint(v, 0xffff, 'u16');
    this.#room(2);
    this.#view.setUint16(this.#pos, v);
    this.#pos += 2;
    return this;
  }
  u32(v: number): this {
    checkUint(v, 0xffff_ffff, 'u32');
    this.#room(4);
    this.#view.setUint32(this.#pos, v);
    this.#pos += 4;
    return this;
  }
  u64(v: bigint): this {
    if (v < 0n || v > 0xffff_ffff_ffff_ffffn) throw new RangeError(`u64 out of range: ${v}`);
    this.#room(8);
    this.#view.setBigUint64(this.#pos, v);
    this.#pos += 8;
    return this;
  }
  u16le(v: number): this {
    checkUint(v, 0xffff, 'u16');
    this.#room(2);
    this.#view.setUint16(this.#pos, v, true);
    this.#pos += 2;
    return this;
  }
  u32le(v: number): this {
    checkUint(v, 0xffff_ffff, 'u32');
    this.#room(4);
    this.#view.setUint32(this.#pos, v, true);
    this.#pos += 4;
    return this;
  }
  u64le(v: bigint): this {
    if (v < 0n || v > 0xffff_ffff_ffff_ffffn) throw new RangeError(`u64 out of range: ${v}`);
    this.#room(8);
    this.#view.setBigUint64(this.#pos, v, true);
    this.#pos += 8;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.#room(b.length);
    this.#buf.set(b, this.#pos);
    this.#pos += b.length;
    return this;
  }
  zeros(n: number): this {
    this.#room(n);
    this.#buf.fill(0, this.#pos, this.#pos + n);
    this.#pos += n;
    return this;
  }

  /** Reserve a 16-bit field to fill in later (e.g. a length); returns its offset. */
  reserveU16(): number {
    const at = this.#pos;
    this.u16(0);
    return at;
  }
  /** Write a 16-bit value at an earlier offset. */
  patchU16(at: number, v: number): this {
    checkUint(v, 0xffff, 'u16');
    if (at < 0 || at + 2 > this.#pos) throw new RangeError(`patchU16: offset ${at} outside written bytes`);
    this.#view.setUint16(at, v);
    return this;
  }

  /** The written bytes (a copy-free view; don't write more after taking it). */
  finish(): Uint8Array {
    return this.#buf.subarray(0, this.#pos);
  }
}

function checkUint(v: number, max: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${what} out of range: ${v}`);
}

/** Lower-case hex of `b`, for logs and test fixtures. */
export function toHex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

/** Parse hex (whitespace and `:` ignored) into bytes. */
export function fromHex(hex: string): Uint8Array {
  const clean = hex.replace(/[\s:]/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) throw new RangeError(`fromHex: not hex: ${hex.slice(0, 40)}`);
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
