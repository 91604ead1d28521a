/**
 * How a health endpoint's answer is judged, by the first-boot agent (its local
 * services, over Node's HTTP: src/agent/local-health.ts) and by the controller
 * (each Chainfire member, over undici: src/drivers/chainfire.ts) alike.
 */

export interface HealthResult {
  healthy: boolean;
  detail: string;
}

/** A service's health endpoint: `/health` on its URL. */
export function healthTarget(url: string): string {
  return new URL('/health', url).toString();
}

/**
 * One answer of a health endpoint, judged. etcd answers `/health` with
 * `{"health":"true"}`; any other status than 200, or a `health` field that
 * is not true, is unhealthy.
 */
export function judgeHealth(target: string, status: number, text: string): HealthResult {
  if (status !== 200) return { healthy: false, detail: `${target} answered HTTP ${status}` };
  try {
    const body = JSON.parse(text) as { health?: unknown } | null;
    if (body !== null && typeof body === 'object' && body.health !== undefined && String(body.health) !== 'true') {
      return { healthy: false, detail: `${target}: health=${String(body.health)}` };
    }
  } catch {
    // a non-JSON 200 is healthy: not every service answers like etcd
  }
  return { healthy: true, detail: `${target} answered HTTP 200` };
}
