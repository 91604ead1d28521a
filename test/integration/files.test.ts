// Files handed to the three programs, table-driven, against a real etcd:
// devices, FIFOs, directories, huge, empty, binary and deeply nested files,
// PEM files that are not what they claim, files root could read but the
// program's user cannot. Each is refused (78, naming the flag or field and the
// file) without hanging, crashing or changing anything in Chainfire.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { makeTestPki, type TestPki } from '../support/certs.js';
import { EtcdCluster } from '../support/etcd-cluster.js';
import { membershipFor, tempDir, writeJson } from '../support/fixtures.js';
import { NOBODY, assertOutcome, literal, mkfifo, nobodyCannotRun, run, type Outcome, type RunOptions } from '../support/hardening.js';
import type { BinName } from '../support/processes.js';
const MiB = 1024 * 1024;

/** `{"a":{"a":...}}` nested `depth` levels deep. */
function deep(depth: number): string {
  return '{"a":'.repeat(depth - 1) + '{}' + '}'.repeat(depth - 1);
}

interface FileCase {
  name: string;
  bin: BinName;
  args: () => string[];
  code: number;
  messages: () => RegExp[];
  opts?: () => RunOptions;
  /** a check of its own after the common ones */
  check?: (o: Outcome) => Promise<void>;
}

describe('files: every file a program reads is bounded, regular, parsed up front and named in the error', () => {
  let cluster: EtcdCluster;
  let client: Etcd3;
  let pki: TestPki;
  let dir: string;
  let ep: string;
  const f: Record<string, string> = {};

  before(async () => {
    cluster = await EtcdCluster.start({ size: 1 });
    ep = cluster.endpoints.join(',');
    client = new Etcd3({ hosts: cluster.endpoints });
    pki = await makeTestPki(['operator', 'node04']);
    dir = await tempDir('files-');
    await chmod(dir, 0o755);
    const m = cluster.members[0]!;
    const config = {
      node_id: 'node04',
      node_role: 'worker',
      bootstrap: false,
      cluster_name: 'test-cluster',
      leader_url: m.clientUrl,
      raft_addr: '127.0.0.1:1',
      initial_peers: [new URL(m.peerUrl).host],
      flaredb_peers: [],
      node_ip: '127.0.0.1',
      services: { chainfire: { client_url: 'http://127.0.0.1:1' }, flaredb: { enabled: false }, iam: { enabled: false } },
    };
    f.config = await writeJson(dir, 'cluster-config.json', config);
    f.fifo = join(dir, 'fifo');
    mkfifo(f.fifo);
    f.dir = join(dir, 'a-directory');
    await mkdir(f.dir);
    f.empty = join(dir, 'empty');
    await writeFile(f.empty, '', { mode: 0o600 });
    f.binary = join(dir, 'binary');
    await writeFile(f.binary, randomBytes(4096));
    f.hugeConfig = join(dir, 'huge-config.json');
    await writeFile(f.hugeConfig, JSON.stringify({ ...config, padding: 'x'.repeat(2 * MiB) }));
    f.deepConfig = join(dir, 'deep-config.json');
    await writeFile(f.deepConfig, JSON.stringify(config).replace(/}$/, `,"extra":${deep(10_000)}}`));
    f.deepController = join(dir, 'deep-controller.json');
    await writeFile(f.deepController, `{"extra":${deep(10_000)}}`);
    const record = membershipFor({ name: 'node07', peerUrl: 'http://127.0.0.1:2', clientUrl: 'http://127.0.0.1:2' }, false, { role: 'worker' });
    f.deepRecords = join(dir, 'deep-records.json');
    await writeFile(f.deepRecords, `[${JSON.stringify(record).replace(/}$/, `,"x":${deep(10_000)}}`)}]`);
    f.huge65 = join(dir, 'huge-65mib.json');
    await writeFile(f.huge65, `[${' '.repeat(65 * MiB)}]`);
    f.bigRecord = await writeJson(dir, 'big-record.json', { ...record, metadata: { name: 'node08', labels: { big: 'y'.repeat(2 * MiB) } } });
    f.hugePassword = join(dir, 'huge.password');
    await writeFile(f.hugePassword, 'p'.repeat(2 * MiB), { mode: 0o600 });
    f.unreadable = join(dir, 'root-only.json');
    await writeFile(f.unreadable, JSON.stringify(config), { mode: 0o600 });
    f.garbagePem = join(dir, 'garbage.pem');
    await writeFile(f.garbagePem, `-----BEGIN CERTIFICATE-----\n${randomBytes(300).toString('base64')}\n-----END CERTIFICATE-----\n`);
    f.garbageKey = join(dir, 'garbage.key');
    await writeFile(f.garbageKey, '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbA==\n-----END PRIVATE KEY-----\n', { mode: 0o600 });
    f.stateWithFifo = join(dir, 'state-fifo');
    await mkdir(f.stateWithFifo);
    mkfifo(join(f.stateWithFifo, '.chainfire-member'));
    f.notADir = join(dir, 'out-is-a-file');
    await writeFile(f.notADir, 'x');
    f.rootOnlyDir = join(dir, 'root-only-dir');
    await mkdir(f.rootOnlyDir, { mode: 0o755 });
  });

  after(async () => {
    client?.close();
    await cluster?.stop();
    await pki?.cleanup();
    if (dir && !process.env.KEEP_TEST_DIRS) await rm(dir, { recursive: true, force: true });
  });

  const join_ = (extra: string[] = []) => ['join', 'chainfire', '--state-dir', join(dir, 'state'), '--timeout', '5s', ...extra];
  const agentConfig = (name: string, file: () => string, messages: () => RegExp[], opts?: () => RunOptions): FileCase => ({
    name: `first-boot-agent --config ${name}`, bin: 'first-boot-agent', args: () => [...join_(), '--config', file(), '--endpoints', ep], code: 78, messages, ...(opts ? { opts } : {}),
  });
  const apply = (name: string, args: () => string[], messages: () => RegExp[], opts?: () => RunOptions): FileCase => ({
    name: `membershipctl apply ${name}`, bin: 'membershipctl', args: () => ['apply', ...args(), '--endpoints', ep], code: 78, messages, ...(opts ? { opts } : {}),
  });
  const ctlGet = (name: string, args: () => string[], messages: () => RegExp[], opts?: () => RunOptions): FileCase => ({
    name: `membershipctl get ${name}`, bin: 'membershipctl', args: () => ['get', ...args()], code: 78, messages, ...(opts ? { opts } : {}),
  });
  const controllerConfig = (name: string, file: () => string, messages: () => RegExp[]): FileCase => ({
    name: `membership-controller --config ${name}`, bin: 'membership-controller',
    args: () => ['--config', file(), '--endpoints', ep, '--metrics-addr', '127.0.0.1:0', '--prefix', '/files/controller'], code: 78, messages,
  });
  const bounded = () => ({ memoryKiB: 3 * 1024 * 1024 });
  const tlsGet = (extra: string[]) => ['--endpoints', 'https://127.0.0.1:1', ...extra];

  const cases: FileCase[] = [
    agentConfig('/dev/zero (a device)', () => '/dev/zero', () => [/--config: cannot read \/dev\/zero/, /not a regular file/], bounded),
    agentConfig('a FIFO (would block forever)', () => f.fifo!, () => [literal(`--config: cannot read ${f.fifo}`), /FIFO/]),
    agentConfig('a directory', () => f.dir!, () => [literal(`--config: cannot read ${f.dir}`), /directory/]),
    agentConfig('of 2 MiB', () => f.hugeConfig!, () => [literal(`--config: cannot read ${f.hugeConfig}`), /larger than 1 MiB/]),
    agentConfig('empty', () => f.empty!, () => [literal(`--config: cannot read ${f.empty}`), /empty/]),
    agentConfig('binary', () => f.binary!, () => [literal(f.binary!), /not valid JSON/]),
    agentConfig('nested 10,000 levels deep in an unknown field', () => f.deepConfig!, () => [literal(f.deepConfig!), /nested more than 64 levels/]),
    agentConfig('missing', () => join(dir, 'nope.json'), () => [literal(`--config: cannot read ${join(dir, 'nope.json')}`), /not found/]),
    agentConfig('readable by root only, run as nobody', () => f.unreadable!, () => [literal(`--config: cannot read ${f.unreadable}`), /permission denied/], () => NOBODY),

    apply('--from-cluster-config nested 10,000 levels deep', () => ['--from-cluster-config', f.deepConfig!], () => [literal(f.deepConfig!), /nested more than 64 levels/]),
    apply('--from-cluster-config /dev/zero', () => ['--from-cluster-config', '/dev/zero'], () => [/--from-cluster-config: cannot read \/dev\/zero/, /not a regular file/], bounded),
    apply('-f /dev/zero', () => ['-f', '/dev/zero'], () => [/-f: cannot read \/dev\/zero/, /not a regular file/], bounded),
    apply('-f a FIFO', () => ['-f', f.fifo!], () => [literal(`-f: cannot read ${f.fifo}`), /FIFO/]),
    apply('-f a directory', () => ['-f', f.dir!], () => [literal(`-f: cannot read ${f.dir}`), /directory/]),
    apply('-f of 65 MiB', () => ['-f', f.huge65!], () => [literal(`-f: cannot read ${f.huge65}`), /larger than 64 MiB/]),
    apply('-f - with 65 MiB on stdin', () => ['-f', '-'], () => [/-f: cannot read stdin/, /larger than 64 MiB/], () => ({ stdin: Buffer.alloc(65 * MiB + 10, 0x20) })),
    apply('-f records nested 10,000 levels deep', () => ['-f', f.deepRecords!], () => [literal(f.deepRecords!), /nested more than 64 levels/]),
    apply('-f binary', () => ['-f', f.binary!], () => [literal(f.binary!), /not valid JSON/]),
    apply('-f a 2 MiB record (over what Chainfire accepts)', () => ['-f', f.bigRecord!], () => [/node08/, /at most 1 MiB/]),
    apply('-f a 2 MiB record --dry-run (said valid before)', () => ['-f', f.bigRecord!, '--dry-run'], () => [/node08/, /at most 1 MiB/]),

    ctlGet('--password-file /dev/zero (read forever)', () => ['--endpoints', ep, '--user', 'root', '--password-file', '/dev/zero'], () => [/--password-file: cannot read \/dev\/zero/, /not a regular file/], bounded),
    ctlGet('--password-file a FIFO', () => ['--endpoints', ep, '--user', 'root', '--password-file', f.fifo!], () => [literal(`--password-file: cannot read ${f.fifo}`), /FIFO/]),
    ctlGet('--password-file of 2 MiB', () => ['--endpoints', ep, '--user', 'root', '--password-file', f.hugePassword!], () => [literal(`--password-file: cannot read ${f.hugePassword}`), /larger than 1 MiB/]),
    ctlGet('--password-file a directory', () => ['--endpoints', ep, '--user', 'root', '--password-file', f.dir!], () => [literal(`--password-file: cannot read ${f.dir}`), /directory/]),
    ctlGet('--password-file empty', () => ['--endpoints', ep, '--user', 'root', '--password-file', f.empty!], () => [literal(`--password-file: cannot read ${f.empty}`), /empty/]),
    ctlGet('--cacert /dev/zero', () => tlsGet(['--cacert', '/dev/zero']), () => [/--cacert: cannot read \/dev\/zero/, /not a regular file/], bounded),
    ctlGet('--cacert a FIFO', () => tlsGet(['--cacert', f.fifo!]), () => [literal(`--cacert: cannot read ${f.fifo}`), /FIFO/]),
    ctlGet('--cacert with garbage inside PEM armour', () => tlsGet(['--cacert', f.garbagePem!]), () => [literal(`--cacert: ${f.garbagePem}`), /not a valid PEM certificate/]),
    ctlGet('--cert with garbage inside PEM armour', () => tlsGet(['--cacert', pki.caFile, '--cert', f.garbagePem!, '--key', pki.clients.operator!.keyFile]), () => [literal(`--cert: ${f.garbagePem}`), /not a valid PEM certificate/]),
    ctlGet('--key with garbage inside PEM armour (a DECODER error before)', () => tlsGet(['--cacert', pki.caFile, '--cert', pki.clients.operator!.certFile, '--key', f.garbageKey!]), () => [literal(`--key: ${f.garbageKey}`), /not a valid PEM private key/]),
    ctlGet('--key of another certificate', () => tlsGet(['--cacert', pki.caFile, '--cert', pki.clients.operator!.certFile, '--key', pki.clients.node04!.keyFile]), () => [/--key/, /does not match/, literal(pki.clients.operator!.certFile)]),
    ctlGet('--cacert given a private key', () => tlsGet(['--cacert', pki.clients.operator!.keyFile]), () => [literal(`--cacert: ${pki.clients.operator!.keyFile}`), /not a valid PEM certificate/]),

    controllerConfig('/dev/zero ("Invalid string length" before)', () => '/dev/zero', () => [/--config: cannot read \/dev\/zero/, /not a regular file/]),
    controllerConfig('a FIFO', () => f.fifo!, () => [literal(`--config: cannot read ${f.fifo}`), /FIFO/]),
    controllerConfig('nested 10,000 levels deep', () => f.deepController!, () => [literal(f.deepController!), /nested more than 64 levels/]),
    {
      name: 'first-boot-agent --cacert with garbage inside PEM armour',
      bin: 'first-boot-agent',
      args: () => [...join_(), '--config', f.config!, '--endpoints', 'https://127.0.0.1:1', '--cacert', f.garbagePem!],
      code: 78,
      messages: () => [literal(`--cacert: ${f.garbagePem}`), /not a valid PEM certificate/],
    },
    {
      name: 'first-boot-agent: a FIFO as <state-dir>/.chainfire-member (read outside src/files.ts) does not hang the join',
      bin: 'first-boot-agent',
      args: () => ['join', 'chainfire', '--config', f.config!, '--state-dir', f.stateWithFifo!, '--data-dir', join(dir, 'no-data'), '--timeout', '3s', '--endpoints', ep],
      code: 69,
      messages: () => [literal(join(f.stateWithFifo!, '.chainfire-member')), /FIFO/, /timed out/i],
    },
    {
      name: 'membershipctl rbac apply --out-dir naming a file (EEXIST, exit 70 before)',
      bin: 'membershipctl',
      args: () => ['rbac', 'apply', '--nodes', 'node04', '--out-dir', f.notADir!, '--endpoints', ep],
      code: 78,
      messages: () => [literal(`--out-dir: ${f.notADir}`), /not a directory/],
    },
    {
      name: 'membershipctl rbac apply --out-dir not writable by the user (exit 77 "Chainfire refused" before)',
      bin: 'membershipctl',
      args: () => ['rbac', 'apply', '--nodes', 'node04', '--out-dir', join(f.rootOnlyDir!, 'credentials'), '--endpoints', ep],
      code: 78,
      messages: () => [literal(`--out-dir: ${join(f.rootOnlyDir!, 'credentials')}`), /permission denied/],
      opts: () => NOBODY,
      check: async (o) => assert.doesNotMatch(o.stderr, /Chainfire refused/),
    },
  ];

  it(`has at least 30 cases (${cases.length})`, () => assert.ok(cases.length >= 30));

  for (const c of cases) {
    it(c.name, async (t) => {
      const asNobody = c.opts?.()?.uid === NOBODY.uid ? nobodyCannotRun() : undefined;
      if (asNobody !== undefined) return t.skip(asNobody);
      const before = (await client.getAll().prefix('/').keys()).sort();
      const rolesBefore = (await client.getRoles()).map((r) => r.name).sort();
      const o = await run(c.bin, c.args(), { timeoutMs: 20_000, ...c.opts?.() });
      assertOutcome(o, c.code, ...c.messages());
      // Nothing written: no record, no report left behind, no role or user.
      assert.deepEqual((await client.getAll().prefix('/').keys()).sort(), before, 'keys in etcd changed');
      assert.deepEqual((await client.getRoles()).map((r) => r.name).sort(), rolesBefore, 'roles in etcd changed');
      await c.check?.(o);
    });
  }

  it('apply -f of three records of 900 KiB each (together past etcd\'s 1.5 MiB request limit) writes them in separate transactions', async () => {
    const records = ['node11', 'node12', 'node13'].map((name) =>
      ({ ...membershipFor({ name, peerUrl: 'http://127.0.0.1:3', clientUrl: 'http://127.0.0.1:3' }, false, { role: 'worker' }), metadata: { name, labels: { big: 'z'.repeat(900 * 1024) } } }));
    const file = await writeJson(dir, 'three-big.json', records);
    const o = await run('membershipctl', ['apply', '-f', file, '--endpoints', ep], { timeoutMs: 30_000 });
    assertOutcome(o, 0, /nodemembership\/node11 created/, /nodemembership\/node13 created/);
    for (const r of records) assert.ok((await client.get(`/photoncloud/membership/v1/desired/${r.metadata.name}`).string())?.includes('zzzz'));
  });

  it('a cluster-config.json nested 64 levels deep (in an unknown field) is still read', async () => {
    const file = join(dir, 'deep-64.json');
    const config = JSON.parse(await readFile(f.config!, 'utf8')) as Record<string, unknown>;
    await writeFile(file, JSON.stringify(config).replace(/}$/, `,"extra":${deep(62)}}`));
    const o = await run('membershipctl', ['apply', '--from-cluster-config', file, '--dry-run']);
    assertOutcome(o, 0, /nodemembership\/node04 valid/);
  });
});
