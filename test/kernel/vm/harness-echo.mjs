// Harness self-test (runs inside the VM): show the environment the harness gives a script, leave a file
// for `collect`, exit 0.
import fs from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const pkg = require('lvskit/package.json');
console.log(`harness-echo: cwd=${process.cwd()} in-vm=${process.env.LVSKIT_IN_VM} greeting=${process.env.LVSKIT_TEST_GREETING}`);
console.log(`harness-echo: package ${pkg.name} resolves from ${require.resolve('lvskit/package.json')}`);
console.log(`harness-echo: kernel ${fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()}`);
fs.mkdirSync('/tmp/harness-collect', { recursive: true });
fs.writeFileSync('/tmp/harness-collect/hello.txt', 'collected from the VM\n');
// The built package imports by name through its exports map (needs `npm run build` before the tier).
const ipvs = await import('lvskit/ipvs');
console.log(`harness-echo: lvskit/ipvs loaded (${Object.keys(ipvs).length} exports)`);
