// Evaluates nix/package.nix, nix/overlay.nix and the NixOS modules with
// nix-instantiate, with stand-ins for the parts of nixpkgs they use (there is
// no nixpkgs checkout here), and renders the units they define as NixOS
// writes unit files.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot, runProcess } from './processes.js';

export const NIX_DIR = join(repoRoot, 'nix');
/** The store path the stand-in pkgs.photoncloud-membership has. */
export const STUB_STORE = '/nix/store/00000000000000000000000000000000-photoncloud-membership-0.1.0';

// Debian's nix-bin names a build-users-group (nixbld) that need not exist here; parsing and evaluating build nothing.
process.env.NIX_CONFIG = 'build-users-group =';

const nixPath = (...parts: string[]) => JSON.stringify(join(NIX_DIR, ...parts));

/**
 * Stand-ins for nixpkgs: options become their defaults (overridden per
 * case), mkIf is resolved, escapeSystemdExecArgs quotes as nixpkgs' utils
 * does, mkPackageOption defaults to pkgs.<name> as nixpkgs' does, and
 * pkgs.formats.json's generate traces the JSON it would write (which is how
 * a test reads the generated configuration file). importNpmLock returns
 * what it was given, so that the lockfile it would fetch from can be read.
 */
const HARNESS = `
{ overrides }:
let
  lib = rec {
    mkOption = o: o // { _isOption = true; };
    mkEnableOption = d: { _isOption = true; default = false; description = d; };
    mkPackageOption = pkgs: name: { ... }: {
      _isOption = true; type = types.package; default = pkgs.\${name};
      defaultText = literalExpression "pkgs.\${name}"; description = "The \${name} package to use.";
    };
    mkIf = condition: content: { _type = "if"; inherit condition content; };
    optionals = c: l: if c then l else [ ];
    optionalAttrs = c: a: if c then a else { };
    filterAttrs = p: a: builtins.listToAttrs (builtins.filter (x: p x.name x.value)
      (map (name: { inherit name; value = a.\${name}; }) (builtins.attrNames a)));
    mapAttrs = builtins.mapAttrs;
    recursiveUpdate = a: b: a // builtins.mapAttrs
      (n: v: if builtins.isAttrs v && builtins.isAttrs (a.\${n} or null) then recursiveUpdate a.\${n} v else v) b;
    concatStringsSep = builtins.concatStringsSep;
    hasPrefix = p: s: builtins.substring 0 (builtins.stringLength p) s == p;
    escapeRegex = builtins.replaceStrings
      [ "\\\\" "." "*" "+" "?" "(" ")" "[" "]" "{" "}" "|" "^" "$" ]
      [ "\\\\\\\\" "\\\\." "\\\\*" "\\\\+" "\\\\?" "\\\\(" "\\\\)" "\\\\[" "\\\\]" "\\\\{" "\\\\}" "\\\\|" "\\\\^" "\\\\$" ];
    splitString = sep: s: builtins.filter builtins.isString (builtins.split (escapeRegex sep) s);
    last = l: builtins.elemAt l (builtins.length l - 1);
    toInt = s: let m = builtins.match "0*([0-9]+)" s; in
      if m == null then throw "toInt: not a number: \${s}" else builtins.fromJSON (builtins.head m);
    importJSON = path: builtins.fromJSON (builtins.readFile path);
    literalExpression = text: { _type = "literalExpression"; inherit text; };
    cleanSourceWith = { src, filter }: { inherit filter; };
    platforms.linux = [ "x86_64-linux" ];
    types = {
      str = "str"; bool = "bool"; port = "port"; package = "package";
      nullOr = t: "nullOr"; listOf = t: "listOf"; enum = l: "enum"; submodule = m: "submodule";
      ints = { positive = "positive"; unsigned = "unsigned"; between = a: b: "between"; };
    };
  };
  pkgs = {
    photoncloud-membership = "${STUB_STORE}";
    formats.json = { }: {
      type = "json";
      generate = name: value: builtins.trace "formats.json \${name} \${builtins.toJSON value}" "/nix/store/00000000000000000000000000000000-\${name}";
    };
  };
  utils.escapeSystemdExecArgs = args: builtins.concatStringsSep " "
    (map (a: builtins.replaceStrings [ "%" "$" ] [ "%%" "$$" ] (builtins.toJSON a)) args);

  defaultsOf = opts: builtins.mapAttrs (_: o: if o ? _isOption then o.default or null else defaultsOf o) opts;
  merge = a: b: a // builtins.mapAttrs (n: v: if builtins.isAttrs v && builtins.isAttrs (a.\${n} or null) then merge a.\${n} v else v) b;
  resolve = v:
    if builtins.isAttrs v && (v._type or null) == "if" then (if v.condition then resolve v.content else null)
    else if builtins.isAttrs v then
      let r = builtins.mapAttrs (_: resolve) v;
      in builtins.removeAttrs r (builtins.filter (n: r.\${n} == null) (builtins.attrNames r))
    else if builtins.isList v then map resolve v
    else v;

  evalModule = file: name: settings:
    let
      module = import file { inherit lib pkgs utils config; };
      config.services.\${name} = merge (defaultsOf module.options.services.\${name}) settings;
    in resolve module.config;

  importNpmLock = {
    __functor = self: args: { importNpmLock = args; };
    npmConfigHook = "importNpmLock.npmConfigHook";
  };
  package = import ${nixPath('package.nix')} { inherit lib importNpmLock; buildNpmPackage = a: a; nodejs_20 = "nodejs-20"; };
  overlaid = (import ${nixPath('overlay.nix')}) { callPackage = path: args: { inherit path args; }; } { };
  modules = import ${nixPath('modules', 'default.nix')};
in {
  package = {
    inherit (package) pname version npmBuildScript npmPackFlags doCheck npmConfigHook;
    hasNpmDepsHash = package ? npmDepsHash;
    npmDeps = {
      npmRoot = toString package.npmDeps.importNpmLock.npmRoot;
      inherit (package.npmDeps.importNpmLock) package packageLock;
    };
    postInstall = package.postInstall or "";
    keeps = map (p: package.src.filter p "directory") [ "/x/src" "/x/node_modules" "/x/dist" "/x/.git" ];
  };
  overlay = { path = toString overlaid.photoncloud-membership.path; inherit (overlaid.photoncloud-membership) args; };
  modules = { imports = map toString modules.imports; overlays = builtins.length modules.nixpkgs.overlays; };
  packageOptions = {
    firstBoot = (import ${nixPath('modules', 'first-boot-automation.nix')} { inherit lib pkgs utils; config = { }; }).options.services.first-boot-automation.package;
    controller = (import ${nixPath('modules', 'membership-controller.nix')} { inherit lib pkgs utils; config = { }; }).options.services.membership-controller.package;
  };
  firstBoot = builtins.mapAttrs (_: s: evalModule ${nixPath('modules', 'first-boot-automation.nix')} "first-boot-automation" s) overrides.firstBoot;
  controller = builtins.mapAttrs (_: s: evalModule ${nixPath('modules', 'membership-controller.nix')} "membership-controller" s) overrides.controller;
}
`;

export interface NixUnit {
  description: string;
  after?: string[];
  before?: string[];
  requires?: string[];
  wants?: string[];
  wantedBy?: string[];
  environment?: Record<string, string>;
  serviceConfig: Record<string, string | number | boolean | string[]>;
}

export interface NixConfig {
  assertions?: { assertion: boolean; message: string }[];
  warnings?: string[];
  systemd?: { services: Record<string, NixUnit>; tmpfiles?: { rules: string[] } };
  users?: { users: Record<string, unknown>; groups: Record<string, unknown> };
  environment?: { systemPackages: string[] };
  networking?: { firewall: { allowedTCPPorts: number[] } };
}

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  name?: string;
  link?: boolean;
}

export interface NixEvaluation {
  package: {
    pname: string;
    version: string;
    npmBuildScript: string;
    npmPackFlags: string[];
    doCheck: boolean;
    npmConfigHook: string;
    hasNpmDepsHash: boolean;
    npmDeps: { npmRoot: string; package: { name: string }; packageLock: { lockfileVersion: number; packages: Record<string, LockEntry> } };
    postInstall: string;
    keeps: boolean[];
  };
  overlay: { path: string; args: Record<string, unknown> };
  modules: { imports: string[]; overlays: number };
  packageOptions: Record<'firstBoot' | 'controller', { default: string; defaultText: { text: string }; type: string }>;
  firstBoot: Record<string, NixConfig>;
  controller: Record<string, NixConfig>;
}

/**
 * Evaluates everything in nix/ (see HARNESS) with the modules configured by
 * `overrides` (one case per key); `traced` is what the evaluation traced
 * (the generated configuration files).
 */
export async function evaluateNix(
  dir: string,
  overrides: { firstBoot: Record<string, unknown>; controller: Record<string, unknown> },
): Promise<{ result: NixEvaluation; traced: string }> {
  const harness = join(dir, 'harness.nix');
  await writeFile(harness, HARNESS);
  const r = await runProcess(
    'nix-instantiate',
    ['--eval', '--strict', '--json', harness, '--arg', 'overrides', `builtins.fromJSON ${JSON.stringify(JSON.stringify(overrides))}`],
    { timeoutMs: 60_000 },
  );
  if (r.code !== 0) throw new Error(`nix-instantiate --eval failed (exit ${r.code}):\n${r.stderr}`);
  return { result: JSON.parse(r.stdout) as NixEvaluation, traced: r.stderr };
}

/** The configuration files pkgs.formats.json generated, in order: [name, parsed JSON text]. */
export function generatedJson(traced: string): [string, string][] {
  return [...traced.matchAll(/trace: formats\.json (\S+) (\{.*\})$/gm)].map((m) => [m[1]!, m[2]!]);
}

/** A NixOS unit rendered the way NixOS writes unit files (lists as repeated lines, booleans as true/false). */
export function renderNixUnit(u: NixUnit): string {
  const line = (k: string, v: unknown): string[] =>
    Array.isArray(v) ? v.map((x) => `${k}=${String(x)}`) : [`${k}=${typeof v === 'boolean' ? (v ? 'true' : 'false') : String(v)}`];
  const unit = [
    '[Unit]',
    `Description=${u.description}`,
    ...(['after', 'before', 'requires', 'wants'] as const).flatMap((k) =>
      (u[k] ?? []).length > 0 ? [`${k[0]!.toUpperCase()}${k.slice(1)}=${u[k]!.join(' ')}`] : [],
    ),
    '',
    '[Service]',
    ...Object.entries(u.environment ?? {}).map(([k, v]) => `Environment="${k}=${v}"`),
    ...Object.entries(u.serviceConfig).flatMap(([k, v]) => line(k, v)),
    '',
    '[Install]',
    `WantedBy=${(u.wantedBy ?? []).join(' ')}`,
  ];
  return unit.join('\n') + '\n';
}
