# The home-manager module's activation steps as files, built: $out/check and $out/link hold the
# scripts home-manager would run before and after its writeBoundary. Building them builds the
# models they link (the scripts' context). Arguments as eval.nix's, with kind = "home-manager".
{ ... }@args:
let
  evaluated = import ./eval.nix (args // { kind = "home-manager"; });
  inherit (evaluated) config pkgs;
in
derivation {
  name = "home-manager-activation-stand-in";
  inherit (pkgs) system;
  builder = "${pkgs.bash}/bin/bash";
  PATH = "${pkgs.coreutils}/bin";
  check = config.home.activation.nixFetchModelCheck.data;
  link = config.home.activation.nixFetchModelLinks.data;
  args = [ "-c" ''mkdir "$out" && printf '%s' "$check" >"$out/check" && printf '%s' "$link" >"$out/link"'' ];
}
