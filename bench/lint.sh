#!/usr/bin/env bash
# bench/lint.sh: builds Strata in release mode and times, on PostgreSQL, whole `bench-strata` processes over its
# synthetic migrator of N migrations (default 500; medians of STRATA_BENCH_ROUNDS, default 7):
#   - `migrate lint --json` (all N pending), next to `migrate up --sql` (the same plan, recorded, not linted) and,
#     when squawk is installed (`npm install squawk-cli`, or SQUAWK=/path/to/squawk), `squawk` on that script;
#   - `migrate up --rehearse` next to `migrate up` into an empty database (order swapped every round), and beside them
#     psql alone with the same SQL: the `--sql` plan as is, and as one transaction with this session's locks read
#     after each migration and a ROLLBACK (what a rehearsal must do at the least);
#   - the same N migrations applied from the dashboard (`POST /api/v1/databases/{name}/migrations/apply` to a running
#     `bench-strata serve`, then its status polled every STRATA_BENCH_POLL seconds, default 0.1, with curl, until the
#     run has ended) next to `migrate up`, side by side in the same rounds (the server is started before the clock
#     starts: a dashboard is already running). The page itself polls every second; the poll adds up to its interval.
#     Before it, in the same rounds, the plan rehearsed through the API (`POST .../migrations/rehearse`, which answers
#     once the rehearsal is rolled back) on the same still-empty database.
#
# Settings (environment): STRATA_BENCH_N, STRATA_BENCH_ROUNDS, STRATA_BENCH_POLL, STRATA_BENCH_PG_URL (admin URL, default
# postgres://postgres@127.0.0.1:5432/postgres), SQUAWK, CARGO_TARGET_DIR; STRATA_BENCH_PARTS (default
# "lint rehearse dashboard": the parts to run); STRATA_BENCH_BIN (a bench-strata binary to time instead of building one,
# e.g. an older build kept aside to compare with).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
parts=" ${STRATA_BENCH_PARTS:-lint rehearse dashboard} "
if [ -n "${STRATA_BENCH_BIN:-}" ]; then
    bin="$STRATA_BENCH_BIN"
else
    cargo build --release -p strata -p strata-bench
    target_dir="${CARGO_TARGET_DIR:-$root/target}"
    case "$target_dir" in
        /*) ;;
        *) target_dir="$root/$target_dir" ;;
    esac
    bin="$target_dir/release/bench-strata"
fi
n="${STRATA_BENCH_N:-500}"
rounds="${STRATA_BENCH_ROUNDS:-7}"
poll="${STRATA_BENCH_POLL:-0.1}"
admin="${STRATA_BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
base="${admin%/*}"
squawk="${SQUAWK:-$(command -v squawk || true)}"
work="$(mktemp -d)"
export STRATA_BENCH_N="$n" STRATA_HOME_URL="sqlite:///$work/home.db" RUST_LOG=warn PGOPTIONS="-c client_min_messages=warning"
dbs=()
servers=()
cleanup() {
    for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; done
    for db in "${dbs[@]}"; do psql -qX "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true; done
    rm -rf "$work"
}
trap cleanup EXIT

fresh_db() { # prints the URL of a new empty database
    local db="strata_bench_lint_$$_$1"
    psql -qX "$admin" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
    dbs+=("$db")
    echo "$base/$db"
}
drop_db() { psql -qX "$admin" -c "DROP DATABASE IF EXISTS strata_bench_lint_$$_$1 WITH (FORCE)" >/dev/null; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# time_ms CMD...: runs CMD (output discarded, exit status 0 or 1 accepted: lint and squawk exit 1 on findings)
time_ms() {
    local t0 t1 rc
    t0=$(now_ms)
    set +e
    "$@" >/dev/null 2>"$work/stderr"
    rc=$?
    set -e
    t1=$(now_ms)
    if [ "$rc" -gt 1 ]; then cat "$work/stderr" >&2; echo "failed: $*" >&2; exit 1; fi
    echo $((t1 - t0))
}
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }
range() { tr ' ' '\n' | grep . | sort -n | awk 'NR==1{lo=$1} {hi=$1} END {print lo "-" hi}'; }
tables() { psql -qXtA "$1" -c "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'bench_t%'"; }

if [[ "$parts" == *" lint "* ]]; then
url="$(fresh_db lint)"
"$bin" --database-url "$url" migrate up --sql >"$work/plan.sql"
"$bin" --database-url "$url" migrate lint --json >"$work/lint.json" || true # warm-up, and the findings
lint=() sql=() sq=() up=() rehearse=()
for r in $(seq 1 "$rounds"); do
    lint+=("$(time_ms "$bin" --database-url "$url" migrate lint --json)")
    sql+=("$(time_ms "$bin" --database-url "$url" migrate up --sql)")
    if [ -n "$squawk" ]; then sq+=("$(time_ms "$squawk" "$work/plan.sql")"); fi
done
echo "bench-strata, N=$n, $rounds rounds (median, min-max, ms; whole processes)"
printf '%-44s %6s  %s\n' "migrate lint --json (lint of $n migrations)" "$(echo "${lint[*]}" | median)" "$(echo "${lint[*]}" | range)"
printf '%-44s %6s  %s\n' "migrate up --sql (the plan, no lint)" "$(echo "${sql[*]}" | median)" "$(echo "${sql[*]}" | range)"
if [ -n "$squawk" ]; then
    printf '%-44s %6s  %s\n' "squawk $("$squawk" --version 2>/dev/null | tr -d '\n') on the --sql script" "$(echo "${sq[*]}" | median)" "$(echo "${sq[*]}" | range)"
fi
echo "strata lint findings: $(grep -o '"rule":"[a-z-]*"' "$work/lint.json" | sort | uniq -c | tr -s ' ' | tr '\n' ',' | grep . || echo none)"
drop_db lint
fi

if [[ "$parts" == *" rehearse "* ]]; then
# rehearse_ms URL: times a rehearsal, and keeps the phases it logs at debug level (its migrations, its lock reads,
# the server's ROLLBACK) in $work/phases, one "name=ms" per line. An older binary logs none: the lines are left out.
rehearse_ms() {
    local ms
    ms="$(RUST_LOG=warn,strata::migrate::rehearse=debug time_ms "$bin" --database-url "$1" migrate up --rehearse --json)"
    sed 's/\x1b\[[0-9;]*m//g' "$work/stderr" | grep -o '[a-z_]*_ms=[0-9]*' >>"$work/phases" || true
    echo "$ms"
}
: >"$work/phases"
# The database's own floor, in psql with no Strata: the plan `--sql` prints (each migration its own transaction,
# version rows included) and the same as one transaction, a savepoint per migration, this session's relation locks
# read after each (what the rehearsal reads them for) and a ROLLBACK at the end.
url="$(fresh_db plan)"
"$bin" --database-url "$url" migrate up --sql >"$work/up.sql"
drop_db plan
{
    echo 'BEGIN;'
    sed -e 's/^BEGIN;$/SAVEPOINT migration;/' \
        -e "s/^COMMIT;\$/RELEASE SAVEPOINT migration; SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'relation' AND granted;/" \
        "$work/up.sql"
    echo 'ROLLBACK;'
} >"$work/rehearse.sql"
psql_f() { psql -qX -v ON_ERROR_STOP=1 -o /dev/null "$1" -f "$2"; }
pup=() pre=()
for r in $(seq 1 "$rounds"); do
    a="$(fresh_db "up$r")"
    b="$(fresh_db "re$r")"
    c="$(fresh_db "pu$r")"
    e="$(fresh_db "pr$r")"
    if [ $((r % 2)) -eq 1 ]; then
        up+=("$(time_ms "$bin" --database-url "$a" migrate up)")
        rehearse+=("$(rehearse_ms "$b")")
        pup+=("$(time_ms psql_f "$c" "$work/up.sql")")
        pre+=("$(time_ms psql_f "$e" "$work/rehearse.sql")")
    else
        pre+=("$(time_ms psql_f "$e" "$work/rehearse.sql")")
        pup+=("$(time_ms psql_f "$c" "$work/up.sql")")
        rehearse+=("$(rehearse_ms "$b")")
        up+=("$(time_ms "$bin" --database-url "$a" migrate up)")
    fi
    [ "$(tables "$a")" = "$n" ] || { echo "migrate up did not leave $n tables" >&2; exit 1; }
    [ "$(tables "$c")" = "$n" ] || { echo "psql did not leave $n tables" >&2; exit 1; }
    [ "$(tables "$b")" = "0" ] || { echo "the rehearsal left tables behind" >&2; exit 1; }
    [ "$(tables "$e")" = "0" ] || { echo "psql's rolled-back script left tables behind" >&2; exit 1; }
    for d in "up$r" "re$r" "pu$r" "pr$r"; do drop_db "$d"; done
done
mu="$(echo "${up[*]}" | median)"
mr="$(echo "${rehearse[*]}" | median)"
printf '%-44s %6s  %s\n' "migrate up ($n migrations, empty database)" "$mu" "$(echo "${up[*]}" | range)"
printf '%-44s %6s  %s\n' "migrate up --rehearse (same, rolled back)" "$mr" "$(echo "${rehearse[*]}" | range)"
for phase in migrations_ms lock_reads_ms rollback_ms; do
    v="$(grep "^$phase=" "$work/phases" | cut -d= -f2 | tr '\n' ' ' || true)"
    [ -n "$v" ] && printf '%-44s %6s  %s\n' "  of which ${phase%_ms} (server-side, logged)" "$(echo "$v" | median)" "$(echo "$v" | range)"
done
awk -v a="$mr" -v b="$mu" 'BEGIN {printf "rehearse/up: %.2fx (target <= 1.2x)\n", a / b}'
mpu="$(echo "${pup[*]}" | median)"
mpr="$(echo "${pre[*]}" | median)"
printf '%-44s %6s  %s\n' "psql: the --sql plan (no Strata)" "$mpu" "$(echo "${pup[*]}" | range)"
printf '%-44s %6s  %s\n' "psql: one transaction, locks read, ROLLBACK" "$mpr" "$(echo "${pre[*]}" | range)"
awk -v a="$mpr" -v b="$mpu" 'BEGIN {printf "psql alone, rolled back with lock reads / committed: %.2fx (the database'"'"'s own floor)\n", a / b}'
fi
[[ "$parts" == *" dashboard "* ]] || exit 0

# From the dashboard: an admin with a manage_migrations key (in the benchmark's own home database), one `serve` per
# round over a fresh database, the run started through the API and followed until it ends.
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
url="$(fresh_db keys)"
printf 'bench-admin-password\n' | "$bin" --database-url "$url" user create --username benchadmin \
    --email bench@example.com --role admin --password-stdin >/dev/null
key="$("$bin" --database-url "$url" key create --user benchadmin --name bench --scope manage_migrations)"
drop_db keys
apply_ms() { # apply_ms URL NAME: ms from the POST to the run's end as its status says, checked to have succeeded
    local t0 t1 status state
    t0=$(now_ms)
    status="$(curl -sf -X POST -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
        -d '{"action":"up"}' "http://127.0.0.1:$port/api/v1/databases/$2/migrations/apply" |
        grep -o '"status_url":"[^"]*"' | cut -d'"' -f4)"
    while :; do
        # The run's own state is the first "state" of the answer (its steps' come after); read with curl and grep,
        # as light a client as a page's fetch, not a Python process parsing the whole report at every poll.
        curl -sf -o "$work/status.json" -H "Authorization: Bearer $key" "http://127.0.0.1:$port$status"
        state="$(head -c 1024 "$work/status.json" | grep -o '"state":"[a-z_]*"' | sed -n 1p | cut -d'"' -f4)"
        [ "$state" = running ] || break
        sleep "$poll"
    done
    t1=$(now_ms)
    [ "$state" = succeeded ] || { echo "the dashboard run ended $state" >&2; exit 1; }
    wc -c <"$work/status.json" >"$work/status.bytes"
    # The run's own time as the server recorded it (started_at to finished_at): no polling interval in it.
    python3 -c 'import json, sys, datetime as d
s = json.load(open(sys.argv[1]))
t = lambda v: d.datetime.fromisoformat(v.replace("Z", "+00:00"))
print(round((t(s["finished_at"]) - t(s["started_at"])).total_seconds() * 1000))' "$work/status.json" >>"$work/server.ms"
    echo $((t1 - t0))
}
rehearse_api() { # rehearse_api NAME: a rehearsal of the whole plan through the API (it answers when rolled back)
    curl -sf -o "$work/rehearsal.json" -X POST -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
        -d '{"action":"up"}' "http://127.0.0.1:$port/api/v1/databases/$1/migrations/rehearse"
}
up=() dash=() dashre=()
for r in $(seq 1 "$rounds"); do
    a="$(fresh_db "cli$r")"
    d="$(fresh_db "ui$r")"
    name="strata_bench_lint_$$_ui$r"
    STRATA_LISTEN="127.0.0.1:$port" STRATA_COOKIE_SECURE=false "$bin" --database-url "$d" serve \
        >/dev/null 2>"$work/serve.log" &
    servers+=("$!")
    for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.05; done
    if [ $((r % 2)) -eq 1 ]; then
        up+=("$(time_ms "$bin" --database-url "$a" migrate up)")
        dashre+=("$(time_ms rehearse_api "$name")")
        dash+=("$(apply_ms "$d" "$name")")
    else
        dashre+=("$(time_ms rehearse_api "$name")")
        dash+=("$(apply_ms "$d" "$name")")
        up+=("$(time_ms "$bin" --database-url "$a" migrate up)")
    fi
    grep -q "\"steps\"" "$work/rehearsal.json" || { echo "the dashboard rehearsal did not answer a rehearsal" >&2; exit 1; }
    kill "${servers[-1]}"
    wait "${servers[-1]}" 2>/dev/null || true
    [ "$(tables "$a")" = "$n" ] || { echo "migrate up did not leave $n tables" >&2; exit 1; }
    [ "$(tables "$d")" = "$n" ] || { echo "the dashboard run did not leave $n tables" >&2; exit 1; }
    drop_db "cli$r"
    drop_db "ui$r"
done
mu="$(echo "${up[*]}" | median)"
md="$(echo "${dash[*]}" | median)"
printf '%-44s %6s  %s\n' "migrate up ($n migrations, empty database)" "$mu" "$(echo "${up[*]}" | range)"
mre="$(echo "${dashre[*]}" | median)"
printf '%-44s %6s  %s\n' "rehearse from the dashboard (API, same plan)" "$mre" "$(echo "${dashre[*]}" | range)"
printf '%-44s %6s  %s\n' "apply from the dashboard (API, same plan)" "$md" "$(echo "${dash[*]}" | range)"
server="$(tr '\n' ' ' <"$work/server.ms")"
printf '%-44s %6s  %s\n' "  the run itself (its started_at to finished_at)" "$(echo "$server" | median)" "$(echo "$server" | range)"
echo "the run's status at its end (what each poll reads then): $(( $(cat "$work/status.bytes") / 1024 )) kB of JSON"
awk -v a="$md" -v b="$mu" 'BEGIN {printf "dashboard/up: %.2fx (target <= 1.1x)\n", a / b}'
awk -v a="$mre" -v b="$mu" 'BEGIN {printf "dashboard rehearsal/up: %.2fx (target <= 1.2x)\n", a / b}'
