#!/usr/bin/env bash
# bench/scheduler_idle.sh: what the backup scheduler costs a `strata serve` that sits idle. Per engine, two servers
# run side by side for STRATA_BENCH_MINUTES: one watching a small database with `backup_schedule = @every 1m`
# (`backup_keep = last=3`), one watching the same database with no schedule. Every STRATA_BENCH_SAMPLE_SECS the
# script reads each process's RSS (/proc/PID/status VmRSS) and CPU ticks (/proc/PID/stat: its own utime+stime and
# its waited-for children's, i.e. pg_dump) and at the end prints, per server, RSS at the start and at the end
# (medians of the first and last tenth of the samples after the warm-up), the RSS slope (least squares, KiB per
# hour), the average CPU % (own and children) and how many scheduled backups ran.
#
# Settings (environment): STRATA_BENCH_MINUTES (default 60), STRATA_BENCH_SAMPLE_SECS (10),
# STRATA_BENCH_WARMUP_SECS (120: samples before it are kept in the CSV but not in the figures),
# STRATA_BENCH_ENGINE (`sqlite`, `pg` or `sqlite,pg`; default `sqlite,pg`), STRATA_BENCH_PG_URL (admin URL, default
# postgres://postgres@127.0.0.1:5432/postgres), STRATA_BENCH_PROFILE (`release`, the default, or `debug`),
# STRATA_BENCH_NO_BUILD=1 (use the binary already in the target dir), STRATA_BENCH_KEEP (a folder to keep the
# samples' CSV in), CARGO_TARGET_DIR.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
profile="${STRATA_BENCH_PROFILE:-release}"
case "$profile" in
    release) build_flags=(--release) ;;
    debug) build_flags=() ;;
    *) echo "STRATA_BENCH_PROFILE=$profile: use release or debug" >&2; exit 2 ;;
esac
if [[ "${STRATA_BENCH_NO_BUILD:-}" != 1 ]]; then
    cargo build "${build_flags[@]}" -p strata
fi
target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in
    /*) ;;
    *) target_dir="$root/$target_dir" ;;
esac
strata="$target_dir/$profile/strata"
[[ -x "$strata" ]] || { echo "no $strata: build it first" >&2; exit 2; }

minutes="${STRATA_BENCH_MINUTES:-60}"
sample="${STRATA_BENCH_SAMPLE_SECS:-10}"
warmup="${STRATA_BENCH_WARMUP_SECS:-120}"
engines="${STRATA_BENCH_ENGINE:-sqlite,pg}"
admin_url="${STRATA_BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
clk_tck="$(getconf CLK_TCK)"

work="$(mktemp -d "${TMPDIR:-/tmp}/strata-bench-idle.XXXXXX")"
# A copy of the binary, so a build during the hour does not replace the file under the running servers.
cp "$strata" "$work/strata"
pg_db="strata_bench_idle_$$"
pg_made=0
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [[ "$pg_made" == 1 ]]; then
        psql -q -X -d "$admin_url" -c "DROP DATABASE IF EXISTS \"$pg_db\" WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    if [[ -n "${STRATA_BENCH_KEEP:-}" ]]; then
        mkdir -p "$STRATA_BENCH_KEEP" && cp "$work"/*.csv "$work"/*.log "$STRATA_BENCH_KEEP"/ 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# A small database: three tables, a foreign key, a few hundred rows.
small_schema="CREATE TABLE customers (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id), amount INTEGER);
CREATE INDEX orders_customer ON orders(customer_id);
CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);"

declare -A db_url
for engine in ${engines//,/ }; do
    case "$engine" in
        sqlite)
            file="$work/small.db"
            {
                echo "$small_schema"
                echo "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<200)
                      INSERT INTO customers SELECT i, 'customer ' || i FROM n;
                      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<1000)
                      INSERT INTO orders SELECT i, 1 + i % 200, i * 3 FROM n;
                      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<100)
                      INSERT INTO notes SELECT i, 'note ' || i FROM n;"
            } | sqlite3 "$file"
            db_url[sqlite]="sqlite:///$file"
            ;;
        pg)
            psql -q -X -v ON_ERROR_STOP=1 -d "$admin_url" -c "CREATE DATABASE \"$pg_db\"" >/dev/null
            pg_made=1
            base="${admin_url%%\?*}"
            query=""
            [[ "$admin_url" == *\?* ]] && query="?${admin_url#*\?}"
            url="${base%/*}/$pg_db$query"
            {
                echo "$small_schema"
                echo "INSERT INTO customers SELECT i, 'customer ' || i FROM generate_series(1, 200) i;
                      INSERT INTO orders SELECT i, 1 + i % 200, i * 3 FROM generate_series(1, 1000) i;
                      INSERT INTO notes SELECT i, 'note ' || i FROM generate_series(1, 100) i;"
            } | psql -q -X -v ON_ERROR_STOP=1 -d "$url" >/dev/null
            db_url[pg]="$url"
            ;;
        *) echo "STRATA_BENCH_ENGINE: unknown engine $engine (sqlite, pg)" >&2; exit 2 ;;
    esac
done

# One server: its own home database, backup folder and log; `schedule` is `@every 1m` or empty.
declare -A server_pid
start_server() {
    local name="$1" engine="$2" schedule="$3"
    local dir="$work/$name"
    mkdir -p "$dir/backups"
    local port
    port="$(free_port)"
    {
        echo "[strata]"
        echo "home_url = sqlite:///$dir/home.db"
        echo "listen = 127.0.0.1:$port"
        echo
        echo "[database:small]"
        echo "url = ${db_url[$engine]}"
        echo "backup_dir = $dir/backups"
        if [[ -n "$schedule" ]]; then
            echo "backup_schedule = $schedule"
            echo "backup_keep = last=3"
        fi
    } >"$dir/strata.ini"
    # Only the database above is watched (it is also the project database, so the default example one is not):
    # no STRATA_WATCH_* from the caller's environment, and the server runs in its own folder (no ./alembic.ini).
    (cd "$dir" && exec env -u STRATA_HOME_URL $(env | sed -n 's/^\(STRATA_WATCH_[^=]*\)=.*/-u \1/p') \
        DATABASE_URL="${db_url[$engine]}" STRATA_CONFIG="$dir/strata.ini" \
        STRATA_ADMIN_PASSWORD="bench-idle-$$-password" STRATA_COOKIE_SECURE=false \
        "$work/strata" serve </dev/null >/dev/null 2>"$work/$name.log") &
    local pid=$!
    pids+=("$pid")
    server_pid[$name]=$pid
    for _ in $(seq 1 300); do
        if curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then return 0; fi
        kill -0 "$pid" 2>/dev/null || { echo "$name: strata serve stopped; its log:" >&2; cat "$work/$name.log" >&2; exit 1; }
        sleep 0.2
    done
    echo "$name: not listening after 60 s" >&2
    exit 1
}

names=()
for engine in ${engines//,/ }; do
    start_server "$engine-scheduled" "$engine" "@every 1m"
    start_server "$engine-none" "$engine" ""
    names+=("$engine-scheduled" "$engine-none")
done

echo "strata: $strata ($profile); $minutes min, a sample every $sample s, warm-up $warmup s; load: $(cut -d' ' -f1-3 /proc/loadavg)"
for name in "${names[@]}"; do
    echo "t_secs,rss_kib,self_ticks,child_ticks" >"$work/$name.csv"
done
t0=$(date +%s)
end=$((t0 + minutes * 60))
while :; do
    now=$(date +%s)
    for name in "${names[@]}"; do
        pid=${server_pid[$name]}
        if ! stat_line="$(cat "/proc/$pid/stat" 2>/dev/null)"; then
            echo "$name (pid $pid) stopped during the run; its log:" >&2
            cat "$work/$name.log" >&2
            exit 1
        fi
        # Fields after the command name's closing parenthesis: state is 3, utime 14, stime 15, cutime 16, cstime 17.
        read -r -a f <<<"${stat_line##*) }"
        rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
        echo "$((now - t0)),$rss,$((f[11] + f[12])),$((f[13] + f[14]))" >>"$work/$name.csv"
    done
    ((now >= end)) && break
    sleep "$sample"
done

printf '\n%-18s %10s %10s %14s %9s %10s %8s\n' server "RSS start" "RSS end" "slope KiB/h" "CPU %" "child CPU %" backups
for name in "${names[@]}"; do
    runs=$(sqlite3 "$work/$name/home.db" "SELECT count(*) FROM backup_runs WHERE outcome = 'succeeded'" 2>/dev/null || echo "?")
    all_runs=$(sqlite3 "$work/$name/home.db" "SELECT count(*) FROM backup_runs" 2>/dev/null || echo "?")
    awk -F, -v warm="$warmup" -v tck="$clk_tck" -v name="$name" -v runs="$runs/$all_runs" '
        NR == 1 { next }
        $1 >= warm { n++; t[n] = $1; r[n] = $2; s[n] = $3; c[n] = $4 }
        function median(lo, hi,   k, m, v, i, j, tmp) {
            m = 0
            for (k = lo; k <= hi; k++) v[++m] = r[k]
            for (i = 2; i <= m; i++) { tmp = v[i]; for (j = i - 1; j >= 1 && v[j] > tmp; j--) v[j + 1] = v[j]; v[j + 1] = tmp }
            return (m % 2) ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
        }
        END {
            if (n < 2) { printf "%-18s too few samples after the warm-up\n", name; exit }
            tenth = int(n / 10); if (tenth < 1) tenth = 1
            for (k = 1; k <= n; k++) { sx += t[k]; sy += r[k] }
            mx = sx / n; my = sy / n
            for (k = 1; k <= n; k++) { num += (t[k] - mx) * (r[k] - my); den += (t[k] - mx) ^ 2 }
            slope = den > 0 ? num / den * 3600 : 0
            secs = t[n] - t[1]
            cpu = (s[n] - s[1]) / tck / secs * 100
            child = (c[n] - c[1]) / tck / secs * 100
            printf "%-18s %7d KiB %7d KiB %14.0f %9.3f %10.3f %8s\n", name, median(1, tenth), median(n - tenth + 1, n), slope, cpu, child, runs
        }' "$work/$name.csv"
done
echo "RSS start/end: medians of the first and last tenth of the samples after the warm-up; CPU: ticks over that span."
echo "backups: scheduled runs that succeeded / all claimed runs (from the server's backup_runs)."
