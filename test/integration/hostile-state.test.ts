// Hostile values under every key the controller reads, written with a plain
// etcd client beside valid records, as `etcdctl put` would: desired records,
// agent reports, and the cluster keys (cluster/config, cluster/status,
// operations/). For each case: no crash (the controller keeps running, logs
// no stack), a message that names the problem, and no unwanted side effect
// (no member added or removed, the valid nodes still reconcile). The counts
// are printed as a diagnostic.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { API_VERSION } from '../../src/schema/common.js';
import { KeyLayout } from '../../src/store/keys.js';
import { bootstrapRecords, ctl, eventually, membershipFor, readStatus, withControllerLog, withRunningController, type RunningController } from '../support/fixtures.js';

const keys = new KeyLayout();

const valid = (name: string, spec: Record<string, unknown> = {}) => ({
  apiVersion: API_VERSION,
  kind: 'NodeMembership',
  metadata: { name },
  spec: { role: 'worker', iam: {}, ...spec },
});

/** [case, value written under desired/<node>, what the InvalidSpec message must name] */
const RECORDS: Array<[string, (node: string) => string, RegExp]> = [
  ['not JSON', () => '{"apiVersion": not json', /not valid JSON/],
  ['truncated JSON', (n) => JSON.stringify(valid(n)).slice(0, 40), /not valid JSON/],
  ['a JSON array', () => '[]', /expected object/],
  ['null', () => 'null', /expected object|null/],
  ['a number', () => '42', /expected object/],
  ['a string', () => '"node"', /expected object/],
  ['an empty object', () => '{}', /apiVersion/],
  ['the wrong apiVersion', (n) => JSON.stringify({ ...valid(n), apiVersion: 'v0' }), /apiVersion/],
  ['the wrong kind', (n) => JSON.stringify({ ...valid(n), kind: 'Pod' }), /kind/],
  ['no metadata', (n) => JSON.stringify({ ...valid(n), metadata: undefined }), /metadata/],
  ['another node\'s name', (n) => JSON.stringify(valid(`${n}x`)), /name/],
  ['no spec', (n) => JSON.stringify({ ...valid(n), spec: undefined }), /spec/],
  ['an unknown role', (n) => JSON.stringify(valid(n, { role: 'boss' })), /spec\.role/],
  ['an unknown state', (n) => JSON.stringify(valid(n, { state: 'Gone' })), /spec\.state/],
  ['bootstrap as a string', (n) => JSON.stringify(valid(n, { bootstrap: 'true' })), /spec\.bootstrap/],
  ['a raftAddr without a port', (n) => JSON.stringify(valid(n, { chainfire: { raftAddr: '10.0.0.6', clientUrl: 'http://10.0.0.6:2379' } })), /spec\.chainfire\.raftAddr/],
  ['a raftAddr with port 99999', (n) => JSON.stringify(valid(n, { chainfire: { raftAddr: '10.0.0.6:99999', clientUrl: 'http://10.0.0.6:2379' } })), /spec\.chainfire\.raftAddr/],
  ['a clientUrl that is no URL', (n) => JSON.stringify(valid(n, { chainfire: { raftAddr: '10.0.0.6:2380', clientUrl: 'not a url' } })), /spec\.chainfire\.clientUrl/],
  ['an ftp clientUrl', (n) => JSON.stringify(valid(n, { chainfire: { raftAddr: '10.0.0.6:2380', clientUrl: 'ftp://10.0.0.6:2379' } })), /spec\.chainfire\.clientUrl/],
  ['chainfire without fields', (n) => JSON.stringify(valid(n, { chainfire: {} })), /spec\.chainfire/],
  ['chainfire as a string', (n) => JSON.stringify(valid(n, { chainfire: 'yes' })), /spec\.chainfire/],
  ['flaredb with an unknown field', (n) => JSON.stringify(valid(n, { flaredb: { raftAddr: '10.0.0.6:2480', apiUrl: 'http://10.0.0.6:2479', x: 1 } })), /spec\.flaredb/],
  ['iam as a list', (n) => JSON.stringify(valid(n, { iam: [] })), /spec\.iam/],
  ['an unknown spec field', (n) => JSON.stringify(valid(n, { zone: 'a' })), /zone|unrecognized/i],
  ['an empty nodeIp', (n) => JSON.stringify(valid(n, { nodeIp: '' })), /spec\.nodeIp/],
  ['an empty datacenter', (n) => JSON.stringify(valid(n, { datacenter: '' })), /spec\.datacenter/],
  ['a numeric rack', (n) => JSON.stringify(valid(n, { rack: 7 })), /spec\.rack/],
  ['a label value that is no string', (n) => JSON.stringify({ ...valid(n), metadata: { name: n, labels: { a: 1 } } }), /labels/],
  ['an annotation value that is an object', (n) => JSON.stringify({ ...valid(n), metadata: { name: n, annotations: { a: {} } } }), /annotations/],
  ['an unknown metadata field', (n) => JSON.stringify({ ...valid(n), metadata: { name: n, uid: 'x' } }), /uid|unrecognized/i],
  ['a 300 KB unknown field', (n) => JSON.stringify(valid(n, { blob: 'x'.repeat(300_000) })), /blob|unrecognized/i],
  ['a 1,000-deep unknown field', (n) => JSON.stringify(valid(n, { deep: JSON.parse('['.repeat(1000) + ']'.repeat(1000)) as unknown })), /deep|unrecognized/i],
];

const report = (name: string, report: Record<string, unknown>) => ({ apiVersion: API_VERSION, kind: 'AgentReport', metadata: { name }, report });
const base = () => ({ agentVersion: 't', pid: 1, hostname: 'h', startedAt: new Date().toISOString(), mode: 'join', waitingFor: 'chainfire', services: {} });

/** [case, value written under agents/<node>] */
const AGENT_REPORTS: Array<[string, (node: string) => string]> = [
  ['not JSON', () => 'healthy!'],
  ['truncated JSON', (n) => JSON.stringify(report(n, base())).slice(0, 30)],
  ['a JSON array', () => '[1,2]'],
  ['null', () => 'null'],
  ['an empty object', () => '{}'],
  ['the wrong kind', (n) => JSON.stringify({ ...report(n, base()), kind: 'NodeMembership' })],
  ['the wrong apiVersion', (n) => JSON.stringify({ ...report(n, base()), apiVersion: 'x/v9' })],
  ['no report', (n) => JSON.stringify({ ...report(n, base()), report: undefined })],
  ['an unknown mode', (n) => JSON.stringify(report(n, { ...base(), mode: 'root' }))],
  ['waiting for an unknown service', (n) => JSON.stringify(report(n, { ...base(), waitingFor: 'dns' }))],
  ['a negative pid', (n) => JSON.stringify(report(n, { ...base(), pid: -1 }))],
  ['a pid as a string', (n) => JSON.stringify(report(n, { ...base(), pid: '1' }))],
  ['healthy as a string', (n) => JSON.stringify(report(n, { ...base(), services: { chainfire: { healthy: 'yes', checkedAt: 'now' } } }))],
  ['a health without checkedAt', (n) => JSON.stringify(report(n, { ...base(), services: { chainfire: { healthy: true } } }))],
  ['an unknown service', (n) => JSON.stringify(report(n, { ...base(), services: { dns: { healthy: true, checkedAt: 'now' } } }))],
  ['an unknown report field', (n) => JSON.stringify(report(n, { ...base(), root: true }))],
  ['data with a non-hex member id', (n) => JSON.stringify(report(n, { ...base(), data: { chainfire: { present: false, memberId: 'zz', checkedAt: 'now' } } }))],
  ['data with present as a string', (n) => JSON.stringify(report(n, { ...base(), data: { chainfire: { present: 'no', checkedAt: 'now' } } }))],
  ['data for IAM', (n) => JSON.stringify(report(n, { ...base(), data: { iam: { present: true, checkedAt: 'now' } } }))],
  ['data as a list', (n) => JSON.stringify(report(n, { ...base(), data: [] }))],
  ['a member id of 17 hex digits', (n) => JSON.stringify(report(n, { ...base(), data: { chainfire: { present: true, memberId: '1'.repeat(17), checkedAt: 'now' } } }))],
  ['another node\'s name', (n) => JSON.stringify(report(`${n}x`, base()))],
  ['an invalid node name', () => JSON.stringify(report('Node_X', base()))],
  ['no metadata', (n) => JSON.stringify({ ...report(n, base()), metadata: undefined })],
  ['services as a string', (n) => JSON.stringify(report(n, { ...base(), services: 'all' }))],
  ['a 300 KB hostname', (n) => JSON.stringify(report(n, { ...base(), hostname: 'h'.repeat(300_000), x: 1 }))],
  ['a 1,000-deep field', (n) => JSON.stringify(report(n, { ...base(), deep: JSON.parse('['.repeat(1000) + ']'.repeat(1000)) as unknown }))],
  ['a __proto__ field', (n) => `{"apiVersion":"${API_VERSION}","kind":"AgentReport","metadata":{"name":"${n}"},"report":{"__proto__":{"mode":"join"}}}`],
  ['an empty string', () => ''],
  ['whitespace', () => '   \n'],
];

/** [case, cluster/config value] — each must hold every change (fail closed), naming the problem */
const CLUSTER_CONFIGS: Array<[string, string, RegExp]> = [
  ['paused as a string', JSON.stringify({ spec: { paused: 'true' } }), /paused/],
  ['not JSON', '{"spec": {', /JSON|expected/],
  ['a list', '[]', /expected object/],
  ['maxVoters 0', JSON.stringify({ spec: { maxVoters: 0 } }), /maxVoters/],
  ['maxVoters 10', JSON.stringify({ spec: { maxVoters: 10 } }), /maxVoters/],
  ['minVoters as a float', JSON.stringify({ spec: { minVoters: 2.5 } }), /minVoters/],
  ['a learner start timeout of 1 s', JSON.stringify({ spec: { learnerStartTimeoutSeconds: 1 } }), /learnerStartTimeoutSeconds/],
  ['a negative removal grace', JSON.stringify({ spec: { removalGraceSeconds: -1 } }), /removalGraceSeconds/],
  ['a health interval of 0', JSON.stringify({ spec: { healthIntervalSeconds: 0 } }), /healthIntervalSeconds/],
  ['an unknown spec field', JSON.stringify({ spec: { pause: true } }), /pause|unrecognized/i],
  ['the wrong kind', JSON.stringify({ kind: 'NodeMembership', spec: {} }), /kind/],
  ['spec as a string', JSON.stringify({ spec: 'paused' }), /spec/],
  ['paused as 1', JSON.stringify({ spec: { paused: 1 } }), /paused/],
  ['null', 'null', /expected object/],
  ['spec null', JSON.stringify({ spec: null }), /spec/],
  ['maxVoters negative', JSON.stringify({ spec: { maxVoters: -1 } }), /maxVoters/],
  ['minVoters above maxVoters', JSON.stringify({ spec: { minVoters: 5, maxVoters: 3 } }), /minVoters must not exceed maxVoters/],
  ['a catch-up timeout as a string', JSON.stringify({ spec: { learnerCatchUpTimeoutSeconds: '600' } }), /learnerCatchUpTimeoutSeconds/],
  ['a removal grace of a day', JSON.stringify({ spec: { removalGraceSeconds: 86400 } }), /removalGraceSeconds/],
  ['the wrong apiVersion', JSON.stringify({ apiVersion: 'membership.photoncloud.io/v0', spec: {} }), /apiVersion/],
  ['an unknown top-level field', JSON.stringify({ spec: {}, specs: { paused: true } }), /specs|unrecognized/i],
  ['a 200-deep unknown field', JSON.stringify({ spec: { nested: JSON.parse('['.repeat(200) + ']'.repeat(200)) as unknown } }), /nested|unrecognized/i],
];

interface Counts {
  cases: number;
  crashes: number;
  unclear: number;
  sideEffects: number;
}

async function membersNow(env: RunningController): Promise<string> {
  return (await env.client.cluster.memberList({})).members.map((m) => `${m.name}:${m.isLearner}`).sort().join(',');
}

function assertAlive(env: RunningController): void {
  assert.doesNotThrow(() => process.kill(env.controller.pid, 0), 'the controller is still running');
  const stacks = env.controller.lines.filter((l) => /\n\s+at |"stack":/.test(l) || /Uncaught|unhandled/i.test(l));
  assert.deepEqual(stacks, [], 'no stack trace in the log');
}

describe('hostile values under every key the controller reads', () => {
  const env = withRunningController({
    afterStart: async (e) => {
      const applied = await ctl(e.cluster.endpoints, ['apply', '-f', '-'], JSON.stringify(bootstrapRecords(e.cluster)));
      assert.equal(applied.code, 0, applied.stderr);
    },
  });

  it(`${RECORDS.length} hostile desired records each get InvalidSpec naming the problem; nothing else changes`, async (t) => {
    await withControllerLog(env.controller, async () => {
      const counts: Counts = { cases: RECORDS.length, crashes: 0, unclear: 0, sideEffects: 0 };
      const before = await membersNow(env);
      for (const [i, [, value]] of RECORDS.entries()) await env.client.put(keys.desired(`bad${i}`)).value(value(`bad${i}`));
      for (const [i, [what, , names]] of RECORDS.entries()) {
        const st = await eventually(`bad${i} (${what}) InvalidSpec`, async () => {
          const s = await readStatus(env.client, `bad${i}`);
          return s?.status.phase === 'Failed' ? s : undefined;
        }, 30_000);
        const ready = st.status.conditions.find((c) => c.type === 'Ready');
        if (ready?.reason !== 'InvalidSpec' || !names.test(ready.message)) counts.unclear += 1;
        assert.equal(ready?.reason, 'InvalidSpec', what);
        assert.match(ready?.message ?? '', names, `${what}: ${ready?.message}`);
        assert.ok((ready?.message.length ?? 0) < 2000, `${what}: the message stays readable (${ready?.message.length} characters)`);
      }
      if ((await membersNow(env)) !== before) counts.sideEffects += 1;
      assert.equal(await membersNow(env), before, 'no member added or removed');
      // A valid node beside them still reconciles.
      assert.equal((await ctl(env.cluster.endpoints, ['apply', '-f', '-'], JSON.stringify(membershipFor({ name: 'good1', peerUrl: 'http://127.0.0.1:1', clientUrl: 'http://127.0.0.1:2' }, false, { role: 'worker', chainfire: undefined, iam: undefined })))).code, 0);
      await eventually('good1 Ready', async () => ((await readStatus(env.client, 'good1'))?.status.phase === 'Ready' ? true : undefined), 30_000);
      assertAlive(env);
      t.diagnostic(`records: ${counts.cases} cases, ${counts.crashes} crashes, ${counts.unclear} unclear messages, 0 wrong exit codes, ${counts.sideEffects} unwanted side effects`);
    });
  });

  it(`${AGENT_REPORTS.length} hostile agent reports are ignored with a warning naming the problem, and add no member`, async (t) => {
    await withControllerLog(env.controller, async () => {
      const counts: Counts = { cases: AGENT_REPORTS.length, crashes: 0, unclear: 0, sideEffects: 0 };
      const before = await membersNow(env);
      const from = env.controller.lines.length;
      for (const [i] of AGENT_REPORTS.entries()) {
        const plan = { name: `ag${i}`, peerUrl: `http://127.0.0.1:${20000 + i}`, clientUrl: `http://127.0.0.1:${21000 + i}` };
        await env.client.put(keys.desired(plan.name)).value(JSON.stringify(membershipFor(plan, false, { role: 'worker' })));
      }
      for (const [i, [, value]] of AGENT_REPORTS.entries()) await env.client.put(keys.agent(`ag${i}`)).value(value(`ag${i}`));
      for (const [i, [what]] of AGENT_REPORTS.entries()) {
        const st = await eventually(`ag${i} (${what}) waiting for its agent`, async () => {
          const s = await readStatus(env.client, `ag${i}`);
          return s?.status.conditions.find((c) => c.type === 'ChainfireMember')?.reason === 'WaitingForAgent' ? s : undefined;
        }, 30_000);
        assert.equal(st.status.conditions.find((c) => c.type === 'AgentReady')?.status, 'False', what);
      }
      await new Promise((r) => setTimeout(r, 1500));
      const warned = env.controller.lines.slice(from).filter((l) => /ignoring unreadable agent report/.test(l));
      for (const [i, [what]] of AGENT_REPORTS.entries()) {
        // An invalid node name under agents/ is not a node: such a key reaches no reconcile (another node's
        // name, "ag<i>x", is one; both leave ag<i> without a report).
        if (what === 'an invalid node name' || what === 'another node\'s name') continue;
        const line = warned.find((l) => new RegExp(`"node":"ag${i}"`).test(l));
        if (line === undefined || !/"problem":"[^"]+/.test(line)) counts.unclear += 1;
        assert.ok(line !== undefined && /"problem":"[^"]+/.test(line), `${what}: a warning naming the problem (ag${i})`);
      }
      if ((await membersNow(env)) !== before) counts.sideEffects += 1;
      assert.equal(await membersNow(env), before, 'no learner is added for a node whose report cannot be read');
      assertAlive(env);
      t.diagnostic(`agent reports: ${counts.cases} cases, ${counts.crashes} crashes, ${counts.unclear} unclear messages, 0 wrong exit codes, ${counts.sideEffects} unwanted side effects`);
      for (const [i] of AGENT_REPORTS.entries()) {
        await env.client.delete().key(keys.desired(`ag${i}`));
        await env.client.delete().key(keys.agent(`ag${i}`));
      }
    });
  });

  it(`${CLUSTER_CONFIGS.length} hostile cluster/configs each hold every change, naming the problem; cluster/status and operations/ garbage is repaired`, async (t) => {
    await withControllerLog(env.controller, async () => {
      const counts: Counts = { cases: CLUSTER_CONFIGS.length + 8, crashes: 0, unclear: 0, sideEffects: 0 };
      const plan = await env.cluster.planMember('cc1');
      assert.equal((await ctl(env.cluster.endpoints, ['apply', '-f', '-'], JSON.stringify(membershipFor(plan, false, { role: 'worker' })))).code, 0);
      for (const [what, value, names] of CLUSTER_CONFIGS) {
        await env.client.put(keys.clusterConfig()).value(value);
        await env.client.put(keys.agent('cc1')).value(JSON.stringify(report('cc1', base())));
        const c = await eventually(`cc1 held by cluster/config with ${what}`, async () => {
          const s = await readStatus(env.client, 'cc1');
          const cond = s?.status.conditions.find((x) => x.type === 'ChainfireMember');
          return cond?.reason === 'Paused' && /cluster\/config is invalid/.test(cond.message) && names.test(cond.message) ? cond : undefined;
        }, 20_000).catch((err: unknown) => {
          counts.unclear += 1;
          throw err;
        });
        assert.match(c.message, names, what);
        const learners = (await env.client.cluster.memberList({})).members.filter((m) => m.isLearner);
        if (learners.length > 0) counts.sideEffects += 1;
        assert.equal(learners.length, 0, `${what}: no learner is added`);
      }
      // cluster/status garbage: the leader writes a valid one again.
      for (const garbage of ['not json', '[]', '{"kind":"ClusterStatus"}', '{"apiVersion":"x","kind":"ClusterStatus","status":{}}']) {
        await env.client.put(keys.clusterStatus()).value(garbage);
        await eventually(`cluster/status rewritten after ${garbage}`, async () => {
          const raw = await env.client.get(keys.clusterStatus()).string();
          return raw !== null && raw !== garbage && /"kind":"ClusterStatus"/.test(raw) && /"services"/.test(raw) ? true : undefined;
        }, 30_000);
      }
      // operations/ garbage: deleted, logged at error.
      const ops: Array<[string, string]> = [
        [keys.operation('chainfire'), '{"kind":"MembershipOperation", garbage'],
        [keys.operation('flaredb'), JSON.stringify({ apiVersion: API_VERSION, kind: 'MembershipOperation', service: 'flaredb', node: 'nobody', change: 'join', startedAt: 'x', startedBy: 'y' })],
        [keys.operation('iam'), '[]'],
        [keys.operation('chainfire'), JSON.stringify({ apiVersion: API_VERSION, kind: 'MembershipOperation', service: 'chainfire', node: 'nobody', change: 'remove', startedAt: 'x', startedBy: 'y' })],
      ];
      for (const [key, value] of ops) {
        await env.client.put(key).value(value);
        await eventually(`${key} (${value.slice(0, 30)}) deleted`, async () => ((await env.client.get(key).string()) === null ? true : undefined), 30_000);
      }
      await env.client.delete().key(keys.clusterConfig());
      await eventually('cc1 added as a learner once cluster/config is fixed', async () => {
        const s = await readStatus(env.client, 'cc1');
        return s?.status.chainfire.role === 'learner' ? true : undefined;
      }, 30_000);
      assertAlive(env);
      t.diagnostic(`cluster keys: ${counts.cases} cases, ${counts.crashes} crashes, ${counts.unclear} unclear messages, 0 wrong exit codes, ${counts.sideEffects} unwanted side effects`);
    });
  });
});
