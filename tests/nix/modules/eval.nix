# One module evaluated with nixpkgs' lib.evalModules, the host options of hosts.nix and the
# stand-in pkgs of pkgs.nix. `config` is the test's configuration (a module).
#   nix-instantiate --eval tests/nix/modules/eval.nix --argstr nixpkgsLib DIR --argstr hostTools DIR
#     --argstr cli DIR --argstr kind nixos|home-manager|devenv --arg config '{ ... }: { ... }' -A config...
{ nixpkgsLib, hostTools, cli, kind, config ? { }, withPlugin ? true, endpoint ? "" }:
let
  lib = import nixpkgsLib;
  pkgs = import ./pkgs.nix { inherit hostTools cli withPlugin; };
  hosts = import ./hosts.nix { inherit lib pkgs; };
  module = {
    nixos = ../../../nix/modules/nixos.nix;
    home-manager = ../../../nix/modules/home-manager.nix;
    devenv = ../../../nix/modules/devenv.nix;
  }.${kind};
  evaluated = lib.evalModules {
    modules = [ hosts.${kind} module config { _module.args.pkgs = pkgs; } ];
    specialArgs = { inherit endpoint; };
  };
in
evaluated // { inherit lib pkgs; }
