#!/usr/bin/env bash
# Runs Strata's whole test suite against real SQLite, PostgreSQL and MariaDB.
# Starts the local PostgreSQL and MariaDB servers when they are installed but stopped;
# a server that cannot be reached makes the suite fail (never a silent skip).
set -euo pipefail
cd "$(dirname "$0")/.."

pg_url="${STRATA_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
my_url="${STRATA_TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306/test}"

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
my_up() { mariadb-admin -h 127.0.0.1 -P 3306 -u root ping >/dev/null 2>&1 || mysqladmin -h 127.0.0.1 -P 3306 -u root ping >/dev/null 2>&1; }

if ! pg_up && command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
  echo "starting PostgreSQL ..."
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
if ! my_up && [ -x /usr/sbin/mariadbd ]; then
  echo "starting MariaDB ..."
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
  for _ in $(seq 1 30); do my_up && break; sleep 1; done
fi
pg_up || { echo "PostgreSQL is not reachable at 127.0.0.1:5432 ($pg_url); the backend tests need it." >&2; exit 1; }
my_up || { echo "MariaDB is not reachable at 127.0.0.1:3306 ($my_url); the backend tests need it." >&2; exit 1; }

# The browser tests drive Debian's Chromium through chromedriver; install them when missing.
if ! command -v chromedriver >/dev/null || ! { command -v chromium >/dev/null || command -v chromium-browser >/dev/null; }; then
  echo "installing chromium and chromium-driver for the browser tests ..."
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium chromium-driver >/dev/null
fi

# tests/backup_encrypt.rs checks encrypted backups both ways with the real age CLI (Debian's age package).
if ! command -v age >/dev/null || ! command -v age-keygen >/dev/null; then
  echo "installing age for the encrypted backup tests ..."
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq age >/dev/null
fi

# The API fuzz run (tests/api_fuzz.rs) uses schemathesis from PyPI, in a venv under target/; installed once.
st_venv="target/schemathesis-venv"
if [ -z "${STRATA_SCHEMATHESIS:-}" ] && ! "$st_venv/bin/schemathesis" --version >/dev/null 2>&1; then
  echo "installing schemathesis into $st_venv for the API fuzz run ..."
  python3 -m venv "$st_venv"
  "$st_venv/bin/pip" install -q --disable-pip-version-check schemathesis
fi

# tests/api_document.rs validates the OpenAPI document with openapi-spec-validator from PyPI; installed once.
ov_venv="target/openapi-validator-venv"
if [ -z "${STRATA_OPENAPI_VALIDATOR:-}" ] && ! "$ov_venv/bin/openapi-spec-validator" --version >/dev/null 2>&1; then
  echo "installing openapi-spec-validator into $ov_venv for the API document test ..."
  python3 -m venv "$ov_venv"
  "$ov_venv/bin/pip" install -q --disable-pip-version-check openapi-spec-validator
fi

# The Alembic-managed fixture (tests/common/apps.rs) runs the real alembic from PyPI, in a venv under target/;
# installed once.
al_venv="target/alembic-venv"
if [ -z "${STRATA_ALEMBIC:-}" ] && ! "$al_venv/bin/alembic" --version >/dev/null 2>&1; then
  echo "installing alembic and psycopg2-binary into $al_venv for the Alembic-managed fixture ..."
  python3 -m venv "$al_venv"
  "$al_venv/bin/pip" install -q --disable-pip-version-check alembic psycopg2-binary
fi

# tests/backup_offsite.rs starts moto's S3-compatible server (PyPI moto[server]) on loopback, in a venv under target/;
# installed once.
moto_venv="target/moto-venv"
if [ -z "${STRATA_MOTO_SERVER:-}" ] && ! [ -x "$moto_venv/bin/moto_server" ]; then
  echo "installing moto[server] into $moto_venv for the off-site backup tests ..."
  python3 -m venv "$moto_venv"
  "$moto_venv/bin/pip" install -q --disable-pip-version-check 'moto[server]'
fi

export STRATA_TEST_PG_URL="$pg_url" STRATA_TEST_MYSQL_URL="$my_url"
cargo test --workspace --all-targets "$@"
