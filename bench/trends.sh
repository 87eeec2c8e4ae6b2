#!/usr/bin/env bash
# bench/trends.sh: the one command that builds Strata in release mode and runs the trends benchmark (a 30-day chart
# over 43,200 one-minute samples: p50 target 20 ms; the sampler's CPU on a PostgreSQL database of 1,000 tables,
# scaled to 20 databases at 60 s: target 2 % of one core; the home database's growth over a simulated year of one
# watched database at the default settings, SQLite and PostgreSQL homes: target 50 MiB). The databases it creates
# are dropped at the end. Arguments name the parts to run (chart, sampler, growth); none runs them all.
#
# Settings (environment): STRATA_BENCH_REQUESTS (chart runs per metric, default 50), STRATA_BENCH_SAMPLES (timed
# samples, default 10), STRATA_BENCH_GROWTH_OBJECTS (tables and indexes simulated, scaled to 1,000 each; default
# 10), STRATA_BENCH_GROWTH_STATEMENTS (statements simulated, scaled to 200; default 10), STRATA_BENCH_GROWTH_DAYS
# (default 365), STRATA_BENCH_GROWTH_MIX (even, the default; uneven: every growing table and busy index off its pace
# by a pseudo-random amount each minute), STRATA_BENCH_GROWTH_PG (0: SQLite home only), STRATA_BENCH_PG_URL (admin URL, default postgres://postgres@127.0.0.1:5432/postgres),
# CARGO_TARGET_DIR. Exit status: 0 when every target was met, 2 when one was missed, 1 on an error.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

cargo build --release -p strata-bench --bin trends-bench

target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in
    /*) ;;
    *) target_dir="$root/$target_dir" ;; # cargo reads a relative CARGO_TARGET_DIR from the current directory
esac
exec "$target_dir/release/trends-bench" "$@"
