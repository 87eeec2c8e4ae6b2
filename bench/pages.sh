#!/usr/bin/env bash
# bench/pages.sh: the one command that builds Strata in release mode and runs the dashboard page benchmark
# (fixtures of 1,000 and/or 10,000 tables with 3 indexes each on PostgreSQL, MariaDB and SQLite, page vs
# catalog-query timings, the editor's select 1, load on the overview, SQLite start-up and RSS).
#
# Settings (environment): STRATA_BENCH_TABLES (default 1000; several with commas, e.g. 1000,10000, for the growth
# table), STRATA_BENCH_ENGINE (pg | mysql | sqlite | all, or a comma list; default pg), STRATA_BENCH_MYSQL_URL
# (default mysql://root@127.0.0.1:3306/mysql), STRATA_BENCH_REQUESTS (timed GETs per page, default 30),
# STRATA_BENCH_LOAD_SECS (default 60; 0 skips the load), STRATA_BENCH_LOAD_CONNECTIONS (default 16),
# STRATA_BENCH_LOAD_TOOL (auto | wrk | builtin | none; auto uses wrk, installing it with apt-get when it can),
# STRATA_BENCH_STARTS (SQLite start-ups, default 5), STRATA_BENCH_BASELINE (another strata binary timed side by side), STRATA_BENCH_PG_URL (admin URL, default
# postgres://postgres@127.0.0.1:5432/postgres), CARGO_TARGET_DIR.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

tool="${STRATA_BENCH_LOAD_TOOL:-auto}"
if [ "$tool" = auto ] && [ "${STRATA_BENCH_LOAD_SECS:-60}" != 0 ] && ! command -v wrk >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing wrk (the load generator) with apt-get ..."
        if ! apt-get install -y -qq wrk >/dev/null 2>&1; then
            apt-get update -qq >/dev/null 2>&1 || true
            apt-get install -y -qq wrk >/dev/null 2>&1 || true
        fi
    fi
    command -v wrk >/dev/null || echo "wrk is not available: the load runs on pages-bench's built-in generator"
fi

cargo build --release -p strata -p strata-bench

target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in
    /*) ;;
    *) target_dir="$root/$target_dir" ;; # cargo reads a relative CARGO_TARGET_DIR from the current directory
esac
exec "$target_dir/release/pages-bench" "$@"
