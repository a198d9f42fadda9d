#!/usr/bin/env bash
# The save, load and verify rows of the benchmark table (scripts/bench.sh, docs/benchmarks.md):
# imgx against skopeo + zstd and against the floor, on the issue-18 image of SIZE MB.
#
#   scripts/bench-bundle.sh [SIZE_MB]     (default 1570; REPS=3)
set -euo pipefail
SIZE=${1:-${SIZE:-1570}} ROWS=save,load,verify exec "$(dirname "$0")/bench.sh"
