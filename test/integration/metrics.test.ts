// /metrics, /healthz and /readyz of real controllers (a leader and a standby)
// before, during and after node04 joins a real 3-member Chainfire: every scrape
// passes `promtool check metrics`, every labelled series of the contract is
// there from the first scrape, and the values move the way the join moves them.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { EtcdCluster, type PlannedMember } from '../support/etcd-cluster.js';
import { binPath, runProcess, startProcess, type ProcessHandle } from '../support/processes.js';
import { bootstrapRecords, ctl, eventually, joinerClusterConfig, membershipFor, startController, tempDir, writeJson } from '../support/fixtures.js';
import { VERSION } from '../../src/version.js';

const promtool = process.env.PROMTOOL ?? 'promtool';
const PHASES = ['Pending', 'Joining', 'Ready', 'Removing', 'Removed', 'Failed'];
const SERVICES = ['chainfire', 'flaredb', 'iam'];
const LEADER = { name: 'membership-controller' };
const QUEUE = { name: 'nodemembership' };

/** promtool check metrics must find nothing to complain about. */
const STANDARD_METRIC_COMPLAINTS: string[] = [];

// ---------------------------------------------------------------------------
// Prometheus text format (version 0.0.4), enough to read our own exposition.

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Scrape {
  text: string;
  samples: Sample[];
  types: Map<string, string>;
}

/** Like Prometheus (Go's ParseFloat), case-insensitive for NaN and Inf: prom-client writes "Nan". */
function parseValue(raw: string): number {
  const word = raw.toLowerCase();
  if (word === 'nan') return NaN;
  if (word === '+inf' || word === 'inf') return Infinity;
  if (word === '-inf') return -Infinity;
  const n = Number(raw);
  assert.ok(!Number.isNaN(n), `not a sample value: ${raw}`);
  return n;
}

function parseExposition(text: string): Scrape {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1]!, type[2]!);
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[k!] = v!.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: m[1]!, labels, value: parseValue(m[3]!) });
  }
  return { text, samples, types };
}

/** Samples of `name` whose labels include `labels`. */
function series(s: Scrape, name: string, labels: Record<string, string> = {}): Sample[] {
  return s.samples.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
}

/** The one sample of `name` with exactly these labels (besides `le`); fails if it is missing. */
function value(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  const found = series(s, name, labels).filter((x) => Object.keys(x.labels).length === Object.keys(labels).length);
  assert.equal(found.length, 1, `${name}${JSON.stringify(labels)}: ${found.length} samples`);
  return found[0]!.value;
}

function total(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  return series(s, name, labels).reduce((acc, x) => acc + x.value, 0);
}

// ---------------------------------------------------------------------------

async function scrape(port: number): Promise<Scrape> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parseExposition(await res.text());
}

async function probe(port: number, path: '/healthz' | '/readyz'): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  await res.text();
  return res.status;
}

/** Runs `promtool check metrics` on a scrape; returns its exit code and complaints. */
async function promtoolCheck(s: Scrape): Promise<{ code: number | null; complaints: string[] }> {
  const r = await runProcess(promtool, ['check', 'metrics'], { stdin: s.text, timeoutMs: 30_000 });
  const complaints = `${r.stdout}\n${r.stderr}`.split('\n').map((l) => l.trim()).filter(Boolean);
  return { code: r.code, complaints };
}

/** Fails on any complaint other than the known ones about prom-client's standard metrics. */
async function assertPromtoolClean(s: Scrape, what: string): Promise<void> {
  const { code, complaints } = await promtoolCheck(s);
  const ours = complaints.filter((c) => !STANDARD_METRIC_COMPLAINTS.includes(c));
  assert.deepEqual(ours, [], `promtool check metrics complains about the ${what} scrape`);
  assert.ok(code === 0 || (code === 3 && complaints.length > 0), `promtool check metrics exited ${code} on the ${what} scrape`);
}

/**
 * Every labelled series of the contract that exists from start-up (the work
 * queue's come with leadership), plus membership_orphaned_members, which the
 * controller exports but the contract does not list yet.
 */
function exportedSeries(): [string, Record<string, string>][] {
  return [
    ...['success', 'error', 'requeue_after'].map((result): [string, Record<string, string>] => ['membership_reconcile_total', { controller: 'node', result }]),
    ['membership_reconcile_duration_seconds_count', { controller: 'node' }],
    ['membership_reconcile_duration_seconds_sum', { controller: 'node' }],
    ['leader_election_master_status', LEADER],
    ...PHASES.map((phase): [string, Record<string, string>] => ['membership_nodes', { phase }]),
    ...SERVICES.flatMap((service) => [
      ['membership_service_members', { service, role: 'voter' }],
      ['membership_service_members', { service, role: 'learner' }],
      ['membership_operations_in_progress', { service }],
      ['membership_orphaned_members', { service }],
    ] as [string, Record<string, string>][]),
    // IAM has no quorum of its own, so no failure tolerance series.
    ...['chainfire', 'flaredb'].map((service): [string, Record<string, string>] => ['membership_failure_tolerance', { service }]),
    ['membership_fenced_writes_rejected_total', {}],
    ...['desired', 'status', 'agents', 'operations', 'cluster-config', 'cluster-recovery', 'disruptions'].map((resource): [string, Record<string, string>] => ['membership_watch_restarts_total', { resource }]),
    ['membership_chainfire_last_recovery_timestamp_seconds', {}],
    ['membership_dead_members', {}],
    ...['held', 'overdue'].map((state): [string, Record<string, string>] => ['membership_disruptions', { state }]),
    ['membership_snapshots_total', { result: 'success' }],
    ['membership_snapshots_total', { result: 'failure' }],
    ['membership_last_snapshot_timestamp_seconds', {}],
    ['membership_node_joining_overflow', {}],
  ];
}

const QUEUE_SERIES: [string, Record<string, string>][] = [
  ['workqueue_depth', QUEUE],
  ['workqueue_adds_total', QUEUE],
  ['workqueue_retries_total', QUEUE],
  ['workqueue_queue_duration_seconds_count', QUEUE],
  ['workqueue_work_duration_seconds_count', QUEUE],
];

/** Every controller started, so that cleanup stops it even when start-up fails half way. */
const controllers: ProcessHandle[] = [];

async function startReplica(cluster: EtcdCluster, identity: string): Promise<{ proc: ProcessHandle; port: number; first: Scrape }> {
  const proc = startController(cluster.endpoints, identity);
  controllers.push(proc);
  const line = await proc.waitForLine(/serving \/metrics, \/healthz, \/readyz/, 30_000);
  const port = (JSON.parse(line) as { port: number }).port;
  assert.ok(port > 0, `bound port in: ${line}`);
  return { proc, port, first: await scrape(port) };
}

describe('controller metrics through a node04 join', () => {
  let cluster: EtcdCluster;
  let client: Etcd3;
  let leader: { proc: ProcessHandle; port: number; first: Scrape };
  let standby: { proc: ProcessHandle; port: number; first: Scrape };
  let plan: PlannedMember;
  let dir: string;
  let beforeJoin: Scrape;

  before(async () => {
    cluster = await EtcdCluster.start({ size: 3 });
    client = new Etcd3({ hosts: cluster.endpoints });
    leader = await startReplica(cluster, 'c1');
    await leader.proc.waitForLine(/became leader/, 30_000);
    standby = await startReplica(cluster, 'c2');
    await standby.proc.waitForLine(/standing by/, 30_000);
    plan = await cluster.planMember('node04');
    dir = await tempDir('metrics-');
  });

  after(async () => {
    for (const proc of controllers) proc.kill('SIGTERM');
    await Promise.all(controllers.map((proc) => proc.exited));
    client?.close();
    await cluster?.stop();
    if (dir && !process.env.KEEP_TEST_DIRS) await rm(dir, { recursive: true, force: true });
  });

  it('serves every labelled series of the contract from the first scrape, at 0, and promtool accepts it', async () => {
    // The leader may have reconciled already when its first scrape is taken; the
    // standby, started after it, never leads: every one of its series is still 0.
    for (const [name, labels] of exportedSeries()) {
      value(leader.first, name, labels);
      assert.equal(value(standby.first, name, labels), 0, `standby: ${name}${JSON.stringify(labels)} starts at 0`);
    }
    for (const r of [leader, standby]) {
      assert.equal(value(r.first, 'membership_build_info', { version: VERSION }), 1);
      assert.deepEqual(series(r.first, 'membership_node_joining_since_timestamp_seconds'), [], 'no node is Joining yet');
    }
    await assertPromtoolClean(leader.first, "leader's first");
    await assertPromtoolClean(standby.first, "standby's first");
  });

  it('answers /healthz 200 and, once its caches are synced, /readyz 200', async () => {
    for (const r of [leader, standby]) {
      assert.equal(await probe(r.port, '/healthz'), 200);
      await eventually('/readyz 200', async () => ((await probe(r.port, '/readyz')) === 200 ? true : undefined), 30_000);
    }
  });

  it('reports leader_election_master_status 1 on the leader only, and the leader runs the work queue', async () => {
    const [l, s] = await Promise.all([scrape(leader.port), scrape(standby.port)]);
    assert.equal(value(l, 'leader_election_master_status', LEADER), 1);
    assert.equal(value(s, 'leader_election_master_status', LEADER), 0);
    for (const [name, labels] of QUEUE_SERIES) value(l, name, labels);
  });

  it('reports the bootstrap members as orphans before their records are applied', async () => {
    const s = await eventually('3 Chainfire voters observed', async () => {
      const x = await scrape(leader.port);
      return value(x, 'membership_service_members', { service: 'chainfire', role: 'voter' }) === 3 ? x : undefined;
    });
    assert.equal(value(s, 'membership_service_members', { service: 'chainfire', role: 'learner' }), 0);
    assert.equal(value(s, 'membership_orphaned_members', { service: 'chainfire' }), 3);
    // 3 healthy voters, quorum 2: one may fail.
    assert.equal(value(s, 'membership_failure_tolerance', { service: 'chainfire' }), 1);
    await assertPromtoolClean(s, 'observed');
  });

  it('moves the counters and phases as node04 joins, and every scrape on the way passes promtool', async () => {
    const records = [...bootstrapRecords(cluster), membershipFor({ ...plan }, false, { role: 'worker' })];
    const applied = await ctl(cluster.endpoints, ['apply', '-f', '-'], JSON.stringify(records));
    assert.equal(applied.code, 0, applied.stderr);

    // Before the agent runs: three bootstrap members adopted, node04 waiting for its agent.
    beforeJoin = await eventually('3 Ready and node04 Pending', async () => {
      const s = await scrape(leader.port);
      return value(s, 'membership_nodes', { phase: 'Ready' }) === 3 && value(s, 'membership_nodes', { phase: 'Pending' }) === 1 ? s : undefined;
    });
    await assertPromtoolClean(beforeJoin, 'before-join');

    // The start command waits 2 s before starting etcd, so node04 stays a learner
    // (phase Joining) long enough for the scrapes below to see it.
    const configPath = await writeJson(dir, 'cluster-config.json', joinerClusterConfig(cluster, plan));
    const agent = startProcess(process.execPath, [
      binPath('first-boot-agent'), 'join', 'chainfire',
      '--config', configPath,
      '--state-dir', join(dir, 'state'),
      '--endpoints', cluster.endpoints.join(','),
      '--start-command', `sleep 2; ${plan.startCommand}`,
      '--local-url', plan.clientUrl,
      '--timeout', '120s',
    ]);
    let agentDone = false;
    const agentExit = agent.exited.finally(() => (agentDone = true));
    const during: Scrape[] = [];
    const started = Date.now();
    while (!agentDone && Date.now() - started < 150_000) {
      during.push(await scrape(leader.port));
      await new Promise((r) => setTimeout(r, 100));
    }
    const exit = await agentExit;
    assert.equal(exit.code, 0, `agent failed:\n${agent.lines.join('\n')}`);

    const joining = during.filter((s) => value(s, 'membership_nodes', { phase: 'Joining' }) === 1);
    assert.ok(joining.length > 0, `no scrape of ${during.length} saw node04 Joining`);
    // While node04 is Joining it has its own series, valued with when it entered Joining, the same in every scrape.
    const since = joining.map((s) => value(s, 'membership_node_joining_since_timestamp_seconds', { node: 'node04' }));
    assert.equal(new Set(since).size, 1, `node04's joining time moved: ${[...new Set(since)].join(', ')}`);
    assert.ok(since[0]! >= Math.floor(started / 1000) - 120 && since[0]! <= Date.now() / 1000, `node04 joining since ${since[0]}, agent started at ${started / 1000}`);
    for (const s of during) {
      const nodes = series(s, 'membership_node_joining_since_timestamp_seconds').map((x) => x.labels.node);
      assert.deepEqual(nodes, value(s, 'membership_nodes', { phase: 'Joining' }) === 1 ? ['node04'] : [], 'a series exactly while node04 is Joining');
      assert.equal(value(s, 'membership_node_joining_overflow'), 0);
    }
    for (const [i, s] of during.entries()) await assertPromtoolClean(s, `during-join #${i}`);

    const afterJoin = await eventually('4 Ready', async () => {
      const s = await scrape(leader.port);
      return value(s, 'membership_nodes', { phase: 'Ready' }) === 4 ? s : undefined;
    }, 60_000, 50);
    const readyAt = Date.now();
    await assertPromtoolClean(afterJoin, 'after-join');
    for (const phase of PHASES.filter((p) => p !== 'Ready')) assert.equal(value(afterJoin, 'membership_nodes', { phase }), 0, phase);
    assert.deepEqual(series(afterJoin, 'membership_node_joining_since_timestamp_seconds'), [], 'node04 is Ready: its joining series is gone');
    assert.ok(
      total(afterJoin, 'membership_reconcile_total') > total(beforeJoin, 'membership_reconcile_total'),
      'membership_reconcile_total grew during the join',
    );
    assert.ok(
      value(afterJoin, 'membership_reconcile_duration_seconds_count', { controller: 'node' }) >
        value(beforeJoin, 'membership_reconcile_duration_seconds_count', { controller: 'node' }),
    );
    assert.ok(value(afterJoin, 'workqueue_adds_total', QUEUE) > value(beforeJoin, 'workqueue_adds_total', QUEUE));
    assert.equal(value(afterJoin, 'leader_election_master_status', LEADER), 1);
    assert.equal(value(afterJoin, 'membership_fenced_writes_rejected_total'), 0);
    // A snapshot of Chainfire before the learner was added and before it was promoted.
    assert.equal(value(afterJoin, 'membership_snapshots_total', { result: 'success' }), 2);
    assert.equal(value(afterJoin, 'membership_snapshots_total', { result: 'failure' }), 0);
    const lastSnapshot = value(afterJoin, 'membership_last_snapshot_timestamp_seconds');
    assert.ok(Math.abs(Date.now() / 1000 - lastSnapshot) < 120, `last snapshot at ${lastSnapshot}, now ${Date.now() / 1000}`);

    // The standby counts phases from its own status cache: the same view.
    const s = await eventually('standby sees 4 Ready', async () => {
      const x = await scrape(standby.port);
      return value(x, 'membership_nodes', { phase: 'Ready' }) === 4 ? x : undefined;
    });
    assert.equal(value(s, 'leader_election_master_status', LEADER), 0);
    assert.equal(total(s, 'membership_reconcile_total'), 0, 'a standby reconciles nothing');

    // The leader observes the services every 10 s, and within a second of a change: four voters, no learner,
    // no orphan left, well before the next periodic look.
    const observed = await eventually('4 Chainfire voters and no orphan observed', async () => {
      const x = await scrape(leader.port);
      return value(x, 'membership_service_members', { service: 'chainfire', role: 'voter' }) === 4 &&
        value(x, 'membership_orphaned_members', { service: 'chainfire' }) === 0
        ? x
        : undefined;
    });
    assert.equal(value(observed, 'membership_service_members', { service: 'chainfire', role: 'learner' }), 0);
    assert.ok(Date.now() - readyAt < 5000, `members observed ${Date.now() - readyAt} ms after node04 was Ready (periodic look: 10 s)`);
    // 4 healthy voters, quorum 3: still only one may fail.
    assert.equal(value(observed, 'membership_failure_tolerance', { service: 'chainfire' }), 1);
    assert.equal(value(observed, 'membership_operations_in_progress', { service: 'chainfire' }), 0);
    await assertPromtoolClean(observed, 'after-observation');
  });

  // The following describe gaps in src/ (docs/observability.md, "Limitations"); they report as TODO until fixed.

  it('promtool check metrics has no complaint at all', async () => {
    const { code, complaints } = await promtoolCheck(await scrape(leader.port));
    assert.deepEqual(complaints, []);
    assert.equal(code, 0);
  });

  it('exports the work queue series on a standby too', async () => {
    const s = await scrape(standby.port);
    for (const [name, labels] of QUEUE_SERIES) assert.equal(value(s, name, labels), 0);
  });
});
