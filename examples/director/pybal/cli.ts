/**
 * `lvskit-director migrate-pybal FILE [--inline] [--output OUT]`
 *
 * Reads a pybal.conf and the pool files it names, prints the director YAML
 * (or writes it to OUT), and the warnings on stderr. `argv` is what follows
 * `migrate-pybal` on the command line. Resolves to the exit code:
 * 0 written, 1 the migration failed (the error names file and line), 2 usage.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isPoolSourceError } from '../sources/errors.js';
import { migratePybalDetailed } from './migrate.js';

export const USAGE = `usage: lvskit-director migrate-pybal PYBAL_CONF [--inline] [--output FILE]
  Prints the director YAML equivalent to PYBAL_CONF (and checks its pool files).
  --inline        copy file pools into the YAML as servers: (default: keep the files as watched pool sources)
  --output FILE   write the YAML to FILE (atomically) instead of stdout`;

export interface CliIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

const defaultIo: CliIo = { stdout: (s) => void process.stdout.write(s), stderr: (s) => void process.stderr.write(s) };

export async function main(argv: readonly string[], io: CliIo = defaultIo): Promise<number> {
  let file: string | undefined;
  let output: string | undefined;
  let inline = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--inline') inline = true;
    else if (a === '--output' || a === '-o') {
      output = argv[++i];
      if (output === undefined) return usage(io, `${a} needs a file name`);
    } else if (a === '--help' || a === '-h') {
      io.stdout(`${USAGE}\n`);
      return 0;
    } else if (a.startsWith('-')) return usage(io, `unknown option ${a}`);
    else if (file === undefined) file = a;
    else return usage(io, `one pybal.conf at a time (got ${file} and ${a})`);
  }
  if (file === undefined) return usage(io, 'which pybal.conf?');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    io.stderr(`migrate-pybal: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
    return 1;
  }
  try {
    const r = migratePybalDetailed(text, (p) => readFileSync(p, 'utf8'), { confPath: file, inlinePools: inline });
    for (const w of r.warnings) io.stderr(`migrate-pybal: warning: ${w}\n`);
    if (output !== undefined) {
      const tmp = `${output}.tmp-${process.pid}`;
      writeFileSync(tmp, r.yaml);
      renameSync(tmp, output);
    } else io.stdout(r.yaml);
    return 0;
  } catch (err) {
    if (isPoolSourceError(err)) {
      io.stderr(`migrate-pybal: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

function usage(io: CliIo, msg: string): number {
  io.stderr(`migrate-pybal: ${msg}\n${USAGE}\n`);
  return 2;
}
