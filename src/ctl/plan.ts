import type { Etcd3 } from 'etcd3';
import { pino } from 'pino';
import { parseJsonOrUndefined } from '../store/records.js';
import { EtcdChainfireDriver } from '../drivers/chainfire.js';
import { HttpFlareDBDriver } from '../drivers/flaredb.js';
import { HttpIAMDriver } from '../drivers/iam.js';
import type { FlareDBDriver, IAMDriver } from '../drivers/types.js';
import { httpOptions, type ControllerConfig } from '../controller/config.js';
import type { Logger } from '../log.js';
import { RaftAddressIndex } from '../reconcile/conflicts.js';
import type { OperationsInFlight, ReadPort } from '../reconcile/ports.js';
import { planNode, type NodePlan } from '../reconcile/reconcile-node.js';
import type { NodeAction } from '../reconcile/step.js';
import type { Service } from '../schema/agent-report.js';
import { clusterStatus } from '../schema/cluster.js';
import { formatIssues } from '../schema/common.js';
import { clusterConfigRecord, DEFAULT_POLICY, membershipOperation, type MembershipPolicy } from '../schema/operation.js';
import type { ConnectionOptions } from '../store/connection.js';
import type { KeyLayout } from '../store/keys.js';
import { printable } from '../printable.js';
import { formatColumns, readViews, type NodeView } from './view.js';

export interface PlanRow {
  node: string;
  phase: string;
  next: string;
  why: string;
}

/** In words, what an action would do. */
export function describeAction(a: NodeAction | undefined): string {
  if (a === undefined) return '-';
  switch (a.kind) {
    case 'addLearner':
      return `chainfire: add learner ${a.peerUrl}`;
    case 'promote':
      return `chainfire: promote ${a.memberId}`;
    case 'removeMember':
      return `chainfire: remove member ${a.memberId}`;
    case 'moveLeader':
      return `chainfire: move leadership ${a.fromMemberId} -> ${a.toMemberId}`;
    case 'addMember':
      return `flaredb: add ${a.id} at ${a.raftAddr}`;
    case 'removeFlareDBMember':
      return `flaredb: remove ${a.id}`;
    case 'registerNode':
      return `iam: register ${a.registration.id}`;
    case 'deregisterNode':
      return `iam: deregister ${a.id}`;
  }
}

/**
 * What the controller would do next for each node: the controller's own
 * observe and decide (planNode), on a read port over what is stored and
 * observed now. Reads only: the port has no way to record, act or write.
 */
export async function planNodes(
  client: Etcd3,
  keys: KeyLayout,
  connection: ConnectionOptions,
  config: ControllerConfig | undefined,
  now = new Date(),
  log: Logger = pino({ level: 'silent' }),
): Promise<PlanRow[]> {
  const views = await readViews(client, keys);
  const flaredb: FlareDBDriver | undefined = config?.flaredb ? new HttpFlareDBDriver(httpOptions(config.flaredb)) : undefined;
  const iam: IAMDriver | undefined = config?.iam ? new HttpIAMDriver(httpOptions(config.iam)) : undefined;
  try {
    const read = await planReader({ client, keys, connection, views, flaredb, iam, now, log });
    const rows: PlanRow[] = [];
    for (const v of views) rows.push(planRow(v, await planNode(v.node, read)));
    return rows;
  } finally {
    await Promise.all([flaredb?.close(), iam?.close()]);
  }
}

interface PlanSources {
  client: Etcd3;
  keys: KeyLayout;
  connection: ConnectionOptions;
  views: NodeView[];
  flaredb: FlareDBDriver | undefined;
  iam: IAMDriver | undefined;
  now: Date;
  log: Logger;
}

/** The read port of `membershipctl plan`: the records as read once, each service asked once for all nodes (one snapshot). */
async function planReader(src: PlanSources): Promise<ReadPort> {
  const { client, keys, views, flaredb, iam } = src;
  const byNode = new Map(views.map((v) => [v.node, v]));
  const records = views.flatMap((v) => (v.desired?.value ? [v.desired.value] : []));
  const addresses = new RaftAddressIndex();
  for (const v of views) addresses.set(v.node, v.desired?.value);
  const chainfire = new EtcdChainfireDriver(client, { connection: src.connection });
  const [operations, { policy, problem }, iamBootstrapped] = await Promise.all([readOperations(client, keys), readPolicy(client, keys), readIamSetup(client, keys, iam)]);
  return {
    now: () => src.now,
    log: src.log,
    desired: (node) => byNode.get(node)?.desired,
    status: (node) => byNode.get(node)?.status?.value?.status,
    agent: (node) => byNode.get(node)?.agent,
    desiredRecords: () => records,
    addressConflicts: (node) => addresses.conflicts(node),
    operations: () => operations,
    policy: () => policy,
    policyProblem: () => problem,
    iamBootstrapped: () => iamBootstrapped,
    chainfire: {
      members: once(() => chainfire.listMembers(true)),
      health: once((members) => chainfire.health(members)),
      leaderId: once(() => chainfire.leaderId()),
    },
    flaredb: flaredb && { list: once(() => flaredb.listMembers()) },
    iam: iam && { list: once(() => iam.listNodes()) },
  };
}

/** The first call's promise, for every call (a failure too: every node then sees the service unavailable). */
function once<A extends unknown[], T>(f: (...args: A) => Promise<T>): (...args: A) => Promise<T> {
  let first: Promise<T> | undefined;
  return (...args) => (first ??= f(...args));
}

async function readOperations(client: Etcd3, keys: KeyLayout): Promise<OperationsInFlight> {
  const out: OperationsInFlight = {};
  for (const kv of (await client.getAll().prefix(`${keys.prefix}/operations/`).exec()).kvs) {
    const parsed = membershipOperation.safeParse(parseJsonOrUndefined(kv.value.toString()));
    if (parsed.success) out[parsed.data.service as Service] = { op: parsed.data, modRevision: Number(kv.mod_revision) };
  }
  return out;
}

/** cluster/config as the controller reads it: invalid, the defaults apply and no change is made. */
async function readPolicy(client: Etcd3, keys: KeyLayout): Promise<{ policy: MembershipPolicy; problem?: string }> {
  const raw = await client.get(keys.clusterConfig()).string();
  const parsed = clusterConfigRecord.safeParse(raw === null ? {} : parseJsonOrUndefined(raw));
  return parsed.success ? { policy: parsed.data.spec } : { policy: DEFAULT_POLICY, problem: formatIssues(parsed.error) };
}

/** As the controller: done once cluster/status records it; before that, what IAM itself says. */
async function readIamSetup(client: Etcd3, keys: KeyLayout, iam: IAMDriver | undefined): Promise<boolean> {
  if (iam === undefined) return false;
  const raw = await client.get(keys.clusterStatus()).string();
  const recorded = clusterStatus.safeParse(raw === null ? undefined : parseJsonOrUndefined(raw));
  if (recorded.success && recorded.data.status.iam?.bootstrapped) return true;
  return iam.bootstrapStatus().then((s) => s.initialized, () => false);
}

function planRow(v: NodeView, plan: NodePlan): PlanRow {
  if (plan.kind === 'none') return { node: v.node, phase: '-', next: '-', why: 'no desired record' };
  if (plan.kind === 'invalid') return { node: v.node, phase: plan.status.phase, next: '-', why: plan.problem };
  const { status, action } = plan.decision;
  const blocking = status.conditions.find((c) => c.type !== 'Ready' && c.status !== 'True') ?? status.conditions.find((c) => c.type === 'Ready');
  return {
    node: v.node,
    phase: status.phase,
    next: describeAction(action),
    why: blocking ? `${blocking.type}=${blocking.status} ${blocking.reason}: ${blocking.message}` : '',
  };
}

export function renderPlan(rows: PlanRow[], notes: string[]): string {
  const table = formatColumns([['NODE', 'PHASE', 'NEXT', 'WHY'], ...rows.map((r) => [r.node, r.phase, r.next, r.why])]);
  return table + notes.map((n) => `note: ${printable(n)}\n`).join('');
}
