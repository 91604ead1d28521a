/**
 * `npm run demo`: the main job end to end on this machine. A 3-member etcd
 * cluster plays Chainfire (node01-node03, bootstrap); simulators play FlareDB
 * and IAM; two controllers run (one leads, one stands by). node04's
 * first-boot agent runs the seed's units in order: join chainfire (starts
 * node04's etcd with the initial cluster from its status record once it is a
 * learner, returns once it is a voter), join flaredb, iam-setup. Everything
 * runs on 127.0.0.1 and is cleaned up at the end, also on Ctrl-C.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Etcd3 } from 'etcd3';
import { EtcdCluster } from '../support/etcd-cluster.js';
import { FlareDBSimulator } from '../support/flaredb-simulator.js';
import { IAMSimulator } from '../support/iam-simulator.js';
import { binPath, startProcess, type ProcessHandle } from '../support/processes.js';
import { joinerClusterConfig, membershipFor, tempDir, writeJson } from '../support/fixtures.js';
import { KeyLayout } from '../../src/store/keys.js';
import type { NodeMembershipStatus } from '../../src/schema/status.js';

const tty = process.stdout.isTTY;
const bold = (s: string) => (tty ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string) => (tty ? `\x1b[2m${s}\x1b[0m` : s);
const started = Date.now();
const stamp = () => dim(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s]`);
const step = (s: string) => console.log(`\n${stamp()} ${bold(`==> ${s}`)}`);
const info = (s: string) => console.log(`${stamp()}     ${s}`);

const cleanups: Array<() => Promise<void> | void> = [];
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch {
        // keep cleaning the rest
      }
    }
  })();
  return cleaning;
}
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    interrupted = true;
    console.log(`\n${sig}: stopping everything the demo started...`);
    void cleanup().then(() => process.exit(130));
  });
}

function run(args: string[], endpoints: string[], stdin?: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [binPath('membershipctl'), ...args, '--endpoints', endpoints.join(',')], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.stdin.end(stdin ?? '');
    child.on('close', (code) => resolve({ code, out }));
  });
}

/** membershipctl with only the environment given (no --endpoints flag). */
function runCtl(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [binPath('membershipctl'), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => resolve({ code, out }));
  });
}

function showCommand(cmd: string): void {
  console.log(`${stamp()}     ${dim('$')} ${cmd}`);
}

function indent(text: string): string {
  return text.trimEnd().split('\n').map((l) => `             ${l}`).join('\n');
}

async function main(): Promise<void> {
  const dir = await tempDir('photoncloud-demo-');
  cleanups.push(() => rm(dir, { recursive: true, force: true }));

  step('Starting Chainfire: a 3-member etcd cluster on 127.0.0.1 (node01, node02, node03; bootstrap)');
  const cluster = await EtcdCluster.start({ size: 3 });
  cleanups.push(() => cluster.stop());
  for (const m of cluster.members) info(`${m.name}  client ${m.clientUrl}  peer ${m.peerUrl}`);
  const endpoints = cluster.endpoints;

  step('Starting simulators of FlareDB (3 replicas, node01-node03 members) and IAM');
  const flaredb = await FlareDBSimulator.start({
    replicas: 3,
    members: cluster.members.map((m, i) => ({ id: m.name, raft_addr: `127.0.0.1:${24800 + i}` })),
  });
  cleanups.push(() => flaredb.stop());
  const iam = await IAMSimulator.start();
  cleanups.push(() => iam.stop());
  info(`FlareDB admin API ${flaredb.urls.join(' ')} (leader ${flaredb.leaderUrl})`);
  info(`IAM admin API ${iam.urls.join(' ')}`);
  const secretFile = join(dir, 'iam-admin.json');
  await writeFile(secretFile, JSON.stringify({ user: 'admin', password: `demo-${process.pid}-${Date.now()}` }));
  await chmod(secretFile, 0o600);
  const controllerConfig = await writeJson(dir, 'controller.json', {
    flaredb: { endpoints: flaredb.urls },
    iam: { endpoints: iam.urls, adminSecretFile: secretFile },
  });

  step('Starting two membership-controller processes (leader election with a 5 s lease)');
  const controllers: ProcessHandle[] = [];
  for (const id of ['controller-a', 'controller-b']) {
    const c = startProcess(process.execPath, [
      binPath('membership-controller'), '--endpoints', endpoints.join(','), '--identity', id, '--config', controllerConfig,
      '--lease-ttl', '5', '--resync-period', '10s', '--metrics-addr', '127.0.0.1:0', '--state-dir', join(dir, id),
    ]);
    controllers.push(c);
    cleanups.push(async () => {
      c.kill('SIGTERM');
      await c.exited;
    });
  }
  const leader = await Promise.race(controllers.map((c, i) => c.waitForLine(/became leader/, 30_000).then(() => i)));
  info(`controller-${'ab'[leader]} is the leader; controller-${'ab'[1 - leader]} stands by`);

  step('Applying NodeMembership records: node01-node03 (bootstrap: true) and node04 (join)');
  const plan = await cluster.planMember('node04');
  const records = [
    ...cluster.members.map((m, i) => membershipFor(m, true, { flaredb: { raftAddr: `127.0.0.1:${24800 + i}`, apiUrl: flaredb.urls[i]! }, iam: {} })),
    membershipFor(plan, false, { role: 'control-plane', flaredb: { raftAddr: '127.0.0.1:24813', apiUrl: flaredb.urls[0]! }, iam: {} }),
  ];
  const recordsFile = await writeJson(dir, 'nodes.json', records);
  showCommand(`membershipctl apply -f ${recordsFile}`);
  const applied = await run(['apply', '-f', recordsFile], endpoints);
  console.log(indent(applied.out));
  if (applied.code !== 0) throw new Error('apply failed');

  info(`IAM initial setup (once per cluster, by the leader): ${iam.bootstrapCount === 1 ? 'done' : 'pending'}`);

  step('node04 boots: its first-boot units run in order (each blocks on node04\'s status record)');
  const configFile = await writeJson(dir, 'node04-cluster-config.json', {
    ...joinerClusterConfig(cluster, plan),
    node_role: 'control-plane',
    flaredb_peers: ['127.0.0.1:24800', '127.0.0.1:24801', '127.0.0.1:24802'],
    services: {
      chainfire: { client_url: plan.clientUrl },
      flaredb: { raft_addr: '127.0.0.1:24813', api_url: flaredb.urls[0] },
      iam: { api_url: iam.urls[0] },
    },
  });
  const stateDir = join(dir, 'node04-state');
  info(`cluster-config.json: ${configFile}`);
  info(`node04's etcd is started by the agent's --start-command once the controller has added it as a learner`);

  // Show node04's status as the controller writes it.
  const client = new Etcd3({ hosts: endpoints });
  cleanups.push(() => client.close());
  const watcher = await client.watch().key(new KeyLayout().status('node04')).create();
  cleanups.push(() => watcher.cancel());
  let lastShown = '';
  watcher.on('put', (kv) => {
    const st = (JSON.parse(kv.value.toString()) as NodeMembershipStatus).status;
    const cond = st.conditions
      .filter((c) => c.type !== 'Ready')
      .map((c) => `${c.type}=${c.status}${c.status === 'True' ? '' : `(${c.reason})`}`)
      .join(' ');
    const line = `status: phase ${st.phase}; ${cond}`;
    if (line !== lastShown) info(bold(line));
    lastShown = line;
  });

  const common = ['--config', configFile, '--state-dir', stateDir, '--endpoints', endpoints.join(','), '--timeout', '120s'];
  const units: Array<[string, string[]]> = [
    ['chainfire-cluster-join', ['join', 'chainfire', '--start-command', plan.startCommand, '--local-url', plan.clientUrl]],
    ['flaredb-cluster-join', ['join', 'flaredb']],
    ['iam-initial-setup', ['iam-setup']],
  ];
  for (const [unit, args] of units) {
    showCommand(`first-boot-agent ${args.slice(0, args[0] === 'join' ? 2 : 1).join(' ')} --config node04-cluster-config.json ...   # ${unit}.service`);
    const code = await runAgent([binPath('first-boot-agent'), ...args, ...common]);
    info(`${unit}: first-boot-agent exited with ${code}`);
    if (code !== 0) throw new Error(`${unit} failed with exit code ${code}`);
  }

  step('Result');
  showCommand('membershipctl get');
  // The controller's last status write may trail the agent's exit by a moment.
  let got = await run(['get'], endpoints);
  for (let i = 0; i < 20 && (got.out.match(/\bReady\b/g) ?? []).length < 4; i++) {
    await new Promise((r) => setTimeout(r, 250));
    got = await run(['get'], endpoints);
  }
  console.log(indent(got.out));
  showCommand('etcdctl member list   # what etcd itself reports');
  const members = await client.cluster.memberList({});
  for (const m of members.members.sort((a, b) => a.name.localeCompare(b.name))) {
    console.log(indent(`${BigInt(String(m.ID)).toString(16)}  ${m.name}  ${m.isLearner ? 'learner' : 'voter'}  ${m.peerURLs.join(',')}`));
  }
  const voters = members.members.filter((m) => !m.isLearner).length;
  info(`${voters} voters, ${members.members.length - voters} learners`);
  showCommand('membershipctl events node04   # what the controller did for node04, and why');
  // The controller writes a node's events half a second after the first of them.
  let events = await run(['events', 'node04'], endpoints);
  for (let i = 0; i < 20 && !/PhaseReady/.test(events.out); i++) {
    await new Promise((r) => setTimeout(r, 250));
    events = await run(['events', 'node04'], endpoints);
  }
  console.log(indent(events.out));
  // The habits of etcdctl and kubectl users: host:port from ETCDCTL_ENDPOINTS, custom columns, a YAML round trip.
  const bare = endpoints.map((e) => new URL(e).host).join(',');
  showCommand(`ETCDCTL_ENDPOINTS=${bare} membershipctl get -o custom-columns=NODE:.metadata.name,PHASE:.status.phase,CHAINFIRE:.status.chainfire.role`);
  const columns = await runCtl(['get', '-o', 'custom-columns=NODE:.metadata.name,PHASE:.status.phase,CHAINFIRE:.status.chainfire.role'], { ETCDCTL_ENDPOINTS: bare });
  console.log(indent(columns.out));
  showCommand('membershipctl get node04 -o yaml | membershipctl apply -f -   # applies back what get prints');
  const yaml = await run(['get', 'node04', '-o', 'yaml'], endpoints);
  const again = await run(['apply', '-f', '-'], endpoints, yaml.out);
  console.log(indent(again.out));
  if (again.code !== 0 || !/unchanged/.test(again.out)) throw new Error(`the YAML round trip did not apply unchanged (exit ${again.code}): ${again.out}`);
  showCommand(`ls ${stateDir}   # the seed's marker files`);
  const { readFile, readdir } = await import('node:fs/promises');
  for (const f of (await readdir(stateDir, { withFileTypes: true })).filter((e) => e.name.startsWith('.')).map((e) => e.name).sort()) {
    console.log(indent(`${f.padEnd(24)} ${(await readFile(join(stateDir, f), 'utf8')).trim()}`));
  }
  info(`FlareDB members: ${flaredb.members().map((m) => m.id).join(', ')}`);
  info(`IAM nodes: ${[...iam.nodes.keys()].sort().join(', ')}; initial setups: ${iam.bootstrapCount}`);
  if (voters !== 4) throw new Error(`expected 4 voters, etcd reports ${voters}`);
}

function runAgent(args: string[]): Promise<number | null> {
  const agent: ChildProcess = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const kill = () => {
    agent.kill('SIGKILL');
  };
  cleanups.push(kill);
  createInterface({ input: agent.stdout! }).on('line', (line) => {
    try {
      const e = JSON.parse(line) as { level: string; message: string; service: string };
      info(`agent ${e.service.padEnd(9)} ${e.level.padEnd(5)} ${e.message}`);
    } catch {
      info(`agent ${line}`);
    }
  });
  createInterface({ input: agent.stderr! }).on('line', (line) => info(dim(`agent stderr: ${line}`)));
  return new Promise((resolve) => agent.on('close', resolve));
}

main().then(
  async () => {
    step('Cleaning up (processes and temporary directories)');
    await cleanup();
    console.log('done.');
    process.exit(0);
  },
  async (err: unknown) => {
    if (interrupted) return; // the signal handler is cleaning up and exits
    console.error(`\ndemo failed: ${err instanceof Error ? err.message : String(err)}`);
    await cleanup();
    process.exit(1);
  },
);
