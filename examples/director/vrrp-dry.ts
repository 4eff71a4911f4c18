/**
 * VRRP in dry run: the instances run lvskit/vrrp's real state machine
 * (`VrrpRouter`), on a link of their own where no other router speaks, and
 * what they would do on the wire and on the interface is logged instead of
 * done. Nothing is sent, no address is configured, no raw socket is opened, so
 * it needs no privileges and never disturbs a LAN.
 *
 * What a keepalived user sees: each instance starts as BACKUP (MASTER at once
 * when it owns the addresses, priority 255), becomes MASTER after
 * Master_Down_Interval (3 x advert interval + skew) since it hears no master,
 * goes to FAULT while a vital tracked pool is empty, and back. The VIP changes
 * a master would make are logged as the `ip addr` commands that do the same,
 * like the IPVS dry run logs ipvsadm commands; adverts and gratuitous ARP / NA
 * are counted (one log line per master episode, not one per advert).
 */
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Logger } from 'lvskit';
import type { AddressFamily, VrrpTransport } from 'lvskit/vrrp';

/** What the dry run would have done, per instance (status, tests). */
export interface DryVrrpCounts {
  adverts: number;
  frames: number;
  /** Addresses a real transport would have on the interface now. */
  addresses: string[];
}

const hostPrefix = (a: string): string => (isIP(a) === 6 ? `${a}/128` : `${a}/32`);

/** A `VrrpTransport` that logs instead of acting. `interfaces`: instance name -> interface name. */
export class DryRunVrrpTransport implements VrrpTransport {
  readonly #log: Logger;
  readonly #ifOf: ReadonlyMap<string, string>;
  readonly #counts = new Map<string, DryVrrpCounts>();
  /** Instances whose first advert of the current master episode was logged. */
  readonly #told = new Set<string>();

  constructor(interfaces: ReadonlyMap<string, string>, logger: Logger) {
    this.#ifOf = interfaces;
    this.#log = logger;
    for (const name of interfaces.keys()) this.#counts.set(name, { adverts: 0, frames: 0, addresses: [] });
  }

  counts(instance: string): DryVrrpCounts | undefined {
    const c = this.#counts.get(instance);
    return c === undefined ? undefined : { ...c, addresses: [...c.addresses] };
  }

  #c(instance: string): DryVrrpCounts {
    let c = this.#counts.get(instance);
    if (c === undefined) this.#counts.set(instance, (c = { adverts: 0, frames: 0, addresses: [] }));
    return c;
  }

  sendAdvert(instance: string, packet: { family: AddressFamily; src: string; dst: string; payload: Uint8Array }): void {
    this.#c(instance).adverts++;
    if (this.#told.has(instance)) return;
    this.#told.add(instance);
    this.#log.info({ instance, src: packet.src, dst: packet.dst, dryRun: true }, 'would send VRRP adverts (counted, not logged each)');
  }

  sendFrame(instance: string): void {
    this.#c(instance).frames++;
  }

  addAddresses(instance: string, addresses: readonly string[]): void {
    const c = this.#c(instance);
    const dev = this.#ifOf.get(instance) ?? '?';
    for (const a of addresses) {
      if (!c.addresses.includes(a)) c.addresses.push(a);
      this.#log.info({ instance, cmd: `ip addr add ${hostPrefix(a)} dev ${dev}`, dryRun: true }, 'would run');
    }
  }

  removeAddresses(instance: string, addresses: readonly string[]): void {
    const c = this.#c(instance);
    const dev = this.#ifOf.get(instance) ?? '?';
    this.#told.delete(instance);
    for (const a of addresses) {
      c.addresses = c.addresses.filter((x) => x !== a);
      this.#log.info({ instance, cmd: `ip addr del ${hostPrefix(a)} dev ${dev}`, dryRun: true }, 'would run');
    }
  }

  claim(instance: string, addresses: readonly string[], frames: readonly Uint8Array[]): void {
    this.addAddresses(instance, addresses);
    this.#c(instance).frames += frames.length;
    this.#log.info({ instance, frames: frames.length, dryRun: true }, 'would send gratuitous ARP / unsolicited NA for the VIPs');
  }
}

/**
 * The interface facts a dry run uses when the config gives none: the host's own when it has the
 * interface (read from `os.networkInterfaces()`, no netlink), or documentation values otherwise.
 */
export function dryInterfaceFacts(name: string, family: AddressFamily): { primary: string; mac: string; found: boolean } {
  const list = networkInterfaces()[name];
  const v4 = list?.find((x) => x.family === 'IPv4');
  const v6 = list?.find((x) => x.family === 'IPv6' && x.address.toLowerCase().startsWith('fe80:'));
  const mac = list?.find((x) => x.mac !== '00:00:00:00:00:00')?.mac ?? '02:00:5e:00:00:01';
  const primary = family === 'ipv6' ? (v6?.address.replace(/%.*$/, '') ?? 'fe80::1') : (v4?.address ?? '192.0.2.1');
  return { primary, mac, found: list !== undefined };
}
