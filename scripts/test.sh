#!/usr/bin/env bash
# The test command: installs what the tests need (npm + Debian packages) when missing, builds, and
# runs the whole vitest suite. Extra arguments go to vitest (e.g. a test file).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
# no PostgreSQL of the machine's own on 5432: the test cluster setup.sh made
if [ -z "${KYOKA_TEST_PG_URL:-}" ] && ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  export KYOKA_TEST_PG_URL=postgres://postgres@127.0.0.1:54329/test
fi
# type-check everything, tests and benches included (the build in vitest's global setup covers
# only what ships)
npx tsc -p tsconfig.check.json
npx tsc -p dashboard/tsconfig.json
npx tsc -p dashboard/tsconfig.json
exec npx vitest run "$@"
