import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { VmError, prepareImage, runInVm } from './harness/vm.js';

// The kernel-tier harness itself: image cache, several files per boot, and failing clearly (panic,
// timeout, abort) without leaving qemu behind. Each runInVm call is one QEMU boot (~5-15 s under TCG).

const VM = 'test/kernel/vm';

/** Is the process gone (not even a zombie we could still signal)? */
function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

async function expectVmError(p: Promise<unknown>): Promise<VmError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(VmError);
  return err as VmError;
}

describe('kernel harness: image cache', () => {
  it('prepares the image once, then hits the cache in well under 2 s', async () => {
    const first = await prepareImage();
    expect(fs.existsSync(first.kernel)).toBe(true);
    // Uncompressed newc cpio: the emulated kernel would be slow to decompress.
    const magic = Buffer.alloc(6);
    const fd = fs.openSync(first.initramfs, 'r');
    fs.readSync(fd, magic, 0, 6, 0);
    fs.closeSync(fd);
    expect(magic.toString('latin1')).toBe('070701');
    expect(first.kernelPackage).toMatch(/^linux-image-6\.1\.0-\d+-cloud-amd64-unsigned=/);

    const t0 = performance.now();
    const second = await prepareImage();
    const warmMs = performance.now() - t0;
    expect(second.cacheHit).toBe(true);
    expect(second.key).toBe(first.key);
    expect(second.initramfs).toBe(first.initramfs);
    expect(warmMs).toBeLessThan(2000);
  });
});

describe('kernel harness: running files', () => {
  it('runs several files in one boot and returns exit code and output per file, streamed as it goes', async () => {
    const chunks: string[] = [];
    const run = await runInVm({
      files: [`${VM}/harness-exit.mjs`, `${VM}/harness-echo.mjs`],
      env: { LVSKIT_TEST_EXIT_CODE: '3', LVSKIT_TEST_GREETING: "it's me" },
      collect: ['/tmp/harness-collect', '/does/not/exist'],
      onOutput: (chunk) => chunks.push(chunk),
      timeoutMs: 180_000,
    });

    expect(run.results.map((r) => [r.file, r.exitCode])).toEqual([
      [`${VM}/harness-exit.mjs`, 3],
      [`${VM}/harness-echo.mjs`, 0],
    ]);
    const [exit, echo] = run.results;
    expect(exit?.output).toContain('harness-exit: stdout line, will exit 3');
    expect(exit?.output).toContain('harness-exit: stderr line');
    expect(exit?.output).not.toContain('harness-echo');
    expect(echo?.output).toContain("harness-echo: cwd=/lvskit in-vm=1 greeting=it's me");
    expect(echo?.output).toContain('harness-echo: package lvskit resolves from /lvskit/');
    expect(echo?.output).toMatch(/harness-echo: kernel 6\.1\.0-\d+-cloud-amd64/);
    expect(echo?.output).toMatch(/harness-echo: lvskit\/ipvs loaded \(\d+ exports\)/);

    // One boot for both files.
    expect(run.console.match(/@@LVSKIT:INIT@@/g)).toHaveLength(1);
    // Streamed: the chunks carry both files' output, in order, and add up to the console transcript.
    const streamed = chunks.join('');
    expect(streamed.indexOf('harness-exit: stdout line')).toBeGreaterThanOrEqual(0);
    expect(streamed.indexOf('harness-echo: cwd=')).toBeGreaterThan(streamed.indexOf('harness-exit: stdout line'));
    expect(streamed.trimEnd()).toBe(run.console.trimEnd());

    expect(run.collected.get('/tmp/harness-collect/hello.txt')?.toString()).toBe('collected from the VM\n');
    expect([...run.collected.keys()].some((k) => k.startsWith('/does'))).toBe(false);
    expect(processGone(run.qemuPid)).toBe(true);
  });

  it('rejects a missing file before booting', async () => {
    const err = await expectVmError(runInVm({ files: [`${VM}/no-such-script.mjs`] }));
    expect(err.code).toBe('ERR_VM_INPUT');
    expect(err.qemuPid).toBeUndefined();
    expect(err.message).toContain('no-such-script.mjs');
  });
});

describe('kernel harness: failing clearly', () => {
  it('rejects with ERR_VM_PANIC when the kernel panics, keeping results of earlier files', async () => {
    const timeoutMs = 180_000;
    const t0 = performance.now();
    const err = await expectVmError(runInVm({ files: [`${VM}/harness-echo.mjs`, `${VM}/harness-panic.mjs`], timeoutMs }));
    expect(performance.now() - t0).toBeLessThan(timeoutMs);
    expect(err.code).toBe('ERR_VM_PANIC');
    expect(err.message).toMatch(/Kernel panic - not syncing/);
    expect(err.message).toContain('harness-panic.mjs');
    expect(err.console).toContain('harness-panic: triggering a crash');
    expect(err.console).not.toContain('still alive');
    expect(err.results.map((r) => [r.file, r.exitCode])).toEqual([[`${VM}/harness-echo.mjs`, 0]]);
    expect(err.qemuPid).toBeGreaterThan(0);
    expect(processGone(err.qemuPid ?? 0)).toBe(true);
  });

  it('rejects with ERR_VM_TIMEOUT when the whole run exceeds timeoutMs, and qemu is gone afterwards', async () => {
    const timeoutMs = 20_000;
    const t0 = performance.now();
    const err = await expectVmError(runInVm({ files: [`${VM}/harness-hang.mjs`], timeoutMs }));
    const elapsed = performance.now() - t0;
    expect(err.code).toBe('ERR_VM_TIMEOUT');
    expect(err.message).toContain('did not finish within 20000 ms');
    expect(elapsed).toBeGreaterThanOrEqual(timeoutMs - 50);
    expect(elapsed).toBeLessThan(timeoutMs + 15_000);
    expect(err.qemuPid).toBeGreaterThan(0);
    expect(processGone(err.qemuPid ?? 0)).toBe(true);
  });

  // The per-file limit is generous: under TCG on a loaded 2-core machine, node alone can take
  // several seconds to start, and the first file must finish well within it.
  it('rejects with ERR_VM_TIMEOUT naming the file when one file exceeds fileTimeoutMs', async () => {
    const err = await expectVmError(
      runInVm({ files: [`${VM}/harness-exit.mjs`, `${VM}/harness-hang.mjs`], fileTimeoutMs: 30_000, timeoutMs: 240_000 }),
    );
    expect(err.code).toBe('ERR_VM_TIMEOUT');
    expect(err.message).toContain('test/kernel/vm/harness-hang.mjs did not finish within 30000 ms');
    expect(err.console).toContain('harness-hang: hanging forever');
    expect(err.results.map((r) => [r.file, r.exitCode])).toEqual([[`${VM}/harness-exit.mjs`, 7]]);
    expect(processGone(err.qemuPid ?? 0)).toBe(true);
  });

  it('rejects with ERR_VM_ABORTED when the signal aborts, and qemu is gone afterwards', async () => {
    const ac = new AbortController();
    let seen = '';
    const t0 = performance.now();
    const err = await expectVmError(
      runInVm({
        files: [`${VM}/harness-hang.mjs`],
        timeoutMs: 90_000,
        signal: ac.signal,
        onOutput: (chunk) => {
          seen += chunk; // a phrase may straddle two chunks
          if (seen.includes('hanging forever')) ac.abort(new Error('test is done waiting'));
        },
      }),
    );
    expect(err.code).toBe('ERR_VM_ABORTED');
    expect(performance.now() - t0).toBeLessThan(90_000);
    expect(err.console).toContain('harness-hang: hanging forever');
    expect(processGone(err.qemuPid ?? 0)).toBe(true);
  });
});
