import { MembershipError, errorMessage, keptCode } from '../errors.js';
import type { Logger } from '../log.js';
import type { NodeMembership } from '../schema/node-membership.js';
import { TERMINAL_REASONS, type Condition, type ConditionType, type NodeMembershipStatus, type StatusBody } from '../schema/status.js';
import type { EtcdLite } from '../store/etcd-lite/client.js';
import { WatchedKey } from '../store/etcd-lite/watched-key.js';
import type { KeyLayout } from '../store/keys.js';
import { decodeDesired, decodeStatus, type StoredRecord } from '../store/records.js';
import { retryTransient } from './retry.js';

export interface AwaitMembershipOptions {
  client: EtcdLite;
  keys: KeyLayout;
  node: string;
  /** the condition that means done: ChainfireMember, FlareDBMember or IAMRegistered */
  condition: ConditionType;
  /** the agent's --timeout, named in the message when it runs out */
  timeoutMs: number;
  /** when the wait ends (epoch ms); default: timeoutMs from now */
  deadline?: number;
  log: Logger;
  /**
   * Reasons of a False condition that end the wait too: the controller
   * settled the node there by policy (Chainfire's VoterLimitReached).
   */
  settledReasons?: readonly string[];
  /**
   * Asked when the condition is True: undefined accepts it; a message keeps
   * the agent waiting (logged once per message). Chainfire uses it to wait
   * past a True that names a member of an earlier incarnation of the node.
   */
  judgeTrue?: (status: StatusBody) => string | undefined;
  /**
   * Called with every status of the current generation that is not done yet;
   * Chainfire uses it to start the local etcd once the learner is added. A
   * rejection ends the wait with that error.
   */
  onProgress?: (status: StatusBody) => Promise<void> | void;
}

/** How a wait ended: the node is a member, or the controller settled it elsewhere by policy (`settledReasons`). */
export interface MembershipOutcome {
  outcome: 'member' | 'settled';
  condition: Condition;
}

/**
 * Blocks on a watch of the node's status record (and its desired record, to
 * know which generation counts) until `condition` is True (and `judgeTrue`
 * accepts it), False with one of `settledReasons`, a terminal reason appears
 * (REJECTED), or the deadline passes (TIMEOUT). No polling. Listing and
 * watching ride out transient failures until the deadline.
 */
export async function awaitMembership(opts: AwaitMembershipOptions): Promise<MembershipOutcome> {
  const { client, keys, node, log } = opts;
  const desired = new WatchedKey<StoredRecord<NodeMembership>>({
    client, key: keys.desired(node), resource: 'desired', log,
    decode: (kv) => decodeDesired(keys, kv),
  });
  const status = new WatchedKey<StoredRecord<NodeMembershipStatus>>({
    client, key: keys.status(node), resource: 'status', log,
    decode: (kv) => decodeStatus(keys, kv),
  });
  let lastSeen = '';
  let pending: Promise<void> = Promise.resolve();
  const deadline = opts.deadline ?? Date.now() + opts.timeoutMs;
  const ended = new AbortController();
  const waitingNotes = new Set<string>();
  try {
    const result = await new Promise<MembershipOutcome>((resolve, reject) => {
      let done = false;
      const finish = (err: unknown, outcome?: MembershipOutcome) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        ended.abort(err ?? new Error('the wait is over'));
        if (outcome !== undefined) resolve(outcome);
        else reject(err);
      };
      const timer = setTimeout(
        () =>
          finish(
            new MembershipError(
              'TIMEOUT',
              `timed out after ${Math.round(opts.timeoutMs / 1000)}s waiting for ${opts.condition}=True; last seen: ${lastSeen || 'no status record'}`,
            ),
          ),
        Math.max(0, deadline - Date.now()),
      );
      const note = (what: string) => {
        if (what === lastSeen) return;
        lastSeen = what;
        log.info({ node }, what);
      };
      // Each cache's initial list emits events; judge only once both hold their lists.
      let listed = false;
      const evaluate = () => {
        if (!listed || done) return;
        const want = desired.value;
        const st = status.value?.value?.status;
        if (want === undefined) return note(`no desired record ${keys.desired(node)} yet (apply one with membershipctl apply)`);
        if (st === undefined || st.observedGeneration < want.modRevision) {
          return note(`waiting for the controller to observe generation ${want.modRevision}`);
        }
        const terminal = st.conditions.find((c) => (TERMINAL_REASONS as readonly string[]).includes(c.reason));
        if (terminal !== undefined) {
          return finish(new MembershipError('REJECTED', `the controller rejected ${node}: ${terminal.type} ${terminal.reason}: ${terminal.message}`));
        }
        const c = st.conditions.find((x) => x.type === opts.condition);
        if (c !== undefined) note(`${c.type}=${c.status} ${c.reason}: ${c.message}`);
        if (c?.status === 'True') {
          const wait = opts.judgeTrue?.(st);
          if (wait === undefined) return finish(undefined, { outcome: 'member', condition: c });
          if (!waitingNotes.has(wait)) {
            waitingNotes.add(wait);
            log.info({ node }, wait);
          }
        }
        if (c?.status === 'False' && opts.settledReasons?.includes(c.reason)) return finish(undefined, { outcome: 'settled', condition: c });
        if (opts.onProgress) {
          // One progress step at a time, in order.
          pending = pending.then(() => opts.onProgress!(st)).catch((err: unknown) => finish(err));
        }
      };
      desired.on('change', evaluate);
      status.on('change', evaluate);
      // Each key is listed and watched on its own, so that a try again starts no second watch.
      const retry = { deadline, log, signal: ended.signal };
      Promise.all([
        retryTransient(`listing and watching ${keys.desired(node)}`, () => desired.start(), retry),
        retryTransient(`listing and watching ${keys.status(node)}`, () => status.start(), retry),
      ]).then(() => {
        listed = true;
        evaluate();
      }, (err: unknown) =>
        finish(new MembershipError(keptCode(err, 'UNAVAILABLE'), `cannot watch ${node}'s records in Chainfire: ${errorMessage(err)}`)),
      );
    });
    await pending;
    return result;
  } finally {
    await Promise.all([desired.stop(), status.stop()]);
  }
}
