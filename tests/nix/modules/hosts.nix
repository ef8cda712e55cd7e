# The host options the modules set, declared as plain options: NixOS, home-manager and devenv
# cannot be fetched here, nixpkgs' lib can. Where merging matters, the types are theirs
# (nix.settings joins lists as NixOS and home-manager do); `pkgs` is the stand-ins' (pkgs.nix).
{ lib, pkgs }:
let
  inherit (lib) mkOption types;
  any = types.attrsOf types.anything;

  # nix.settings as NixOS and home-manager declare it.
  confAtom = types.nullOr (types.oneOf [ types.bool types.int types.float types.str types.path types.package ]);
  nixSettings = types.submodule { freeformType = types.attrsOf (types.either confAtom (types.listOf confAtom)); };

  assertions = mkOption {
    type = types.listOf (types.submodule { options = { assertion = mkOption { type = types.bool; }; message = mkOption { type = types.str; }; }; });
    default = [ ];
  };
in
{
  nixos = {
    options = {
      inherit assertions;
      nix.package = mkOption { type = types.package; default = pkgs.nix; };
      nix.settings = mkOption { type = nixSettings; default = { }; };
      environment.systemPackages = mkOption { type = types.listOf types.package; default = [ ]; };
      environment.sessionVariables = mkOption { type = types.attrsOf (types.either types.str (types.listOf types.str)); default = { }; };
      environment.etc = mkOption {
        type = types.attrsOf (types.submodule { freeformType = any; options.source = mkOption { type = types.path; }; });
        default = { };
      };
      systemd.tmpfiles.rules = mkOption { type = types.listOf types.str; default = [ ]; };
      systemd.services = mkOption {
        type = types.attrsOf (types.submodule { freeformType = any; options.environment = mkOption { type = types.attrsOf types.str; default = { }; }; });
        default = { };
      };
    };
  };

  home-manager = {
    options = {
      inherit assertions;
      nix.package = mkOption { type = types.nullOr types.package; default = null; };
      nix.settings = mkOption { type = nixSettings; default = { }; };
      home.packages = mkOption { type = types.listOf types.package; default = [ ]; };
      home.sessionVariables = mkOption { type = types.lazyAttrsOf (types.either types.str types.int); default = { }; };
      # home-manager's is a DAG of strings; its entries are { data; after; before; }.
      home.activation = mkOption {
        type = types.attrsOf (types.submodule {
          options = {
            data = mkOption { type = types.str; };
            after = mkOption { type = types.listOf types.str; };
            before = mkOption { type = types.listOf types.str; };
          };
        });
        default = { };
      };
      xdg.cacheHome = mkOption { type = types.str; default = "/home/stand-in/.cache"; };
      xdg.stateHome = mkOption { type = types.str; default = "/home/stand-in/.local/state"; };
    };
  };

  devenv = {
    options = {
      env = mkOption { type = types.lazyAttrsOf types.anything; default = { }; };
      packages = mkOption { type = types.listOf types.package; default = [ ]; };
    };
  };
}
