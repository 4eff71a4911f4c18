// Minimal TypeScript loader for lab fixtures run as child processes:
//
//   node --import ./test/lab/harness/ts-register.mjs test/lab/fixtures/half-run.ts
//
// Node 20 cannot run .ts and tsx is not a dependency; ts-hooks.mjs strips types (esbuild, else
// typescript; no type check) and maps `./x.js` imports to `./x.ts` like tsc's
// NodeNext resolution does. Only for test fixtures.
import { register } from 'node:module';

register('./ts-hooks.mjs', import.meta.url);
