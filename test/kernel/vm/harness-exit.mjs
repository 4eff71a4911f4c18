// Harness self-test (runs inside the VM): output on both streams, then exit with a chosen code.
const code = Number(process.env.LVSKIT_TEST_EXIT_CODE ?? '7');
console.log(`harness-exit: stdout line, will exit ${code}`);
console.error('harness-exit: stderr line');
process.exitCode = code;
