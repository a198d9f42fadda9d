#!/usr/bin/env bash
# Runs every fuzz target for a short time each (default 20s): `make fuzz` or
# scripts/fuzz.sh 2m. Seed corpora live in each package's testdata/fuzz/ and always run as
# part of `go test`; new crashers found here are written there too — commit them.
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${1:-20s}
fail=0
while read -r pkg target; do
  echo "== $pkg $target ($dur)"
  # Minimising a new input re-runs it many times; the disk-touching targets make that slow.
  if ! go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$dur" -fuzzminimizetime 5x; then
    fail=1
  fi
done < <(grep -rl --include='*_test.go' '^func Fuzz' . | while read -r f; do
  for t in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | cut -d' ' -f2); do
    echo "./$(dirname "${f#./}") $t"
  done
done | sort -u)
exit $fail
