/**
 * What the services report about their members, as the controller sees them:
 * the domain types that drivers return and decisions read. Plain data.
 */

/** A Chainfire (etcd) member as its Cluster API reports it. */
export interface ChainfireMember {
  id: string;
  /** empty until the member's etcd has started */
  name: string;
  peerUrls: string[];
  clientUrls: string[];
  isLearner: boolean;
}

/** A FlareDB member as its admin API lists it. */
export interface FlareDBMember {
  id: string;
  raftAddr: string;
  status?: string;
}

/** A node's registration with IAM. */
export interface IamNodeRegistration {
  id: string;
  role: string;
  fqdn?: string;
  ip?: string;
}

/** Where a node is, for spreading voters. */
export interface Place {
  node: string;
  datacenter?: string | undefined;
  rack?: string | undefined;
}

/** Where the voters are, and which nodes wait for a voter seat. */
export interface VoterPlacement {
  voters: Place[];
  /** nodes (this one included) that want to join Chainfire and whose agent is reporting */
  candidates: Place[];
}
