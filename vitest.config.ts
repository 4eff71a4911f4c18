import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Examples import lvskit by package name; in tests that name means the sources (no build needed).
// The built bin and the packed package are checked against dist (test/unit/package.test.ts).
const src = fileURLToPath(new URL('./src/', import.meta.url));
const resolve = {
  alias: [
    { find: /^lvskit$/, replacement: `${src}index.ts` },
    { find: /^lvskit\/(bgp|vrrp|ipvs|monitors)$/, replacement: `${src}$1/index.ts` },
  ],
};

// Four tiers, one vitest project each (see ../shared/DESIGN.md "Testing tiers").
// Run one with `npm run test:<tier>`; scripts/tier.mjs checks the tier's prerequisites first.
export default defineConfig({
  test: {
    projects: [
      {
        resolve,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        resolve,
        test: {
          name: 'loopback',
          include: ['test/loopback/**/*.test.ts'],
          environment: 'node',
          testTimeout: 30_000,
        },
      },
      {
        resolve,
        test: {
          name: 'lab',
          include: ['test/lab/**/*.test.ts'],
          environment: 'node',
          // Removes namespaces left by earlier runs whose owner died (only those it has a record of).
          globalSetup: ['test/lab/harness/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
          // Namespaces, veths and daemons are machine-wide: one file at a time.
          fileParallelism: false,
        },
      },
      {
        resolve,
        test: {
          name: 'kernel',
          include: ['test/kernel/**/*.test.ts'],
          environment: 'node',
          testTimeout: 600_000,
          hookTimeout: 600_000,
          // One QEMU at a time: this machine has 2 cores and TCG wants one of them.
          fileParallelism: false,
        },
      },
    ],
  },
});
