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
# Slowest first (test/slowest-first.txt), then the rest: files run TEST_JOBS (default 3) at a time,
# and a long file started last would be the tail of the run.
order=()
while read -r f; do
  if [ -f "dist/test/${f%.ts}.js" ]; then order+=("dist/test/${f%.ts}.js"); fi
done < <(grep -v '^#' test/slowest-first.txt)
for f in dist/test/browser/*.test.js dist/test/integration/*.test.js dist/test/unit/*.test.js; do
  [[ " ${order[*]} " == *" $f "* ]] || order+=("$f")
done
# Plain node processes rather than tap's runner (test/runner/run-test-files.ts says why); the files
# still use tap, and `npx tap <file>` still runs any one of them.
exec node dist/test/runner/run-test-files.js --jobs "${TEST_JOBS:-3}" --timeout 240 "${order[@]}"
