// Harness self-test (runs inside the VM): never finish. The harness must time out and kill qemu.
console.log('harness-hang: hanging forever');
setInterval(() => {}, 1 << 30);
