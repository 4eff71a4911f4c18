// `npm run build:native`: compile the addon with node-gyp and refresh the committed prebuild.
//
// Output: build/Release/lvskit_native.node (what node-gyp-build loads first inside the repo) and
// prebuilds/<platform>-<arch>/lvskit_native.napi.node (what an installed copy of lvskit loads: npm
// need not run lvskit's install script, and the binary is Node-API, so one build serves every Node
// version >= 20). node-gyp comes with npm (npm puts it on PATH for scripts); headers come from
// npm's `nodedir` setting (/usr here) or are looked up by node-gyp as usual.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = ['rebuild'];
if (process.env.npm_config_nodedir) args.push(`--nodedir=${process.env.npm_config_nodedir}`);
const r = spawnSync('node-gyp', args, { cwd: root, stdio: 'inherit' });
if (r.error || r.status !== 0) {
  console.error(`node-gyp ${args.join(' ')} failed${r.error ? `: ${r.error.message}` : ''}`);
  process.exit(1);
}
const from = path.join(root, 'build', 'Release', 'lvskit_native.node');
const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
mkdirSync(dir, { recursive: true });
const to = path.join(dir, 'lvskit_native.napi.node');
copyFileSync(from, to);
const strip = spawnSync('strip', ['--strip-unneeded', to], { stdio: 'inherit' });
if (strip.status !== 0) console.warn('strip failed; the prebuild keeps its symbols');
console.log(`prebuild: ${path.relative(root, to)}`);
