import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TemplateError, executeTemplate, parseRelaxedPath, parseTemplate, evaluate } from './jsonpath.js';

const list = {
  apiVersion: 'v1',
  kind: 'List',
  items: [
    {
      metadata: { name: 'node01', generation: 7, labels: { 'topology.example.io/zone': 'a' } },
      spec: { role: 'control-plane', bootstrap: true },
      status: { phase: 'Ready', conditions: [{ type: 'ChainfireMember', status: 'True' }, { type: 'Ready', status: 'True', reason: 'Joined' }] },
    },
    {
      metadata: { name: 'node04', generation: 12 },
      spec: { role: 'worker', bootstrap: false },
      status: { phase: 'Joining', conditions: [{ type: 'Ready', status: 'False', reason: 'LearnerAdded' }] },
    },
    { metadata: { name: 'node09', generation: 130 }, spec: { role: 'worker' } },
  ],
};

const run = (template: string, input: unknown = list) => executeTemplate(parseTemplate(template), input);

function refused(template: string, problem: RegExp, position: number): void {
  assert.throws(() => parseTemplate(template), (err: unknown) => {
    assert.ok(err instanceof TemplateError, String(err));
    assert.match(err.problem, problem);
    assert.equal(err.position, position, `${template}: ${err.message}`);
    return true;
  });
}

describe('kubectl JSONPath templates', () => {
  it('fields, [*] over a List, results of one expression joined by a space, text kept as is', () => {
    assert.equal(run('{.kind}'), 'List');
    assert.equal(run('{.items[*].metadata.name}'), 'node01 node04 node09');
    assert.equal(run('names: {.items[*].metadata.name}!'), 'names: node01 node04 node09!');
    assert.equal(run('{$.items[0].metadata.name} {@.kind}'), 'node01 List');
  });

  it('range ... end, with "\\t" and "\\n" literals, nested ranges', () => {
    assert.equal(run('{range .items[*]}{.metadata.name}{"\\t"}{.status.phase}{"\\n"}{end}'), 'node01\tReady\nnode04\tJoining\nnode09\t\n');
    assert.equal(run('{range .items}{.metadata.name},{end}'), 'node01,node04,node09,', 'range over an array itself iterates its elements');
    assert.equal(
      run('{range .items[*]}{.metadata.name}:{range .status.conditions[*]}{.type}={.status} {end};{end}'),
      'node01:ChainfireMember=True Ready=True ;node04:Ready=False ;node09:;',
    );
    assert.equal(run("{'single'}{\"\\u0041\\\\\"}"), 'singleA\\');
  });

  it('filters: ==, != and comparisons on strings and numbers, existence, a path on the right', () => {
    assert.equal(run('{.items[?(@.status.phase=="Ready")].metadata.name}'), 'node01');
    assert.equal(run('{.items[?(@.status.phase!="Ready")].metadata.name}'), 'node04', 'an element without the field is not selected, as in kubectl');
    assert.equal(run('{.items[*].status.conditions[?(@.type=="Ready")].reason}'), 'Joined LearnerAdded');
    assert.equal(run('{.items[?(@.metadata.generation > 10)].metadata.name}'), 'node04 node09', '12 and 130 as numbers, not as text');
    assert.equal(run('{.items[?(@.metadata.generation<=12)].metadata.name}'), 'node01 node04');
    assert.equal(run('{.items[?(@.status)].metadata.name}'), 'node01 node04');
    assert.equal(run('{.items[?(@.spec.bootstrap==true)].metadata.name}'), 'node01');
    assert.equal(run("{.items[?(@.spec.role=='worker')].metadata.name}"), 'node04 node09');
    assert.equal(run('{.items[?(@.metadata.name==$.items[1].metadata.name)].spec.role}'), 'worker');
  });

  it('indexes (negative from the end), slices, unions, quoted and escaped keys, wildcards, recursive descent', () => {
    assert.equal(run('{.items[-1].metadata.name}'), 'node09');
    assert.equal(run('{.items[0,2].metadata.name}'), 'node01 node09');
    assert.equal(run('{.items[1:].metadata.name}'), 'node04 node09');
    assert.equal(run('{.items[:2].metadata.name}'), 'node01 node04');
    assert.equal(run('{.items[::2].metadata.name}'), 'node01 node09');
    assert.equal(run('{.items[5].metadata.name}'), '', 'out of range: nothing');
    assert.equal(run("{.items[0].metadata.labels['topology.example.io/zone']}"), 'a');
    assert.equal(run('{.items[0].metadata.labels.topology\\.example\\.io/zone}'), 'a');
    assert.equal(run('{.items[0].metadata["name","generation"]}'), 'node01 7');
    assert.equal(run('{.items[0].spec.*}'), 'control-plane true');
    assert.equal(run('{..phase}'), 'Ready Joining');
    assert.equal(run('{.items[2]..name}'), 'node09');
  });

  it('prints strings as they are, numbers and booleans as JSON, objects and arrays as compact JSON; missing fields print nothing', () => {
    assert.equal(run('{.items[0].metadata.generation} {.items[0].spec.bootstrap}'), '7 true');
    assert.equal(run('{.items[1].spec}'), '{"role":"worker","bootstrap":false}');
    assert.equal(run('{.items[1].status.conditions[*].type}'), 'Ready');
    assert.equal(run('{.items[0].metadata.labels}'), '{"topology.example.io/zone":"a"}');
    assert.equal(run('[{.nothing.here}]'), '[]');
    assert.equal(run('{.items.metadata}'), '', 'a field of an array is not found');
    assert.equal(run('{@}', 'plain'), 'plain');
  });

  it('refuses what it does not support, naming the position (1-based) in the template', () => {
    refused('{.items[*].metadata.name', /"\{" is not closed/, 1);
    refused('names: {.items[*}', /"\[" is not closed with "\]"/, 15);
    refused('{}', /empty \{\}/, 1);
    refused('{range .items[*]}{.metadata.name}', /\{range \.\.\.\} without \{end\}/, 1);
    refused('x{end}', /\{end\} without \{range/, 2);
    refused('{.items[?(@.a=="x" && @.b=="y")]}', /&& and \|\| are not supported/, 20);
    refused('{.items.length()}', /functions are not supported/, 15);
    refused('{.items[0] .kind}', /one path per \{\}/, 12);
    refused('{"open}', /"\{" is not closed|the string is not closed/, 1);
    refused('{"\\q"}', /unknown escape "\\q"/, 3);
    refused('{.items[::0]}', /step of a slice must be more than 0/, 11);
    refused('{.items[?@.a]}', /expected "\(" after "\?"/, 10);
    refused('{.a{.b}}', /"\{" inside \{\.\.\.\}/, 4);
    refused('{kind}', /a path starts with "\." or "\["/, 2);
  });

  it('a relaxed path (custom-columns, --sort-by): .a.b, a.b and {.a.b} are the same; one path only', () => {
    for (const text of ['.status.phase', 'status.phase', '{.status.phase}', ' {.status.phase} ']) {
      assert.deepEqual(evaluate(parseRelaxedPath(text), list.items[1]), ['Joining'], text);
    }
    assert.throws(() => parseRelaxedPath('.a .b'), /one path only/);
    assert.throws(() => parseRelaxedPath(''), /expected a path/);
    assert.throws(() => parseRelaxedPath('{}'), /expected a path/);
  });
});
