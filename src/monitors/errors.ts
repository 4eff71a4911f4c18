import { LvskitError, type LvskitErrorOptions } from '../util/errors.js';

/** Errors of the monitors module: bad configuration and misuse, never "the server is down". */
export class MonitorError extends LvskitError {
  constructor(code: string, message: string, options?: LvskitErrorOptions) {
    super(code, message, options);
  }
}
