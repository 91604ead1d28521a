import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import { NODE_NAME_RE } from './names.js';

export const API_VERSION = 'membership.photoncloud.io/v1alpha1';

export { NODE_NAME_RE, isValidNodeName, nodeNameProblem } from './names.js';

export const nodeName = z
  .string()
  .regex(NODE_NAME_RE, {
    message:
      'must be a DNS-1123 label: lowercase letters, digits and "-", starting and ending with a letter or digit, at most 63 characters',
  });

const HOST_PORT_RE = /^(\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?)):([1-9][0-9]{0,4})$/;

/** Explains why a string is not `host:port`, or undefined when it is one. */
export function hostPortProblem(s: string): string | undefined {
  const m = HOST_PORT_RE.exec(s);
  if (!m) return 'must be host:port (for example 10.0.1.13:2380), port 1-65535';
  const [, , ipv6, name] = m;
  if (ipv6 !== undefined && !isIPv6(ipv6)) return `${ipv6} is not an IPv6 address`;
  if (name !== undefined) {
    if (name.includes('..')) return `${name} is not a valid host name`;
    if (/^[0-9.]+$/.test(name) && !isIPv4(name)) return `${name} is not an IPv4 address`;
  }
  if (Number(m[5]) > 65535) return `port ${m[5]} is out of range 1-65535`;
  return undefined;
}

/** `host:port`, host a name, IPv4 or bracketed IPv6, port 1..65535. */
export const hostPort = z.string().superRefine((s, ctx) => {
  const problem = hostPortProblem(s);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

/** An http or https URL naming a host (and port), without credentials, path or query. */
export const httpUrl = z.string().superRefine((s, ctx) => {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be an http:// or https:// URL (for example https://10.0.1.13:2379)' });
    return;
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.hostname === '') {
    ctx.addIssue({ code: 'custom', message: 'must be an http:// or https:// URL (for example https://10.0.1.13:2379)' });
  } else if (u.username !== '' || u.password !== '') {
    ctx.addIssue({ code: 'custom', message: 'must not carry credentials (user:password@); use the credential flags or files' });
  } else if ((u.pathname !== '' && u.pathname !== '/') || u.search !== '' || u.hash !== '') {
    ctx.addIssue({ code: 'custom', message: 'must be scheme://host:port only, without a path or query' });
  }
});

export const roleEnum = z.enum(['control-plane', 'worker', 'all-in-one']);
export type NodeRole = z.infer<typeof roleEnum>;

/** Formats zod issues as `field: problem` lines, so every message names the field. */
export function formatIssues(error: z.ZodError, root = ''): string {
  return error.issues
    .map((issue) => {
      const path = [root, ...issue.path.map(String)].filter((p) => p !== '').join('.');
      return `${path || '(record)'}: ${issue.message}`;
    })
    .join('; ');
}
