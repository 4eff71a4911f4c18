/**
 * Dry run, pure: a plan's operations as ipvsadm command lines, in the syntax
 * `ipvsadm -S` prints and `ipvsadm -R` reads (one command per line, no leading
 * `ipvsadm`):
 *
 *   -A -t 192.0.2.1:80 -s wrr -p 300 -M 255.255.255.0
 *   -a -t 192.0.2.1:80 -r 10.0.0.2:80 -g -w 10 -x 100 -y 10
 *   -E -u [2001:db8::1]:53 -s sh -b sh-fallback,sh-port
 *   -e -f 7 -6 -r [2001:db8::2]:0 -i -w 5 --tun-type gue --tun-port 6080 --tun-csum
 *   -d -t 192.0.2.1:80 -r 10.0.0.3:80
 *   -D --sctp-service 192.0.2.1:9
 *
 * Every setting the model has is written out (ipvsadm's edit commands replace
 * the whole entry, as IPVS_CMD_SET_* does). Forwarding `local` and `bypass`
 * have no ipvsadm switch: rendering them is `ERR_IPVS_UNSUPPORTED`.
 */
import { IpvsError } from './errors.js';
import { schedFlagNames, type NormalDestination, type NormalService } from './model.js';
import { plan, type Op, type TableService } from './plan.js';

function hostPort(family: 'ipv4' | 'ipv6', address: string, port: number): string {
  return family === 'ipv6' ? `[${address}]:${port}` : `${address}:${port}`;
}

/** ipvsadm's service argument: `-t VIP:PORT`, `-u ...`, `--sctp-service ...`, `-f MARK [-6]`. */
export function renderServiceArg(s: NormalService): string {
  if (s.kind === 'fwmark') return s.family === 'ipv6' ? `-f ${s.fwmark} -6` : `-f ${s.fwmark}`;
  const where = hostPort(s.family, s.address, s.port);
  if (s.protocol === 'tcp') return `-t ${where}`;
  if (s.protocol === 'udp') return `-u ${where}`;
  return `--sctp-service ${where}`;
}

function serviceOptions(s: NormalService): string {
  const parts = [`-s ${s.scheduler}`];
  if (s.persistent) {
    parts.push(`-p ${s.timeout}`);
    const defaultMask = s.family === 'ipv4' ? '255.255.255.255' : '128';
    if (s.netmask !== defaultMask) parts.push(`-M ${s.netmask}`);
  }
  if (s.onePacket) parts.push('-o');
  const flags = schedFlagNames(s.scheduler, s.schedBits);
  if (flags.length > 0) parts.push(`-b ${flags.join(',')}`);
  if (s.pe !== '') parts.push(`--pe ${s.pe}`);
  if (s.otherFlags !== 0) throw new IpvsError('ERR_IPVS_UNSUPPORTED', `service flags 0x${s.otherFlags.toString(16)} have no ipvsadm option`);
  return parts.join(' ');
}

const FWD_SWITCH: Record<NormalDestination['forwarding'], string | undefined> = {
  masq: '-m',
  route: '-g',
  tunnel: '-i',
  local: undefined,
  bypass: undefined,
};

function destinationArgs(d: NormalDestination, full: boolean): string {
  const parts = [`-r ${hostPort(d.family, d.address, d.port)}`];
  if (!full) return parts.join(' ');
  const sw = FWD_SWITCH[d.forwarding];
  if (sw === undefined) throw new IpvsError('ERR_IPVS_UNSUPPORTED', `forwarding '${d.forwarding}' has no ipvsadm switch`);
  parts.push(sw, `-w ${d.weight}`);
  if (d.upperThreshold !== 0) parts.push(`-x ${d.upperThreshold}`);
  if (d.lowerThreshold !== 0) parts.push(`-y ${d.lowerThreshold}`);
  if (d.forwarding === 'tunnel') {
    parts.push(`--tun-type ${d.tunnelType}`);
    if (d.tunnelType === 'gue') parts.push(`--tun-port ${d.tunnelPort}`);
    if (d.tunnelType !== 'ipip') parts.push(`--tun-${d.tunnelChecksum}`);
  }
  return parts.join(' ');
}

/** One operation as one ipvsadm command line (without the leading `ipvsadm`). */
export function renderOp(op: Op): string {
  const svc = renderServiceArg(op.service);
  switch (op.kind) {
    case 'add-service':
      return `-A ${svc} ${serviceOptions(op.service)}`;
    case 'edit-service':
      return `-E ${svc} ${serviceOptions(op.service)}`;
    case 'delete-service':
      return `-D ${svc}`;
    case 'add-destination':
      return `-a ${svc} ${destinationArgs(op.destination, true)}`;
    case 'edit-destination':
      return `-e ${svc} ${destinationArgs(op.destination, true)}`;
    case 'delete-destination':
      return `-d ${svc} ${destinationArgs(op.destination, false)}`;
  }
}

export interface RenderOptions {
  /** Put this before every line, e.g. `ipvsadm` for a shell script. Default none (`ipvsadm -R` input). */
  prefix?: string;
}

/** A plan's operations as `ipvsadm -R` input, one line each, newline-terminated. */
export function renderOps(ops: readonly Op[], options: RenderOptions = {}): string {
  const pre = options.prefix === undefined || options.prefix === '' ? '' : `${options.prefix} `;
  return ops.map((op) => `${pre}${renderOp(op)}\n`).join('');
}

/** A whole table as `ipvsadm -R` input that builds it on an empty kernel (what `ipvsadm -S -n` would print). */
export function renderTable(table: readonly TableService[], options: RenderOptions = {}): string {
  return renderOps(plan(table, []).ops, options);
}
