// Records for the unit tests of the reconcile steps and of the schemas: node04
// (10.0.1.13) joining, its desired record, its agent's report, the Chainfire
// members around it, and a decision read back as the status it writes.
import type { AgentReport, Service } from '../../src/schema/agent-report.js';
import type { NodeMembership } from '../../src/schema/node-membership.js';
import type { Condition, StatusBody } from '../../src/schema/status.js';
import type { ChainfireMember } from '../../src/schema/members.js';
import type { NodeDecision } from '../../src/reconcile/decide.js';

export type Spec = NodeMembership['spec'];
type ServiceHealth = NonNullable<AgentReport['report']['services']['chainfire']>;

/** The node the tests reconcile. */
export const NODE = 'node04';
/** node04's Chainfire peer URL: its Raft address with the scheme of its client URL. */
export const PEER = 'https://10.0.1.13:2380';

/** node04's spec in CONTRACT.md's NodeMembership example, verbatim: every field set, all three services. */
export function contractSpec(over: Partial<Spec> = {}): Spec {
  return {
    role: 'control-plane',
    bootstrap: false,
    state: 'Present',
    nodeIp: '10.0.1.13',
    fqdn: 'node04.prod.example.com',
    datacenter: 'dc1',
    rack: 'r2',
    chainfire: { raftAddr: '10.0.1.13:2380', clientUrl: 'https://10.0.1.13:2379' },
    flaredb: { raftAddr: '10.0.1.13:2480', apiUrl: 'https://10.0.1.13:2479' },
    iam: {},
    ...over,
  };
}

/**
 * node04's spec with only role, bootstrap, state and the blocks of the services named
 * (as contractSpec has them); `over` adds or replaces fields.
 */
export function joinSpec(services: readonly Service[], over: Partial<Spec> = {}): Spec {
  const { role, bootstrap, state, chainfire, flaredb, iam } = contractSpec();
  return {
    role,
    bootstrap,
    state,
    ...(services.includes('chainfire') ? { chainfire } : {}),
    ...(services.includes('flaredb') ? { flaredb } : {}),
    ...(services.includes('iam') ? { iam } : {}),
    ...over,
  };
}

/** node04's desired record with `spec`, without a generation when none is given. */
export function membership(spec: Spec, generation?: number): NodeMembership {
  return {
    apiVersion: 'membership.photoncloud.io/v1alpha1',
    kind: 'NodeMembership',
    metadata: { name: NODE, labels: {}, annotations: {}, ...(generation !== undefined ? { generation } : {}) },
    spec,
  };
}

/** node04's agent joining: Chainfire checked healthy; FlareDB as given, or not checked yet when left out. */
export function agentReport(waitingFor: Service, flaredb?: ServiceHealth): AgentReport {
  return {
    apiVersion: 'membership.photoncloud.io/v1alpha1',
    kind: 'AgentReport',
    metadata: { name: NODE },
    report: {
      agentVersion: '0.1.0',
      pid: 4312,
      hostname: 'node04.prod.example.com',
      startedAt: '2026-11-24T09:59:00Z',
      mode: 'join',
      waitingFor,
      services: {
        chainfire: { healthy: true, checkedAt: '2026-11-24T09:59:30Z' },
        ...(flaredb !== undefined ? { flaredb } : {}),
      },
    },
  };
}

/** A Chainfire member as the member list shows it, without client URLs. */
export function chainfireMember(id: string, name: string, peerUrl: string, isLearner = false): ChainfireMember {
  return { id, name, peerUrls: [peerUrl], clientUrls: [], isLearner };
}

export function cond(d: NodeDecision, type: Condition['type']): Condition | undefined {
  return d.status.conditions.find((c) => c.type === type);
}

/** [type, status, reason] of every condition, in order. */
export function summary(d: NodeDecision): string[][] {
  return d.status.conditions.map((c) => [c.type, c.status, c.reason]);
}

/** The previous status as the reconciler would hand it back after writing `d`. */
export function asPrevious(d: NodeDecision): StatusBody {
  return { ...structuredClone(d.status), controller: { identity: 'node01/4312', term: 3 } };
}
