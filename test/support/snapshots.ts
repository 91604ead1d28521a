// etcdctl on the controller's snapshot files: what `snapshot status` says of
// one, and a real etcd serving one restored into a fresh data dir.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { checkHealth, etcdBinary, freePort } from './etcd-cluster.js';
import { eventually } from './fixtures.js';
import { runProcess, startProcess } from './processes.js';

const ETCDCTL = process.env.ETCDCTL_BIN ?? '/usr/bin/etcdctl';

export interface SnapshotStatus {
  hash: number;
  revision: number;
  totalKey: number;
  totalSize: number;
}

/** `etcdctl snapshot status FILE -w json`. */
export async function snapshotStatus(file: string): Promise<SnapshotStatus> {
  const r = await runProcess(ETCDCTL, ['snapshot', 'status', file, '-w', 'json'], { timeoutMs: 30_000, env: { ETCDCTL_API: '3' } });
  assert.equal(r.code, 0, `etcdctl snapshot status ${file}: ${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout) as SnapshotStatus;
}

/**
 * `etcdctl snapshot restore FILE` into `<workDir>/restored` as a one-member
 * cluster, a real etcd started on it, and `body` run with a client of it; the
 * etcd is stopped afterwards.
 */
export async function withRestored<T>(file: string, workDir: string, body: (client: Etcd3) => Promise<T>): Promise<T> {
  const dataDir = join(workDir, 'restored');
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const peer = `http://127.0.0.1:${peerPort}`;
  const url = `http://127.0.0.1:${clientPort}`;
  const restored = await runProcess(
    ETCDCTL,
    ['snapshot', 'restore', file, '--name', 'restored', '--initial-cluster', `restored=${peer}`, '--initial-advertise-peer-urls', peer, '--data-dir', dataDir],
    { timeoutMs: 60_000, env: { ETCDCTL_API: '3' } },
  );
  assert.equal(restored.code, 0, `etcdctl snapshot restore ${file}: ${restored.stdout}${restored.stderr}`);
  const etcd = startProcess(etcdBinary(), [
    '--name', 'restored', '--data-dir', dataDir, '--listen-client-urls', url, '--advertise-client-urls', url,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `restored=${peer}`,
  ]);
  const client = new Etcd3({ hosts: url });
  try {
    await eventually('the restored etcd healthy', async () => ((await checkHealth(url)) === true ? true : undefined), 60_000);
    return await body(client);
  } finally {
    client.close();
    etcd.kill('SIGTERM');
    await etcd.exited;
  }
}
