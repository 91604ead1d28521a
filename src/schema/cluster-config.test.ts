import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMembershipError, MembershipError } from '../errors.js';
import { API_VERSION } from './common.js';
import { nodeMembership, type NodeMembershipInput } from './node-membership.js';
import { clusterConfigToMembership, loadClusterConfig, parseClusterConfig, type ClusterConfig } from './cluster-config.js';
import { INVALID_VARIANTS, Replace, type JsonObject } from '../../test/fixtures/cluster-config/invalid-variants.js';
import { clusterConfigFixture, type ClusterConfigFixture } from '../../test/fixtures/cluster-config/files.js';
import { contractSpec } from '../../test/support/node-records.js';

const SOURCE = 'cluster-config.json';

async function fixtureText(name: ClusterConfigFixture): Promise<string> {
  return readFile(clusterConfigFixture(name), 'utf8');
}

async function fixture(name: ClusterConfigFixture): Promise<JsonObject> {
  return JSON.parse(await fixtureText(name)) as JsonObject;
}

function parse(value: unknown): { config: ClusterConfig; warnings: string[] } {
  return parseClusterConfig(JSON.stringify(value), SOURCE);
}

/** The CONFIG_INVALID error a parse throws, split into its lines. */
function problems(text: string): string[] {
  try {
    parseClusterConfig(text, SOURCE);
  } catch (err) {
    assert.ok(isMembershipError(err, 'CONFIG_INVALID'), `expected CONFIG_INVALID, got ${String(err)}`);
    return err.message.split('\n');
  }
  assert.fail(`expected CONFIG_INVALID for ${text}`);
}

function record(name: string, spec: NodeMembershipInput['spec'], cluster = 'prod-cluster'): NodeMembershipInput {
  return {
    apiVersion: API_VERSION,
    kind: 'NodeMembership',
    metadata: { name, labels: { 'photoncloud.io/cluster': cluster } },
    spec,
  };
}

/** Parses, maps, and checks that the record is one the NodeMembership schema accepts. */
function mapped(value: unknown, opts?: Parameters<typeof clusterConfigToMembership>[1]): NodeMembershipInput {
  const { config, warnings } = parse(value);
  assert.deepEqual(warnings, []);
  const out = clusterConfigToMembership(config, opts);
  nodeMembership.parse(out);
  return out;
}

describe('the seed examples, completed', () => {
  it('the README Format example maps to a bootstrap control-plane record', async () => {
    const { config, warnings } = parseClusterConfig(await fixtureText('format'), SOURCE);
    assert.deepEqual(warnings, []);
    const out = clusterConfigToMembership(config);
    assert.deepEqual(out, record('node01', {
      role: 'control-plane',
      bootstrap: true,
      chainfire: { raftAddr: '10.0.1.10:2380', clientUrl: 'https://10.0.1.10:2379' },
      // the flaredb_peers entry naming node01, as the initial FlareDB cluster knows it
      flaredb: { raftAddr: 'node01:2480', apiUrl: 'https://10.0.1.10:2479' },
      iam: {},
    }));
    nodeMembership.parse(out);
  });

  it('a bootstrap node with every optional field maps all of them', async () => {
    assert.deepEqual(mapped(await fixture('bootstrap')), record('node02', {
      role: 'control-plane',
      bootstrap: true,
      nodeIp: '10.0.1.11',
      fqdn: 'node02.prod.example.com',
      datacenter: 'dc1',
      rack: 'r1',
      chainfire: { raftAddr: '10.0.1.11:2380', clientUrl: 'https://10.0.1.11:2379' },
      flaredb: { raftAddr: 'node02:2480', apiUrl: 'https://10.0.1.11:2479' },
      iam: {},
    }));
  });

  it('the join example maps to the spec of the contract\'s NodeMembership example', async () => {
    const out = mapped(await fixture('join'));
    // the mapping leaves state to the schema's default
    const { state: _default, ...spec } = contractSpec();
    assert.deepEqual(out, record('node04', spec));
    assert.deepEqual(nodeMembership.parse(out).spec, contractSpec());
  });

  it('the all-in-one example maps to a single-node bootstrap record', async () => {
    assert.deepEqual(mapped(await fixture('all-in-one')), record('aio01', {
      role: 'all-in-one',
      bootstrap: true,
      chainfire: { raftAddr: '10.0.2.10:2380', clientUrl: 'https://10.0.2.10:2379' },
      flaredb: { raftAddr: 'aio01:2480', apiUrl: 'https://10.0.2.10:2479' },
      iam: {},
    }, 'dev'));
  });

  it('the seed\'s partial snippets are rejected, naming each missing field', () => {
    const example2 = {
      node_id: 'node04', bootstrap: false, leader_url: 'https://node01.prod.example.com:2379', raft_addr: '10.0.1.13:2380',
    };
    assert.deepEqual(problems(JSON.stringify(example2)), [
      `${SOURCE}: node_role: is required`,
      `${SOURCE}: cluster_name: is required`,
      `${SOURCE}: initial_peers: is required`,
      `${SOURCE}: flaredb_peers: is required`,
    ]);
  });
});

describe('mapping rules', () => {
  const join = {
    node_id: 'node05', node_role: 'worker', bootstrap: false, cluster_name: 'prod-cluster',
    leader_url: 'https://node01.prod.example.com:2379', raft_addr: '10.0.1.14:2380',
    initial_peers: ['node01:2380', 'node02:2380', 'node03:2380'], flaredb_peers: ['node01:2480', 'node02:2480', 'node03:2480'],
  };
  const chainfire = { raftAddr: '10.0.1.14:2380', clientUrl: 'https://10.0.1.14:2379' };
  const flaredb = { raftAddr: '10.0.1.14:2480', apiUrl: 'https://10.0.1.14:2479' };

  it('a worker gets no IAM block unless services.iam.enabled is true', () => {
    assert.deepEqual(mapped(join).spec, { role: 'worker', bootstrap: false, chainfire, flaredb });
    assert.deepEqual(mapped({ ...join, services: { iam: { enabled: true } } }).spec.iam, {});
    assert.equal(mapped({ ...join, services: { iam: { api_url: 'https://iam:8080' } } }).spec.iam, undefined);
  });

  it('a control-plane node gets an IAM block unless services.iam.enabled is false', () => {
    assert.deepEqual(mapped({ ...join, node_role: 'control-plane' }).spec.iam, {});
    assert.equal(mapped({ ...join, node_role: 'control-plane', services: { iam: { enabled: false } } }).spec.iam, undefined);
  });

  it('FlareDB membership follows flaredb_peers and services.flaredb', () => {
    assert.equal(mapped({ ...join, services: { flaredb: { enabled: false } } }).spec.flaredb, undefined);
    assert.equal(mapped({ ...join, flaredb_peers: [] }).spec.flaredb, undefined);
    assert.deepEqual(mapped({ ...join, flaredb_peers: [], services: { flaredb: {} } }).spec.flaredb, flaredb);
  });

  it('services.chainfire.enabled false leaves out the Chainfire block', () => {
    assert.deepEqual(mapped({ ...join, services: { chainfire: { enabled: false } } }).spec, { role: 'worker', bootstrap: false, flaredb });
  });

  it('explicit service addresses are used as written', () => {
    const services = {
      chainfire: { client_url: 'https://node05.prod.example.com:2379' },
      flaredb: { raft_addr: 'node05.prod.example.com:2480', api_url: 'https://node05.prod.example.com:2479' },
    };
    assert.deepEqual(mapped({ ...join, services }).spec, {
      role: 'worker', bootstrap: false,
      chainfire: { raftAddr: '10.0.1.14:2380', clientUrl: 'https://node05.prod.example.com:2379' },
      flaredb: { raftAddr: 'node05.prod.example.com:2480', apiUrl: 'https://node05.prod.example.com:2479' },
    });
  });

  it('the URL scheme comes from leader_url; the host from node_ip, else raft_addr', () => {
    const spec = mapped({ ...join, leader_url: 'http://node01:2379', node_ip: '192.168.7.14' }).spec;
    assert.deepEqual([spec.chainfire?.clientUrl, spec.flaredb?.apiUrl], ['http://192.168.7.14:2379', 'http://192.168.7.14:2479']);
  });

  it('ports: services.<svc>.port, then the options, then 2379 and 2479', () => {
    const opts = { chainfirePort: 12379, flaredbPort: 12479, iamPort: 18080 };
    const spec = mapped(join, opts).spec;
    assert.deepEqual([spec.chainfire?.clientUrl, spec.flaredb?.apiUrl], ['https://10.0.1.14:12379', 'https://10.0.1.14:12479']);
    const own = mapped({ ...join, services: { chainfire: { port: 22379 }, flaredb: { port: 22479 } } }, opts).spec;
    assert.deepEqual([own.chainfire?.clientUrl, own.flaredb?.apiUrl], ['https://10.0.1.14:22379', 'https://10.0.1.14:22479']);
  });

  it('an option that is not a port is a usage error', () => {
    const { config } = parse(join);
    assert.throws(() => clusterConfigToMembership(config, { chainfirePort: 0 }), (err: MembershipError) => {
      return err.code === 'USAGE' && err.message.startsWith('chainfirePort:');
    });
  });

  it('IPv6 addresses are bracketed in URLs and host:port', () => {
    const v6 = { ...join, node_ip: 'fd00::14', raft_addr: '[fd00::14]:2380', leader_url: 'https://[fd00::10]:2379' };
    assert.deepEqual(mapped(v6).spec, {
      role: 'worker', bootstrap: false, nodeIp: 'fd00::14',
      chainfire: { raftAddr: '[fd00::14]:2380', clientUrl: 'https://[fd00::14]:2379' },
      flaredb: { raftAddr: '[fd00::14]:2480', apiUrl: 'https://[fd00::14]:2479' },
    });
  });

  it('a bootstrap node may be listed by its FQDN or its address instead of node_id', async () => {
    const base = await fixture('bootstrap');
    const byFqdn = { ...base, initial_peers: ['node01.prod.example.com:2380', 'node02.prod.example.com:2380'] };
    const byIp = { ...base, flaredb_peers: ['10.0.1.10:2480', '10.0.1.11:2480'] };
    assert.equal(mapped(byFqdn).spec.chainfire?.raftAddr, '10.0.1.11:2380');
    assert.equal(mapped(byIp).spec.flaredb?.raftAddr, '10.0.1.11:2480');
  });

  it('a joining node may reuse a bootstrap node\'s name (a replacement)', async () => {
    const replacement = { ...(await fixture('join')), node_id: 'node02', node_fqdn: 'node02.prod.example.com' };
    assert.equal(mapped(replacement).spec.bootstrap, false);
  });
});

describe('invalid configs', () => {
  it(`has at least 30 distinct invalid variants (${INVALID_VARIANTS.length})`, () => {
    assert.ok(INVALID_VARIANTS.length >= 30);
    assert.equal(new Set(INVALID_VARIANTS.map(([d]) => d)).size, INVALID_VARIANTS.length);
  });

  for (const [description, mutate, path] of INVALID_VARIANTS) {
    it(`rejects ${description}, naming ${path}`, async () => {
      const config = await fixture('bootstrap');
      const out = mutate(config);
      const lines = problems(JSON.stringify(out instanceof Replace ? out.value : config));
      assert.ok(
        lines.some((line) => line.startsWith(`${SOURCE}: ${path}: `)),
        `no problem names ${path}:\n${lines.join('\n')}`,
      );
      // One mistake, one message: no echoes from rules that depend on the broken field.
      assert.equal(lines.length, 1, lines.join('\n'));
    });
  }

  it('reports every problem at once, field errors and cross-field rules together', async () => {
    const broken = { node_role: 'worker', raft_addr: '10.0.1.11', rack: '', tls: { cert_file: 'node.crt' } };
    const config = { ...(await fixture('bootstrap')), ...broken };
    assert.deepEqual(problems(JSON.stringify(config)), [
      `${SOURCE}: raft_addr: must be host:port (for example 10.0.1.13:2380), port 1-65535`,
      `${SOURCE}: rack: must not be empty`,
      `${SOURCE}: tls.cert_file: must be an absolute path (for example /etc/nixos/secrets/ca.crt)`,
      `${SOURCE}: bootstrap: a worker cannot be a bootstrap node: the initial cluster is made of control-plane or all-in-one nodes`,
      `${SOURCE}: tls.key_file: is required when tls.cert_file is set: a certificate and its key go together`,
    ]);
  });

  it('says what was wanted and what was found', () => {
    const lines = problems(JSON.stringify({ node_id: 7, node_role: 'master', bootstrap: 'yes' }));
    assert.deepEqual(lines.slice(0, 3), [
      `${SOURCE}: node_id: must be a string, got number 7`,
      `${SOURCE}: node_role: must be one of "control-plane", "worker", "all-in-one", got a string ("master")`,
      `${SOURCE}: bootstrap: must be true or false, got a string ("yes")`,
    ]);
  });
});

describe('unknown fields', () => {
  it('are warnings, at any depth, and the rest still validates', async () => {
    const config = await fixture('bootstrap');
    config.comment = 'rack 1, row 3';
    config.services.chainfire.foo = { any: ['shape'] };
    config.services.plasmavmc = { enabled: true };
    config.tls.password_file = '/etc/nixos/secrets/pw';
    const { config: parsed, warnings } = parse(config);
    assert.deepEqual(warnings.sort(), [
      'unknown field comment',
      'unknown field services.chainfire.foo',
      'unknown field services.plasmavmc',
      'unknown field tls.password_file',
    ]);
    assert.deepEqual(parsed, parse(await fixture('bootstrap')).config);
  });

  it('are mentioned next to the errors, where a misspelling explains a missing field', async () => {
    const config = await fixture('join');
    config.raft_adr = config.raft_addr;
    delete config.raft_addr;
    assert.deepEqual(problems(JSON.stringify(config)), [`${SOURCE}: raft_addr: is required`, `${SOURCE}: warning: unknown field raft_adr`]);
  });
});

describe('not JSON', () => {
  it('names the line, column and position of a syntax error', () => {
    const text = '{\n  "node_id": "node01",\n}';
    assert.deepEqual(problems(text), [
      `${SOURCE}: not valid JSON at line 3 column 1 (position ${text.indexOf('}')}): Expected double-quoted property name`,
    ]);
  });

  it('finds the position of an unexpected token, which V8 does not state', () => {
    const text = '{\n  "bootstrap": tru,\n  "node_id": "node01"\n}';
    const at = `line 2 column 19 (position ${text.indexOf(',')})`;
    assert.deepEqual(problems(text), [`${SOURCE}: not valid JSON at ${at}: Unexpected token ','`]);
  });

  it('says when the file is empty', () => {
    assert.deepEqual(problems(' \n'), [`${SOURCE}: not valid JSON: the file is empty`]);
  });

  it('accepts a file that starts with a byte order mark', async () => {
    assert.equal(parseClusterConfig(`\uFEFF${await fixtureText('format')}`, SOURCE).config.node_id, 'node01');
  });
});

describe('loadClusterConfig', () => {
  it('reads a file, and names the path in every error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cluster-config-'));
    try {
      const good = join(dir, 'good.json');
      await writeFile(good, await fixtureText('join'));
      assert.equal((await loadClusterConfig(good)).config.node_id, 'node04');

      const missing = join(dir, 'missing.json');
      await assert.rejects(loadClusterConfig(missing), (err: MembershipError) =>
        err.code === 'CONFIG_UNREADABLE' && err.message === `--config: cannot read ${missing}: not found`);
      await assert.rejects(loadClusterConfig(dir), (err: MembershipError) =>
        err.code === 'CONFIG_UNREADABLE' && err.message === `--config: cannot read ${dir}: a directory, not a file`);

      const bad = join(dir, 'bad.json');
      await writeFile(bad, '{"node_id": "node01"}');
      await assert.rejects(loadClusterConfig(bad), (err: MembershipError) =>
        err.code === 'CONFIG_INVALID' && err.message.split('\n').every((line) => line.startsWith(`${bad}: `)));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
