import { z } from 'zod';
import { MembershipError } from '../errors.js';
import { readSecretFile } from '../files.js';
import { ServiceClient, type ServiceCall, type ServiceResponse } from './service-client.js';
import type { IamNodeRegistration } from '../schema/members.js';
import type { HttpServiceOptions, IAMDriver } from './types.js';

/**
 * IAM membership through its admin API, as docs/iam-api.md assumes it: the
 * seed does not document IAM's API, so every route, body and status the
 * project relies on is in this one file. The transport (endpoints, leader
 * following, retries, deadlines) is ServiceClient's; this file says what
 * each answer means, and keeps the admin password out of every error.
 */

const ROUTES = {
  health: '/health',
  bootstrap: '/admin/bootstrap',
  nodes: '/admin/nodes',
  node: (id: string) => `/admin/nodes/${encodeURIComponent(id)}`,
} as const;

const healthSchema = z.object({ status: z.string() });
const bootstrapStatusSchema = z.object({ initialized: z.boolean() });
const nodeSchema = z.object({
  id: z.string().min(1),
  role: z.string().min(1),
  fqdn: z.string().optional(),
  ip: z.string().optional(),
});
const nodeListSchema = z.object({
  nodes: z.array(nodeSchema).superRefine((nodes, ctx) => {
    const seen = new Set<string>();
    for (const [i, n] of nodes.entries()) {
      if (seen.has(n.id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `node ${n.id} is listed twice` });
      seen.add(n.id);
    }
  }),
});
const NODE = '{"id", "role", "fqdn"?, "ip"?}';
/** The answer to a successful setup. */
const setupDoneSchema = z.object({ initialized: z.literal(true) });

export interface IAMDriverTuning {
  /** backoff between retries; defaults 100 ms .. 2 s */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** told of a leader hint or redirect that is not followed, e.g. to log it */
  onRefusedLeader?: (message: string) => void;
}

export class HttpIAMDriver implements IAMDriver {
  private readonly client: ServiceClient;

  constructor(options: HttpServiceOptions, tuning: IAMDriverTuning = {}) {
    this.client = new ServiceClient({ ...options, ...tuning, service: 'IAM' });
  }

  /** Unreachable or unhealthy is an answer here, not an error; only an abort throws. */
  async health(signal?: AbortSignal): Promise<{ healthy: boolean; detail: string }> {
    const c = call('GET', ROUTES.health, 'health check', signal);
    let res: ServiceResponse;
    try {
      res = await this.client.call(c);
    } catch (err) {
      if (signal?.aborted) throw err;
      return { healthy: false, detail: err instanceof Error ? err.message : String(err) };
    }
    if (res.status !== 200) return { healthy: false, detail: this.client.unexpected(c, res).message };
    let status: string;
    try {
      status = this.client.expectBody(c, res, healthSchema, '{"status": "ok"}').status;
    } catch (err) {
      return { healthy: false, detail: (err as Error).message };
    }
    if (status !== 'ok') return { healthy: false, detail: `${res.url} answered HTTP 200 with status ${JSON.stringify(status)}` };
    return { healthy: true, detail: `${res.url} answered HTTP 200 {"status":"ok"}` };
  }

  async bootstrapStatus(signal?: AbortSignal): Promise<{ initialized: boolean }> {
    const c = call('GET', ROUTES.bootstrap, 'read the initial admin setup state', signal);
    const res = await this.client.call(c);
    if (res.status !== 200) throw this.refused(c, res);
    return { initialized: this.client.expectBody(c, res, bootstrapStatusSchema, '{"initialized": boolean}').initialized };
  }

  /**
   * The cluster's initial admin setup. Retrying the POST is safe: IAM answers
   * 409 once an admin exists, so no attempt can create a second one. That also
   * means a retry after an attempt whose answer was lost sees 409: either way
   * 'already-initialized' means "the setup is done", not "someone else did it".
   */
  async bootstrap(admin: { user: string; password: string }, signal?: AbortSignal): Promise<'initialized' | 'already-initialized'> {
    const c: ServiceCall = {
      ...call('POST', ROUTES.bootstrap, 'initial admin setup', signal),
      body: { admin_user: admin.user, admin_password: admin.password },
    };
    try {
      const res = await this.client.call(c);
      if (res.status === 200 || res.status === 201) {
        // A setup that did not happen must not be recorded as done.
        this.client.expectBody(c, res, setupDoneSchema, '{"initialized": true}');
        return 'initialized';
      }
      if (res.status === 409) return 'already-initialized';
      throw this.refused(c, res);
    } catch (err) {
      // Messages never hold the request body, but they quote the answer, and
      // a service may echo what it was sent. Aborts pass as they are: their
      // reason is the caller's own.
      if (signal?.aborted) throw err;
      throw withoutSecret(err, admin.password);
    }
  }

  async listNodes(signal?: AbortSignal): Promise<IamNodeRegistration[]> {
    const c = call('GET', ROUTES.nodes, 'list registered nodes', signal);
    const res = await this.client.call(c);
    if (res.status !== 200) throw this.refused(c, res);
    return this.client.expectBody(c, res, nodeListSchema, `{"nodes": [${NODE}]}`).nodes.map(toRegistration);
  }

  /**
   * PUT replaces the registration whole, so a retry or a repeat cannot do
   * harm. A 200 or 201 carries the registration as stored: one that is not
   * the registration sent was not made.
   */
  async registerNode(node: IamNodeRegistration, signal?: AbortSignal): Promise<void> {
    const body = toRegistration(node);
    const c: ServiceCall = { ...call('PUT', ROUTES.node(node.id), `register node ${node.id} (role ${node.role})`, signal), body };
    const res = await this.client.call(c);
    if (res.status === 204) return;
    if (res.status !== 200 && res.status !== 201) throw this.refused(c, res);
    const stored = toRegistration(this.client.expectBody(c, res, nodeSchema, `${NODE}, the registration as stored`));
    if (JSON.stringify(stored) !== JSON.stringify(body)) {
      throw this.client.badAnswer(c, res, `it holds ${JSON.stringify(stored)}, not the registration sent, ${JSON.stringify(body)}`);
    }
  }

  /** A DELETE retried after its answer was lost sees 404: 'not-registered' is the same end state. */
  async deregisterNode(id: string, signal?: AbortSignal): Promise<'removed' | 'not-registered'> {
    const c = call('DELETE', ROUTES.node(id), `deregister node ${id}`, signal);
    const res = await this.client.call(c);
    if (res.status === 200 || res.status === 202 || res.status === 204) {
      this.client.expectNoneOrObject(c, res, id);
      return 'removed';
    }
    if (res.status === 404) return 'not-registered';
    throw this.refused(c, res);
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  /** SERVICE_ERROR for an answer that retrying would not change. */
  private refused(c: ServiceCall, res: ServiceResponse): MembershipError {
    const clientError = res.status >= 400 && res.status < 500;
    return this.client.unexpected(c, res, clientError ? 'IAM refused the request; not retried' : undefined);
  }
}

function call(method: ServiceCall['method'], path: string, what: string, signal: AbortSignal | undefined): ServiceCall {
  return { method, path, what, ...(signal ? { signal } : {}) };
}

/** Only the contract's fields, and no `undefined` keys: JSON drops them, deepEqual would not. */
function toRegistration(n: IamNodeRegistration): IamNodeRegistration {
  return { id: n.id, role: n.role, ...(n.fqdn !== undefined ? { fqdn: n.fqdn } : {}), ...(n.ip !== undefined ? { ip: n.ip } : {}) };
}

/**
 * The same error with the password cut out of its message, and without its
 * cause: the cause chain holds the raw answer, and loggers print causes.
 */
function withoutSecret(err: unknown, password: string): unknown {
  if (!(err instanceof Error) || password === '') return err;
  const message = err.message.replaceAll(password, '[redacted]');
  if (err instanceof MembershipError) return new MembershipError(err.code, message);
  return new MembershipError('UNAVAILABLE', `IAM: initial admin setup (POST ${ROUTES.bootstrap}) failed: ${message}`);
}

export interface AdminSecret {
  user: string;
  password: string;
}

/**
 * The admin secret file is JSON `{"user": "...", "password": "..."}`: JSON
 * keeps a password's leading or trailing spaces and newlines exact, where a
 * line format would have to guess what an editor's final newline means.
 */
const AdminSecretFile = z.object({ user: z.string().min(1), password: z.string().min(1) });

/**
 * Reads the IAM admin secret (`iam.adminSecretFile` of the controller's
 * config). Refused when group or others may access it. Errors name the field
 * and the file and what to do, never its content (not even the parser's
 * message, which quotes the text it choked on).
 */
export async function readAdminSecret(path: string, field = 'iam.adminSecretFile'): Promise<AdminSecret> {
  const text = readSecretFile(field, path, { insecureKey: 'refuse' });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new MembershipError(
      'CONFIG_INVALID',
      `${field}: ${path} is not valid JSON; expected {"user": "...", "password": "..."}`,
    );
  }
  const parsed = AdminSecretFile.safeParse(json);
  if (!parsed.success) {
    // Only the field names: a zod message could echo a value.
    const fields = [...new Set(parsed.error.issues.map((i) => i.path.join('.') || '(top level)'))];
    throw new MembershipError(
      'CONFIG_INVALID',
      `${field}: ${path} is invalid at ${fields.join(', ')}: ` +
        `expected a JSON object {"user": "...", "password": "..."} with non-empty strings`,
    );
  }
  return { user: parsed.data.user, password: parsed.data.password };
}
