// The npm package as `npm pack` and nix/package.nix make it, from a copy of the
// checkout, so that no test rebuilds or empties the developer's dist/.
import { cp, readdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot, runProcess } from './processes.js';

/** What nix/package.nix's source filter leaves out of a checkout. */
const NOT_SOURCE = new Set(['node_modules', 'dist', '.git', '.demo', 'result']);

/** Copies the checkout into `dir` as nix/package.nix's source filter does; node_modules is linked, not copied. */
export async function copyCheckout(dir: string): Promise<void> {
  for (const entry of await readdir(repoRoot)) {
    if (!NOT_SOURCE.has(entry)) await cp(join(repoRoot, entry), join(dir, entry), { recursive: true });
  }
  await symlink(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
}

/** Runs npm in `dir`; throws with its output when it fails. */
export async function npm(dir: string, args: string[]): Promise<string> {
  const r = await runProcess('npm', args, {
    cwd: dir,
    timeoutMs: 300_000,
    env: { npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' },
  });
  if (r.code !== 0) throw new Error(`npm ${args.join(' ')} in ${dir}: exit ${r.code}\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

/**
 * The paths `npm pack --dry-run --json` lists for the package in `dir`, sorted.
 * Without --ignore-scripts in `flags` this runs prepack first.
 */
export async function packedFiles(dir: string, flags: string[] = []): Promise<string[]> {
  const out = JSON.parse(await npm(dir, ['pack', '--dry-run', '--json', ...flags])) as { files: { path: string }[] }[];
  return out[0]!.files.map((f) => f.path).sort();
}
