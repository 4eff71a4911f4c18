import { LvskitError, type LvskitErrorOptions } from '../util/errors.js';

/**
 * Kernel errnos the IPVS netlink interface returns, with what they mean for it
 * (net/netfilter/ipvs/ip_vs_ctl.c): `EEXIST` when adding what is there, `ESRCH`
 * for a missing service, `ENOENT` for a missing destination, `EPERM` without
 * CAP_NET_ADMIN, `ENOENT` from the genl controller when ip_vs isn't loaded.
 */
export const IpvsErrno = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  ENOMEM: 12,
  EBUSY: 16,
  EEXIST: 17,
  EINVAL: 22,
  ERANGE: 34,
  EOPNOTSUPP: 95,
} as const;

export interface IpvsErrorOptions extends LvskitErrorOptions {
  /** The positive errno the kernel returned, when the error came from the kernel. */
  errno?: number;
}

/** An IPVS failure, typed by the kernel's meaning (`ERR_IPVS_EXISTS`, `ERR_IPVS_NO_SERVICE`, ...). */
export class IpvsError extends LvskitError {
  readonly errno: number | undefined;
  constructor(code: string, message: string, options?: IpvsErrorOptions) {
    super(code, message, options);
    this.errno = options?.errno;
  }
}
