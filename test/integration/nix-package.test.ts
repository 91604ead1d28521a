// What nixpkgs users expect of nix/: a package with no placeholder hash (its
// npm dependencies fetched by the lockfile's own integrity hashes), a
// package option made by mkPackageOption and filled by nix/overlay.nix, the
// programs on the system PATH, the controller's settings through
// pkgs.formats.json, secrets as LoadCredential= credentials, and openFirewall
// for the metrics port. Evaluated with stand-ins for nixpkgs
// (test/support/nix-harness.ts).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseControllerConfig } from '../../src/controller/config.js';
import { tempDir } from '../support/fixtures.js';
import { NIX_DIR, STUB_STORE, evaluateNix, generatedJson, type NixEvaluation } from '../support/nix-harness.js';
import { repoRoot } from '../support/processes.js';

const CREDENTIALS = '/run/credentials/membership-controller.service';

/** The tarball npm fetches a lockfile entry from when it names no `resolved` (its default registry). */
function registryTarball(path: string, entry: { name?: string; version?: string }): string {
  const name = entry.name ?? path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
  return `https://registry.npmjs.org/${name}/-/${name.split('/').at(-1)}-${entry.version}.tgz`;
}

describe('nix/: the package and the modules as nixpkgs users expect them', () => {
  let dir: string;
  let nix: NixEvaluation;
  let traced: string;

  before(async () => {
    dir = await tempDir('nix-package-');
    const secrets = '/etc/nixos/secrets';
    ({ result: nix, traced } = await evaluateNix(dir, {
      firstBoot: {
        secured: { enable: true, tls: { caFile: `${secrets}/ca.crt`, certFile: `${secrets}/node04.crt`, keyFile: `${secrets}/node04.key` }, auth: { user: 'agent', passwordFile: `${secrets}/agent.password` } },
        plain: { enable: true },
      },
      controller: {
        secrets: {
          enable: true, endpoints: ['https://10.0.1.10:2379'],
          tls: { caFile: `${secrets}/ca.crt`, certFile: `${secrets}/controller.crt`, keyFile: `${secrets}/controller.key` },
          auth: { user: 'membership-controller', passwordFile: `${secrets}/controller.password` },
          flaredb: { endpoints: ['https://10.0.1.10:2479'], tls: { caFile: `${secrets}/ca.crt`, certFile: `${secrets}/fdb.crt`, keyFile: `${secrets}/fdb.key` }, requestTimeoutMs: 5000, retries: 3, allowedLeaderHosts: [] },
          iam: { endpoints: ['https://10.0.1.10:8080'], tls: { caFile: `${secrets}/ca.crt`, certFile: null, keyFile: null }, requestTimeoutMs: 5000, retries: 3, allowedLeaderHosts: [], adminSecretFile: `${secrets}/iam-admin.json` },
          settings: { snapshots: { timeoutSeconds: 600 }, flaredb: { allowedLeaderHosts: ['flaredb-4.example'] } },
        },
        open: { enable: true, endpoints: ['http://10.0.1.10:2379'], metricsAddr: '0.0.0.0:9477', openFirewall: true },
        closed: { enable: true, endpoints: ['http://10.0.1.10:2379'], metricsAddr: '0.0.0.0:9477' },
        loopback: { enable: true, endpoints: ['http://10.0.1.10:2379'], openFirewall: true },
        off: { enable: true, endpoints: ['http://10.0.1.10:2379'], metricsAddr: 'off', openFirewall: true },
      },
    }));
  });

  after(async () => {
    if (dir && !process.env.KEEP_TEST_DIRS) await rm(dir, { recursive: true, force: true });
  });

  it('package.nix has no placeholder hash: importNpmLock fetches every locked package by its own integrity hash', async () => {
    const text = await readFile(join(NIX_DIR, 'package.nix'), 'utf8');
    for (const placeholder of [/fakeHash/, /fakeSha256/, /sha256-A{20,}/, /\b0{52}\b/, /npmDepsHash\s*=/]) assert.doesNotMatch(text, placeholder);
    assert.equal(nix.package.hasNpmDepsHash, false);
    assert.equal(nix.package.npmConfigHook, 'importNpmLock.npmConfigHook');
    assert.equal(nix.package.npmDeps.npmRoot, repoRoot);
    assert.equal(nix.package.npmDeps.package.name, 'photoncloud-membership');

    // Every package of package-lock.json, each with a URL to fetch and the hash to check it by.
    const lock = JSON.parse(await readFile(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string; resolved?: string; integrity?: string; name?: string }> };
    const given = nix.package.npmDeps.packageLock.packages;
    assert.deepEqual(Object.keys(given).sort(), Object.keys(lock.packages).sort());
    const deps = Object.entries(lock.packages).filter(([path]) => path !== '');
    assert.ok(deps.length > 10, 'the lockfile lists the dependencies');
    for (const [path, entry] of deps) {
      assert.match(entry.integrity ?? '', /^sha512-[A-Za-z0-9+/]+=*$/, `${path}: the lockfile's integrity hash`);
      assert.equal(given[path]!.integrity, entry.integrity, path);
      assert.equal(given[path]!.resolved, entry.resolved ?? registryTarball(path, entry), path);
    }
    // Scoped and nested packages.
    assert.equal(given['node_modules/@grpc/grpc-js']?.resolved, `https://registry.npmjs.org/@grpc/grpc-js/-/grpc-js-${lock.packages['node_modules/@grpc/grpc-js']!.version}.tgz`);
    const nested = deps.find(([path]) => path.split('node_modules/').length > 2);
    if (nested) assert.equal(given[nested[0]]!.resolved, registryTarball(nested[0], nested[1]));
  });

  it('the package option is mkPackageOption\'s pkgs.photoncloud-membership, which the overlay (applied by modules/default.nix) provides', () => {
    for (const option of Object.values(nix.packageOptions)) {
      assert.equal(option.default, STUB_STORE);
      assert.equal(option.defaultText.text, 'pkgs.photoncloud-membership');
      assert.equal(option.type, 'package');
    }
    assert.equal(nix.overlay.path, join(NIX_DIR, 'package.nix'));
    assert.deepEqual(nix.overlay.args, {});
    assert.deepEqual(nix.modules.imports, [join(NIX_DIR, 'modules', 'first-boot-automation.nix'), join(NIX_DIR, 'modules', 'membership-controller.nix')]);
    assert.equal(nix.modules.overlays, 1);
  });

  it('puts the programs (membershipctl among them) on the system PATH', () => {
    assert.deepEqual(nix.controller.closed!.environment!.systemPackages, [STUB_STORE]);
    assert.deepEqual(nix.firstBoot.plain!.environment!.systemPackages, [STUB_STORE]);
  });

  it('writes the controller\'s configuration with pkgs.formats.json: the options\' fields with settings merged over them', () => {
    const files = generatedJson(traced);
    assert.ok(files.every(([name]) => name === 'membership-controller.json'), files.map(([n]) => n).join(', '));
    // The cases are evaluated in name order: closed, loopback, off, open, secrets.
    const config = parseControllerConfig(files.at(-1)![1], 'membership-controller.json');
    assert.equal(config.snapshots?.timeoutSeconds, 600, 'from settings');
    assert.equal(config.snapshots?.maxCount, 10, 'from the options');
    assert.deepEqual(config.flaredb?.allowedLeaderHosts, ['flaredb-4.example']);
    assert.deepEqual(config.flaredb?.endpoints, ['https://10.0.1.10:2479']);
  });

  it('hands every secret over as a credential: LoadCredential= from the file, %d or the credentials directory in its place', () => {
    const unit = nix.controller.secrets!.systemd!.services['membership-controller']!;
    const s = '/etc/nixos/secrets';
    assert.deepEqual(unit.serviceConfig.LoadCredential, [
      `key:${s}/controller.key`, `etcd-password:${s}/controller.password`, `flaredb-key:${s}/fdb.key`, `iam-admin-secret:${s}/iam-admin.json`,
    ]);
    const start = String(unit.serviceConfig.ExecStart);
    assert.ok(start.endsWith(' "--key" "%d/key" "--password-file" "%d/etcd-password"'), start);
    assert.ok(start.includes(`"--cert" "${s}/controller.crt"`), start);
    assert.doesNotMatch(start, /controller\.key|controller\.password/);
    const config = parseControllerConfig(generatedJson(traced).at(-1)![1], 'x');
    assert.equal(config.flaredb?.tls?.keyFile, `${CREDENTIALS}/flaredb-key`);
    assert.equal(config.flaredb?.tls?.certFile, `${s}/fdb.crt`);
    assert.equal(config.iam?.adminSecretFile, `${CREDENTIALS}/iam-admin-secret`);
    assert.doesNotMatch(generatedJson(traced).at(-1)![1], /fdb\.key|iam-admin\.json/, 'no secret\'s own path in the store');

    for (const [name, u] of Object.entries(nix.firstBoot.secured!.systemd!.services)) {
      assert.deepEqual(u.serviceConfig.LoadCredential, [`key:${s}/node04.key`, `etcd-password:${s}/agent.password`], name);
      assert.match(String(u.serviceConfig.ExecStart), /"--key" "%d\/key" "--password-file" "%d\/etcd-password"$/, name);
    }
    for (const [name, u] of Object.entries(nix.firstBoot.plain!.systemd!.services)) assert.deepEqual(u.serviceConfig.LoadCredential, [], name);
  });

  it('openFirewall opens the metrics port; not by default; refused without a port, warned about on loopback', () => {
    assert.deepEqual(nix.controller.open!.networking!.firewall.allowedTCPPorts, [9477]);
    assert.deepEqual(nix.controller.open!.warnings, []);
    assert.deepEqual(nix.controller.closed!.networking!.firewall.allowedTCPPorts, []);
    const failing = nix.controller.off!.assertions!.filter((a) => !a.assertion).map((a) => a.message);
    assert.deepEqual(failing, ['services.membership-controller.openFirewall: metricsAddr (off) names no port to open.']);
    assert.deepEqual(nix.controller.loopback!.warnings, [
      'services.membership-controller.openFirewall opens port 9477, but metricsAddr 127.0.0.1:9477 listens on loopback only',
    ]);
  });
});
