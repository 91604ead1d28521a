#!/usr/bin/env node
import { Command, Option } from 'commander';
import { applyRecords, parseRecords, readInput, recordsFromClusterConfig } from '../ctl/apply.js';
import { readViews, renderDescribe, renderTable } from '../ctl/view.js';
import { markAbsent, updateClusterConfig, waitRemovedAndDelete } from '../ctl/lifecycle.js';
import { planNodes, renderPlan } from '../ctl/plan.js';
import { loadControllerConfig } from '../controller/config.js';
import { durationMs } from '../cli/common.js';
import { addConnectionFlags, connectionFrom, defaultExitCode, runCli } from '../cli/common.js';
import { MembershipError } from '../errors.js';
import { nodeNameProblem } from '../schema/common.js';
import { connect } from '../store/connection.js';
import { KeyLayout } from '../store/keys.js';
import type { Etcd3 } from 'etcd3';

const program = new Command('membershipctl')
  .description('Operate NodeMembership records in Chainfire: apply, get, describe.')
  .showHelpAfterError('(run with --help for usage)');

/** Runs `fn` with a connected client, closing it afterwards. */
async function withClient<T>(opts: Record<string, any>, fn: (client: Etcd3, keys: KeyLayout) => Promise<T>): Promise<T> {
  const connection = connectionFrom(opts);
  const client = connect(connection);
  try {
    return await fn(client, new KeyLayout(connection.prefix));
  } finally {
    client.close();
  }
}

addConnectionFlags(
  program
    .command('apply')
    .description('create or update NodeMembership records')
    .option('-f, --filename <file>', 'JSON file with one record, an array, or a List ("-" reads stdin)')
    .option('--from-cluster-config <file>', 'build the record from a node\'s cluster-config.json')
    .option('--dry-run', 'validate only; write nothing')
    .addHelpText(
      'after',
      `
Examples:
  membershipctl apply -f node04.json
  cat nodes.json | membershipctl apply -f -
  membershipctl apply --from-cluster-config /etc/nixos/secrets/cluster-config.json`,
    ),
).action(async (opts) => {
  if ((opts.filename === undefined) === (opts.fromClusterConfig === undefined)) {
    throw new MembershipError('USAGE', 'apply needs exactly one of -f FILE or --from-cluster-config FILE');
  }
  const records =
    opts.filename !== undefined
      ? parseRecords(await readInput(opts.filename), opts.filename === '-' ? 'stdin' : opts.filename)
      : await recordsFromClusterConfig(opts.fromClusterConfig).then(({ records, warnings }) => {
          for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
          return records;
        });
  if (opts.dryRun) {
    for (const r of records) process.stdout.write(`nodemembership/${r.metadata.name} valid (dry run)\n`);
    return;
  }
  const results = await withClient(opts, (client, keys) => applyRecords(client, keys, records));
  for (const r of results) process.stdout.write(`nodemembership/${r.name} ${r.outcome}\n`);
});

addConnectionFlags(
  program
    .command('get')
    .description('list NodeMemberships with their phase and per-service membership')
    .argument('[name]', 'only this node')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'))
    .addHelpText('after', '\nExamples:\n  membershipctl get\n  membershipctl get node04 -o json'),
).action(async (name: string | undefined, opts) => {
  if (name !== undefined) checkName(name);
  const views = await withClient(opts, (client, keys) => readViews(client, keys, name));
  if (name !== undefined && views.length === 0) {
    throw new MembershipError('NOT_FOUND', `nodemembership ${name} not found (membershipctl get lists all)`);
  }
  if (opts.output === 'json') {
    const items = views.map((v) => ({
      ...(v.desired?.value ?? { metadata: { name: v.node } }),
      ...(v.desired?.problem ? { problem: v.desired.problem } : {}),
      status: v.status?.value?.status,
    }));
    process.stdout.write(JSON.stringify(name !== undefined ? items[0] : { kind: 'List', items }, null, 2) + '\n');
    return;
  }
  process.stdout.write(views.length === 0 ? 'No NodeMemberships found.\n' : renderTable(views));
});

addConnectionFlags(
  program
    .command('describe')
    .description('show a node\'s spec, status, conditions and agent report')
    .argument('<name>', 'node name')
    .addHelpText('after', '\nExamples:\n  membershipctl describe node04'),
).action(async (name: string, opts) => {
  checkName(name);
  const views = await withClient(opts, (client, keys) => readViews(client, keys, name));
  const v = views[0];
  if (v === undefined) throw new MembershipError('NOT_FOUND', `nodemembership ${name} not found (membershipctl get lists all)`);
  process.stdout.write(renderDescribe(v));
});

addConnectionFlags(
  program
    .command('delete')
    .description('decommission a node: set state Absent, wait until it is Removed from every service, then delete its records')
    .argument('<name>', 'node name')
    .option('--no-wait', 'only set state Absent and return')
    .option('--timeout <duration>', 'how long to wait for the removal', durationMs('--timeout'), 600_000)
    .addHelpText(
      'after',
      '\nA removal that would break quorum waits with reason QuorumProtection until it is safe.\n\nExamples:\n  membershipctl delete node04\n  membershipctl delete node04 --no-wait',
    ),
).action(async (name: string, opts) => {
  checkName(name);
  await withClient(opts, async (client, keys) => {
    const marked = await markAbsent(client, keys, name);
    process.stdout.write(`nodemembership/${name} ${marked === 'marked' ? 'marked Absent' : 'already Absent'}\n`);
    if (!opts.wait) return;
    await waitRemovedAndDelete(client, keys, name, opts.timeout, (line) => process.stdout.write(`  ${line}\n`));
    process.stdout.write(`nodemembership/${name} deleted\n`);
  });
});

for (const [verb, paused] of [['pause', true], ['resume', false]] as const) {
  addConnectionFlags(
    program
      .command(verb)
      .description(paused ? 'stop all membership changes (statuses say Paused)' : 'allow membership changes again')
      .addHelpText('after', `\nExamples:\n  membershipctl ${verb}`),
  ).action(async (opts) => {
    await withClient(opts, (client, keys) =>
      updateClusterConfig(client, keys, (spec) => {
        spec.paused = paused;
      }),
    );
    process.stdout.write(paused ? 'membership changes paused\n' : 'membership changes resumed\n');
  });
}

addConnectionFlags(
  program
    .command('plan')
    .description('show what the controller would do next for each node; changes nothing')
    .option('--config <file>', 'the controller\'s configuration file, to observe FlareDB and IAM too')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'))
    .addHelpText('after', '\nExamples:\n  membershipctl plan\n  membershipctl plan --config /etc/photoncloud/membership-controller.json -o json'),
).action(async (opts) => {
  const config = opts.config !== undefined ? await loadControllerConfig(opts.config) : undefined;
  const connection = connectionFrom(opts);
  const rows = await withClient(opts, (client, keys) => planNodes(client, keys, connection, config));
  if (opts.output === 'json') {
    process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    return;
  }
  const notes = config === undefined ? ['FlareDB and IAM are not observed without --config (their steps show NotConfigured)'] : [];
  process.stdout.write(rows.length === 0 ? 'No NodeMemberships found.\n' : renderPlan(rows, notes));
});

function checkName(name: string): void {
  const problem = nodeNameProblem(name);
  if (problem !== undefined) throw new MembershipError('USAGE', problem);
}

await runCli(program, process.argv, defaultExitCode);
