#!/usr/bin/env bash
# Runs every bench script that exists; each prints its own figures and ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
for b in scripts/bench-image.sh scripts/bench-archive.sh scripts/bench-bundle.sh scripts/bench-transport.sh scripts/bench-registry.sh scripts/bench-serve.sh; do
  if [ -x "$b" ]; then
    echo "### $b"
    "$b" || echo "$b failed"
    echo
  fi
done
