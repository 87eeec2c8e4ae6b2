#!/usr/bin/env bash
# bench/migrations.sh: builds Strata in release mode and runs the migrations benchmark: the per-database Migrations
# page on a PostgreSQL database with five migration tools' tables of 2,000 rows each, against the catalog and
# history queries alone, and the library read in between (medians, one run).
#
# Settings (environment): STRATA_BENCH_ROWS (history rows per tool, default 2000), STRATA_BENCH_REQUESTS (timed
# rounds, default 30), STRATA_BENCH_PG_URL (admin URL, default postgres://postgres@127.0.0.1:5432/postgres),
# CARGO_TARGET_DIR.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cargo build --release -p strata -p strata-bench

target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in
    /*) ;;
    *) target_dir="$root/$target_dir" ;; # cargo reads a relative CARGO_TARGET_DIR from the current directory
esac
exec "$target_dir/release/migrations-bench" "$@"
