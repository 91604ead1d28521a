// `--version` and `-V` of the three programs: the release from src/version.ts
// (package.json's version) on stdout, exit 0, before any flag is checked or
// Chainfire is contacted.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { binPath, repoRoot, runProcess, type BinName } from '../support/processes.js';
import { VERSION } from '../../src/version.js';

const PROGRAMS: BinName[] = ['membership-controller', 'first-boot-agent', 'membershipctl'];

async function run(bin: BinName, args: string[]) {
  // No Chainfire anywhere: a program that tried to connect would fail or hang, not print its version.
  const env = { CHAINFIRE_ENDPOINTS: 'http://127.0.0.1:1', ETCDCTL_ENDPOINTS: undefined };
  return runProcess(process.execPath, [binPath(bin), ...args], { timeoutMs: 30_000, env });
}

describe('--version', () => {
  it("is package.json's version", async () => {
    const pkg = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    assert.equal(VERSION, pkg.version);
  });

  for (const bin of PROGRAMS) {
    for (const flag of ['--version', '-V']) {
      it(`${bin} ${flag} prints ${VERSION} and exits 0`, async () => {
        const r = await run(bin, [flag]);
        assert.equal(r.code, 0, `exit ${r.code}; stderr: ${r.stderr}`);
        assert.equal(r.stdout, `${VERSION}\n`);
        assert.equal(r.stderr, '');
      });
    }

    it(`${bin} --help lists -V, --version`, async () => {
      const r = await run(bin, ['--help']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^\s*-V, --version\s+print the version and exit$/m);
    });
  }

  it('ends the controller at once with the flags that would otherwise start it (Chainfire is unreachable here)', async () => {
    const r = await run('membership-controller', ['--lease-ttl', '10', '--metrics-addr', '127.0.0.1:0', '--version']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${VERSION}\n`);
  });
});
