/** Pool document parsers: PyBal dict-per-line, YAML/JSON, conftool values; malformed input -> typed error with line. */
import { describe, expect, it } from 'vitest';
import { isPoolSourceError, PoolParseError, type PoolSourceError } from '../../../examples/director/sources/errors.js';
import { conftoolPrefix, looksLikePybal, normalizeEntry, parseConftoolValue, parsePool, parsePybalPool, parsePythonDict, parseYamlPool } from '../../../examples/director/sources/parse.js';

function thrown(fn: () => unknown): PoolSourceError {
  try {
    fn();
  } catch (err) {
    expect(isPoolSourceError(err)).toBe(true);
    return err as PoolSourceError;
  }
  throw new Error('expected a PoolSourceError, nothing was thrown');
}

describe('PyBal pool files', () => {
  it('reads dict-per-line files with comments, blank lines, both quote styles and a trailing comma', () => {
    const text = [
      '# text cluster, eqiad',
      "{ 'host': 'cp1001.eqiad.wmnet', 'weight': 10, 'enabled': True }",
      '',
      '{"host": "cp1002.eqiad.wmnet", "weight": 0, "enabled": False,}',
      "  {'host':'cp1003.eqiad.wmnet','weight':25,'enabled':True}   # trailing comment",
    ].join('\n');
    expect(parsePybalPool(text)).toEqual([
      { host: 'cp1001.eqiad.wmnet', weight: 10, enabled: true, pooled: 'yes' },
      { host: 'cp1002.eqiad.wmnet', weight: 0, enabled: false, pooled: 'no' },
      { host: 'cp1003.eqiad.wmnet', weight: 25, enabled: true, pooled: 'yes' },
    ]);
    expect(parsePool(text)).toEqual(parsePybalPool(text)); // auto-detected
  });

  it('parses Python scalars and escapes', () => {
    expect(parsePythonDict(`{ 'a': 'it\\'s', "b": None, 'c': -1.5e2, 'd': True }`)).toEqual({ a: "it's", b: null, c: -150, d: true });
    expect(parsePythonDict('{}')).toEqual({});
  });

  it.each([
    ["{ 'host': 'a', 'weight': 10, 'enabled': true }", 1, /expected a string, number, True/],
    ["{ 'host': 'a', 'weight': 10 'enabled': True }", 1, /expected ',' or '}'/],
    ["{ 'host': 'a', 'weight': 10, 'enabled': True", 1, /expected a quoted key|expected ',' or '}'/],
    ["{ 'host': 'a, 'weight': 10, 'enabled': True }", 1, /expected ',' or '}'|expected ':'/],
    ["{ 'host': 'a', 'weight': '10', 'enabled': True }", 1, /weight must be an integer/],
    ["{ 'host': 'a', 'weight': 1.5, 'enabled': True }", 1, /weight must be an integer/],
    ["{ 'host': 'a', 'weight': -1, 'enabled': True }", 1, /weight must be an integer/],
    ["{ 'host': 'a', 'enabled': True }", 1, /missing 'weight'/],
    ["{ 'weight': 1, 'enabled': True }", 1, /missing 'host'|without a host/],
    ["{ 'host': 'a', 'weight': 1, 'enabled': 1 }", 1, /enabled must be true or false/],
    ["{ 'host': 'a', 'host': 'b', 'weight': 1, 'enabled': True }", 1, /given twice/],
    ["{ 'host': 'a', 'weight': 1, 'enabled': True } junk", 1, /unexpected text/],
    ["host: a", 1, /expected '\{'/],
  ])('rejects %s with a typed error at line %i', (line, lineNo, msg) => {
    const text = `# header\n{ 'host': 'ok.example', 'weight': 1, 'enabled': True }\n${line}\n`;
    const err = thrown(() => parsePybalPool(text, '/etc/pybal/pools/x'));
    expect(err).toBeInstanceOf(PoolParseError);
    expect(err.code).toBe('ERR_POOL_PARSE');
    expect(err.line).toBe(lineNo + 2);
    expect(err.where).toBe('/etc/pybal/pools/x');
    expect(err.message).toMatch(msg);
    expect(err.message).toContain(`/etc/pybal/pools/x:${lineNo + 2}`);
  });

  it('reports the column of a syntax error', () => {
    const err = thrown(() => parsePythonDict("{ 'host': @ }", 7));
    expect(err.line).toBe(7);
    expect(err.column).toBe(11);
  });

  it('rejects a host listed twice, naming both lines', () => {
    const err = thrown(() => parsePybalPool("{ 'host': 'a', 'weight': 1, 'enabled': True }\n\n{ 'host': 'a', 'weight': 2, 'enabled': True }"));
    expect(err.line).toBe(3);
    expect(err.message).toMatch(/listed twice \(first at line 1\)/);
  });

  it('carries the lvskit error brand (instanceof LvskitError across builds)', () => {
    const err = thrown(() => parsePybalPool('nope'));
    expect((err as unknown as Record<symbol, unknown>)[Symbol.for('lvskit.error')]).toBe(true);
  });
});

describe('YAML / JSON pool documents', () => {
  it('reads a list, a servers mapping and a host mapping', () => {
    const want = [
      { host: 'a.example', weight: 10, enabled: true, pooled: 'yes' },
      { host: 'b.example', weight: 1, enabled: false, pooled: 'inactive' },
    ];
    expect(parseYamlPool('- host: a.example\n  weight: 10\n- { host: b.example, pooled: inactive }\n')).toEqual(want);
    expect(parseYamlPool('{"servers": [{"host": "a.example", "weight": 10}, {"host": "b.example", "pooled": "inactive"}]}')).toEqual(want);
    expect(parseYamlPool('a.example: { weight: 10 }\nb.example: { pooled: inactive }\n')).toEqual(want);
    expect(parsePool('{"servers": []}')).toEqual([]);
    expect(parsePool('[]', 'json')).toEqual([]);
  });

  it('keeps an address and lets enabled and pooled be given apart', () => {
    expect(parseYamlPool('- { host: a, address: 192.0.2.1, enabled: false }')).toEqual([{ host: 'a', address: '192.0.2.1', weight: 1, enabled: false, pooled: 'no' }]);
  });

  it.each([
    ['- host: a\n  weight: [1\n', 3, /not valid YAML/],
    ['- host: a\n- host: b\n  weight: heavy\n', 2, /weight must be an integer/],
    ['- host: a\n- pooled: maybe\n', 2, /without a host/],
    ['- host: a\n- host: b\n  pooled: maybe\n', 2, /pooled must be one of yes, no, inactive/],
    ['servers: 3\n', 1, /'servers' must be a list/],
    ['a.example: 3\nb: {}\n', 1, /expected a mapping/],
    ['- host: a\n- host: a\n', 2, /listed twice/],
    ['42\n', 1, /expected a list of servers/],
    ['', 1, /empty pool document/],
    ['a: 1\na: 2\n', 2, /not valid YAML/],
  ])('rejects %j with a typed error at line %i', (text, line, msg) => {
    const err = thrown(() => parseYamlPool(text, 'pool.yaml'));
    expect(err.code).toBe('ERR_POOL_PARSE');
    expect(err.line).toBe(line);
    expect(err.message).toMatch(msg);
  });
});

describe('format sniffing', () => {
  it('tells PyBal lines from YAML and JSON', () => {
    expect(looksLikePybal("{ 'host': 'a', 'weight': 1, 'enabled': True }")).toBe(true);
    expect(looksLikePybal('- host: a')).toBe(false);
    expect(looksLikePybal('{\n  "servers": []\n}')).toBe(false);
    expect(looksLikePybal('# only a comment')).toBe(false);
  });
  it('a one-line JSON document that looks like a dict line is read as JSON', () => {
    expect(parsePool('{"servers": [{"host": "a", "weight": 2}]}')).toEqual([{ host: 'a', weight: 2, enabled: true, pooled: 'yes' }]);
  });
  it('a broken PyBal file reports the PyBal error, not a YAML one', () => {
    const err = thrown(() => parsePool("{ 'host': 'a', 'weight': 1, 'enabled': true }"));
    expect(err.message).toMatch(/True, False or None/);
  });
});

describe('conftool values', () => {
  it('reads weight and pooled', () => {
    expect(parseConftoolValue('cp1', '{"weight": 10, "pooled": "yes"}')).toEqual({ host: 'cp1', weight: 10, enabled: true, pooled: 'yes' });
    expect(parseConftoolValue('cp1', '{"weight": 0, "pooled": "inactive"}')).toEqual({ host: 'cp1', weight: 0, enabled: false, pooled: 'inactive' });
  });
  it.each([
    ['not json', /not JSON/],
    ['[1]', /must be a JSON object/],
    ['{"pooled": "yes"}', /no weight/],
    ['{"weight": 1}', /no pooled/],
    ['{"weight": 1, "pooled": "true"}', /pooled must be one of/],
    ['{"weight": -3, "pooled": "yes"}', /weight must be an integer/],
  ])('rejects %s', (text, msg) => {
    const err = thrown(() => parseConftoolValue('cp1', text, '/conftool/v1/pools/a/b/c/cp1'));
    expect(err.code).toBe('ERR_POOL_PARSE');
    expect(err.message).toMatch(msg);
    expect(err.where).toBe('/conftool/v1/pools/a/b/c/cp1');
  });
  it('builds the conftool prefix and refuses slashes', () => {
    expect(conftoolPrefix('eqiad', 'text', 'varnish-fe')).toBe('/conftool/v1/pools/eqiad/text/varnish-fe/');
    expect(thrown(() => conftoolPrefix('eq/iad', 'text', 'x')).message).toMatch(/dc/);
  });
});

describe('normalizeEntry', () => {
  it('fills defaults and refuses hosts with whitespace or slashes', () => {
    expect(normalizeEntry({ host: 'a' })).toEqual({ host: 'a', weight: 1, enabled: true, pooled: 'yes' });
    expect(thrown(() => normalizeEntry({ host: 'a b' })).message).toMatch(/whitespace/);
    expect(thrown(() => normalizeEntry({ host: 'a/b' })).message).toMatch(/'\/'/);
    expect(thrown(() => normalizeEntry('a')).message).toMatch(/mapping/);
  });
});
