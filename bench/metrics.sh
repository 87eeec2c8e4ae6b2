#!/usr/bin/env bash
# bench/metrics.sh: the one command that builds Strata in release mode and runs the /metrics benchmark
# (scrape latency with cached readings, then a sustained load on /metrics with errors and server memory).
#
# Settings (environment): STRATA_BENCH_REQUESTS (timed scrapes, default 500), STRATA_BENCH_LOAD_SECS (default 60;
# 0 skips the load), STRATA_BENCH_LOAD_CONNECTIONS (default 16), STRATA_BENCH_LOAD_PATH (/metrics or /healthz),
# STRATA_BENCH_PG_URL (admin URL, default postgres://postgres@127.0.0.1:5432/postgres), CARGO_TARGET_DIR.
# Exit status: 0 when every target was met, 2 when one was missed, 1 on an error.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

cargo build --release -p strata -p strata-bench

target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in
    /*) ;;
    *) target_dir="$root/$target_dir" ;; # cargo reads a relative CARGO_TARGET_DIR from the current directory
esac
exec "$target_dir/release/metrics-bench" "$@"
