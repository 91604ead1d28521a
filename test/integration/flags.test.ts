// Flags of the three programs, table-driven, against a real etcd: every bad
// value is refused at start with 64 and a message naming the flag, before the
// program connects, campaigns, publishes or changes anything; an unknown
// option is named before any other complaint.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { EtcdCluster } from '../support/etcd-cluster.js';
import { membershipFor, tempDir, writeJson } from '../support/fixtures.js';
import { assertOutcome, literal, run, type Outcome } from '../support/hardening.js';
import type { BinName } from '../support/processes.js';
import { KeyLayout } from '../../src/store/keys.js';

const keys = new KeyLayout();

interface FlagCase {
  name: string;
  bin: BinName;
  /** the arguments; the table adds --endpoints (and for the controller its own --prefix and --metrics-addr) */
  args: string[];
  code: number;
  messages: RegExp[];
  /** the controller's key prefix, when the case sets its own (then nothing is checked under it) */
  ownPrefix?: boolean;
  /** the agent's cases: nothing published, no file in the state dir */
  agent?: boolean;
}

describe('flags: a bad flag value is refused at start with 64, naming the flag, and changes nothing', () => {
  let cluster: EtcdCluster;
  let client: Etcd3;
  let dir: string;
  let config: string;

  before(async () => {
    cluster = await EtcdCluster.start({ size: 1 });
    client = new Etcd3({ hosts: cluster.endpoints });
    dir = await tempDir('flags-');
    const m = cluster.members[0]!;
    await client.put(keys.desired('node01')).value(JSON.stringify(membershipFor(m, true)));
    await client.put(keys.desired('node04')).value(
      JSON.stringify(membershipFor({ name: 'node04', peerUrl: 'http://127.0.0.1:1', clientUrl: 'http://127.0.0.1:1' }, false, { role: 'worker' })),
    );
    config = await writeJson(dir, 'cluster-config.json', {
      node_id: 'node04',
      node_role: 'worker',
      bootstrap: false,
      cluster_name: 'test-cluster',
      leader_url: cluster.endpoints[0],
      raft_addr: '127.0.0.1:1',
      initial_peers: [new URL(m.peerUrl).host],
      flaredb_peers: [],
      node_ip: '127.0.0.1',
      services: { chainfire: { client_url: 'http://127.0.0.1:1' }, flaredb: { enabled: false }, iam: { enabled: false } },
    });
  });

  after(async () => {
    client?.close();
    await cluster?.stop();
    if (dir && !process.env.KEEP_TEST_DIRS) await rm(dir, { recursive: true, force: true });
  });

  const controller = (name: string, args: string[], messages: RegExp[], ownPrefix = false): FlagCase => ({
    name: `membership-controller ${name}`, bin: 'membership-controller', args, code: 64, messages, ownPrefix,
  });
  const agent = (name: string, args: string[], messages: RegExp[]): FlagCase => ({
    name: `first-boot-agent ${name}`, bin: 'first-boot-agent', args, code: 64, messages, agent: true,
  });
  const ctl = (name: string, args: string[], messages: RegExp[]): FlagCase => ({
    name: `membershipctl ${name}`, bin: 'membershipctl', args, code: 64, messages,
  });
  const CONFIG = '<config>';

  const cases: FlagCase[] = [
    controller('--lease-ttl 0.3 (a fraction that rounds to 0)', ['--lease-ttl', '0.3'], [/--lease-ttl/, literal('0.3'), /whole number/]),
    controller('--lease-ttl 0', ['--lease-ttl', '0'], [/--lease-ttl/, /whole number/]),
    controller('--lease-ttl 1e9 (past any sane TTL)', ['--lease-ttl', '1e9'], [/--lease-ttl must be a whole number from 2 to 3600/]),
    controller('--lease-ttl ten', ['--lease-ttl', 'ten'], [/--lease-ttl/, /"ten"/]),
    controller('--workers 0.4 (0 workers would lead and never reconcile)', ['--workers', '0.4'], [/--workers/, literal('0.4'), /whole number/]),
    controller('--workers 0', ['--workers', '0'], [/--workers/, /whole number/]),
    controller('--workers 1e9 (heap out of memory)', ['--workers', '1e9'], [/--workers must be a whole number from 1 to 1024/]),
    controller('--workers -3', ['--workers', '-3'], [/--workers/, /"-3"/]),
    controller('--resync-period 0 (a resync storm)', ['--resync-period', '0'], [/--resync-period/, /at least/]),
    controller('--resync-period 600h (past the timer limit)', ['--resync-period', '600h'], [/--resync-period/, /at most/]),
    controller('--resync-period soon', ['--resync-period', 'soon'], [/--resync-period/, /"soon"/]),
    controller('--resync-period 1h30 (a Go duration with its last unit missing)', ['--resync-period', '1h30'], [/--resync-period must be a duration like 90s, 1m30s/, /"1h30"/]),
    controller('--lease-ttl 1500ms (not whole seconds)', ['--lease-ttl', '1500ms'], [/--lease-ttl/, /whole seconds/, /"1500ms"/]),
    controller('--identity "" (an empty name in the election)', ['--identity', ''], [/--identity/, /empty/]),
    controller('--metrics-addr without a port', ['--metrics-addr', 'localhost'], [/--metrics-addr/, /host:port/]),
    controller('--prefix without a leading slash', ['--prefix', 'membership'], [/prefix/, /"membership"/], true),
    controller('--log-level loud', ['--log-level', 'loud'], [/--log-level/, /loud/]),
    controller('--bogus (unknown option)', ['--bogus'], [/unknown option '--bogus'/]),

    agent('join chainfire --bogus (named before the missing --config)', ['join', 'chainfire', '--bogus'], [/unknown option '--bogus'/]),
    agent('join chainfire --timeout 600h (fired at once)', ['join', 'chainfire', '--config', CONFIG, '--timeout', '600h'], [/--timeout/, /at most/]),
    agent('join chainfire --timeout 0', ['join', 'chainfire', '--config', CONFIG, '--timeout', '0'], [/--timeout/, /at least/]),
    agent('join chainfire --health-timeout 1000h', ['join', 'chainfire', '--config', CONFIG, '--health-timeout', '1000h'], [/--health-timeout/, /at most/]),
    agent('join chainfire --heartbeat-ttl 0.5', ['join', 'chainfire', '--config', CONFIG, '--heartbeat-ttl', '0.5'], [/--heartbeat-ttl/, /whole number/]),
    agent('join chainfire --heartbeat-ttl 1e9', ['join', 'chainfire', '--config', CONFIG, '--heartbeat-ttl', '1e9'], [/--heartbeat-ttl must be a whole number from 2 to 3600/]),
    agent('join chainfire --local-url that is no URL', ['join', 'chainfire', '--config', CONFIG, '--local-url', 'localhost-2379'], [/--local-url/, /localhost-2379/]),
    agent('join chainfire --state-dir ""', ['join', 'chainfire', '--config', CONFIG, '--state-dir', ''], [/--state-dir/, /empty/]),
    agent('iam-setup --timeout -1s', ['iam-setup', '--config', CONFIG, '--timeout', '-1s'], [/--timeout/, /-1s/]),
    agent('reset chainfire --bogus (named before the missing --config)', ['reset', 'chainfire', '--bogus'], [/unknown option '--bogus'/]),
    agent('health-check --bogus (named before the missing --config)', ['health-check', '--bogus'], [/unknown option '--bogus'/]),
    agent('join flaredb --timeout 1e3x', ['join', 'flaredb', '--config', CONFIG, '--timeout', '1e3x'], [/--timeout/, /1e3x/]),
    agent('join chainfire --timeout 168h0m1s (past 7 days, in Go\'s form)', ['join', 'chainfire', '--config', CONFIG, '--timeout', '168h0m1s'], [/--timeout/, /at most 168h/]),

    ctl('wait --timeout 600h (timed out in a second)', ['wait', 'node04', '--for', 'condition=Ready', '--timeout', '600h'], [/--timeout/, /at most/]),
    ctl('wait --timeout 0s', ['wait', 'node04', '--for', 'condition=Ready', '--timeout', '0s'], [/--timeout/, /at least/]),
    ctl('get -w --watch-timeout 600h', ['get', '-w', '--watch-timeout', '600h'], [/--watch-timeout/, /at most/]),
    ctl('delete --timeout 1000h (marked Absent, then timed out)', ['delete', 'node04', '--timeout', '1000h'], [/--timeout/, /at most/]),
    ctl('rbac apply --bogus (named before the missing --nodes)', ['rbac', 'apply', '--bogus'], [/unknown option '--bogus'/]),
    ctl('wait --bogus (named before the missing --for)', ['wait', 'node04', '--bogus'], [/unknown option '--bogus'/]),
    ctl('describe --bogus (named before the missing name)', ['describe', '--bogus'], [/unknown option '--bogus'/]),
    ctl('apply --bogus with a bad --timeout-like value after it', ['apply', '--bogus', '-f', '/nonexistent'], [/unknown option '--bogus'/]),
    ctl('wait --timeout 600h --bogus (the unknown option first)', ['wait', 'node04', '--for', 'delete', '--timeout', '600h', '--bogus'], [/unknown option '--bogus'/]),
    ctl('get -o bogus', ['get', '-o', 'bogus'], [/-o, --output/, /bogus/]),
    ctl('get --prefix relative', ['get', '--prefix', 'relative/path'], [/prefix/, /relative\/path/]),
    ctl('--user "" (an empty user name)', ['get', '--user', ''], [/--user/, /empty/]),
    ctl('--watch-timeout 1m30 (a Go duration with its last unit missing)', ['get', '-w', '--watch-timeout', '1m30'], [/--watch-timeout/, /"1m30"/]),
  ];

  it(`has at least 30 cases across the three programs (${cases.length})`, () => {
    assert.ok(cases.length >= 30);
    for (const bin of ['membership-controller', 'first-boot-agent', 'membershipctl']) assert.ok(cases.some((c) => c.bin === bin), bin);
  });

  cases.forEach((c, i) => {
    it(c.name, async () => {
      const prefix = `/flags/case${i}`;
      const stateDir = join(dir, `state-${i}`);
      const args = c.args.map((a) => (a === CONFIG ? config : a));
      const extra =
        c.bin === 'membership-controller'
          ? [...(c.ownPrefix ? [] : ['--prefix', prefix]), '--metrics-addr', '127.0.0.1:0', ...(args.includes('--identity') ? [] : ['--identity', `flags-${i}`])]
          : c.agent && args.includes('--config') && !args.includes('--state-dir')
            ? ['--state-dir', stateDir]
            : [];
      const before = (await client.getAll().prefix('/').keys()).sort();
      const desiredBefore = await client.get(keys.desired('node04')).string();
      const o: Outcome = await run(c.bin, [...args, ...extra, '--endpoints', cluster.endpoints.join(',')], { timeoutMs: 15_000 });
      assertOutcome(o, c.code, ...c.messages);
      // Nothing changed: no key written anywhere (no election key, no report, no record), no state file.
      assert.deepEqual((await client.getAll().prefix('/').keys()).sort(), before, 'keys in etcd changed');
      assert.equal(await client.get(keys.desired('node04')).string(), desiredBefore, 'desired/node04 changed');
      if (c.agent) assert.deepEqual(await readdir(stateDir).catch(() => []), [], 'the state dir holds files');
    });
  });
});
