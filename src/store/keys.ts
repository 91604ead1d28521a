import { MembershipError } from '../errors.js';
import { nodeNameProblem } from '../schema/names.js';
import type { Service } from '../schema/agent-report.js';

export const DEFAULT_PREFIX = '/photoncloud/membership/v1';

export type RecordKind = 'desired' | 'status' | 'agents' | 'disruptions' | 'events';

/**
 * The contract's key layout under one prefix. Every key the programs read or
 * write is built here, so the layout lives in one place.
 */
export class KeyLayout {
  readonly prefix: string;

  constructor(prefix: string = DEFAULT_PREFIX) {
    if (!prefix.startsWith('/') || prefix.endsWith('/') || prefix.length < 2) {
      throw new MembershipError('USAGE', `prefix ${JSON.stringify(prefix)} must start with "/" and not end with "/"`);
    }
    this.prefix = prefix;
  }

  /** `<prefix>/<kind>/` with the trailing slash: watch and list under it. */
  dir(kind: RecordKind): string {
    return `${this.prefix}/${kind}/`;
  }

  desired(node: string): string {
    return this.dir('desired') + node;
  }

  status(node: string): string {
    return this.dir('status') + node;
  }

  agent(node: string): string {
    return this.dir('agents') + node;
  }

  /** A planned disruption held for the node (`membershipctl disruption acquire`), bound to a lease. */
  disruption(node: string): string {
    return this.dir('disruptions') + node;
  }

  /** The node's event history, written by the leader. */
  event(node: string): string {
    return this.dir('events') + node;
  }

  /** Bumped by every acquire and release: two acquires at once cannot both be granted on one look. */
  disruptionBudget(): string {
    return `${this.prefix}/cluster/disruption-budget`;
  }

  /** Election keys live under this directory (one key per candidate). */
  leaderDir(name = 'membership-controller'): string {
    return `${this.prefix}/leader/${name}/`;
  }

  operation(service: Service): string {
    return `${this.prefix}/operations/${service}`;
  }

  clusterConfig(): string {
    return `${this.prefix}/cluster/config`;
  }

  clusterStatus(): string {
    return `${this.prefix}/cluster/status`;
  }

  /** Written by `first-boot-agent recover chainfire` once Chainfire runs again after a quorum loss. */
  clusterRecovery(): string {
    return `${this.prefix}/cluster/recovery`;
  }

  /**
   * The node name of a record key under `dir(kind)`. The name is returned even
   * when it is not a valid node name; `nameProblem` says why it is invalid.
   */
  nodeOf(kind: RecordKind, key: string): { node: string; nameProblem?: string } {
    const dir = this.dir(kind);
    if (!key.startsWith(dir)) {
      throw new MembershipError('USAGE', `key ${key} is not under ${dir}`);
    }
    const node = key.slice(dir.length);
    const problem = nodeNameProblem(node);
    return problem === undefined ? { node } : { node, nameProblem: problem };
  }
}
