/**
 * The director's dry-run IPVS driver plans only the services whose desired
 * object changed (plus those no longer desired), and its simulated table still
 * ends up equal to what a full plan would give.
 */
import { noopLogger } from 'lvskit';
import { plan, type TableService } from 'lvskit/ipvs';
import { describe, expect, it } from 'vitest';
import { IpvsDriver, type IpvsApplied } from '../../../examples/director/ipvs.js';

const svc = (vip: string, weights: number[]): TableService => ({
  protocol: 'tcp',
  address: vip,
  port: 80,
  scheduler: 'wrr',
  destinations: weights.map((w, i) => ({ address: `10.0.0.${i + 1}`, port: 80, weight: w, forwarding: 'masq' })),
});

async function run(d: IpvsDriver, desired: TableService[]): Promise<IpvsApplied | undefined> {
  let got: IpvsApplied | undefined;
  const on = (a: IpvsApplied): void => {
    got = a;
  };
  d.on('applied', on);
  await d.set(() => desired, 'test');
  d.off('applied', on);
  return got;
}

describe('dry-run IPVS driver', () => {
  it('plans only changed services, deletes the ones no longer desired, and matches a full plan', async () => {
    const d = new IpvsDriver(undefined, { logger: noopLogger, batchMs: 0 });
    const a = svc('192.0.2.1', [1, 1, 1]);
    const b = svc('192.0.2.2', [2, 2]);
    const c = svc('192.0.2.3', [3]);
    expect((await run(d, [a, b, c]))?.ops).toHaveLength(3 + 6);
    // Same objects: nothing planned, nothing applied.
    expect(await run(d, [a, b, c])).toBeUndefined();
    // b changed (one weight to 0): one edit; a and c are not looked at.
    const b2 = svc('192.0.2.2', [2, 0]);
    const r = await run(d, [a, b2, c]);
    expect(r?.commands).toEqual(['ipvsadm -e -t 192.0.2.2:80 -r 10.0.0.2:80 -m -w 0']);
    // c gone: deleted; a new d.
    const dd = svc('192.0.2.4', [4]);
    const r2 = await run(d, [a, b2, dd]);
    expect(r2?.commands).toEqual(expect.arrayContaining(['ipvsadm -D -t 192.0.2.3:80', 'ipvsadm -A -t 192.0.2.4:80 -s wrr']));
    // The simulated table is what a full plan from nothing would build for the desired table.
    const table = await d.readTable();
    expect(plan([a, b2, dd], table, { ownAll: true }).ops).toEqual([]);
    expect(table.map((t) => ('address' in t ? t.address : '')).sort()).toEqual(['192.0.2.1', '192.0.2.2', '192.0.2.4']);
    await d.close();
  });
});
