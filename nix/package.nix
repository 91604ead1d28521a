# The photoncloud-membership npm package: membership-controller,
# first-boot-agent and membershipctl in $out/bin.
#
#   photoncloud-membership = pkgs.callPackage ./nix/package.nix { };
#
# (or nix/overlay.nix, which adds it to pkgs). The npm dependencies are pinned
# by package-lock.json alone: importNpmLock fetches each package with the
# integrity hash the lockfile records, so there is no separate hash of all
# dependencies to compute and keep current.
{
  lib,
  buildNpmPackage,
  importNpmLock,
  nodejs_20,
}:

let
  packageJson = lib.importJSON ../package.json;
  packageLock = lib.importJSON ../package-lock.json;

  # npm leaves `resolved` out of a lockfile entry fetched from its default
  # registry (omit-lockfile-registry-resolved), and importNpmLock fetches
  # only entries that have one. For those, the URL npm itself would fetch:
  # https://registry.npmjs.org/<name>/-/<name without @scope/>-<version>.tgz,
  # checked against the entry's own integrity hash.
  registryTarball =
    path: entry:
    let
      name = entry.name or (lib.last (lib.splitString "node_modules/" path));
      baseName = lib.last (lib.splitString "/" name);
    in
    "https://registry.npmjs.org/${name}/-/${baseName}-${entry.version}.tgz";

  withResolved =
    path: entry:
    if path == "" || entry ? resolved || entry.link or false then
      entry
    else
      entry // { resolved = registryTarball path entry; };
in
buildNpmPackage {
  pname = packageJson.name;
  inherit (packageJson) version;

  # Only what the build needs: no node_modules, dist or VCS metadata from a
  # developer's checkout.
  src = lib.cleanSourceWith {
    src = ../.;
    filter =
      path: type:
      let
        name = baseNameOf path;
      in
      !(builtins.elem name [
        "node_modules"
        "dist"
        ".git"
        ".demo"
        "result"
      ]);
  };

  npmDeps = importNpmLock {
    npmRoot = ../.;
    package = packageJson;
    packageLock = packageLock // {
      packages = lib.mapAttrs withResolved packageLock.packages;
    };
  };
  npmConfigHook = importNpmLock.npmConfigHook;
  nodejs = nodejs_20;

  # `npm run build:package` (prepack's build: tsconfig.build.json, into an
  # empty dist/) compiles the programs without their tests. The install phase
  # copies what `npm pack` lists (package.json's "files": dist/src, crds/,
  # deploy/, docs/, README.md), so no test code is installed; --ignore-scripts
  # keeps npm pack from running prepack's build a second time. package.json's
  # "bin" entries become $out/bin/membership-controller, first-boot-agent and
  # membershipctl.
  npmBuildScript = "build:package";
  npmPackFlags = [ "--ignore-scripts" ];

  # The test suite starts real etcd processes; it runs in CI (npm test), not
  # in the build sandbox.
  doCheck = false;

  meta = {
    description = "Reconciling membership controller, first-boot agent and CLI for PhotonCloud (Chainfire, FlareDB, IAM)";
    mainProgram = "membership-controller";
    platforms = lib.platforms.linux;
  };
}
