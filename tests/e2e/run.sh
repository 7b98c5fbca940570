#!/usr/bin/env bash
# Runs the end-to-end suite against a running stack.
#
# Creates the virtual environment target/e2e/venv when it is missing or when
# requirements.txt changed, generates the Python gRPC code from proto/ into
# target/e2e/python with grpcio-tools (no system protoc), and runs pytest.
# Extra arguments go to pytest, for example `-k incident`.
#
# The stack's addresses, each a host:port, come from BANK_E2E_DEPOSIT_STATUS,
# BANK_E2E_DEPOSIT_ADMIN, BANK_E2E_AUTHORIZATION_1,
# BANK_E2E_AUTHORIZATION_ADMIN_1, BANK_E2E_AUTHORIZATION_2 and
# BANK_E2E_AUTHORIZATION_ADMIN_2. Unset ones default to bank-dev's default
# ports, and replica 2 defaults to replica 1. The crash and outage scenarios
# run only when BANK_E2E_COMPOSE contains the compose command prefix of the stack.
#
# Environment: PYTHON, the interpreter that creates the venv (default
# python3, which must be CPython 3.11 or newer).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo_root"

requirements="tests/e2e/requirements.txt"
work_dir="target/e2e"
venv="$work_dir/venv"
generated="$work_dir/python"
stamp="$venv/requirements.sha256"
python="${PYTHON:-python3}"

wanted_hash="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "$wanted_hash" ]]; then
    echo "run.sh: creating $venv from $requirements" >&2
    rm -rf "$venv"
    mkdir -p "$work_dir"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --disable-pip-version-check --quiet --require-virtualenv \
        --only-binary=:all: -r "$requirements"
    "$venv/bin/python" -m pip check
    # Written last, so an install that failed half-way is redone next time.
    echo "$wanted_hash" >"$stamp"
fi

# Generated afresh on every run, so the code always matches proto/.
rm -rf "$generated"
mkdir -p "$generated"
grpc_tools_include="$("$venv/bin/python" -c \
    'import os, grpc_tools; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))')"
mapfile -t proto_files < <(find proto -name '*.proto' | sort)
"$venv/bin/python" -m grpc_tools.protoc \
    -I proto \
    -I "$grpc_tools_include" \
    --python_out="$generated" \
    --grpc_python_out="$generated" \
    --pyi_out="$generated" \
    "${proto_files[@]}"

# -s shows each scenario's progress lines as they happen, and -rs lists why
# a scenario was skipped. The cache provider is off because it would write
# .pytest_cache into the repository, and bytecode goes under target/ for the
# same reason.
export PYTHONPATH="$repo_root/$generated${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPYCACHEPREFIX="$repo_root/$work_dir/pycache"
exec "$venv/bin/python" -m pytest -p no:cacheprovider -s -v -rs tests/e2e "$@"
