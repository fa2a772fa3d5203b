#!/usr/bin/env bash
# One-shot local inventory: `kyoka snapshot --json` against OCS Inventory's agent
# (`ocsinventory-agent --local=DIR`), run alternately RUNS times each (default 7) after one
# warm-up run of each, measured with GNU time -v (wall clock, user+sys CPU including the
# children each one spawns, peak RSS of the largest process).
#
#   bash bench/snapshot-vs-ocs.sh [RUNS]        (from the repository root, after npm run build)
#
# Installs ocsinventory-agent and time from apt when missing (needs root). Prints one line per
# run and a summary (median, min, max) as a Markdown table.
set -euo pipefail
RUNS="${1:-7}"
cd "$(dirname "$0")/.."

need=()
command -v ocsinventory-agent >/dev/null || need+=(ocsinventory-agent)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]} from apt" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq -o DPkg::Lock::Timeout=300 "${need[@]}" >/dev/null
fi
[ -f dist/cli/main.js ] || npm run build >/dev/null

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/ocs"

# run NAME CMD...: one measured run; appends "name wall_s cpu_s rss_kb" to $work/results.
# kyoka snapshot exits 1 when something on the PC needs action (a finding, not a failure).
run() {
  local name="$1"; shift
  local rc=0
  /usr/bin/time -v -o "$work/time.txt" "$@" >"$work/out.txt" 2>"$work/err.txt" || rc=$?
  if [ "$rc" -ne 0 ] && ! { [ "$name" = kyoka ] && [ "$rc" -eq 1 ]; }; then
    echo "$name failed (exit $rc):" >&2; tail -5 "$work/err.txt" >&2; exit 1; fi
  awk -v name="$name" '
    /Elapsed \(wall clock\)/ { n = split($NF, p, ":"); wall = (n == 3) ? p[1]*3600 + p[2]*60 + p[3] : p[1]*60 + p[2] }
    /User time/   { user = $NF }
    /System time/ { sys = $NF }
    /Maximum resident set size/ { rss = $NF }
    END { printf "%s %.3f %.3f %d\n", name, wall, user + sys, rss }' "$work/time.txt" | tee -a "$work/results"
}

kyoka() { run kyoka node dist/cli/main.js snapshot --json; }
ocs() { rm -f "$work/ocs"/*; run ocs ocsinventory-agent --local="$work/ocs"; }

echo "# warm-up (not counted)" >&2
kyoka >/dev/null; ocs >/dev/null; : >"$work/results"
echo "# name wall_s cpu_s peak_rss_kb"
for i in $(seq 1 "$RUNS"); do kyoka; ocs; done

# what each produced (the last run)
kyoka_bytes=$({ node dist/cli/main.js snapshot --json || true; } | wc -c)
ocs_bytes=$(cat "$work/ocs"/*.ocs | wc -c)
{ node dist/cli/main.js snapshot --json || true; } | node -e '
  let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
    const d = JSON.parse(s);
    console.log(`# kyoka durationMs ${d.durationMs}, per source ${JSON.stringify(d.sourceDurationMs)}, errors ${JSON.stringify(d.errors)}`);
  });'

echo
echo "| tool | runs | wall s median (min–max) | CPU s median (min–max) | peak RSS MB median | output |"
echo "|---|---|---|---|---|---|"
for name in kyoka ocs; do
  awk -v name="$name" -v kb="$kyoka_bytes" -v ob="$ocs_bytes" '
    function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
    $1 == name { n++; w[n] = $2; c[n] = $3; r[n] = $4 / 1024 }
    END {
      mw = med(w, n); mc = med(c, n); mr = med(r, n)
      label = (name == "kyoka") ? "`kyoka snapshot --json`" : "`ocsinventory-agent --local`"
      out = (name == "kyoka") ? sprintf("%d KB JSON", kb / 1024) : sprintf("%d KB XML", ob / 1024)
      printf "| %s | %d | %.2f (%.2f–%.2f) | %.2f (%.2f–%.2f) | %.0f | %s |\n", label, n, mw, w[1], w[n], mc, c[1], c[n], mr, out
    }' "$work/results"
done
