/**
 * The reconcile of one node, written once: observe, decide, record the change
 * (compare-and-swap under the term), act, end the change, decide again on what
 * is then observed, write the status if it changed. The controller runs it on
 * Chainfire and the real drivers, the model test on its model world;
 * `membershipctl plan` runs only its first half (planNode) on a read port.
 */
import { API_VERSION } from '../schema/common.js';
import type { Service } from '../schema/agent-report.js';
import { SERVICES } from '../schema/agent-report.js';
import type { MembershipOperation } from '../schema/operation.js';
import type { StatusBody } from '../schema/status.js';
import { errorMessage, isMembershipError, type ErrorCode } from '../errors.js';
import { canonicalJson } from '../store/records.js';
import { decideNode, invalidSpecStatus, type NodeDecision, type NodeInputs, type OperationChange } from './decide.js';
import { observeNode, readNode, unseenServices, type NodeRecords } from './observe.js';
import type { OperationsInFlight, ReadPort, ReconcilePorts } from './ports.js';
import type { NodeAction } from './step.js';
import type { PromoteRefused } from './chainfire-step.js';
import { actionEvent, actionFailedEvent, statusEvents } from './events.js';

/** How soon a node whose decision still holds an action is looked at again. */
export const NEXT_ACTION_MS = 200;

/** How soon a change a service refused for now (BUSY) is tried again. */
export const BUSY_RETRY_MS = 1000;

export interface ReconcileResult {
  requeueAfterMs?: number;
  /** services the node could not see: it waits for them to answer again (ServiceRecovery) */
  waitingFor?: Service[];
}

/** What the controller would decide for a node now, on what the read port shows. */
export type NodePlan =
  | { kind: 'none' }
  | { kind: 'invalid'; problem: string; status: NodeDecision['status'] }
  | { kind: 'valid'; inputs: NodeInputs; decision: NodeDecision };

const NONE: ReadonlySet<Service> = new Set();
const ALL: ReadonlySet<Service> = new Set(SERVICES as readonly Service[]);

/** Observe and decide only: nothing is recorded, acted on or written. */
export async function planNode(node: string, read: ReadPort): Promise<NodePlan> {
  const got = readNode(node, read);
  if (got.kind === 'none') return got;
  if (got.kind === 'invalid') {
    return { kind: 'invalid', problem: got.problem, status: invalidSpecStatus(got.problem, got.generation, got.previous, read.now()) };
  }
  const inputs = await observeNode(got.records, read, { fresh: NONE, operations: read.operations() });
  return { kind: 'valid', inputs, decision: decideNode(inputs) };
}

/** One reconcile of one node; at most one action. */
export async function reconcileNode(node: string, ports: ReconcilePorts): Promise<ReconcileResult> {
  const { read } = ports;
  const got = readNode(node, read);
  if (got.kind === 'none') return {};
  if (got.kind === 'invalid') {
    await writeStatus(node, invalidSpecStatus(got.problem, got.generation, got.previous, read.now()), got.generation, ports);
    return {};
  }
  const records = got.records;
  // What this reconcile itself records or ends, on top of what the watch has delivered so far.
  const inFlight: OperationsInFlight = { ...read.operations() };
  let seen = await observeNode(records, read, { fresh: NONE, operations: inFlight });
  let decision = decided(node, seen, 'first', ports);
  if (decision.action !== undefined) {
    const outcome = await carryOut(records, decision, decision.action, inFlight, ports);
    if ('result' in outcome) return outcome.result;
    ({ seen, decision } = outcome);
  }
  for (const change of decision.operations ?? []) {
    if (change.finish && change.start === undefined) await endChange(change.service, inFlight, ports);
  }
  await writeStatus(node, decision.status, records.generation, ports);
  return nextLook(node, seen, decision, inFlight, read);
}

/** What a service answered that the node's status says (ServiceUnavailable with the answer; SnapshotFailed) while the work queue retries. */
const SAID_IN_STATUS: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['BUSY', 'UNAVAILABLE', 'SERVICE_ERROR', 'ACCESS_DENIED', 'RESOURCE_EXHAUSTED', 'SNAPSHOT_FAILED']);

type CarriedOut = { seen: NodeInputs; decision: NodeDecision } | { result: ReconcileResult };

/** Records the change, makes the one action, ends the change if it is over, and decides again. */
async function carryOut(
  records: NodeRecords,
  first: NodeDecision,
  action: NodeAction,
  inFlight: OperationsInFlight,
  ports: ReconcilePorts,
): Promise<CarriedOut> {
  const { read, write } = ports;
  write.assertLeader();
  const changes = first.operations ?? [];
  for (const change of changes) {
    if (change.start === undefined) continue;
    await startChange(records.node, records.now, change, inFlight, ports);
    write.failpoint('after-operation-recorded');
  }
  let refused: PromoteRefused | undefined;
  try {
    write.failpoint(`before-${action.kind}`);
    refused = await write.act(records.node, action, inFlight[action.service]?.op);
    if (refused === undefined) write.recordEvents?.(records.node, [actionEvent(action)], records.generation);
    write.onMembershipChange?.(action.service);
    write.failpoint(`after-${action.kind}`);
  } catch (err) {
    // A refusal for now (BUSY) is tried again every second: its status (ServiceUnavailable) is the one event for it.
    if (!isMembershipError(err, 'BUSY')) write.recordEvents?.(records.node, [actionFailedEvent(action, errorMessage(err))], records.generation);
    return { result: await actionFailed(records, action, err, inFlight, ports) };
  }
  for (const change of changes) if (change.finish) await endChange(change.service, inFlight, ports);
  // The controller's own registration is already in IAM's shared list: no full list of IAM per join.
  const fresh = action.kind === 'registerNode' ? new Set<Service>(['chainfire', 'flaredb']) : ALL;
  const seen = await observeNode(records, read, { fresh, operations: inFlight });
  const decision = decided(records.node, { ...seen, ...(refused ? { promoteRefused: refused } : {}) }, 'after-action', ports);
  // A decision that still holds an action makes it at the next look, its changes with it.
  return { seen, decision: decision.action === undefined ? decision : { ...decision, operations: [] } };
}

/**
 * The action failed: say why nothing moves, then let the work queue back off
 * (rethrow). A refusal for now is looked at again at a steady pace instead:
 * backing off would grow past the few seconds etcd refuses for.
 */
async function actionFailed(
  records: NodeRecords,
  action: NodeAction,
  err: unknown,
  inFlight: OperationsInFlight,
  ports: ReconcilePorts,
): Promise<ReconcileResult> {
  const busy = isMembershipError(err, 'BUSY');
  if (!isMembershipError(err) || !SAID_IN_STATUS.has(err.code)) throw err;
  // A change held back for want of a snapshot was not started at all: its status says so by its own reason.
  const heldBack = err.code === 'SNAPSHOT_FAILED';
  const seen = await observeNode(records, ports.read, { fresh: ALL, operations: inFlight });
  const failure = { actionFailed: errorMessage(err), failedService: action.service, ...(heldBack ? { actionFailedReason: 'SnapshotFailed' } : {}) };
  const failed = decided(records.node, { ...seen, ...failure }, 'after-failure', ports);
  await writeStatus(records.node, failed.status, records.generation, ports);
  // Nothing was added: the refused join must not hold the one-change lock
  // against the change that would unblock it (removing a dead member).
  if ((busy || heldBack) && action.kind === 'addLearner') await endChange(action.service, inFlight, ports);
  if (!busy) throw err;
  ports.read.log.info(
    { node: records.node, service: action.service, err: errorMessage(err) },
    `refused for now; trying again in ${BUSY_RETRY_MS / 1000} s`,
  );
  return { requeueAfterMs: BUSY_RETRY_MS };
}

function decided(node: string, inputs: NodeInputs, when: 'first' | 'after-action' | 'after-failure', ports: ReconcilePorts): NodeDecision {
  const decision = decideNode(inputs);
  ports.onDecision?.(node, decision, when);
  return decision;
}

/** Records the change before it starts: a compare-and-swap, so two workers cannot both start one. */
async function startChange(node: string, now: Date, change: OperationChange, inFlight: OperationsInFlight, ports: ReconcilePorts): Promise<void> {
  const { read, write } = ports;
  const current = inFlight[change.service];
  const keepStart = !change.fresh && current?.op.node === node && current.op.change === change.start;
  const op: MembershipOperation = {
    apiVersion: API_VERSION,
    kind: 'MembershipOperation',
    service: change.service,
    node,
    change: change.start!,
    startedAt: keepStart ? current!.op.startedAt : now.toISOString(),
    startedBy: `${write.identity} (term ${write.term})`,
  };
  const modRevision = await write.putOperation(change.service, op, current?.modRevision ?? 0);
  inFlight[change.service] = { op, modRevision };
  if (!keepStart) read.log.info({ node, service: change.service, change: op.change }, 'membership change recorded');
}

/** Ends the change only if its record is still the one this reconcile wrote or read. */
async function endChange(service: Service, inFlight: OperationsInFlight, ports: ReconcilePorts): Promise<void> {
  const current = inFlight[service];
  if (current === undefined) return;
  await ports.write.deleteOperation(service, current.modRevision);
  ports.read.log.info({ node: current.op.node, service, change: current.op.change }, 'membership change done');
  delete inFlight[service];
}

/** Writes the status only when it differs from the last one (the controller stamp aside), while the generation holds. */
async function writeStatus(node: string, status: NodeDecision['status'], generation: number, ports: ReconcilePorts): Promise<void> {
  const { read, write } = ports;
  const previous = read.status(node);
  if (previous !== undefined) {
    const { controller: _stamp, ...rest } = previous;
    if (canonicalJson(rest) === canonicalJson(status)) return;
  }
  const body: StatusBody = { ...status, controller: { identity: write.identity, term: write.term } };
  await write.putStatus(node, body, generation);
  const events = statusEvents(previous, status);
  if (events.length > 0) write.recordEvents?.(node, events, generation);
  read.log.info(
    { node, phase: body.phase, conditions: body.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`).join(' ') },
    'status updated',
  );
}

/** When to look at the node again, and which services it waits for. */
function nextLook(node: string, seen: NodeInputs, decision: NodeDecision, inFlight: OperationsInFlight, read: ReadPort): ReconcileResult {
  const waitingFor = unseenServices(seen);
  // Waiting for another node's change that ended meanwhile (its end was seen
  // before this status said the node waits, so nothing else would wake it): look again now.
  const current = read.operations();
  const ended =
    decision.status.conditions.some((c) => c.reason === 'WaitingForOtherChange') &&
    Object.entries(inFlight).some(([svc, v]) => v!.op.node !== node && current[svc as Service]?.modRevision !== v!.modRevision);
  // An action still to be made (this reconcile made its one already, or a read after it did not show
  // it yet: a member list from a member that has not applied the change) is made soon, not at the resync.
  const requeueAfterMs = ended
    ? 0
    : decision.action !== undefined
      ? Math.min(decision.requeueAfterMs ?? NEXT_ACTION_MS, NEXT_ACTION_MS)
      : decision.requeueAfterMs;
  return {
    ...(requeueAfterMs !== undefined ? { requeueAfterMs } : {}),
    ...(waitingFor.length > 0 ? { waitingFor } : {}),
  };
}
