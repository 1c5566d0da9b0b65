"""What the NumPy-only reference generators (generate_muon.py, generate_soap.py) share: a case's random
draws, the file's metadata and the writer of the safetensors layout the C++ tests read (README.md, "File
layout"). They must not import generate.py, which needs torch; this needs only NumPy and the standard library.
"""
import json
import os
import struct
import zlib

import numpy as np

# The safetensors dtype name of each NumPy dtype the reference files hold.
DT_NAME = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64"}


def draws(optimizer, config, shape, steps):
    """A case's float64 draws, from N(0, 1) seeded with zlib.crc32("descent/<optimizer>/<config>"): the
    initial parameters [n] and one gradient per step [steps, n], n the element count of `shape`."""
    rng = np.random.default_rng(zlib.crc32(f"descent/{optimizer}/{config}".encode()))
    n = int(np.prod(shape))
    init = rng.standard_normal(n)
    return init, rng.standard_normal((steps, n))


def metadata(optimizer, cases):
    """The file's __metadata__: which script wrote it (generate_<optimizer>.py) and how to rerun it, the
    NumPy version, the optimizer and the cases (a JSON list)."""
    script = f"tests/reference/generate_{optimizer}.py"
    return {"generator": script, "command": f"/usr/bin/python3 {script}", "numpy_version": np.__version__,
            "optimizer": optimizer, "cases": json.dumps(cases)}


def write_safetensors(path, meta, tensors):
    """Writes `tensors` ((name, array) pairs, in that order) and `meta` (the __metadata__, str -> str) to
    `path`.

    Layout: a little-endian uint64 header length N, N bytes of compact JSON padded with spaces so that the
    data starts at a multiple of 8, then each array's little-endian C-order bytes back to back. The file is
    written beside `path` and renamed over it, so a failed run leaves the old file whole.
    """
    header = {"__metadata__": meta}
    blobs, pos = [], 0
    for name, arr in tensors:
        raw = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<"), copy=False).tobytes(order="C")
        header[name] = {"dtype": DT_NAME[arr.dtype], "shape": list(arr.shape), "data_offsets": [pos, pos + len(raw)]}
        blobs.append(raw)
        pos += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((-(8 + len(text))) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)
    os.replace(tmp, path)
