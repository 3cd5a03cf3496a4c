#!/usr/bin/env bash
# The whole suite: services, type check, then every tap test (unit, integration, browser).
# With arguments (`scripts/run-tests.sh test/unit/x.test.ts`) it runs those files from source, through tsx.
set -euo pipefail
cd "$(dirname "$0")/.."
services_env=$(scripts/test-services.sh)
export "${services_env?}"
mkdir -p test-artifacts
if [ $# -gt 0 ]; then
  npx tsc -p tsconfig.json --noEmit
  exec npx tap "$@"
fi
# The type check also compiles the tests (dist/test, next to the dist/server they import), so the suite
# runs on plain node: a TypeScript loader in each test process cost about a second of CPU per file.
# Emptied first, so a deleted test cannot linger as a stale compiled copy.
rm -rf dist/test
npx tsc -p tsconfig.json
# Slowest first (test/slowest-first.txt): tap starts files in name order, three at a time, so a long file
# that sorts last would run alone at the end. Numbered links put them first; each runs from its real path.
order=()
while read -r f; do
  if [ -f "dist/test/${f%.ts}.js" ]; then order+=("dist/test/${f%.ts}.js"); fi
done < <(grep -v '^#' test/slowest-first.txt)
for f in dist/test/browser/*.test.js dist/test/integration/*.test.js dist/test/unit/*.test.js; do
  [[ " ${order[*]} " == *" $f "* ]] || order+=("$f")
done
mkdir -p dist/test/run
for i in "${!order[@]}"; do
  f=${order[$i]#dist/test/}
  ln -s "../$f" "dist/test/run/$(printf '%03d' "$i")-${f//\//-}"
done
# --node-arg replaces the .taprc's `--import=tsx` (the source-file workflow keeps it).
exec npx tap --node-arg=--enable-source-maps dist/test/run/*.test.js
