import { LvskitError, type LvskitErrorOptions } from '../util/errors.js';

/**
 * Codes of `VrrpError`:
 * - `ERR_VRRP_CONFIG`: an instance, tracker or group configuration that cannot work
 *   (priority out of range, interval not representable on the wire, v2 over IPv6...).
 * - `ERR_VRRP_ADDRESS`: a string that is not an IPv4/IPv6 or MAC address.
 * - `ERR_VRRP_ENCODE`: an advert or frame that cannot be encoded as given.
 *
 * Decoding raises `DecodeError` (`ERR_SHORT_INPUT`, `ERR_VRRP_VERSION`, ...);
 * receive validation never throws: it returns a verdict.
 */
export type VrrpErrorCode = 'ERR_VRRP_CONFIG' | 'ERR_VRRP_ADDRESS' | 'ERR_VRRP_ENCODE';

/** Errors of the VRRP module (bad configuration, socket failures). Received packets that don't fit get verdicts, not errors. */
export class VrrpError extends LvskitError {
  constructor(code: VrrpErrorCode | (string & {}), message: string, options?: LvskitErrorOptions) {
    super(code, message, options);
  }
}
