#!/usr/bin/env bash
# bench/watched_load.sh: the one command that builds Strata in release mode and measures what the trend sampler adds
# to a watched PostgreSQL database's own query load: a private cluster (pg_stat_statements preloaded) with 1,000
# tables and 1,000 indexes, pgbench -S for a fixed time while a real `strata serve` watches it with the sampler off,
# then on, in alternating rounds (target: at most 5 % of the workload's database time at the default 60 s).
#
# Needs: pgbench, psql, PostgreSQL 15's server programs (STRATA_BENCH_PG_BIN, default /usr/lib/postgresql/15/bin),
# root (the cluster runs as the `postgres` OS user through runuser).
# Settings (environment): STRATA_BENCH_ROUNDS (rounds each way, default 3), STRATA_BENCH_SECONDS (per round, default
# 30), STRATA_BENCH_INTERVAL (sample_interval in seconds when on, default 5), STRATA_BENCH_CLIENTS (pgbench clients,
# default 2), CARGO_TARGET_DIR. Exit status: 0 when the target was met, 2 when it was missed, 1 on an error.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

cargo build --release -p strata -p strata-bench --bin strata --bin watched-load-bench

target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in
    /*) ;;
    *) target_dir="$root/$target_dir" ;; # cargo reads a relative CARGO_TARGET_DIR from the current directory
esac
exec "$target_dir/release/watched-load-bench" "$@"
