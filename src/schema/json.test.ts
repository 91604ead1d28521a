import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_JSON_DEPTH, excessiveNesting, nestingError, reservedKeyPath, reservedKeyProblem } from './json.js';

const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

describe('excessiveNesting', () => {
  it(`accepts ${MAX_JSON_DEPTH} levels and refuses ${MAX_JSON_DEPTH + 1}, saying where`, () => {
    assert.equal(excessiveNesting(nested(MAX_JSON_DEPTH)), undefined);
    assert.deepEqual(excessiveNesting(nested(MAX_JSON_DEPTH + 1)), { line: 1, column: MAX_JSON_DEPTH + 1 });
    assert.deepEqual(excessiveNesting(`{\n  "a":\n${'{"a":'.repeat(70)}`), { line: 3, column: 5 * (MAX_JSON_DEPTH - 1) + 1 });
  });

  it('does not count brackets inside strings, escaped quotes included', () => {
    assert.equal(excessiveNesting(JSON.stringify({ s: '['.repeat(1000) + '"\\' + '{'.repeat(1000) })), undefined);
  });

  it('walks 10,000 levels without recursion, on text that is not even JSON', () => {
    assert.notEqual(excessiveNesting('{"a":'.repeat(10_000)), undefined);
    assert.notEqual(excessiveNesting(nested(100_000)), undefined);
  });

  it('names the source and the limit', () => {
    assert.equal(
      nestingError(nested(65), 'cluster-config.json')?.message,
      'cluster-config.json: nested more than 64 levels deep (at line 1 column 65); no config file or record nests that deep',
    );
    assert.equal(nestingError('{"a": [1, 2]}', 'x'), undefined);
  });
});

describe('reservedKeyPath', () => {
  it('finds __proto__, constructor and prototype anywhere, as JSON.parse keeps them', () => {
    assert.equal(reservedKeyPath(JSON.parse('{"metadata":{"labels":{"__proto__":{"x":"y"}}}}')), 'metadata.labels.__proto__');
    assert.equal(reservedKeyPath(JSON.parse('{"spec":{"constructor":"c"}}')), 'spec.constructor');
    assert.equal(reservedKeyPath(JSON.parse('[{"ok":1},{"a":{"prototype":1}}]')), '1.a.prototype');
  });

  it('lets other keys, and the reserved words as values, pass', () => {
    assert.equal(reservedKeyPath(JSON.parse('{"labels":{"proto":"__proto__","team":"constructor"}}')), undefined);
    assert.equal(reservedKeyPath('__proto__'), undefined);
  });

  it('words the problem with the field', () => {
    assert.equal(
      reservedKeyProblem('metadata.labels.__proto__'),
      'metadata.labels.__proto__: "__proto__" is not allowed as a key (__proto__, constructor, prototype are reserved)',
    );
  });
});
