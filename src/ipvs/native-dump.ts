/**
 * `readTable` through lvskit's native addon (native/lvskit_nldump.c): the service dump and the
 * per-service destination dumps run in C on the libuv threadpool, on a netlink socket of the
 * addon's own, and come back as one buffer of records that is decoded here. Why: through the
 * `netlink` package each datagram costs a 64 KiB buffer, a Node Buffer, an event and a
 * send-completion timer, which under a slow CPU (the QEMU TCG VM of the benchmark) costs more than
 * the kernel's own work; see the comment at the top of the C file.
 *
 * The addon loads through src/util/native.ts; when it can't load, or is a build without
 * `nlDumpTable`, `nativeDumpAvailable()` is false and the client reads the table in JavaScript
 * (transport.ts `dumpEach`). `LVSKIT_IPVS_NATIVE=0` turns this path off.
 */
import { abortReason } from '../util/abort.js';
import { TimeoutError } from '../util/errors.js';
import { native } from '../util/native.js';
import * as K from './constants.js';
import { readDestEntryAt } from './dump.js';
import { IpvsErrno, IpvsError, errnoToIpvsError, ipvsCmdName } from './errors.js';
import { destinationFromWire, serviceFromWire, type AddressFamily, type Destination } from './model.js';
import type { TableService } from './plan.js';
import { decodeIpvsMessage } from './wire.js';

/** What native/lvskit_nldump.c adds to the addon's exports. */
export interface NlDumpBinding {
  nlDumpTable(familyId: number, timeoutMs: number): { promise: Promise<NlDumpResult>; job: object };
  nlDumpCancel(job: object): void;
}

export interface NlDumpResult {
  /** Records: u32 tag (0xffffffff: a service entry; i: an entry of the i-th service's destination dump), u32 length, the genl payload, 4-aligned. */
  data: ArrayBuffer;
  services: number;
  /** Dumps run (1 + services). */
  dumps: number;
  /** Some reply carried NLM_F_DUMP_INTR. */
  interrupted: boolean;
}

const SERVICE_TAG = 0xffff_ffff;
const ECANCELED = 125;
const ETIMEDOUT = 110;
const EMSGSIZE = 90;
const EPROTO = 71;

let checked: NlDumpBinding | null | undefined;

/** The addon's table dump, or undefined when it can't load (or has no `nlDumpTable`). Never throws. */
export function nativeDump(): NlDumpBinding | undefined {
  if (checked !== undefined) return checked ?? undefined;
  checked = null;
  if (process.env.LVSKIT_IPVS_NATIVE === '0') return undefined;
  try {
    const b = native() as unknown as Partial<NlDumpBinding>;
    if (typeof b.nlDumpTable === 'function' && typeof b.nlDumpCancel === 'function') checked = b as NlDumpBinding;
  } catch {
    // ERR_NATIVE_UNAVAILABLE: the JavaScript path reads the table
  }
  return checked ?? undefined;
}

/** True when `readTable` can use the addon. */
export function nativeDumpAvailable(): boolean {
  return nativeDump() !== undefined;
}

const u32 = (b: Uint8Array, at: number): number => ((b[at] as number) | ((b[at + 1] as number) << 8) | ((b[at + 2] as number) << 16) | ((b[at + 3] as number) << 24)) >>> 0;

/**
 * Decode the addon's records into the table: services in the kernel's order, each with its
 * destinations (settings only unless `stats`). `familyId` is the IPVS genl family's id (records of
 * other message types never reach here: the addon keeps only the family's messages).
 */
export function decodeTableRecords(data: Uint8Array, stats: boolean): TableService[] {
  const out: TableService[] = [];
  const fams: AddressFamily[] = [];
  const end = data.length;
  let at = 0;
  let list: Destination[] | undefined;
  let listOf = -1;
  while (at < end) {
    if (end - at < 8) throw new IpvsError('ERR_IPVS_PROTOCOL', `table dump: ${end - at} stray byte(s) at ${at}`);
    const tag = u32(data, at);
    const len = u32(data, at + 4);
    const start = at + 8;
    const stop = start + len;
    if (stop > end) throw new IpvsError('ERR_IPVS_PROTOCOL', `table dump: record of ${len} bytes at ${at} runs past ${end}`);
    if (tag === SERVICE_TAG) {
      const w = decodeIpvsMessage(data, start, stop, { skipStats: !stats }).attrs?.service;
      if (w === undefined) throw new IpvsError('ERR_IPVS_PROTOCOL', 'table dump: service entry without a service');
      const s: TableService = serviceFromWire(w);
      s.destinations = [];
      out.push(s);
      fams.push(w.af === 10 ? 'ipv6' : 'ipv4');
    } else {
      if (tag !== listOf) {
        const s = out[tag];
        if (s === undefined) throw new IpvsError('ERR_IPVS_PROTOCOL', `table dump: destination of service ${tag} of ${out.length}`);
        list = s.destinations as Destination[];
        listOf = tag;
      }
      const family = fams[tag] as AddressFamily;
      if (stats) {
        const d = decodeIpvsMessage(data, start, stop).attrs?.dest;
        if (d !== undefined) (list as Destination[]).push(destinationFromWire(d, family));
      } else {
        const d = readDestEntryAt(data, start, stop, family);
        if (d !== undefined) (list as Destination[]).push(d);
      }
    }
    at = start + ((len + 3) & ~3);
  }
  return out;
}

/** `readTable` through the addon. Errors are typed as the JavaScript path types them. */
export async function nativeReadTable(
  b: NlDumpBinding,
  familyId: number,
  o: { signal?: AbortSignal; timeoutMs: number; stats: boolean },
): Promise<{ table: TableService[]; dumps: number; interrupted: boolean }> {
  const signal = o.signal;
  if (signal?.aborted) throw abortReason(signal);
  const { promise, job } = b.nlDumpTable(familyId, Math.max(1, Math.min(0x7fff_ffff, Math.ceil(o.timeoutMs))));
  let onAbort: (() => void) | undefined;
  let result: NlDumpResult;
  try {
    result = await (signal === undefined
      ? promise
      : Promise.race([
          promise,
          new Promise<never>((_, reject) => {
            onAbort = () => {
              // The addon stops within 50 ms and closes its socket (which ends the kernel's dump).
              b.nlDumpCancel(job);
              reject(abortReason(signal));
            };
            signal.addEventListener('abort', onAbort, { once: true });
          }),
        ]));
  } catch (e) {
    // A rejection after an abort was already reported: keep the abort's reason.
    if (signal?.aborted) throw abortReason(signal);
    throw typedError(e, o.timeoutMs);
  } finally {
    if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
  }
  const data = new Uint8Array(result.data);
  let table: TableService[];
  try {
    table = decodeTableRecords(data, o.stats);
  } catch (e) {
    if (e instanceof IpvsError) throw e;
    throw new IpvsError('ERR_IPVS_PROTOCOL', `table dump: undecodable entry: ${(e as Error)?.message ?? String(e)}`, { cause: e });
  }
  return { table, dumps: result.dumps, interrupted: result.interrupted };
}

/** The addon's rejection (`{ errno, syscall, index }`) as the error the JavaScript path would give. */
export function typedError(e: unknown, timeoutMs: number): Error {
  const x = e as { errno?: unknown; syscall?: unknown; index?: unknown; message?: unknown };
  const errno = typeof x?.errno === 'number' ? x.errno : undefined;
  const index = typeof x?.index === 'number' ? x.index : -1;
  const cmd = index < 0 ? K.IPVS_CMD_GET_SERVICE : K.IPVS_CMD_GET_DEST;
  const what = index < 0 ? undefined : `destinations of service #${index}`;
  if (errno === undefined) return new IpvsError('ERR_IPVS_PROTOCOL', `table dump failed: ${String(x?.message ?? e)}`, { cause: e, cmd });
  if (errno === ETIMEDOUT && x.syscall === 'recvmsg') return new TimeoutError(timeoutMs, `${ipvsCmdName(cmd)}${what === undefined ? '' : ` (${what})`}`);
  if (errno === EPROTO || errno === EMSGSIZE) return new IpvsError('ERR_IPVS_PROTOCOL', `table dump: ${String(x.message)}`, { cause: e, cmd, errno });
  if (errno === ECANCELED) return new IpvsError('ERR_IPVS_CLOSED', 'table dump cancelled', { cause: e, cmd });
  if (x.syscall === 'kernel' || errno === IpvsErrno.ENOBUFS) return errnoToIpvsError(errno, cmd, what);
  return new IpvsError('ERR_IPVS_KERNEL', `table dump: ${String(x.message)}`, { cause: e, cmd, errno });
}
