import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ByteReader, ByteWriter, bytesEqual, fromHex, toHex } from '../../../src/util/bytes.js';
import { DecodeError, isLvskitError } from '../../../src/util/errors.js';

describe('ByteReader', () => {
  it('reads network-order integers and byte ranges', () => {
    const r = new ByteReader(fromHex('01 0203 04050607 08090a0b0c0d0e0f ffff'));
    expect(r.u8()).toBe(0x01);
    expect(r.u16()).toBe(0x0203);
    expect(r.u32()).toBe(0x04050607);
    expect(r.u64()).toBe(0x08090a0b0c0d0e0fn);
    expect(r.remaining).toBe(2);
    expect(toHex(r.bytes(2))).toBe('ffff');
    expect(r.remaining).toBe(0);
  });

  it('reads little-endian integers for netlink', () => {
    const r = new ByteReader(fromHex('0201 04030201 0807060504030201'));
    expect(r.u16le()).toBe(0x0102);
    expect(r.u32le()).toBe(0x01020304);
    expect(r.u64le()).toBe(0x0102030405060708n);
  });

  it('throws a typed ERR_SHORT_INPUT with the offset when input ends early', () => {
    const r = new ByteReader(fromHex('000102'));
    r.u16();
    try {
      r.u32('AS number');
      expect.unreachable('u32 past the end must throw');
    } catch (e) {
      expect(e).toBeInstanceOf(DecodeError);
      expect(isLvskitError(e, 'ERR_SHORT_INPUT')).toBe(true);
      expect((e as DecodeError).offset).toBe(2);
      expect((e as Error).message).toContain('AS number');
    }
    // A failed read consumes nothing.
    expect(r.offset).toBe(2);
    expect(r.u8()).toBe(2);
  });

  it('sub() confines a length-prefixed field to its bytes', () => {
    const r = new ByteReader(fromHex('0002 aabb cc'));
    const len = r.u16();
    const field = r.sub(len);
    expect(field.u8()).toBe(0xaa);
    expect(field.u8()).toBe(0xbb);
    expect(() => field.u8()).toThrow(DecodeError);
    expect(r.u8()).toBe(0xcc);
  });

  it('honours a start offset and an end, and rejects bad ranges', () => {
    const buf = fromHex('ff ff 10 20 30 ff');
    const r = new ByteReader(buf, 2, 5);
    expect(r.offset).toBe(2);
    expect(toHex(r.rest())).toBe('102030');
    expect(() => new ByteReader(buf, 4, 2)).toThrow(RangeError);
    expect(() => new ByteReader(buf, 0, 7)).toThrow(RangeError);
  });

  it('works on a Uint8Array that is a view into a larger buffer', () => {
    const big = fromHex('00 00 00 12 34 56 78');
    const view = big.subarray(3);
    expect(new ByteReader(view).u32()).toBe(0x12345678);
  });

  it('never throws anything but DecodeError on random reads (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 40 }), (buf, ops) => {
        const r = new ByteReader(buf);
        for (const op of ops) {
          try {
            [() => r.u8(), () => r.u16(), () => r.u32(), () => r.u64(), () => r.bytes(3), () => r.sub(2), () => r.skipBytes(5)][op]?.();
          } catch (e) {
            if (!(e instanceof DecodeError)) throw e;
          }
          expect(r.offset).toBeLessThanOrEqual(buf.length);
        }
      }),
    );
  });
});

describe('ByteWriter', () => {
  it('writes network-order integers and grows past its initial size', () => {
    const w = new ByteWriter(1);
    w.u8(1).u16(0x0203).u32(0x04050607).u64(0x08090a0b0c0d0e0fn).bytes(fromHex('ffee')).zeros(2);
    expect(toHex(w.finish())).toBe('01020304050607' + '08090a0b0c0d0e0f' + 'ffee0000');
    expect(w.length).toBe(19);
  });

  it('patches a reserved length field', () => {
    const w = new ByteWriter();
    const at = w.reserveU16();
    w.bytes(fromHex('aabbcc'));
    w.patchU16(at, w.length - 2);
    expect(toHex(w.finish())).toBe('0003aabbcc');
    expect(() => w.patchU16(10, 1)).toThrow(RangeError);
  });

  it('rejects values that do not fit', () => {
    const w = new ByteWriter();
    expect(() => w.u8(256)).toThrow(RangeError);
    expect(() => w.u16(-1)).toThrow(RangeError);
    expect(() => w.u32(2 ** 32)).toThrow(RangeError);
    expect(() => w.u16(1.5)).toThrow(RangeError);
    expect(() => w.u64(-1n)).toThrow(RangeError);
  });

  it('round-trips every integer width with ByteReader (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        fc.uint8Array({ maxLength: 40 }),
        (a, b, c, d, e) => {
          const w = new ByteWriter(4).u8(a).u16(b).u32(c).u64(d).u16le(b).u32le(c).u64le(d).bytes(e);
          const out = w.finish();
          const r = new ByteReader(out);
          expect([r.u8(), r.u16(), r.u32(), r.u64(), r.u16le(), r.u32le(), r.u64le()]).toEqual([a, b, c, d, b, c, d]);
          expect(bytesEqual(r.rest(), e)).toBe(true);
          expect(out.length).toBe(1 + 2 + 4 + 8 + 2 + 4 + 8 + e.length);
        },
      ),
    );
  });
});

describe('hex helpers', () => {
  it('round-trips and rejects non-hex', () => {
    expect(toHex(fromHex('DE:AD be ef'))).toBe('deadbeef');
    expect(() => fromHex('abc')).toThrow(RangeError);
    expect(() => fromHex('zz')).toThrow(RangeError);
    expect(bytesEqual(fromHex('01'), fromHex('0102'))).toBe(false);
  });
});
