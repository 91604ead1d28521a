// A store restored from a snapshot goes back in revision (and gets a new cluster id). A watch that
// resumes from the last revision it saw would wait for revisions that come late or never, and would
// miss every write in between. The controller's caches (also behind `membershipctl get -w`) and the
// agent's watched keys notice and list again. Against a real etcd member restored with etcdctl.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import { RecordCache, type CacheEvent } from '../../src/cache/record-cache.js';
import { createLogger } from '../../src/log.js';
import { connect, DEFAULT_CALL_TIMEOUT_MS } from '../../src/store/connection.js';
import { EtcdLite } from '../../src/store/etcd-lite/client.js';
import { WatchedKey, type KeyChange } from '../../src/store/etcd-lite/watched-key.js';
import { EtcdCluster } from '../support/etcd-cluster.js';
import { eventually, tempDir } from '../support/fixtures.js';

const run = promisify(execFile);
const ETCDCTL = process.env.ETCDCTL_BIN ?? 'etcdctl';
const log = createLogger({ level: 'silent' });

let cluster: EtcdCluster | undefined;
after(async () => {
  await cluster?.stop();
});

interface Raw {
  value: string;
}

describe('watchers across a restore from a snapshot', { timeout: 180_000 }, () => {
  it('the controller\'s cache and the agent\'s watched key list again and see every write after the restore', async () => {
    cluster = await EtcdCluster.start({ size: 1 });
    const member = cluster.member('node01');
    const setup = new Etcd3({ hosts: [member.clientUrl] });
    await setup.put('/p/a').value('a1');
    await setup.put('/p/k').value('k1');
    const dir = await tempDir('rewound-');
    const snapshot = join(dir, 'snap.db');
    await run(ETCDCTL, ['snapshot', 'save', snapshot, '--endpoints', member.clientUrl], { env: { ...process.env, ETCDCTL_API: '3' } });

    const client = connect({ endpoints: [member.clientUrl], prefix: '', callTimeoutMs: DEFAULT_CALL_TIMEOUT_MS });
    const restarts: string[] = [];
    const events: CacheEvent<Raw>[] = [];
    const cache = new RecordCache<Raw>({
      client, prefix: '/p/', decode: (kv) => ({ value: kv.value }), resource: 'p', log, epochCheckMs: 300, onWatchRestart: (r) => restarts.push(r),
    });
    cache.on('event', (e) => events.push(e));
    await cache.start();
    const lite = EtcdLite.connect({ endpoints: [member.clientUrl], prefix: '', callTimeoutMs: DEFAULT_CALL_TIMEOUT_MS });
    const changes: KeyChange<Raw>[] = [];
    const watched = new WatchedKey<Raw>({ client: lite, key: '/p/k', decode: (kv) => ({ value: kv.value }), resource: 'k', log, minBackoffMs: 100, maxBackoffMs: 500 });
    watched.on('change', (c) => changes.push(c));
    await watched.start();
    // A watch that carries on silently across the restore (its end never reported, as a watch from a revision that
    // does not exist yet would wait): only the periodic look at the store's revision can notice.
    const silent = new WatchedKey<Raw>({
      client: {
        range: (key) => lite.range(key),
        watch: (key, from, listener) => lite.watch(key, from, { onEvents: listener.onEvents, onEnd: () => undefined }),
      },
      key: '/p/k', decode: (kv) => ({ value: kv.value }), resource: 'k', log, minBackoffMs: 100, maxBackoffMs: 500, epochCheckMs: 300,
    });
    await silent.start();
    try {
      // Written after the snapshot: the revision climbs well past what the restore brings back.
      await setup.put('/p/b').value('b1');
      await setup.put('/p/k').value('k2');
      for (let i = 0; i < 60; i++) await setup.put(`/p/scratch/${i}`).value("x");
      await eventually('the cache and the watched key at k2', async () =>
        (cache.get('/p/k')?.value === 'k2' && watched.value?.value === 'k2' ? true : undefined), 20_000);
      const before = cache.lastRevision;
      setup.close();

      // Restore: stop the member, replace its data by the snapshot (a new cluster token), start it again.
      await cluster.kill('node01', 'SIGTERM');
      await rm(member.dataDir, { recursive: true, force: true });
      await run(ETCDCTL, [
        'snapshot', 'restore', snapshot, '--name', 'node01', '--initial-cluster', `node01=${member.peerUrl}`,
        '--initial-advertise-peer-urls', member.peerUrl, '--initial-cluster-token', 'restored', '--data-dir', member.dataDir,
      ], { env: { ...process.env, ETCDCTL_API: '3' } });
      await cluster.restart('node01');

      const after = new Etcd3({ hosts: [member.clientUrl] });
      try {
        await after.put('/p/c').value('c1');
        await after.put('/p/k').value('k3');
        const now = Number((await after.get('/p/k').exec()).header.revision);
        assert.ok(now < before, `the restore took the revision back (${now} < ${before})`);
        await eventually('the cache lists again: /p/b gone (written after the snapshot), /p/c and k3 seen', async () =>
          (cache.get('/p/b') === undefined && cache.get('/p/c')?.value === 'c1' && cache.get('/p/k')?.value === 'k3' ? true : undefined), 30_000);
        assert.ok(events.some((e) => e.type === 'delete' && e.key === '/p/b'), 'a delete event for /p/b');
        assert.ok(restarts.length > 0, 'counted as a watch restart');
        await eventually('the watched key sees k3', async () => (watched.value?.value === 'k3' ? true : undefined), 30_000);
        await eventually('the silently watched key sees k3 by its look at the revision', async () => (silent.value?.value === 'k3' ? true : undefined), 30_000);
        assert.ok(changes.some((c) => c.type === 'put' && c.record?.value === 'k3'), 'a change to k3');
        // And the watch goes on from the new revision.
        await after.put('/p/k').value('k4');
        await after.put('/p/d').value('d1');
        await eventually('writes after the re-list arrive', async () =>
          (watched.value?.value === 'k4' && silent.value?.value === 'k4' && cache.get('/p/d')?.value === 'd1' ? true : undefined), 30_000);
      } finally {
        after.close();
      }
    } finally {
      await cache.stop();
      await watched.stop();
      await silent.stop();
      lite.close();
      client.close();
    }
  });
});
