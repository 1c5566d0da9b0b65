#!/usr/bin/env bash
# Rewrites the worked example of docs/checkpoint-format.md (the file's bytes, length, checksum, data)
# from the code: runs the test CheckpointDoc.TheWorkedExampleIsGeneratedFromTheCode, which checks the
# section, in its rewrite mode. Usage: scripts/update-doc-example.sh [path/to/descent_tests]
set -euo pipefail
cd "$(dirname "$0")/.."
tests=${1:-build/test/tests/descent_tests}
DESCENT_UPDATE_DOCS=1 "$tests" --gtest_filter=CheckpointDoc.TheWorkedExampleIsGeneratedFromTheCode
