#!/usr/bin/env bash
# The whole suite: services, type check, then every tap test (unit, integration, browser).
# With arguments (`scripts/run-tests.sh test/unit/x.test.ts`) it runs those files from source, through tsx.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p test-artifacts
if [ $# -eq 0 ]; then
  # The type checks (the gateway, the agent, the CLI and the tests; then the console) run beside the tests
  # rather than before them: alone they would hold one core busy and the other idle. Their result still decides.
  # At the lowest priority: about 35 CPU-s that fit in the moments the tests leave a core idle (waiting on
  # containers and agents) rather than taking it from them.
  (nice -n 19 npx tsc -p tsconfig.json --noEmit && nice -n 19 npx tsc -p web/tsconfig.json --noEmit) > test-artifacts/typecheck.log 2>&1 &
  typecheck=$!
  # The tests run bundled (scripts/bundle.mjs: dist/test, source-mapped) on plain node: a process that
  # loads the gateway's modules one by one spends over a CPU-second doing it, and the suite starts hundreds.
  # Bundled while the services start (mostly waiting on dpkg, dockerd and PostgreSQL).
  node scripts/bundle.mjs tests &
  bundle=$!
fi
services_env=$(scripts/test-services.sh)
export "${services_env?}"
# Debian 12's docker-compose (v1, Python) imports distutils at every run, and setuptools' shim answers
# that with its own vendored copy: a third of the command's start-up CPU. The standard library's
# distutils does the same job (compose uses only find_executable); the agent tests run compose hundreds of times.
export SETUPTOOLS_USE_DISTUTILS=stdlib
if [ $# -gt 0 ]; then
  npx tsc -p tsconfig.json --noEmit
  exec npx tap "$@"
fi
wait "$bundle"
# Slowest first (test/slowest-first.txt), then the rest: files run TEST_JOBS (default 4) at a time,
# and a long file started last would be the tail of the run. Four rather than three on two cores: many
# files spend much of their time waiting on containers, agents and rollouts.
order=()
while read -r f; do
  if [ -f "dist/test/${f%.ts}.js" ]; then order+=("dist/test/${f%.ts}.js"); fi
done < <(grep -v '^#' test/slowest-first.txt)
for f in dist/test/browser/*.test.js dist/test/integration/*.test.js dist/test/unit/*.test.js; do
  [[ " ${order[*]} " == *" $f "* ]] || order+=("$f")
done
# Plain node processes rather than tap's runner (test/runner/run-test-files.ts says why); the files
# still use tap, and `npx tap <file>` still runs any one of them.
status=0
node dist/test/runner/run-test-files.js --jobs "${TEST_JOBS:-4}" --timeout 240 --cpu-report test-artifacts/cpu-by-file.tsv "${order[@]}" || status=$?
if ! wait "$typecheck"; then
  echo "type check failed (npx tsc -p tsconfig.json --noEmit, then -p web/tsconfig.json):" >&2
  cat test-artifacts/typecheck.log >&2
  status=1
fi
exit "$status"
