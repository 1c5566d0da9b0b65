#!/usr/bin/python3
"""Minimal independent reader for tests/reference/data/*.safetensors.

Checks the layout of every file generate.py wrote (header length and padding, JSON header,
metadata keys, dtypes, shapes, data offsets contiguous and in range, the
tensors each case must have) and prints one summary line per file.  Exits
non-zero on the first problem.  Does not import generate.py.  With the
descent command-line tool, also checks that every optimizer it registers
(``descent list --names``) has its file.

    /usr/bin/python3 tests/reference/read_check.py [DIR] [--cli PATH/TO/descent]
"""

import json
import os
import struct
import subprocess
import sys

import numpy as np

ITEMSIZE = {"F32": 4, "F64": 8}
NPTYPE = {"F32": "<f4", "F64": "<f8"}
CASE_DTYPE = {"float32": "F32", "float64": "F64"}
META_KEYS = {"generator", "command", "torch_version", "numpy_version", "optimizer", "cases"}
# The generators of optimizer trajectories in this layout (generate_adafactor.py adds "state_shapes").
TRAJECTORY_GENERATORS = {"tests/reference/generate.py", "tests/reference/generate_adafactor.py"}


class Bad(Exception):
    pass


def need(cond, msg):
    if not cond:
        raise Bad(msg)


def check_file(path):
    with open(path, "rb") as f:
        blob = f.read()
    need(len(blob) >= 8, "file shorter than 8 bytes")
    (hlen,) = struct.unpack("<Q", blob[:8])
    need(8 + hlen <= len(blob), "header length %d beyond end of file" % hlen)
    need((8 + hlen) % 8 == 0, "8 + header length not a multiple of 8")
    raw = blob[8:8 + hlen]
    text = raw.decode("utf-8")
    stripped = text.rstrip(" ")
    need(len(text) - len(stripped) < 8, "more than 7 bytes of padding")
    header = json.loads(stripped)
    need(isinstance(header, dict), "header is not an object")
    data = blob[8 + hlen:]

    meta = header.get("__metadata__")
    need(isinstance(meta, dict), "no __metadata__")
    need(set(meta) == META_KEYS, "metadata keys %s" % sorted(meta))
    need(all(isinstance(v, str) for v in meta.values()), "metadata values must be strings")
    opt = os.path.basename(path)[:-len(".safetensors")]
    need(meta["optimizer"] == opt, "optimizer %r vs file name" % meta["optimizer"])
    need(meta["generator"] in TRAJECTORY_GENERATORS, "generator")
    cases = json.loads(meta["cases"])
    need(isinstance(cases, list) and cases, "cases must be a non-empty list")

    # tensors: offsets contiguous, in header order, sized by dtype and shape
    names = [k for k in header if k != "__metadata__"]
    pos = 0
    for name in names:
        info = header[name]
        need(set(info) == {"dtype", "shape", "data_offsets"}, "%s: keys" % name)
        need(info["dtype"] in ITEMSIZE, "%s: dtype %s" % (name, info["dtype"]))
        shape = info["shape"]
        need(all(isinstance(d, int) and d >= 0 for d in shape), "%s: shape" % name)
        b, e = info["data_offsets"]
        need(b == pos, "%s: begins at %d, expected %d" % (name, b, pos))
        need(e - b == ITEMSIZE[info["dtype"]] * int(np.prod(shape, dtype=np.int64)),
             "%s: size does not match shape" % name)
        need(e <= len(data), "%s: beyond end of data" % name)
        pos = e
    need(pos == len(data), "data section has %d trailing bytes" % (len(data) - pos))

    def tensor(name):
        info = header[name]
        b, e = info["data_offsets"]
        return np.frombuffer(data[b:e], dtype=NPTYPE[info["dtype"]]).reshape(info["shape"])

    # cases: required tensors with the right dtype and shape
    ids = [c["id"] for c in cases]
    need(len(ids) == len(set(ids)), "duplicate case ids")
    seen = set()
    slots = set()
    nan_cases = 0
    for c in cases:
        need(set(c) - {"state_shapes"} == {"id", "dtype", "reference", "steps", "groups", "params"},
             "%s: case keys %s" % (c.get("id"), sorted(c)))
        cid, steps = c["id"], c["steps"]
        dt = CASE_DTYPE[c["dtype"]]
        need(c["groups"] and all(isinstance(g, dict) for g in c["groups"]), cid + ": groups")
        keys0 = list(c["groups"][0])
        for g in c["groups"]:
            need(list(g) == keys0, cid + ": groups with different option keys")
            for k, v in g.items():
                need(isinstance(v, (bool, int, float)) or v == "inf", "%s: option %s=%r" % (cid, k, v))
        n = 0
        for p in c["params"]:
            need(0 <= p["group"] < len(c["groups"]), cid + ": bad group index")
            n += int(np.prod(p["shape"], dtype=np.int64))
        expect = {cid + "/init": (dt, [n]), cid + "/grad": (dt, [steps, n]),
                  cid + "/param": (dt, [steps, n])}
        for name in names:
            if name.startswith(cid + "/state."):
                slot = name.split("/state.", 1)[1]
                width = n
                if "state_shapes" in c:  # slots of their own shape: the params that have one, in order
                    shapes = c["state_shapes"][slot]
                    need(len(shapes) == len(c["params"]), "%s: state_shapes of %s" % (cid, slot))
                    width = sum(int(np.prod(sh, dtype=np.int64)) for sh in shapes if sh is not None)
                expect[name] = (dt, [steps, width])
                slots.add(slot)
            elif name.startswith(cid + "/scalar."):
                expect[name] = ("F64", [steps, len(c["params"])])
                slots.add("scalar." + name.split("/scalar.", 1)[1])
        for name, (edt, eshape) in expect.items():
            need(name in header, "missing tensor " + name)
            need(header[name]["dtype"] == edt, "%s: dtype %s, expected %s"
                 % (name, header[name]["dtype"], edt))
            need(header[name]["shape"] == eshape, "%s: shape %s, expected %s"
                 % (name, header[name]["shape"], eshape))
            arr = tensor(name)
            if "/state." in name:
                need(not np.isinf(arr).any(), name + ": inf")
                nan_cases += int(np.isnan(arr).any())
            else:
                need(np.isfinite(arr).all(), name + ": non-finite values")
            seen.add(name)
    need(seen == set(names), "tensors not belonging to any case: %s" % sorted(set(names) - seen))

    n32 = sum(c["dtype"] == "float32" for c in cases)
    return ("%-9s %8d bytes  header %6d  %3d tensors  %2d cases (%d f32, %d f64)  "
            "slots: %s%s  torch %s numpy %s"
            % (opt, len(blob), hlen, len(names), len(cases), n32, len(cases) - n32,
               ",".join(sorted(slots)) or "-",
               "  (NaN-marked absent slot in %d tensor(s))" % nan_cases if nan_cases else "",
               meta["torch_version"], meta["numpy_version"]))


def written_by_generate(path):
    """Whether the header's metadata names a trajectory generator (generate.py, generate_adafactor.py)."""
    with open(path, "rb") as f:
        (hlen,) = struct.unpack("<Q", f.read(8))
        try:
            header = json.loads(f.read(hlen).decode("utf-8"))
            return header["__metadata__"]["generator"] in TRAJECTORY_GENERATORS
        except (ValueError, KeyError, TypeError):
            return True  # unreadable: check_file says what is wrong


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    args = sys.argv[1:]
    cli = None
    if "--cli" in args:
        i = args.index("--cli")
        cli = args[i + 1]
        del args[i:i + 2]
    d = args[0] if args else os.path.join(here, "data")
    # The trajectory files; the folder also holds other generators' (generate_lbfgs.py, ...).
    files = sorted(f for f in os.listdir(d) if f.endswith(".safetensors") and written_by_generate(os.path.join(d, f)))
    missing = []
    if cli:
        names = subprocess.run([cli, "list", "--names"], check=True, capture_output=True, text=True).stdout.split()
        # Matrix rules' files come from their own generators (generate_muon.py): present is enough here.
        missing = [o for o in names if o + ".safetensors" not in os.listdir(d)]
    else:
        print("(no --cli given: not checking that every registered optimizer has a file)")
    ok = True
    for f in files:
        try:
            print(check_file(os.path.join(d, f)))
        except (Bad, ValueError, KeyError, TypeError) as e:
            print("%s: BAD: %s" % (f, e))
            ok = False
    if missing:
        print("missing files: " + ", ".join(missing))
        ok = False
    print("OK: %d files" % len(files) if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
