#!/usr/bin/env bash
# Runs the whole test suite: formatting, lints, and every unit, property and
# integration test in the workspace, then the services' integration tests a
# second time on PostgreSQL, then the end-to-end tests against the
# docker-compose stack when a Docker engine is available. Installs nothing it
# cannot install itself; each step says what failed.
#
# Environment:
#   BUF                     path to the buf CLI; when set (or `buf` is on
#                           PATH) the protobuf contracts are linted with the
#                           STANDARD and COMMENTS rules too.
#   BANK_TEST_POSTGRES_URL  a PostgreSQL server to create the test databases
#                           in, instead of clusters started from the local
#                           initdb and pg_ctl.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# True when the PostgreSQL tests can get a server: a URL, or initdb and
# pg_ctl where crates/test-support looks for them.
postgres_available() {
  [[ -n "${BANK_TEST_POSTGRES_URL:-}" ]] && return 0
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && return 0
  command -v initdb >/dev/null && command -v pg_ctl >/dev/null
}

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

buf_cli=${BUF:-$(command -v buf || true)}
if [[ -n "$buf_cli" ]]; then
  step "buf lint (proto/)"
  (cd proto && "$buf_cli" lint)
else
  step "buf lint skipped: set BUF to the buf CLI's path to lint proto/"
fi

if postgres_available; then
  step "PostgreSQL for the tests: ${BANK_TEST_POSTGRES_URL:+the server at BANK_TEST_POSTGRES_URL}${BANK_TEST_POSTGRES_URL:-throwaway clusters from the local initdb and pg_ctl}"
elif [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
  step "installing the PostgreSQL server with apt-get (package postgresql), because initdb and pg_ctl are missing and the PostgreSQL tests need them"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql
else
  step "initdb and pg_ctl not found, and this script can install them only as root on Debian: the PostgreSQL tests will fail. Install the postgresql package, or set BANK_TEST_POSTGRES_URL"
fi

step "cargo test (integration tests on SQLite; storage and the postgres_* tests on PostgreSQL)"
cargo test --workspace --locked

# The services' integration tests read BANK_TEST_BACKEND. tests/binary.rs
# tests the command line and has its own PostgreSQL test, and the
# postgres_* tests run on PostgreSQL anyway, so neither runs twice.
for service in deposit-status withdrawal-authorization; do
  targets=()
  for file in "services/$service/tests/"*.rs; do
    name=$(basename "$file" .rs)
    [[ "$name" == binary || "$name" == postgres_* ]] && continue
    targets+=(--test "$name")
  done
  step "cargo test -p $service ${targets[*]} with BANK_TEST_BACKEND=postgres"
  BANK_TEST_BACKEND=postgres cargo test --locked -p "$service" "${targets[@]}"
done

step "end-to-end tests against docker-compose.yml (scripts/e2e.sh)"
bash scripts/e2e.sh
