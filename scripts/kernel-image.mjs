#!/usr/bin/env node
// Prepare (or find in .cache/kernel/) the QEMU image of the kernel test tier: a stock Debian cloud kernel
// with IPVS plus an initramfs with busybox, node and ipvsadm. See test/kernel/harness/.
//
//   node scripts/kernel-image.mjs           prepare; print the image paths and whether it was a cache hit
//   node scripts/kernel-image.mjs --check   exit 0 when the kernel tier can run (building the image if
//                                           needed), else print the reason on stderr and exit 1
//   node scripts/kernel-image.mjs --json    print the result as JSON
//
// Bounded: gives up after LVSKIT_KERNEL_IMAGE_TIMEOUT_MS (default 600000) instead of hanging.
import { checkHost, prepareImage } from '../test/kernel/harness/image.mjs';

const args = new Set(process.argv.slice(2));
const check = args.has('--check');
const json = args.has('--json');
const unknown = [...args].filter((a) => !['--check', '--json'].includes(a));
if (unknown.length) {
  console.error(`kernel-image: unknown argument ${unknown.join(' ')} (use --check or --json)`);
  process.exit(2);
}

const limitMs = Number(process.env.LVSKIT_KERNEL_IMAGE_TIMEOUT_MS ?? 600_000);
const guard = setTimeout(() => {
  console.error(`kernel-image: gave up after ${limitMs} ms preparing the VM image`);
  process.exit(1);
}, limitMs);
guard.unref();

const problems = checkHost();
if (problems.length) {
  console.error(`kernel tier cannot run: ${problems.join('; ')}`);
  process.exit(1);
}

try {
  const t0 = Date.now();
  const img = await prepareImage({ log: (msg) => console.error(`kernel-image: ${msg}`) });
  const ms = Date.now() - t0;
  if (json) console.log(JSON.stringify({ ...img, ms }));
  else if (!check) {
    console.log(`${img.cacheHit ? 'cache hit' : 'built'} in ${ms} ms: ${img.dir}`);
    console.log(`  kernel    ${img.kernel} (${img.kernelPackage})`);
    console.log(`  initramfs ${img.initramfs}`);
  } else {
    console.error(`kernel-image: ${img.cacheHit ? 'cache hit' : 'built'} ${img.dir}`);
  }
  process.exit(0);
} catch (err) {
  console.error(`kernel tier cannot run: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
