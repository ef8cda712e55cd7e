# The built-in validators and mkValidator. A validator's command runs with bash in the
# snapshot folder (snapshots/<commit>/, what a user of the model sees), with $src the whole
# repo folder and $snapshot the snapshot folder; it passes when it exits with status 0.
let
  inherit (builtins) concatStringsSep match;
  util = import ../util.nix;
  check = import ./check.nix;

  mkValidator = v:
    util.throwIfErrors "mkValidator" (check.validatorProblems v) {
      inherit (v) name command;
      description = v.description or "";
      onFailure = v.onFailure or "abort";
      timeout = check.parseTimeout (v.timeout or 300);
      runtimeInputs = v.runtimeInputs or [ ];
    };

  python = script: {
    command = ''python3 ${script}'';
    runtimeInputs = [ "python3" ];
  };

  # "20G" -> bytes; K, M, G, T are powers of 1024 (as du and ls -h count).
  parseSize = size:
    let m = match "([0-9]+) *([KMGT]?)i?B?" (toString size);
    in
    if builtins.isInt size then size
    else if m == null then throw "maxSize: '${toString size}' is not a size like \"500M\" or \"20G\""
    else
      builtins.fromJSON (builtins.head m)
      * util.pow 1024 { "" = 0; K = 1; M = 2; G = 3; T = 4; }.${builtins.elemAt m 1};
in
{
  inherit mkValidator parseSize;

  noPickleFiles = mkValidator (python ./scripts/no_pickle_files.py // {
    name = "noPickleFiles";
    description = "no pickle files (*.pkl, *.pt, *.pth, *.ckpt, pytorch_model*.bin, pickle data): loading one runs code";
    timeout = 600;
  });

  safetensorsOnly = mkValidator (python ./scripts/safetensors_only.py // {
    name = "safetensorsOnly";
    description = "weights only as safetensors, each with a readable header";
    timeout = 600;
  });

  noPythonCode = mkValidator {
    name = "noPythonCode";
    description = "no *.py files (code that trust_remote_code would run)";
    command = ''
      found=$(find . -name '*.py')
      [ -z "$found" ] || { echo "python files in the model:"; echo "$found"; exit 1; }
    '';
  };

  requiredFiles = files: mkValidator {
    name = "requiredFiles";
    description = "the snapshot holds ${concatStringsSep ", " files}";
    command = ''
      missing=0
      for f in ${concatStringsSep " " (map util.escapeShellArg files)}; do
        [ -e "$f" ] || { echo "missing: $f"; missing=1; }
      done
      exit $missing
    '';
  };

  maxSize = size: mkValidator {
    name = "maxSize";
    description = "the model's files take at most ${toString size}";
    command = ''
      total=0
      while read -r bytes; do total=$((total + bytes)); done < <(find "$src/blobs" -type f -printf '%s\n')
      if [ "$total" -gt ${toString (parseSize size)} ]; then
        echo "the model takes $total bytes, more than ${toString size} (${toString (parseSize size)} bytes)"
        exit 1
      fi
      echo "$total bytes"
    '';
  };

  validConfigJson = mkValidator (python ./scripts/valid_config_json.py // {
    name = "validConfigJson";
    description = "config.json exists and is a JSON object";
  });

  validHfStructure = mkValidator (python ./scripts/valid_hf_structure.py // {
    name = "validHfStructure";
    description = "the Hugging Face cache layout: blobs/, one snapshots/<commit>/ of relative links into blobs/, refs/ holding that commit";
  });

  licenseCheck = mkValidator (python ./scripts/license_check.py // {
    name = "licenseCheck";
    description = "the model declares a license (README front matter or a LICENSE file)";
    onFailure = "warn";
  });
}
