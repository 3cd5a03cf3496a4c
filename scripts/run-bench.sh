#!/usr/bin/env bash
# Runs every benchmark in bench/; each prints ratios against a reference measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s nullglob
benches=(bench/*/main.ts)
if [ ${#benches[@]} -eq 0 ]; then echo "no benchmarks yet"; exit 0; fi
for b in "${benches[@]}"; do echo "== $b"; npx tsx "$b"; done
