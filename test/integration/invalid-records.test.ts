import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { binPath, runProcess } from '../support/processes.js';
import { bootstrapRecords, ctl, eventually, membershipFor, readStatus, tempDir, withRunningController, writeJson } from '../support/fixtures.js';
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

  it('refuses a reserved key (__proto__ was dropped silently): apply names the field, and a record put past it is InvalidSpec', async () => {
    const rec = membershipFor({ name: 'node08', peerUrl: 'http://127.0.0.1:8', clientUrl: 'http://127.0.0.1:8' }, false, { role: 'worker' });
    const text = JSON.stringify({ ...rec, metadata: { name: 'node08', labels: {} } }).replace('"labels":{}', '"labels":{"__proto__":{"team":"a"}}');
    const applied = await ctl(env.cluster.endpoints, ['apply', '-f', '-'], text);
    assert.equal(applied.code, 78, applied.stderr);
    assert.match(applied.stderr, /metadata\.labels\.__proto__: "__proto__" is not allowed as a key/);
    assert.equal(await env.client.get(keys.desired('node08')).string(), null, 'apply wrote the record');

    await env.client.put(keys.desired('node08')).value(text);
    const failed = await eventually('node08 InvalidSpec', async () => {
      const s = await readStatus(env.client, 'node08');
      return s?.status.phase === 'Failed' ? s : undefined;
    });
    assert.match(failed.status.conditions.find((c) => c.type === 'Ready')?.message ?? '', /metadata\.labels\.__proto__/);
  });

  it('logs a desired record under an invalid key once per revision, not again at every resync', async () => {
    const invalidLines = () => env.controller.lines.filter((l) => /invalid node name/.test(l) && l.includes('Node_07'));
    await env.controller.waitForLine(/invalid node name/, 10_000);
    // Three resync periods (5 s each) later, still the one line.
    await new Promise((r) => setTimeout(r, 16_000));
    assert.equal(invalidLines().length, 1, invalidLines().join('\n'));
    // A new revision of it is worth a line of its own.
    await env.client.put(keys.desired('Node_07')).value(JSON.stringify({ hello: 'again' }));
    await eventually('a line for the new revision', async () => (invalidLines().length === 2 ? true : undefined), 20_000);
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
