// VipManager (rtnetlink) inside a lab namespace, checked against what `ip` shows: interface facts,
// idempotent add / remove of virtual addresses (IPv6 without DAD, RFC 9568 §8.2.2), typed errors.

import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLab } from '../harness/netlab.js';
import type { Lab } from '../harness/netlab.js';
import { TS_REGISTER } from '../harness/probes.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/vips.ts', import.meta.url));
const V4 = '10.54.0.100';
const V6 = 'fd00:54::100';

let lab: Lab<'r'>;

beforeAll(async () => {
  lab = await createLab({ hosts: { r: { ipv4: ['10.54.0.1/24', '10.54.0.2/24'], ipv6: ['fd00:54::1/64'] } } });
});

afterAll(async () => {
  await lab?.destroy();
});

interface Step {
  step: string;
  ok?: unknown;
  error?: { name: string; code: string; message: string };
}

describe('VipManager over rtnetlink', () => {
  it('reads the interface, adds and removes VIPs idempotently, and fails with typed errors', async () => {
    const r = await lab.exec('r', [process.execPath, '--import', TS_REGISTER, FIXTURE, JSON.stringify({ iface: 'eth0', v4: V4, v6: V6 })], { timeoutMs: 60_000 });
    expect(r.stdout).not.toMatch(/^error /m);
    const steps = new Map(
      r.stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Step)
        .map((s) => [s.step, s]),
    );
    const got = (name: string): Step => {
      const s = steps.get(name);
      if (s === undefined) throw new Error(`step ${name} missing: ${r.stdout}${r.stderr}`);
      return s;
    };

    // Interface facts agree with `ip`.
    const link = (JSON.parse((await lab.ip('r', ['-j', 'address', 'show', 'dev', 'eth0'], { check: true })).stdout) as {
      ifindex: number;
      address: string;
      addr_info: { family: string; local: string; scope: string }[];
    }[])[0];
    const info = got('info').ok as { index: number; mac: string; up: boolean; running: boolean; primaryIpv4: string; linkLocalIpv6: string };
    expect(info.index).toBe(link?.ifindex);
    expect(info.mac).toBe(link?.address);
    expect(info.up && info.running).toBe(true);
    // The first address of the subnet is primary, the second secondary.
    expect(info.primaryIpv4).toBe('10.54.0.1');
    expect(info.linkLocalIpv6).toBe(link?.addr_info.find((a) => a.family === 'inet6' && a.scope === 'link')?.local);

    expect(got('info-missing').error).toMatchObject({ name: 'VrrpError', code: 'ERR_VRRP_INTERFACE' });
    expect(got('add').error).toBeUndefined();
    expect(got('add-again').error).toBeUndefined();
    const added = got('after-add').ok as { address: string; prefixLength: number; tentative: boolean }[];
    expect(added).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ address: V4, prefixLength: 32 }),
        expect.objectContaining({ address: V6, prefixLength: 128, tentative: false }),
      ]),
    );
    expect(added).toHaveLength(2);
    expect(got('remove').error).toBeUndefined();
    expect(got('remove-again').error).toBeUndefined();
    expect(got('after-remove').ok).toEqual([]);
    expect(got('add-bad-address').error).toMatchObject({ name: 'VrrpError', code: 'ERR_VRRP_ADDRESS' });
    expect(got('add-bad-prefix').error).toMatchObject({ name: 'VrrpError', code: 'ERR_VRRP_CONFIG' });
    expect(got('add-no-device').error).toMatchObject({ name: 'VrrpError', code: 'ERR_VRRP_NETLINK' });
    expect(got('add-no-device').error?.message).toMatch(/ENODEV/);
    expect(got('transport-missing-interface').error).toMatchObject({ name: 'VrrpError', code: 'ERR_VRRP_INTERFACE' });
    expect(got('transport-no-interface').error).toMatchObject({ name: 'VrrpError', code: 'ERR_VRRP_CONFIG' });
    expect(got('closed').error).toMatchObject({ name: 'VrrpError', code: 'ERR_VRRP_CLOSED' });
    // Nothing left behind.
    const after = await lab.ip('r', ['address', 'show', 'dev', 'eth0'], { check: true });
    expect(after.stdout).not.toContain(V4);
    expect(after.stdout).not.toContain(V6);
  });
});
