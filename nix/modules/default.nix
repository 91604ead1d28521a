# Both modules and the overlay that provides their package:
#
#   imports = [ ./nix/modules ];
#   services.membership-controller.enable = true;      # control-plane nodes
#   services.first-boot-automation.enable = true;      # every node
#
# With `nixpkgs.pkgs` set from outside (a flake's instance), apply
# nix/overlay.nix to that instance and import the two module files instead.
{
  imports = [
    ./first-boot-automation.nix
    ./membership-controller.nix
  ];
  nixpkgs.overlays = [ (import ../overlay.nix) ];
}
