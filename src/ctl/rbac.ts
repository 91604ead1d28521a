import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, open, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { EtcdPermissionDeniedError, Range, type Etcd3, type IPermissionResult } from 'etcd3';
import { addConnectionFlags } from '../cli/common.js';
import { MembershipError, errorMessage } from '../errors.js';
import { fileProblem, readChecked } from '../files.js';
import { nodeNameProblem } from '../schema/common.js';
import type { KeyLayout } from '../store/keys.js';
import { withClient } from './client.js';

/**
 * Least-privilege etcd credentials for the three programs: one role per kind
 * of client, scoped to the keys the contract lets it write, and one user per
 * role. `membershipctl rbac apply` creates what is missing and corrects what
 * differs; running it again changes nothing.
 */

export type PermissionType = 'Read' | 'Write' | 'Readwrite';

export interface RbacPermission {
  permission: PermissionType;
  /** the key, or the start of a prefix range */
  key: string;
  /** true: every key that starts with `key` */
  prefix: boolean;
}

export interface RbacRole {
  name: string;
  permissions: RbacPermission[];
}

export const CONTROLLER_ROLE = 'membership-controller';
export const OPERATOR_ROLE = 'membership-operator';
export const agentRole = (node: string): string => `membership-agent-${node}`;

/** etcd's built-in role with every permission; the only one that may change cluster membership. */
const ROOT = 'root';

const read = (key: string, prefix = true): RbacPermission => ({ permission: 'Read', key, prefix });
const readwrite = (key: string, prefix = true): RbacPermission => ({ permission: 'Readwrite', key, prefix });

/** The roles for a prefix and a set of nodes (pure: what `applyRbac` makes etcd hold). */
export function rbacRoles(keys: KeyLayout, nodes: string[]): RbacRole[] {
  const all = `${keys.prefix}/`;
  return [
    {
      name: CONTROLLER_ROLE,
      permissions: [
        read(all),
        readwrite(keys.dir('status')),
        readwrite(`${keys.prefix}/operations/`),
        readwrite(keys.clusterStatus(), false),
        readwrite(`${keys.prefix}/leader/`),
        // the nodes' event histories
        readwrite(keys.dir('events')),
      ],
    },
    {
      name: OPERATOR_ROLE,
      permissions: [
        read(all),
        readwrite(keys.dir('desired')),
        readwrite(keys.clusterConfig(), false),
        // membershipctl disruption acquire|release
        readwrite(keys.dir('disruptions')),
        readwrite(keys.disruptionBudget(), false),
      ],
    },
    ...nodes.map((node) => ({
      name: agentRole(node),
      permissions: [
        read(keys.desired(node), false),
        read(keys.status(node), false),
        readwrite(keys.agent(node), false),
        // its health-check releases its own planned disruption
        readwrite(keys.disruption(node), false),
      ],
    })),
  ];
}

export interface RbacOptions {
  /** nodes that get an agent role and user (DNS-1123 labels) */
  nodes: string[];
  /** where password files are written (created with mode 0700 if missing) */
  outDir: string;
  /** enable etcd authentication at the end, creating the root user first if it does not exist */
  enableAuth?: boolean;
  /** password for a root user that has to be created; default: generated and written to `<outDir>/root.password` */
  rootPassword?: string;
  /**
   * Also give the controller's user the root role (default true). etcd 3.4
   * lets only root add, promote or remove members, so without it the
   * controller can write its records but not change Chainfire's membership.
   */
  controllerMemberAdmin?: boolean;
  /** set new passwords for users that already exist (default: leave them alone) */
  resetPasswords?: boolean;
}

export interface RbacChange {
  kind: 'role' | 'user' | 'auth';
  name: string;
  outcome: 'created' | 'updated' | 'unchanged' | 'enabled';
  detail?: string;
}

function rangeOf(p: RbacPermission): Range {
  return p.prefix ? Range.prefix(p.key) : new Range(p.key);
}

function samePermission(a: IPermissionResult, b: RbacPermission): boolean {
  const r = rangeOf(b);
  return a.permission === b.permission && a.range.start.equals(r.start) && a.range.end.equals(r.end);
}

function sameRange(a: IPermissionResult, b: RbacPermission): boolean {
  const r = rangeOf(b);
  return a.range.start.equals(r.start) && a.range.end.equals(r.end);
}

function describePermission(p: RbacPermission): string {
  return `${p.permission.toLowerCase()} ${p.key}${p.prefix ? '*' : ''}`;
}

/** Makes one role hold exactly `want`'s permissions. */
async function applyRole(client: Etcd3, want: RbacRole, exists: boolean): Promise<RbacChange> {
  const role = client.role(want.name);
  if (!exists) await role.create();
  const have = exists ? await role.permissions() : [];
  const changes: string[] = [];
  for (const p of want.permissions) {
    if (have.some((h) => samePermission(h, p))) continue;
    // One permission per call: etcd3's grant with an array drops the call
    // options, and its revoke with an array grants instead of revoking.
    await role.grant({ permission: p.permission, range: rangeOf(p) });
    changes.push(`granted ${describePermission(p)}`);
  }
  for (const h of have) {
    if (want.permissions.some((p) => sameRange(h, p))) continue;
    await role.revoke({ permission: h.permission, range: h.range });
    changes.push(`revoked ${h.permission.toLowerCase()} ${h.range.start.toString()}`);
  }
  if (!exists) return { kind: 'role', name: want.name, outcome: 'created', detail: want.permissions.map(describePermission).join(', ') };
  return changes.length === 0
    ? { kind: 'role', name: want.name, outcome: 'unchanged' }
    : { kind: 'role', name: want.name, outcome: 'updated', detail: changes.join(', ') };
}

function newPassword(): string {
  return randomBytes(24).toString('base64url');
}

/** The password kept in `<outDir>/<user>.password`, if that file exists and is not empty. */
async function storedPassword(file: string): Promise<string | undefined> {
  const text = readChecked('--out-dir', file, { optional: true, allowEmpty: true, secret: { what: 'a secret', check: { insecureKey: 'refuse' } } })
    ?.toString('utf8')
    .trim();
  return text === '' ? undefined : text;
}

/**
 * Where the password files go must be a directory this user may write (or
 * one it may create), looked at before anything is asked of Chainfire: found
 * out half-way, a user existed in etcd whose password was nowhere.
 */
export async function checkOutDir(dir: string): Promise<void> {
  let probe = resolve(dir);
  for (;;) {
    let isDir: boolean;
    try {
      isDir = (await stat(probe)).isDirectory();
    } catch (err) {
      const parent = dirname(probe);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && parent !== probe) {
        probe = parent;
        continue;
      }
      throw new MembershipError('CONFIG_UNREADABLE', `--out-dir: ${dir}: ${fileProblem(err)}`, { cause: err });
    }
    if (!isDir) {
      throw new MembershipError('CONFIG_INVALID', `--out-dir: ${dir}: ${probe === resolve(dir) ? 'exists and is' : `${probe} is`} not a directory`);
    }
    try {
      await access(probe, constants.W_OK | constants.X_OK);
    } catch (err) {
      throw new MembershipError(
        'CONFIG_INVALID',
        `--out-dir: ${dir}: permission denied: this user (uid ${process.getuid?.() ?? '?'}) cannot write in ${probe}`,
        { cause: err },
      );
    }
    return;
  }
}

/** A failure of the local disk under --out-dir is said as one, not taken for Chainfire's refusal. */
async function localFile<T>(path: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new MembershipError('CONFIG_INVALID', `--out-dir: cannot write ${path}: ${fileProblem(err)}`, { cause: err });
  }
}

/** Writes a password file readable by its owner only; the password itself is never printed. */
function writePassword(file: string, password: string): Promise<void> {
  return localFile(file, () => writePasswordFile(file, password));
}

async function writePasswordFile(file: string, password: string): Promise<void> {
  const handle = await open(file, 'w', 0o600);
  try {
    // `open` applies the mode only to a new file: tighten one that existed.
    await handle.chmod(0o600);
    await handle.writeFile(`${password}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Creates a user (or, if asked, gives an existing one a new password) and makes it hold `roles`. */
async function applyUser(
  client: Etcd3,
  name: string,
  roles: { want: string[]; unwanted: string[] },
  exists: boolean,
  opts: { outDir: string; resetPasswords: boolean; password?: string },
): Promise<RbacChange> {
  const user = client.user(name);
  const file = join(opts.outDir, `${name}.password`);
  const details: string[] = [];
  let outcome: RbacChange['outcome'] = 'unchanged';
  if (!exists) {
    // A password file left from an earlier run is reused, so files handed out stay valid.
    const password = opts.password ?? (await storedPassword(file)) ?? newPassword();
    await user.create(password);
    await writePassword(file, password);
    outcome = 'created';
    details.push(`password in ${file}`);
  } else if (opts.resetPasswords) {
    const password = opts.password ?? newPassword();
    await user.setPassword(password);
    await writePassword(file, password);
    outcome = 'updated';
    details.push(`new password in ${file}`);
  }
  const have = exists ? (await user.roles()).map((r) => r.name) : [];
  for (const role of roles.want) {
    if (have.includes(role)) continue;
    await user.addRole(role);
    if (exists) details.push(`granted role ${role}`);
    if (outcome === 'unchanged') outcome = 'updated';
  }
  for (const role of roles.unwanted) {
    if (!have.includes(role)) continue;
    await user.removeRole(role);
    details.push(`removed role ${role}`);
    if (outcome === 'unchanged') outcome = 'updated';
  }
  if (!exists) details.push(`roles ${roles.want.join(', ')}`);
  return { kind: 'user', name, outcome, ...(details.length > 0 ? { detail: details.join('; ') } : {}) };
}

/**
 * Creates or corrects the roles and users of `rbacRoles`, writes passwords of
 * new users to `<outDir>/<user>.password` (mode 0600), and enables etcd
 * authentication if asked. Needs root's credentials once authentication is on.
 */
export async function applyRbac(client: Etcd3, keys: KeyLayout, opts: RbacOptions): Promise<RbacChange[]> {
  if (opts.nodes.length === 0) throw new MembershipError('USAGE', '--nodes: name at least one node (comma-separated, e.g. node01,node04)');
  for (const node of opts.nodes) {
    const problem = nodeNameProblem(node);
    if (problem !== undefined) throw new MembershipError('USAGE', `--nodes: ${problem}`);
  }
  await checkOutDir(opts.outDir);
  await localFile(opts.outDir, () => mkdir(opts.outDir, { recursive: true, mode: 0o700 }));
  try {
    return await applyAll(client, keys, opts);
  } catch (err) {
    if (err instanceof EtcdPermissionDeniedError) {
      throw new MembershipError(
        'ACCESS_DENIED',
        `etcd refused to change roles and users (${errorMessage(err)}): with authentication enabled, run rbac apply as root ` +
          '(--user root, password in CHAINFIRE_PASSWORD or --password-file)',
        { cause: err },
      );
    }
    throw err;
  }
}

async function applyAll(client: Etcd3, keys: KeyLayout, opts: RbacOptions): Promise<RbacChange[]> {
  const nodes = [...new Set(opts.nodes)];
  const roles = rbacRoles(keys, nodes);
  const existingRoles = new Set((await client.getRoles()).map((r) => r.name));
  const existingUsers = new Set((await client.getUsers()).map((u) => u.name));
  const userOpts = { outDir: opts.outDir, resetPasswords: opts.resetPasswords ?? false };
  const changes: RbacChange[] = [];

  for (const role of roles) changes.push(await applyRole(client, role, existingRoles.has(role.name)));

  const memberAdmin = opts.controllerMemberAdmin ?? true;
  for (const role of roles) {
    // Only the controller's user may hold root (see controllerMemberAdmin); the others never do.
    const root = role.name === CONTROLLER_ROLE && memberAdmin;
    const roleNames = { want: root ? [role.name, ROOT] : [role.name], unwanted: root ? [] : [ROOT] };
    changes.push(await applyUser(client, role.name, roleNames, existingUsers.has(role.name), userOpts));
  }

  if (opts.enableAuth) {
    if (!existingUsers.has(ROOT)) {
      changes.push(
        await applyUser(client, ROOT, { want: [ROOT], unwanted: [] }, false, {
          ...userOpts,
          ...(opts.rootPassword !== undefined ? { password: opts.rootPassword } : {}),
        }),
      );
    }
    // etcd ignores the request when authentication is already on.
    await client.auth.authEnable({});
    changes.push({ kind: 'auth', name: 'etcd', outcome: 'enabled' });
  }
  return changes;
}

/** `role/membership-operator created (read /p/*, ...)`: one line per change, never a password. */
export function renderChanges(changes: RbacChange[]): string {
  return changes.map((c) => `${c.kind}/${c.name} ${c.outcome}${c.detail ? ` (${c.detail})` : ''}\n`).join('');
}

/** Adds `rbac apply` to membershipctl. */
export function addRbacCommand(program: Command): void {
  const rbac = program.command('rbac').description('least-privilege etcd roles and users for the controller, operators and agents');
  addConnectionFlags(
    rbac
      .command('apply')
      .description('create or correct the roles and users; passwords of new users go to files in --out-dir (mode 0600)')
      .requiredOption('--nodes <names>', 'nodes that get an agent user, comma-separated')
      .requiredOption('--out-dir <dir>', 'directory for the password files')
      .option('--enable-auth', 'enable etcd authentication afterwards (creates the root user first if missing)')
      .option('--no-controller-member-admin', 'do not give the controller\'s user the root role (it then cannot change membership)')
      .option('--reset-passwords', 'give users that already exist new passwords (and write them to --out-dir)')
      .addHelpText(
        'after',
        `
Roles: membership-controller, membership-operator, membership-agent-<node>; users of the same names.
etcd 3.4 lets only root change cluster membership, so the controller's user also gets the root role
unless --no-controller-member-admin is given.

Examples:
  membershipctl rbac apply --nodes node01,node02,node03,node04 --out-dir /root/membership-credentials --enable-auth
  CHAINFIRE_PASSWORD=... membershipctl rbac apply --user root --nodes node05 --out-dir /root/membership-credentials`,
      ),
  ).action(async (opts) => {
    const nodes = String(opts.nodes)
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const changes = await withClient(opts, (client, keys) =>
      applyRbac(client, keys, {
        nodes,
        outDir: opts.outDir,
        enableAuth: opts.enableAuth === true,
        controllerMemberAdmin: opts.controllerMemberAdmin !== false,
        resetPasswords: opts.resetPasswords === true,
      }),
    );
    process.stdout.write(renderChanges(changes));
  });
}
