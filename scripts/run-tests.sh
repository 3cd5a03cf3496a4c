#!/usr/bin/env bash
# The whole suite: services, type check, then every tap test (unit and integration).
set -euo pipefail
cd "$(dirname "$0")/.."
export $(scripts/test-services.sh)
npx tsc -p tsconfig.json --noEmit
mkdir -p test-artifacts
exec npx tap "$@"
