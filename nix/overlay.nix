# Adds pkgs.photoncloud-membership, the package the NixOS modules default to
# (their `package` option is mkPackageOption pkgs "photoncloud-membership").
# nix/modules/default.nix applies it; a configuration that imports a module
# file alone adds it itself:
#
#   nixpkgs.overlays = [ (import ./nix/overlay.nix) ];
final: prev: {
  photoncloud-membership = final.callPackage ./package.nix { };
}
