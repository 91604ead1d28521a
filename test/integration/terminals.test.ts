// What the programs print for people, table-driven, against a real etcd
// holding records whose every free-text field carries terminal control
// sequences: human output (tables, describe, wait's lines, delete's progress,
// plan, pretty logs, errors) shows them escaped, never raw; -o json/yaml keep
// them as data. And pipes: a reader that goes away early gets no EPIPE stack
// trace, and large outputs reach a pipe whole before the program exits.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { parse as parseYaml } from 'yaml';
import { EtcdCluster } from '../support/etcd-cluster.js';
import { membershipFor, tempDir, writeJson } from '../support/fixtures.js';
import { assertNoCrash, assertOutcome, run, shown, type Outcome } from '../support/hardening.js';
import { binPath, type BinName } from '../support/processes.js';
import { API_VERSION } from '../../src/schema/common.js';
import { KeyLayout } from '../../src/store/keys.js';

const keys = new KeyLayout();
const BIG = new KeyLayout('/terminals/big');
const ESC = '\x1b';

/** Raw control characters a terminal acts on (C0 but newline, DEL, C1), and the bidi overrides. */
const RAW_CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;

function assertEscaped(text: string, ...escaped: RegExp[]): void {
  const at = RAW_CONTROL.exec(text);
  assert.equal(at, null, `a raw control character ${JSON.stringify(at?.[0])} at ${at?.index} in:\n${JSON.stringify(text)}`);
  for (const e of escaped) assert.match(text, e, `expected ${e} in:\n${text}`);
}

const desired = (name: string, extra: Record<string, unknown>, metadata: Record<string, unknown> = {}) => ({
  ...membershipFor({ name, peerUrl: `http://127.0.0.1:1`, clientUrl: 'http://127.0.0.1:1' }, false, { role: 'worker', ...extra }),
  metadata: { name, ...metadata },
});

const condition = (type: string, status: string, reason: string, message: string) => ({
  type, status, reason, message, lastTransitionTime: new Date().toISOString(), observedGeneration: 1_000_000,
});

interface TermCase {
  name: string;
  bin: BinName;
  args: () => string[];
  code: number;
  /** where the escaped text must show */
  stream: 'stdout' | 'stderr' | 'both';
  escaped: RegExp[];
  check?: (o: Outcome) => void | Promise<void>;
}

describe('terminals: control characters in records are shown escaped; pipes get all the output, or none without a crash', () => {
  let cluster: EtcdCluster;
  let client: Etcd3;
  let ep: string;
  let dir: string;
  let bigJsonLength = 0;

  before(async () => {
    cluster = await EtcdCluster.start({ size: 1 });
    ep = cluster.endpoints.join(',');
    client = new Etcd3({ hosts: cluster.endpoints });
    dir = await tempDir('terminals-');
    const put = (key: string, value: unknown) => client.put(key).value(typeof value === 'string' ? value : JSON.stringify(value));
    await put(keys.desired('node10'), desired('node10', {
      fqdn: `node10.${ESC}[2J${ESC}[31mevil.example.com`,
      rack: 'r1\r\nnode99   worker   Present   Ready',
      datacenter: 'dc\x07',
      nodeIp: `10.0.0.10${ESC}]0;pwned\x07`,
    }, { labels: { 'team\n': `a${ESC}[2J` }, annotations: { 'membership.photoncloud.io/created-at': `2026${ESC}[31m` } }));
    const status = (name: string, message: string, extra: Record<string, unknown> = {}) => ({
      apiVersion: API_VERSION, kind: 'NodeMembershipStatus', metadata: { name },
      status: {
        observedGeneration: 1_000_000, phase: 'Joining',
        conditions: [condition('ChainfireMember', 'False', 'LearnerCatchingUp', message), condition('Ready', 'False', 'Joining', 'not yet')],
        chainfire: { memberId: `abc${ESC}[5m`, role: 'learner', peerUrl: 'http://x\r', initialCluster: `a=${ESC}[8m` },
        controller: { identity: `c1${ESC}[2J`, term: 3 },
        ...extra,
      },
    });
    await put(keys.status('node10'), status('node10', `catching up${ESC}[2J\nFAKE LINE`));
    await put(keys.agent('node10'), {
      apiVersion: API_VERSION, kind: 'AgentReport', metadata: { name: 'node10' },
      report: {
        agentVersion: 't', pid: 42, hostname: `host${ESC}[2J`, startedAt: new Date().toISOString(), mode: 'join', waitingFor: 'chainfire',
        services: { chainfire: { healthy: false, checkedAt: new Date().toISOString(), detail: `ok${ESC}[31m` } },
      },
    });
    await put(keys.desired('node11'), `${ESC}[2J{not json`);
    await put(keys.desired('node12'), desired('node12', { rack: 'r\u009b31m', fqdn: 'node12.\u202eexample.com' }));
    await put(`${keys.dir('desired')}bad${ESC}[2Jname`, '{}');
    await put(keys.desired('node14'), desired('node14', {}));
    await put(keys.status('node14'), `${ESC}[2J{"status": broken`);
    await put(keys.desired('node16'), desired('node16', {}));
    await put(keys.status('node16'), status('node16', `removing${ESC}[2J`));
    // node13: failed for good, with a message an agent prints.
    await put(keys.desired('node13'), desired('node13', {}));
    await put(keys.status('node13'), {
      apiVersion: API_VERSION, kind: 'NodeMembershipStatus', metadata: { name: 'node13' },
      status: {
        observedGeneration: 1_000_000, phase: 'Failed',
        conditions: [condition('ChainfireMember', 'False', 'InvalidSpec', `bad${ESC}[2J spec`), condition('Ready', 'False', 'InvalidSpec', `bad${ESC}[2J spec`)],
      },
    });
    // 300 records under another prefix, for outputs larger than a pipe's buffer.
    const records = Array.from({ length: 300 }, (_, i) => desired(`node${String(i).padStart(3, '0')}`, { rack: 'r'.repeat(200) }, { labels: { note: 'n'.repeat(300) } }));
    for (const r of records) await put(BIG.desired(r.metadata.name), r);
    // Written to a file (synchronous writes), the whole output: what a pipe must get too.
    const file = join(dir, 'big.json');
    const toFile = await run('/bin/bash', ['-c', `"$0" "$1" get -o json --prefix ${BIG.prefix} --endpoints ${ep} > ${file}`, process.execPath, binPath('membershipctl')]);
    assert.equal(toFile.code, 0, shown(toFile));
    bigJsonLength = (await readFile(file, 'utf8')).length;
  });

  after(async () => {
    client?.close();
    await cluster?.stop();
    if (dir && !process.env.KEEP_TEST_DIRS) await rm(dir, { recursive: true, force: true });
  });

  const ctl = (name: string, args: string[], stream: TermCase['stream'], escaped: RegExp[], code = 0, check?: TermCase['check']): TermCase => ({
    name: `membershipctl ${name}`, bin: 'membershipctl', args: () => [...args, '--endpoints', ep], code, stream, escaped, ...(check ? { check } : {}),
  });
  const describeCase = (what: string, ...escaped: RegExp[]) => ctl(`describe: ${what}`, ['describe', 'node10'], 'stdout', escaped);

  const cases: TermCase[] = [
    describeCase('the FQDN that cleared the screen', /FQDN: +node10\.\\x1b\[2J\\x1b\[31mevil\.example\.com/),
    describeCase('a rack with CR LF', /Location: +dc\\x07\/r1\\r\\nnode99/),
    describeCase('the datacenter with a bell', /dc\\x07/),
    describeCase('the node IP with a title-setting sequence', /Node IP: +10\.0\.0\.10\\x1b\]0;pwned\\x07/),
    describeCase('a label key with a newline and a value with a sequence', /team\\n=a\\x1b\[2J/),
    describeCase('the created-at annotation', /Created: +2026\\x1b\[31m/),
    describeCase('a condition message with a sequence and a newline', /catching up\\x1b\[2J\\nFAKE LINE/),
    describeCase('the member id', /abc\\x1b\[5m/),
    describeCase('the peer URL', /http:\/\/x\\r/),
    describeCase('the initial cluster', /a=\\x1b\[8m/),
    describeCase('the controller identity', /c1\\x1b\[2J/),
    describeCase('the agent host name', /host\\x1b\[2J/),
    describeCase('the agent detail', /ok\\x1b\[31m/),
    ctl('describe: an invalid record whose JSON error quotes the sequence', ['describe', 'node11'], 'stdout', [/<invalid>/, /\\x1b\[2J/]),
    ctl('describe: a C1 CSI and a right-to-left override', ['describe', 'node12'], 'stdout', [/r\\x9b31m/, /node12\.\\u202eexample\.com/]),
    ctl('get -o wide: a rack with CR LF forges no row', ['get', '-o', 'wide'], 'stdout', [/dc\\x07\/r1\\r\\nnode99/], 0, (o) => {
      assert.ok(!o.stdout.split('\n').some((l) => l.startsWith('node99')), `a forged row:\n${o.stdout}`);
    }),
    ctl('get -o wide: node IP and member id cells', ['get', '-o', 'wide'], 'stdout', [/10\.0\.0\.10\\x1b\]0;pwned\\x07/, /abc\\x1b\[5m/]),
    ctl('get: a key whose node name holds a sequence', ['get'], 'stdout', [/bad\\x1b\[2Jname/]),
    ctl('get -o name: a key whose node name holds a sequence', ['get', '-o', 'name'], 'stdout', [/nodemembership\/bad\\x1b\[2Jname/]),
    ctl('wait (not a terminal): the progress line quoting an invalid status', ['wait', 'node14', '--for', 'condition=Ready', '--timeout', '2s'], 'stderr', [/status record is invalid/, /\\x1b\[2J/], 69),
    ctl('wait: the timeout message with the last conditions', ['wait', 'node10', '--for', 'condition=Ready', '--timeout', '2s'], 'stderr', [/timed out/, /catching up\\x1b\[2J\\nFAKE LINE/], 69),
    ctl('delete: the progress lines with condition messages', ['delete', 'node16', '--timeout', '2s'], 'both', [/removing\\x1b\[2J/], 69),
    ctl('plan: the WHY of an invalid record', ['plan'], 'stdout', [/node11/, /\\x1b\[2J/]),
    ctl('apply: the JSON error of a file quoting the sequence', ['apply', '-f', '<bad-json>'], 'stderr', [/not valid JSON/, /\\x1b\[2J/], 78),
    ctl('an unknown option holding a sequence', ['get', `--x${ESC}[2J`], 'stderr', [/unknown option '--x\\x1b\[2J'/], 64),
    ctl('--for holding a sequence', ['wait', 'node10', '--for', `${ESC}[2J`], 'stderr', [/--for/], 64),
    {
      name: 'membershipctl get -w -o wide: a line for a change carrying sequences',
      bin: 'membershipctl',
      args: () => ['get', 'node12', '-w', '-o', 'wide', '--watch-timeout', '4s', '--endpoints', ep],
      code: 0,
      stream: 'stdout',
      escaped: [/r\\x9b31m/, /dc2\\x1b\[2J/],
      check: () => undefined,
    },
    {
      name: 'first-boot-agent --log-format pretty: the terminal condition message it logs',
      bin: 'first-boot-agent',
      args: () => ['join', 'chainfire', '--config', '<node13-config>', '--state-dir', join(dir, 'state13'), '--timeout', '20s', '--log-format', 'pretty', '--endpoints', ep],
      code: 65,
      stream: 'stdout',
      escaped: [/InvalidSpec/, /bad\\x1b\[2J spec/],
    },
    {
      name: 'membership-controller --log-format pretty: a C1 control in a key it logs',
      bin: 'membership-controller',
      args: () => ['--log-format', 'pretty', '--prefix', '/terminals/controller', '--metrics-addr', '127.0.0.1:0', '--identity', 'term-c1', '--endpoints', ep],
      code: 0,
      stream: 'stdout',
      escaped: [/invalid node name/, /bad\\x9bname/],
    },
  ];

  it(`has at least 30 cases with the pipe cases below (${cases.length} + 11)`, () => assert.ok(cases.length + 11 >= 30));

  for (const c of cases) {
    it(c.name, async () => {
      const badJson = join(dir, 'bad.json');
      await writeFile(badJson, `${ESC}[2J{"x": 1}`);
      let args = c.args().map((a) => (a === '<bad-json>' ? badJson : a));
      let o: Outcome;
      if (c.bin === 'first-boot-agent') {
        const m = cluster.members[0]!;
        const config = await writeJson(dir, 'node13.json', {
          node_id: 'node13', node_role: 'worker', bootstrap: false, cluster_name: 'test-cluster', leader_url: m.clientUrl,
          raft_addr: '127.0.0.1:1', initial_peers: [new URL(m.peerUrl).host], flaredb_peers: [], node_ip: '127.0.0.1',
          services: { chainfire: { client_url: 'http://127.0.0.1:1' }, flaredb: { enabled: false }, iam: { enabled: false } },
        });
        args = args.map((a) => (a === '<node13-config>' ? config : a));
        o = await run(c.bin, args, { timeoutMs: 40_000 });
      } else if (c.bin === 'membership-controller') {
        await client.put(`/terminals/controller/desired/bad\u009bname`).value('{}');
        // The controller runs until stopped: stop it once it has said what it says about the key.
        o = await run(c.bin, args, { timeoutMs: 40_000, stopWhen: /invalid node name/ });
      } else if (c.name.includes('get -w')) {
        const change = setTimeout(() => {
          void client.put(keys.desired('node12')).value(JSON.stringify(desired('node12', { rack: 'r\u009b31m', datacenter: `dc2${ESC}[2J` }))).exec();
        }, 2000);
        o = await run(c.bin, args, { timeoutMs: 30_000 });
        clearTimeout(change);
      } else {
        o = await run(c.bin, args, { timeoutMs: 30_000 });
      }
      assertOutcome(o, c.code);
      const text = c.stream === 'stdout' ? o.stdout : c.stream === 'stderr' ? o.stderr : `${o.stdout}\n${o.stderr}`;
      assertEscaped(text, ...c.escaped);
      // Whatever stream the case looks at, the other carries no raw control either.
      assertEscaped(`${o.stdout}\n${o.stderr}`);
      await c.check?.(o);
    });
  }

  it('membershipctl wait on a terminal: the live line shows an invalid status escaped', async () => {
    const cmd = [process.execPath, binPath('membershipctl'), 'wait', 'node14', '--for', 'condition=Ready', '--timeout', '3s', '--endpoints', ep]
      .map((w) => `'${w}'`).join(' ');
    // A terminal wide enough that the line is not cut short.
    const o = await run('script', ['-qfec', `stty cols 400; ${cmd}`, '/dev/null'], { timeoutMs: 30_000 });
    assertNoCrash(o);
    assert.match(o.stdout, /status record is invalid/, shown(o));
    assert.match(o.stdout, /\\x1b\[2J/, shown(o));
    // The line redraws itself with CR and erase-line; nothing else of the record reaches the terminal raw.
    assert.ok(!o.stdout.includes(`${ESC}[2J`), `the raw sequence reached the terminal:\n${JSON.stringify(o.stdout)}`);
  });

  it('-o json and -o yaml keep the control characters as data', async () => {
    const json = await run('membershipctl', ['get', 'node10', '-o', 'json', '--endpoints', ep]);
    assertOutcome(json, 0);
    const parsed = JSON.parse(json.stdout) as { spec: { fqdn: string; rack: string } };
    assert.equal(parsed.spec.fqdn, `node10.${ESC}[2J${ESC}[31mevil.example.com`);
    const yaml = await run('membershipctl', ['get', 'node10', '-o', 'yaml', '--endpoints', ep]);
    assertOutcome(yaml, 0);
    assert.equal((parseYaml(yaml.stdout) as { spec: { rack: string } }).spec.rack, 'r1\r\nnode99   worker   Present   Ready');
  });

  // ---- pipes ---------------------------------------------------------------

  const big = ['--prefix', BIG.prefix];
  const closedEarly: Array<[string, BinName, string[], number]> = [
    ['membershipctl get -o json', 'membershipctl', ['get', '-o', 'json', ...big], 0],
    ['membershipctl get -o yaml', 'membershipctl', ['get', '-o', 'yaml', ...big], 0],
    ['membershipctl get -o wide', 'membershipctl', ['get', '-o', 'wide', ...big], 0],
    ['membershipctl --help', 'membershipctl', ['--help'], 0],
    ['first-boot-agent --help', 'first-boot-agent', ['--help'], 0],
    ['membership-controller --help', 'membership-controller', ['--help'], 0],
    ['membershipctl completion bash', 'membershipctl', ['completion', 'bash'], 0],
  ];
  for (const [name, bin, args, code] of closedEarly) {
    it(`${name} | head -c 10: no EPIPE stack trace, exit ${code}`, async () => {
      const o = await run(bin, [...args, ...(bin === 'membershipctl' && args[0] !== '--help' && args[0] !== 'completion' ? ['--endpoints', ep] : [])], { closeStdoutAfter: 10 });
      assertOutcome(o, code);
    });
  }

  it('membershipctl get -w | head -c 10: no EPIPE stack trace from the watch (exit 1 with one before)', async () => {
    const change = setTimeout(() => {
      void client.put(BIG.desired('node001')).value(JSON.stringify(desired('node001', { rack: 'changed' }))).exec();
    }, 2500);
    const o = await run('membershipctl', ['get', '-w', '-o', 'json', '--watch-timeout', '8s', ...big, '--endpoints', ep], { closeStdoutAfter: 10, timeoutMs: 30_000 });
    clearTimeout(change);
    assertOutcome(o, 0);
  });

  it('membershipctl get -o json of 300 records reaches a pipe whole (cut at 64 KiB before)', async () => {
    const o = await run('membershipctl', ['get', '-o', 'json', ...big, '--endpoints', ep]);
    assertOutcome(o, 0);
    assert.ok(o.stdout.length > 150_000, `only ${o.stdout.length} bytes`);
    assert.equal(o.stdout.length, bigJsonLength);
    assert.equal((JSON.parse(o.stdout) as { items: unknown[] }).items.length, 300);
  });

  it('membershipctl get -o yaml and -o wide of 300 records reach a pipe whole', async () => {
    const yaml = await run('membershipctl', ['get', '-o', 'yaml', ...big, '--endpoints', ep]);
    assertOutcome(yaml, 0);
    assert.equal((parseYaml(yaml.stdout) as { items: unknown[] }).items.length, 300);
    const wide = await run('membershipctl', ['get', '-o', 'wide', ...big, '--endpoints', ep]);
    assertOutcome(wide, 0);
    assert.equal(wide.stdout.trimEnd().split('\n').length, 301, `lines of ${wide.stdout.length} bytes`);
  });
});
