// Kernel-tier VM image builder (plain ESM so scripts/kernel-image.mjs can run it without a TS loader;
// types in image.d.mts).
//
// The image is a stock Debian cloud kernel (it has IPVS as modules) plus an uncompressed newc initramfs
// holding busybox, node, ipvsadm, their shared libraries, the kernel modules the tier needs and /init.
// Nothing about a particular test run is in the image: /init reads the run (files, env, modules) from a
// tar on the first virtio disk and writes results as a tar onto the second one (see vm.ts).
//
// Cache layout (.cache/kernel/, gitignored):
//   kernel-choice.json            newest apt candidate, memoised against the apt lists' mtime
//   kernels/<pkg>_<version>/      the kernel .deb, extracted with dpkg-deb -x (never installed)
//   img-<key>/{vmlinuz,initramfs.cpio,meta.json}
// <key> hashes every input: kernel package and version, node/busybox/ipvsadm/libs (path, size, mtime),
// the module list, the extra binaries and modules a caller asked for (prepareImage's `binaries` and
// `modules`: a different set is a different image) and this file's own source (which holds /init). Builds go to a temp dir renamed into
// place, so concurrent builders race harmlessly.

import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const DEFAULT_CACHE_DIR = path.join(REPO_ROOT, '.cache', 'kernel');
const SELF = fileURLToPath(import.meta.url);

/** Debian's cloud kernel without signatures; 6.1 is bookworm's. Newest ABI number with a candidate wins. */
const KERNEL_PKG_RE = /^linux-image-6\.1\.0-(\d+)-cloud-amd64-unsigned$/;

/** Loaded by /init before it can read the input disk. In the cloud kernel both are modules. */
export const BOOT_MODULES = ['virtio_pci', 'virtio_blk'];

/**
 * Modules shipped in the image (with their dependencies, see modules.dep). /init loads the ones a run
 * asks for; the rest load on demand (the kernel's request_module runs busybox /sbin/modprobe), e.g. a
 * scheduler when a service first names it.
 */
export const IMAGE_MODULES = [
  'ip_vs', 'ip_vs_rr', 'ip_vs_wrr', 'ip_vs_lc', 'ip_vs_wlc', 'ip_vs_fo', 'ip_vs_ovf', 'ip_vs_lblc',
  'ip_vs_lblcr', 'ip_vs_dh', 'ip_vs_sh', 'ip_vs_mh', 'ip_vs_sed', 'ip_vs_nq', 'dummy', 'veth',
  ...BOOT_MODULES,
];

/** Host binaries copied into the image at the same paths (plus everything `ldd` says they need). */
const BUSYBOX = '/bin/busybox';
const IPVSADM = '/usr/sbin/ipvsadm';

/**
 * PID 1 inside the VM. Markers on the console let the host follow progress; the nonce (per run, from the
 * input disk) keeps a script's own output from forging them. It must never exit (that panics the kernel):
 * every path ends in poweroff, which with qemu -no-reboot ends qemu.
 */
export const INIT_SCRIPT = `#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb
fatal() { echo "@@LVSKIT:FATAL $*@@"; sync; poweroff -f; sleep 5; reboot -f; }
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
echo "@@LVSKIT:INIT@@"
for m in ${BOOT_MODULES.join(' ')}; do modprobe "$m" || fatal "modprobe $m failed"; done
n=0
while [ ! -b /dev/vda ] || [ ! -b /dev/vdb ]; do
  n=$((n+1)); [ $n -gt 400 ] && fatal "virtio disks /dev/vda and /dev/vdb did not appear"
  usleep 25000
done
mkdir -p /lvskit /vmout
cd /lvskit || fatal "no /lvskit"
tar -x -f /dev/vda || fatal "cannot extract the input tar from /dev/vda"
M=/lvskit/.vm
NONCE=$(cat $M/nonce)
for m in $(cat $M/modules); do modprobe "$m" || fatal "modprobe $m failed"; done
ip link set lo up
mkdir -p /lvskit/node_modules
[ -e /lvskit/node_modules/lvskit ] || ln -s /lvskit /lvskit/node_modules/lvskit
set -a
. $M/env
set +a
echo "@@LVSKIT:READY $NONCE@@"
i=0
while read -r f; do
  i=$((i+1))
  echo "@@LVSKIT:BEGIN $NONCE $i $f@@"
  ( cd /lvskit && node "$f" </dev/null; echo $? > /vmout/$i.rc ) 2>&1 | tee /vmout/$i.log
  rc=$(cat /vmout/$i.rc 2>/dev/null || echo 255)
  echo "@@LVSKIT:END $NONCE $i $rc@@"
done < $M/files
: > /tmp/collect
while read -r p; do [ -e "$p" ] && echo "\${p#/}" >> /tmp/collect; done < $M/collect
tar -c -f /dev/vdb -C / vmout $(cat /tmp/collect) || echo "@@LVSKIT:WARN writing results to /dev/vdb failed@@"
sync
echo "@@LVSKIT:DONE $NONCE@@"
poweroff -f
sleep 5
reboot -f
`;

export class ImageError extends Error {
  /** @param {string} message @param {{ cause?: unknown }} [options] */
  constructor(message, options) {
    super(message, options);
    this.name = 'ImageError';
    this.code = 'ERR_VM_IMAGE';
  }
}

/** @param {string} cmd @param {string[]} args @param {import('node:child_process').ExecFileSyncOptions} [opts] */
function run(cmd, args, opts = {}) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000, ...opts }).toString();
  } catch (err) {
    const e = /** @type {{ code?: string, stderr?: Buffer | string }} */ (err);
    if (e.code === 'ENOENT') throw new ImageError(`${cmd} not found (is its apt package installed?)`, { cause: err });
    const stderr = e.stderr ? e.stderr.toString().trim().split('\n').slice(-5).join('\n') : '';
    throw new ImageError(`${cmd} ${args.join(' ')} failed${stderr ? `: ${stderr}` : ''}`, { cause: err });
  }
}

/** @param {string} p */
function exists(p) {
  try { fs.statSync(p); return true; } catch { return false; }
}

/** Is `cmd` on PATH (or an existing absolute path)? */
function which(cmd) {
  if (cmd.includes('/')) return exists(cmd) ? cmd : undefined;
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const p = path.join(dir, cmd);
    try { fs.accessSync(p, fs.constants.X_OK); return p; } catch { /* next */ }
  }
  return undefined;
}

/**
 * Host prerequisites of the kernel tier, with the Debian package that provides each.
 * @returns {string[]} problems (empty when the host can run the tier)
 */
export function checkHost() {
  /** @type {string[]} */
  const problems = [];
  if (process.platform !== 'linux' || process.arch !== 'x64') problems.push(`needs linux x64, this is ${process.platform} ${process.arch}`);
  /** @type {[string, string][]} */
  const tools = [
    ['qemu-system-x86_64', 'qemu-system-x86'],
    [BUSYBOX, 'busybox-static'],
    [IPVSADM, 'ipvsadm'],
    ['tar', 'tar'],
    ['ldd', 'libc-bin'],
  ];
  for (const [tool, pkg] of tools) if (!which(tool)) problems.push(`${tool} missing (apt package ${pkg})`);
  if (exists(BUSYBOX)) {
    const r = spawnSync('ldd', [BUSYBOX], { encoding: 'utf8' });
    if (r.status === 0 && /=>/.test(r.stdout)) problems.push(`${BUSYBOX} is dynamically linked; install busybox-static`);
  }
  return problems;
}

/** newest linux-image-6.1.0-N-cloud-amd64-unsigned with an apt candidate (or LVSKIT_VM_KERNEL_PKG). */
function resolveKernelPackage(cacheDir) {
  const memo = path.join(cacheDir, 'kernel-choice.json');
  let listsStamp = 'none';
  try { listsStamp = String(fs.statSync('/var/lib/apt/lists').mtimeMs); } catch { /* no apt lists */ }
  const want = process.env.LVSKIT_VM_KERNEL_PKG ?? '';
  try {
    const m = JSON.parse(fs.readFileSync(memo, 'utf8'));
    if (m.listsStamp === listsStamp && m.want === want && m.name && m.version) return { name: m.name, version: m.version };
  } catch { /* recompute */ }

  let choice;
  try {
    const names = want ? [want] : run('apt-cache', ['pkgnames', 'linux-image-6.1.0-']).split('\n')
      .map((s) => s.trim()).filter((s) => KERNEL_PKG_RE.test(s))
      .sort((a, b) => Number(KERNEL_PKG_RE.exec(b)?.[1]) - Number(KERNEL_PKG_RE.exec(a)?.[1]));
    for (const name of names) {
      const cand = /Candidate:\s*(\S+)/.exec(run('apt-cache', ['policy', name]))?.[1];
      if (cand && cand !== '(none)') { choice = { name, version: cand }; break; }
    }
  } catch (err) {
    // No apt (or it failed): fall back to the newest kernel already in the cache.
    const cached = listCachedKernels(cacheDir);
    if (cached[0]) return cached[0];
    throw err;
  }
  if (!choice) {
    const cached = listCachedKernels(cacheDir);
    if (cached[0]) return cached[0];
    throw new ImageError(`no apt candidate for ${want || 'linux-image-6.1.0-*-cloud-amd64-unsigned'} (run apt-get update? is the Debian bookworm archive configured?)`);
  }
  fs.mkdirSync(cacheDir, { recursive: true });
  const tmp = `${memo}.${process.pid}.${randomBytes(4).toString('hex')}`;
  fs.writeFileSync(tmp, JSON.stringify({ ...choice, listsStamp, want }));
  fs.renameSync(tmp, memo);
  return choice;
}

function listCachedKernels(cacheDir) {
  const dir = path.join(cacheDir, 'kernels');
  let names;
  try { names = fs.readdirSync(dir); } catch { return []; }
  return names.map((d) => {
    const [name, version] = d.split('_');
    return { name: name ?? '', version: version ?? '' };
  }).filter((k) => KERNEL_PKG_RE.test(k.name) && k.version)
    .sort((a, b) => Number(KERNEL_PKG_RE.exec(b.name)?.[1]) - Number(KERNEL_PKG_RE.exec(a.name)?.[1]));
}

/** Download and extract (dpkg-deb -x, no install) the kernel package into the cache. */
function ensureKernel(cacheDir, pkg, log) {
  const dir = path.join(cacheDir, 'kernels', `${pkg.name}_${pkg.version}`);
  if (exists(path.join(dir, '.complete'))) return dir;
  const tmp = path.join(cacheDir, 'kernels', `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  fs.mkdirSync(tmp, { recursive: true });
  try {
    log(`downloading ${pkg.name}=${pkg.version} with apt-get download`);
    run('apt-get', ['download', '-q', `${pkg.name}=${pkg.version}`], { cwd: tmp });
    const deb = fs.readdirSync(tmp).find((f) => f.endsWith('.deb'));
    if (!deb) throw new ImageError(`apt-get download ${pkg.name} produced no .deb`);
    run('dpkg-deb', ['-x', path.join(tmp, deb), path.join(tmp, 'root')]);
    fs.rmSync(path.join(tmp, deb));
    fs.writeFileSync(path.join(tmp, 'root', '.complete'), `${pkg.name} ${pkg.version}\n`);
    try {
      fs.renameSync(path.join(tmp, 'root'), dir);
    } catch (err) {
      if (!exists(path.join(dir, '.complete'))) throw err; // someone else won the race: fine
    }
    return dir;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** Libraries `ldd` reports for each binary (paths as the loader asks for them). */
function sharedLibs(binaries) {
  const libs = new Set();
  for (const bin of binaries) {
    const out = run('ldd', [bin]);
    for (const line of out.split('\n')) {
      const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
      if (m?.[1]) libs.add(m[1]);
    }
  }
  return [...libs].sort();
}

function fileStamp(p) {
  const st = fs.statSync(p); // follows symlinks: the content that will be copied
  return `${p}:${st.size}:${Math.trunc(st.mtimeMs)}`;
}

/** All kernel modules in the extracted package, by name (dashes as underscores, as depends= uses). */
function moduleIndex(modDir) {
  const index = new Map();
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.ko(\.xz|\.zst)?$/.test(e.name)) index.set(e.name.replace(/\.ko(\.xz|\.zst)?$/, '').replace(/-/g, '_'), p);
    }
  };
  walk(path.join(modDir, 'kernel'));
  return index;
}

/** Module file contents, decompressed (busybox insmod may not handle .ko.xz/.ko.zst). */
function readModule(p) {
  if (p.endsWith('.xz')) return execFileSync('xz', ['-dc', p], { maxBuffer: 1 << 28 });
  if (p.endsWith('.zst')) return execFileSync('zstd', ['-dc', p], { maxBuffer: 1 << 28 });
  return fs.readFileSync(p);
}

/** The `depends=` entry of a module's .modinfo section. */
function moduleDepends(buf) {
  const i = buf.indexOf('\0depends=');
  if (i < 0) return [];
  const start = i + '\0depends='.length;
  const end = buf.indexOf(0, start);
  return buf.subarray(start, end).toString('latin1').split(',').filter(Boolean);
}

/**
 * Resolve modules and their dependencies. Returns entries in load order (dependencies first), each
 * with its transitive dependencies listed the way depmod writes modules.dep (last one loads first).
 */
function resolveModules(modDir, index, wanted) {
  const info = new Map(); // name -> { rel, data, deps }
  const order = [];
  const visiting = new Set();
  const visit = (name) => {
    if (info.has(name)) return;
    const file = index.get(name);
    if (!file) throw new ImageError(`kernel module ${name} not found in the kernel package`);
    if (visiting.has(name)) throw new ImageError(`module dependency cycle at ${name}`);
    visiting.add(name);
    const data = readModule(file);
    const deps = moduleDepends(data);
    for (const d of deps) visit(d);
    const rel = path.relative(modDir, file).replace(/\.(xz|zst)$/, '');
    info.set(name, { rel, data, deps });
    order.push(name);
  };
  for (const w of wanted) visit(w);
  const closure = (name, acc = new Set()) => {
    for (const d of info.get(name)?.deps ?? []) { if (!acc.has(d)) { acc.add(d); closure(d, acc); } }
    return acc;
  };
  return order.map((name) => {
    const all = closure(name);
    const loadOrder = order.filter((n) => all.has(n)); // dependencies first
    const m = info.get(name);
    return { name, rel: m.rel, data: m.data, depRels: loadOrder.reverse().map((n) => info.get(n).rel) };
  });
}

/** Minimal newc (SVR4, no CRC) cpio writer: what the kernel's initramfs unpacker reads. */
class CpioWriter {
  constructor(file) {
    this.fd = fs.openSync(file, 'w');
    this.ino = 1;
    this.pos = 0;
  }
  write(buf) {
    let off = 0;
    while (off < buf.length) off += fs.writeSync(this.fd, buf, off, buf.length - off);
    this.pos += buf.length;
  }
  pad() {
    const n = (4 - (this.pos % 4)) % 4;
    if (n) this.write(Buffer.alloc(n));
  }
  entry(name, mode, size, { rdevMajor = 0, rdevMinor = 0, nlink = 1 } = {}) {
    const hex = (v) => v.toString(16).padStart(8, '0');
    const nameBuf = Buffer.from(`${name}\0`);
    const hdr = '070701' + [this.ino++, mode, 0, 0, nlink, 0, size, 0, 0, rdevMajor, rdevMinor, nameBuf.length, 0].map(hex).join('');
    this.write(Buffer.from(hdr, 'latin1'));
    this.write(nameBuf);
    this.pad();
  }
  dir(name, perm = 0o755) { this.entry(name, 0o040000 | perm, 0, { nlink: 2 }); }
  data(name, buf, perm = 0o644) {
    this.entry(name, 0o100000 | perm, buf.length);
    this.write(buf);
    this.pad();
  }
  /** Copy a host file (following symlinks), streaming so a 100 MB node binary is not held twice. */
  file(name, src, perm) {
    const st = fs.statSync(src);
    this.entry(name, 0o100000 | (perm ?? (st.mode & 0o7777)), st.size);
    const fd = fs.openSync(src, 'r');
    try {
      const chunk = Buffer.allocUnsafe(1 << 20);
      let left = st.size;
      while (left > 0) {
        const n = fs.readSync(fd, chunk, 0, Math.min(chunk.length, left), null);
        if (n <= 0) throw new ImageError(`short read on ${src}`);
        this.write(chunk.subarray(0, n));
        left -= n;
      }
    } finally {
      fs.closeSync(fd);
    }
    this.pad();
  }
  symlink(name, target) {
    const buf = Buffer.from(target);
    this.entry(name, 0o120000 | 0o777, buf.length);
    this.write(buf);
    this.pad();
  }
  chardev(name, major, minor, perm = 0o600) { this.entry(name, 0o020000 | perm, 0, { rdevMajor: major, rdevMinor: minor }); }
  close() {
    this.entry('TRAILER!!!', 0, 0);
    fs.closeSync(this.fd);
  }
}

/**
 * Extra host binaries of an image (prepareImage's `binaries`): absolute paths, checked to exist.
 * @param {readonly string[] | undefined} list
 * @returns {string[]}
 */
function extraBinaries(list) {
  const out = [...new Set(list ?? [])].sort();
  for (const b of out) {
    if (!path.isAbsolute(b) || /\s/.test(b)) throw new ImageError(`extra binary ${JSON.stringify(b)} must be an absolute path without spaces`);
    if (!exists(b)) throw new ImageError(`extra binary ${b} is not on this host (is its apt package installed?)`);
    if (b === BUSYBOX || b === IPVSADM || b === '/usr/bin/node') throw new ImageError(`${b} is always in the image`);
  }
  return out;
}

/**
 * Make sure a VM image (kernel + initramfs) for the current inputs is in the cache.
 * @param {{ cacheDir?: string, log?: (msg: string) => void, binaries?: readonly string[], modules?: readonly string[] }} [opts]
 */
export async function prepareImage(opts = {}) {
  const cacheDir = opts.cacheDir ?? DEFAULT_CACHE_DIR;
  const log = opts.log ?? (() => {});
  const problems = checkHost();
  if (problems.length) throw new ImageError(`kernel tier prerequisites missing: ${problems.join('; ')}`);

  const node = fs.realpathSync(process.execPath);
  const extraBins = extraBinaries(opts.binaries);
  const wantModules = [...new Set([...IMAGE_MODULES, ...(opts.modules ?? [])])];
  const pkg = resolveKernelPackage(cacheDir);
  const libs = sharedLibs([node, IPVSADM, ...extraBins]);
  const key = createHash('sha256').update(JSON.stringify({
    pkg,
    bins: [node, BUSYBOX, IPVSADM, ...libs].map(fileStamp),
    modules: IMAGE_MODULES,
    // Only when asked for, so the default image's inputs read as before.
    ...(extraBins.length || opts.modules?.length ? { extra: { bins: extraBins.map(fileStamp), modules: wantModules } } : {}),
    builder: fs.readFileSync(SELF, 'utf8'), // includes INIT_SCRIPT
  })).digest('hex').slice(0, 16);

  const imgDir = path.join(cacheDir, `img-${key}`);
  const result = {
    key,
    dir: imgDir,
    kernel: path.join(imgDir, 'vmlinuz'),
    initramfs: path.join(imgDir, 'initramfs.cpio'),
    kernelPackage: `${pkg.name}=${pkg.version}`,
    cacheHit: true,
  };
  if (exists(path.join(imgDir, 'meta.json'))) {
    // Mark it used: pruneCache drops images untouched for an hour, and callers asking for extra
    // binaries keep a second image beside the default one.
    try { const now = new Date(); fs.utimesSync(imgDir, now, now); } catch { /* read-only cache: fine */ }
    return result;
  }

  result.cacheHit = false;
  const t0 = Date.now();
  const kdir = ensureKernel(cacheDir, pkg, log);
  const releases = fs.readdirSync(path.join(kdir, 'lib', 'modules'));
  const release = releases[0];
  if (releases.length !== 1 || !release) throw new ImageError(`expected one kernel release in ${kdir}, found ${releases.join(', ')}`);
  const vmlinuz = path.join(kdir, 'boot', `vmlinuz-${release}`);
  if (!exists(vmlinuz)) throw new ImageError(`no ${vmlinuz} in the kernel package`);
  const modDir = path.join(kdir, 'lib', 'modules', release);
  const modules = resolveModules(modDir, moduleIndex(modDir), wantModules);

  const tmp = path.join(cacheDir, `.tmp-img-${process.pid}-${randomBytes(4).toString('hex')}`);
  fs.mkdirSync(tmp, { recursive: true });
  try {
    log(`building initramfs for ${release}`);
    const cpio = new CpioWriter(path.join(tmp, 'initramfs.cpio'));
    const dirs = new Set();
    const mkdirs = (p) => {
      const parts = p.split('/').filter(Boolean);
      for (let i = 1; i <= parts.length; i++) {
        const d = parts.slice(0, i).join('/');
        if (!dirs.has(d)) { dirs.add(d); cpio.dir(d); }
      }
    };
    const parent = (p) => path.posix.dirname(p.replace(/^\//, ''));
    for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'run', 'root', 'mnt']) mkdirs(d);
    cpio.chardev('dev/console', 5, 1);
    cpio.chardev('dev/null', 1, 3, 0o666);
    cpio.data('init', Buffer.from(INIT_SCRIPT), 0o755);
    cpio.file('bin/busybox', BUSYBOX, 0o755);
    const applets = run(BUSYBOX, ['--list']).split('\n').map((s) => s.trim()).filter((s) => s && s !== 'busybox');
    const extraRel = new Set(extraBins.map((b) => b.replace(/^\//, '')));
    for (const a of applets) if (!extraRel.has(`bin/${a}`)) cpio.symlink(`bin/${a}`, 'busybox');
    for (const a of ['modprobe', 'insmod', 'rmmod', 'lsmod', 'poweroff', 'reboot', 'halt', 'init']) cpio.symlink(`sbin/${a}`, '../bin/busybox');
    cpio.file('usr/bin/node', node, 0o755);
    cpio.file('usr/sbin/ipvsadm', IPVSADM, 0o755);
    for (const b of extraBins) { mkdirs(parent(b)); cpio.file(b.replace(/^\//, ''), b, 0o755); }
    for (const lib of libs) { mkdirs(parent(lib)); cpio.file(lib.replace(/^\//, ''), lib); }
    cpio.data('etc/passwd', Buffer.from('root:x:0:0:root:/root:/bin/sh\n'));
    cpio.data('etc/group', Buffer.from('root:x:0:\n'));
    cpio.data('etc/hosts', Buffer.from('127.0.0.1 localhost\n::1 localhost\n'));
    cpio.data('etc/nsswitch.conf', Buffer.from('passwd: files\ngroup: files\nhosts: files\n'));
    const kmods = `lib/modules/${release}`;
    mkdirs(kmods);
    for (const m of modules) { mkdirs(`${kmods}/${parent(m.rel)}`); cpio.data(`${kmods}/${m.rel}`, m.data); }
    const dep = modules.map((m) => `${m.rel}:${m.depRels.map((d) => ` ${d}`).join('')}\n`).join('');
    cpio.data(`${kmods}/modules.dep`, Buffer.from(dep));
    for (const f of ['modules.builtin', 'modules.order']) {
      if (exists(path.join(modDir, f))) cpio.file(`${kmods}/${f}`, path.join(modDir, f), 0o644);
    }
    cpio.close();
    fs.copyFileSync(vmlinuz, path.join(tmp, 'vmlinuz'));
    fs.writeFileSync(path.join(tmp, 'meta.json'), JSON.stringify({
      key, kernelPackage: result.kernelPackage, release, node, libs, binaries: extraBins, modules: modules.map((m) => m.rel),
      builtAt: new Date().toISOString(), buildMs: Date.now() - t0,
    }, null, 2));
    try {
      fs.renameSync(tmp, imgDir);
    } catch (err) {
      if (!exists(path.join(imgDir, 'meta.json'))) throw err; // a concurrent build finished first
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  log(`image ready in ${Date.now() - t0} ms: ${imgDir}`);
  pruneCache(cacheDir, [path.basename(imgDir), path.basename(kdir)]);
  return result;
}

/** Drop images and kernels other than `keep` that have not been touched for an hour (~120 MB each). */
function pruneCache(cacheDir, keep) {
  const cutoff = Date.now() - 3_600_000;
  for (const [dir, re] of [[cacheDir, /^img-/], [path.join(cacheDir, 'kernels'), /^linux-image-/]]) {
    let names;
    try { names = fs.readdirSync(dir); } catch { continue; }
    for (const name of names) {
      if (!re.test(name) || keep.includes(name)) continue;
      const p = path.join(dir, name);
      try {
        if (fs.statSync(p).mtimeMs < cutoff) fs.rmSync(p, { recursive: true, force: true });
      } catch { /* raced with another process: fine */ }
    }
  }
}
