import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EtcdCluster } from '../support/etcd-cluster.js';
import { binPath, runProcess, startProcess } from '../support/processes.js';
import { tempDir, writeJson } from '../support/fixtures.js';

const agentBin = binPath('first-boot-agent');

function config(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    node_id: 'node04',
    node_role: 'worker',
    bootstrap: false,
    cluster_name: 'test-cluster',
    leader_url: 'http://127.0.0.1:2379',
    raft_addr: '127.0.0.1:12380',
    initial_peers: ['127.0.0.1:2380'],
    flaredb_peers: [],
    services: { chainfire: { client_url: 'http://127.0.0.1:12379' } },
    ...overrides,
  };
}

function agent(args: string[], timeoutMs = 60_000) {
  return runProcess(process.execPath, [agentBin, ...args], { timeoutMs });
}

describe('first-boot-agent exit codes and markers', () => {
  let cluster: EtcdCluster;
  let dir: string;

  before(async () => {
    cluster = await EtcdCluster.start({ size: 1 });
    dir = await tempDir('agent-');
  });
  after(async () => {
    await cluster?.stop();
  });

  it('exits 64 on usage errors, with a message', async () => {
    for (const args of [
      ['join', 'chainfire', '--bogus'],
      ['join', 'chainfire'],
      ['join', 'nonsense', '--config', 'x.json'],
      ['join', 'chainfire', '--config', 'x.json', '--timeout', 'soon'],
      ['frobnicate'],
    ]) {
      const r = await agent(args);
      assert.equal(r.code, 64, `${args.join(' ')} → ${r.code}\n${r.stdout}${r.stderr}`);
      assert.ok((r.stdout + r.stderr).trim().length > 0, `no message for ${args.join(' ')}`);
    }
  });

  it('exits 78 when the config is missing, not JSON or invalid, naming the field', async () => {
    const stateDir = join(dir, 'state78');
    const missing = await agent(['join', 'chainfire', '--config', join(dir, 'nope.json'), '--state-dir', stateDir]);
    assert.equal(missing.code, 78);
    assert.match(missing.stdout, /nope\.json/);
    assert.match(missing.stdout, /"level":"ERROR"/);

    const notJson = join(dir, 'broken.json');
    await writeFile(notJson, '{"node_id": "node04",');
    const r1 = await agent(['join', 'chainfire', '--config', notJson, '--state-dir', stateDir]);
    assert.equal(r1.code, 78);
    assert.match(r1.stdout, /JSON/);

    const bad = await writeJson(dir, 'bad.json', config({ raft_addr: '10.0.1.13' }));
    const r2 = await agent(['join', 'chainfire', '--config', bad, '--state-dir', stateDir]);
    assert.equal(r2.code, 78);
    assert.match(r2.stdout, /raft_addr/);
  });

  it('exits 78 naming the flag and the file when a TLS file (from a flag or the config) cannot be read', async () => {
    const stateDir = join(dir, 'state78-tls');
    const cfg = await writeJson(dir, 'tls.json', config());
    const r1 = await agent(['iam-setup', '--config', cfg, '--state-dir', stateDir, '--cacert', join(dir, 'no-ca.pem')]);
    assert.equal(r1.code, 78, r1.stdout + r1.stderr);
    assert.match(r1.stdout, /--cacert: cannot read .*no-ca\.pem: not found/);

    const fromConfig = await writeJson(dir, 'tls-config.json', config({ tls: { ca_file: join(dir, 'missing-ca.pem') } }));
    const r2 = await agent(['iam-setup', '--config', fromConfig, '--state-dir', stateDir]);
    assert.equal(r2.code, 78, r2.stdout + r2.stderr);
    assert.match(r2.stdout, /tls\.ca_file: cannot read .*missing-ca\.pem: not found/);
  });

  it('bootstrap mode waits only for local health and writes .chainfire-initialized; a rerun exits 0 at once', async () => {
    const member = cluster.members[0]!;
    const cfg = await writeJson(dir, 'boot.json', config({
      node_id: 'node01', node_role: 'control-plane', bootstrap: true,
      raft_addr: new URL(member.peerUrl).host, initial_peers: [new URL(member.peerUrl).host],
      leader_url: member.clientUrl, services: { chainfire: { client_url: member.clientUrl } },
    }));
    const stateDir = join(dir, 'boot-state');
    // No --endpoints: bootstrap never talks to the controller.
    const r = await agent(['join', 'chainfire', '--config', cfg, '--state-dir', stateDir]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const marker = (await readFile(join(stateDir, '.chainfire-initialized'), 'utf8')).trim();
    assert.match(marker, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d$/);
    const again = await agent(['join', 'chainfire', '--config', cfg, '--state-dir', stateDir]);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /already done/);
  });

  it('exits 69 when the local service stays unhealthy in bootstrap mode', async () => {
    const cfg = await writeJson(dir, 'boot-dead.json', config({
      node_id: 'node01', node_role: 'control-plane', bootstrap: true, raft_addr: '127.0.0.1:9',
      initial_peers: ['127.0.0.1:9'], leader_url: 'http://127.0.0.1:9', services: { chainfire: { client_url: 'http://127.0.0.1:9' } },
    }));
    const r = await agent(['join', 'chainfire', '--config', cfg, '--state-dir', join(dir, 'dead'), '--health-timeout', '2s']);
    assert.equal(r.code, 69, r.stdout + r.stderr);
    assert.match(r.stdout, /Health check timeout after 2s/);
    await assert.rejects(stat(join(dir, 'dead', '.chainfire-initialized')));
  });

  it('exits 69 when the controller does not answer within --timeout, and leaves no marker', async () => {
    const cfg = await writeJson(dir, 'join.json', config({ leader_url: cluster.endpoints[0] }));
    const stateDir = join(dir, 'join-state');
    const r = await agent(['join', 'chainfire', '--config', cfg, '--state-dir', stateDir, '--timeout', '3s', '--start-command', 'false']);
    assert.equal(r.code, 69, r.stdout + r.stderr);
    assert.match(r.stdout, /timed out after 3s/);
    assert.match(r.stdout, /no desired record/);
    await assert.rejects(stat(join(stateDir, '.chainfire-joined')));
  });

  it('reset: 64 on usage, 78 on a bad config, 69 while the service answers, else 0 with the data moved aside and the markers gone', async () => {
    for (const args of [['reset'], ['reset', 'iam', '--config', 'x.json'], ['reset', 'chainfire'], ['reset', 'chainfire', '--config', 'x.json', '--bogus']]) {
      const r = await agent(args);
      assert.equal(r.code, 64, `${args.join(' ')} → ${r.code}\n${r.stdout}${r.stderr}`);
    }
    const missing = await agent(['reset', 'chainfire', '--config', join(dir, 'nope.json')]);
    assert.equal(missing.code, 78, missing.stdout + missing.stderr);
    assert.match(missing.stdout, /nope\.json/);

    const member = cluster.members[0]!;
    const dataDir = join(dir, 'reset-data');
    const stateDir = join(dir, 'reset-state');
    await mkdir(join(dataDir, 'member'), { recursive: true });
    await mkdir(stateDir, { recursive: true });
    await writeFile(join(stateDir, '.chainfire-joined'), '2026-01-01T00:00:00+00:00\n');
    const running = await writeJson(dir, 'reset-running.json', config({ services: { chainfire: { client_url: member.clientUrl } } }));
    const refused = await agent(['reset', 'chainfire', '--config', running, '--data-dir', dataDir, '--state-dir', stateDir]);
    assert.equal(refused.code, 69, refused.stdout + refused.stderr);
    assert.match(refused.stdout, /"level":"ERROR".*Chainfire still runs on node04 .*stop it first \(systemctl stop chainfire\)/);
    await stat(join(dataDir, 'member'));
    await stat(join(stateDir, '.chainfire-joined'));

    const stopped = await writeJson(dir, 'reset-stopped.json', config());
    const r = await agent(['reset', 'chainfire', '--config', stopped, '--data-dir', dataDir, '--state-dir', stateDir]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const done = JSON.parse(r.stdout.trim().split('\n').pop()!) as { message: string; movedTo: string; removed: string[]; operation: string };
    assert.equal(done.operation, 'reset');
    assert.match(done.message, /^reset done; next: systemctl restart chainfire-cluster-join\.service/);
    assert.match(done.movedTo, /reset-data\.reset-\d{4}-\d\d-\d\dT\d{6}Z$/);
    assert.deepEqual(done.removed, ['.chainfire-joined']);
    await stat(join(done.movedTo, 'member'));
    await assert.rejects(stat(join(stateDir, '.chainfire-joined')));
  });

  it('a marker is absent or complete when the writer is killed at any moment', async () => {
    // A process writing markers in a loop, killed at varying moments: no marker may be partial.
    const script = `
      import { writeMarker } from ${JSON.stringify(new URL('../../src/agent/markers.js', import.meta.url).href)};
      let i = 0;
      for (;;) {
        await writeMarker(process.argv[2] + '/d' + (i++ % 50), '.chainfire-joined');
        if (i === 1) console.log('writing');
      }
    `;
    const scriptPath = join(dir, 'writer.mjs');
    await writeFile(scriptPath, script);
    const root = join(dir, 'kill');
    for (let round = 0; round < 10; round++) {
      const p = startProcess(process.execPath, [scriptPath, root]);
      // Kill it mid-stream: after it has started writing (module loading takes a while under load).
      await p.waitForLine(/writing/, 30_000);
      await new Promise((r) => setTimeout(r, 5 + round * 13));
      p.kill('SIGKILL');
      await p.exited;
    }
    const dirs = await readdir(root);
    assert.ok(dirs.length > 0, 'the writer wrote nothing before it was killed');
    for (const d of dirs) {
      const content = await readFile(join(root, d, '.chainfire-joined'), 'utf8').catch(() => undefined);
      if (content !== undefined) assert.ok(!Number.isNaN(Date.parse(content.trim())), `partial marker in ${d}: ${JSON.stringify(content)}`);
    }
  });
});
