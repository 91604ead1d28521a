import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Etcd3, IMember } from 'etcd3';
import { EtcdChainfireDriver } from './chainfire.js';

/**
 * etcd 3.4 answers a member list from whichever member the client asks, from
 * that member's applied state. These cases replay such answers: a member list
 * served by a member that has not applied the last change yet. (The real path
 * runs against real etcd clusters in test/integration.)
 */
function member(id: number, peer: string, isLearner = false): IMember {
  return { ID: String(id), name: isLearner ? '' : `n${id}`, peerURLs: [peer], clientURLs: isLearner ? [] : [`http://127.0.0.1:${id}`], isLearner };
}

const A = member(0x1, 'http://127.0.0.1:2380');
const B = member(0x2, 'http://127.0.0.1:2381');
const C = member(0x3, 'http://127.0.0.1:2382');

function clusterAnswering(lists: IMember[][], afterAdd: IMember[]) {
  const calls = { list: 0 };
  const client = {
    cluster: {
      memberList: async () => {
        const members = lists[Math.min(calls.list, lists.length - 1)]!;
        calls.list += 1;
        return { header: {}, members };
      },
      memberAdd: async () => ({ header: {}, member: afterAdd[afterAdd.length - 1], members: afterAdd }),
    },
  } as unknown as Etcd3;
  return { client, calls };
}

describe('EtcdChainfireDriver member list after a change', () => {
  const learner = member(0x4, 'http://127.0.0.1:2390', true);
  const after = [A, B, C, learner];

  it('reads again when the answering member has not applied the add yet', async () => {
    const { client, calls } = clusterAnswering([[A, B, C], [A, B, C, learner]], after);
    const driver = new EtcdChainfireDriver(client);
    await driver.addLearner('http://127.0.0.1:2390');
    const list = await driver.listMembers(true);
    assert.equal(calls.list, 2, 'one more read');
    assert.ok(list.some((m) => m.id === '4' && m.isLearner), 'the learner is in the list');
  });

  it('uses the add answer when every read lags', async () => {
    const { client, calls } = clusterAnswering([[A, B, C]], after);
    const driver = new EtcdChainfireDriver(client);
    await driver.addLearner('http://127.0.0.1:2390');
    const list = await driver.listMembers(true);
    assert.equal(calls.list, 4, 'the read and three more');
    assert.deepEqual(
      list.map((m) => m.id),
      ['1', '2', '3', '4'],
    );
  });

  it('without a change of its own it takes the list as answered, in one read', async () => {
    const { client, calls } = clusterAnswering([[A, B, C]], after);
    const driver = new EtcdChainfireDriver(client);
    const list = await driver.listMembers(true);
    assert.equal(calls.list, 1);
    assert.equal(list.length, 3);
  });
});
