// Types of reload.mjs (for TypeScript callers and the unit tests).
import type { VrrpdConfig, VrrpdInstance } from './config.mjs';

export const IN_PLACE: readonly string[];
export const RESTART: readonly string[];

export interface VrrpdUnit {
  key: string;
  names: string[];
  group: { name: string; instances: string[] } | undefined;
}

export interface VrrpdReloadPlan {
  remove: string[];
  add: string[];
  unchanged: string[];
  restart: { unit: string; why: string }[];
  update: { unit: string; instance: string; changed: string[] }[];
}

export function unitsOf(config: Pick<VrrpdConfig, 'instances' | 'syncGroups'>): Map<string, VrrpdUnit>;
export function planReload(running: Pick<VrrpdConfig, 'instances' | 'syncGroups'>, next: Pick<VrrpdConfig, 'instances' | 'syncGroups'>): VrrpdReloadPlan;
export function reprefixed(a: VrrpdInstance, b: VrrpdInstance): string[];
