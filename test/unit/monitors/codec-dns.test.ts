import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DNS_RCODE,
  DNS_TYPE,
  decodeDnsMessage,
  dnsMessageLength,
  dnsQuery,
  encodeDnsMessage,
  formatIPv6,
  labelsToName,
  nameToLabels,
  parseIPv4,
  parseIPv6,
  rcodeName,
  typeName,
  type DnsMessage,
  type DnsRecord,
} from '../../../src/monitors/codec-dns.js';
import { DecodeError } from '../../../src/util/errors.js';

const ascii = (s: string): number[] => Array.from(s, (c) => c.charCodeAt(0));

// A query for example.com/A, id 0x1234, RD set (RFC 1035 §4.1.1, §4.1.2).
const QUERY = Uint8Array.from([
  0x12, 0x34, // ID
  0x01, 0x00, // QR=0 OPCODE=0 AA=0 TC=0 RD=1 RA=0 Z=0 RCODE=0
  0x00, 0x01, // QDCOUNT 1
  0x00, 0x00, // ANCOUNT 0
  0x00, 0x00, // NSCOUNT 0
  0x00, 0x00, // ARCOUNT 0
  0x07, ...ascii('example'), 0x03, ...ascii('com'), 0x00, // QNAME example.com (RFC 1035 §3.1)
  0x00, 0x01, // QTYPE A
  0x00, 0x01, // QCLASS IN
]);

// The answer: example.com A 192.0.2.7 and a CNAME, names compressed with pointers to offset 12 (RFC 1035 §4.1.4).
const RESPONSE = Uint8Array.from([
  0x12, 0x34, // ID
  0x81, 0x80, // QR=1 OPCODE=0 AA=0 TC=0 RD=1 RA=1 Z=0 RCODE=0 (NOERROR)
  0x00, 0x01, // QDCOUNT 1
  0x00, 0x02, // ANCOUNT 2
  0x00, 0x00, // NSCOUNT 0
  0x00, 0x00, // ARCOUNT 0
  0x07, ...ascii('example'), 0x03, ...ascii('com'), 0x00, // QNAME at offset 12
  0x00, 0x01, 0x00, 0x01, // QTYPE A, QCLASS IN
  0xc0, 0x0c, // NAME: pointer to offset 12 (example.com)
  0x00, 0x01, 0x00, 0x01, // TYPE A, CLASS IN
  0x00, 0x00, 0x0e, 0x10, // TTL 3600
  0x00, 0x04, 192, 0, 2, 7, // RDLENGTH 4, RDATA 192.0.2.7
  0x03, ...ascii('www'), 0xc0, 0x0c, // NAME www + pointer to example.com
  0x00, 0x05, 0x00, 0x01, // TYPE CNAME, CLASS IN
  0x00, 0x00, 0x00, 0x3c, // TTL 60
  0x00, 0x02, 0xc0, 0x0c, // RDLENGTH 2, RDATA: pointer to example.com
]);

// Captured from dnsmasq 2.90 (Debian 12, dnsmasq-base 2.90-4~deb12u2) on loopback, run as
//   dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts --listen-address=127.0.0.77 --port=53535
//     --host-record=svc.test,192.0.2.7,2001:db8::7 --cname=www.svc.test,svc.test
// answering a query for www.svc.test/A, id 0xbeef.
const DNSMASQ_CNAME_A = Uint8Array.from([
  0xbe, 0xef, // ID
  0x85, 0x80, // QR=1 OPCODE=0 AA=1 TC=0 RD=1 RA=1 Z=0 RCODE=0 (RFC 1035 §4.1.1)
  0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, // QDCOUNT 1, ANCOUNT 2, NSCOUNT 0, ARCOUNT 0
  0x03, ...ascii('www'), 0x03, ...ascii('svc'), 0x04, ...ascii('test'), 0x00, // QNAME www.svc.test at offset 12
  0x00, 0x01, 0x00, 0x01, // QTYPE A, QCLASS IN
  0xc0, 0x0c, // NAME: pointer to offset 12 (RFC 1035 §4.1.4)
  0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, // TYPE CNAME, CLASS IN, TTL 0
  0x00, 0x0a, 0x03, ...ascii('svc'), 0x04, ...ascii('test'), 0x00, // RDLENGTH 10, RDATA svc.test (uncompressed) at offset 42
  0xc0, 0x2a, // NAME: pointer to offset 42, inside the CNAME's RDATA
  0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, // TYPE A, CLASS IN, TTL 0
  0x00, 0x04, 0xc0, 0x00, 0x02, 0x07, // RDLENGTH 4, RDATA 192.0.2.7
]);
// Same dnsmasq, svc.test/AAAA, id 0xcafe.
const DNSMASQ_AAAA = fromHexString(
  'cafe8580000100010000000003737663047465737400001c0001c00c001c000100000000001020010db8000000000000000000000007',
);
// Same dnsmasq, nothing.test/A, id 0xf00d: REFUSED (no upstream configured), question echoed.
const DNSMASQ_REFUSED = fromHexString('f00d81850001000000000000076e6f7468696e6704746573740000010001');

function fromHexString(h: string): Uint8Array {
  return Uint8Array.from(h.match(/../g) ?? [], (x) => parseInt(x, 16));
}

describe('DNS codec against dnsmasq 2.90', () => {
  it('decodes a CNAME chain whose second owner name points into the first record’s data', () => {
    const m = decodeDnsMessage(DNSMASQ_CNAME_A);
    expect(m).toMatchObject({ id: 0xbeef, qr: true, aa: true, rd: true, ra: true, rcode: 0, questions: [{ name: 'www.svc.test', type: 1, class: 1 }] });
    expect(m.answers.map((a) => [a.name, typeName(a.type), a.value])).toEqual([
      ['www.svc.test', 'CNAME', 'svc.test'],
      ['svc.test', 'A', '192.0.2.7'],
    ]);
    // Our query for it is what dnsmasq saw (its question echoed back).
    const q = encodeDnsMessage(dnsQuery(0xbeef, 'www.svc.test', DNS_TYPE.A));
    expect(Array.from(DNSMASQ_CNAME_A.subarray(12, 30))).toEqual(Array.from(q.subarray(12)));
  });

  it('decodes AAAA and REFUSED answers', () => {
    expect(decodeDnsMessage(DNSMASQ_AAAA).answers[0]).toMatchObject({ name: 'svc.test', type: 28, value: '2001:db8::7' });
    const refused = decodeDnsMessage(DNSMASQ_REFUSED);
    expect(refused).toMatchObject({ id: 0xf00d, rcode: DNS_RCODE.REFUSED, answers: [], questions: [{ name: 'nothing.test' }] });
    expect(rcodeName(refused.rcode)).toBe('REFUSED');
  });

  it('re-encodes what it decoded into a message that decodes the same (names uncompressed)', () => {
    for (const b of [DNSMASQ_CNAME_A, DNSMASQ_AAAA, DNSMASQ_REFUSED]) {
      const m = decodeDnsMessage(b);
      const again = decodeDnsMessage(encodeDnsMessage(m));
      expect(again.questions).toEqual(m.questions);
      expect(again.answers.map((a) => [a.name, a.type, a.ttl])).toEqual(m.answers.map((a) => [a.name, a.type, a.ttl]));
    }
  });
});

describe('DNS codec fixtures', () => {
  it('encodes a query byte for byte, and its length is what the encoder writes', () => {
    const q = dnsQuery(0x1234, 'example.com', DNS_TYPE.A);
    expect(Array.from(encodeDnsMessage(q))).toEqual(Array.from(QUERY));
    expect(dnsMessageLength(q)).toBe(QUERY.length);
    expect(decodeDnsMessage(QUERY)).toEqual(q);
  });

  it('decodes a compressed response, including a CNAME pointing into the question', () => {
    const m = decodeDnsMessage(RESPONSE);
    expect(m).toMatchObject({ id: 0x1234, qr: true, rd: true, ra: true, rcode: 0 });
    expect(m.answers).toHaveLength(2);
    expect(m.answers[0]).toMatchObject({ name: 'example.com', type: 1, ttl: 3600, value: '192.0.2.7' });
    expect(m.answers[1]).toMatchObject({ name: 'www.example.com', type: 5, ttl: 60, value: 'example.com' });
  });

  it('decodes at an offset', () => {
    const buf = new Uint8Array(3 + QUERY.length);
    buf.set(QUERY, 3);
    expect(decodeDnsMessage(buf, 3).questions[0]?.name).toBe('example.com');
  });

  it('rejects a pointer that does not point backwards (a loop)', () => {
    const loop = Uint8Array.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1]);
    expect(() => decodeDnsMessage(loop)).toThrow(expect.objectContaining({ code: 'ERR_DNS_POINTER' }));
  });

  it('rejects short input with a typed error', () => {
    expect(() => decodeDnsMessage(QUERY.subarray(0, 20))).toThrow(DecodeError);
    expect(() => decodeDnsMessage(RESPONSE.subarray(0, RESPONSE.length - 1))).toThrow(DecodeError);
  });

  it('reads TXT and AAAA data into values', () => {
    const m: DnsMessage = {
      ...dnsQuery(7, 'svc.test', DNS_TYPE.TXT),
      qr: true,
      answers: [
        { name: 'svc.test', type: DNS_TYPE.TXT, class: 1, ttl: 1, data: Uint8Array.from([2, ...ascii('ok'), 3, ...ascii('all')]) },
        { name: 'svc.test', type: DNS_TYPE.AAAA, class: 1, ttl: 1, data: parseIPv6('2001:db8::7') },
      ],
    };
    const d = decodeDnsMessage(encodeDnsMessage(m));
    expect(d.answers.map((a) => a.value)).toEqual(['ok all', '2001:db8::7']);
  });
});

describe('names and addresses', () => {
  it('escape and unescape label bytes as RFC 1035 §5.1 does', () => {
    const labels = nameToLabels('a\\.b.c\\\\d.\\000x.');
    expect(labels.map((l) => Array.from(l))).toEqual([[97, 46, 98], [99, 92, 100], [0, 120]]);
    expect(labelsToName(labels)).toBe('a\\.b.c\\\\d.\\000x');
    expect(nameToLabels('.')).toEqual([]);
    expect(labelsToName([])).toBe('.');
  });

  it('refuses labels over 63 bytes, names over 255, empty labels and unescaped spaces', () => {
    expect(() => nameToLabels(`${'a'.repeat(64)}.com`)).toThrow(RangeError);
    expect(() => nameToLabels(Array(50).fill('abcde').join('.'))).toThrow(RangeError);
    expect(() => nameToLabels('a..b')).toThrow(RangeError);
    expect(() => nameToLabels('a b')).toThrow(RangeError);
  });

  it('parses and formats IPv6 as RFC 5952 says', () => {
    expect(formatIPv6(parseIPv6('2001:0db8:0000:0000:0000:0000:0000:0001'))).toBe('2001:db8::1');
    expect(formatIPv6(parseIPv6('::'))).toBe('::');
    expect(formatIPv6(parseIPv6('::1'))).toBe('::1');
    expect(formatIPv6(parseIPv6('1:0:0:2:0:0:0:3'))).toBe('1:0:0:2::3');
    expect(formatIPv6(parseIPv6('1:0:2:3:4:5:6:7'))).toBe('1:0:2:3:4:5:6:7');
    expect(formatIPv6(parseIPv6('::ffff:192.0.2.1'))).toBe('::ffff:192.0.2.1') // RFC 5952 §5: mixed notation, as every module prints it;
    expect(() => parseIPv6('1::2::3')).toThrow(RangeError);
    expect(() => parseIPv6('1:2:3')).toThrow(RangeError);
    expect(() => parseIPv4('1.2.3.256')).toThrow(RangeError);
  });

  it('round-trips any 16 bytes through text', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => {
      expect(Array.from(parseIPv6(formatIPv6(b)))).toEqual(Array.from(b));
    }));
  });

  it('names rcodes and types', () => {
    expect(rcodeName(DNS_RCODE.SERVFAIL)).toBe('SERVFAIL');
    expect(rcodeName(9)).toBe('RCODE 9');
    expect(typeName(28)).toBe('AAAA');
    expect(typeName(65)).toBe('TYPE65');
  });
});

const label = fc.uint8Array({ minLength: 1, maxLength: 20 });
const name = fc.array(label, { maxLength: 5 }).map(labelsToName);
const record: fc.Arbitrary<DnsRecord> = fc.record({
  name,
  type: fc.integer({ min: 0, max: 0xffff }).filter((t) => ![1, 2, 5, 12, 16, 28].includes(t)),
  class: fc.integer({ min: 0, max: 0xffff }),
  ttl: fc.nat({ max: 0xffff_ffff }),
  data: fc.uint8Array({ maxLength: 40 }),
});
const message: fc.Arbitrary<DnsMessage> = fc.record({
  id: fc.integer({ min: 0, max: 0xffff }),
  qr: fc.boolean(),
  opcode: fc.integer({ min: 0, max: 15 }),
  aa: fc.boolean(),
  tc: fc.boolean(),
  rd: fc.boolean(),
  ra: fc.boolean(),
  z: fc.integer({ min: 0, max: 7 }),
  rcode: fc.integer({ min: 0, max: 15 }),
  questions: fc.array(fc.record({ name, type: fc.integer({ min: 0, max: 0xffff }), class: fc.integer({ min: 0, max: 0xffff }) }), { maxLength: 3 }),
  answers: fc.array(record, { maxLength: 3 }),
  authorities: fc.array(record, { maxLength: 2 }),
  additionals: fc.array(record, { maxLength: 2 }),
});

describe('DNS codec properties', () => {
  it('round-trips any message, and the computed length is the encoded length', () => {
    fc.assert(
      fc.property(message, (m) => {
        const bytes = encodeDnsMessage(m);
        expect(bytes.length).toBe(dnsMessageLength(m));
        expect(decodeDnsMessage(bytes)).toEqual(m);
      }),
    );
  });

  it('decodes random bytes to a message or a DecodeError, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), (b) => {
        try {
          decodeDnsMessage(b);
        } catch (e) {
          expect(e).toBeInstanceOf(DecodeError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('decodes mutated real messages to a message or a DecodeError', () => {
    fc.assert(
      fc.property(fc.constantFrom(QUERY, RESPONSE), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (base, muts) => {
        const b = Uint8Array.from(base);
        for (const [at, v] of muts) b[at % b.length] = v;
        try {
          decodeDnsMessage(b);
        } catch (e) {
          expect(e).toBeInstanceOf(DecodeError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
