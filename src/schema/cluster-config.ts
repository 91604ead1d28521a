/**
 * The seed's cluster-config.json (docs/cluster-config.md): its schema, the
 * parser that turns a file into a typed config plus warnings, and the mapping
 * of a config to the NodeMembership record it describes.
 */
import { posix } from 'node:path';
import { z } from 'zod';
import { MembershipError } from '../errors.js';
import { readConfigFile } from '../files.js';
import { API_VERSION, formatIssues, hostPort, httpUrl, nodeName, roleEnum } from './common.js';
import { nestingError, reservedKeyPath, reservedKeyProblem } from './json.js';
import type { NodeMembershipInput } from './node-membership.js';

export const CLUSTER_LABEL = 'photoncloud.io/cluster';

/** The seed's ports (firewall rules, NixOS module), used when a config names none. */
export const DEFAULT_PORTS = { chainfire: 2379, flaredb: 2479, flaredbRaft: 2480 } as const;

const [ipv4, ipv6, cidrv4, cidrv6] = [z.ipv4(), z.ipv6(), z.cidrv4(), z.cidrv6()];

export const ipAddress = z.string().refine((s) => ipv4.safeParse(s).success || ipv6.safeParse(s).success, {
  message: 'must be an IPv4 or IPv6 address (for example 10.0.1.13 or fd00::13)',
});

export const cidr = z.string().refine((s) => cidrv4.safeParse(s).success || cidrv6.safeParse(s).success, {
  message: 'must be a CIDR range address/prefix (for example 10.0.1.0/24 or fd00::/64)',
});

/** At least two labels: a bare host name is what node_id is for. */
export const dnsName = z
  .string()
  .regex(/^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)+$/i, {
    message:
      'must be a fully qualified DNS name (for example node04.prod.example.com): ' +
      'dot-separated labels of letters, digits and "-", at most 253 characters',
  });

/** It becomes the value of the cluster label, so it follows the Kubernetes label-value rules. */
export const clusterName = z
  .string()
  .min(1, { message: 'must not be empty', abort: true })
  .regex(/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/, {
    message: 'must be at most 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit (for example prod-cluster)',
  });

const PORT_MESSAGE = 'must be a port number 1-65535';
export const port = z.int({ message: PORT_MESSAGE }).min(1, { message: PORT_MESSAGE }).max(65535, { message: PORT_MESSAGE });

const absolutePath = z.string().refine((p) => posix.isAbsolute(p) && !p.includes('\0'), {
  message: 'must be an absolute path (for example /etc/nixos/secrets/ca.crt)',
});

const nonEmpty = z.string().min(1, { message: 'must not be empty' });

/** The same peer twice would put a phantom member into the initial cluster. */
const peerList = z.array(hostPort).superRefine(
  (peers, ctx) => {
    if (!Array.isArray(peers)) return;
    const firstAt = new Map<string, number>();
    peers.forEach((peer: unknown, i) => {
      if (typeof peer !== 'string') return;
      const first = firstAt.get(peer.toLowerCase());
      if (first === undefined) firstAt.set(peer.toLowerCase(), i);
      else ctx.addIssue({ code: 'custom', path: [i], message: `${JSON.stringify(peer)} is listed twice (first at index ${first})` });
    });
  },
  // Also when some entries are invalid, so duplicates are reported together with those errors.
  { when: () => true },
);

const enabled = z.boolean().optional();
export const chainfireService = z.strictObject({ enabled, client_url: httpUrl.optional(), port: port.optional() });
export const flaredbService = z.strictObject({
  enabled, raft_addr: hostPort.optional(), api_url: httpUrl.optional(), port: port.optional(),
});
export const iamService = z.strictObject({ enabled, api_url: httpUrl.optional(), port: port.optional() });

export const clusterConfig = z
  .strictObject({
    node_id: nodeName,
    node_role: roleEnum,
    bootstrap: z.boolean(),
    cluster_name: clusterName,
    leader_url: httpUrl,
    raft_addr: hostPort,
    initial_peers: peerList.min(1, { message: 'must list at least one peer (the bootstrap nodes, host:port)' }),
    flaredb_peers: peerList,
    node_ip: ipAddress.optional(),
    node_fqdn: dnsName.optional(),
    datacenter: nonEmpty.optional(),
    rack: nonEmpty.optional(),
    services: z
      .strictObject({ chainfire: chainfireService.optional(), flaredb: flaredbService.optional(), iam: iamService.optional() })
      .optional(),
    tls: z
      .strictObject({ ca_file: absolutePath.optional(), cert_file: absolutePath.optional(), key_file: absolutePath.optional() })
      .optional(),
    network: z.record(z.string(), cidr).optional(),
  })
  .superRefine(
    (value, ctx) => {
      for (const issue of crossFieldIssues(value)) ctx.addIssue({ code: 'custom', ...issue });
    },
    // The rules guard their own inputs, so they run alongside field errors and all are reported at once.
    { when: () => true },
  );

export type ClusterConfig = z.infer<typeof clusterConfig>;

// ---- Cross-field rules ----------------------------------------------------------------

type RuleIssue = { path: PropertyKey[]; message: string };

/** Host part of a validated host:port, as written (an IPv6 host keeps its brackets). */
function hostOf(addr: string): string {
  return addr.slice(0, addr.lastIndexOf(':'));
}

function portOf(addr: string): number {
  return Number(addr.slice(addr.lastIndexOf(':') + 1));
}

/** Hosts compare without brackets and case-insensitively, as DNS does. */
function bare(host: string): string {
  return host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
}

/** The names a peer list may use for this node: node_id, node_fqdn, node_ip and the host of raft_addr. */
function selfNames(c: { node_id: string; raft_addr: string; node_ip?: string | undefined; node_fqdn?: string | undefined }): Set<string> {
  const names = [c.node_id, c.node_fqdn, c.node_ip, hostOf(c.raft_addr)];
  return new Set(names.filter((n): n is string => n !== undefined).map(bare));
}

/** The entries of a peer list that name this node, in list order. */
function selfEntries(peers: readonly string[], names: Set<string>): { peer: string; index: number }[] {
  return peers.map((peer, index) => ({ peer, index })).filter((e) => names.has(bare(hostOf(e.peer))));
}

function valid<T>(schema: z.ZodType<T>, value: unknown): T | undefined {
  const r = schema.safeParse(value);
  return r.success ? r.data : undefined;
}

function asObject(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** A bootstrap node forms the initial cluster, so its peer list must name it exactly once. */
function selfListing(field: string, peers: readonly string[], names: Set<string>, port?: { value: number; from: string }): RuleIssue[] {
  const mine = selfEntries(peers, names);
  const first = mine[0];
  if (first === undefined) {
    const hosts = [...names].join(', ');
    const message = `a bootstrap node must list itself: no entry has host ${hosts} (node_id, node_fqdn, node_ip or raft_addr host)`;
    return [{ path: [field], message }];
  }
  const issues: RuleIssue[] = [];
  for (const m of mine) {
    if (port !== undefined && portOf(m.peer) !== port.value) {
      const message = `${m.peer} names this node but its port differs from ${port.from} port ${port.value}`;
      issues.push({ path: [field, m.index], message });
    }
  }
  // An exact repeat is already reported as a duplicate; this catches the same node under another name.
  for (const m of mine.slice(1).filter((m) => m.peer.toLowerCase() !== first.peer.toLowerCase())) {
    issues.push({ path: [field, m.index], message: `${m.peer} names this node again (already listed at index ${first.index})` });
  }
  return issues;
}

function effectivePort(url: string): number {
  const u = new URL(url);
  return u.port !== '' ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
}

/**
 * Rules that span fields. They run even when other fields failed, so each
 * rule re-checks the fields it reads and stays silent when one is invalid:
 * that field's own error already says what to fix.
 */
function crossFieldIssues(value: unknown): RuleIssue[] {
  const c = asObject(value);
  const issues: RuleIssue[] = [];
  const role = valid(roleEnum, c.node_role);
  const bootstrap = valid(z.boolean(), c.bootstrap);
  const services = asObject(c.services);
  const chainfire = valid(chainfireService.optional(), services.chainfire);
  const flaredb = valid(flaredbService.optional(), services.flaredb);
  const iam = valid(iamService.optional(), services.iam);
  const self = valid(z.object({ node_id: nodeName, raft_addr: hostPort, node_ip: ipAddress.optional(), node_fqdn: dnsName.optional() }), c);
  const names = self && selfNames(self);

  if (bootstrap === true && role === 'worker') {
    const message = 'a worker cannot be a bootstrap node: the initial cluster is made of control-plane or all-in-one nodes';
    issues.push({ path: ['bootstrap'], message });
  }
  if (bootstrap === true && chainfire?.enabled === false) {
    issues.push({
      path: ['services', 'chainfire', 'enabled'],
      message: 'cannot be false on a bootstrap node: bootstrap nodes form the initial Chainfire cluster',
    });
  }
  if (bootstrap === true && self && names) {
    const peers = valid(z.array(hostPort), c.initial_peers);
    // An empty list has its own error already.
    if (peers && peers.length > 0) issues.push(...selfListing('initial_peers', peers, names, { value: portOf(self.raft_addr), from: 'raft_addr' }));
    const flaredbPeers = valid(z.array(hostPort), c.flaredb_peers);
    const flaredbValid = services.flaredb === undefined || flaredb !== undefined;
    if (flaredbPeers && flaredbValid && hasFlareDB({ flaredb_peers: flaredbPeers, services: { flaredb } })) {
      const raft = flaredb?.raft_addr;
      const flaredbNames = raft === undefined ? names : new Set([...names, bare(hostOf(raft))]);
      const port = raft === undefined ? undefined : { value: portOf(raft), from: 'services.flaredb.raft_addr' };
      issues.push(...selfListing('flaredb_peers', flaredbPeers, flaredbNames, port));
    }
  }
  const leader = valid(httpUrl, c.leader_url);
  if (bootstrap === false && names && leader !== undefined) {
    // Same host and same port as this node's own Chainfire: it would ask itself to join.
    // Another port on the same host is another node (several share one machine in tests).
    const host = bare(new URL(leader).hostname);
    const ownPort = chainfire?.port ?? (chainfire?.client_url ? effectivePort(chainfire.client_url) : DEFAULT_PORTS.chainfire);
    const isSelfHost = names.has(host) || ['localhost', '127.0.0.1', '::1'].includes(host);
    if (isSelfHost && effectivePort(leader) === ownPort) {
      issues.push({
        path: ['leader_url'],
        message: `points at this node's own Chainfire (${host}:${ownPort}), but a joining node (bootstrap: false) needs a member of the running cluster`,
      });
    }
  }
  const urls = [
    ['chainfire', chainfire?.client_url, chainfire?.port, 'client_url'],
    ['flaredb', flaredb?.api_url, flaredb?.port, 'api_url'],
    ['iam', iam?.api_url, iam?.port, 'api_url'],
  ] as const;
  for (const [service, url, p, urlField] of urls) {
    if (url !== undefined && p !== undefined && effectivePort(url) !== p) {
      const message = `${p} contradicts services.${service}.${urlField} (port ${effectivePort(url)}); give only one of them`;
      issues.push({ path: ['services', service, 'port'], message });
    }
  }
  const tls = asObject(c.tls);
  for (const [has, lacks] of [['cert_file', 'key_file'], ['key_file', 'cert_file']] as const) {
    if (typeof tls[has] === 'string' && tls[lacks] === undefined) {
      issues.push({ path: ['tls', lacks], message: `is required when tls.${has} is set: a certificate and its key go together` });
    }
  }
  return issues;
}

// ---- Parsing ----------------------------------------------------------------------------

export interface ParsedClusterConfig {
  config: ClusterConfig;
  /** one `unknown field <path>` per field the format does not define */
  warnings: string[];
}

/**
 * Validates the text of a cluster-config.json. Unknown fields are warnings;
 * everything else that is wrong is one CONFIG_INVALID error whose lines each
 * read `<source>: <field>: <problem>`.
 */
export function parseClusterConfig(text: string, source: string): ParsedClusterConfig {
  const input = parseJson(text.replace(/^\uFEFF/, ''), source);
  let result = clusterConfig.safeParse(input, { error: describeIssue });
  const unknown = result.success ? [] : result.error.issues.filter((i) => i.code === 'unrecognized_keys');
  const warnings = unknown.flatMap((i) => i.keys.map((key) => `unknown field ${fieldPath([...i.path, key])}`));
  if (unknown.length > 0) {
    // Validate again without the unknown fields, so that they alone never fail the parse.
    const cleaned = structuredClone(input);
    for (const issue of unknown) removeKeys(cleaned, issue.path, issue.keys);
    result = clusterConfig.safeParse(cleaned, { error: describeIssue });
  }
  if (result.success) return { config: result.data, warnings };
  const lines = result.error.issues.map((issue) => `${source}: ${formatIssues(new z.ZodError([issue]))}`);
  // An unknown field is often the misspelling of a missing one, so both are said together.
  lines.push(...warnings.map((w) => `${source}: warning: ${w}`));
  throw new MembershipError('CONFIG_INVALID', lines.join('\n'), { cause: result.error });
}

/** Reads and validates a cluster-config.json file, given by `field` (the agent's --config, say). */
export async function loadClusterConfig(path: string, field = '--config'): Promise<ParsedClusterConfig> {
  return parseClusterConfig(readConfigFile(field, path), path);
}

/** `services.chainfire.foo`, with odd keys quoted so the path stays unambiguous. */
function fieldPath(path: readonly PropertyKey[]): string {
  return path.map((p) => (typeof p === 'string' && /^[A-Za-z0-9_-]+$/.test(p) ? p : JSON.stringify(String(p)))).join('.');
}

function removeKeys(root: unknown, path: readonly PropertyKey[], keys: readonly string[]): void {
  let node: unknown = root;
  for (const p of path) node = (node as Record<PropertyKey, unknown> | undefined)?.[p];
  if (node !== null && typeof node === 'object') for (const k of keys) delete (node as Record<string, unknown>)[k];
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return `a string (${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)})`;
  return `${typeof value} ${String(value)}`;
}

const EXPECTED: Record<string, string> = {
  string: 'a string', boolean: 'true or false', array: 'an array', object: 'an object', record: 'an object',
};

/** Messages for issues that carry none of their own, phrased as what was wanted and what was found. */
function describeIssue(issue: z.core.$ZodRawIssue): string | undefined {
  if ((issue.code === 'invalid_type' || issue.code === 'invalid_value') && issue.input === undefined) return 'is required';
  if (issue.code === 'invalid_type') {
    // Only the root issue arrives without a path: the file itself is not an object.
    if ((issue.path ?? []).length === 0) return `must be a JSON object, got ${typeName(issue.input)}`;
    return `must be ${EXPECTED[issue.expected] ?? issue.expected}, got ${typeName(issue.input)}`;
  }
  if (issue.code === 'invalid_value') {
    return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${typeName(issue.input)}`;
  }
  return undefined;
}

function parseJson(text: string, source: string): unknown {
  const tooDeep = nestingError(text, source);
  if (tooDeep !== undefined) throw tooDeep;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    const fail = (detail: string) => new MembershipError('CONFIG_INVALID', `${source}: not valid JSON${detail}`, { cause: err });
    if (text.trim() === '') throw fail(': the file is empty');
    const message = (err as Error).message;
    const pos = jsonErrorPosition(text, message);
    const before = text.slice(0, pos);
    const what = message.replace(/ at position \d+.*$/s, '').replace(/ in JSON$/, '').replace(/^(Unexpected token '.*?'),.*$/s, '$1');
    throw fail(` at line ${before.split('\n').length} column ${pos - before.lastIndexOf('\n')} (position ${pos}): ${what}`);
  }
  const reserved = reservedKeyPath(json);
  if (reserved !== undefined) throw new MembershipError('CONFIG_INVALID', `${source}: ${reservedKeyProblem(reserved)}`);
  return json;
}

/**
 * V8 states the position for most errors but not for an unexpected token.
 * Then it is found as the shortest prefix that fails somewhere before its
 * end: every shorter prefix is merely valid JSON cut short.
 */
function jsonErrorPosition(text: string, message: string): number {
  const stated = /at position (\d+)/.exec(message);
  if (stated) return Number(stated[1]);
  if (message.includes('Unexpected end of JSON input')) return text.length;
  const failsBeforeEnd = (length: number): boolean => {
    try {
      JSON.parse(text.slice(0, length));
      return false;
    } catch (e) {
      const msg = (e as Error).message;
      const at = /at position (\d+)/.exec(msg);
      return at ? Number(at[1]) < length : !msg.includes('Unexpected end of JSON input');
    }
  };
  let [lo, hi] = [1, text.length];
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (failsBeforeEnd(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo - 1;
}

// ---- Mapping to NodeMembership --------------------------------------------------------

export interface MembershipPorts {
  chainfirePort?: number;
  flaredbPort?: number;
  /** accepted and checked, but unused: the contract's iam block carries no address */
  iamPort?: number;
}

/** A node runs FlareDB unless it says otherwise, as long as its config says anything about FlareDB. */
export function hasFlareDB(config: Pick<ClusterConfig, 'flaredb_peers' | 'services'>): boolean {
  const flaredb = config.services?.flaredb;
  return flaredb?.enabled !== false && (config.flaredb_peers.length > 0 || flaredb !== undefined);
}

/** The NodeMembership record a cluster config describes; each rule is tabled in docs/cluster-config.md. */
export function clusterConfigToMembership(config: ClusterConfig, opts: MembershipPorts = {}): NodeMembershipInput {
  for (const [name, value] of Object.entries(opts)) {
    if (value !== undefined && !port.safeParse(value).success) {
      throw new MembershipError('USAGE', `${name}: ${JSON.stringify(value)} is not a port number 1-65535`);
    }
  }
  const services = config.services ?? {};
  const scheme = new URL(config.leader_url).protocol; // 'https:' or 'http:'
  const raftHost = hostOf(config.raft_addr);
  const ip = config.node_ip;
  const apiHost = ip === undefined ? raftHost : ip.includes(':') ? `[${ip}]` : ip;

  const spec: NodeMembershipInput['spec'] = { role: config.node_role, bootstrap: config.bootstrap };
  if (ip !== undefined) spec.nodeIp = ip;
  if (config.node_fqdn !== undefined) spec.fqdn = config.node_fqdn;
  if (config.datacenter !== undefined) spec.datacenter = config.datacenter;
  if (config.rack !== undefined) spec.rack = config.rack;

  if (services.chainfire?.enabled !== false) {
    const clientPort = services.chainfire?.port ?? opts.chainfirePort ?? DEFAULT_PORTS.chainfire;
    spec.chainfire = { raftAddr: config.raft_addr, clientUrl: services.chainfire?.client_url ?? `${scheme}//${apiHost}:${clientPort}` };
  }
  if (hasFlareDB(config)) {
    const listed = selfEntries(config.flaredb_peers, selfNames(config))[0]?.peer;
    const apiPort = services.flaredb?.port ?? opts.flaredbPort ?? DEFAULT_PORTS.flaredb;
    spec.flaredb = {
      raftAddr: services.flaredb?.raft_addr ?? listed ?? `${raftHost}:${DEFAULT_PORTS.flaredbRaft}`,
      apiUrl: services.flaredb?.api_url ?? `${scheme}//${apiHost}:${apiPort}`,
    };
  }
  const iamEnabled = services.iam?.enabled;
  if (config.node_role === 'worker' ? iamEnabled === true : iamEnabled !== false) spec.iam = {};

  return {
    apiVersion: API_VERSION,
    kind: 'NodeMembership',
    metadata: { name: config.node_id, labels: { [CLUSTER_LABEL]: config.cluster_name } },
    spec,
  };
}
