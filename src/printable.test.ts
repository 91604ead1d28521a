import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { printable } from './printable.js';

describe('printable', () => {
  const cases: [string, string][] = [
    ['plain text, 10.0.1.13:2380', 'plain text, 10.0.1.13:2380'],
    ['node10.\x1b[2J\x1b[31mevil', 'node10.\\x1b[2J\\x1b[31mevil'],
    ['r1\r\nnode99 worker Present Ready', 'r1\\r\\nnode99 worker Present Ready'],
    ['a\tb', 'a\\tb'],
    ['bell\x07 nul\x00 del\x7f', 'bell\\x07 nul\\x00 del\\x7f'],
    ['c1 csi \u009b31m', 'c1 csi \\x9b31m'],
    ['title \x1b]0;pwned\x07', 'title \\x1b]0;pwned\\x07'],
    ['rlo \u202egnp.exe', 'rlo \\u202egnp.exe'],
    ['isolate \u2066x\u2069 and line separator \u2028', 'isolate \\u2066x\\u2069 and line separator \\u2028'],
    ['ünïcödé and emoji 🙂 stay', 'ünïcödé and emoji 🙂 stay'],
  ];
  for (const [input, shown] of cases) {
    it(`shows ${JSON.stringify(input)} as ${JSON.stringify(shown)}`, () => assert.equal(printable(input), shown));
  }

  it('keeps line feeds when asked (a message of several lines), and escapes the rest', () => {
    assert.equal(printable('one\ntwo\r\n\x1b[2J', { newlines: true }), 'one\ntwo\\r\n\\x1b[2J');
  });

  it('is idempotent: escaping again changes nothing', () => {
    for (const [input] of cases) assert.equal(printable(printable(input)), printable(input));
  });
});
