#!/usr/bin/env node
import { Argument, Command, Option } from 'commander';
import { applyRecords, parseRecords, readInput, recordsFromClusterConfig } from '../ctl/apply.js';
import { EXIT_INTERRUPTED, ctlConnection, withClient } from '../ctl/client.js';
import { completeWith, completionScript } from '../ctl/completion.js';
import { readEvents, renderEventRows, renderEventsSection } from '../ctl/events.js';
import { EventRecorder } from '../controller/event-recorder.js';
import { acquireDisruption, readDisruptions, releaseDisruption, renderDisruptions } from '../ctl/disruption.js';
import { markAbsent, updateClusterConfig, waitRemovedAndDelete } from '../ctl/lifecycle.js';
import {
  chainfireRows, flaredbRows, observeChainfire, observeFlareDB, renderChainfireRows, renderFlareDBRows,
} from '../ctl/members.js';
import { planNodes, renderPlan } from '../ctl/plan.js';
import { readSnapshots, renderSnapshots } from '../ctl/snapshots.js';
import { defaultSnapshotDir } from '../snapshots/settings.js';
import { addRbacCommand } from '../ctl/rbac.js';
import { RESOURCE, readOperations, readViews, renderDescribe, type NodeView } from '../ctl/view.js';
import {
  OUTPUT_CHOICES, OUTPUT_COMPLETIONS, SORT_BY_COMPLETIONS, parseOutput, parseSortBy, renderGet, selectViews, sortViewsBy, type GetOutput,
} from '../ctl/get-output.js';
import type { JsonPath } from '../ctl/jsonpath.js';
import { parseSelector, type Requirement } from '../ctl/selector.js';
import { ProgressLine, WAIT_FORMS, describeWaitFor, parseWaitFor, waitFor } from '../ctl/wait.js';
import { WatchPrinter, watchViews } from '../ctl/watch.js';
import { httpOptions, loadControllerConfig } from '../controller/config.js';
import { HttpFlareDBDriver } from '../drivers/flaredb.js';
import { addConnectionFlags, durationMs, runCli } from '../cli/common.js';
import { exitWhenDrained } from '../cli/output.js';
import { MEMBERSHIPCTL_EXIT_CODES, exitCodeFrom } from '../cli/exit-codes.js';
import { MembershipError, isMembershipError } from '../errors.js';
import { printable } from '../printable.js';
import { nodeNameProblem } from '../schema/common.js';
import { VERSION } from '../version.js';

const EXIT_CODES = `Exit codes:
  0   done
  1   not found, or a concurrent change won (run the command again)
  64  usage: unknown command or flag, bad argument
  65  rejected: the controller cannot get there for this spec (InvalidSpec, Conflict, phase Failed)
  69  Chainfire (or FlareDB) unreachable, Chainfire out of space (alarm NOSPACE), or a wait timed out
  70  internal error
  77  Chainfire (or FlareDB) refused the credentials or the user's permissions
  78  a file (--config, -f, a TLS or password file) is missing, unreadable, empty or invalid, or a
      private key or password file that group or others can read
  130 wait interrupted (Ctrl-C)`;

const program = new Command('membershipctl')
  .description('Operate NodeMembership records in Chainfire, the way kubectl operates Kubernetes objects.')
  .version(VERSION, '-V, --version', 'print the version and exit')
  .showHelpAfterError('(run with --help for usage)')
  .helpCommand(false)
  .addHelpText(
    'after',
    `
Commands that talk to Chainfire take the connection flags --endpoints (URLs or host:port; else CHAINFIRE_ENDPOINTS,
then ETCDCTL_ENDPOINTS), --cacert --cert --key (else ETCDCTL_CACERT, ETCDCTL_CERT, ETCDCTL_KEY), --user (else
ETCDCTL_USER; password from --password-file, CHAINFIRE_PASSWORD or ETCDCTL_PASSWORD) and --prefix. Durations are
Go's (90s, 1m30s, 1h30m) or seconds.
"membershipctl COMMAND --help" shows a command's flags, examples and exit codes; docs/membershipctl.md has more.

Examples:
  membershipctl apply -f node04.json
  membershipctl get -o wide
  membershipctl get -w
  membershipctl describe node04
  membershipctl wait node04 --for condition=Ready --timeout 10m
  membershipctl members chainfire
  membershipctl delete node04
  source <(membershipctl completion bash)

${EXIT_CODES}`,
  );

const COMMON_EXITS = '0 done, 1 not found, 64 usage, 69 Chainfire unreachable, 77 access refused';

/** Examples and the command's exit codes, after its own help. */
function help(cmd: Command, examples: string[], notes = '', exits = COMMON_EXITS): Command {
  return cmd.addHelpText(
    'after',
    `${notes ? `\n${notes}\n` : ''}\nExamples:\n${examples.map((e) => `  ${e}`).join('\n')}\n\n` +
      `Exit codes: ${exits} (membershipctl --help explains them all).`,
  );
}

/** A duration flag whose help shows the default as a duration. */
function durationOption(flags: string, description: string, defaultMs: number, shown: string): Option {
  const name = flags.split(' ')[0]!;
  return new Option(flags, description).argParser(durationMs(name)).default(defaultMs, shown);
}

function checkName(name: string): void {
  const problem = nodeNameProblem(name);
  if (problem !== undefined) throw new MembershipError('USAGE', `${problem} (node names are DNS-1123 labels, e.g. node04)`);
}

const notFound = (name: string) => new MembershipError('NOT_FOUND', `nodemembership ${name} not found (membershipctl get lists all)`);

/** Resolves on Ctrl-C or SIGTERM (and removes its handlers). */
function interrupted(): { promise: Promise<'signal'>; cancel(): void } {
  let handler: () => void = () => undefined;
  const promise = new Promise<'signal'>((resolve) => {
    handler = () => resolve('signal');
    process.once('SIGINT', handler);
    process.once('SIGTERM', handler);
  });
  return {
    promise,
    cancel: () => {
      process.removeListener('SIGINT', handler);
      process.removeListener('SIGTERM', handler);
    },
  };
}

// ---------------------------------------------------------------------------
// apply

addConnectionFlags(
  help(
    program
      .command('apply')
      .description('create or update NodeMembership records')
      .option('-f, --filename <file>', 'JSON or YAML file: records, arrays or Lists, YAML documents separated by --- ("-" reads stdin)')
      .option('--from-cluster-config <file>', 'build the record from a node\'s cluster-config.json')
      .option('--dry-run', 'validate only; write nothing'),
    [
      'membershipctl apply -f node04.json',
      'membershipctl apply -f nodes.yaml',
      'cat nodes.json | membershipctl apply -f -',
      'membershipctl get node04 -o yaml > node04.yaml; vi node04.yaml; membershipctl apply -f node04.yaml',
      'membershipctl apply --from-cluster-config /etc/nixos/secrets/cluster-config.json',
      'membershipctl apply -f node04.json --dry-run',
    ],
    'Prints nodemembership/NAME created, configured or unchanged for each record. A file with one invalid\n' +
      'record writes nothing. What get -o json or -o yaml prints applies back: status and metadata.generation\n' +
      'are ignored. YAML: at most 4 MiB and 10000 documents; anchors and aliases are bounded, duplicate keys\n' +
      'and unknown tags refused; errors give the line and column.',
    '0 done, 64 usage, 69 Chainfire unreachable, 77 access refused, 78 the file is missing or a record is invalid',
  ),
).action(async (opts) => {
  if ((opts.filename === undefined) === (opts.fromClusterConfig === undefined)) {
    throw new MembershipError('USAGE', 'apply needs exactly one of -f FILE or --from-cluster-config FILE (see membershipctl apply --help)');
  }
  const records =
    opts.filename !== undefined
      ? parseRecords(await readInput(opts.filename), opts.filename === '-' ? 'stdin' : opts.filename)
      : await recordsFromClusterConfig(opts.fromClusterConfig).then(({ records, warnings }) => {
          for (const w of warnings) process.stderr.write(`warning: ${printable(w)}\n`);
          return records;
        });
  if (opts.dryRun) {
    for (const r of records) process.stdout.write(`${RESOURCE}/${r.metadata.name} valid (dry run)\n`);
    return;
  }
  const results = await withClient(opts, (client, keys) => applyRecords(client, keys, records));
  for (const r of results) process.stdout.write(`${RESOURCE}/${r.name} ${r.outcome}\n`);
});

// ---------------------------------------------------------------------------
// get

addConnectionFlags(
  help(
    program
      .command('get')
      .description('list NodeMemberships with their phase and per-service membership')
      .argument('[name]', 'only this node')
      .addOption(
        completeWith(
          new Option('-o, --output <format>', `output format: ${OUTPUT_CHOICES.join(', ')}`).argParser(parseOutput).default({ kind: 'table' }, 'table'),
          OUTPUT_COMPLETIONS,
        ),
      )
      .option('-l, --selector <selector>', 'only nodes whose labels match: key=value, key!=value, key, !key (comma-separated: all must hold)', (s: string) => parseSelector(s))
      .addOption(
        completeWith(
          new Option('--sort-by <path>', 'order the nodes by this field (a JSONPath such as .metadata.name or .status.phase; numbers sort as numbers)').argParser(
            (s: string) => ({ source: s, path: parseSortBy(s) }),
          ),
          SORT_BY_COMPLETIONS,
        ),
      )
      .option('-w, --watch', 'after the list, print a line for every change until Ctrl-C')
      .option('--watch-timeout <duration>', 'with --watch: stop after this long (exit 0)', durationMs('--watch-timeout')),
    [
      'membershipctl get',
      'membershipctl get node04 -o yaml',
      'membershipctl get -o wide',
      'membershipctl get -o jsonpath=\'{range .items[*]}{.metadata.name}{"\\t"}{.status.phase}{"\\n"}{end}\'',
      'membershipctl get -o custom-columns=NAME:.metadata.name,PHASE:.status.phase,RACK:.spec.rack',
      'membershipctl get -l zone=a,role!=spare --sort-by .status.phase',
      'membershipctl get -o json | jq -r \'.items[] | select(.status.phase != "Ready") | .metadata.name\'',
      'membershipctl get -o name',
      'membershipctl get -w',
      'membershipctl get node04 -w --watch-timeout 5m',
    ],
    'Columns: NAME ROLE STATE PHASE CHAINFIRE FLAREDB IAM AGE; -o wide adds NODE-IP, DATACENTER/RACK,\n' +
      'MEMBER-ID (Chainfire), GENERATION (of the desired record) and OBSERVED (the generation the controller\n' +
      'last acted on). A service column says "-" when the node should not be a member, True when it is, and\n' +
      'otherwise Status(Reason). With --watch, tables go on with one line per change; json prints one object\n' +
      'per line, yaml one document per change, jsonpath the template per changed node.\n' +
      '-o jsonpath, -o custom-columns and --sort-by name fields of the object -o json prints (a List of them\n' +
      'when several nodes are listed); a missing field prints nothing (custom-columns: <none>).',
  ),
).action(async (name: string | undefined, opts) => {
  if (name !== undefined) checkName(name);
  const output = opts.output as GetOutput;
  const selector = opts.selector as Requirement[] | undefined;
  const sortBy = opts.sortBy as { source: string; path: JsonPath } | undefined;
  if (opts.watchTimeout !== undefined && !opts.watch) {
    throw new MembershipError('USAGE', '--watch-timeout only applies with --watch (-w)');
  }
  if (name !== undefined && selector !== undefined) {
    throw new MembershipError('USAGE', 'a node name and -l cannot be given together: get NAME names one node, -l selects by labels');
  }
  const chosen = (views: NodeView[]) => {
    const selected = selector !== undefined ? selectViews(views, selector) : views;
    return sortBy !== undefined ? sortViewsBy(selected, sortBy.path, sortBy.source) : selected;
  };
  if (!opts.watch) {
    const views = await withClient(opts, (client, keys) => readViews(client, keys, name));
    if (name !== undefined && views.length === 0) throw notFound(name);
    process.stdout.write(renderGet(chosen(views), output, name !== undefined));
    return;
  }
  await withClient(opts, async (client, keys) => {
    const printer = new WatchPrinter(output, (s) => process.stdout.write(s));
    // A node whose labels stop matching leaves the watch as a deleted one does.
    const watch = await watchViews(client, keys, name, (node, view) =>
      printer.change(node, view !== undefined && (selector === undefined || selectViews([view], selector).length === 1) ? view : undefined),
    );
    const signal = interrupted();
    let timer: NodeJS.Timeout | undefined;
    try {
      if (name !== undefined && watch.initial.length === 0) throw notFound(name);
      printer.initial(chosen(watch.initial));
      const timeout = new Promise<'timeout'>((resolve) => {
        if (opts.watchTimeout !== undefined) timer = setTimeout(() => resolve('timeout'), opts.watchTimeout);
      });
      await Promise.race([signal.promise, timeout]);
    } finally {
      clearTimeout(timer);
      signal.cancel();
      await watch.stop();
    }
  });
});

// ---------------------------------------------------------------------------
// describe

addConnectionFlags(
  help(
    program
      .command('describe')
      .description('show a node\'s spec, status, conditions, changes in flight and agent report')
      .argument('<name>', 'node name'),
    ['membershipctl describe node04'],
    '"In flight" lists the membership change recorded in operations/<service> for the node (one per\n' +
      'service at a time), and another node\'s change that this node\'s changes of that service wait for.',
  ),
).action(async (name: string, opts) => {
  checkName(name);
  const [views, operations, events] = await withClient(opts, (client, keys) =>
    Promise.all([readViews(client, keys, name), readOperations(client, keys), readEvents(client, keys, name)]),
  );
  const v = views[0];
  if (v === undefined) throw notFound(name);
  process.stdout.write(renderDescribe(v, Date.now(), operations) + renderEventsSection(events));
});

// ---------------------------------------------------------------------------
// events

addConnectionFlags(
  help(
    program
      .command('events')
      .description('what the controller did or refused for each node, and why (the last 50 per node, oldest first)')
      .argument('[node]', 'only this node')
      .option('-w, --watch', 'after the list, print each new event as it comes')
      .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json', 'yaml']).default('table')),
    ['membershipctl events', 'membershipctl events node04', 'membershipctl events node04 -w', 'membershipctl events -o json | jq \'.[] | select(.type == "Warning")\''],
    'TYPE is Normal or Warning (a refusal, a failure, a member that stopped answering). TERM is the\n' +
      'controller term that recorded it; the history is kept by the leader in events/<node>.',
  ),
).action(async (node: string | undefined, opts) => {
  if (node !== undefined) checkName(node);
  await withClient(opts, async (client, keys) => {
    const listedAt = Number((await client.get(keys.dir('events')).exec()).header.revision);
    const rows = await readEvents(client, keys, node);
    process.stdout.write(renderEventRows(rows, opts.output));
    if (!opts.watch) return;
    const seen = new Set(rows.map((r) => `${r.node} ${r.time} ${r.reason} ${r.message}`));
    const watcher = await (node !== undefined ? client.watch().key(keys.event(node)) : client.watch().prefix(keys.dir('events')))
      .startRevision(String(listedAt + 1))
      .create();
    let failed: unknown;
    const ended = new Promise<void>((resolve) =>
      watcher.on('error', (err) => {
        failed = err;
        resolve();
      }),
    );
    watcher.on('put', (kv) => {
      const name = kv.key.toString().slice(keys.dir('events').length);
      const fresh = EventRecorder.decode(kv.value.toString())
        .map((e) => ({ node: name, ...e }))
        .filter((r) => !seen.has(`${r.node} ${r.time} ${r.reason} ${r.message}`));
      for (const r of fresh) seen.add(`${r.node} ${r.time} ${r.reason} ${r.message}`);
      if (fresh.length > 0) process.stdout.write(opts.output === 'table' ? renderEventRows(fresh, 'table').split('\n').slice(1).join('\n') : renderEventRows(fresh, opts.output));
    });
    // Until Ctrl-C or SIGTERM, as get -w: then 130; a watch that fails (its revision compacted, Chainfire gone) says so.
    const stop = interrupted();
    await Promise.race([stop.promise, ended]);
    stop.cancel();
    watcher.removeAllListeners('put');
    if (failed !== undefined) {
      throw new MembershipError('UNAVAILABLE', `the watch of events ended: ${failed instanceof Error ? failed.message : String(failed)}; run membershipctl events -w again`);
    }
    void watcher.cancel().catch(() => undefined);
    process.exitCode = EXIT_INTERRUPTED;
  });
});

// ---------------------------------------------------------------------------
// wait

addConnectionFlags(
  help(
    program
      .command('wait')
      .description('block until a node reaches a condition or phase, or is deleted')
      .argument('<name>', 'node name')
      .requiredOption('--for <what>', `what to wait for: ${WAIT_FORMS.join('; ')}`)
      .addOption(durationOption('--timeout <duration>', 'give up after this long (exit 69)', 600_000, '10m')),
    [
      'membershipctl wait node04 --for condition=Ready --timeout 10m',
      'membershipctl wait node04 --for condition=ChainfireMember',
      'membershipctl wait node04 --for phase=Removed',
      'membershipctl wait node04 --for delete --timeout 15m',
    ],
    'A condition or phase counts once the controller has observed the current generation of the desired\n' +
      'record. On a terminal, progress is one line updated in place; otherwise (piped, in a log) one line per\n' +
      'change, on stderr. On success stdout says "nodemembership/NAME condition met" (or the phase, or\n' +
      'deleted). Exit 69 on timeout, with the last conditions seen; 65 at once when the node failed for this\n' +
      'generation (InvalidSpec, Conflict); 1 when the node does not exist; 130 on Ctrl-C.',
    '0 met, 1 not found, 64 usage, 65 cannot be met for this generation, 69 timed out or Chainfire unreachable, 77 access refused, 130 interrupted',
  ),
).action(async (name: string, opts) => {
  checkName(name);
  const what = parseWaitFor(String(opts.for));
  const progress = new ProgressLine(process.stderr);
  const ticker = progress.live ? setInterval(() => progress.redraw(), 1000) : undefined;
  ticker?.unref();
  const signal = interrupted();
  void signal.promise.then(() => {
    progress.done();
    process.stderr.write(`interrupted while waiting for ${name} ${describeWaitFor(what)}\n`);
    void exitWhenDrained(EXIT_INTERRUPTED);
  });
  try {
    await withClient(opts, (client, keys) =>
      waitFor({ client, keys, node: name, for: what, timeoutMs: opts.timeout, onProgress: (s) => progress.update(`${name}: ${s}`) }),
    );
  } finally {
    if (ticker) clearInterval(ticker);
    signal.cancel();
    progress.done();
  }
  const met = what.kind === 'delete' ? 'deleted' : what.kind === 'phase' ? `phase ${what.phase}` : 'condition met';
  process.stdout.write(`${RESOURCE}/${name} ${met}\n`);
});

// ---------------------------------------------------------------------------
// members

addConnectionFlags(
  help(
    program
      .command('members')
      .description('what Chainfire or FlareDB itself reports as members, marked against the desired records')
      .addArgument(new Argument('<service>', 'service to ask').choices(['chainfire', 'flaredb']))
      .option('--config <file>', 'the controller\'s configuration file: where FlareDB is (needed for flaredb)')
      .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table')),
    [
      'membershipctl members chainfire',
      'membershipctl members flaredb --config /etc/photoncloud/membership-controller.json',
      'membershipctl members chainfire -o json',
    ],
    'Chainfire: etcd\'s member list (ID in hex, as etcdctl prints it), ROLE voter or learner, HEALTH from\n' +
      'each member\'s /health ("unknown" while a learner\'s etcd has not started). FlareDB: its admin API\'s\n' +
      'member list. DESIRED names the node whose record claims the member (by peer URL for Chainfire, by id\n' +
      'for FlareDB), or <orphan> when none does; a record with state Present whose member does not exist\n' +
      'gets a row with ID <missing>.',
    '0 done, 64 usage, 69 Chainfire or FlareDB unreachable, 77 access refused, 78 --config missing or invalid',
  ),
).action(async (service: 'chainfire' | 'flaredb', opts) => {
  if (service === 'flaredb') {
    if (opts.config === undefined) {
      throw new MembershipError('USAGE', 'members flaredb needs --config FILE: the controller\'s configuration, which says where FlareDB is');
    }
    const config = await loadControllerConfig(opts.config);
    if (config.flaredb === undefined) {
      throw new MembershipError('CONFIG_INVALID', `${opts.config}: no "flaredb" section, so FlareDB cannot be asked (see docs/controller-config.md)`);
    }
    const views = await withClient(opts, (client, keys) => readViews(client, keys));
    const records = views.flatMap((v) => (v.desired?.value ? [v.desired.value] : []));
    const rows = flaredbRows(await observeFlareDB(new HttpFlareDBDriver(httpOptions(config.flaredb))), records);
    process.stdout.write(opts.output === 'json' ? JSON.stringify(rows, null, 2) + '\n' : renderFlareDBRows(rows));
    return;
  }
  if (opts.config !== undefined) throw new MembershipError('USAGE', '--config applies to members flaredb only; Chainfire comes from the connection flags');
  const connection = ctlConnection(opts);
  const rows = await withClient(opts, async (client, keys) => {
    const [views, observed] = await Promise.all([readViews(client, keys), observeChainfire(client, connection)]);
    const records = views.flatMap((v) => (v.desired?.value ? [v.desired.value] : []));
    return chainfireRows(observed.members, observed.health, observed.leaderId, records);
  });
  process.stdout.write(opts.output === 'json' ? JSON.stringify(rows, null, 2) + '\n' : renderChainfireRows(rows));
});

// ---------------------------------------------------------------------------
// delete, pause, resume, plan

addConnectionFlags(
  help(
    program
      .command('delete')
      .description('decommission a node: set state Absent, wait until it is Removed from every service, then delete its records')
      .argument('<name>', 'node name')
      .option('--no-wait', 'only set state Absent and return')
      .option('--now', 'start the removal at once, without the removal grace (cluster/config removalGraceSeconds) that lets a Present -> Absent -> Present flip remove nothing')
      .addOption(durationOption('--timeout <duration>', 'how long to wait for the removal (exit 69 after)', 600_000, '10m')),
    ['membershipctl delete node04', 'membershipctl delete node04 --no-wait && membershipctl wait node04 --for phase=Removed', 'membershipctl delete node03 --now   # a dead voter, to let its replacement join'],
    'The removal starts once the record has stayed Absent for removalGraceSeconds (5 s by default; --now skips it).\n' +
      'A removal that would break quorum waits with reason QuorumProtection until it is safe; the progress\n' +
      'lines say so. Deleting only the desired key (with etcdctl) never removes a member.',
    '0 removed and deleted, 1 not found or the record changed meanwhile, 64 usage, 69 timed out or Chainfire unreachable, 77 access refused, 78 the record is invalid',
  ),
).action(async (name: string, opts) => {
  checkName(name);
  await withClient(opts, async (client, keys) => {
    const marked = await markAbsent(client, keys, name, opts.now === true);
    process.stdout.write(`${RESOURCE}/${name} ${marked === 'marked' ? 'marked Absent' : 'already Absent'}\n`);
    if (!opts.wait) return;
    await waitRemovedAndDelete(client, keys, name, opts.timeout, (line) => process.stdout.write(`  ${printable(line)}\n`));
    process.stdout.write(`${RESOURCE}/${name} deleted\n`);
  });
});

// ---------------------------------------------------------------------------
// disruption

const disruption = program
  .command('disruption')
  .description('planned disruptions (reboots, upgrades): take a node down only while Chainfire and FlareDB keep a quorum')
  .addHelpText(
    'after',
    '\nExamples:\n  membershipctl disruption acquire node02 --reason "kernel upgrade" --wait 1h && systemctl reboot\n' +
      '  membershipctl disruption list\n  membershipctl disruption release node02\n\n' +
      'Exit codes: see membershipctl disruption acquire --help (membershipctl --help explains them all).',
  );

addConnectionFlags(
  help(
    disruption
      .command('acquire')
      .description('say "this node is about to go down": granted only when the services keep a quorum of healthy voters without it')
      .argument('<node>', 'node name')
      .requiredOption('--reason <text>', 'why (shown to other operators, in the status and in list)')
      .addOption(durationOption('--ttl <duration>', 'how long the node expects to be down; overdue after it (alert), gone after twice it', 1_800_000, '30m'))
      .addOption(new Option('--wait <duration>', 'try again until granted or this long has passed (exit 69 after)').argParser(durationMs('--wait')))
      .option('--holder <name>', 'who holds it (default: user@host)'),
    [
      'membershipctl disruption acquire node02 --reason "kernel upgrade"',
      'membershipctl disruption acquire node02 --reason "nixos-rebuild boot" --ttl 20m --wait 1h && systemctl reboot',
    ],
    'Granted when, with the node down, Chainfire keeps a quorum of healthy voters, counting members already\n' +
      'unhealthy and disruptions already held, and at most cluster/config maxDisruptedVoters (default 1) voters\n' +
      'are held at once, and none while a membership change is in flight; FlareDB members are counted against FlareDB\'s\n' +
      'member count (its API reports no health per member). While it is held the controller starts no Chainfire or FlareDB change\n' +
      'for other nodes. The node\'s health-check unit releases it once its services are healthy again.',
    '0 granted, 1 no such node or a concurrent acquire won, 64 usage, 65 the node already holds one, 69 refused for now (the reason is printed) or not granted within --wait, 77 access refused',
  ),
).action(async (node: string, opts) => {
  checkName(node);
  if (opts.reason.trim() === '') throw new MembershipError('USAGE', '--reason must say why the node goes down');
  const connection = ctlConnection(opts);
  const deadline = Date.now() + (opts.wait ?? 0);
  await withClient(opts, async (client, keys) => {
    for (;;) {
      let r;
      try {
        r = await acquireDisruption(client, keys, connection, node, { reason: opts.reason, ttlMs: opts.ttl, ...(opts.holder ? { holder: opts.holder } : {}) });
      } catch (err) {
        // Another acquire or release won the race: look again (within --wait).
        if (!isMembershipError(err, 'CONFLICT') || Date.now() >= deadline) throw err;
        continue;
      }
      if (r.granted) {
        process.stdout.write(`disruption/${node} granted until ${r.record.spec.expiresAt}: ${r.why}\n`);
        return;
      }
      if (r.decision.code === 'HELD') throw new MembershipError('REJECTED', r.decision.why);
      if (Date.now() >= deadline) throw new MembershipError('UNAVAILABLE', `disruption/${node} refused: ${r.decision.why}`);
      process.stderr.write(`disruption/${node} not yet: ${r.decision.why}; trying again\n`);
      await new Promise((res) => setTimeout(res, Math.min(5_000, Math.max(0, deadline - Date.now()))));
    }
  });
});

addConnectionFlags(
  help(
    disruption.command('release').description('the node is back: release its disruption').argument('<node>', 'node name'),
    ['membershipctl disruption release node02'],
    'The node\'s `first-boot-agent health-check` releases its own disruption once every service it runs is healthy.',
    '0 released, 1 the node holds none, 64 usage, 69 Chainfire unreachable, 77 access refused',
  ),
).action(async (node: string, opts) => {
  checkName(node);
  const held = await withClient(opts, (client, keys) => releaseDisruption(client, keys, node));
  process.stdout.write(`disruption/${node} released (held since ${held.acquiredAt} for ${JSON.stringify(held.reason)})\n`);
});

addConnectionFlags(
  help(
    disruption
      .command('list')
      .description('the disruptions held now')
      .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table')),
    ['membershipctl disruption list', 'membershipctl disruption list -o json'],
  ),
).action(async (opts) => {
  const held = await withClient(opts, (client, keys) => readDisruptions(client, keys));
  process.stdout.write(opts.output === 'json' ? JSON.stringify(held, null, 2) + '\n' : renderDisruptions(held));
});

for (const [verb, paused] of [['pause', true], ['resume', false]] as const) {
  addConnectionFlags(
    help(
      program.command(verb).description(paused ? 'stop all membership changes (statuses say Paused)' : 'allow membership changes again'),
      paused ? ['membershipctl pause', 'membershipctl pause && membershipctl plan'] : ['membershipctl resume'],
      paused
        ? 'Writes spec.paused=true to cluster/config. A change already recorded in operations/<service> is\nnot started anew; nothing else changes until membershipctl resume.'
        : 'Writes spec.paused=false to cluster/config; the controller picks up where it stopped.',
      '0 done, 1 cluster/config changed meanwhile (run it again), 64 usage, 69 Chainfire unreachable, 77 access refused, 78 cluster/config is invalid',
    ),
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
  help(
    program
      .command('plan')
      .description('show what the controller would do next for each node; changes nothing')
      .option('--config <file>', 'the controller\'s configuration file, to observe FlareDB and IAM too')
      .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table')),
    ['membershipctl plan', 'membershipctl plan --config /etc/photoncloud/membership-controller.json -o json'],
    'NEXT is the one action the controller would take now for the node, WHY the condition that holds it.',
    '0 done, 64 usage, 69 Chainfire unreachable, 77 access refused, 78 --config missing or invalid',
  ),
).action(async (opts) => {
  const config = opts.config !== undefined ? await loadControllerConfig(opts.config) : undefined;
  const connection = ctlConnection(opts);
  const rows = await withClient(opts, (client, keys) => planNodes(client, keys, connection, config));
  if (opts.output === 'json') {
    process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    return;
  }
  const notes = config === undefined ? ['FlareDB and IAM are not observed without --config (their steps show NotConfigured)'] : [];
  process.stdout.write(rows.length === 0 ? 'No NodeMemberships found.\n' : renderPlan(rows, notes));
});

// ---------------------------------------------------------------------------
// snapshots

help(
  program
    .command('snapshots')
    .description('list the snapshots of Chainfire the controller on this node took before membership changes')
    .option('--dir <dir>', 'the controller\'s snapshot directory (snapshots.dir of its configuration)', defaultSnapshotDir())
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table')),
  [
    'membershipctl snapshots',
    'membershipctl snapshots --dir /srv/chainfire-snapshots -o json',
    'etcdctl snapshot status "$(membershipctl snapshots -o json | jq -r \'.[0].path\')" -w table',
  ],
  'Newest first. NODE and CHANGE name the Chainfire membership change the snapshot was taken before\n' +
    '(addLearner, promote, removeMember); REVISION is Chainfire\'s revision when it was taken. The snapshots\n' +
    'are on the node of the controller that led then: run this there. Reads the directory only (no\n' +
    'connection flags). Restoring one: docs/backup-restore.md.',
  '0 done, 64 usage, 78 the directory is missing or unreadable',
).action(async (opts: { dir: string; output: 'table' | 'json' }) => {
  if (!opts.dir.startsWith('/')) throw new MembershipError('USAGE', `--dir must be an absolute path, got ${JSON.stringify(opts.dir)}`);
  const rows = await readSnapshots(opts.dir);
  process.stdout.write(opts.output === 'json' ? JSON.stringify(rows, null, 2) + '\n' : renderSnapshots(rows, opts.dir));
});

// ---------------------------------------------------------------------------
// rbac (its own file), completion, help

addRbacCommand(program);
const rbac = program.commands.find((c) => c.name() === 'rbac');
if (rbac !== undefined && rbac.commands.length > 0) {
  help(
    rbac,
    ['membershipctl rbac apply --nodes node01,node02,node03 --out-dir /root/membership-credentials --enable-auth', 'membershipctl rbac apply --help'],
    '',
    '0 done, 64 usage, 69 Chainfire unreachable, 77 access refused',
  );
}

help(
  program
    .command('completion')
    .description('print a shell completion script (commands, flags, node names)')
    .addArgument(new Argument('<shell>', 'shell to complete in').choices(['bash', 'zsh'])),
  [
    'source <(membershipctl completion bash)',
    'membershipctl completion bash > /etc/bash_completion.d/membershipctl',
    'membershipctl completion zsh > "${fpath[1]}/_membershipctl"',
  ],
  'Node names are completed with "membershipctl get -o name", using the connection flags already typed\n(or CHAINFIRE_ENDPOINTS, ETCDCTL_ENDPOINTS).',
  '0 done, 64 usage',
).action((shell: 'bash' | 'zsh') => {
  process.stdout.write(completionScript(program, shell));
});

help(
  program
    .command('help')
    .description('show help for a command')
    .argument('[command...]', 'the command, e.g. get or rbac apply'),
  ['membershipctl help', 'membershipctl help wait', 'membershipctl help rbac apply'],
  '',
  '0 done, 64 unknown command',
).action((path: string[]) => {
  let cmd: Command = program;
  for (const word of path) {
    const next = cmd.commands.find((c) => c.name() === word || c.aliases().includes(word));
    if (next === undefined) {
      const known = cmd.commands.map((c) => c.name()).join(', ');
      throw new MembershipError('USAGE', `unknown command ${JSON.stringify(path.join(' '))}; commands: ${known}`);
    }
    cmd = next;
  }
  cmd.outputHelp();
});

// Every command that talks to Chainfire: --log-level debug says on stderr where the connection settings came from.
const allCommands = (cmd: Command): Command[] => [cmd, ...cmd.commands.flatMap(allCommands)];
for (const cmd of allCommands(program)) {
  if (cmd.options.some((o) => o.long === '--endpoints') && !cmd.options.some((o) => o.long === '--log-level')) {
    cmd.addOption(
      new Option('--log-level <level>', 'debug: also say on stderr where the endpoints, TLS files and user came from (flag, CHAINFIRE_*, ETCDCTL_*, default)')
        .choices(['debug', 'info', 'warn', 'error'])
        .default('warn'),
    );
  }
}

await runCli(program, process.argv, exitCodeFrom(MEMBERSHIPCTL_EXIT_CODES));
