# The NixOS VM test of the module, the flake's checks.<linux system>.nixos-module:
#   nix build .#checks.x86_64-linux.nixos-module
# A machine with programs.nix-fetch-model boots; the model it declares is in its system closure
# and survives garbage collection; huggingface_hub and transformers load it offline from a login
# shell (setSessionVariables) and from a service (hubCachePath); nix.conf names the loader of the
# plugin built for the machine's Nix, and that Nix has builtins.fetchModel.
#
# The model is the fake Hub's tiny fixture, pinned by the hash of models/definitions.nix. Its
# fixed-output fetch runs on the host with a builder that first starts the fake Hub on loopback
# (the same spec and hash, so the same store path as with the plain CLI), so no network is needed.
# It has not run on this project's machines, which cannot fetch nixpkgs (README, "The NixOS module").
{ pkgs, module }:
let
  tiny = (import ../../models/definitions.nix).fake-org-tiny-model;

  # The CLI, with the fake Hub started first for `fetch` (the fixed-output builder's command).
  cliWithFakeHub = pkgs.writeShellScriptBin "nix-fetch-model" ''
    set -eu
    if [ "''${1:-}" = fetch ]; then
      ${pkgs.python3}/bin/python3 ${../../tests/support/fake_hub.py} --root ${../../tests/support/fixtures} \
        >"$TMPDIR/hub.json" 2>"$TMPDIR/hub.err" &
      for _ in $(seq 100); do [ -s "$TMPDIR/hub.json" ] && break; sleep 0.1; done
      HF_ENDPOINT=$(${pkgs.python3}/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["endpoint"])' "$TMPDIR/hub.json")
      export HF_ENDPOINT
    fi
    exec ${pkgs.nix-fetch-model}/bin/nix-fetch-model "$@"
  '';

  python = pkgs.python3.withPackages (ps: [ ps.huggingface-hub ps.transformers ]);
  loadModel = "${python}/bin/python3 ${./load_model.py}";
in
{
  name = "nix-fetch-model-nixos-module";

  nodes.machine = { config, ... }: {
    imports = [ module ];
    programs.nix-fetch-model = {
      enable = true;
      package = cliWithFakeHub;
      plugin.enable = true;
      setSessionVariables = true;
      models.tiny = { inherit (tiny) source hash; };
    };
    systemd.services.load-model = {
      serviceConfig.Type = "oneshot";
      environment = {
        HF_HUB_CACHE = config.programs.nix-fetch-model.hubCachePath;
        HF_HUB_OFFLINE = "1";
      };
      script = loadModel;
    };
    virtualisation.memorySize = 2048;
  };

  testScript = { nodes, ... }:
    let
      cfg = nodes.machine.programs.nix-fetch-model;
      loader = "${cfg.plugin.package}/lib/nix/plugins/libnix_fetch_model.so";
    in
    ''
      machine.wait_for_unit("multi-user.target")

      with subtest("the model is in the system closure and survives garbage collection"):
          machine.succeed("nix-store -qR /run/current-system | grep -- '-models--fake-org--tiny-model$'")
          unrooted = machine.succeed("echo unrooted > /tmp/unrooted && nix-store --add /tmp/unrooted").strip()
          machine.succeed("nix-collect-garbage")
          machine.fail(f"test -e {unrooted}")
          machine.succeed("test -d /etc/nix-fetch-model/hub-cache/models--fake-org--tiny-model/snapshots")

      with subtest("a login shell loads it offline (setSessionVariables)"):
          machine.succeed("bash -l -c 'test \"$HF_HUB_CACHE\" = ${cfg.hubCachePath} && ${loadModel}'")

      with subtest("a service loads it offline (hubCachePath)"):
          machine.succeed("systemctl start load-model.service")

      with subtest("nix.conf names the plugin built for this Nix, which adds builtins.fetchModel"):
          machine.succeed("grep -F '${loader}' /etc/nix/nix.conf")
          machine.succeed("test -e ${cfg.plugin.package}/lib/nix/nix-fetch-model/libnix_fetch_model-${nodes.machine.nix.package.version}.so")
          machine.succeed("nix-instantiate --eval -E 'builtins ? fetchModel' | grep -x true")
    '';
}
