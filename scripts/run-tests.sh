#!/usr/bin/env bash
# The whole suite: services, type check, then every tap test (unit and integration).
set -euo pipefail
cd "$(dirname "$0")/.."
services_env=$(scripts/test-services.sh)
export "${services_env?}"
npx tsc -p tsconfig.json --noEmit
mkdir -p test-artifacts
exec npx tap "$@"
