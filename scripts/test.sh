#!/usr/bin/env bash
# Runs the whole test suite: formatting, lints, and every unit, property and
# integration test in the workspace. Installs nothing it cannot install
# itself; each step says what failed.
#
# Environment:
#   BUF   path to the buf CLI; when set (or `buf` is on PATH) the protobuf
#         contracts are linted with the STANDARD and COMMENTS rules too.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

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

step "cargo test"
cargo test --workspace --locked
