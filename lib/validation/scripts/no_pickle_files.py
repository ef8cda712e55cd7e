"""Fail if the snapshot (the working directory) holds a pickle: loading one runs code."""
import os
import sys
import zipfile

PICKLE_SUFFIXES = (".pkl", ".pickle", ".pt", ".pth", ".ckpt", ".joblib", ".dill")
PICKLE_PROTOCOL_STARTS = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


def reason(path):
    name = os.path.basename(path).lower()
    if name.endswith(PICKLE_SUFFIXES):
        return "a pickle file by its name"
    if name.endswith(".bin") and (name.startswith("pytorch_model") or name == "training_args.bin"):
        return "a PyTorch checkpoint (torch.save pickles)"
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:2] in PICKLE_PROTOCOL_STARTS:
        return "pickle data"
    if head == b"PK\x03\x04" and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            if any(n.endswith(".pkl") for n in z.namelist()):
                return "a zip holding a pickle (torch.save)"
    return None


found = []
for root, dirs, files in os.walk(".", followlinks=True):
    dirs.sort()
    for name in sorted(files):
        path = os.path.join(root, name)[2:]
        why = reason(path)
        if why:
            found.append(f"{path}: {why}")
if found:
    print("pickle files (loading them can run arbitrary code; prefer the safetensors files or exclude these):")
    print("\n".join(found))
    sys.exit(1)
print("no pickle files")
