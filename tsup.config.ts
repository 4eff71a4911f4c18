import { defineConfig } from 'tsup';

// One entry per public module; each becomes dist/<name>/index.{js,cjs,d.ts,d.cts}.
export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'bgp/index': 'src/bgp/index.ts',
    'vrrp/index': 'src/vrrp/index.ts',
    'ipvs/index': 'src/ipvs/index.ts',
    'monitors/index': 'src/monitors/index.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  platform: 'node',
  splitting: false,
  treeshake: false,
  // Error classes are matched by name across the ESM and CJS builds (src/util/errors.ts).
  keepNames: true,
  // import.meta.url in the CJS build (src/util/native.ts locates the addon from it).
  shims: true,
});
