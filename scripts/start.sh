#!/usr/bin/env bash
# The main job: installs (npm ci) and builds when needed, then runs the server on the embedded
# SQLite store together with this PC's agent enrolled against it. Flags go to `kyoka local`
# (--port 8080 --host 127.0.0.1 --data ./data). Logs are readable lines (--log-format pretty) unless
# KYOKA_LOG_FORMAT=json or a --log-format flag says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npx tsc -p tsconfig.json
npx vite build -c dashboard/vite.config.ts   # the dashboard, served at /
exec node dist/cli/main.js local --log-format "${KYOKA_LOG_FORMAT:-pretty}" "$@"
