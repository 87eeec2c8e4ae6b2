#!/usr/bin/env bash
# bench/alembic.sh: the one command that builds Strata in release mode and times `strata alembic history`
# (and `history --verbose`, `heads`) against the real `alembic` on a generated 500-revision Alembic project:
# whole processes side by side, medians, target >= 10x faster. Installs alembic from PyPI into
# $CARGO_TARGET_DIR/alembic-venv when it is missing (or set STRATA_ALEMBIC to an alembic executable).
#
# Settings (environment): STRATA_BENCH_REVISIONS (default 500), STRATA_BENCH_RUNS (runs per command, default 11),
# STRATA_ALEMBIC, CARGO_TARGET_DIR.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in
    /*) ;;
    *) target_dir="$root/$target_dir" ;; # cargo reads a relative CARGO_TARGET_DIR from the current directory
esac
if [ -z "${STRATA_ALEMBIC:-}" ] && ! "$target_dir/alembic-venv/bin/alembic" --version >/dev/null 2>&1; then
  echo "installing alembic into $target_dir/alembic-venv ..."
  python3 -m venv "$target_dir/alembic-venv"
  "$target_dir/alembic-venv/bin/pip" install -q --disable-pip-version-check alembic psycopg2-binary
fi
cargo build --release -p strata -p strata-bench --bin strata --bin alembic-bench
exec "$target_dir/release/alembic-bench" "$@"
