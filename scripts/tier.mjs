#!/usr/bin/env node
// Run one test tier: check what it needs, then `vitest run --project <tier>`.
// When the tier can't run here it is skipped with the reason printed, unless
// LVSKIT_REQUIRE_ALL=1 (set by .ci/run): then it fails, because in CI no tier may be skipped.
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tier = process.argv[2];
const extra = process.argv.slice(3);
const tiers = ['unit', 'loopback', 'lab', 'kernel'];
if (!tiers.includes(tier ?? '')) {
  console.error(`usage: node scripts/tier.mjs <${tiers.join('|')}> [vitest args...]`);
  process.exit(2);
}
const requireAll = process.env.LVSKIT_REQUIRE_ALL === '1';

function have(cmd) {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', cmd], { stdio: 'ignore' }).status === 0;
}

async function canListen(host) {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ host, port: 0 }, () => s.close(() => resolve(true)));
  });
}

/** @returns {Promise<string | null>} why the tier can't run, or null */
async function missing() {
  switch (tier) {
    case 'unit':
      return null;
    case 'loopback': {
      const bad = [];
      for (const h of ['127.0.0.1', '::1']) if (!(await canListen(h))) bad.push(h);
      if (bad.length) return `cannot listen on ${bad.join(' and ')}`;
      // The director's etcd pool source is tested against a real etcd (over TLS too: openssl makes the certificates).
      for (const c of ['etcd', 'openssl']) if (!have(c)) return `'${c}' not installed (run scripts/setup.sh)`;
      return null;
    }
    case 'lab': {
      if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
      for (const c of ['ip', 'ping', 'tcpdump']) if (!have(c)) return `'${c}' not installed (run scripts/setup.sh)`;
      // BGP interop peers (test/lab/bgp): BIRD 2, GoBGP, FRR's bgpd and vtysh.
      for (const c of ['bird', 'birdc', 'gobgpd', 'gobgp', 'vtysh']) if (!have(c)) return `'${c}' not installed (run scripts/setup.sh)`;
      if (!existsSync('/usr/lib/frr/bgpd')) return "FRR's /usr/lib/frr/bgpd not installed (run scripts/setup.sh)";
      const probe = `lvk-probe-${process.pid}`;
      const add = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
      spawnSync('ip', ['netns', 'del', probe], { stdio: 'ignore' });
      return add.status === 0 ? null : `cannot create a network namespace: ${add.stderr.trim()}`;
    }
    case 'kernel': {
      if (!have('qemu-system-x86_64')) return 'qemu-system-x86_64 not installed (run scripts/setup.sh)';
      // The director end-to-end test copies these host binaries into its VM image.
      for (const c of ['/sbin/ip', '/usr/sbin/bird', '/usr/sbin/birdc', '/usr/bin/etcd']) if (!existsSync(c)) return `${c} not installed (run scripts/setup.sh)`;
      if (!existsSync(join(root, 'dist', 'index.js'))) {
        const b = spawnSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
        if (b.status !== 0) return 'the package does not build (npm run build)';
      }
      const img = spawnSync(process.execPath, [join(root, 'scripts', 'kernel-image.mjs'), '--check'], {
        cwd: root,
        stdio: ['ignore', 'inherit', 'pipe'],
        encoding: 'utf8',
        timeout: 20 * 60_000,
      });
      if (img.status !== 0) return `cannot prepare the VM image: ${(img.stderr ?? '').trim() || `exit ${img.status}`}`;
      return null;
    }
  }
  return `unknown tier ${tier}`;
}

const reason = await missing();
if (reason !== null) {
  if (requireAll) {
    console.error(`FAIL tier ${tier}: cannot run: ${reason} (LVSKIT_REQUIRE_ALL=1: no tier may be skipped)`);
    process.exit(1);
  }
  console.error(`SKIPPED tier ${tier}: ${reason}`);
  process.exit(0);
}

const vitest = join(root, 'node_modules', '.bin', 'vitest');
const child = spawn(vitest, ['run', '--project', tier, ...extra], { cwd: root, stdio: 'inherit' });
const forward = (sig) => child.kill(sig);
process.on('SIGINT', forward);
process.on('SIGTERM', forward);
child.on('exit', (code, signal) => {
  process.exit(code ?? (signal ? 1 : 0));
});
