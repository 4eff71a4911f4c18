/**
 * Property tests: any text given to the pool parsers, the conftool value parser,
 * the pybal.conf migration or the operator's editor ends in a result or a
 * PoolSourceError, never another exception and never a hang. Good documents
 * survive an edit round trip.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { editPoolText } from '../../../examples/director/ops/edit.js';
import { migratePybal } from '../../../examples/director/pybal/migrate.js';
import { isPoolSourceError } from '../../../examples/director/sources/errors.js';
import { parseConftoolValue, parsePool } from '../../../examples/director/sources/parse.js';
import { checkPoolSpec } from '../../../examples/director/sources/spec.js';

function typedOrOk(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!isPoolSourceError(err)) throw err;
  }
}

const host = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}(\.[a-z]{2,5})?$/);
const entry = fc.record({ host, weight: fc.integer({ min: 0, max: 65535 }), enabled: fc.boolean() });
const pybalLine = (e: { host: string; weight: number; enabled: boolean }): string => `{ 'host': '${e.host}', 'weight': ${e.weight}, 'enabled': ${e.enabled ? 'True' : 'False'} }`;
const uniqueEntries = fc.uniqueArray(entry, { selector: (e) => e.host, minLength: 1, maxLength: 8 });

describe('pool parsers never throw anything but PoolSourceError', () => {
  it('random text, in every format', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), fc.constantFrom('auto', 'pybal', 'yaml', 'json') as fc.Arbitrary<'auto'>, (text, format) => {
        typedOrOk(() => parsePool(text, format));
      }),
      { numRuns: 400 },
    );
  });

  it('PyBal documents with one character changed, dropped or inserted', () => {
    fc.assert(
      fc.property(uniqueEntries, fc.nat(), fc.constantFrom('drop', 'insert', 'replace'), fc.string({ minLength: 1, maxLength: 1 }), (entries, pos, op, ch) => {
        const text = entries.map(pybalLine).join('\n');
        const i = pos % text.length;
        const mutated = op === 'drop' ? text.slice(0, i) + text.slice(i + 1) : op === 'insert' ? text.slice(0, i) + ch + text.slice(i) : text.slice(0, i) + ch + text.slice(i + 1);
        typedOrOk(() => parsePool(mutated));
        typedOrOk(() => editPoolText(mutated, 'auto', entries[0]!.host, { pooled: 'no' }));
      }),
      // A broken PyBal document is also tried as YAML (tens of ms each on this shared CPU): fewer runs.
      { numRuns: 150 },
    );
  }, 60_000);

  it('good PyBal documents parse to their entries, and an edit changes only its host', () => {
    fc.assert(
      fc.property(uniqueEntries, fc.nat(), fc.integer({ min: 0, max: 65535 }), (entries, pick, weight) => {
        const text = `# pool\n${entries.map(pybalLine).join('\n')}\n`;
        const parsed = parsePool(text);
        expect(parsed.map((e) => [e.host, e.weight, e.enabled]).sort()).toEqual(entries.map((e) => [e.host, e.weight, e.enabled]).sort());
        const target = entries[pick % entries.length]!;
        const r = editPoolText(text, 'auto', target.host, { weight, pooled: 'no' });
        const after = parsePool(r.text);
        for (const e of after) {
          if (e.host === target.host) expect([e.weight, e.enabled]).toEqual([weight, false]);
          else expect(parsed.find((p) => p.host === e.host)).toEqual(e);
        }
      }),
      { numRuns: 200 },
    );
  }, 30_000);

  it('conftool values, spec maps and pybal.conf text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 80 }), fc.json()), (text) => {
        typedOrOk(() => parseConftoolValue('h', text));
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const r = checkPoolSpec(v);
        expect(r.spec !== undefined || r.issues.length > 0).toBe(true);
      }),
      { numRuns: 300 },
    );
    const line = fc.oneof(
      fc.constantFrom('[global]', '[svc]', 'protocol = tcp', 'ip = 192.0.2.1', 'port = 80', 'scheduler = wrr', 'config = file:///p', "monitors = [ 'IdleConnection' ]", 'bgp = yes', 'bgp-local-asn = 1', 'bgp-peer-address = 192.0.2.2'),
      fc.string({ maxLength: 30 }),
    );
    fc.assert(
      fc.property(fc.array(line, { maxLength: 12 }), (lines) => {
        typedOrOk(() => migratePybal(lines.join('\n'), () => "{ 'host': 'a', 'weight': 1, 'enabled': True }"));
      }),
      { numRuns: 300 },
    );
  }, 30_000);
});
