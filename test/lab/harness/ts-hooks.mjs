// Module hooks for ts-register.mjs (run on Node's loader thread).
//
// Types are stripped with esbuild when it can be imported (it comes with vite and tsup; ~0.3 s
// to start) and otherwise with the project's `typescript` (~1.5 s to load). No type checking.
// Output is cached by content hash in node_modules/.cache/lvskit-ts-hooks, so a fixture whose
// sources did not change starts without loading either.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const CACHE_DIR = fileURLToPath(new URL('../../../node_modules/.cache/lvskit-ts-hooks/', import.meta.url));
const CACHE_VERSION = '1';

let transpile;

async function getTranspiler() {
  try {
    const esbuild = await import('esbuild');
    return async (source, fileName) =>
      (await esbuild.transform(source, { loader: 'ts', format: 'esm', target: 'es2022', sourcefile: fileName, sourcemap: 'inline' })).code;
  } catch {
    const ts = (await import('typescript')).default;
    return async (source, fileName) =>
      ts.transpileModule(source, {
        fileName,
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true, inlineSourceMap: true },
      }).outputText;
  }
}

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (err) {
    const relative = specifier.startsWith('./') || specifier.startsWith('../') || specifier.startsWith('file:');
    if (relative && specifier.endsWith('.js') && context.parentURL !== undefined) {
      const url = new URL(`${specifier.slice(0, -3)}.ts`, context.parentURL);
      if (existsSync(fileURLToPath(url))) return { url: url.href, shortCircuit: true };
    }
    throw err;
  }
}

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return nextLoad(url, context);
  const fileName = fileURLToPath(url);
  const input = await readFile(fileName, 'utf8');
  const key = createHash('sha256').update(`${CACHE_VERSION}\0${fileName}\0${input}`).digest('hex').slice(0, 32);
  const cached = `${CACHE_DIR}${key}.js`;
  try {
    return { format: 'module', source: await readFile(cached, 'utf8'), shortCircuit: true };
  } catch {
    // not cached yet
  }
  transpile ??= getTranspiler();
  const source = await (await transpile)(input, fileName);
  try {
    await mkdir(CACHE_DIR, { recursive: true });
    const tmp = `${cached}.${process.pid}.tmp`;
    await writeFile(tmp, source);
    await rename(tmp, cached);
  } catch {
    // cache is best effort (e.g. read-only, or running as another user)
  }
  return { format: 'module', source, shortCircuit: true };
}
