/**
 * Broken variants of cluster-config-bootstrap.json (node02, every optional
 * field set). Each row: what is wrong, how to break a copy of the config, and
 * the field path its error must name.
 */

/** JSON as read from a file: the rows give it any shape at all. */
export type JsonObject = Record<string, any>;

/** Returned by a mutation to put a whole other value in the config's place. */
export class Replace {
  constructor(readonly value: unknown) {}
}

export type InvalidVariant = [description: string, mutate: (c: JsonObject) => unknown, path: string];

export const INVALID_VARIANTS: InvalidVariant[] = [
  // required fields: presence, type, format
  ['node_id missing', (c) => delete c.node_id, 'node_id'],
  ['node_id with capitals', (c) => (c.node_id = 'Node02'), 'node_id'],
  ['node_id longer than 63 characters', (c) => (c.node_id = 'n'.repeat(64)), 'node_id'],
  ['node_id with an underscore', (c) => (c.node_id = 'node_02'), 'node_id'],
  ['node_id a number', (c) => (c.node_id = 2), 'node_id'],
  ['node_role not one of the three', (c) => (c.node_role = 'master'), 'node_role'],
  ['node_role missing', (c) => delete c.node_role, 'node_role'],
  ['bootstrap as the string "true"', (c) => (c.bootstrap = 'true'), 'bootstrap'],
  ['bootstrap missing', (c) => delete c.bootstrap, 'bootstrap'],
  ['cluster_name empty', (c) => (c.cluster_name = ''), 'cluster_name'],
  ['cluster_name with a space', (c) => (c.cluster_name = 'prod cluster'), 'cluster_name'],
  ['cluster_name longer than 63 characters', (c) => (c.cluster_name = 'c'.repeat(64)), 'cluster_name'],
  ['leader_url without a scheme', (c) => (c.leader_url = 'node01.prod.example.com:2379'), 'leader_url'],
  ['leader_url with an ftp scheme', (c) => (c.leader_url = 'ftp://node01.prod.example.com'), 'leader_url'],
  ['leader_url missing', (c) => delete c.leader_url, 'leader_url'],
  ['raft_addr without a port', (c) => (c.raft_addr = '10.0.1.11'), 'raft_addr'],
  ['raft_addr with port 70000', (c) => (c.raft_addr = '10.0.1.11:70000'), 'raft_addr'],
  ['raft_addr written as a URL', (c) => (c.raft_addr = 'https://10.0.1.11:2380'), 'raft_addr'],
  ['initial_peers empty', (c) => (c.initial_peers = []), 'initial_peers'],
  ['initial_peers as one comma-separated string', (c) => (c.initial_peers = 'node01:2380,node02:2380'), 'initial_peers'],
  ['initial_peers entry without a port', (c) => (c.initial_peers = ['node01:2380', 'node02', 'node03:2380']), 'initial_peers.1'],
  ['initial_peers with a duplicate', (c) => (c.initial_peers = ['node01:2380', 'node02:2380', 'NODE01:2380']), 'initial_peers.2'],
  ['flaredb_peers missing', (c) => delete c.flaredb_peers, 'flaredb_peers'],
  ['flaredb_peers with a duplicate', (c) => (c.flaredb_peers = ['node02:2480', 'node02:2480']), 'flaredb_peers.1'],
  ['flaredb_peers entry a number', (c) => (c.flaredb_peers = [2480, 'node02:2480']), 'flaredb_peers.0'],
  // optional fields
  ['node_ip with an octet over 255', (c) => (c.node_ip = '10.0.1.300'), 'node_ip'],
  ['node_ip a host name', (c) => (c.node_ip = 'node02'), 'node_ip'],
  ['node_fqdn with an underscore', (c) => (c.node_fqdn = 'node02_prod.example.com'), 'node_fqdn'],
  ['node_fqdn a single label', (c) => (c.node_fqdn = 'node02'), 'node_fqdn'],
  ['datacenter empty', (c) => (c.datacenter = ''), 'datacenter'],
  ['rack a number', (c) => (c.rack = 3), 'rack'],
  ['services an array', (c) => (c.services = []), 'services'],
  ['services.chainfire.enabled "yes"', (c) => (c.services.chainfire.enabled = 'yes'), 'services.chainfire.enabled'],
  ['services.chainfire.client_url not a URL', (c) => (c.services.chainfire.client_url = '10.0.1.11:2379'), 'services.chainfire.client_url'],
  ['services.chainfire.port 0', (c) => (c.services.chainfire.port = 0), 'services.chainfire.port'],
  ['services.flaredb.raft_addr without a port', (c) => (c.services.flaredb.raft_addr = '10.0.1.11'), 'services.flaredb.raft_addr'],
  ['services.flaredb.port a fraction', (c) => (c.services.flaredb.port = 2479.5), 'services.flaredb.port'],
  ['services.iam.api_url not a URL', (c) => (c.services.iam.api_url = 'iam.local'), 'services.iam.api_url'],
  ['tls.ca_file a relative path', (c) => (c.tls.ca_file = 'secrets/ca.crt'), 'tls.ca_file'],
  ['tls a string', (c) => (c.tls = '/etc/nixos/secrets'), 'tls'],
  ['network range with prefix /33', (c) => (c.network.cluster_cidr = '10.0.1.0/33'), 'network.cluster_cidr'],
  ['network range without a prefix', (c) => (c.network.pod_cidr = '10.244.0.0'), 'network.pod_cidr'],
  ['network an array', (c) => (c.network = ['10.0.1.0/24']), 'network'],
  ['the file is a JSON array, not an object', () => new Replace([]), '(record)'],
  // cross-field rules
  ['a worker marked bootstrap', (c) => (c.node_role = 'worker'), 'bootstrap'],
  ['bootstrap node missing from initial_peers', (c) => (c.initial_peers = ['node01:2380', 'node03:2380']), 'initial_peers'],
  [
    'bootstrap node listed with a port other than raft_addr\'s',
    (c) => (c.initial_peers = ['node01:2380', 'node02:2390', 'node03:2380']),
    'initial_peers.1',
  ],
  ['bootstrap node listed by name and by address', (c) => c.initial_peers.push('10.0.1.11:2380'), 'initial_peers.3'],
  ['bootstrap FlareDB node missing from flaredb_peers', (c) => (c.flaredb_peers = ['node01:2480', 'node03:2480']), 'flaredb_peers'],
  [
    'services.flaredb.raft_addr port differs from this node\'s flaredb_peers entry',
    (c) => (c.services.flaredb.raft_addr = '10.0.1.11:2490'),
    'flaredb_peers.1',
  ],
  ['bootstrap node with Chainfire disabled', (c) => (c.services.chainfire.enabled = false), 'services.chainfire.enabled'],
  [
    'joining node whose leader_url is itself',
    (c) => Object.assign(c, { bootstrap: false, leader_url: 'https://node02.prod.example.com:2379' }),
    'leader_url',
  ],
  [
    'services.chainfire.port contradicting client_url',
    (c) => Object.assign(c.services.chainfire, { client_url: 'https://10.0.1.11:2379', port: 2400 }),
    'services.chainfire.port',
  ],
  ['tls.cert_file without tls.key_file', (c) => delete c.tls.key_file, 'tls.key_file'],
];
