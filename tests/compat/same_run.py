"""Exits 0 when two descent checkpoints hold the same run: the same tensors, byte for byte, and the same
metadata, except what a newer release adds (the checksum, which covers the added text, and the training
record's "options", saved since 0.2.0). Standard library only.
    python3 tests/compat/same_run.py old.safetensors new.safetensors"""
import json
import struct
import sys


def read(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__")
    body = data[8 + n:]
    tensors = {k: (v["dtype"], v["shape"], body[v["data_offsets"][0]:v["data_offsets"][1]]) for k, v in header.items()}
    return meta, tensors


old_meta, old_tensors = read(sys.argv[1])
new_meta, new_tensors = read(sys.argv[2])
problems = []
if old_tensors.keys() != new_tensors.keys():
    problems.append("tensor names differ: %s" % sorted(old_tensors.keys() ^ new_tensors.keys()))
for name in sorted(old_tensors.keys() & new_tensors.keys()):
    if old_tensors[name] != new_tensors[name]:
        problems.append("tensor %s differs" % name)
for meta in (old_meta, new_meta):
    meta.pop("checksum", None)
    if "training" in meta:
        training = json.loads(meta["training"])
        training.pop("options", None)
        meta["training"] = training
if old_meta != new_meta:
    problems.append("metadata differs:\n  %s\n  %s" % (old_meta, new_meta))
if problems:
    print("\n".join(problems))
    sys.exit(1)
print("same run: %d tensors, metadata equal" % len(old_tensors))
