import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NOW, cond, sampleViews, statusRecord } from '../../test/support/ctl-records.js';
import { parseOutput } from './get-output.js';
import { WatchPrinter } from './watch.js';
import type { NodeView } from './view.js';

describe('get --watch output', () => {
  const collect = (format: 'table' | 'wide' | 'name' | 'json' | 'yaml', now = () => NOW) => {
    const out: string[] = [];
    return { out, printer: new WatchPrinter(format, (s) => out.push(s), now) };
  };
  const promoted = (v: NodeView): NodeView => ({
    ...v,
    status: statusRecord('node04', {
      observedGeneration: 12,
      phase: 'Ready',
      conditions: [cond('ChainfireMember', 'True', 'Promoted', 'voting member 6c1e2f of Chainfire', 0, 12), cond('Ready', 'True', 'Joined', 'member of every service', 0, 12)],
      chainfire: { memberId: '6c1e2f', role: 'voter' },
    }, 20),
  });

  it('prints the table, then one aligned line per change; AGE alone is no change; a deleted node says so', () => {
    let now = NOW;
    const { out, printer } = collect('table', () => now);
    const [node01, node04] = sampleViews();
    printer.initial([node01!, node04!]);
    now += 60_000;
    printer.change('node01', node01!); // only older: nothing
    printer.change('node04', promoted(node04!));
    printer.change('node04', undefined);
    printer.change('node04', undefined); // already gone
    assert.equal(
      out.join(''),
      [
        'NAME     ROLE            STATE     PHASE       CHAINFIRE                  FLAREDB                      IAM   AGE',
        'node01   control-plane   Present   Ready       True                       -                            -     3h',
        'node04   worker          Present   Joining     False(LearnerCatchingUp)   False(WaitingForChainfire)   -     95s',
        'node04   worker          Present   Ready       True                       Unknown                      -     2m',
        'node04   -               -         <deleted>   -                          -                            -     -',
        '',
      ].join('\n'),
    );
  });

  it('widens later lines when a cell is longer than any before, never narrows them', () => {
    const { out, printer } = collect('table');
    printer.initial([]);
    printer.change('node01', sampleViews()[0]);
    assert.deepEqual(out, [
      'NAME   ROLE   STATE   PHASE       CHAINFIRE   FLAREDB   IAM   AGE\n',
      'node01   control-plane   Present   Ready       True        -         -     3h\n',
    ]);
  });

  it('json: one object per line; name: one name per line', () => {
    const json = collect('json');
    json.printer.initial(sampleViews());
    json.printer.change('node04', undefined);
    assert.equal(json.out.length, 3);
    assert.deepEqual(json.out.map((l) => (JSON.parse(l) as { metadata: { name: string } }).metadata.name), ['node01', 'node04', 'node04']);
    assert.equal((JSON.parse(json.out[2]!) as { deleted?: boolean }).deleted, true);
    const names = collect('name');
    names.printer.initial(sampleViews());
    names.printer.change('node04', undefined);
    assert.deepEqual(names.out, ['nodemembership/node01\n', 'nodemembership/node04\n', 'nodemembership/node04 deleted\n']);
  });

  it('custom-columns: the header and rows, then a row per change (<none> for a deleted node\'s other columns); jsonpath: the template per node', () => {
    const out: string[] = [];
    const printer = new WatchPrinter(parseOutput('custom-columns=NAME:.metadata.name,PHASE:.status.phase,MEMBER:.status.chainfire.memberId'), (s) => out.push(s), () => NOW);
    const [node01, node04] = sampleViews();
    printer.initial([node01!, node04!]);
    printer.change('node01', node01!); // the same: nothing
    printer.change('node04', promoted(node04!));
    printer.change('node04', undefined);
    assert.equal(out.join(''), [
      'NAME     PHASE     MEMBER',
      'node01   Ready     8e9e05c52164694d',
      'node04   Joining   6c1e2f',
      'node04   Ready     6c1e2f',
      'node04   <none>    <none>',
      '',
    ].join('\n'));
    const lines: string[] = [];
    const jp = new WatchPrinter(parseOutput('jsonpath={.metadata.name}={.status.phase}{"\\n"}'), (s) => lines.push(s), () => NOW);
    jp.initial([node01!, node04!]);
    jp.change('node04', promoted(node04!));
    jp.change('node04', undefined);
    assert.deepEqual(lines, ['node01=Ready\n', 'node04=Joining\n', 'node04=Ready\n', 'node04=\n']);
  });
});
