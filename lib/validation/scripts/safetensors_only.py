"""Fail unless the weights in the snapshot (the working directory) are all safetensors files
with a readable header."""
import json
import os
import struct
import sys

OTHER_WEIGHTS = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".h5", ".msgpack", ".ot", ".joblib", ".npz")

problems, tensors = [], []
for root, dirs, files in os.walk(".", followlinks=True):
    dirs.sort()
    for name in sorted(files):
        path = os.path.join(root, name)[2:]
        lower = name.lower()
        if lower.endswith(OTHER_WEIGHTS):
            problems.append(f"{path}: weights in another format than safetensors")
        elif lower.endswith(".safetensors"):
            size = os.path.getsize(path)
            with open(path, "rb") as f:
                raw = f.read(8)
                length = struct.unpack("<Q", raw)[0] if len(raw) == 8 else None
                try:
                    if length is None or length > size - 8:
                        raise ValueError("the header length is past the end of the file")
                    header = json.loads(f.read(length))
                    if not isinstance(header, dict):
                        raise ValueError("the header is not a JSON object")
                except ValueError as e:
                    problems.append(f"{path}: not a safetensors file: {e}")
                    continue
            tensors.append(path)
if not tensors:
    problems.append("no .safetensors file")
if problems:
    print("\n".join(problems))
    sys.exit(1)
print("safetensors: " + ", ".join(tensors))
