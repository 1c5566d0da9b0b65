#!/usr/bin/env python3
"""Reference data for descent's 8-bit block-wise state quantization (src/lowbit/quantize.hpp).

Written from the papers, not from descent's code:
  Dettmers 2016, "8-Bit Approximations for Parallelism in Deep Learning", section 3 (dynamic tree
  quantization: sign, a run of zero bits giving a decimal exponent, then linear fraction bits), and
  Dettmers, Lewis, Shleifer, Zettlemoyer 2021, "8-bit Optimizers via Block-wise Quantization", sections
  2.1-2.3 (block-wise absmax normalisation, blocks of 2048 on GPU -- descent uses 256 as bitsandbytes'
  CPU/blockwise default does; the unsigned map for the second moment spends the sign bit on the fraction).

Quantization here is "the map value nearest to x / absmax" by brute force (numpy.argmin over the 256
values in float64, first minimum on ties); descent finds it by a binary search over thresholds. bfloat16
round-to-nearest-even comes from torch's own conversion. Stochastic rounding follows descent's
documented rule (quantize.hpp: a MurmurHash3-finalizer hash of (key, element index)), re-implemented
here with numpy uint32 arithmetic.

    /usr/bin/python3 tests/reference/generate_quantize.py   # rewrites data/quantize.safetensors
Deterministic: rerunning gives a byte-identical file.
"""
import json
import os
import struct
import sys

import numpy as np

SIZES = [1, 255, 256, 257, 4095, 4096, 4097]
BLOCK = 256
KEY = 0x12345678


def dynamic_map(signed):
    # 7 exponent levels after the sign bit; level i (magnitudes 10^(i-6) * [0.1, 1]) has i fraction bits
    # when signed, i + 1 when unsigned; each value is the midpoint of its fraction interval. Plus 0 and 1.
    values = []
    for i in range(7):
        k = 2 ** i if signed else 2 ** (i + 1)
        bounds = np.linspace(0.1, 1.0, k + 1)
        mids = (bounds[:-1] + bounds[1:]) / 2.0
        scale = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0][i]
        values += list(scale * mids)
        if signed:
            values += list(-scale * mids)
    values += [0.0, 1.0]
    assert len(values) == 256
    return np.sort(np.array(values, dtype=np.float64).astype(np.float32))


def mix32(h):
    h = h.astype(np.uint32)
    h ^= h >> np.uint32(16)
    h = (h * np.uint32(0x85EBCA6B)).astype(np.uint32)
    h ^= h >> np.uint32(13)
    h = (h * np.uint32(0xC2B2AE35)).astype(np.uint32)
    h ^= h >> np.uint32(16)
    return h


def random_bits(key, index):
    with np.errstate(over="ignore"):
        return mix32((np.uint32(key) + index.astype(np.uint32) * np.uint32(0x9E3779B9)).astype(np.uint32))


def quantize(x, signed, stochastic=False):
    qmap = dynamic_map(signed)
    codes = np.zeros(x.size, dtype=np.uint8)
    absmax = np.zeros((x.size + BLOCK - 1) // BLOCK, dtype=np.float32)
    for b in range(absmax.size):
        blk = x[b * BLOCK:(b + 1) * BLOCK]
        a = np.float32(np.max(np.abs(blk)))
        if not np.isfinite(a):
            a = np.float32(np.nan)
        absmax[b] = a
        y = (blk / a).astype(np.float32) if a > 0 else np.zeros_like(blk)
        if not stochastic:
            dist = np.abs(qmap.astype(np.float64)[None, :] - y.astype(np.float64)[:, None])
            c = np.argmin(dist, axis=1)
        else:
            # floor code: the last map value <= y (0 below the map), then up with probability
            # (y - lo) / (hi - lo): u * (hi - lo) < y - lo, u = (bits >> 8) / 2^24, all in float32.
            c = np.searchsorted(qmap, y, side="right") - 1
            c = np.clip(c, 0, 255)
            lo = qmap[c]
            hi = qmap[np.minimum(c + 1, 255)]
            idx = np.arange(b * BLOCK, b * BLOCK + blk.size, dtype=np.uint64)
            u = (random_bits(KEY, idx) >> np.uint32(8)).astype(np.float32) * np.float32(2.0 ** -24)
            up = (u * (hi - lo)).astype(np.float32) < (y - lo).astype(np.float32)
            c = c + up.astype(np.int64)
        codes[b * BLOCK:b * BLOCK + blk.size] = c
    return codes, absmax


def dequantize(codes, absmax, signed):
    qmap = dynamic_map(signed)
    block = np.arange(codes.size) // BLOCK
    return (qmap[codes] * absmax[block]).astype(np.float32)


def self_checks():
    s, u = dynamic_map(True), dynamic_map(False)
    assert np.unique(s).size == 256 and np.unique(u).size == 256
    assert s[0] < 0 and s[-1] == 1.0 and 0.0 in s and u[0] == 0.0 and u[-1] == 1.0
    # the smallest non-zero magnitude is 10^-6 * 0.55 (the one interval of level 0)
    assert abs(float(np.min(np.abs(s[s != 0]))) - 0.55e-6) < 1e-12


def write_safetensors(path, metadata, tensors):
    names = {np.dtype(np.float32): "F32", np.dtype(np.uint8): "U8", np.dtype(np.uint16): "U16"}
    header = {"__metadata__": metadata}
    blobs, pos = [], 0
    for name, arr in tensors:
        raw = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": names[arr.dtype], "shape": list(arr.shape), "data_offsets": [pos, pos + len(raw)]}
        blobs.append(raw)
        pos += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((-(8 + len(h))) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for raw in blobs:
            f.write(raw)
    os.replace(path + ".tmp", path)


def main():
    self_checks()
    import torch  # only for bfloat16's round to nearest even
    rng = np.random.default_rng(20211006)
    tensors = [("map/signed", dynamic_map(True)), ("map/unsigned", dynamic_map(False))]
    for n in SIZES:
        # moments span many magnitudes: a normal times 10^U(-8, 1), one block of zeros when there is room
        x = (rng.standard_normal(n) * 10.0 ** rng.uniform(-8, 1, n)).astype(np.float32)
        if n > 2 * BLOCK:
            x[BLOCK:2 * BLOCK] = 0.0
        tensors.append((f"x/{n}", x))
        for signed, name in ((True, "signed"), (False, "unsigned")):
            v = x if signed else np.abs(x)
            codes, absmax = quantize(v, signed)
            tensors += [(f"{name}/{n}/codes", codes), (f"{name}/{n}/absmax", absmax),
                        (f"{name}/{n}/dequantized", dequantize(codes, absmax, signed))]
            scodes, sabsmax = quantize(v, signed, stochastic=True)
            tensors += [(f"{name}/{n}/stochastic_codes", scodes)]
        bf = torch.from_numpy(x.copy()).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
        tensors.append((f"bfloat16/{n}", bf))
    meta = {"generator": "tests/reference/generate_quantize.py", "numpy_version": np.__version__,
            "torch_version": torch.__version__, "block": str(BLOCK), "stochastic_key": str(KEY),
            "sizes": json.dumps(SIZES)}
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "quantize.safetensors")
    write_safetensors(out, meta, tensors)
    print("wrote", out, len(tensors), "tensors")


if __name__ == "__main__":
    sys.exit(main())
