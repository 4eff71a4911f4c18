import { LvskitError, type LvskitErrorOptions } from '../util/errors.js';

/**
 * Errors of the monitors module: bad configuration and misuse, never "the server is down".
 *
 * Codes: `ERR_MONITOR_BAD_CONFIG` (a nonsensical option or spec), `ERR_MONITOR_DUPLICATE`
 * (a server id added twice), `ERR_MONITOR_UNKNOWN_SERVER` (no such server id), and
 * `ERR_MONITOR_STOPPED` (the abort reason given to checks when a monitor stops).
 */
export class MonitorError extends LvskitError {
  constructor(code: string, message: string, options?: LvskitErrorOptions) {
    super(code, message, options);
  }
}
