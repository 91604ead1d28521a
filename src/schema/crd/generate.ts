/**
 * Writes the NodeMembership CRD to crds/, or with --check verifies that the
 * committed file still matches the zod schemas (for CI).
 *
 *   node dist/src/schema/crd/generate.js           # regenerate
 *   node dist/src/schema/crd/generate.js --check   # exit 1 if crds/ is stale
 */
import { readFileSync, writeFileSync, mkdirSync, realpathSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { buildNodeMembershipCrd, CRD_NAME } from './build.js';

/** The repository root: this file runs as dist/src/schema/crd/generate.js. */
export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

export const CRD_FILE = join(REPO_ROOT, 'crds', `${CRD_NAME}.yaml`);

/** The path as people see it in the repository, for messages. */
const CRD_FILE_SHOWN = relative(REPO_ROOT, CRD_FILE);

const HEADER = [
  '# Generated from the zod schemas in src/schema/ by `npm run gen:crd`',
  '# (node dist/src/schema/crd/generate.js). Do not edit by hand: change the',
  '# schema, regenerate, and commit both. `node dist/src/schema/crd/generate.js --check`',
  '# and src/schema/crd/build.test.ts fail while this file is out of date.',
].join('\n');

export function renderCrdYaml(): string {
  // lineWidth 0: never fold long descriptions, so a one-word change is a one-line diff.
  const body = stringify(buildNodeMembershipCrd(), { lineWidth: 0 });
  return `${HEADER}\n${body}`;
}

/** 1-based number of the first line where the two texts differ, or undefined when equal. */
export function firstDifferentLine(a: string, b: string): number | undefined {
  if (a === b) return undefined;
  const la = a.split('\n');
  const lb = b.split('\n');
  const n = Math.max(la.length, lb.length);
  for (let i = 0; i < n; i++) if (la[i] !== lb[i]) return i + 1;
  return n;
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export function main(argv: string[]): number {
  const args = argv.slice(2);
  const check = args.includes('--check');
  const unknown = args.filter((a) => a !== '--check');
  if (unknown.length > 0) {
    process.stderr.write(`generate-crd: unknown argument ${unknown.join(' ')}\nusage: generate-crd [--check]\n`);
    return 64;
  }

  const rendered = renderCrdYaml();
  const committed = readIfExists(CRD_FILE);
  if (check) {
    if (committed === rendered) {
      process.stdout.write(`${CRD_FILE_SHOWN} is up to date\n`);
      return 0;
    }
    const where =
      committed === undefined ? 'the file is missing' : `first difference at line ${firstDifferentLine(committed, rendered)}`;
    process.stderr.write(
      `${CRD_FILE_SHOWN} does not match the zod schemas in src/schema/ (${where}).\n` +
        'Run `npm run gen:crd` and commit the result.\n',
    );
    return 1;
  }

  if (committed === rendered) {
    process.stdout.write(`${CRD_FILE_SHOWN} unchanged\n`);
    return 0;
  }
  mkdirSync(dirname(CRD_FILE), { recursive: true });
  writeFileSync(CRD_FILE, rendered);
  process.stdout.write(`wrote ${CRD_FILE_SHOWN}\n`);
  return 0;
}

/** True when this module is the program node was asked to run, not an import (the test imports it). */
function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(resolve(entry)) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  process.exitCode = main(process.argv);
}
