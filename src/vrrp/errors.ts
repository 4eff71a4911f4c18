import { LvskitError, type LvskitErrorOptions } from '../util/errors.js';

/** Errors of the VRRP module (bad configuration, socket failures). Received packets that don't fit get verdicts, not errors. */
export class VrrpError extends LvskitError {
  constructor(code: string, message: string, options?: LvskitErrorOptions) {
    super(code, message, options);
  }
}
