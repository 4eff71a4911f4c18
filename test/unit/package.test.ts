/**
 * The published package, as a consumer sees it: `npm pack` (which builds),
 * unpack into a consumer's node_modules, then import every subpath from an ESM
 * and a CJS program, and check that errors are recognised across the builds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');
// Inside the repo so the unpacked package finds its dependencies in ../node_modules.
const consumer = join(root, '.cache', `pkgtest-${process.pid}`);
const subpaths = ['lvskit', 'lvskit/bgp', 'lvskit/vrrp', 'lvskit/ipvs', 'lvskit/monitors', 'lvskit/director'];

function node(file: string): unknown {
  const out = execFileSync(process.execPath, [file], { cwd: consumer, encoding: 'utf8' });
  return JSON.parse(out);
}

describe('package exports', () => {
  beforeAll(() => {
    rmSync(consumer, { recursive: true, force: true });
    mkdirSync(join(consumer, 'node_modules', 'lvskit'), { recursive: true });
    const packed = execFileSync('npm', ['pack', '--json', '--pack-destination', consumer], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    // npm prints the prepack build's output before the JSON on stdout.
    const meta = JSON.parse(packed.slice(packed.indexOf('\n[') + 1)) as { filename: string }[];
    const tarball = join(consumer, meta[0]?.filename ?? '');
    execFileSync('tar', ['-xzf', tarball, '-C', join(consumer, 'node_modules', 'lvskit'), '--strip-components=1']);
    writeFileSync(join(consumer, 'package.json'), '{"name":"consumer","private":true}\n');
  }, 180_000);

  afterAll(() => {
    rmSync(consumer, { recursive: true, force: true });
  });

  it('every subpath imports from ESM', () => {
    writeFileSync(
      join(consumer, 'esm.mjs'),
      `const out = {};
for (const p of ${JSON.stringify(subpaths)}) out[p] = Object.keys(await import(p)).sort();
console.log(JSON.stringify(out));\n`,
    );
    const out = node('esm.mjs') as Record<string, string[]>;
    expect(out['lvskit']).toEqual(expect.arrayContaining(['LvskitError', 'FakeClock', 'ByteReader', 'internetChecksum']));
    expect(out['lvskit/bgp']).toEqual(expect.arrayContaining(['BgpError', 'MessageType', 'BGP_PORT']));
    expect(out['lvskit/vrrp']).toEqual(expect.arrayContaining(['VrrpError', 'IPPROTO_VRRP']));
    expect(out['lvskit/ipvs']).toEqual(expect.arrayContaining(['IpvsError', 'IPVS_CMD_NEW_SERVICE']));
    expect(out['lvskit/monitors']).toEqual(expect.arrayContaining(['MonitorError']));
    expect(out['lvskit/director']).toEqual(expect.arrayContaining(['startDirector', 'parseConfig', 'ConfigError', 'DirectorError']));
   }, 30_000);

  it('every subpath requires from CJS, with the same names as ESM', () => {
    writeFileSync(
      join(consumer, 'cjs.cjs'),
      `const out = {};
for (const p of ${JSON.stringify(subpaths)}) out[p] = Object.keys(require(p)).filter((k) => k !== '__esModule').sort();
console.log(JSON.stringify(out));\n`,
    );
    const cjs = node('cjs.cjs') as Record<string, string[]>;
    const esm = node('esm.mjs') as Record<string, string[]>;
    for (const p of subpaths) expect(cjs[p], p).toEqual(esm[p]);
   }, 30_000);

  it('instanceof works across the ESM and CJS builds and across entries', () => {
    writeFileSync(
      join(consumer, 'cross.mjs'),
      `import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const esmRoot = await import('lvskit');
const esmBgp = await import('lvskit/bgp');
const cjsRoot = require('lvskit');
const cjsBgp = require('lvskit/bgp');
const fromCjs = new cjsBgp.BgpError('ERR_BGP_X', 'x', { notificationCode: 6, notificationSubcode: 2 });
const fromEsm = new esmRoot.TimeoutError(10);
console.log(JSON.stringify({
  distinctClasses: esmRoot.LvskitError !== cjsRoot.LvskitError && esmBgp.BgpError !== cjsBgp.BgpError,
  cjsBgpIsEsmLvskit: fromCjs instanceof esmRoot.LvskitError,
  cjsBgpIsEsmBgp: fromCjs instanceof esmBgp.BgpError,
  esmTimeoutIsCjsLvskit: fromEsm instanceof cjsRoot.LvskitError,
  esmTimeoutIsCjsTimeout: fromEsm instanceof cjsRoot.TimeoutError,
  esmTimeoutIsBgp: fromEsm instanceof cjsBgp.BgpError,
  name: fromCjs.name,
}));\n`,
    );
    expect(node('cross.mjs')).toEqual({
      distinctClasses: true,
      cjsBgpIsEsmLvskit: true,
      cjsBgpIsEsmBgp: true,
      esmTimeoutIsCjsLvskit: true,
      esmTimeoutIsCjsTimeout: true,
      esmTimeoutIsBgp: false,
      name: 'BgpError',
    });
  });

  it('lvskit/director embeds from ESM and CJS: configs parse, errors are typed and lvskit errors', () => {
    const prog = (load: string): string => `${load}
const { parseConfig, ConfigError } = director;
const ok = parseConfig('services:\\n  web:\\n    vips: [192.0.2.1]\\n    port: 80\\n    checks: [{ type: tcp }]\\n    servers: [{ host: a, address: 127.0.0.1 }]\\n', 'ok.yaml');
let bad;
try { parseConfig('services:\\n  web:\\n    vips: [192.0.2.1]\\n    port: eighty\\n    checks: [{ type: tcp }]\\n    servers: [{ host: a, address: 127.0.0.1 }]\\n', 'bad.yaml'); } catch (e) { bad = e; }
console.log(JSON.stringify({ services: ok.services.map((s) => s.name), typed: bad instanceof ConfigError, lvskit: bad instanceof root.LvskitError, issue: bad.issues[0] && bad.issues[0].key }));\n`;
    writeFileSync(join(consumer, 'embed.mjs'), prog("const director = await import('lvskit/director');\nconst root = await import('lvskit');"));
    writeFileSync(join(consumer, 'embed.cjs'), prog("const director = require('lvskit/director');\nconst root = require('lvskit');"));
    const want = { services: ['web'], typed: true, lvskit: true, issue: 'services.web.port' };
    expect(node('embed.mjs')).toEqual(want);
    expect(node('embed.cjs')).toEqual(want);
   }, 30_000);

  it('the lvskit-director bin runs from the packed package', () => {
    const pkg = JSON.parse(readFileSync(join(consumer, 'node_modules', 'lvskit', 'package.json'), 'utf8')) as { bin?: Record<string, string> };
    expect(pkg.bin?.['lvskit-director']).toBe('./dist/director/cli.js');
    const bin = join(consumer, 'node_modules', 'lvskit', 'dist', 'director', 'cli.js');
    const help = spawnSync(process.execPath, [bin, '--help'], { cwd: consumer, encoding: 'utf8', timeout: 30_000 });
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^usage: lvskit-director --config FILE/);
    // A bad configuration: exit 78 with the file, line and key.
    writeFileSync(join(consumer, 'bad.yaml'), 'services:\n  web:\n    vips: [192.0.2.1]\n    port: eighty\n');
    const bad = spawnSync(process.execPath, [bin, '--config', 'bad.yaml', '--check'], { cwd: consumer, encoding: 'utf8', timeout: 30_000 });
    expect(bad.status).toBe(78);
    expect(bad.stderr).toContain('bad.yaml:4:11: services.web.port: must be an integer from 0 to 65535, got string "eighty"');
  });

  it('the README examples run against the packed package, or are the docs examples other tiers run', () => {
    // Every ```ts / ```js block in the README is either run here (and must print the ```text block
    // after it), or marked `<!-- example: docs/X.md -->` and then must be, byte for byte, a code
    // block of that docs page, whose own test runs it (lab, loopback or kernel tier, as its page says).
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const blocks = [...readme.matchAll(/(?:<!-- example: (docs\/[\w-]+\.md) -->\n)?```(?:ts|js)\n([\s\S]*?)```\n(?:\n*(?:prints\n+)?```text\n([\s\S]*?)```)?/g)];
    expect(blocks.length).toBeGreaterThan(1);
    let ran = 0;
    blocks.forEach((m, i) => {
      const [, docs, code = '', expected] = m;
      if (docs !== undefined) {
        const page = readFileSync(join(root, docs), 'utf8');
        const pageBlocks = [...page.matchAll(/```(?:ts|js)\n([\s\S]*?)```/g)].map((b) => b[1]);
        expect(pageBlocks, `README example ${i} is not a code block of ${docs}`).toContain(code);
        return;
      }
      expect(expected, `README example ${i}: runs here, so a \`\`\`text block with its output must follow`).toBeDefined();
      // The examples use no TypeScript-only syntax, so they run as ESM as they stand.
      writeFileSync(join(consumer, `readme-${i}.mjs`), code);
      const out = execFileSync(process.execPath, [`readme-${i}.mjs`], { cwd: consumer, encoding: 'utf8' });
      expect(out, `README example ${i}`).toBe(expected);
      ran++;
    });
    expect(ran).toBeGreaterThan(0);
  });
});
