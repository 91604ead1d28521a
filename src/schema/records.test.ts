import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { z } from 'zod';
import { formatIssues, hostPort, httpUrl, isValidNodeName, nodeNameProblem } from './common.js';
import { chainfirePeerUrl, nodeMembership, type NodeMembershipInput } from './node-membership.js';
import { nodeMembershipStatus } from './status.js';
import { agentReport } from './agent-report.js';
import { contractSpec, membership } from '../../test/support/node-records.js';

// The examples in CONTRACT.md, verbatim: operators copy them, so they must parse.
// The NodeMembership example is node04's record with contractSpec() (test/support/node-records.ts).
const contractNodeMembership = membership(contractSpec());

const contractStatus = {
  apiVersion: 'membership.photoncloud.io/v1alpha1',
  kind: 'NodeMembershipStatus',
  metadata: { name: 'node04' },
  status: {
    observedGeneration: 118,
    phase: 'Joining',
    conditions: [
      {
        type: 'ChainfireMember',
        status: 'False',
        reason: 'LearnerCatchingUp',
        message: 'learner added as 6c1e…; waiting for it to catch up before promotion',
        lastTransitionTime: '2026-11-24T10:30:45Z',
        observedGeneration: 118,
      },
    ],
    chainfire: { memberId: '6c1e…', role: 'learner', initialCluster: 'node01=https://…,node04=https://…' },
    flaredb: {},
    iam: {},
    controller: { identity: 'node01/4312', term: 57 },
  },
};

const sampleAgentReport = {
  apiVersion: 'membership.photoncloud.io/v1alpha1',
  kind: 'AgentReport',
  metadata: { name: 'node04' },
  report: {
    agentVersion: '0.1.0',
    pid: 4312,
    hostname: 'node04.prod.example.com',
    startedAt: '2026-11-24T10:29:00Z',
    mode: 'join',
    waitingFor: 'chainfire',
    services: {
      chainfire: { healthy: true, checkedAt: '2026-11-24T10:30:00Z' },
      flaredb: { healthy: false, checkedAt: '2026-11-24T10:30:00Z', detail: 'connection refused' },
    },
  },
};

/** The smallest valid desired record, to vary one field at a time. */
function minimal(): NodeMembershipInput {
  return {
    apiVersion: 'membership.photoncloud.io/v1alpha1',
    kind: 'NodeMembership',
    metadata: { name: 'node04' },
    spec: {
      role: 'worker',
      chainfire: { raftAddr: '10.0.1.13:2380', clientUrl: 'https://10.0.1.13:2379' },
    },
  };
}

/** Parses, expects a rejection, and returns the formatted message. */
function rejection(schema: z.ZodType, value: unknown): string {
  const result = schema.safeParse(value);
  assert.ok(!result.success, `expected ${JSON.stringify(value)} to be rejected`);
  return formatIssues(result.error);
}

function withSpec(patch: Record<string, unknown>): unknown {
  const m = minimal();
  return { ...m, spec: { ...m.spec, ...patch } };
}

function withChainfire(patch: Record<string, unknown>): unknown {
  const m = minimal();
  return withSpec({ chainfire: { ...m.spec.chainfire, ...patch } });
}

describe('NodeMembership', () => {
  it('parses the contract example unchanged', () => {
    assert.deepEqual(nodeMembership.parse(contractNodeMembership), contractNodeMembership);
  });

  it('fills in the defaults: bootstrap false, state Present, empty labels and annotations', () => {
    const parsed = nodeMembership.parse(minimal());
    assert.equal(parsed.spec.bootstrap, false);
    assert.equal(parsed.spec.state, 'Present');
    assert.deepEqual(parsed.metadata.labels, {});
    assert.deepEqual(parsed.metadata.annotations, {});
    assert.equal(parsed.spec.flaredb, undefined, 'an absent service block stays absent: not a member');
  });

  it('accepts every role and Absent', () => {
    for (const role of ['control-plane', 'worker', 'all-in-one']) {
      assert.ok(nodeMembership.safeParse(withSpec({ role })).success, role);
    }
    assert.equal(nodeMembership.parse(withSpec({ state: 'Absent' })).spec.state, 'Absent');
  });

  for (const [why, name] of [
    ['uppercase', 'Node04'],
    ['too long', 'a'.repeat(64)],
    ['underscore', 'node_04'],
    ['leading dash', '-node04'],
    ['empty', ''],
  ] as const) {
    it(`rejects a node name with ${why}`, () => {
      const m = minimal();
      const msg = rejection(nodeMembership, { ...m, metadata: { name } });
      assert.match(msg, /^metadata\.name: /);
      assert.match(msg, /DNS-1123/);
    });
  }

  it('accepts a 63-character node name', () => {
    const m = minimal();
    assert.ok(nodeMembership.safeParse({ ...m, metadata: { name: 'a'.repeat(63) } }).success);
  });

  it('rejects a bad role, naming spec.role and the choices', () => {
    const msg = rejection(nodeMembership, withSpec({ role: 'master' }));
    assert.match(msg, /^spec\.role: /);
    assert.match(msg, /control-plane/);
  });

  it('rejects a bad state', () => {
    assert.match(rejection(nodeMembership, withSpec({ state: 'Gone' })), /^spec\.state: /);
  });

  it('rejects an unknown field in spec (a typo must not be ignored)', () => {
    const msg = rejection(nodeMembership, withSpec({ bootsrap: true }));
    assert.match(msg, /^spec: /);
    assert.match(msg, /bootsrap/);
  });

  it('rejects unknown fields in service blocks and metadata too', () => {
    assert.match(rejection(nodeMembership, withChainfire({ peerUrl: 'https://x:2380' })), /^spec\.chainfire: .*peerUrl/);
    assert.match(rejection(nodeMembership, withSpec({ iam: { admin: true } })), /^spec\.iam: .*admin/);
    const m = minimal();
    assert.match(rejection(nodeMembership, { ...m, metadata: { name: 'node04', uid: 'x' } }), /^metadata: .*uid/);
  });

  it('rejects a raftAddr without a port', () => {
    const msg = rejection(nodeMembership, withChainfire({ raftAddr: '10.0.1.13' }));
    assert.ok(msg.includes('spec.chainfire.raftAddr'), msg);
    assert.match(msg, /host:port/);
  });

  it('rejects a raftAddr with port 70000 or 0', () => {
    for (const raftAddr of ['10.0.1.13:70000', '10.0.1.13:0']) {
      const msg = rejection(nodeMembership, withChainfire({ raftAddr }));
      assert.ok(msg.includes('spec.chainfire.raftAddr'), msg);
      assert.match(msg, /1-65535/);
    }
  });

  it('rejects a clientUrl that is not http or https', () => {
    for (const clientUrl of ['ftp://10.0.1.13:2379', '10.0.1.13:2379', 'https://']) {
      const msg = rejection(nodeMembership, withChainfire({ clientUrl }));
      assert.ok(msg.includes('spec.chainfire.clientUrl'), msg);
      assert.match(msg, /http:\/\/ or https:\/\//);
    }
  });

  it('rejects a bad FlareDB block, naming its fields', () => {
    const msg = rejection(nodeMembership, withSpec({ flaredb: { raftAddr: 'x', apiUrl: 'ftp://x' } }));
    assert.ok(msg.includes('spec.flaredb.raftAddr'), msg);
    assert.ok(msg.includes('spec.flaredb.apiUrl'), msg);
  });

  it('rejects a wrong apiVersion or kind', () => {
    assert.match(rejection(nodeMembership, { ...minimal(), apiVersion: 'membership.photoncloud.io/v1' }), /^apiVersion: .*v1alpha1/);
    assert.match(rejection(nodeMembership, { ...minimal(), kind: 'NodeMembershipStatus' }), /^kind: .*NodeMembership"/);
  });

  it('rejects a missing spec and a record that is not an object', () => {
    const { spec: _spec, ...noSpec } = minimal();
    assert.match(rejection(nodeMembership, noSpec), /^spec: /);
    assert.match(rejection(nodeMembership, 'node04'), /^\(record\): /);
  });
});

describe('NodeMembershipStatus', () => {
  it('parses the contract example unchanged', () => {
    assert.deepEqual(nodeMembershipStatus.parse(contractStatus), contractStatus);
  });

  it('fills in empty service records', () => {
    const parsed = nodeMembershipStatus.parse({
      ...contractStatus,
      status: { observedGeneration: 1, phase: 'Pending', conditions: [] },
    });
    assert.deepEqual(parsed.status.chainfire, {});
    assert.deepEqual(parsed.status.flaredb, {});
    assert.deepEqual(parsed.status.iam, {});
    assert.equal(parsed.status.controller, undefined);
  });

  it('rejects a reason that is not a CamelCase word, naming the condition', () => {
    for (const reason of ['learner-catching-up', 'learnerCatchingUp', 'Learner Catching Up', '']) {
      const status = structuredClone(contractStatus);
      const condition = status.status.conditions[0];
      assert.ok(condition);
      condition.reason = reason;
      const msg = rejection(nodeMembershipStatus, status);
      assert.ok(msg.startsWith('status.conditions.0.reason: '), msg);
      assert.match(msg, /CamelCase/);
    }
  });

  it('rejects an unknown phase and condition type', () => {
    const badPhase = structuredClone(contractStatus);
    badPhase.status.phase = 'Done';
    assert.match(rejection(nodeMembershipStatus, badPhase), /^status\.phase: /);
    const badType = structuredClone(contractStatus);
    const condition = badType.status.conditions[0];
    assert.ok(condition);
    condition.type = 'Healthy';
    assert.match(rejection(nodeMembershipStatus, badType), /^status\.conditions\.0\.type: /);
  });

  it('rejects a negative observedGeneration and the wrong kind', () => {
    const negative = structuredClone(contractStatus);
    negative.status.observedGeneration = -1;
    assert.match(rejection(nodeMembershipStatus, negative), /^status\.observedGeneration: /);
    assert.match(rejection(nodeMembershipStatus, { ...contractStatus, kind: 'NodeMembership' }), /^kind: /);
  });
});

describe('AgentReport', () => {
  it('parses a report', () => {
    assert.deepEqual(agentReport.parse(sampleAgentReport), sampleAgentReport);
  });

  it('rejects an unknown service, mode and field', () => {
    const r = structuredClone(sampleAgentReport);
    r.report.waitingFor = 'postgres';
    assert.match(rejection(agentReport, r), /^report\.waitingFor: /);
    const m = structuredClone(sampleAgentReport);
    m.report.mode = 'rejoin';
    assert.match(rejection(agentReport, m), /^report\.mode: /);
    const u = structuredClone(sampleAgentReport) as { report: { services: Record<string, unknown> } };
    u.report.services.postgres = { healthy: true, checkedAt: 'now' };
    assert.match(rejection(agentReport, u), /^report\.services: .*postgres/);
  });

  it('rejects a bad node name', () => {
    assert.match(rejection(agentReport, { ...sampleAgentReport, metadata: { name: 'Node04' } }), /^metadata\.name: /);
  });
});

describe('formatIssues', () => {
  it('prefixes the given root, so a message names the key it came from', () => {
    const result = nodeMembership.safeParse(withChainfire({ raftAddr: 'nope' }));
    assert.ok(!result.success);
    assert.match(formatIssues(result.error, 'desired/node04'), /^desired\/node04\.spec\.chainfire\.raftAddr: /);
  });

  it('joins several problems with "; "', () => {
    const msg = rejection(nodeMembership, withChainfire({ raftAddr: 'nope', clientUrl: 'nope' }));
    assert.equal(msg.split('; ').length, 2, msg);
  });
});

describe('hostPort and httpUrl', () => {
  it('accept names, IPv4 and bracketed IPv6 with ports 1-65535', () => {
    for (const s of ['10.0.1.13:2380', 'node04.prod.example.com:2380', 'node04:1', '[fd00::13]:2380', '[::1]:65535']) {
      assert.ok(hostPort.safeParse(s).success, s);
    }
  });

  it('reject unbracketed IPv6, schemes and missing hosts', () => {
    for (const s of ['fd00::13:2380', 'https://10.0.1.13:2380', ':2380', '10.0.1.13:', '10.0.1.13:2380/x']) {
      assert.ok(!hostPort.safeParse(s).success, s);
    }
  });

  it('accept http and https URLs only', () => {
    assert.ok(httpUrl.safeParse('http://10.0.1.13:2379').success);
    assert.ok(httpUrl.safeParse('https://[fd00::13]:2379').success);
    assert.ok(!httpUrl.safeParse('unix:///run/etcd.sock').success);
  });
});

describe('chainfirePeerUrl', () => {
  it('puts the client URL scheme on the Raft address', () => {
    assert.equal(
      chainfirePeerUrl({ raftAddr: '10.0.1.13:2380', clientUrl: 'https://10.0.1.13:2379' }),
      'https://10.0.1.13:2380',
    );
    assert.equal(chainfirePeerUrl({ raftAddr: 'node04:2380', clientUrl: 'http://node04:2379/' }), 'http://node04:2380');
    assert.equal(
      chainfirePeerUrl({ raftAddr: '[fd00::13]:2380', clientUrl: 'https://[fd00::13]:2379' }),
      'https://[fd00::13]:2380',
    );
  });
});

describe('nodeNameProblem', () => {
  it('returns undefined for a valid name', () => {
    assert.equal(nodeNameProblem('node04'), undefined);
    assert.equal(nodeNameProblem('a'.repeat(63)), undefined);
    assert.equal(nodeNameProblem('0'), undefined);
    assert.ok(isValidNodeName('node-04'));
  });

  it('explains an empty name', () => {
    assert.equal(nodeNameProblem(''), 'node name is empty');
  });

  it('explains a long name by its length, without echoing all of it', () => {
    const msg = nodeNameProblem('a'.repeat(100));
    assert.ok(msg);
    assert.match(msg, /100 characters long \(at most 63\)/);
    assert.ok(!msg.includes('a'.repeat(21)), msg);
  });

  it('explains a name that is not a DNS-1123 label, quoting it', () => {
    for (const name of ['Node04', 'node_04', 'node04-', 'node.04']) {
      const msg = nodeNameProblem(name);
      assert.ok(msg);
      assert.ok(msg.includes(JSON.stringify(name)), msg);
      assert.match(msg, /DNS-1123/);
    }
  });
});

describe('cluster/config', () => {
  it('refuses a floor above the ceiling, naming minVoters', async () => {
    const { clusterConfigRecord } = await import('./operation.js');
    const bad = clusterConfigRecord.safeParse({ spec: { minVoters: 5, maxVoters: 3 } });
    assert.equal(bad.success, false);
    assert.match(formatIssues(bad.error as z.ZodError), /minVoters.*must not exceed maxVoters/);
    assert.equal(clusterConfigRecord.safeParse({ spec: { minVoters: 3, maxVoters: 3 } }).success, true);
    assert.deepEqual(clusterConfigRecord.parse({}).spec.minVoters, 3);
  });
});
