# The photoncloud-membership npm package: membership-controller,
# first-boot-agent and membershipctl in $out/bin.
#
#   photoncloud-membership = pkgs.callPackage ./nix/package.nix {
#     npmDepsHash = "sha256-...";
#   };
#
# npmDepsHash pins the npm dependencies (package-lock.json). It cannot be
# known before the first build, so the default is lib.fakeHash: build once,
# copy the hash from the "hash mismatch ... got: sha256-..." error into
# npmDepsHash, and build again. Update it whenever package-lock.json changes
# (or run `prefetch-npm-deps package-lock.json`). See docs/install.md.
{
  lib,
  buildNpmPackage,
  nodejs_20,
  npmDepsHash ? lib.fakeHash,
}:

buildNpmPackage {
  pname = "photoncloud-membership";
  version = "0.1.0";

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

  inherit npmDepsHash;
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
