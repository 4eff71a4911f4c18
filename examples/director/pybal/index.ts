/**
 * PyBal migration: `migratePybal(confText, readPoolFile)` -> director YAML, and
 * the `lvskit-director migrate-pybal FILE` command (`main` in cli.ts).
 */
export { migratePybal, migratePybalDetailed, type MigrateOptions, type MigrateResult, type ReadPoolFile } from './migrate.js';
export { parseIni, type IniFile, type IniSection } from './ini.js';
export { main } from './cli.js';
