/**
 * Failpoints for crash tests, in the manner of etcd's gofail: a comma list in
 * MEMBERSHIP_FAILPOINTS names the points at which the process kills itself
 * with SIGKILL, exactly as `kill -9` would at that moment. Unset in
 * production, where `hit()` costs one Set lookup.
 */
const armed = new Set(
  (process.env.MEMBERSHIP_FAILPOINTS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);

export function failpoint(name: string): void {
  if (armed.size > 0 && armed.has(name)) {
    process.stderr.write(`failpoint ${name}: killing the process\n`);
    process.kill(process.pid, 'SIGKILL');
  }
}
