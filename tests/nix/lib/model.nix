# What a build test builds: `expr` gets the library, the stand-in pkgs and `fetch`, which is
# fetchModel with the fake Hub's endpoint filled in (unless the argument gives network.endpoint
# or endpoint is ""). nix-build tests/nix/lib/model.nix --argstr hostTools .. --argstr cli ..
#   --argstr endpoint URL --arg expr '{ fetch, ... }: fetch { source...; hash = ""; }'
{ hostTools, cli, endpoint ? "", expr, builtinFetchModel ? null }:
let
  pkgs = import ./stand-ins.nix { inherit hostTools cli; };
  lib = import ../../../lib { inherit builtinFetchModel; };
  withEndpoint = args:
    if endpoint == "" then args
    else args // { network = { inherit endpoint; } // (args.network or { }); };
  fetch = args: lib.fetchModel pkgs (withEndpoint args);
in
expr { inherit lib pkgs fetch; }
