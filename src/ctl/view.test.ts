import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parse as parseYaml } from 'yaml';
import { NOW, desiredRecord, joinInFlight, keys, sampleViews } from '../../test/support/ctl-records.js';
import { age, renderDescribe, renderNames, renderStructured, renderTable, renderViews, type NodeView } from './view.js';
import { decodeDesired } from '../store/records.js';

describe('membershipctl get rendering', () => {
  it('prints the table with service cells: - when not wanted, True when a member, Status(Reason) otherwise', () => {
    assert.equal(
      renderTable(sampleViews(), NOW),
      [
        'NAME     ROLE            STATE     PHASE     CHAINFIRE                  FLAREDB                      IAM   AGE',
        'node01   control-plane   Present   Ready     True                       -                            -     3h',
        'node04   worker          Present   Joining   False(LearnerCatchingUp)   False(WaitingForChainfire)   -     95s',
        '',
      ].join('\n'),
    );
  });

  it('-o wide adds node IP, location, member id, generation and the generation observed', () => {
    assert.equal(
      renderTable(sampleViews(), NOW, true),
      [
        'NAME     ROLE            STATE     PHASE     CHAINFIRE                  FLAREDB                      IAM   AGE   NODE-IP     DATACENTER/RACK   MEMBER-ID          GENERATION   OBSERVED',
        'node01   control-plane   Present   Ready     True                       -                            -     3h    10.0.1.10   dc1/r1            8e9e05c52164694d   7            7',
        'node04   worker          Present   Joining   False(LearnerCatchingUp)   False(WaitingForChainfire)   -     95s   10.0.1.13   -                 6c1e2f             12           12',
        '',
      ].join('\n'),
    );
  });

  it('marks a record without status as Pending, an invalid record <invalid>, and a status without record <none>', () => {
    const invalid = decodeDesired(keys, { key: keys.desired('node07'), value: '{"kind":"NodeMembership"}', modRevision: 20, createRevision: 20 });
    const views: NodeView[] = [
      { node: 'node05', desired: desiredRecord('node05', { role: 'worker', iam: {} }, 15, 5) },
      { node: 'node07', desired: invalid },
      { node: 'node09', status: sampleViews()[0]!.status! },
    ];
    assert.equal(
      renderTable(views, NOW, true),
      [
        'NAME     ROLE        STATE     PHASE     CHAINFIRE   FLAREDB   IAM       AGE         NODE-IP   DATACENTER/RACK   MEMBER-ID          GENERATION   OBSERVED',
        'node05   worker      Present   Pending   -           -         Unknown   5s          -         -                 -                  15           -',
        'node07   <invalid>   -         Pending   -           -         -         <unknown>   -         -                 -                  20           -',
        'node09   <none>      -         Ready     -           -         -         <unknown>   -         -                 8e9e05c52164694d   -            7',
        '',
      ].join('\n'),
    );
  });

  it('-o name prints nodemembership/NAME per line; an empty table says so', () => {
    assert.equal(renderNames(sampleViews()), 'nodemembership/node01\nnodemembership/node04\n');
    assert.equal(renderViews([], 'table', false), 'No NodeMemberships found.\n');
    assert.equal(renderViews([], 'name', false), '');
  });

  it('-o json is a List of records with generation and status, or the one record asked for', () => {
    const list = JSON.parse(renderStructured(sampleViews(), 'json', false)) as { kind: string; items: Record<string, any>[] };
    assert.equal(list.kind, 'List');
    assert.deepEqual(list.items.map((i) => [i.metadata.name, i.metadata.generation, i.status.phase, i.spec.role]), [
      ['node01', 7, 'Ready', 'control-plane'],
      ['node04', 12, 'Joining', 'worker'],
    ]);
    const one = JSON.parse(renderStructured(sampleViews().slice(1), 'json', true)) as Record<string, any>;
    assert.equal(one.kind, 'NodeMembership');
    assert.equal(one.apiVersion, 'membership.photoncloud.io/v1alpha1');
    assert.equal(one.status.chainfire.role, 'learner');
  });

  it('-o yaml is the same document as -o json', () => {
    const yaml = renderStructured(sampleViews(), 'yaml', false);
    assert.match(yaml, /^apiVersion: v1\nkind: List\nitems:\n {2}- apiVersion: membership\.photoncloud\.io\/v1alpha1\n/);
    assert.deepEqual(parseYaml(yaml), JSON.parse(renderStructured(sampleViews(), 'json', false)));
    assert.match(renderStructured(sampleViews().slice(0, 1), 'yaml', true), /^apiVersion: membership\.photoncloud\.io\/v1alpha1\nkind: NodeMembership\n/);
  });

  it('ages: seconds up to 2 minutes, then minutes, hours, days', () => {
    assert.deepEqual(
      [0, 119, 120, 7199, 7200, 48 * 3600 - 1, 48 * 3600].map((s) => age(new Date(NOW - s * 1000).toISOString(), NOW)),
      ['0s', '119s', '2m', '119m', '2h', '47h', '2d'],
    );
    assert.equal(age(undefined, NOW), '<unknown>');
  });
});

describe('membershipctl describe rendering', () => {
  it('shows spec, status, conditions with ages, the change in flight and the agent report', () => {
    assert.equal(
      renderDescribe(sampleViews()[1]!, NOW, [joinInFlight]),
      [
        'Name:         node04',
        'Generation:   12',
        'Created:      2026-11-24T10:28:25.000Z (95s ago)',
        'Role:         worker',
        'Bootstrap:    false',
        'State:        Present',
        'Node IP:      10.0.1.13',
        'Chainfire:    raft 10.0.1.13:2380, client https://10.0.1.13:2379',
        'FlareDB:      raft 10.0.1.13:2480, api https://10.0.1.13:2479',
        'Phase:        Joining',
        'Observed:     generation 12',
        'Chainfire member: 6c1e2f (learner) https://10.0.1.13:2380',
        'Initial cluster:  node01=https://10.0.1.10:2380,node04=https://10.0.1.13:2380',
        'Written by:   node01/4312 (term 57)',
        'Conditions:',
        '  TYPE              STATUS   REASON                AGE   MESSAGE',
        '  AgentReady        True     Reporting             90s   node04\'s first-boot agent is reporting',
        '  ChainfireMember   False    LearnerCatchingUp     30s   learner 6c1e2f; waiting for it to catch up before promotion',
        '  FlareDBMember     False    WaitingForChainfire   90s   joins FlareDB once it is a Chainfire member',
        '  Ready             False    LearnerCatchingUp     30s   ChainfireMember: learner 6c1e2f; waiting for it to catch up before promotion',
        'In flight:    chainfire join, started 40s ago by node01/4312 (term 57)',
        'Agent:        pid 812 on node04, join mode, waiting for chainfire, up 100s',
        '  chainfire: healthy (https://10.0.1.13:2379/health answered HTTP 200), checked 2s ago',
        '',
      ].join('\n'),
    );
  });

  it('names another node\'s change that this node waits for, and says when nothing is in flight', () => {
    const [node01, node04] = sampleViews();
    const otherJoin = { ...joinInFlight, node: 'node05' };
    assert.match(
      renderDescribe(node04!, NOW, [otherJoin, { ...joinInFlight, service: 'flaredb', node: 'node06', change: 'remove' }]),
      /^In flight: {4}chainfire join of node05, started 40s ago by node01\/4312 \(term 57\) \(node04's chainfire changes wait for it\)\n {14}flaredb remove of node06, started 40s ago by node01\/4312 \(term 57\) \(node04's flaredb changes wait for it\)$/m,
    );
    // node01 is a member of Chainfire already: another node's join does not concern it.
    const text = renderDescribe(node01!, NOW, [otherJoin]);
    assert.match(text, /^In flight: {4}<none>$/m);
    assert.match(text, /^Location: {5}dc1\/r1$/m);
    assert.match(text, /^Agent: {8}<not reporting>$/m);
  });

  it('says what to do when there is no desired record or no status yet', () => {
    const text = renderDescribe({ node: 'node08' }, NOW);
    assert.match(text, /^Desired: {6}<none> \(no desired record; apply one with membershipctl apply -f FILE\)$/m);
    assert.match(text, /^Status: {7}<none> \(the controller has not reconciled this node yet; is membership-controller running\?\)$/m);
  });
});

describe('record text with control characters, shown to a person', () => {
  const evil = desiredRecord('node10', {
    role: 'worker',
    fqdn: 'node10.\x1b[2J\x1b[31mevil.example.com',
    rack: 'r1\r\nnode99   worker   Present   Ready',
    datacenter: 'dc\x07',
    nodeIp: '10.0.0.10\u009b31m',
  }, 3);
  const view: NodeView = { node: 'node10', desired: evil };

  it('a table escapes them, so no row can be forged and the columns stay aligned', () => {
    const table = renderTable([view, ...sampleViews()], NOW, true);
    assert.doesNotMatch(table, /[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
    const lines = table.trimEnd().split('\n');
    assert.equal(lines.length, 4);
    assert.ok(!lines.some((l) => l.startsWith('node99')));
    assert.match(lines[1]!, /10\.0\.0\.10\\x9b31m +dc\\x07\/r1\\r\\nnode99   worker   Present   Ready +-/);
    // Every row's GENERATION starts under its header: widths were taken from what is shown.
    const at = lines[0]!.indexOf('GENERATION');
    for (const l of lines.slice(1)) assert.match(l.slice(at), /^\d/);
  });

  it('describe escapes them in every line', () => {
    const text = renderDescribe(view, NOW);
    assert.doesNotMatch(text, /[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
    assert.match(text, /^FQDN: {9}node10\.\\x1b\[2J\\x1b\[31mevil\.example\.com$/m);
    assert.match(text, /^Location: {5}dc\\x07\/r1\\r\\nnode99   worker   Present   Ready$/m);
  });

  it('-o name escapes a node name from an invalid key; -o json keeps the data', () => {
    assert.equal(renderNames([{ node: 'bad\x1b[2Jname' }]), 'nodemembership/bad\\x1b[2Jname\n');
    assert.match(renderViews([view], 'json', true), /"fqdn": "node10\.\\u001b\[2J\\u001b\[31mevil\.example\.com"/);
  });
});
