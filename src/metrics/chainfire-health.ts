/**
 * The controller's /healthz: Chainfire as it reports itself. Not healthy
 * while etcd has an alarm raised (NOSPACE: the database reached its
 * --quota-backend-bytes and takes no more writes, so no status, operation or
 * election write of the controller lands; CORRUPT), nor while none of the
 * endpoints' own /health says healthy, nor while Chainfire cannot be reached.
 */
import type { Etcd3 } from 'etcd3';
import type { Dispatcher } from 'undici';
import { memberHealth } from '../drivers/chainfire.js';
import { createDispatcher } from '../drivers/http.js';
import { errorMessage } from '../errors.js';
import type { ConnectionOptions } from '../store/connection-options.js';
import { NO_SPACE_ADVICE } from '../store/etcd-lite/explain.js';

export interface HealthAnswer {
  ok: boolean;
  detail: string;
}

/** What an alarm means, for the body of /healthz. */
const ALARM_MEANING: Record<string, string> = {
  NOSPACE: `database space exceeded: ${NO_SPACE_ADVICE}`,
  CORRUPT: 'the members\' data differ (etcd found an inconsistency): restore the corrupt member from a snapshot, then run etcdctl alarm disarm',
};

/** etcd's member ids are unsigned 64-bit decimals on the wire; etcdctl and the status records show them in hex. */
function hexId(id: string): string {
  try {
    return BigInt(id).toString(16);
  } catch {
    return id;
  }
}

/** One dispatcher per client, for the endpoints' /health over the connection's TLS files. */
const dispatchers = new WeakMap<Etcd3, Dispatcher | undefined>();

function dispatcherFor(client: Etcd3, connection: ConnectionOptions): Dispatcher | undefined {
  if (!dispatchers.has(client)) {
    const c = connection;
    dispatchers.set(
      client,
      c.cacert
        ? createDispatcher(
            { caFile: c.cacert, ...(c.cert ? { certFile: c.cert } : {}), ...(c.key ? { keyFile: c.key } : {}) },
            { names: { ca: '--cacert', cert: '--cert', key: '--key' } },
          )
        : undefined,
    );
  }
  return dispatchers.get(client);
}

/**
 * Chainfire's health as it reports it: its alarm list, then the /health of
 * the connection's endpoints (healthy when at least one says so: a member
 * down in a cluster with quorum is no reason to restart the controller).
 */
export async function chainfireHealth(client: Etcd3, connection: ConnectionOptions, timeoutMs = 2000): Promise<HealthAnswer> {
  let alarms: Array<{ memberID: string; alarm: string }>;
  try {
    alarms = (await client.maintenance.alarm({ action: 'Get' })).alarms.map((a) => ({ memberID: String(a.memberID), alarm: String(a.alarm).toUpperCase() }));
  } catch (err) {
    return { ok: false, detail: `Chainfire unreachable: ${errorMessage(err)}` };
  }
  const raised = alarms.filter((a) => a.alarm !== 'NONE');
  if (raised.length > 0) {
    const kinds = [...new Set(raised.map((a) => a.alarm))];
    const said = kinds.map((kind) => {
      const members = raised.filter((a) => a.alarm === kind).map((a) => hexId(a.memberID));
      return `alarm ${kind} on member${members.length > 1 ? 's' : ''} ${members.join(', ')} (${ALARM_MEANING[kind] ?? 'see etcdctl alarm list'})`;
    });
    return { ok: false, detail: `Chainfire reports itself unhealthy: ${said.join('; ')}` };
  }
  const dispatcher = dispatcherFor(client, connection);
  const answers = await Promise.all(connection.endpoints.map((e) => memberHealth(e, timeoutMs, dispatcher)));
  const healthy = answers.find((a) => a.healthy);
  if (healthy === undefined) {
    return { ok: false, detail: `Chainfire reports itself unhealthy: ${answers.map((a) => a.detail).join('; ')}` };
  }
  return { ok: true, detail: `Chainfire healthy: no alarm raised; ${healthy.detail}` };
}
