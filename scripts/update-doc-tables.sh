#!/usr/bin/env bash
# Rewrites the option tables in docs/optimizers.md from the code (`descent options NAME --markdown`), one
# per registered optimizer (`descent list --names`), in the registry's order, which is the doc's. The test
# DocsHoldTheGeneratedOptionTable checks they match.
# Usage: scripts/update-doc-tables.sh [path/to/descent]
set -euo pipefail
cd "$(dirname "$0")/.."
cli=${1:-build/release/apps/descent/descent}
python3 - "$cli" <<'PY'
import subprocess, sys
cli = sys.argv[1]
# The registry's order (`descent list --names`) is the order of the doc's sections.
names = subprocess.run([cli, "list", "--names"], check=True, capture_output=True, text=True).stdout.split()
header = "| name | type | default | valid range | meaning |"
lines = open("docs/optimizers.md").read().split("\n")
out, i, n = [], 0, 0
while i < len(lines):
    if lines[i] == header:
        if n >= len(names):
            sys.exit("docs/optimizers.md has more option tables than optimizers")
        table = subprocess.run([cli, "options", names[n], "--markdown"], check=True, capture_output=True, text=True).stdout
        out.extend(table.rstrip("\n").split("\n"))
        i += 1
        while i < len(lines) and lines[i].startswith("|"):
            i += 1
        n += 1
        continue
    out.append(lines[i])
    i += 1
if n != len(names):
    sys.exit(f"docs/optimizers.md has {n} option tables, expected {len(names)}")
open("docs/optimizers.md", "w").write("\n".join(out))
print(f"updated {n} tables")
PY
