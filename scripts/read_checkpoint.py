#!/usr/bin/env python3
"""Reads and checks a descent checkpoint (a safetensors file) with nothing but the standard library.

Written from docs/checkpoint-format.md alone, as a check that the document is enough to read the files.

  scripts/read_checkpoint.py run.safetensors                        # metadata, every tensor, first values
  scripts/read_checkpoint.py run.safetensors --tensor param/w       # all values of one tensor
  scripts/read_checkpoint.py run.safetensors --expect param/w=1,2.5 --expect state/w/step=4

--expect compares exactly: each expected value is first rounded to the tensor's type (float32 for F32),
then compared with the decoded value (NaN matches NaN). Exit status: 0 when the file is valid and every
expectation holds, 1 otherwise (with a message on stderr), 2 for bad usage.
"""

import argparse
import json
import math
import struct
import sys
import zlib

FORMAT = "descent.checkpoint"
VERSIONS = {"1"}
MAX_HEADER = 100_000_000  # bytes; descent and safetensors refuse longer headers
MAX_DEPTH = 64  # levels of JSON values, the header object being level 1
DTYPES = {"F32": ("<f", 4), "F64": ("<d", 8), "I64": ("<q", 8)}
CHECKSUM_PREFIX = "crc32:"
HEX = set("0123456789abcdef")


class Invalid(Exception):
    """The file breaks a rule of the format."""


class _Negative:
    """Stands for a negative JSON integer, which no field of the header allows."""

    def __init__(self, text):
        self.text = text


def _parse_int(text):
    return _Negative(text) if text.startswith("-") else int(text)


def _reject_constant(name):
    raise Invalid(f"invalid JSON header: {name} is not JSON")


def _unique_object(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise Invalid(f"invalid JSON header: duplicate key {json.dumps(key)}")
        seen[key] = value
    return seen


def _check_json_value(value, level):
    """Depth limit, and strings that are valid Unicode (no lone surrogates from \\u escapes)."""
    if level > MAX_DEPTH:
        raise Invalid(f"invalid JSON header: nesting deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        value.encode("utf-8")  # raises UnicodeEncodeError on a lone surrogate
    elif isinstance(value, list):
        for item in value:
            _check_json_value(item, level + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            key.encode("utf-8")
            _check_json_value(item, level + 1)


def _is_count(value, limit):
    return type(value) is int and 0 <= value <= limit


def _string_tokens(header):
    """(start, end) byte ranges of every JSON string in the header, quotes included.

    The header is valid JSON at this point, so every '"' outside a string opens one. Scanning bytes is
    safe in UTF-8: the bytes of '"' and '\\' never occur inside a multi-byte character."""
    tokens = []
    i, n = 0, len(header)
    while i < n:
        if header[i] != 0x22:
            i += 1
            continue
        start = i
        i += 1
        while header[i] != 0x22:
            i += 2 if header[i] == 0x5C else 1
        i += 1
        tokens.append((start, i))
    return tokens


def _checksum_digits_at(header):
    """Byte offset, within the header, of the 8 digits of the metadata "checksum" value.

    That value is the only string value of a member named "checksum": tensor entries hold exactly the
    keys dtype, shape and data_offsets, and a tensor's own entry is an object, not a string."""
    tokens = _string_tokens(header)
    for (k_start, k_end), (v_start, v_end) in zip(tokens, tokens[1:]):
        if json.loads(header[k_start:k_end].decode("utf-8")) != "checksum":
            continue
        if header[k_end:v_start].strip(b" \t\r\n") != b":":
            continue
        raw = header[v_start:v_end]
        # The value must be written literally ("crc32:" and 8 digits, no escapes) for its digits to
        # sit at a fixed place.
        text = raw[1:-1].decode("utf-8")
        if len(text) != len(CHECKSUM_PREFIX) + 8 or not text.startswith(CHECKSUM_PREFIX) or \
                not set(text[len(CHECKSUM_PREFIX):]) <= HEX:
            raise Invalid('metadata "checksum" is not "crc32:" and 8 lowercase hex digits, written literally')
        return v_start + 1 + len(CHECKSUM_PREFIX)
    raise Invalid('metadata "checksum" is missing')


class Checkpoint:
    def __init__(self, path):
        with open(path, "rb") as f:
            self.raw = f.read()
        self.metadata = {}
        self.tensors = {}  # name -> (dtype, shape, begin, end), offsets relative to the data
        self._parse()

    def _parse(self):
        raw = self.raw
        if len(raw) < 8:
            raise Invalid(f"truncated: {len(raw)} bytes, fewer than the 8 of the header length")
        (n,) = struct.unpack_from("<Q", raw, 0)
        if n > len(raw) - 8:
            raise Invalid(f"header length {n} is larger than the rest of the file ({len(raw) - 8} bytes)")
        if n > MAX_HEADER:
            raise Invalid(f"header length {n} exceeds {MAX_HEADER} bytes")
        header = raw[8:8 + n]
        data_size = len(raw) - 8 - n
        self.header_length = n
        try:
            text = header.decode("utf-8")
        except UnicodeDecodeError as e:
            raise Invalid(f"the header is not valid UTF-8 (byte {e.start})") from None
        if not text.startswith("{"):
            raise Invalid("the header does not start with '{'")
        try:
            root = json.loads(text, object_pairs_hook=_unique_object, parse_int=_parse_int,
                              parse_constant=_reject_constant)
            _check_json_value(root, 1)
        except (ValueError, RecursionError, UnicodeEncodeError) as e:
            raise Invalid(f"invalid JSON header: {e}") from None
        if not isinstance(root, dict):
            raise Invalid("the header is not a JSON object")

        meta = root.get("__metadata__")
        if meta is None:
            raise Invalid("no __metadata__: not a descent checkpoint")
        if not isinstance(meta, dict):
            raise Invalid("__metadata__ is not an object")
        for key, value in meta.items():
            if not isinstance(value, str):
                raise Invalid(f"metadata {key!r} is not a string")
        self.metadata = meta
        if meta.get("format") != FORMAT:
            raise Invalid(f"metadata 'format' is {meta.get('format')!r}, expected {FORMAT!r}")
        if meta.get("format_version") not in VERSIONS:
            raise Invalid(f"unsupported format_version {meta.get('format_version')!r} "
                          f"(this reader knows {', '.join(sorted(VERSIONS))})")

        extents = []
        for name, info in root.items():
            if name == "__metadata__":
                continue
            what = f"tensor {name!r}"
            if name == "":
                raise Invalid("a tensor has an empty name")
            if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
                raise Invalid(f"{what}: expected an object with exactly the keys dtype, shape and data_offsets")
            dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
            if dtype not in DTYPES:
                raise Invalid(f"{what}: unsupported dtype {dtype!r} (F32, F64 and I64 are defined)")
            if not isinstance(shape, list) or not all(_is_count(d, 2**63 - 1) for d in shape):
                raise Invalid(f"{what}: shape is not a list of non-negative 64-bit integers")
            if not isinstance(offsets, list) or len(offsets) != 2 or \
                    not all(_is_count(o, 2**64 - 1) for o in offsets):
                raise Invalid(f"{what}: data_offsets is not a pair of non-negative integers")
            nbytes = math.prod(shape) * DTYPES[dtype][1]
            if nbytes > 2**64 - 1:
                raise Invalid(f"{what}: shape {shape} has more bytes than fit in 64 bits")
            begin, end = offsets
            if begin > end or end > data_size:
                raise Invalid(f"{what}: data_offsets [{begin}, {end}] are out of range "
                              f"(the data has {data_size} bytes)")
            if end - begin != nbytes:
                raise Invalid(f"{what}: data_offsets span {end - begin} bytes, shape {shape} of {dtype} "
                              f"needs {nbytes}")
            self.tensors[name] = (dtype, shape, begin, end)
            extents.append((begin, end, name))

        # The tensors tile the data: sorted by offset, each starts where the previous one ended.
        extents.sort()
        covered, previous = 0, None
        for begin, end, name in extents:
            if begin < covered:
                raise Invalid(f"tensors {previous!r} and {name!r} overlap in the data")
            if begin > covered:
                raise Invalid(f"bytes {covered} to {begin} of the data belong to no tensor")
            covered, previous = end, name
        if covered != data_size:
            raise Invalid(f"bytes {covered} to {data_size} of the data belong to no tensor")

        # The checksum: CRC-32 of every byte after the length, its own 8 digits counted as '0'.
        at = 8 + _checksum_digits_at(header)
        crc = zlib.crc32(raw[8:at])
        crc = zlib.crc32(b"00000000", crc)
        crc = zlib.crc32(raw[at + 8:], crc)
        stated = raw[at:at + 8].decode("ascii")
        if stated != f"{crc:08x}":
            raise Invalid(f"checksum mismatch: the file says crc32:{stated}, its bytes give crc32:{crc:08x}")

    def values(self, name):
        dtype, _, begin, end = self.tensors[name]
        start = 8 + self.header_length + begin
        return [v for (v,) in struct.iter_unpack(DTYPES[dtype][0], self.raw[start:start + (end - begin)])]


def _format(dtype, value):
    if dtype == "I64":
        return str(value)
    return f"{value:.9g}" if dtype == "F32" else repr(value)


def _to_dtype(dtype, text):
    """The expected value as the tensor holds it: an int for I64, a float rounded to the type otherwise."""
    if dtype == "I64":
        return int(text)
    value = float(text)
    if dtype == "F32":
        try:
            (value,) = struct.unpack("<f", struct.pack("<f", value))
        except OverflowError:
            raise ValueError(f"{text} is out of float32 range") from None
    return value


def _same(a, b):
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def main(argv):
    parser = argparse.ArgumentParser(description="Read and check a descent checkpoint (safetensors).")
    parser.add_argument("file")
    parser.add_argument("--expect", action="append", default=[], metavar="NAME=v1,v2,...",
                        help="require the tensor NAME to hold exactly these values (repeatable)")
    parser.add_argument("--tensor", action="append", default=[], metavar="NAME",
                        help="print every value of the tensor NAME (repeatable)")
    parser.add_argument("--head", type=int, default=6, metavar="K",
                        help="values shown per tensor in the listing (default 6)")
    args = parser.parse_args(argv)

    try:
        ckpt = Checkpoint(args.file)
    except OSError as e:
        print(f"read_checkpoint: {args.file}: {e.strerror or e}", file=sys.stderr)
        return 1
    except Invalid as e:
        print(f"read_checkpoint: {args.file}: {e}", file=sys.stderr)
        return 1

    print(f"{args.file}: {len(ckpt.raw)} bytes, header {ckpt.header_length} bytes, {len(ckpt.tensors)} tensors, "
          f"checksum ok")
    print("metadata:")
    for key in sorted(ckpt.metadata):
        print(f"  {key} = {ckpt.metadata[key]}")
    print("tensors:")
    for name in sorted(ckpt.tensors):
        dtype, shape, begin, end = ckpt.tensors[name]
        values = ckpt.values(name)
        shown = ", ".join(_format(dtype, v) for v in values[:args.head])
        more = f", ... ({len(values)} values)" if len(values) > args.head else ""
        print(f"  {name}  {dtype} {shape}  [{begin}, {end})  {shown}{more}")

    problems = []
    for name in args.tensor:
        if name not in ckpt.tensors:
            problems.append(f"--tensor {name}: no such tensor")
            continue
        dtype = ckpt.tensors[name][0]
        print(f"{name} =")
        for i, v in enumerate(ckpt.values(name)):
            print(f"  [{i}] {_format(dtype, v)}")

    for spec in args.expect:
        name, sep, listed = spec.partition("=")
        if not sep:
            problems.append(f"--expect {spec}: expected NAME=v1,v2,...")
            continue
        if name not in ckpt.tensors:
            problems.append(f"--expect {name}: no such tensor")
            continue
        dtype = ckpt.tensors[name][0]
        actual = ckpt.values(name)
        try:
            wanted = [_to_dtype(dtype, t.strip()) for t in listed.split(",")] if listed.strip() else []
        except ValueError as e:
            problems.append(f"--expect {name}: {e}")
            continue
        if len(wanted) != len(actual):
            problems.append(f"--expect {name}: the tensor has {len(actual)} values, {len(wanted)} given")
            continue
        bad = [(i, w, a) for i, (w, a) in enumerate(zip(wanted, actual)) if not _same(w, a)]
        for i, w, a in bad:
            problems.append(f"--expect {name}: element {i} is {_format(dtype, a)}, expected {_format(dtype, w)}")
        if not bad:
            one = len(actual) == 1
            print(f"expect {name}: {len(actual)} {'value matches' if one else 'values match'}")

    for p in problems:
        print(f"read_checkpoint: {args.file}: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
