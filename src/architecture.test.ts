// The shape the code keeps: one reconcile, small decisions, drivers that know
// nothing of reconciling, and no test code in what ships.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

const root = new URL('../../', import.meta.url).pathname;
const srcDir = join(root, 'src');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return sources(p);
    return p.endsWith('.ts') && !p.endsWith('.test.ts') ? [p] : [];
  });
}

function imports(file: string): string[] {
  const src = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  return src.statements.flatMap((s) =>
    (ts.isImportDeclaration(s) || ts.isExportDeclaration(s)) && s.moduleSpecifier && ts.isStringLiteral(s.moduleSpecifier) ? [s.moduleSpecifier.text] : [],
  );
}

/** Functions (declarations, methods, arrows) longer than `max` lines, as `file:line name (n lines)`. */
function longFunctions(file: string, max: number): string[] {
  const src = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const out: string[] = [];
  const visit = (n: ts.Node) => {
    if (ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n) || ts.isArrowFunction(n) || ts.isFunctionExpression(n)) {
      const first = src.getLineAndCharacterOfPosition(n.getStart()).line;
      const lines = src.getLineAndCharacterOfPosition(n.getEnd()).line - first + 1;
      const name = 'name' in n && n.name !== undefined ? (n.name as ts.Node).getText(src) : '(anonymous)';
      if (lines > max) out.push(`${relative(root, file)}:${first + 1} ${name} (${lines} lines)`);
    }
    ts.forEachChild(n, visit);
  };
  visit(src);
  return out;
}

describe('the shape of the code', () => {
  it('no function in src/reconcile/ is over 80 lines', () => {
    assert.deepEqual(sources(join(srcDir, 'reconcile')).flatMap((f) => longFunctions(f, 80)), []);
  });

  it('no driver imports reconcile/', () => {
    const bad = sources(join(srcDir, 'drivers')).flatMap((f) => imports(f).filter((i) => i.includes('/reconcile/')).map((i) => `${relative(root, f)}: ${i}`));
    assert.deepEqual(bad, []);
  });

  it('nothing that ships imports test code', () => {
    const bad = sources(srcDir).flatMap((f) => imports(f).filter((i) => /(^|\/)test\/|test-|fixtures/.test(i)).map((i) => `${relative(root, f)}: ${i}`));
    assert.deepEqual(bad, []);
  });

  it('only reconcile-node.ts turns decisions into changes: decideNode is called nowhere else', () => {
    const callers = sources(srcDir)
      .filter((f) => /\bdecideNode\(/.test(readFileSync(f, 'utf8')))
      .map((f) => relative(root, f))
      .sort();
    // decide.ts defines it; reconcile-node.ts (reconcileNode and planNode) is its one caller.
    assert.deepEqual(callers, ['src/reconcile/decide.ts', 'src/reconcile/reconcile-node.ts']);
  });

  it('the check finds a long function and a forbidden import (it can fail)', () => {
    const probe = join(root, 'dist', 'architecture-probe.ts');
    const body = Array.from({ length: 90 }, (_, i) => `  const v${i} = ${i};`).join('\n');
    ts.sys.writeFile(probe, `import { x } from '../test/support/x.js';\nexport function tooLong(): void {\n${body}\n}\n`);
    assert.equal(longFunctions(probe, 80).length, 1);
    assert.deepEqual(imports(probe), ['../test/support/x.js']);
  });
});
