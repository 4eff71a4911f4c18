// Harness self-test (runs inside the VM): crash the kernel through magic SysRq. The harness must notice
// "Kernel panic" and reject with ERR_VM_PANIC.
import fs from 'node:fs';

console.log('harness-panic: triggering a crash');
fs.writeFileSync('/proc/sysrq-trigger', 'c');
console.log('harness-panic: still alive?!');
