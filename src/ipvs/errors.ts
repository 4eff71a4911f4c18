import { LvskitError, type LvskitErrorOptions } from '../util/errors.js';
import * as K from './constants.js';

/**
 * Kernel errnos the IPVS netlink interface returns, with what they mean for it
 * (net/netfilter/ipvs/ip_vs_ctl.c): `EEXIST` when adding what is there, `ESRCH`
 * for a missing service, `ENOENT` for a missing destination (or, on a service
 * add/edit, an unknown scheduler or persistence engine), `EPERM` without
 * CAP_NET_ADMIN (GENL_ADMIN_PERM), `ENOENT` from the genl controller when
 * ip_vs isn't loaded, `ENOBUFS` when our receive buffer overflowed.
 */
export const IpvsErrno = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  ENOMEM: 12,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ERANGE: 34,
  EMSGSIZE: 90,
  EOPNOTSUPP: 95,
  EAFNOSUPPORT: 97,
  ENOBUFS: 105,
} as const;

/** Every code an `IpvsError` can carry. */
export type IpvsErrorCode =
  | 'ERR_IPVS_MODULE_MISSING' // the IPVS genl family isn't registered (ip_vs not loaded)
  | 'ERR_IPVS_NOT_PERMITTED' // EPERM: CAP_NET_ADMIN needed
  | 'ERR_IPVS_EXISTS' // EEXIST: the service, destination or sync daemon is already there
  | 'ERR_IPVS_NO_SERVICE' // ESRCH: no such service
  | 'ERR_IPVS_NO_DESTINATION' // ENOENT on a destination command
  | 'ERR_IPVS_UNKNOWN_SCHEDULER' // ENOENT on a service add/edit: no such scheduler or persistence engine
  | 'ERR_IPVS_INVALID' // EINVAL: the kernel refused the arguments
  | 'ERR_IPVS_BUSY' // EBUSY
  | 'ERR_IPVS_NOT_SUPPORTED' // EAFNOSUPPORT / EOPNOTSUPP (e.g. IPv6 disabled)
  | 'ERR_IPVS_NO_BUFFERS' // ENOBUFS on our socket: replies were lost; re-read the table (recoverable)
  | 'ERR_IPVS_KERNEL' // any other errno
  | 'ERR_IPVS_PROTOCOL' // a reply we could not decode or did not expect
  | 'ERR_IPVS_CLOSED' // the client was closed
  | 'ERR_IPVS_INVALID_ADDRESS' // an address that doesn't parse
  | 'ERR_IPVS_INVALID_CONFIG' // a service or destination the model rejects before sending
  | 'ERR_IPVS_UNSUPPORTED' // something this library can't express (address family, dry-run of 'bypass')
  | 'ERR_IPVS_BATCH'; // some operations of a batch failed (see `failures`)

export interface IpvsErrorOptions extends LvskitErrorOptions {
  /** The positive errno the kernel returned, when the error came from the kernel. */
  errno?: number;
  /** The IPVS_CMD_* the error answers, when known. */
  cmd?: number;
  /** The kernel's extended-ack message, when it sent one. */
  kernelMessage?: string;
}

/** An IPVS failure, typed by the kernel's meaning (`ERR_IPVS_EXISTS`, `ERR_IPVS_NO_SERVICE`, ...). */
export class IpvsError extends LvskitError {
  readonly errno: number | undefined;
  readonly cmd: number | undefined;
  readonly kernelMessage: string | undefined;
  constructor(code: IpvsErrorCode | string, message: string, options?: IpvsErrorOptions) {
    super(code, message, options);
    this.errno = options?.errno;
    this.cmd = options?.cmd;
    this.kernelMessage = options?.kernelMessage;
  }
  /** True when retrying after re-reading the kernel's state is the right move (ENOBUFS). */
  get recoverable(): boolean {
    return this.code === 'ERR_IPVS_NO_BUFFERS';
  }
}

const CMD_NAMES: Record<number, string> = {
  [K.IPVS_CMD_NEW_SERVICE]: 'IPVS_CMD_NEW_SERVICE',
  [K.IPVS_CMD_SET_SERVICE]: 'IPVS_CMD_SET_SERVICE',
  [K.IPVS_CMD_DEL_SERVICE]: 'IPVS_CMD_DEL_SERVICE',
  [K.IPVS_CMD_GET_SERVICE]: 'IPVS_CMD_GET_SERVICE',
  [K.IPVS_CMD_NEW_DEST]: 'IPVS_CMD_NEW_DEST',
  [K.IPVS_CMD_SET_DEST]: 'IPVS_CMD_SET_DEST',
  [K.IPVS_CMD_DEL_DEST]: 'IPVS_CMD_DEL_DEST',
  [K.IPVS_CMD_GET_DEST]: 'IPVS_CMD_GET_DEST',
  [K.IPVS_CMD_NEW_DAEMON]: 'IPVS_CMD_NEW_DAEMON',
  [K.IPVS_CMD_DEL_DAEMON]: 'IPVS_CMD_DEL_DAEMON',
  [K.IPVS_CMD_GET_DAEMON]: 'IPVS_CMD_GET_DAEMON',
  [K.IPVS_CMD_SET_CONFIG]: 'IPVS_CMD_SET_CONFIG',
  [K.IPVS_CMD_GET_CONFIG]: 'IPVS_CMD_GET_CONFIG',
  [K.IPVS_CMD_SET_INFO]: 'IPVS_CMD_SET_INFO',
  [K.IPVS_CMD_GET_INFO]: 'IPVS_CMD_GET_INFO',
  [K.IPVS_CMD_ZERO]: 'IPVS_CMD_ZERO',
  [K.IPVS_CMD_FLUSH]: 'IPVS_CMD_FLUSH',
};

/** The kernel's name of an IPVS command (`IPVS_CMD_NEW_SERVICE`), or `cmd N`. */
export function ipvsCmdName(cmd: number): string {
  return CMD_NAMES[cmd] ?? `cmd ${cmd}`;
}

const DEST_CMDS = new Set<number>([K.IPVS_CMD_NEW_DEST, K.IPVS_CMD_SET_DEST, K.IPVS_CMD_DEL_DEST]);
const SVC_FULL_CMDS = new Set<number>([K.IPVS_CMD_NEW_SERVICE, K.IPVS_CMD_SET_SERVICE]);

/**
 * The typed error for a kernel errno answering `cmd`. The meaning of ENOENT
 * depends on the command (ip_vs_ctl.c): ip_vs_add_dest/ip_vs_edit_dest/
 * ip_vs_del_dest return it for a missing destination; ip_vs_add_service and
 * ip_vs_edit_service for a scheduler or persistence engine that doesn't exist.
 */
export function errnoToIpvsError(errno: number, cmd: number, what?: string, kernelMessage?: string): IpvsError {
  const opts: IpvsErrorOptions = { errno, cmd };
  if (kernelMessage !== undefined) opts.kernelMessage = kernelMessage;
  const suffix = `${what === undefined ? '' : ` (${what})`}${kernelMessage === undefined ? '' : `: ${kernelMessage}`}`;
  const name = ipvsCmdName(cmd);
  switch (errno) {
    case IpvsErrno.EEXIST:
      return new IpvsError('ERR_IPVS_EXISTS', `${name}: already exists${suffix}`, opts);
    case IpvsErrno.ESRCH:
      return new IpvsError('ERR_IPVS_NO_SERVICE', `${name}: no such service${suffix}`, opts);
    case IpvsErrno.ENOENT:
      if (DEST_CMDS.has(cmd)) return new IpvsError('ERR_IPVS_NO_DESTINATION', `${name}: no such destination${suffix}`, opts);
      if (SVC_FULL_CMDS.has(cmd)) return new IpvsError('ERR_IPVS_UNKNOWN_SCHEDULER', `${name}: unknown scheduler or persistence engine${suffix}`, opts);
      return new IpvsError('ERR_IPVS_KERNEL', `${name}: ENOENT${suffix}`, opts);
    case IpvsErrno.EPERM:
      return new IpvsError('ERR_IPVS_NOT_PERMITTED', `${name}: operation not permitted (CAP_NET_ADMIN is needed)${suffix}`, opts);
    case IpvsErrno.EINVAL:
      return new IpvsError('ERR_IPVS_INVALID', `${name}: invalid argument${suffix}`, opts);
    case IpvsErrno.EBUSY:
      return new IpvsError('ERR_IPVS_BUSY', `${name}: busy${suffix}`, opts);
    case IpvsErrno.EAFNOSUPPORT:
    case IpvsErrno.EOPNOTSUPP:
      return new IpvsError('ERR_IPVS_NOT_SUPPORTED', `${name}: not supported by this kernel${suffix}`, opts);
    case IpvsErrno.ENOBUFS:
      return new IpvsError('ERR_IPVS_NO_BUFFERS', `${name}: netlink receive buffer overflowed; replies were lost${suffix}`, opts);
    default:
      return new IpvsError('ERR_IPVS_KERNEL', `${name}: kernel error ${errno}${suffix}`, opts);
  }
}

/** One failed operation of a batch. */
export interface BatchFailure {
  /** Index of the operation in the batch. */
  index: number;
  error: IpvsError;
}

/** Some operations of a pipelined batch failed; the others were applied. */
export class IpvsBatchError extends IpvsError {
  readonly failures: BatchFailure[];
  constructor(failures: BatchFailure[], total: number) {
    const first = failures[0];
    super('ERR_IPVS_BATCH', `${failures.length} of ${total} operation(s) failed${first ? `; first (#${first.index}): ${first.error.message}` : ''}`, {
      cause: first?.error,
    });
    this.failures = failures;
  }
}
