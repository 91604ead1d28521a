// Records for the rendering tests of membershipctl (src/ctl/*.test.ts): decoded by the same code
// that decodes what is read from Chainfire.
import { API_VERSION } from '../../src/schema/common.js';
import type { MembershipOperation } from '../../src/schema/operation.js';
import type { Condition } from '../../src/schema/status.js';
import { KeyLayout } from '../../src/store/keys.js';
import { decodeAgentReport, decodeDesired, decodeStatus } from '../../src/store/records.js';
import { CREATED_AT_ANNOTATION } from '../../src/ctl/apply.js';
import type { NodeView } from '../../src/ctl/view.js';

export const keys = new KeyLayout();
/** "now" of every rendering test: ages are counted from here. */
export const NOW = Date.parse('2026-11-24T10:30:00Z');
export const ago = (seconds: number) => new Date(NOW - seconds * 1000).toISOString();

export function cond(type: Condition['type'], status: Condition['status'], reason: string, message: string, secondsAgo: number, generation: number): Condition {
  return { type, status, reason, message, lastTransitionTime: ago(secondsAgo), observedGeneration: generation };
}

export function desiredRecord(node: string, spec: Record<string, unknown>, generation: number, createdSecondsAgo = 600) {
  const value = {
    apiVersion: API_VERSION,
    kind: 'NodeMembership',
    metadata: { name: node, annotations: { [CREATED_AT_ANNOTATION]: ago(createdSecondsAgo) } },
    spec,
  };
  return decodeDesired(keys, { key: keys.desired(node), value: JSON.stringify(value), modRevision: generation, createRevision: generation });
}

export function statusRecord(node: string, status: Record<string, unknown>, revision: number) {
  const value = { apiVersion: API_VERSION, kind: 'NodeMembershipStatus', metadata: { name: node }, status };
  return decodeStatus(keys, { key: keys.status(node), value: JSON.stringify(value), modRevision: revision, createRevision: revision });
}

/** node01: a Ready bootstrap member in dc1/r1; node04: a worker joining as a learner, its agent reporting. */
export function sampleViews(): NodeView[] {
  const node01: NodeView = {
    node: 'node01',
    desired: desiredRecord(
      'node01',
      {
        role: 'control-plane',
        bootstrap: true,
        nodeIp: '10.0.1.10',
        datacenter: 'dc1',
        rack: 'r1',
        chainfire: { raftAddr: '10.0.1.10:2380', clientUrl: 'https://10.0.1.10:2379' },
      },
      7,
      3 * 3600,
    ),
    status: statusRecord(
      'node01',
      {
        observedGeneration: 7,
        phase: 'Ready',
        conditions: [
          cond('ChainfireMember', 'True', 'Adopted', 'member 8e9e05c52164694d of the initial cluster, voter', 3 * 3600, 7),
          cond('Ready', 'True', 'Joined', 'member of Chainfire', 3 * 3600, 7),
        ],
        chainfire: { memberId: '8e9e05c52164694d', role: 'voter', peerUrl: 'https://10.0.1.10:2380' },
        controller: { identity: 'node01/4312', term: 57 },
      },
      9,
    ),
  };
  const node04: NodeView = {
    node: 'node04',
    desired: desiredRecord(
      'node04',
      {
        role: 'worker',
        nodeIp: '10.0.1.13',
        chainfire: { raftAddr: '10.0.1.13:2380', clientUrl: 'https://10.0.1.13:2379' },
        flaredb: { raftAddr: '10.0.1.13:2480', apiUrl: 'https://10.0.1.13:2479' },
      },
      12,
      95,
    ),
    status: statusRecord(
      'node04',
      {
        observedGeneration: 12,
        phase: 'Joining',
        conditions: [
          cond('AgentReady', 'True', 'Reporting', 'node04\'s first-boot agent is reporting', 90, 12),
          cond('ChainfireMember', 'False', 'LearnerCatchingUp', 'learner 6c1e2f; waiting for it to catch up before promotion', 30, 12),
          cond('FlareDBMember', 'False', 'WaitingForChainfire', 'joins FlareDB once it is a Chainfire member', 90, 12),
          cond('Ready', 'False', 'LearnerCatchingUp', 'ChainfireMember: learner 6c1e2f; waiting for it to catch up before promotion', 30, 12),
        ],
        chainfire: {
          memberId: '6c1e2f',
          role: 'learner',
          peerUrl: 'https://10.0.1.13:2380',
          initialCluster: 'node01=https://10.0.1.10:2380,node04=https://10.0.1.13:2380',
        },
        controller: { identity: 'node01/4312', term: 57 },
      },
      14,
    ),
    agent: decodeAgentReport(keys, {
      key: keys.agent('node04'),
      value: JSON.stringify({
        apiVersion: API_VERSION,
        kind: 'AgentReport',
        metadata: { name: 'node04' },
        report: {
          agentVersion: '0.1.0',
          pid: 812,
          hostname: 'node04',
          startedAt: ago(100),
          mode: 'join',
          waitingFor: 'chainfire',
          services: { chainfire: { healthy: true, checkedAt: ago(2), detail: 'https://10.0.1.13:2379/health answered HTTP 200' } },
        },
      }),
      modRevision: 13,
      createRevision: 13,
    }),
  };
  return [node01, node04];
}

export const joinInFlight: MembershipOperation = {
  apiVersion: API_VERSION,
  kind: 'MembershipOperation',
  service: 'chainfire',
  node: 'node04',
  change: 'join',
  startedAt: ago(40),
  startedBy: 'node01/4312 (term 57)',
};
