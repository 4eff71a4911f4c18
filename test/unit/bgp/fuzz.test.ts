/**
 * Random and mutated bytes: every decoder either returns (a message or an
 * RFC 7606 verdict) or throws a BgpError to send as a NOTIFICATION. Nothing
 * else escapes, whatever the input.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeMessage, encodeMessage } from '../../../src/bgp/codec.js';
import type { BgpMessage, CodecOptions } from '../../../src/bgp/codec.js';
import { MessageFramer } from '../../../src/bgp/codec-header.js';
import { BgpError, notificationName } from '../../../src/bgp/errors.js';
import { notificationMessage, openMessage, routeRefreshMessage, updateMessage } from './arbitraries.js';

const options: fc.Arbitrary<CodecOptions> = fc.record({
  fourOctetAs: fc.boolean(),
  extendedMessage: fc.boolean(),
  addPath: fc.record({ ipv4: fc.boolean(), ipv6: fc.boolean() }),
  external: fc.boolean(),
});

/** Header with the right length and `type`, then `body`. */
function withHeader(type: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(19 + body.length);
  out.fill(0xff, 0, 16);
  out[16] = out.length >> 8;
  out[17] = out.length & 0xff;
  out[18] = type;
  out.set(body, 19);
  return out;
}

function checkDecode(bytes: Uint8Array, opts: CodecOptions): void {
  try {
    const d = decodeMessage(bytes, 0, opts);
    if (d.kind === 'update' && d.update.kind === 'treat-as-withdraw') {
      expect(d.update.errors.length).toBeGreaterThan(0);
      for (const e of d.update.errors) expect(e.handling).toBe('treat-as-withdraw');
    }
    if (d.kind === 'update' && d.update.kind === 'update') {
      for (const e of d.update.discarded) expect(e.handling).toBe('attribute-discard');
    }
  } catch (e) {
    if (!(e instanceof BgpError)) throw e;
    // Thrown means the session ends, with a NOTIFICATION we can name.
    expect(e.handling).toBe('session-reset');
    expect(notificationName(e.notificationCode, e.notificationSubcode)).not.toMatch(/^Unknown/);
  }
}

const anyMessage: fc.Arbitrary<BgpMessage> = fc.oneof(
  openMessage.map((open) => ({ kind: 'open' as const, open })),
  updateMessage().map((update) => ({ kind: 'update' as const, update })),
  updateMessage({ fourOctetAs: false }).map((update) => ({ kind: 'update' as const, update })),
  notificationMessage.map((notification) => ({ kind: 'notification' as const, notification })),
  fc.constant({ kind: 'keepalive' as const }),
  routeRefreshMessage.map((routeRefresh) => ({ kind: 'route-refresh' as const, routeRefresh })),
);

type Mutation = { kind: 'set'; at: number; value: number } | { kind: 'cut'; at: number } | { kind: 'insert'; at: number; value: number };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
);

/** Apply mutations to the body (after the header) and fix the header length, so the body decoders get exercised. */
function mutate(msg: Uint8Array, muts: Mutation[], fixLength: boolean): Uint8Array {
  const body = Array.from(msg.subarray(19));
  for (const m of muts) {
    if (body.length === 0 && m.kind !== 'insert') continue;
    const at = m.at % Math.max(1, body.length + (m.kind === 'insert' ? 1 : 0));
    if (m.kind === 'set') body[at] = m.value;
    else if (m.kind === 'cut') body.splice(at);
    else body.splice(at, 0, m.value);
  }
  const out = withHeader(msg[18] as number, Uint8Array.from(body));
  if (!fixLength) {
    out[16] = msg[16] as number;
    out[17] = msg[17] as number;
  }
  return out;
}

describe('decoding hostile input', () => {
  it('random bodies behind a valid header of every type (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.uint8Array({ maxLength: 300 }), options, (type, body, opts) => {
        checkDecode(withHeader(type, body), opts);
      }),
      { numRuns: 3000 },
    );
  });

  it('entirely random bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), options, (bytes, opts) => {
        checkDecode(bytes, opts);
      }),
      { numRuns: 1000 },
    );
  });

  it('valid messages with bytes changed, cut or inserted (property)', () => {
    fc.assert(
      fc.property(anyMessage, fc.array(mutation, { minLength: 1, maxLength: 6 }), fc.boolean(), options, (m, muts, fix, opts) => {
        const bytes = encodeMessage(m, { extendedMessage: true, fourOctetAs: opts.fourOctetAs ?? true });
        checkDecode(mutate(bytes, muts, fix), opts);
      }),
      { numRuns: 3000 },
    );
  });

  it('valid UPDATE attribute bytes with single-byte changes everywhere', () => {
    // Exhaustive over offsets and a few values: flags, type codes, lengths, values.
    const m = encodeMessage({
      kind: 'update',
      update: {
        withdrawn: [{ prefix: '10.0.0.0/8' }],
        attributes: {
          mpReach: { afi: 2, safi: 1, nextHop: ['2001:db8::1', 'fe80::1'], nlri: [{ prefix: '2001:db8::/32' }] },
          origin: 'igp',
          asPath: [{ type: 'sequence', asns: [65001, 4200000001] }],
          nextHop: '192.0.2.1',
          med: 5,
          aggregator: { asn: 65001, address: '192.0.2.1' },
          communities: [1, 2],
          largeCommunities: [{ globalAdmin: 1, localData1: 2, localData2: 3 }],
          unknown: [{ flags: 0xe0, type: 99, value: Uint8Array.of(1, 2, 3) }],
        },
        nlri: [{ prefix: '198.51.100.0/24' }],
      },
    });
    let outcomes = 0;
    for (let at = 19; at < m.length; at++) {
      for (const v of [0x00, 0x01, 0x02, 0x0f, 0x10, 0x40, 0x7f, 0x80, 0xc0, 0xff]) {
        const b = m.slice();
        b[at] = v;
        for (const opts of [{}, { fourOctetAs: false }, { addPath: { ipv4: true, ipv6: true } }]) {
          checkDecode(b, opts);
          outcomes++;
        }
      }
    }
    expect(outcomes).toBe((m.length - 19) * 10 * 3);
  });

  it('the framer and decoder together on a stream of mutated messages (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(anyMessage, fc.array(mutation, { maxLength: 2 })), { maxLength: 5 }), fc.nat(), (msgs, cutSeed) => {
        const parts = msgs.map(([m, muts]) => mutate(encodeMessage(m, { extendedMessage: true }), muts, true));
        const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
        parts.reduce((at, p) => (all.set(p, at), at + p.length), 0);
        const cut = all.length === 0 ? 0 : cutSeed % all.length;
        const f = new MessageFramer({ maxLength: 65535 });
        try {
          for (const chunk of [all.subarray(0, cut), all.subarray(cut)]) {
            for (const frame of f.push(chunk)) checkDecode(frame, { extendedMessage: true });
          }
        } catch (e) {
          expect(e).toBeInstanceOf(BgpError);
        }
      }),
      { numRuns: 500 },
    );
  });
});
