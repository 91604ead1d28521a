import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChainfireMember } from '../schema/members.js';
import type { NodeMembership } from '../schema/node-membership.js';
import { chainfireRows, flaredbRows, renderChainfireRows, renderFlareDBRows } from './members.js';
import { desiredRecord } from '../../test/support/ctl-records.js';

const record = (node: string, spec: Record<string, unknown>): NodeMembership => desiredRecord(node, { role: 'control-plane', ...spec }, 3).value!;
const cf = (ip: string) => ({ chainfire: { raftAddr: `${ip}:2380`, clientUrl: `https://${ip}:2379` } });
const member = (id: string, name: string, ip: string, isLearner = false, started = true): ChainfireMember => ({
  id,
  name,
  peerUrls: [`https://${ip}:2380`],
  clientUrls: started ? [`https://${ip}:2379`] : [],
  isLearner,
});

describe('membershipctl members chainfire', () => {
  const members = [
    member('8e9e05c52164694d', 'node01', '10.0.1.10'),
    member('91bc3c398fb3c146', 'node03', '10.0.1.12'),
    member('fd422379fda50e48', 'node02', '10.0.1.11'),
    member('6c1e2f0a9b8d7e5c', '', '10.0.1.13', true, false),
  ];
  const records = [
    record('node01', cf('10.0.1.10')),
    record('node02', { ...cf('10.0.1.11'), state: 'Absent' }),
    record('node04', cf('10.0.1.13')),
    record('node05', cf('10.0.1.14')),
    record('node06', { ...cf('10.0.1.15'), state: 'Absent' }),
    record('node07', {}),
  ];

  it('marks each member with the record that claims it, orphans, unstarted learners, and records with no member', () => {
    const rows = chainfireRows(members, { '8e9e05c52164694d': true, fd422379fda50e48: false, '91bc3c398fb3c146': true }, '8e9e05c52164694d', records);
    assert.equal(
      renderChainfireRows(rows),
      [
        'ID                 NAME          ROLE      PEER-URLS                HEALTH      DESIRED',
        '8e9e05c52164694d   node01        voter     https://10.0.1.10:2380   healthy     node01',
        'fd422379fda50e48   node02        voter     https://10.0.1.11:2380   unhealthy   node02 (Absent)',
        '91bc3c398fb3c146   node03        voter     https://10.0.1.12:2380   healthy     <orphan>',
        '6c1e2f0a9b8d7e5c   <unstarted>   learner   https://10.0.1.13:2380   unknown     node04',
        '<missing>          -             -         https://10.0.1.14:2380   -           node05',
        'Raft leader: 8e9e05c52164694d (node01)',
        '',
      ].join('\n'),
    );
  });

  it('names every record when several claim one member', () => {
    const rows = chainfireRows([members[0]!], {}, undefined, [record('node01', cf('10.0.1.10')), record('node11', cf('10.0.1.10'))]);
    assert.equal(rows[0]!.desired, 'node01,node11 (conflict)');
    assert.equal(rows[0]!.health, 'unhealthy');
    assert.equal(rows.length, 1);
  });
});

describe('membershipctl members flaredb', () => {
  it('matches members by id, notes a different raft address, and lists records with no member', () => {
    const fdb = (ip: string) => ({ flaredb: { raftAddr: `${ip}:2480`, apiUrl: `https://${ip}:2479` } });
    const rows = flaredbRows(
      [
        { id: 'node02', raftAddr: '10.0.1.11:2480', status: 'healthy' },
        { id: 'node01', raftAddr: '10.0.1.10:2480' },
        { id: 'node09', raftAddr: '10.0.1.19:2480', status: 'healthy' },
      ],
      [record('node01', fdb('10.0.1.10')), record('node02', fdb('10.0.1.99')), record('node04', fdb('10.0.1.13')), record('node05', cf('10.0.1.14'))],
    );
    assert.equal(
      renderFlareDBRows(rows),
      [
        'ID          RAFT-ADDR        STATUS    DESIRED',
        'node01      10.0.1.10:2480   -         node01',
        'node02      10.0.1.11:2480   healthy   node02 (wants 10.0.1.99:2480)',
        'node09      10.0.1.19:2480   healthy   <orphan>',
        '<missing>   10.0.1.13:2480   -         node04',
        '',
      ].join('\n'),
    );
  });
});
