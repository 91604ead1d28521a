/**
 * `npm run demo`: the main job end to end on this machine. A 3-member etcd
 * cluster plays Chainfire (node01-node03, bootstrap); two controllers run (one
 * leads, one stands by); node04's first-boot agent waits for the controller,
 * starts node04's etcd with the initial cluster from its status record, and
 * returns once node04 is a voter. Everything runs on 127.0.0.1 and is cleaned
 * up at the end, also on Ctrl-C.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Etcd3 } from 'etcd3';
import { EtcdCluster } from '../support/etcd-cluster.js';
import { binPath, startProcess, type ProcessHandle } from '../support/processes.js';
import { bootstrapRecords, joinerClusterConfig, membershipFor, tempDir, writeJson } from '../support/fixtures.js';
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
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
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

  step('Starting two membership-controller processes (leader election with a 5 s lease)');
  const controllers: ProcessHandle[] = [];
  for (const id of ['controller-a', 'controller-b']) {
    const c = startProcess(process.execPath, [
      binPath('membership-controller'), '--endpoints', endpoints.join(','), '--identity', id,
      '--lease-ttl', '5', '--resync-period', '10s', '--metrics-addr', '127.0.0.1:0',
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
  const records = [...bootstrapRecords(cluster), membershipFor(plan, false, { role: 'worker' })];
  const recordsFile = await writeJson(dir, 'nodes.json', records);
  showCommand(`membershipctl apply -f ${recordsFile}`);
  const applied = await run(['apply', '-f', recordsFile], endpoints);
  console.log(indent(applied.out));
  if (applied.code !== 0) throw new Error('apply failed');

  step('node04 boots: first-boot-agent join chainfire (blocks on its status record)');
  const configFile = await writeJson(dir, 'node04-cluster-config.json', joinerClusterConfig(cluster, plan));
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
    const cond = st.conditions.map((c) => `${c.type}=${c.status}${c.status === 'True' ? '' : `(${c.reason})`}`).join(' ');
    const line = `status: phase ${st.phase}; ${cond}`;
    if (line !== lastShown) info(bold(line));
    lastShown = line;
  });

  const agentArgs = [
    binPath('first-boot-agent'), 'join', 'chainfire', '--config', configFile, '--state-dir', stateDir,
    '--endpoints', endpoints.join(','), '--start-command', plan.startCommand, '--local-url', plan.clientUrl, '--timeout', '120s',
  ];
  showCommand(`first-boot-agent join chainfire --config ${configFile} --state-dir ${stateDir} ...`);
  const agent: ChildProcess = spawn(process.execPath, agentArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
  cleanups.push(() => {
    agent.kill('SIGKILL');
  });
  createInterface({ input: agent.stdout! }).on('line', (line) => {
    try {
      const e = JSON.parse(line) as { level: string; message: string };
      info(`agent ${e.level.padEnd(5)} ${e.message}`);
    } catch {
      info(`agent ${line}`);
    }
  });
  createInterface({ input: agent.stderr! }).on('line', (line) => info(dim(`agent stderr: ${line}`)));
  const code = await new Promise<number | null>((resolve) => agent.on('close', resolve));
  info(`first-boot-agent exited with ${code}`);
  if (code !== 0) throw new Error(`the agent failed with exit code ${code}`);

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
  showCommand(`cat ${stateDir}/.chainfire-joined`);
  const { readFile } = await import('node:fs/promises');
  console.log(indent(await readFile(join(stateDir, '.chainfire-joined'), 'utf8')));
  if (voters !== 4) throw new Error(`expected 4 voters, etcd reports ${voters}`);
}

main().then(
  async () => {
    step('Cleaning up (processes and temporary directories)');
    await cleanup();
    console.log('done.');
    process.exit(0);
  },
  async (err: unknown) => {
    console.error(`\ndemo failed: ${err instanceof Error ? err.message : String(err)}`);
    await cleanup();
    process.exit(1);
  },
);
