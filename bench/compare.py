#!/usr/bin/env python3
"""Merges the JSON lines of descent_compare_step and torch_step.py (one run, same machine) into the table
of docs/performance.md: per optimizer, layout and thread count, descent's time against its memory roof and
against PyTorch's fastest setting. Usage: compare.py DESCENT_JSONL TORCH_JSONL OUT_JSON"""
import json
import sys


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip().startswith("{")]


def main():
    descent_rows, torch_rows, out_path = load(sys.argv[1]), load(sys.argv[2]), sys.argv[3]
    target = next((r["target"] for r in descent_rows if "target" in r), "?")
    best_torch = {}
    for r in torch_rows:
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
    with open(out_path, "w") as f:
        json.dump({"target": target, "rows": table}, f, indent=1)
    print(f"dispatch target: {target}; times are medians; roof = a plain loop moving the same bytes\n")
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
