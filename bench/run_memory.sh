#!/usr/bin/env bash
# bench/run_memory.sh: the one command that measures how much memory one large query-editor run takes.
#
# Builds `strata` in release mode, starts `strata serve` on a throw-away SQLite database `app` (with a throw-away
# home database beside it), signs in, and posts a run of STRATA_BENCH_SQL_MB megabytes (default 10): statements `SELECT '<~1 KB literal>' AS t;`, each returning
# its literal as one row. It reads the server's VmRSS and VmHWM (peak) from /proc before and after, through the
# editor form (`POST /db/app/query`) and then `POST /api/v1/databases/app/query`, and prints them with the text size and the bound
# the README documents.
#
# Settings (environment): STRATA_BENCH_SQL_MB (default 10), STRATA_BENCH_PORT (default 18431), CARGO_TARGET_DIR.
# Needs curl and python3.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cargo build --release --bin strata

target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in
    /*) ;;
    *) target_dir="$root/$target_dir" ;;
esac
strata="$target_dir/release/strata"
mb="${STRATA_BENCH_SQL_MB:-10}"
port="${STRATA_BENCH_PORT:-18431}"
base="http://127.0.0.1:$port"

work="$(mktemp -d)"
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

password="bench-$(date +%s)-pass"
# The project database `app` (created and migrated on start) and Strata's own home, both throw-away.
export DATABASE_URL="sqlite:///$work/app.db" STRATA_HOME_URL="sqlite:///$work/home.db" STRATA_MIGRATE_ON_START=true
export STRATA_ADMIN_PASSWORD="$password" STRATA_COOKIE_SECURE=false
# The limit is raised to fit the run (a text over max_sql_bytes is refused with 413 before it runs).
export STRATA_MAX_SQL_BYTES=$(( (mb + 1) * 1024 * 1024 )) STRATA_LISTEN="127.0.0.1:$port" RUST_LOG=warn
"$strata" serve >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
    curl -sf "$base/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -sf "$base/healthz" >/dev/null || { cat "$work/serve.log"; echo "strata serve did not start" >&2; exit 1; }

mem() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$server/status"; } # kB
mib() { awk -v kb="$1" 'BEGIN { printf "%.1f MiB", kb / 1024 }'; }

# The run's text, and the same as a JSON body.
python3 - "$work" "$mb" <<'PY'
import json, sys
work, mb = sys.argv[1], int(sys.argv[2])
literal = "x" * 1000
stmt = f"SELECT '{literal}' AS t;\n"
text = stmt * (mb * 1024 * 1024 // len(stmt))
open(f"{work}/run.sql", "w").write(text)
json.dump({"sql": text, "max_rows": 1}, open(f"{work}/run.json", "w"))
PY
bytes=$(stat -c %s "$work/run.sql")
statements=$(grep -c ';' "$work/run.sql")

jar="$work/cookies"
csrf() { curl -sf -b "$jar" -c "$jar" "$base$1" | grep -o 'name="_csrf" value="[^"]*"' | head -1 | sed 's/.*value="//; s/"$//'; }
token=$(csrf /login)
curl -sf -b "$jar" -c "$jar" -o /dev/null --data-urlencode "_csrf=$token" --data-urlencode "username=admin" \
    --data-urlencode "password=$password" "$base/login"
token=$(csrf /db/app/query)
[ -n "$token" ] || { echo "could not sign in" >&2; exit 1; }
key=$("$strata" key create --user admin --name bench --scope run_sql 2>/dev/null) # in the home (STRATA_HOME_URL)

rss0=$(mem VmRSS); hwm0=$(mem VmHWM)
page=$(curl -s -b "$jar" -o "$work/page.html" -w '%{http_code} %{time_total}' --data-urlencode "_csrf=$token" \
    --data-urlencode "sql@$work/run.sql" "$base/db/app/query")
rss1=$(mem VmRSS); hwm1=$(mem VmHWM)
api=$(curl -s -o "$work/api.json" -w '%{http_code} %{time_total}' -H "Authorization: Bearer $key" \
    -H 'Content-Type: application/json' --data-binary "@$work/run.json" "$base/api/v1/databases/app/query")
rss2=$(mem VmRSS); hwm2=$(mem VmHWM)
recorded=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from query_history').fetchone()[0])" "$work/home.db")

text_kb=$(( bytes / 1024 ))
echo "run: $bytes bytes of SQL, $statements statements (one row each), SQLite, release build"
echo "editor POST /db/app/query:                HTTP ${page%% *} in ${page##* } s; page $(stat -c %s "$work/page.html") bytes"
echo "API POST /api/v1/databases/app/query:     HTTP ${api%% *} in ${api##* } s; answer $(stat -c %s "$work/api.json") bytes"
echo "query_history rows (home) after both runs: $recorded (expected $(( 2 * statements )))"
echo
printf '%-22s %12s %12s %12s\n' "" "before" "after editor" "after API"
printf '%-22s %12s %12s %12s\n' "VmRSS" "$(mib "$rss0")" "$(mib "$rss1")" "$(mib "$rss2")"
printf '%-22s %12s %12s %12s\n' "VmHWM (peak)" "$(mib "$hwm0")" "$(mib "$hwm1")" "$(mib "$hwm2")"
peak=$(( hwm2 > hwm1 ? hwm2 : hwm1 ))
echo
echo "peak growth: $(mib $(( peak - hwm0 ))) = $(awk -v a=$(( peak - hwm0 )) -v t="$text_kb" 'BEGIN { printf "%.1f", a / t }')x the SQL text"
echo "documented bound: 16x the text ($(mib $(( 16 * text_kb )))) plus the rows kept (max_rows per statement)"
