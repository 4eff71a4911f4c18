/**
 * Accept_Mode off (RFC 9568 §6.1): a master that is not the address owner does
 * not accept packets addressed to the virtual addresses. Like keepalived's
 * `no_accept`, done with nftables; here over NETLINK_NETFILTER directly (the
 * `netlink` package's raw socket, messages from netlink-attrs.ts), never by
 * running `nft`. A transport file: it touches netlink and nothing else.
 *
 * Each `AcceptFilter` has its own tables, one per family (`ip` / `ip6`), named
 * `lvskit_vrrp_<pid>_<port>` (the process id and the netlink port of its
 * socket, in hex; the port is unique in the network namespace while the socket
 * lives), each with an input chain (hook input, priority 0) that drops packets to
 * the listed addresses; IPv6 neighbour solicitations and advertisements to them
 * pass (RFC 5798 §6.1: they MUST NOT be dropped). ARP is not IP, so never
 * touched: a master still answers for the addresses, forwards through them, and
 * sends its GARP / NA. The rules stand whether the instance is master or
 * backup: a backup holds no virtual address, so nothing addressed to one is
 * accepted there anyway.
 *
 * Several processes (and several filters in one process) therefore coexist in
 * one network namespace: a packet is dropped when any filter's chain drops it,
 * and each filter only ever changes or deletes its own tables. The tables are
 * made with NFT_TABLE_F_OWNER (Linux 5.12): the kernel refuses changes from any
 * other socket and deletes them when this filter's socket closes — on `close()`,
 * on exit, and when the process is killed or crashes — so no stale rules of a
 * dead process are ever left to clean up. On an older kernel (EOPNOTSUPP) the
 * tables are made without the flag (`owned` is false); a crashed process then
 * leaves its tables behind, named with its pid, and nothing here deletes them:
 * a table of another process is never touched.
 *
 * Every `set` replaces the filter's tables in one transaction; `clear` deletes them.
 */
import type * as NetlinkPackage from 'netlink';
import { type AddressFamily, addressFamily, parseIp } from './address.js';
import { VrrpError } from './errors.js';
import { NETLINK_NETFILTER, nftAcceptBatch, parseNetlinkAcks } from './netlink-attrs.js';

type RawSocket = NetlinkPackage.RawNetlinkSocket;

const ERRNO: Record<number, string> = { 1: 'EPERM', 2: 'ENOENT', 12: 'ENOMEM', 16: 'EBUSY', 17: 'EEXIST', 22: 'EINVAL', 93: 'EPROTONOSUPPORT', 95: 'EOPNOTSUPP' };

export interface AcceptFilterOptions {
  /**
   * nftables table name, one per family (default `lvskit_vrrp_<pid>_<netlink port in hex>`,
   * unique in the network namespace). Up to 31 of [A-Za-z0-9_-]. A fixed name shared by two
   * filters makes them replace each other's rules.
   */
  table?: string;
  /** Bound on each transaction (default 5 s). */
  timeoutMs?: number;
}

/** nftables rules that keep a non-owner master from accepting packets to its virtual addresses. */
export class AcceptFilter {
  readonly #sock: RawSocket;
  readonly #table: string;
  /** NFT_TABLE_F_OWNER in use (until the kernel says EOPNOTSUPP). */
  #owner = true;
  readonly #timeoutMs: number;
  #seq = Math.floor(Math.random() * 0x10000) * 0x1000;
  #tail: Promise<unknown> = Promise.resolve();
  #closed = false;
  readonly #installed = new Set<AddressFamily>();

  private constructor(sock: RawSocket, opts: AcceptFilterOptions) {
    this.#sock = sock;
    this.#table = opts.table ?? `lvskit_vrrp_${process.pid}_${(sock.address().port >>> 0).toString(16)}`;
    if (!/^[A-Za-z0-9_-]{1,31}$/.test(this.#table)) throw new VrrpError('ERR_VRRP_CONFIG', `nftables table name '${this.#table}': 1-31 of [A-Za-z0-9_-]`);
    this.#timeoutMs = opts.timeoutMs ?? 5_000;
  }

  /** Open a NETLINK_NETFILTER socket. `ERR_VRRP_NETLINK` when it cannot be opened. */
  static async open(opts: AcceptFilterOptions = {}): Promise<AcceptFilter> {
    try {
      const mod = (await import('netlink')) as unknown as { default?: typeof NetlinkPackage } & typeof NetlinkPackage;
      const nl = mod.RawNetlinkSocket === undefined ? mod.default : mod;
      if (nl?.RawNetlinkSocket === undefined) throw new Error('the netlink package has no RawNetlinkSocket');
      const sock = new nl.RawNetlinkSocket(NETLINK_NETFILTER, {} as NetlinkPackage.RawNetlinkSocketOptions);
      sock.on('error', () => {});
      sock.unref();
      try {
        return new AcceptFilter(sock, opts);
      } catch (e) {
        sock.close();
        throw e;
      }
    } catch (e) {
      if (e instanceof VrrpError) throw e;
      throw new VrrpError('ERR_VRRP_NETLINK', `nfnetlink unavailable: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  }

  /** The tables' name (the same in both families). */
  get table(): string {
    return this.#table;
  }

  /** Whether the tables belong to this filter's socket (NFT_TABLE_F_OWNER): the kernel deletes them when it closes. */
  get owned(): boolean {
    return this.#owner;
  }

  /** Drop packets to `addresses` (both families as given; a family left out has its table deleted). */
  async set(addresses: readonly string[]): Promise<void> {
    const by: Record<AddressFamily, Uint8Array[]> = { ipv4: [], ipv6: [] };
    for (const a of addresses) {
      const f = addressFamily(a);
      if (f === undefined) throw new VrrpError('ERR_VRRP_ADDRESS', `'${a}' is not an IPv4 or IPv6 address`);
      by[f].push(parseIp(a, f));
    }
    for (const f of ['ipv4', 'ipv6'] as const) {
      if (by[f].length === 0 && !this.#installed.has(f)) continue;
      await this.#transact(f, by[f]);
      if (by[f].length > 0) this.#installed.add(f);
      else this.#installed.delete(f);
    }
  }

  /** Delete this filter's tables (never another filter's or process's). */
  async clear(): Promise<void> {
    for (const f of ['ipv4', 'ipv6'] as const) {
      await this.#transact(f, []);
      this.#installed.delete(f);
    }
  }

  #transact(family: AddressFamily, addresses: Uint8Array[]): Promise<void> {
    if (this.#closed) return Promise.reject(new VrrpError('ERR_VRRP_CLOSED', 'AcceptFilter is closed'));
    const run = async (): Promise<void> => {
      try {
        await this.#once(family, addresses);
      } catch (e) {
        // Linux before 5.12 has no NFT_TABLE_F_OWNER: plain tables, left behind by a crash.
        if (!(this.#owner && e instanceof VrrpError && / EOPNOTSUPP$/.test(e.message))) throw e;
        this.#owner = false;
        await this.#once(family, addresses);
      }
    };
    const p = this.#tail.then(run, run);
    this.#tail = p.catch(() => undefined);
    return p;
  }

  #once(family: AddressFamily, addresses: Uint8Array[]): Promise<void> {
    const batch = nftAcceptBatch({ family, table: this.#table, addresses, seq: this.#seq, owner: this.#owner });
    this.#seq = (this.#seq + batch.acked.length + 2) % 0x7fffffff;
    const waiting = new Set(batch.acked);
    return new Promise<void>((resolve, reject) => {
      const done = (err?: Error): void => {
        clearTimeout(timer);
        this.#sock.off('message', onMessage);
        this.#sock.unref();
        if (err === undefined) resolve();
        else reject(err);
      };
      const onMessage = (buf: Buffer): void => {
        for (const { seq, error } of parseNetlinkAcks(buf)) {
          if (!waiting.has(seq)) continue;
          if (error !== 0) {
            const name = ERRNO[-error] ?? `errno ${-error}`;
            done(new VrrpError('ERR_VRRP_NETLINK', `nftables ${family} table ${this.#table}: ${name}`));
            return;
          }
          waiting.delete(seq);
        }
        if (waiting.size === 0) done();
      };
      const timer = setTimeout(() => done(new VrrpError('ERR_VRRP_NETLINK', `nftables ${family} table ${this.#table}: no answer in ${this.#timeoutMs} ms`)), this.#timeoutMs);
      this.#sock.on('message', onMessage);
      this.#sock.ref();
      this.#sock.send(batch.bytes, {}, (err) => {
        if (err !== undefined && err !== null) done(new VrrpError('ERR_VRRP_NETLINK', `nftables send: ${err.code}`, { cause: err }));
      });
    });
  }

  /** Close the socket; owned tables go with it (the kernel deletes them). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#sock.close();
    } catch {
      // already closed
    }
  }
}
