// Two labs at once in one process: distinct names, and no traffic crosses between them even with
// identical addresses (each lab is its own segment).

import { describe, expect, test } from 'vitest';
import { createLab, listNamespaces } from './harness/netlab.js';
import { ping, startBannerServer, tcpProbe } from './harness/probes.js';

const spec = {
  hosts: {
    r1: { ipv4: ['10.30.0.1/24'], ipv6: ['fd00:30::1/64'] },
    d1: { ipv4: ['10.30.0.2/24'], ipv6: ['fd00:30::2/64'] },
  },
} as const;

describe('two labs at once', () => {
  test('distinct namespaces, same addresses, no interference', async () => {
    const made = await Promise.allSettled([createLab(spec), createLab(spec)]);
    const labs = made.flatMap((m) => (m.status === 'fulfilled' ? [m.value] : []));
    const [a, b] = labs;
    if (a === undefined || b === undefined) {
      await Promise.all(labs.map((l) => l.destroy()));
      throw made.find((m) => m.status === 'rejected')?.reason;
    }
    try {
      expect(a.id).not.toBe(b.id);
      const names = [...a.namespaces, ...b.namespaces];
      expect(new Set(names).size).toBe(6);
      expect(listNamespaces()).toEqual(expect.arrayContaining(names));

      await startBannerServer(a, 'd1', 8080, 'lab-a');
      await startBannerServer(b, 'd1', 8080, 'lab-b');
      // Same address and port, different answer: each r1 reaches its own lab's d1.
      const [fromA4, fromB4, fromA6, fromB6] = await Promise.all([
        tcpProbe(a, 'r1', '10.30.0.2', 8080),
        tcpProbe(b, 'r1', '10.30.0.2', 8080),
        tcpProbe(a, 'r1', 'fd00:30::2', 8080),
        tcpProbe(b, 'r1', 'fd00:30::2', 8080),
      ]);
      expect([fromA4, fromB4, fromA6, fromB6]).toEqual([{ data: 'lab-a' }, { data: 'lab-b' }, { data: 'lab-a' }, { data: 'lab-b' }]);

      // Destroying one leaves the other working.
      await a.destroy();
      for (const ns of a.namespaces) expect(listNamespaces()).not.toContain(ns);
      expect(listNamespaces()).toEqual(expect.arrayContaining([...b.namespaces]));
      expect(await ping(b, 'r1', b.hosts.d1.addr6)).toBe(true);
      expect(await tcpProbe(b, 'r1', '10.30.0.2', 8080)).toEqual({ data: 'lab-b' });
    } finally {
      await Promise.all([a.destroy(), b.destroy()]);
    }
    for (const ns of [...a.namespaces, ...b.namespaces]) expect(listNamespaces()).not.toContain(ns);
  });
});
