#!/usr/bin/env bash
# bench/backup.sh: the one command that builds Strata in release mode and runs the backup benchmark on PostgreSQL:
# `strata backup` / `strata restore` of a ~1 GB database side by side with `pg_dump | gzip` / `gunzip | psql`, and
# `strata backup --encrypt-to` (age) beside the plain `strata backup`.
#
# Settings (environment): STRATA_BENCH_BACKUP_MB (fixture size, default 1024), STRATA_BENCH_ROUNDS (default 3),
# STRATA_BENCH_PG_URL (admin URL, default postgres://postgres@127.0.0.1:5432/postgres), CARGO_TARGET_DIR.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cargo build --release -p strata -p strata-bench

target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in
    /*) ;;
    *) target_dir="$root/$target_dir" ;; # cargo reads a relative CARGO_TARGET_DIR from the current directory
esac
exec "$target_dir/release/backup-bench" "$@"
