import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { binPath, runProcess } from '../support/processes.js';
import { bootstrapRecords, eventually, readStatus, tempDir, withRunningController, writeJson } from '../support/fixtures.js';
import { KeyLayout } from '../../src/store/keys.js';
import { API_VERSION } from '../../src/schema/common.js';

describe('bad desired records get InvalidSpec or are ignored, never a crash, and others keep reconciling', () => {
  const env = withRunningController();
  const keys = new KeyLayout();

  it('reports InvalidSpec for bad JSON and schema violations, ignores an invalid node name, and still joins the good nodes', async () => {
    await env.client.put(keys.desired('node05')).value('{"apiVersion": not json');
    await env.client.put(keys.desired('node06')).value(
      JSON.stringify({
        apiVersion: API_VERSION,
        kind: 'NodeMembership',
        metadata: { name: 'node06' },
        spec: { role: 'boss', chainfire: { raftAddr: '10.0.0.6', clientUrl: 'http://10.0.0.6:2379' } },
      }),
    );
    await env.client.put(keys.desired('Node_07')).value(JSON.stringify({ hello: 'world' }));
    for (const rec of bootstrapRecords(env.cluster)) await env.client.put(keys.desired(rec.metadata.name)).value(JSON.stringify(rec));

    const bad = await eventually('node05 InvalidSpec', async () => {
      const s = await readStatus(env.client, 'node05');
      return s?.status.phase === 'Failed' ? s : undefined;
    });
    const ready = bad.status.conditions.find((c) => c.type === 'Ready');
    assert.equal(ready?.reason, 'InvalidSpec');
    assert.match(ready?.message ?? '', /not valid JSON/);

    const node06 = await eventually('node06 InvalidSpec', async () => {
      const s = await readStatus(env.client, 'node06');
      return s?.status.phase === 'Failed' ? s : undefined;
    });
    const msg = node06.status.conditions.find((c) => c.type === 'Ready')?.message ?? '';
    assert.match(msg, /spec\.role/);
    assert.match(msg, /spec\.chainfire\.raftAddr/);

    for (const node of ['node01', 'node02', 'node03']) {
      const s = await eventually(`${node} Ready`, async () => {
        const st = await readStatus(env.client, node);
        return st?.status.phase === 'Ready' ? st : undefined;
      });
      assert.equal(s.status.conditions.find((c) => c.type === 'ChainfireMember')?.reason, 'Adopted');
    }

    // The invalid name: a logged error, no status record, no member added.
    await env.controller.waitForLine(/invalid node name/, 10_000);
    const statusOfInvalid = await env.client.getAll().prefix(keys.dir('status')).keys();
    assert.deepEqual(statusOfInvalid.sort(), ['node01', 'node02', 'node03', 'node05', 'node06'].map((n) => keys.status(n)));
    assert.equal((await env.client.cluster.memberList({})).members.length, 3);
    assert.equal(env.controller.lines.filter((l) => /"level":"(ERROR|FATAL)"/.test(l) && !/invalid node name/.test(l)).length, 0);
  });

  it('the agent of a node with an invalid spec exits 65 with the reason', async () => {
    const dir = await tempDir('invalid-agent-');
    const config = await writeJson(dir, 'cluster-config.json', {
      node_id: 'node06',
      node_role: 'worker',
      bootstrap: false,
      cluster_name: 'test-cluster',
      leader_url: env.cluster.endpoints[0],
      raft_addr: '127.0.0.1:1',
      initial_peers: env.cluster.members.map((m) => new URL(m.peerUrl).host),
      flaredb_peers: [],
      services: { chainfire: { client_url: 'http://127.0.0.1:1' } },
    });
    const r = await runProcess(
      process.execPath,
      [binPath('first-boot-agent'), 'join', 'chainfire', '--config', config, '--state-dir', join(dir, 'state'),
        '--endpoints', env.cluster.endpoints.join(','), '--start-command', 'false', '--timeout', '60s'],
      { timeoutMs: 90_000 },
    );
    assert.equal(r.code, 65, r.stdout + r.stderr);
    assert.match(r.stdout, /InvalidSpec/);
  });
});
