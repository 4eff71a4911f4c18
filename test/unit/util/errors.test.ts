import { describe, expect, it } from 'vitest';
import { AbortError, DecodeError, LvskitError, TimeoutError, isLvskitError } from '../../../src/util/errors.js';
import { BgpError } from '../../../src/bgp/errors.js';
import { ErrorCode, UpdateErrorSubcode } from '../../../src/bgp/constants.js';

describe('LvskitError', () => {
  it('carries a string code, a message, a cause and its class name', () => {
    const cause = new Error('socket closed');
    const e = new LvskitError('ERR_TEST_THING', 'thing failed', { cause });
    expect(e.code).toBe('ERR_TEST_THING');
    expect(e.message).toBe('thing failed');
    expect(e.cause).toBe(cause);
    expect(e.name).toBe('LvskitError');
    expect(e).toBeInstanceOf(Error);
    expect(e).toBeInstanceOf(LvskitError);
    expect(String(e)).toBe('LvskitError: thing failed');
  });

  it('recognises a branded error from another copy of the class (the other build)', () => {
    // Simulate the CJS build's class: same name, same brand, different identity.
    const brand = Symbol.for('lvskit.error');
    class LvskitErrorCopy extends Error {
      code = 'ERR_OTHER';
      constructor() {
        super('from the other build');
        Object.defineProperty(this, brand, { value: true });
      }
    }
    const foreign = new LvskitErrorCopy();
    expect(foreign instanceof LvskitError).toBe(true);
    expect(isLvskitError(foreign, 'ERR_OTHER')).toBe(true);
    expect(isLvskitError(foreign, 'ERR_SOMETHING_ELSE')).toBe(false);
  });

  it('rejects unbranded look-alikes and non-objects', () => {
    const plain = Object.assign(new Error('x'), { code: 'ERR_X' });
    expect(plain instanceof LvskitError).toBe(false);
    expect(isLvskitError(null)).toBe(false);
    expect(isLvskitError('ERR_X')).toBe(false);
  });

  it('subclass instanceof matches by class name across copies, not just any lvskit error', () => {
    const bgp = new BgpError('ERR_BGP_BAD_ORIGIN', 'bad ORIGIN', {
      notificationCode: ErrorCode.UPDATE_MESSAGE,
      notificationSubcode: UpdateErrorSubcode.INVALID_ORIGIN_ATTRIBUTE,
      handling: 'treat-as-withdraw',
      data: Uint8Array.of(0x40, 0x01, 0x01, 0x05),
    });
    expect(bgp).toBeInstanceOf(BgpError);
    expect(bgp).toBeInstanceOf(LvskitError);
    expect(new TimeoutError(5) instanceof BgpError).toBe(false);
    expect(bgp.handling).toBe('treat-as-withdraw');
    expect(bgp.notificationCode).toBe(3);
    expect(bgp.notificationSubcode).toBe(6);
    expect(Array.from(bgp.data)).toEqual([0x40, 0x01, 0x01, 0x05]);

    // A BgpError from "the other build": a distinct class with the same name.
    const brand = Symbol.for('lvskit.error');
    const Other = { BgpError: class extends Error {} }.BgpError;
    Object.defineProperty(Other, 'name', { value: 'BgpError' });
    const o = new Other('x');
    Object.defineProperty(o, brand, { value: true });
    expect(o instanceof BgpError).toBe(true);
    expect(o instanceof TimeoutError).toBe(false);
  });

  it('has typed subclasses for abort, timeout and decode failures', () => {
    const a = new AbortError(new Error('user cancelled'));
    expect(a.code).toBe('ERR_ABORTED');
    expect(a.message).toBe('aborted: user cancelled');
    const t = new TimeoutError(1500, 'connect');
    expect(t.code).toBe('ERR_TIMEOUT');
    expect(t.message).toBe('connect timed out after 1500 ms');
    expect(t.timeoutMs).toBe(1500);
    const d = new DecodeError('ERR_SHORT_INPUT', 'input ends', 7);
    expect(d.offset).toBe(7);
    expect(d.message).toBe('input ends (at byte 7)');
    expect(d.name).toBe('DecodeError');
  });
});
