# The few nixpkgs attributes the library uses, played by host tools (the sandbox is off here):
# one store folder whose bin/ links to the host's bash, coreutils, findutils, grep, sed and
# python3, and the CLI built by cargo, copied into the store as a package.
#   hostTools: a folder with bin/ (made by run.sh); cli: the nix-fetch-model binary's folder.
{ hostTools, cli }:
let
  tools = builtins.path { path = hostTools; name = "host-tools"; };
in
{
  system = builtins.currentSystem;
  bash = tools;
  coreutils = tools;
  findutils = tools;
  gnugrep = tools;
  gnused = tools;
  python3 = tools;
  nix-fetch-model = builtins.path { path = cli; name = "nix-fetch-model"; };
}
