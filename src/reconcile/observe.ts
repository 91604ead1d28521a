/**
 * The one observation of a node: what decideNode depends on, built from the
 * read port alike for the controller, the model test and `membershipctl plan`.
 */
import { errorMessage } from '../errors.js';
import type { AgentReport, Service } from '../schema/agent-report.js';
import type { NodeMembership } from '../schema/node-membership.js';
import type { StatusBody } from '../schema/status.js';
import type { ChainfireObservation } from './chainfire-step.js';
import type { NodeInputs } from './decide.js';
import { claimedPeerUrls, placementOf } from './placement.js';
import type { MemberLister, OperationsInFlight, ReadPort } from './ports.js';
import type { Observation } from './step.js';

/** A node's own records, read once per reconcile. */
export interface NodeRecords {
  node: string;
  /** the reconcile's one reading of the clock: every decision and record of it uses this time */
  now: Date;
  desired: NodeMembership;
  /** the desired record's mod revision: the generation the status describes */
  generation: number;
  previous?: StatusBody;
  agent?: AgentReport;
}

export type NodeRead =
  /** no desired record: nothing is done (a deleted record never removes a member) */
  | { kind: 'none' }
  | { kind: 'invalid'; problem: string; generation: number; previous?: StatusBody }
  | { kind: 'valid'; records: NodeRecords };

/** Unreadable agent reports already logged. */
const reportedAgents = new WeakSet<object>();

export function readNode(node: string, read: ReadPort): NodeRead {
  const desired = read.desired(node);
  if (desired === undefined) return { kind: 'none' };
  const previous = read.status(node);
  if (desired.value === undefined) {
    return { kind: 'invalid', problem: desired.problem ?? 'invalid record', generation: desired.modRevision, ...(previous ? { previous } : {}) };
  }
  const agent = read.agent(node);
  if (agent?.problem !== undefined && !reportedAgents.has(agent)) {
    // Once per revision of the report (each is its own object in the cache), not at every look.
    reportedAgents.add(agent);
    read.log.warn({ node, problem: agent.problem }, 'ignoring unreadable agent report');
  }
  return {
    kind: 'valid',
    records: {
      node,
      now: read.now(),
      desired: desired.value,
      generation: desired.modRevision,
      ...(previous ? { previous } : {}),
      ...(agent?.value ? { agent: agent.value } : {}),
    },
  };
}

export interface ObserveOptions {
  /** the services to ask afresh (after an action); the others may answer from a shared list */
  fresh: ReadonlySet<Service>;
  /** the changes in flight as this reconcile knows them (what it recorded or ended itself included) */
  operations: OperationsInFlight;
}

/** Everything decideNode needs for the node, observed now. */
export async function observeNode(records: NodeRecords, read: ReadPort, opts: ObserveOptions): Promise<NodeInputs> {
  const { node, desired } = records;
  const spec = desired.spec;
  const chainfire: ChainfireObservation = spec.chainfire ? await observeChainfire(read, opts.fresh.has('chainfire')) : { members: [] };
  const seen = 'members' in chainfire ? chainfire.members : undefined;
  // Health matters to every Chainfire node (a voter down, a member that stopped answering);
  // leadership only for taking a voter out; placement only for joining.
  const removing = spec.state === 'Absent' && spec.chainfire !== undefined && seen !== undefined;
  const joining = spec.state === 'Present' && spec.chainfire !== undefined && seen !== undefined;
  const conflicts = read.addressConflicts(node);
  const policyProblem = read.policyProblem();
  const recovery = read.recovery?.();
  // Only a node that is (or is to be) a Chainfire or FlareDB member can cost a quorum: a worker's disruption holds nothing.
  const quorumNodes = new Set([...read.desiredRecords()].filter((r) => r.spec.chainfire !== undefined || r.spec.flaredb !== undefined).map((r) => r.metadata.name));
  const disruptions = (read.disruptions?.() ?? []).filter((d) => quorumNodes.has(d.node) || d.node === node);
  const leaderId = removing ? await read.chainfire.leaderId() : undefined;
  return {
    node,
    desired,
    ...(records.previous ? { previous: records.previous } : {}),
    ...(records.agent ? { agent: records.agent } : {}),
    now: records.now,
    chainfire,
    ...(removing || joining ? { chainfireHealth: await read.chainfire.health(seen) } : {}),
    ...(leaderId !== undefined ? { chainfireLeaderId: leaderId } : {}),
    ...(joining ? { placement: placementOf(read.desiredRecords(), seen, (n) => read.agent(n)?.value !== undefined), claimedPeerUrls: claimedPeerUrls(read.desiredRecords()) } : {}),
    ...(spec.flaredb ? { flaredb: await observeList(read.flaredb, opts.fresh.has('flaredb')) } : {}),
    ...(spec.iam ? { iam: await observeList(read.iam, opts.fresh.has('iam')) } : {}),
    iamBootstrapped: read.iamBootstrapped(),
    ...(spec.iam && read.iamSetupProblem?.() !== undefined ? { iamSetupProblem: read.iamSetupProblem() } : {}),
    operations: Object.fromEntries(Object.entries(opts.operations).map(([svc, v]) => [svc, v!.op])),
    policy: read.policy(),
    ...(policyProblem !== undefined ? { policyProblem } : {}),
    ...(recovery !== undefined ? { recovery } : {}),
    ...(disruptions.length > 0 ? { disruptions } : {}),
    ...(conflicts.length > 0 ? { addressConflicts: conflicts } : {}),
  };
}

async function observeChainfire(read: ReadPort, fresh: boolean): Promise<ChainfireObservation> {
  try {
    return { members: await read.chainfire.members(fresh) };
  } catch (err) {
    return { unavailable: errorMessage(err) };
  }
}

async function observeList<T>(lister: MemberLister<T> | undefined, fresh: boolean): Promise<Observation<T>> {
  if (lister === undefined) return { notConfigured: true };
  try {
    const members = await lister.list(fresh);
    const find = lister.find;
    return find ? { members, find: (id) => find(members, id) } : { members };
  } catch (err) {
    return { unavailable: errorMessage(err) };
  }
}

/** The services the node could not see. */
export function unseenServices(inputs: NodeInputs): Service[] {
  const out: Service[] = [];
  if ('unavailable' in inputs.chainfire) out.push('chainfire');
  if (inputs.flaredb !== undefined && 'unavailable' in inputs.flaredb) out.push('flaredb');
  if (inputs.iam !== undefined && 'unavailable' in inputs.iam) out.push('iam');
  return out;
}
