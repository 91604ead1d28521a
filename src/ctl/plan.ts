import type { Etcd3 } from 'etcd3';
import { parseJsonOrUndefined } from '../store/records.js';
import { ChainfireDriver } from '../drivers/chainfire.js';
import { HttpFlareDBDriver } from '../drivers/flaredb.js';
import { HttpIAMDriver } from '../drivers/iam.js';
import type { FlareDBDriver, IAMDriver } from '../drivers/types.js';
import { errorMessage } from '../errors.js';
import { httpOptions, type ControllerConfig } from '../controller/config.js';
import { addressConflicts } from '../reconcile/conflicts.js';
import { decideNode, type NodeAction, type NodeInputs } from '../reconcile/decide.js';
import type { Observation } from '../reconcile/step.js';
import type { Service } from '../schema/agent-report.js';
import { clusterConfigRecord, DEFAULT_POLICY, membershipOperation, type MembershipOperation } from '../schema/operation.js';
import type { ConnectionOptions } from '../store/connection.js';
import type { KeyLayout } from '../store/keys.js';
import { formatColumns, readViews } from './view.js';

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
 * What the controller would do next for each node: the same decision the
 * controller makes, on what is observed now. Reads only; changes nothing.
 */
export async function planNodes(
  client: Etcd3,
  keys: KeyLayout,
  connection: ConnectionOptions,
  config: ControllerConfig | undefined,
  now = new Date(),
): Promise<PlanRow[]> {
  const views = await readViews(client, keys);
  const chainfire = new ChainfireDriver(client, { connection });
  const flaredb: FlareDBDriver | undefined = config?.flaredb ? new HttpFlareDBDriver(httpOptions(config.flaredb)) : undefined;
  const iam: IAMDriver | undefined = config?.iam ? new HttpIAMDriver(httpOptions(config.iam)) : undefined;
  try {
    const observe = async <T>(f: (() => Promise<T[]>) | undefined): Promise<Observation<T>> => {
      if (f === undefined) return { notConfigured: true };
      try {
        return { members: await f() };
      } catch (err) {
        return { unavailable: errorMessage(err) };
      }
    };
    const members = await observe(() => chainfire.listMembers(true));
    const cf: NodeInputs['chainfire'] =
      'members' in members ? { members: members.members } : { unavailable: 'unavailable' in members ? members.unavailable : 'not observed' };
    const health = 'members' in cf ? await chainfire.health(cf.members) : {};
    const leaderId = await chainfire.leaderId();
    const flaredbObs = await observe(flaredb ? () => flaredb.listMembers() : undefined);
    const iamObs = await observe(iam ? () => iam.listNodes() : undefined);
    const iamBootstrapped = iam ? await iam.bootstrapStatus().then((s) => s.initialized, () => false) : false;
    const operations: Partial<Record<Service, MembershipOperation>> = {};
    for (const kv of (await client.getAll().prefix(`${keys.prefix}/operations/`).exec()).kvs) {
      const parsed = membershipOperation.safeParse(parseJsonOrUndefined(kv.value.toString()));
      if (parsed.success) operations[parsed.data.service] = parsed.data;
    }
    const rawConfig = await client.get(keys.clusterConfig()).string();
    const policyParsed = clusterConfigRecord.safeParse(rawConfig === null ? {} : parseJsonOrUndefined(rawConfig));
    const policy = policyParsed.success ? policyParsed.data.spec : DEFAULT_POLICY;
    const records = views.flatMap((v) => (v.desired?.value ? [v.desired.value] : []));

    return views.map((v): PlanRow => {
      const desired = v.desired?.value;
      if (desired === undefined) {
        return { node: v.node, phase: v.desired ? 'Failed' : '-', next: '-', why: v.desired?.problem ?? 'no desired record' };
      }
      const previous = v.status?.value?.status;
      const conflicts = addressConflicts(v.node, records);
      const inputs: NodeInputs = {
        node: v.node,
        desired,
        ...(previous ? { previous } : {}),
        ...(v.agent?.value ? { agent: v.agent.value } : {}),
        chainfire: cf,
        chainfireHealth: health,
        ...(leaderId ? { chainfireLeaderId: leaderId } : {}),
        flaredb: flaredbObs as Observation<never>,
        iam: iamObs as Observation<never>,
        iamBootstrapped,
        operations,
        policy,
        ...(conflicts.length > 0 ? { addressConflicts: conflicts } : {}),
        now,
      };
      const d = decideNode(inputs);
      const blocking = d.status.conditions.find((c) => c.type !== 'Ready' && c.status !== 'True') ?? d.status.conditions.find((c) => c.type === 'Ready');
      return {
        node: v.node,
        phase: d.status.phase,
        next: describeAction(d.action),
        why: blocking ? `${blocking.type}=${blocking.status} ${blocking.reason}: ${blocking.message}` : '',
      };
    });
  } finally {
    await Promise.all([flaredb?.close(), iam?.close()]);
  }
}

export function renderPlan(rows: PlanRow[], notes: string[]): string {
  const table = formatColumns([['NODE', 'PHASE', 'NEXT', 'WHY'], ...rows.map((r) => [r.node, r.phase, r.next, r.why])]);
  return table + notes.map((n) => `note: ${n}\n`).join('');
}
