#!/usr/bin/env python3
"""Merges the JSON lines of descent_compare_step and torch_step.py into the table of docs/performance.md:
per optimizer, layout and thread count, descent's time against its memory roof and against PyTorch's fastest
setting. Both files must come from one run of bench/compare.sh: each starts with the same stamp (run id,
date, machine, parameters, repeats); files of different runs, or without a stamp, are refused, so the two
columns of a table are always measured side by side. The table is printed with that stamp.
Usage: compare.py DESCENT_JSONL TORCH_JSONL OUT_JSON"""
import json
import sys


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip().startswith("{")]


def stamp_of(rows, path):
    if not rows or "run" not in rows[0]:
        sys.exit(f"compare.py: {path} has no run stamp on its first line: it was not written by bench/compare.sh; "
                 "rerun bench/compare.sh rather than combining files")
    return rows[0]


def check_same_run(descent_rows, torch_rows, descent_path, torch_path):
    a, b = stamp_of(descent_rows, descent_path), stamp_of(torch_rows, torch_path)
    if a != b:
        sys.exit(f"compare.py: {descent_path} is from run {a['run']} and {torch_path} from run {b['run']}: "
                 "a table combines one run only; rerun bench/compare.sh")
    for path, rows in ((descent_path, descent_rows), (torch_path, torch_rows)):
        for r in rows:
            if "parameters" in r and "optimizer" in r and r["parameters"] != a["parameters"]:
                sys.exit(f"compare.py: {path} has a row of {r['parameters']} parameters in a run of {a['parameters']}")
    return a


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    descent_path, torch_path, out_path = sys.argv[1:4]
    descent_rows, torch_rows = load(descent_path), load(torch_path)
    stamp = check_same_run(descent_rows, torch_rows, descent_path, torch_path)
    target = next((r["target"] for r in descent_rows if "target" in r), "?")
    torch_info = next((r["torch"] for r in torch_rows if "torch" in r), None)
    if torch_info is None:
        sys.exit(f"compare.py: {torch_path} does not say which PyTorch it timed (no \"torch\" line)")
    best_torch = {}
    for r in torch_rows:
        if "optimizer" not in r:
            continue
        key = (r["optimizer"], r["tensors"], r["threads"])
        if key not in best_torch or r["torch_s"] < best_torch[key]["torch_s"]:
            best_torch[key] = r
    table = []
    for r in descent_rows:
        if "optimizer" not in r:
            continue
        key = (r["optimizer"], r["tensors"], r["threads"])
        t = best_torch.get(key)
        one_thread = next((d for d in descent_rows if d.get("optimizer") == r["optimizer"] and
                           d.get("tensors") == r["tensors"] and d.get("threads") == 1), None)
        table.append({
            **r,
            "ns_per_parameter": r["descent_s"] / r["parameters"] * 1e9,
            "descent_over_roof": r["descent_s"] / r["roof_s"],
            "torch_s": t["torch_s"] if t else None,
            "torch_foreach": t["foreach"] if t else None,
            "torch_over_descent": t["torch_s"] / r["descent_s"] if t else None,
            "speedup_over_1_thread": one_thread["descent_s"] / r["descent_s"] if one_thread else None,
        })
    threads = sorted({r["threads"] for r in table})
    with open(out_path, "w") as f:
        json.dump({"stamp": stamp, "torch": torch_info, "target": target, "rows": table}, f, indent=1)
    print(f"Measured {stamp['date']} in one run of bench/compare.sh (run {stamp['run']}, descent {stamp['descent_commit']}), "
          f"on {stamp['machine']}. {stamp['parameters']} float32 parameters; threads {', '.join(map(str, threads))}; "
          f"descent: medians of {stamp['repeats']} steps, dispatch target {target}, roof = a plain loop moving the same "
          f"bytes (with and without software prefetch, the faster). PyTorch {torch_info['version']} ({torch_info['blas']}): {torch_info['timing']}.\n")
    print("| optimizer | tensors | threads | descent ms | ns/param | descent / roof | PyTorch ms (foreach) | PyTorch / descent | vs 1 thread |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in table:
        torch_cell = f"{r['torch_s'] * 1e3:.1f} ({'on' if r['torch_foreach'] else 'off'})" if r["torch_s"] else "-"
        ratio = f"{r['torch_over_descent']:.1f}x" if r["torch_over_descent"] else "-"
        print(f"| {r['optimizer']} | {r['tensors']} | {r['threads']} | {r['descent_s'] * 1e3:.2f} | "
              f"{r['ns_per_parameter']:.3f} | {r['descent_over_roof']:.2f} | {torch_cell} | {ratio} | "
              f"{r['speedup_over_1_thread']:.2f}x |")
    print(f"\nwritten: {out_path}")


if __name__ == "__main__":
    main()
