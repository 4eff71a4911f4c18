/**
 * A minimal DNS message codec (RFC 1035 §4), pure: enough to ask a server one
 * question and read its answer. Header, questions and resource records; names
 * in presentation form with RFC 1035 §5.1 escapes (`\.`, `\\`, `\DDD`) so any
 * label bytes round-trip; compression pointers (§4.1.4) followed on decode,
 * never written on encode. Record data stays raw bytes; A, AAAA, CNAME, NS, PTR
 * and TXT data is also decoded into `value` for matching.
 *
 * Three functions per message: `encodeDnsMessage`, `decodeDnsMessage`, `dnsMessageLength`.
 */
import { formatIPv6 } from '../util/address.js';
import { ByteReader, ByteWriter } from '../util/bytes.js';
import { DecodeError } from '../util/errors.js';

/** Record types (RFC 1035 §3.2.2, RFC 3596 §2.1 for AAAA, RFC 2782 for SRV). */
export const DNS_TYPE = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, ANY: 255 } as const;
/** Response codes (RFC 1035 §4.1.1). */
export const DNS_RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export const DNS_CLASS_IN = 1;

export interface DnsQuestion {
  name: string;
  type: number;
  class: number;
}

export interface DnsRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  /** RDATA as on the wire (names inside it may hold compression pointers into the message). */
  data: Uint8Array;
  /** Decoded data for A/AAAA (address text), CNAME/NS/PTR (name), TXT (strings joined by a space). Ignored by the encoder. */
  value?: string;
}

export interface DnsMessage {
  id: number;
  /** Response (true) or query (false). */
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  /** The three bits between RA and RCODE (Z, AD, CD). */
  z: number;
  rcode: number;
  questions: DnsQuestion[];
  answers: DnsRecord[];
  authorities: DnsRecord[];
  additionals: DnsRecord[];
}

/** A standard query with recursion desired. */
export function dnsQuery(id: number, name: string, type: number): DnsMessage {
  return {
    id,
    qr: false,
    opcode: 0,
    aa: false,
    tc: false,
    rd: true,
    ra: false,
    z: 0,
    rcode: 0,
    questions: [{ name, type, class: DNS_CLASS_IN }],
    answers: [],
    authorities: [],
    additionals: [],
  };
}

// ---- names ----------------------------------------------------------------

/** Labels of a presentation-form name, as bytes. `.` and `` are the root. */
export function nameToLabels(name: string): Uint8Array[] {
  if (name === '.' || name === '') return [];
  const labels: Uint8Array[] = [];
  let cur: number[] = [];
  for (let i = 0; i < name.length; i++) {
    const ch = name.charCodeAt(i);
    if (ch === 0x2e /* . */) {
      if (i === name.length - 1) break; // trailing dot: fully qualified
      labels.push(Uint8Array.from(cur));
      cur = [];
      continue;
    }
    if (ch === 0x5c /* \ */) {
      const d = name.slice(i + 1, i + 4);
      if (/^\d{3}$/.test(d)) {
        const v = Number(d);
        if (v > 255) throw new RangeError(`bad escape \\${d} in name`);
        cur.push(v);
        i += 3;
      } else if (i + 1 < name.length) {
        cur.push(name.charCodeAt(++i) & 0xff);
      } else throw new RangeError('name ends in a lone backslash');
      continue;
    }
    if (ch > 0x7e || ch < 0x21) throw new RangeError(`character ${ch} in a name must be escaped`);
    cur.push(ch);
  }
  labels.push(Uint8Array.from(cur));
  let wire = 1;
  for (const l of labels) {
    if (l.length === 0) throw new RangeError(`empty label in ${name}`);
    if (l.length > 63) throw new RangeError(`label longer than 63 bytes in ${name} (RFC 1035 §2.3.4)`);
    wire += 1 + l.length;
  }
  if (wire > 255) throw new RangeError(`name longer than 255 bytes on the wire (RFC 1035 §2.3.4)`);
  return labels;
}

/** Presentation form of wire labels, escaping as RFC 1035 §5.1 does. No trailing dot; the root is `.`. */
export function labelsToName(labels: readonly Uint8Array[]): string {
  if (labels.length === 0) return '.';
  return labels
    .map((l) => {
      let s = '';
      for (const b of l) {
        if (b === 0x2e || b === 0x5c) s += `\\${String.fromCharCode(b)}`;
        else if (b < 0x21 || b > 0x7e) s += `\\${b.toString().padStart(3, '0')}`;
        else s += String.fromCharCode(b);
      }
      return s;
    })
    .join('.');
}

function nameWireLength(name: string): number {
  return nameToLabels(name).reduce((n, l) => n + 1 + l.length, 1);
}

function writeName(w: ByteWriter, name: string): void {
  for (const l of nameToLabels(name)) w.u8(l.length).bytes(l);
  w.u8(0);
}

/** Read a possibly compressed name at the reader's position (RFC 1035 §4.1.4). */
function readName(r: ByteReader, msg: Uint8Array): string {
  const labels: Uint8Array[] = [];
  let wire = 1;
  let pos = r.offset;
  let jumped = false;
  // Pointers must point strictly backwards, which bounds the walk; the label budget bounds it again.
  let limit = pos;
  for (let steps = 0; steps < 256; steps++) {
    if (pos >= msg.length) throw new DecodeError('ERR_DNS_NAME', 'name runs past the end of the message', pos);
    const len = msg[pos] as number;
    if (len === 0) {
      if (!jumped) r.skipBytes(pos + 1 - r.offset, 'name');
      return labelsToName(labels);
    }
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= msg.length) throw new DecodeError('ERR_DNS_NAME', 'compression pointer cut short', pos);
      const target = ((len & 0x3f) << 8) | (msg[pos + 1] as number);
      if (!jumped) r.skipBytes(pos + 2 - r.offset, 'name');
      if (target >= limit) throw new DecodeError('ERR_DNS_POINTER', `compression pointer to ${target} does not point backwards`, pos);
      jumped = true;
      limit = target;
      pos = target;
      continue;
    }
    if ((len & 0xc0) !== 0) throw new DecodeError('ERR_DNS_LABEL', `unsupported label type 0x${len.toString(16)}`, pos);
    if (pos + 1 + len > msg.length) throw new DecodeError('ERR_DNS_NAME', 'label runs past the end of the message', pos);
    wire += 1 + len;
    if (wire > 255) throw new DecodeError('ERR_DNS_NAME', 'name longer than 255 bytes', pos);
    labels.push(msg.subarray(pos + 1, pos + 1 + len));
    pos += 1 + len;
  }
  throw new DecodeError('ERR_DNS_NAME', 'name has too many labels', pos);
}

// ---- addresses -------------------------------------------------------------

/** `192.0.2.1` -> 4 bytes; throws RangeError on anything else. */
export function parseIPv4(s: string): Uint8Array {
  const parts = s.split('.');
  if (parts.length !== 4) throw new RangeError(`not an IPv4 address: ${s}`);
  return Uint8Array.from(
    parts.map((p) => {
      if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new RangeError(`not an IPv4 address: ${s}`);
      return Number(p);
    }),
  );
}

/** `2001:db8::1` -> 16 bytes (embedded IPv4 tail allowed); throws RangeError on anything else. */
export function parseIPv6(s: string): Uint8Array {
  const bad = (): never => {
    throw new RangeError(`not an IPv6 address: ${s}`);
  };
  let text = s;
  const out = new Uint8Array(16);
  let tail: Uint8Array | undefined;
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    tail = parseIPv4(text.slice(lastColon + 1));
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = text.split('::');
  if (halves.length > 2) bad();
  const groups = (h: string | undefined): number[] =>
    h === undefined || h === ''
      ? []
      : h.split(':').map((g) => {
          if (!/^[0-9a-fA-F]{1,4}$/.test(g)) bad();
          return parseInt(g, 16);
        });
  const head = groups(halves[0]);
  const rest = halves.length === 2 ? groups(halves[1]) : [];
  if (halves.length === 1 ? head.length !== 8 : head.length + rest.length > 7) bad();
  const all = [...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest];
  all.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  if (tail) out.set(tail, 12);
  return out;
}

export { formatIPv6 };

// ---- messages --------------------------------------------------------------

function recordWireLength(rr: DnsRecord): number {
  return nameWireLength(rr.name) + 10 + rr.data.length;
}

/** Bytes `encodeDnsMessage(msg)` writes. */
export function dnsMessageLength(msg: DnsMessage): number {
  let n = 12;
  for (const q of msg.questions) n += nameWireLength(q.name) + 4;
  for (const rr of [...msg.answers, ...msg.authorities, ...msg.additionals]) n += recordWireLength(rr);
  return n;
}

/** Encode a message (RFC 1035 §4.1), names uncompressed. Throws RangeError on out-of-range fields. */
export function encodeDnsMessage(msg: DnsMessage): Uint8Array {
  const w = new ByteWriter(dnsMessageLength(msg));
  for (const [v, max, what] of [
    [msg.opcode, 15, 'opcode'],
    [msg.z, 7, 'z'],
    [msg.rcode, 15, 'rcode'],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${what} out of range: ${v}`);
  }
  // RFC 1035 §4.1.1: QR(1) OPCODE(4) AA TC RD RA Z(3) RCODE(4)
  const flags =
    (msg.qr ? 0x8000 : 0) |
    (msg.opcode << 11) |
    (msg.aa ? 0x0400 : 0) |
    (msg.tc ? 0x0200 : 0) |
    (msg.rd ? 0x0100 : 0) |
    (msg.ra ? 0x0080 : 0) |
    (msg.z << 4) |
    msg.rcode;
  w.u16(msg.id).u16(flags).u16(msg.questions.length).u16(msg.answers.length).u16(msg.authorities.length).u16(msg.additionals.length);
  for (const q of msg.questions) {
    writeName(w, q.name);
    w.u16(q.type).u16(q.class);
  }
  for (const rr of [...msg.answers, ...msg.authorities, ...msg.additionals]) {
    writeName(w, rr.name);
    if (rr.data.length > 0xffff) throw new RangeError('RDATA longer than 65535 bytes');
    w.u16(rr.type).u16(rr.class).u32(rr.ttl).u16(rr.data.length).bytes(rr.data);
  }
  return w.finish();
}

/**
 * Decode a message from `buf` at `offset` (the whole rest is the message, as
 * in a UDP datagram). Throws `DecodeError` (`ERR_SHORT_INPUT`, `ERR_DNS_*`) on
 * malformed input and nothing else.
 */
export function decodeDnsMessage(buf: Uint8Array, offset = 0): DnsMessage {
  const msg = buf.subarray(offset);
  const r = new ByteReader(msg);
  const id = r.u16('id');
  const flags = r.u16('flags');
  const qd = r.u16('qdcount');
  const an = r.u16('ancount');
  const ns = r.u16('nscount');
  const ar = r.u16('arcount');
  const questions: DnsQuestion[] = [];
  for (let i = 0; i < qd; i++) {
    const name = readName(r, msg);
    questions.push({ name, type: r.u16('qtype'), class: r.u16('qclass') });
  }
  const records = (count: number): DnsRecord[] => {
    const out: DnsRecord[] = [];
    for (let i = 0; i < count; i++) {
      const name = readName(r, msg);
      const type = r.u16('type');
      const cls = r.u16('class');
      const ttl = r.u32('ttl');
      const len = r.u16('rdlength');
      const at = r.offset;
      const data = r.bytes(len, 'rdata');
      const rr: DnsRecord = { name, type, class: cls, ttl, data };
      const value = recordValue(type, data, msg, at);
      if (value !== undefined) rr.value = value;
      out.push(rr);
    }
    return out;
  };
  const answers = records(an);
  const authorities = records(ns);
  const additionals = records(ar);
  return {
    id,
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    ra: (flags & 0x0080) !== 0,
    z: (flags >> 4) & 0x7,
    rcode: flags & 0xf,
    questions,
    answers,
    authorities,
    additionals,
  };
}

function recordValue(type: number, data: Uint8Array, msg: Uint8Array, at: number): string | undefined {
  switch (type) {
    case DNS_TYPE.A:
      return data.length === 4 ? Array.from(data).join('.') : undefined;
    case DNS_TYPE.AAAA:
      return data.length === 16 ? formatIPv6(data) : undefined;
    case DNS_TYPE.CNAME:
    case DNS_TYPE.NS:
    case DNS_TYPE.PTR: {
      // The name may point back into the message, so read it in place, bounded to its RDATA.
      try {
        const r = new ByteReader(msg, at, at + data.length);
        return readName(r, msg.subarray(0, at + data.length));
      } catch {
        return undefined;
      }
    }
    case DNS_TYPE.TXT: {
      const parts: string[] = [];
      for (let i = 0; i < data.length; ) {
        const n = data[i] as number;
        if (i + 1 + n > data.length) return undefined;
        parts.push(new TextDecoder().decode(data.subarray(i + 1, i + 1 + n)));
        i += 1 + n;
      }
      return parts.join(' ');
    }
    default:
      return undefined;
  }
}

/** Name of an rcode for reasons and logs: `SERVFAIL`, or `RCODE 9`. */
export function rcodeName(rcode: number): string {
  for (const [k, v] of Object.entries(DNS_RCODE)) if (v === rcode) return k;
  return `RCODE ${rcode}`;
}

/** Name of a record type: `AAAA`, or `TYPE65`. */
export function typeName(type: number): string {
  for (const [k, v] of Object.entries(DNS_TYPE)) if (v === type) return k;
  return `TYPE${type}`;
}
