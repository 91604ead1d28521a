import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { AGENT_EXIT_CODES, exitCodeFrom } from '../cli/exit-codes.js';
import { MembershipError } from '../errors.js';
import { createLogger } from '../log.js';
import { loadContext, type AgentContext } from './context.js';
import { writeMarker } from './markers.js';
import { RESET_FILES, moveAside, resetService, resetStamp } from './reset.js';

const quiet = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, done) => done() }) });

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

/** A port that nothing listens on (any more). */
async function closedPort(): Promise<number> {
  const s = createServer();
  const port = await listen(s);
  await new Promise((r) => s.close(r));
  return port;
}

/** An agent context for node04 whose local Chainfire and FlareDB are at the given ports. */
async function contextFor(dir: string, chainfirePort: number, flaredbPort: number): Promise<AgentContext> {
  const config = join(dir, 'cluster-config.json');
  await writeFile(config, JSON.stringify({
    node_id: 'node04', node_role: 'control-plane', bootstrap: false, cluster_name: 'test', leader_url: 'http://127.0.0.1:2379',
    raft_addr: '127.0.0.1:12380', initial_peers: ['127.0.0.1:2380'], flaredb_peers: ['127.0.0.1:2480'], node_ip: '127.0.0.1',
    services: {
      chainfire: { client_url: `http://127.0.0.1:${chainfirePort}` },
      flaredb: { raft_addr: '127.0.0.1:12480', api_url: `http://127.0.0.1:${flaredbPort}` },
      iam: { enabled: false },
    },
  }));
  return loadContext({ config, stateDir: join(dir, 'state'), timeout: 0, healthTimeout: 0, startCommand: '', heartbeatTtl: 10 }, quiet);
}

/** A data dir as etcd leaves it, and every marker of both services. */
async function populated(dir: string): Promise<{ dataDir: string; stateDir: string }> {
  const dataDir = join(dir, 'chainfire');
  const stateDir = join(dir, 'state');
  await mkdir(join(dataDir, 'member', 'wal'), { recursive: true, mode: 0o700 });
  await writeFile(join(dataDir, 'member', 'wal', '0000000000000000-0000000000000000.wal'), 'wal');
  for (const name of ['.chainfire-joined', '.flaredb-joined', '.iam-initialized'] as const) await writeMarker(stateDir, name);
  await writeFile(join(stateDir, '.chainfire-member'), '6c1e\n');
  await writeFile(join(stateDir, 'chainfire-join.env'), 'CHAINFIRE_NAME=node04\n');
  return { dataDir, stateDir };
}

describe('first-boot-agent reset', () => {
  let running: Server;
  let runningPort: number;
  let stopped: number;
  before(async () => {
    running = createServer((_req, res) => {
      res.statusCode = 503;
      res.end('{"health":"false"}');
    });
    runningPort = await listen(running);
    stopped = await closedPort();
  });
  after(() => new Promise<void>((r) => running.close(() => r())));

  it('moves the data dir aside to <dir>.reset-<time>, leaves an empty one with its mode, and removes that service\'s markers only', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'reset-'));
    const { dataDir, stateDir } = await populated(dir);
    const ctx = await contextFor(dir, stopped, stopped);
    const now = new Date('2026-11-24T10:30:45.123Z');
    const r = await resetService(ctx, 'chainfire', { dataDir, stateDir, now });

    assert.equal(r.movedTo, `${dataDir}.reset-2026-11-24T103045Z`);
    assert.equal(await readFile(join(r.movedTo!, 'member', 'wal', '0000000000000000-0000000000000000.wal'), 'utf8'), 'wal', 'nothing deleted');
    assert.deepEqual(await readdir(dataDir), [], 'an empty data dir where it was');
    assert.equal((await stat(dataDir)).mode & 0o777, 0o700);
    assert.deepEqual(r.removed.sort(), ['.chainfire-joined', '.chainfire-member', 'chainfire-join.env']);
    assert.deepEqual((await readdir(stateDir)).sort(), ['.flaredb-joined', '.iam-initialized'], 'the other services\' markers stay');
    assert.match(r.next, /^systemctl restart chainfire-cluster-join\.service/);

    // Again: nothing left to move or remove, and that is fine.
    const again = await resetService(ctx, 'chainfire', { dataDir, stateDir, now });
    assert.equal(again.movedTo, undefined);
    assert.deepEqual(again.removed, []);
  });

  it('a second reset in the same second gets its own name; a missing data dir is nothing to move', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'reset-'));
    const dataDir = join(dir, 'flaredb');
    const now = new Date('2026-11-24T10:30:45Z');
    assert.equal(await moveAside(dataDir, now), undefined, 'missing');
    await mkdir(dataDir);
    assert.equal(await moveAside(dataDir, now), undefined, 'empty');
    await writeFile(join(dataDir, 'CURRENT'), '1');
    assert.equal(await moveAside(`${dataDir}/`, now), `${dataDir}.reset-2026-11-24T103045Z`);
    await writeFile(join(dataDir, 'CURRENT'), '2');
    assert.equal(await moveAside(dataDir, now), `${dataDir}.reset-2026-11-24T103045Z-2`);
    assert.equal(await readFile(join(`${dataDir}.reset-2026-11-24T103045Z`, 'CURRENT'), 'utf8'), '1');
    assert.equal(resetStamp(new Date('2026-01-02T03:04:05.678Z')), '2026-01-02T030405Z');
  });

  it('flaredb: its own markers, and what to run next', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'reset-'));
    const { stateDir } = await populated(dir);
    const dataDir = join(dir, 'flaredb');
    await mkdir(dataDir);
    await writeFile(join(dataDir, 'CURRENT'), '1');
    const r = await resetService(await contextFor(dir, stopped, stopped), 'flaredb', { dataDir, stateDir });
    assert.ok(r.movedTo?.startsWith(`${dataDir}.reset-`));
    assert.deepEqual(r.removed, ['.flaredb-joined']);
    assert.ok(RESET_FILES.flaredb.every((f) => f.includes('flaredb')));
    assert.match(r.next, /systemctl start flaredb\.service && systemctl restart flaredb-cluster-join\.service/);
  });

  it('refuses while the local service answers its health check, healthy or not, and changes nothing (exit 69)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'reset-'));
    const { dataDir, stateDir } = await populated(dir);
    const ctx = await contextFor(dir, runningPort, runningPort);
    const refused = await resetService(ctx, 'chainfire', { dataDir, stateDir }).then(() => undefined, (err: unknown) => err);
    assert.ok(refused instanceof MembershipError, String(refused));
    assert.equal(exitCodeFrom(AGENT_EXIT_CODES)(refused), 69);
    assert.match(refused.message, /Chainfire still runs on node04 \(http:\/\/127\.0\.0\.1:\d+\/health answered HTTP 503\): stop it first \(systemctl stop chainfire\)/);
    assert.match(refused.message, /nothing was changed/);
    await stat(join(dataDir, 'member'));
    await stat(join(stateDir, '.chainfire-joined'));
    assert.equal((await readdir(dir)).filter((n) => n.includes('.reset-')).length, 0);

    const fd = await resetService(ctx, 'flaredb', { dataDir: join(dir, 'flaredb'), stateDir }).then(() => undefined, (err: unknown) => err);
    assert.match(String((fd as Error).message), /FlareDB still runs .*systemctl stop flaredb/);
  });

  it('refuses a service the node does not run (exit 78)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'reset-'));
    const config = join(dir, 'worker.json');
    await writeFile(config, JSON.stringify({
      node_id: 'node09', node_role: 'worker', bootstrap: false, cluster_name: 'test', leader_url: 'http://127.0.0.1:2379',
      raft_addr: '127.0.0.1:12380', initial_peers: ['127.0.0.1:2380'], flaredb_peers: [], node_ip: '127.0.0.1',
      services: { chainfire: { client_url: `http://127.0.0.1:${stopped}` }, flaredb: { enabled: false } },
    }));
    const ctx = await loadContext({ config, stateDir: dir, timeout: 0, healthTimeout: 0, startCommand: '', heartbeatTtl: 10 }, quiet);
    const err = await resetService(ctx, 'flaredb', { dataDir: join(dir, 'x'), stateDir: dir }).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof MembershipError);
    assert.equal(exitCodeFrom(AGENT_EXIT_CODES)(err), 78);
  });
});
