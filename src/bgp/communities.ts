/**
 * Communities in text and numbers: standard (RFC 1997, well-known values from
 * the IANA registry), large (RFC 8092) and extended (RFC 4360, carried as a
 * 64-bit `bigint`).
 */
import { LvskitError } from '../util/errors.js';

/** Well-known communities (RFC 1997 §4; IANA "BGP Well-known Communities"). */
export const WellKnownCommunity = {
  /** RFC 8326 */
  GRACEFUL_SHUTDOWN: 0xffff0000,
  /** RFC 7611 */
  ACCEPT_OWN: 0xffff0001,
  /** RFC 7999 */
  BLACKHOLE: 0xffff029a,
  /** RFC 1997 */
  NO_EXPORT: 0xffffff01,
  NO_ADVERTISE: 0xffffff02,
  NO_EXPORT_SUBCONFED: 0xffffff03,
  /** RFC 3765 */
  NOPEER: 0xffffff04,
} as const;

const NAMES: Record<string, number> = {
  'graceful-shutdown': WellKnownCommunity.GRACEFUL_SHUTDOWN,
  'accept-own': WellKnownCommunity.ACCEPT_OWN,
  blackhole: WellKnownCommunity.BLACKHOLE,
  'no-export': WellKnownCommunity.NO_EXPORT,
  'no-advertise': WellKnownCommunity.NO_ADVERTISE,
  'no-export-subconfed': WellKnownCommunity.NO_EXPORT_SUBCONFED,
  'local-as': WellKnownCommunity.NO_EXPORT_SUBCONFED,
  'no-peer': WellKnownCommunity.NOPEER,
};
const BY_VALUE = new Map<number, string>();
for (const [k, v] of Object.entries(NAMES)) if (!BY_VALUE.has(v)) BY_VALUE.set(v, k);

function invalid(text: string, what: string): LvskitError {
  return new LvskitError('ERR_BGP_INVALID_COMMUNITY', `not a ${what}: ${JSON.stringify(text)}`);
}

function u(text: string, max: number): number | undefined {
  if (!/^(0|[1-9][0-9]*)$/.test(text)) return undefined;
  const v = Number(text);
  return v <= max ? v : undefined;
}

/** `'65000:100'`, a well-known name (`'no-export'`), or a number, to the 32-bit community value. */
export function parseCommunity(text: string | number): number {
  if (typeof text === 'number') {
    if (!Number.isInteger(text) || text < 0 || text > 0xffffffff) throw invalid(String(text), 'community');
    return text;
  }
  const named = NAMES[text.toLowerCase()];
  if (named !== undefined) return named;
  const parts = text.split(':');
  if (parts.length !== 2) throw invalid(text, 'community');
  const hi = u(parts[0] as string, 0xffff);
  const lo = u(parts[1] as string, 0xffff);
  if (hi === undefined || lo === undefined) throw invalid(text, 'community');
  return hi * 0x10000 + lo;
}

/** A community value as text: the well-known name when it has one, else `asn:value`. */
export function formatCommunity(value: number): string {
  return BY_VALUE.get(value) ?? `${Math.floor(value / 0x10000)}:${value % 0x10000}`;
}

/** A large community (RFC 8092 §3): three 32-bit numbers. */
export interface LargeCommunity {
  globalAdmin: number;
  localData1: number;
  localData2: number;
}

export function parseLargeCommunity(text: string): LargeCommunity {
  const parts = text.split(':');
  const nums = parts.map((p) => u(p, 0xffffffff));
  if (nums.length !== 3 || nums.some((n) => n === undefined)) throw invalid(text, 'large community');
  return { globalAdmin: nums[0] as number, localData1: nums[1] as number, localData2: nums[2] as number };
}

export function formatLargeCommunity(c: LargeCommunity): string {
  return `${c.globalAdmin}:${c.localData1}:${c.localData2}`;
}

/**
 * A 2-octet-AS-specific route target (RFC 4360 §4: type 0x00, subtype 0x02) as
 * an extended community value. Other kinds can be built from their 8 bytes.
 */
export function routeTarget(asn: number, value: number): bigint {
  if (!Number.isInteger(asn) || asn < 0 || asn > 0xffff) throw new RangeError(`route target AS ${asn} is not 2-octet`);
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new RangeError(`route target value ${value}`);
  return (0x0002n << 48n) | (BigInt(asn) << 32n) | BigInt(value);
}
