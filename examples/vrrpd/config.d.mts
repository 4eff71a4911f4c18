// Types of config.mjs (for TypeScript callers and the unit tests).
import { LvskitError } from 'lvskit';

export class VrrpdConfigError extends LvskitError {
  constructor(file: string, issues: string[]);
  readonly issues: string[];
}

export interface VrrpdInstance {
  name: string;
  interface: string;
  vrid: number;
  priority: number;
  version: 2 | 3;
  family: 'ipv4' | 'ipv6';
  advertIntervalMs: number;
  addresses: string[];
  /** Prefix length per address, where the file gave one. */
  prefixes: Record<string, number>;
  preempt: boolean;
  preemptDelayMs: number;
  vmac: boolean | string;
  accept: boolean;
  strict: boolean;
  trackInterface: boolean;
  repeatDelayMs: number;
  unicastPeers?: string[];
  notify: { any?: string[]; master?: string[]; backup?: string[]; fault?: string[]; stop?: string[] };
}

export interface VrrpdConfig {
  logLevel: string;
  notifyTimeoutMs: number;
  instances: VrrpdInstance[];
  syncGroups: { name: string; instances: string[] }[];
}

export function durationMs(v: unknown): number | undefined;
export function parseConfig(text: string, file?: string): VrrpdConfig;
export function loadConfig(file: string): Promise<VrrpdConfig>;
