import { defineConfig } from 'tsup';

// One entry per public module; each becomes dist/<name>/index.{js,cjs,d.ts,d.cts}.
export default defineConfig([{
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
  // dist/director is the second build's (below): not cleaned here, so the two builds never race.
  clean: ['!director/**'],
  target: 'node20',
  platform: 'node',
  splitting: false,
  treeshake: false,
  // Error classes are matched by name across the ESM and CJS builds (src/util/errors.ts).
  keepNames: true,
  // import.meta.url in the CJS build (src/util/native.ts locates the addon from it).
  shims: true,
},
{
  // The example director (bin `lvskit-director`). It imports lvskit by package name, resolved at
  // run time through the exports map (self-reference in the repo, node_modules once installed).
  entry: { 'director/cli': 'examples/director/cli.ts' },
  external: ['lvskit', /^lvskit\//],
  format: ['esm'],
  dts: false,
  sourcemap: true,
  clean: false,
  target: 'node20',
  platform: 'node',
  splitting: false,
  keepNames: true,
},
{
  // `lvskit/director`: the director as a function (startDirector), for tools that embed it; ESM and
  // CJS with types. lvskit's own modules stay imports (types included), not copies.
  entry: { 'director/index': 'examples/director/index.ts' },
  external: ['lvskit', /^lvskit\//],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: false,
  target: 'node20',
  platform: 'node',
  splitting: false,
  keepNames: true,
  // import.meta.url in the CJS build (config.ts: big files are parsed in a worker loading the ESM file only).
  shims: true,
}]);
