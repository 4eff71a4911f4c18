/** Operator edits of pool documents: only the host's entry changes; the result always parses. */
import { describe, expect, it } from 'vitest';
import { editPoolText } from '../../../examples/director/ops/edit.js';
import { isPoolSourceError } from '../../../examples/director/sources/errors.js';
import { parsePool } from '../../../examples/director/sources/parse.js';

const PYBAL = `# text pool
{ 'host': 'cp1.example', 'weight': 10, 'enabled': True }
  {'host':'cp2.example','weight':20,'enabled':True}   # rack B
{ 'host': 'cp3.example', 'weight': 30, 'enabled': False }
`;

describe('editPoolText', () => {
  it('PyBal: rewrites only the host line, keeping comments, indentation and the others byte for byte', () => {
    const r = editPoolText(PYBAL, 'auto', 'cp2.example', { pooled: 'no' });
    const lines = r.text.split('\n');
    const orig = PYBAL.split('\n');
    expect(lines[0]).toBe(orig[0]);
    expect(lines[1]).toBe(orig[1]);
    expect(lines[2]).toBe("  { 'host': 'cp2.example', 'weight': 20, 'enabled': False }");
    expect(lines[3]).toBe(orig[3]);
    expect(r.before).toEqual({ host: 'cp2.example', weight: 20, enabled: true, pooled: 'yes' });
    expect(r.after).toEqual({ host: 'cp2.example', weight: 20, enabled: false, pooled: 'no' });
    const back = editPoolText(r.text, 'pybal', 'cp2.example', { pooled: 'yes', weight: 5 });
    expect(parsePool(back.text).find((e) => e.host === 'cp2.example')).toEqual({ host: 'cp2.example', weight: 5, enabled: true, pooled: 'yes' });
  });

  it('YAML: changes the node in place and keeps comments', () => {
    const yaml = '# pool of api\nservers:\n  - host: a   # primary\n    weight: 10\n  - host: b\n    weight: 5\n    pooled: "yes"\n';
    const r = editPoolText(yaml, 'yaml', 'b', { pooled: 'no', weight: 0 });
    expect(r.text).toContain('# pool of api');
    expect(r.text).toContain('# primary');
    expect(r.after).toEqual({ host: 'b', weight: 0, enabled: false, pooled: 'no' });
    const r2 = editPoolText(yaml, 'yaml', 'a', { pooled: 'no' });
    expect(r2.after).toEqual({ host: 'a', weight: 10, enabled: false, pooled: 'no' });
  });

  it("JSON (PyBal's host -> {enabled, weight}) stays JSON", () => {
    const json = '{\n  "a.example": { "enabled": true, "weight": 10 },\n  "b.example": { "enabled": true, "weight": 5 }\n}\n';
    const r = editPoolText(json, 'json', 'a.example', { pooled: 'no' });
    expect(JSON.parse(r.text)).toEqual({ 'a.example': { enabled: false, weight: 10 }, 'b.example': { enabled: true, weight: 5 } });
  });

  it('refuses an unknown host and a malformed document with typed errors', () => {
    for (const [text, host, msg] of [
      [PYBAL, 'cp9.example', /host cp9.example is not in the pool \(known: cp1.example, cp2.example, cp3.example\)/],
      ["{ 'host': 'a', 'weight': 1 }\n", 'a', /missing 'enabled'/],
    ] as const) {
      try {
        editPoolText(text, 'auto', host, { pooled: 'no' }, '/p');
        expect.unreachable();
      } catch (err) {
        expect(isPoolSourceError(err)).toBe(true);
        expect((err as Error).message).toMatch(msg);
      }
    }
  });
});
