import { isIPv4, isIPv6 } from 'node:net';
import { MembershipError } from '../errors.js';

/**
 * Which hosts a service may send a call to when it names a leader (`503
 * {"leader": url}`, a 307/308 `Location`, the member list's `leader`): the
 * hosts of its configured endpoints, and the hosts the operator lists in
 * `allowedLeaderHosts`. Anything else is refused: a replica that names
 * another host, by mistake or on purpose, must not make the controller send
 * requests, a client certificate or IAM's admin password there.
 *
 * A host is a name or address and a port: `10.0.1.10:2479` and
 * `10.0.1.10:2480` are two hosts. An `allowedLeaderHosts` entry without a
 * port allows every port of that host.
 */

interface Host {
  /** as URL.hostname has it: lower case, IPv6 in brackets and compressed */
  hostname: string;
  /** undefined: any port (an allowedLeaderHosts entry without one) */
  port: number | undefined;
}

const NAME = /^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*\.?$/;
const ENTRY = /^(\[[^\]]*\]|[^:/[\]@?#*\s]+)(?::([0-9]{1,5}))?$/;

/** Why `entry` is not `host` or `host:port`, or undefined when it is one. */
export function leaderHostProblem(entry: string): string | undefined {
  const parsed = parseEntry(entry);
  return typeof parsed === 'string' ? parsed : undefined;
}

function parseEntry(entry: string): Host | string {
  if (entry === '') return 'must not be empty: a host name or address, optionally with :port';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(entry)) return 'must be a host or host:port, not a URL: drop the scheme (for example 10.0.1.11:2479)';
  const m = ENTRY.exec(entry);
  if (!m) return 'must be a host or host:port (for example 10.0.1.11 or 10.0.1.11:2479), without a path, a wildcard or credentials';
  const [, host = '', port] = m;
  if (host.startsWith('[')) {
    if (!isIPv6(host.slice(1, -1))) return `${host} is not an IPv6 address`;
  } else if (!NAME.test(host)) {
    return `${host} is not a host name or an IP address`;
  } else if (/^[0-9.]+$/.test(host) && !isIPv4(host)) {
    return `${host} is not an IPv4 address`;
  }
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) return `port ${port} is out of range 1-65535`;
  return { hostname: new URL(`http://${host}`).hostname, port: port === undefined ? undefined : Number(port) };
}

/** The host of an http(s) URL, its port made explicit. */
function hostOf(url: URL): Host {
  return { hostname: url.hostname, port: url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80 };
}

const show = (h: Host): string => (h.port === undefined ? h.hostname : `${h.hostname}:${h.port}`);

export class LeaderHosts {
  private readonly configured: Host[];
  private readonly allowed: Host[];

  /**
   * @param field the config field that lists more hosts, for messages: `flaredb.allowedLeaderHosts`
   * @throws CONFIG_INVALID naming the field for an entry that is not `host` or `host:port`
   */
  constructor(
    private readonly service: string,
    private readonly field: string,
    endpoints: readonly string[],
    allowedLeaderHosts: readonly string[] = [],
  ) {
    this.configured = endpoints.map((e) => hostOf(new URL(e)));
    this.allowed = allowedLeaderHosts.map((entry, i) => {
      const parsed = parseEntry(entry);
      if (typeof parsed === 'string') throw new MembershipError('CONFIG_INVALID', `${field}.${i}: ${JSON.stringify(entry)} ${parsed}`);
      return parsed;
    });
  }

  /** Why a call may not go to `url`, or undefined when it may. */
  refusal(url: URL): string | undefined {
    const h = hostOf(url);
    if (this.configured.some((c) => c.hostname === h.hostname && c.port === h.port)) return undefined;
    if (this.allowed.some((a) => a.hostname === h.hostname && (a.port === undefined || a.port === h.port))) return undefined;
    return `${show(h)} is neither one of ${this.service}'s configured endpoints nor listed in ${this.field}`;
  }
}
