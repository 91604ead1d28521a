import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { EtcdCluster } from '../support/etcd-cluster.js';
import type { ProcessHandle } from '../support/processes.js';
import { bootstrapRecords, ctl, eventually, startController } from '../support/fixtures.js';
import { KeyLayout } from '../../src/store/keys.js';
import type { ClusterStatus } from '../../src/schema/cluster.js';

describe('a member no desired record claims is reported as orphaned, never removed', () => {
  let cluster: EtcdCluster;
  let client: Etcd3;
  let controller: ProcessHandle;

  before(async () => {
    cluster = await EtcdCluster.start({ size: 3 });
    client = new Etcd3({ hosts: cluster.endpoints });
    controller = startController(cluster.endpoints, 'c1');
    await controller.waitForLine(/became leader/, 30_000);
  });
  after(async () => {
    controller?.kill('SIGKILL');
    await controller?.exited;
    client?.close();
    await cluster?.stop();
  });

  it('lists node03 as an orphan in cluster/status and the metric, and keeps it a member', async () => {
    // Records for node01 and node02 only.
    const applied = await ctl(cluster.endpoints, ['apply', '-f', '-'], JSON.stringify(bootstrapRecords(cluster).slice(0, 2)));
    assert.equal(applied.code, 0, applied.stderr);
    const status = await eventually('cluster/status with orphans', async () => {
      const raw = await client.get(new KeyLayout().clusterStatus()).string();
      const s = raw === null ? undefined : (JSON.parse(raw) as ClusterStatus);
      return s?.status.services?.chainfire?.orphans.join() === 'node03' ? s : undefined;
    });
    assert.deepEqual(status.status.services?.chainfire?.orphans, ['node03']);
    assert.equal(status.status.services?.chainfire?.voters, 3);
    assert.equal(status.status.services?.chainfire?.failureTolerance, 1);
    assert.ok(controller.lines.some((l) => /no desired record claims/.test(l) && /node03/.test(l)), 'the orphan is logged');
    const port = (JSON.parse(await controller.waitForLine(/serving \/metrics/, 5000)) as { port: number }).port;
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /^membership_orphaned_members\{service="chainfire"\} 1$/m);
    assert.match(metrics, /^membership_failure_tolerance\{service="chainfire"\} 1$/m);
    assert.match(metrics, /^membership_service_members\{service="chainfire",role="voter"\} 3$/m);
    // Several resyncs later it is still a member.
    await new Promise((r) => setTimeout(r, 6000));
    assert.equal((await client.cluster.memberList({})).members.length, 3);
  });
});
