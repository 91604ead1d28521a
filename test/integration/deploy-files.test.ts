// Checks the deployment files against the real tools: nix-instantiate parses
// every .nix file and evaluates the modules, systemd-analyze verifies every
// unit, and every unit's ExecStart is run against the built programs to show
// that they accept its flags.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, cp, mkdir, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { parseControllerConfig } from '../../src/controller/config.js';
import { binPath, controllerNodeOptions, runProcess } from '../support/processes.js';
import { DEFAULT_WORKERS } from '../../src/controller/controller.js';
import { tempDir } from '../support/fixtures.js';
import { copyCheckout, npm, packedFiles } from '../support/package.js';
import { NIX_DIR, STUB_STORE, evaluateNix, generatedJson, renderNixUnit, type NixConfig, type NixEvaluation } from '../support/nix-harness.js';
import { execArgv, parseEnvFile, parseUnit, value, words } from '../support/unit-files.js';

// binPath is <root>/dist/src/bin/<name>.js
const root = dirname(dirname(dirname(dirname(binPath('membershipctl')))));
const SYSTEMD_DIR = join(root, 'deploy', 'systemd');
const AGENT_UNITS = ['chainfire-cluster-join', 'flaredb-cluster-join', 'iam-initial-setup', 'cluster-health-check'];

async function nixFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith('.nix')).map((e) => join(e.parentPath, e.name)).sort();
}

describe('deployment files: NixOS modules, package and systemd units', () => {
  let dir: string;
  let shimDir: string;
  let nixEval: NixEvaluation;
  let traced = '';
  let missingConfig: string;

  before(async () => {
    dir = await tempDir('deploy-files-');
    missingConfig = join(dir, 'no-such-cluster-config.json');
    // systemd-analyze verify checks that each ExecStart binary exists and is
    // executable. On an installed host /usr/bin/first-boot-agent is npm's link
    // to dist/src/bin/first-boot-agent.js; this container has no such install,
    // so the copies verified below point ExecStart at launchers in a temp dir
    // that run the very same built programs (and are run below to prove it).
    shimDir = join(dir, 'bin');
    await mkdir(shimDir);
    for (const name of ['first-boot-agent', 'membership-controller', 'membershipctl'] as const) {
      const shim = join(shimDir, name);
      await writeFile(shim, `#!/bin/sh\nexec '${process.execPath}' '${binPath(name)}' "$@"\n`);
      await chmod(shim, 0o755);
    }
  });

  after(async () => {
    if (!process.env.KEEP_TEST_DIRS) await rm(dir, { recursive: true, force: true });
  });

  it('every .nix file parses (nix-instantiate --parse)', async () => {
    const files = await nixFiles(NIX_DIR);
    assert.deepEqual(files.map((f) => relative(root, f)), [
      'nix/modules/default.nix',
      'nix/modules/first-boot-automation.nix',
      'nix/modules/lib/connection-options.nix',
      'nix/modules/lib/hardening.nix',
      'nix/modules/membership-controller.nix',
      'nix/overlay.nix',
      'nix/package.nix',
    ]);
    for (const file of files) {
      const r = await runProcess('nix-instantiate', ['--parse', file], { timeoutMs: 30_000 });
      assert.equal(r.code, 0, `${file}:\n${r.stderr}`);
      assert.equal(r.stderr.trim(), '', `${file}: ${r.stderr}`);
    }
  });

  it('the modules evaluate, with stand-ins for nixpkgs, into the seed\'s units and a valid controller configuration', async () => {
    const tls = { caFile: '/etc/nixos/secrets/ca.crt', certFile: '/etc/nixos/secrets/node04.crt', keyFile: '/etc/nixos/secrets/node04.key' };
    const overrides = {
      firstBoot: {
        defaults: { enable: true, configFile: missingConfig, stateDir: join(dir, 'nix-state') },
        secured: {
          enable: true, configFile: missingConfig, stateDir: join(dir, 'nix-state'),
          endpoints: ['https://10.0.1.10:2379', 'https://10.0.1.11:2379'], tls,
          auth: { user: 'membership-agent-node04', passwordFile: '/etc/nixos/secrets/agent.password' },
          chainfirePort: 2379, timeout: 300,
        },
        noChainfireNoIam: { enable: true, enableChainfire: false, enableIAM: false },
        disabled: {},
        halfSet: { enable: true, tls: { certFile: tls.certFile }, auth: { user: 'membership-agent-node04' } },
        rebootGuard: {
          enable: true, configFile: missingConfig, endpoints: ['https://10.0.1.10:2379'], tls,
          rebootGuard: { enable: true, node: 'node04', reason: 'kernel upgrade', user: 'membership-operator', passwordFile: '/etc/nixos/secrets/operator.password', afterAutoUpgrade: true },
        },
        rebootGuardNoNode: { enable: true, rebootGuard: { enable: true } },
      },
      controller: {
        full: {
          enable: true,
          endpoints: ['https://10.0.1.10:2379'],
          tls: { caFile: tls.caFile, certFile: '/etc/photoncloud/controller.crt', keyFile: '/etc/photoncloud/controller.key' },
          auth: { user: 'membership-controller', passwordFile: '/etc/photoncloud/controller.password' },
          flaredb: { endpoints: ['https://10.0.1.10:2479'], tls: { caFile: tls.caFile, certFile: null, keyFile: null }, requestTimeoutMs: 5000, retries: 3, allowedLeaderHosts: ['10.0.1.13:2479'] },
          iam: { endpoints: ['https://10.0.1.10:8080'], tls: { caFile: tls.caFile, certFile: null, keyFile: null }, requestTimeoutMs: 2000, retries: 2, allowedLeaderHosts: [], adminSecretFile: '/etc/photoncloud/iam-admin.json' },
        },
        halfSet: {
          enable: true, endpoints: ['https://10.0.1.10:2379'],
          tls: { keyFile: '/etc/photoncloud/controller.key' }, auth: { passwordFile: '/etc/photoncloud/controller.password' },
        },
        snapshotsElsewhere: { enable: true, endpoints: ['https://10.0.1.10:2379'], snapshots: { dir: '/srv/chainfire-snapshots', onFailure: 'warn', maxCount: 3 } },
      },
    };
    ({ result: nixEval, traced } = await evaluateNix(dir, overrides));

    // package.nix (its dependencies: test/integration/nix-package.test.ts).
    assert.equal(nixEval.package.pname, 'photoncloud-membership');
    assert.equal(nixEval.package.npmBuildScript, 'build:package');
    assert.deepEqual(nixEval.package.npmPackFlags, ['--ignore-scripts']);
    assert.deepEqual(nixEval.package.keeps, [true, false, false, false]);

    const { defaults, secured, noChainfireNoIam, disabled, rebootGuard, rebootGuardNoNode } = nixEval.firstBoot;
    // The reboot guard: acquire with --wait, then reboot; after an upgrade only when the boot files differ.
    assert.ok(rebootGuard!.assertions!.every((a) => a.assertion), JSON.stringify(rebootGuard!.assertions));
    const guard = rebootGuard!.systemd!.services['membership-reboot']!;
    assert.match(String(guard.serviceConfig.ExecStart),
      /\/bin\/membershipctl" "disruption" "acquire" "node04" "--reason" "kernel upgrade" "--ttl" "30m" "--wait" "2h" "--endpoints" "https:\/\/10.0.1.10:2379" "--cacert" .* "--user" "membership-operator" "--key" "%d\/key" "--password-file" "%d\/etcd-password"$/);
    assert.deepEqual(guard.serviceConfig.LoadCredential, ['key:/etc/nixos/secrets/node04.key', 'etcd-password:/etc/nixos/secrets/operator.password']);
    assert.equal(guard.serviceConfig.ExecStartPost, '/run/current-system/sw/bin/systemctl reboot');
    assert.match(String(rebootGuard!.systemd!.services['nixos-upgrade']!.serviceConfig.ExecStartPost), /readlink \/run\/booted-system\/\$\$f.*start --no-block membership-reboot.service/);
    assert.ok(rebootGuardNoNode!.assertions!.some((a) => !a.assertion && /rebootGuard: node must name this node/.test(a.message)));
    assert.equal(defaults!.systemd!.services['membership-reboot'], undefined, 'no reboot guard unless enabled');
    assert.equal(disabled as unknown, null, 'a disabled module (mkIf false) defines nothing');
    for (const c of [defaults!, secured!]) {
      assert.ok(c.assertions!.every((a) => a.assertion), JSON.stringify(c.assertions));
      const units = c.systemd!.services;
      assert.deepEqual(Object.keys(units).sort(), [...AGENT_UNITS].sort());
      const cf = units['chainfire-cluster-join']!;
      assert.deepEqual(cf.after, ['network-online.target', 'chainfire.service']);
      assert.deepEqual(cf.before, ['flaredb-cluster-join.service']);
      const fd = units['flaredb-cluster-join']!;
      assert.deepEqual(fd.after, ['network-online.target', 'chainfire-cluster-join.service', 'flaredb.service']);
      assert.deepEqual(fd.requires, ['chainfire-cluster-join.service']);
      assert.deepEqual(units['iam-initial-setup']!.after, ['network-online.target', 'flaredb-cluster-join.service', 'iam.service']);
      assert.deepEqual(units['cluster-health-check']!.after, [
        'network-online.target', 'chainfire-cluster-join.service', 'flaredb-cluster-join.service', 'iam-initial-setup.service',
      ]);
      for (const name of AGENT_UNITS) {
        const s = units[name]!.serviceConfig;
        assert.equal(s.Type, 'oneshot', name);
        assert.equal(s.RemainAfterExit, name !== 'cluster-health-check', name);
        assert.equal(s.Restart, 'on-failure', name);
        assert.equal(s.RestartPreventExitStatus, '64 65 78', name);
      }
    }
    assert.match(String(defaults!.systemd!.services['chainfire-cluster-join']!.serviceConfig.ExecStart),
      /^"\/nix\/store\/[^"]+\/bin\/first-boot-agent" "join" "chainfire" "--config" "[^"]+" "--log-level" "info" "--state-dir" /);
    const securedStart = String(secured!.systemd!.services['chainfire-cluster-join']!.serviceConfig.ExecStart);
    for (const fragment of ['"--endpoints" "https://10.0.1.10:2379,https://10.0.1.11:2379"', '"--cacert" "/etc/nixos/secrets/ca.crt"',
      '"--key" "%d/key"', '"--user" "membership-agent-node04"', '"--timeout" "300s"', '"--local-url" "https://localhost:2379"']) {
      assert.ok(securedStart.includes(fragment), `${fragment} missing from ${securedStart}`);
    }
    assert.equal(secured!.systemd!.services['chainfire-cluster-join']!.serviceConfig.TimeoutStartSec, '480s');
    // Each join reports whether its service's data dir holds data.
    for (const [name, dataDir] of [['chainfire-cluster-join', '/var/lib/chainfire'], ['flaredb-cluster-join', '/var/lib/flaredb']] as const) {
      const start = String(defaults!.systemd!.services[name]!.serviceConfig.ExecStart);
      assert.ok(start.includes(`"--data-dir" "${dataDir}"`), `${name}: ${start}`);
    }
    const limited = noChainfireNoIam!.systemd!.services;
    assert.deepEqual(Object.keys(limited).sort(), ['cluster-health-check', 'flaredb-cluster-join']);
    assert.deepEqual(limited['flaredb-cluster-join']!.requires, [], 'no Requires= on a unit that is not defined');

    const controller = nixEval.controller.full!;
    assert.ok(controller.assertions!.every((a) => a.assertion));
    const svc = controller.systemd!.services['membership-controller']!.serviceConfig;
    assert.equal(svc.User, 'membership-controller');
    assert.equal(svc.DynamicUser, false);
    assert.equal(svc.ProtectSystem, 'strict');
    assert.equal(svc.NoNewPrivileges, true);
    assert.ok(controller.users!.users['membership-controller'], 'the system user is defined');
    const start = String(svc.ExecStart);
    assert.match(start, /"--config" "\/nix\/store\/[^"]+-membership-controller\.json"/);
    assert.ok(start.includes('"--password-file" "%d/etcd-password"'), start);
    assert.ok(start.includes(`"--workers" "${DEFAULT_WORKERS}"`), `the module's default workers are the controller's: ${start}`);
    // The V8 heap limit the benchmarks measured with, the same in the module and in deploy/systemd.
    const environment = controller.systemd!.services['membership-controller']!.environment;
    assert.equal(environment?.NODE_OPTIONS, controllerNodeOptions().join(' '));
    assert.match(environment?.NODE_OPTIONS ?? '', /^--max-old-space-size=\d+$/);

    // The generated configuration file is one the controller accepts.
    const json = generatedJson(traced)[0]?.[1];
    assert.ok(json, `no configuration file was generated:\n${traced}`);
    const parsed = parseControllerConfig(json, 'membership-controller.json');
    assert.deepEqual(parsed.iam?.endpoints, ['https://10.0.1.10:8080']);
    assert.equal(parsed.iam?.adminSecretFile, '/run/credentials/membership-controller.service/iam-admin-secret');
    assert.deepEqual(parsed.flaredb?.tls, { caFile: '/etc/nixos/secrets/ca.crt' });
    assert.deepEqual(parsed.flaredb?.allowedLeaderHosts, ['10.0.1.13:2479']);
    assert.equal(parsed.iam?.allowedLeaderHosts, undefined, 'left empty, it is left out of the file');
    assert.equal(parsed.chainfire.callTimeoutMs, 5000);
    // Snapshots of Chainfire in the controller's state directory, which systemd makes (mode 0700) and the controller is told of.
    assert.deepEqual(parsed.snapshots, {
      dir: '/var/lib/membership-controller/snapshots', onFailure: 'refuse', maxCount: 10, maxBytes: 1024 ** 3, minFreeBytes: 1024 ** 3, timeoutSeconds: 300,
    });
    assert.equal(svc.StateDirectory, 'membership-controller');
    assert.equal(svc.StateDirectoryMode, '0700');
    assert.ok(start.includes('"--state-dir" "/var/lib/membership-controller"'), start);
    assert.equal(svc.ReadWritePaths, undefined, 'the state directory needs no ReadWritePaths=');
    const elsewhere = nixEval.controller.snapshotsElsewhere!.systemd!.services['membership-controller']!.serviceConfig;
    assert.deepEqual(elsewhere.ReadWritePaths, ['-/srv/chainfire-snapshots'], 'a directory elsewhere is made writable under ProtectSystem=strict');
    const elsewhereJson = generatedJson(traced).map(([, text]) => parseControllerConfig(text, 'x').snapshots);
    assert.ok(elsewhereJson.some((x) => x?.dir === '/srv/chainfire-snapshots' && x.onFailure === 'warn' && x.maxCount === 3), JSON.stringify(elsewhereJson));

    // Both modules take the tls and auth assertions from nix/modules/lib/connection-options.nix.
    const failing = (c: NixConfig | undefined) => c!.assertions!.filter((a) => !a.assertion).map((a) => a.message);
    for (const [name, c] of [['first-boot-automation', nixEval.firstBoot.halfSet], ['membership-controller', nixEval.controller.halfSet]] as const) {
      assert.deepEqual(failing(c), [
        `services.${name}.tls: certFile and keyFile go together.`,
        `services.${name}.auth: user needs passwordFile (and passwordFile a user).`,
      ]);
    }
  });

  it('the package\'s build and install phases install no test and every module the programs load', async () => {
    // buildNpmPackage's phases over a copy of the checkout: npmBuildHook runs
    // `npm run $npmBuildScript`; npmInstallHook copies each file that
    // `npm pack --json --dry-run $npmPackFlags` lists into
    // $out/lib/node_modules/<name> (then the dependencies), and runs postInstall.
    const src = join(dir, 'install-src');
    await mkdir(src);
    await copyCheckout(src);
    await npm(src, ['run', nixEval.package.npmBuildScript]);
    const built = (await readdir(join(src, 'dist'), { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile())
      .map((e) => relative(join(src, 'dist'), join(e.parentPath, e.name)));
    assert.ok(built.includes(join('src', 'bin', 'membership-controller.js')), 'the build script builds the programs');
    assert.deepEqual(built.filter((f) => !f.startsWith('src/') || /\.test\.js$|\.map$/.test(f)), [], 'the build script builds no test');

    const out = join(dir, 'out');
    const pkg = join(out, 'lib', 'node_modules', 'photoncloud-membership');
    for (const file of await packedFiles(src, nixEval.package.npmPackFlags)) {
      await mkdir(join(pkg, dirname(file)), { recursive: true });
      await cp(join(src, file), join(pkg, file));
    }
    await symlink(join(root, 'node_modules'), join(pkg, 'node_modules'));
    const r = await runProcess('bash', ['-euo', 'pipefail', '-c', nixEval.package.postInstall], { timeoutMs: 30_000, env: { ...process.env, out } });
    assert.equal(r.code, 0, r.stderr);

    const left = (await readdir(join(pkg, 'dist'), { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile())
      .map((e) => relative(join(pkg, 'dist'), join(e.parentPath, e.name)));
    assert.ok(left.some((f) => f === join('src', 'bin', 'membership-controller.js')), 'the programs are installed');
    assert.deepEqual(left.filter((f) => f.startsWith('test/') || /(\.test|\/test-[^/]*)\.js(\.map)?$/.test(f)), [], 'tests in the package');
    const top = await readdir(pkg);
    for (const d of ['crds', 'deploy', 'docs']) assert.ok(top.includes(d), `${d}/ is installed`);

    // Every installed module loads (nothing imports what was left out), and each program answers --help.
    const modules = left.filter((f) => f.endsWith('.js') && !f.startsWith(join('src', 'bin')));
    const load = `for (const m of ${JSON.stringify(modules)}) await import('./dist/' + m);`;
    const imported = await runProcess(process.execPath, ['--input-type=module', '-e', load], { timeoutMs: 60_000, cwd: pkg });
    assert.equal(imported.code, 0, imported.stderr);
    for (const name of ['membership-controller', 'first-boot-agent', 'membershipctl']) {
      const help = await runProcess(process.execPath, [join(pkg, 'dist', 'src', 'bin', `${name}.js`), '--help'], { timeoutMs: 30_000 });
      assert.equal(help.code, 0, `${name} --help: ${help.stderr}`);
      assert.match(help.stdout, new RegExp(`Usage: ${name}`));
    }
  });

  it('systemd-analyze verify passes, without a warning, on the plain units and on the units the modules make', async () => {
    const plainDir = join(dir, 'plain');
    const nixDir = join(dir, 'from-nix');
    await mkdir(plainDir);
    await mkdir(nixDir);
    for (const file of (await readdir(SYSTEMD_DIR)).filter((f) => f.endsWith('.service'))) {
      const text = await readFile(join(SYSTEMD_DIR, file), 'utf8');
      // The copy's ExecStart points at the launchers (see before()).
      await writeFile(join(plainDir, file), text.replaceAll('/usr/bin/', `${shimDir}/`));
    }
    assert.ok(nixEval, 'the evaluation test ran first');
    const units = { ...nixEval.firstBoot.secured!.systemd!.services, ...nixEval.controller.full!.systemd!.services };
    for (const [name, u] of Object.entries(units)) {
      await writeFile(join(nixDir, `${name}.service`), renderNixUnit(u).replaceAll(`${STUB_STORE}/bin/`, `${shimDir}/`));
    }
    // Units named only in After= (chainfire.service, flaredb.service,
    // iam.service, network-online.target) need not exist: ordering against a
    // unit that is not loaded is no error. Requires= names only units verified
    // together here, so no stand-in units are needed.
    for (const d of [plainDir, nixDir]) {
      const files = (await readdir(d)).map((f) => join(d, f)).sort();
      assert.equal(files.length, 5, `${d}: ${files.join(', ')}`);
      const r = await runProcess('systemd-analyze', ['verify', '--man=no', '--recursive-errors=yes', ...files], { timeoutMs: 60_000 });
      assert.equal(r.code, 0, `${d}:\n${r.stdout}${r.stderr}`);
      // verify exits 0 even for unknown keys or bad values: it only warns.
      assert.equal(r.stderr.trim(), '', `${d}: systemd-analyze warned:\n${r.stderr}`);
    }
  });

  it('the plain units carry the seed\'s ordering, oneshot settings and RestartPreventExitStatus=64 65 78', async () => {
    const unit = async (name: string) => parseUnit(await readFile(join(SYSTEMD_DIR, `${name}.service`), 'utf8'));
    const cf = await unit('chainfire-cluster-join');
    assert.deepEqual(words(cf, 'Unit', 'After'), ['network-online.target', 'chainfire.service']);
    assert.deepEqual(words(cf, 'Unit', 'Before'), ['flaredb-cluster-join.service']);
    const fd = await unit('flaredb-cluster-join');
    assert.deepEqual(words(fd, 'Unit', 'After'), ['network-online.target', 'chainfire-cluster-join.service', 'flaredb.service']);
    assert.deepEqual(words(fd, 'Unit', 'Requires'), ['chainfire-cluster-join.service']);
    const iam = await unit('iam-initial-setup');
    assert.deepEqual(words(iam, 'Unit', 'After'), ['network-online.target', 'flaredb-cluster-join.service', 'iam.service']);
    for (const [u, service] of [[cf, 'CHAINFIRE'], [fd, 'FLAREDB']] as const) {
      assert.match(value(u, 'Service', 'ExecStart') ?? '', new RegExp(`--data-dir \\$\\{FIRST_BOOT_${service}_DATA_DIR\\}`));
    }
    const hc = await unit('cluster-health-check');
    assert.deepEqual(words(hc, 'Unit', 'After'), [
      'network-online.target', 'chainfire-cluster-join.service', 'flaredb-cluster-join.service', 'iam-initial-setup.service',
    ]);
    for (const name of AGENT_UNITS) {
      const u = await unit(name);
      assert.equal(value(u, 'Service', 'Type'), 'oneshot', name);
      assert.equal(value(u, 'Service', 'RemainAfterExit'), name === 'cluster-health-check' ? 'false' : 'true', name);
      assert.equal(value(u, 'Service', 'Restart'), 'on-failure', name);
      assert.equal(value(u, 'Service', 'RestartPreventExitStatus'), '64 65 78', name);
      assert.equal(value(u, 'Service', 'EnvironmentFile'), '-/etc/photoncloud/first-boot.env', name);
      assert.match(value(u, 'Service', 'ExecStart') ?? '', /^\/usr\/bin\/first-boot-agent /, name);
      assert.deepEqual(words(u, 'Install', 'WantedBy'), ['multi-user.target'], name);
    }
    const controller = await unit('membership-controller');
    assert.equal(value(controller, 'Service', 'User'), 'membership-controller');
    assert.equal(value(controller, 'Service', 'ProtectSystem'), 'strict');
    assert.equal(value(controller, 'Service', 'NoNewPrivileges'), 'true');
    assert.equal(value(controller, 'Service', 'EnvironmentFile'), '/etc/photoncloud/membership-controller.env');
    assert.equal(value(controller, 'Service', 'RestartPreventExitStatus'), '64 78');
    // The snapshots of Chainfire go to the state directory systemd makes for it (STATE_DIRECTORY, the controller's default).
    assert.equal(value(controller, 'Service', 'StateDirectory'), 'membership-controller');
    assert.equal(value(controller, 'Service', 'StateDirectoryMode'), '0700');
  });

  it('the sysusers file creates the user membership-controller.service runs as (dry run in an empty root)', async () => {
    const sysroot = join(dir, 'sysroot');
    await mkdir(join(sysroot, 'etc'), { recursive: true });
    const r = await runProcess('systemd-sysusers', ['--root', sysroot, '--dry-run', join(SYSTEMD_DIR, 'photoncloud-membership.sysusers.conf')], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /Creating user 'membership-controller'/);
    assert.doesNotMatch(r.stdout + r.stderr, /ignoring|Failed/i);
  });

  it('every ExecStart, expanded as systemd would, is accepted by the built programs (a missing config gives 78, not a usage error)', async () => {
    const stateDir = join(dir, 'plain-state');
    const agentEnv = {
      ...parseEnvFile(await readFile(join(SYSTEMD_DIR, 'first-boot.env.example'), 'utf8')),
      FIRST_BOOT_CONFIG: missingConfig,
      FIRST_BOOT_STATE_DIR: stateDir,
    };
    const controllerEnv = parseEnvFile(await readFile(join(SYSTEMD_DIR, 'membership-controller.env.example'), 'utf8'));
    const runs: { unit: string; argv: string[]; env: Record<string, string> }[] = [];
    for (const file of (await readdir(SYSTEMD_DIR)).filter((f) => f.endsWith('.service'))) {
      const u = parseUnit(await readFile(join(SYSTEMD_DIR, file), 'utf8'));
      const defaults = parseEnvFile((u.get('Service')?.get('Environment') ?? []).join('\n'));
      const env = { ...defaults, ...(file === 'membership-controller.service' ? controllerEnv : agentEnv) };
      runs.push({ unit: `deploy/systemd/${file}`, argv: execArgv(value(u, 'Service', 'ExecStart')!, env), env });
    }
    const secured = nixEval.firstBoot.secured!.systemd!.services;
    for (const [name, u] of Object.entries({ ...secured, ...nixEval.controller.full!.systemd!.services })) {
      // %d: the unit's credentials directory (the key and password files are credentials).
      runs.push({ unit: `nix ${name}`, argv: execArgv(String(u.serviceConfig.ExecStart), {}, { d: join(dir, 'credentials') }), env: {} });
    }
    assert.equal(runs.length, 10);
    for (const { unit, argv, env } of runs) {
      const program = basename(argv[0]!);
      assert.ok(['first-boot-agent', 'membership-controller'].includes(program), `${unit}: ${argv[0]}`);
      const r = await runProcess(join(shimDir, program), argv.slice(1), { env: { CHAINFIRE_ENDPOINTS: env.CHAINFIRE_ENDPOINTS ?? '' }, timeoutMs: 30_000 });
      const out = r.stdout + r.stderr;
      assert.equal(r.code, 78, `${unit}: ${argv.join(' ')}\nexit ${r.code}:\n${out}`);
      assert.doesNotMatch(out, /unknown option|too many arguments|missing required/i, unit);
      assert.match(out, /cluster-config|membership-controller\.json|no-such-cluster-config/, `${unit}: the error names the config\n${out}`);
    }
  });
});
