#!/usr/bin/env bash
# bench/query.sh: the one command that builds Strata in release mode and runs the query editor benchmark on
# PostgreSQL, side by side with psql (1,000,000-row CSV export, first page, select 1).
#
# Settings (environment): STRATA_BENCH_ROUNDS (export rounds, default 5), STRATA_BENCH_REQUESTS (page requests,
# default 50), STRATA_BENCH_PG_URL (admin URL, default postgres://postgres@127.0.0.1:5432/postgres), CARGO_TARGET_DIR.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cargo build --release -p strata -p strata-bench

target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in
    /*) ;;
    *) target_dir="$root/$target_dir" ;; # cargo reads a relative CARGO_TARGET_DIR from the current directory
esac
exec "$target_dir/release/query-bench" "$@"
