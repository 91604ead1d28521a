import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { INVALID_VARIANTS, Replace, type JsonObject } from '../fixtures/cluster-config/invalid-variants.js';
import { clusterConfigFixture } from '../fixtures/cluster-config/files.js';
import { FlareDBSimulator } from '../support/flaredb-simulator.js';
import { IAMSimulator } from '../support/iam-simulator.js';
import { binPath, runProcess } from '../support/processes.js';
import { tempDir, writeJson } from '../support/fixtures.js';

const agentBin = binPath('first-boot-agent');

function agent(args: string[], timeoutMs = 60_000) {
  return runProcess(process.execPath, [agentBin, ...args], { timeoutMs });
}

/** Runs `fn` over `items`, `limit` at a time. */
async function pool<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

describe('first-boot-agent: every invalid cluster-config.json exits 78 naming the field', () => {
  it(`rejects all ${INVALID_VARIANTS.length} invalid variants of the seed's bootstrap config`, async () => {
    assert.ok(INVALID_VARIANTS.length >= 30);
    const base = JSON.parse(await readFile(clusterConfigFixture('bootstrap'), 'utf8')) as JsonObject;
    const dir = await tempDir('agent-invalid-');
    const results = await pool(INVALID_VARIANTS, 4, async ([description, mutate, path], ) => {
      const copy = structuredClone(base);
      const out = mutate(copy);
      const config = out instanceof Replace ? out.value : copy;
      const file = await writeJson(dir, `${description.replace(/[^a-z0-9]+/gi, '-')}.json`, config);
      const r = await agent(['join', 'chainfire', '--config', file, '--state-dir', join(dir, 'state')]);
      return { description, path, code: r.code, out: r.stdout + r.stderr };
    });
    for (const r of results) {
      assert.equal(r.code, 78, `${r.description}: exit ${r.code}\n${r.out}`);
      assert.ok(r.out.includes(r.path), `${r.description}: message does not name ${r.path}:\n${r.out}`);
    }
  });
});

describe('first-boot-agent: join flaredb, iam-setup and health-check', () => {
  let flaredb: FlareDBSimulator;
  let iam: IAMSimulator;
  let dir: string;

  before(async () => {
    flaredb = await FlareDBSimulator.start({ replicas: 1, members: [{ id: 'node01', raft_addr: '127.0.0.1:24800' }] });
    iam = await IAMSimulator.start();
    dir = await tempDir('agent-sub-');
  });
  after(async () => {
    await flaredb?.stop();
    await iam?.stop();
  });

  const bootstrapConfig = (flaredbUrl: string, iamUrl: string) => ({
    node_id: 'node01',
    node_role: 'control-plane',
    bootstrap: true,
    cluster_name: 'test-cluster',
    leader_url: 'http://127.0.0.1:2379',
    raft_addr: '127.0.0.1:2380',
    initial_peers: ['127.0.0.1:2380'],
    flaredb_peers: ['127.0.0.1:24800'],
    services: {
      // No etcd runs in this test: health-check must find Chainfire unreachable.
      chainfire: { client_url: 'http://127.0.0.1:9' },
      flaredb: { raft_addr: '127.0.0.1:24800', api_url: flaredbUrl },
      iam: { api_url: iamUrl },
    },
  });

  it('join flaredb (bootstrap) waits for local FlareDB and writes .flaredb-initialized; a rerun exits 0 at once', async () => {
    const cfg = await writeJson(dir, 'boot.json', bootstrapConfig(flaredb.urls[0]!, iam.urls[0]!));
    const stateDir = join(dir, 'state-flaredb');
    const r = await agent(['join', 'flaredb', '--config', cfg, '--state-dir', stateDir]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /"service":"flaredb"/);
    assert.ok(!Number.isNaN(Date.parse((await readFile(join(stateDir, '.flaredb-initialized'), 'utf8')).trim())));
    const again = await agent(['join', 'flaredb', '--config', cfg, '--state-dir', stateDir]);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /already done/);
  });

  it('iam-setup (bootstrap) waits for local IAM and writes .iam-initialized', async () => {
    const cfg = await writeJson(dir, 'boot-iam.json', bootstrapConfig(flaredb.urls[0]!, iam.urls[0]!));
    const stateDir = join(dir, 'state-iam');
    const r = await agent(['iam-setup', '--config', cfg, '--state-dir', stateDir]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /"operation":"initial-setup"/);
    await stat(join(stateDir, '.iam-initialized'));
  });

  it('join flaredb exits 69 when the local FlareDB stays down, and writes no marker', async () => {
    const cfg = await writeJson(dir, 'boot-down.json', bootstrapConfig('http://127.0.0.1:9', iam.urls[0]!));
    const stateDir = join(dir, 'state-down');
    const r = await agent(['join', 'flaredb', '--config', cfg, '--state-dir', stateDir, '--health-timeout', '2s']);
    assert.equal(r.code, 69, r.stdout + r.stderr);
    assert.match(r.stdout, /Health check timeout after 2s/);
    await assert.rejects(stat(join(stateDir, '.flaredb-initialized')));
  });

  it('health-check reports every service and exits 69 when one is unhealthy, 0 when all are', async () => {
    const cfg = await writeJson(dir, 'health.json', bootstrapConfig(flaredb.urls[0]!, iam.urls[0]!));
    const bad = await agent(['health-check', '--config', cfg]);
    assert.equal(bad.code, 69, bad.stdout + bad.stderr);
    const lines = bad.stdout.trim().split('\n').map((l) => JSON.parse(l) as { checked?: string; healthy?: boolean; level: string });
    const byService = Object.fromEntries(lines.filter((l) => l.checked).map((l) => [l.checked, l.healthy]));
    assert.deepEqual(byService, { chainfire: false, flaredb: true, iam: true });

    const healthyCfg = bootstrapConfig(flaredb.urls[0]!, iam.urls[0]!);
    // Chainfire's health: the IAM simulator answers /health too, so it stands in for a healthy etcd here.
    healthyCfg.services.chainfire.client_url = iam.urls[0]!;
    const good = await agent(['health-check', '--config', await writeJson(dir, 'health-ok.json', healthyCfg)]);
    assert.equal(good.code, 0, good.stdout + good.stderr);
    assert.match(good.stdout, /all services healthy/);
  });

  it('rejects a subcommand for a service the node does not run, with exit 78', async () => {
    const cfg = bootstrapConfig(flaredb.urls[0]!, iam.urls[0]!) as JsonObject;
    cfg.node_role = 'worker';
    cfg.bootstrap = false;
    cfg.leader_url = 'http://127.0.0.1:2399';
    cfg.flaredb_peers = [];
    delete cfg.services.flaredb;
    delete cfg.services.iam;
    const r = await agent(['iam-setup', '--config', await writeJson(dir, 'worker.json', cfg), '--state-dir', join(dir, 'w')]);
    assert.equal(r.code, 78, r.stdout + r.stderr);
    assert.match(r.stdout, /does not run IAM/);
  });
});
