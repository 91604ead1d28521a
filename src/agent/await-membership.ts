import { MembershipError, errorMessage, keptCode } from '../errors.js';
import type { Logger } from '../log.js';
import type { NodeMembership } from '../schema/node-membership.js';
import { TERMINAL_REASONS, type ConditionType, type NodeMembershipStatus, type StatusBody } from '../schema/status.js';
import type { EtcdLite } from '../store/etcd-lite/client.js';
import { WatchedKey } from '../store/etcd-lite/watched-key.js';
import type { KeyLayout } from '../store/keys.js';
import { decodeDesired, decodeStatus, type StoredRecord } from '../store/records.js';

export interface AwaitMembershipOptions {
  client: EtcdLite;
  keys: KeyLayout;
  node: string;
  /** the condition that means done: ChainfireMember, FlareDBMember or IAMRegistered */
  condition: ConditionType;
  timeoutMs: number;
  log: Logger;
  /**
   * Called with every status of the current generation that is not done yet;
   * Chainfire uses it to start the local etcd once the learner is added. A
   * rejection ends the wait with that error.
   */
  onProgress?: (status: StatusBody) => Promise<void> | void;
}

/**
 * Blocks on a watch of the node's status record (and its desired record, to
 * know which generation counts) until `condition` is True, a terminal reason
 * appears (REJECTED), or the bound passes (TIMEOUT). No polling.
 */
export async function awaitMembership(opts: AwaitMembershipOptions): Promise<void> {
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
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new MembershipError(
              'TIMEOUT',
              `timed out after ${Math.round(opts.timeoutMs / 1000)}s waiting for ${opts.condition}=True; last seen: ${lastSeen || 'no status record'}`,
            ),
          ),
        opts.timeoutMs,
      );
      const finish = (err?: unknown) => {
        clearTimeout(timer);
        if (err === undefined) resolve();
        else reject(err);
      };
      const note = (what: string) => {
        if (what === lastSeen) return;
        lastSeen = what;
        log.info({ node }, what);
      };
      // Each cache's initial list emits events; judge only once both hold their lists.
      let listed = false;
      const evaluate = () => {
        if (!listed) return;
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
        if (c?.status === 'True') return finish();
        if (opts.onProgress) {
          // One progress step at a time, in order.
          pending = pending.then(() => opts.onProgress!(st)).catch((err: unknown) => finish(err));
        }
      };
      desired.on('change', evaluate);
      status.on('change', evaluate);
      Promise.all([desired.start(), status.start()]).then(() => {
        listed = true;
        evaluate();
      }, (err: unknown) =>
        finish(new MembershipError(keptCode(err, 'UNAVAILABLE'), `cannot watch ${node}'s records in Chainfire: ${errorMessage(err)}`)),
      );
    });
    await pending;
  } finally {
    await Promise.all([desired.stop(), status.stop()]);
  }
}
