// What `npm pack` ships: the three programs built by prepack's clean package
// build (tsconfig.build.json), the CRDs, the deployment files, the docs and
// the README, and no test code, test fixture, TypeScript source or source map.
// The package is packed from a copy of the checkout, as nix/package.nix sees
// it, with a stale build output left in its dist/ to show that prepack starts
// from an empty dist/.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '../support/fixtures.js';
import { copyCheckout, packedFiles } from '../support/package.js';

/** A shipped path that is test code or test data. */
function isTest(path: string): boolean {
  return /\.test\./.test(path) || path.startsWith('test/') || /(^|\/)test-[^/]*$/.test(path) || /fixture/i.test(path);
}

describe('npm pack', () => {
  let dir: string;
  let files: string[];
  let bin: Record<string, string>;

  before(async () => {
    dir = await tempDir('package-');
    await copyCheckout(dir);
    await mkdir(join(dir, 'dist', 'src'), { recursive: true });
    await writeFile(join(dir, 'dist', 'src', 'stale.js'), '// left from an earlier build\n');
    files = await packedFiles(dir);
    bin = (JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { bin: Record<string, string> }).bin;
  });

  after(async () => {
    if (!process.env.KEEP_TEST_DIRS) await rm(dir, { recursive: true, force: true });
  });

  it('ships the three programs, built by prepack', () => {
    assert.deepEqual(Object.keys(bin).sort(), ['first-boot-agent', 'membership-controller', 'membershipctl']);
    for (const [name, path] of Object.entries(bin)) assert.ok(files.includes(path), `${name}: ${path} is not in the package`);
    assert.ok(!files.includes('dist/src/stale.js'), 'prepack builds into an empty dist/');
  });

  it('ships no test, no test fixture, no TypeScript source and no source map', () => {
    assert.deepEqual(files.filter(isTest), [], 'test code or data in the package');
    assert.deepEqual(files.filter((f) => /\.ts$|\.map$/.test(f)), [], 'sources or source maps in the package');
  });

  it('ships the built program, crds/, deploy/, docs/ and the README, and nothing else', () => {
    const outside = files.filter((f) => !/^(dist\/src|crds|deploy|docs)\//.test(f) && !['README.md', 'package.json'].includes(f));
    assert.deepEqual(outside, []);
    for (const f of ['README.md', 'crds/nodememberships.membership.photoncloud.io.yaml', 'deploy/systemd/membership-controller.service',
      'deploy/prometheus/alerts.yml', 'docs/install.md']) {
      assert.ok(files.includes(f), `${f} is not in the package`);
    }
  });
});
