#!/usr/bin/env bash
# bench/fleet.sh: the one command that builds Strata in release mode and runs the fleet benchmark: 20 watched
# databases (PostgreSQL, MariaDB and SQLite, plus one that never answers), the fleet page against the slowest single
# database's overview, one database's pages on the fleet server against a server watching it alone, idle memory with
# 0, 1 and 20 watched databases, and the connections left after idle_timeout.
#
# Settings (environment): STRATA_BENCH_ROUNDS (fleet rounds, ~11 s each, default 10), STRATA_BENCH_REQUESTS (timed
# GETs per page, default 30), STRATA_BENCH_TABLES (tables per database, default 20), STRATA_BENCH_PG_URL (admin URL,
# default postgres://postgres@127.0.0.1:5432/postgres), STRATA_BENCH_MYSQL_URL (admin URL, default
# mysql://root@127.0.0.1:3306/mysql), CARGO_TARGET_DIR.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cargo build --release -p strata -p strata-bench

target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in
    /*) ;;
    *) target_dir="$root/$target_dir" ;; # cargo reads a relative CARGO_TARGET_DIR from the current directory
esac
exec "$target_dir/release/fleet-bench" "$@"
