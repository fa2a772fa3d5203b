#!/usr/bin/env bash
# The test command: installs what the tests need (npm + Debian packages) when missing, builds, and
# runs the whole vitest suite. Extra arguments go to vitest (e.g. a test file).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
# type-check everything, tests and benches included (the build in vitest's global setup covers
# only what ships)
npx tsc -p tsconfig.check.json
npx tsc -p dashboard/tsconfig.json
npx tsc -p dashboard/tsconfig.json
exec npx vitest run "$@"
