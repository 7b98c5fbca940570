#!/usr/bin/env bash
# Runs the end-to-end test suite against the docker-compose stack. It builds
# the images offline (scripts/docker-images.sh) and starts docker-compose.yml
# as project bank-e2e on free loopback ports. Then it runs the Python suite
# in tests/e2e, on a client generated from proto/ with grpcio-tools, and
# removes the stack with its volumes. The container logs are printed when a
# step fails.
#
# Without a Docker engine it prints that it skipped the tests and exits 0,
# so that scripts/test.sh runs on machines without Docker.
#
# Environment:
#   BANK_E2E_KEEP_STACK=1  leave the stack running after the tests
#   BANK_E2E_PROFILE       cargo profile of the service binaries, default debug
#   BANK_E2E_PROJECT       compose project name, default bank-e2e. A run
#                          first removes what an earlier run of the same
#                          project left, so concurrent runs need different
#                          names.
#   BANK_SERVICES_IMAGE    services image to build and run, default
#                          bank-local/services:e2e
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

if ! command -v docker >/dev/null || ! docker info >/dev/null 2>&1; then
  step "end-to-end tests skipped: no Docker engine answers 'docker info' on this machine"
  exit 0
fi
if docker compose version >/dev/null 2>&1; then
  compose_cli=(docker compose)
elif command -v docker-compose >/dev/null; then
  compose_cli=(docker-compose)
else
  step "end-to-end tests skipped: Docker runs but neither 'docker compose' nor 'docker-compose' is installed"
  exit 0
fi

project=${BANK_E2E_PROJECT:-bank-e2e}
compose=("${compose_cli[@]}" --project-name "$project" --file "$PWD/docker-compose.yml")

export BANK_SERVICES_IMAGE=${BANK_SERVICES_IMAGE:-bank-local/services:e2e}
export BANK_POSTGRES_IMAGE=${BANK_POSTGRES_IMAGE:-bank-local/postgres:15}
# The incident replay needs the business date 2025-02-22, which the suite
# sets through DepositAdminService.SetBusinessDate.
export BANK_ALLOW_BUSINESS_DATE_OVERRIDE=true
random_password() { od --address-radix=n --read-bytes=16 --format=x1 /dev/urandom | tr -d ' \n'; }
BANK_POSTGRES_PASSWORD=$(random_password)
BANK_DEPOSIT_STATUS_DB_PASSWORD=$(random_password)
BANK_AUTHORIZATION_DB_PASSWORD=$(random_password)
export BANK_POSTGRES_PASSWORD BANK_DEPOSIT_STATUS_DB_PASSWORD BANK_AUTHORIZATION_DB_PASSWORD

step "building the images (scripts/docker-images.sh)"
bash scripts/docker-images.sh --profile "${BANK_E2E_PROFILE:-debug}"

# Six free loopback ports, one per published listener. A port could be
# taken between this check and `up`; `up` then fails and names it.
read -r -a ports < <(python3 -c '
import socket
sockets = [socket.socket() for _ in range(6)]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in sockets))
')
export BANK_DEPOSIT_STATUS_PORT=${ports[0]} BANK_DEPOSIT_ADMIN_PORT=${ports[1]}
export BANK_AUTHORIZATION_1_PORT=${ports[2]} BANK_AUTHORIZATION_1_ADMIN_PORT=${ports[3]}
export BANK_AUTHORIZATION_2_PORT=${ports[4]} BANK_AUTHORIZATION_2_ADMIN_PORT=${ports[5]}

tear_down() {
  local status=$?
  if [[ $status -ne 0 ]]; then
    step "failed with status $status; the containers' last log lines:"
    "${compose[@]}" logs --no-color --tail=80 || true
  fi
  if [[ "${BANK_E2E_KEEP_STACK:-}" == 1 ]]; then
    step "stack left running (BANK_E2E_KEEP_STACK=1); remove it with: ${compose[*]} down --volumes"
  else
    step "removing the stack and its volumes"
    "${compose[@]}" down --volumes --remove-orphans >/dev/null 2>&1 || true
  fi
  exit "$status"
}

step "removing what an earlier run of project $project left"
"${compose[@]}" down --volumes --remove-orphans >/dev/null 2>&1 || true
trap tear_down EXIT

step "starting the stack: ${compose[*]} up --detach --no-build"
"${compose[@]}" up --detach --no-build

# Waits until the container of service $1 reports healthy, for at most 180 s.
wait_healthy() {
  local service=$1 container status
  local deadline=$((SECONDS + 180))
  container=$("${compose[@]}" ps --quiet "$service")
  while true; do
    status=$(docker inspect --format '{{.State.Health.Status}}' "$container")
    [[ "$status" == healthy ]] && return 0
    if ((SECONDS >= deadline)); then
      echo "error: $service is still $status after 180 s" >&2
      return 1
    fi
    sleep 1
  done
}
for service in postgres deposit-status withdrawal-authorization-1 withdrawal-authorization-2; do
  wait_healthy "$service"
  echo "$service is healthy"
done

step "running the Python end-to-end suite (tests/e2e)"
export BANK_E2E_DEPOSIT_STATUS=127.0.0.1:$BANK_DEPOSIT_STATUS_PORT
export BANK_E2E_DEPOSIT_ADMIN=127.0.0.1:$BANK_DEPOSIT_ADMIN_PORT
export BANK_E2E_AUTHORIZATION_1=127.0.0.1:$BANK_AUTHORIZATION_1_PORT
export BANK_E2E_AUTHORIZATION_ADMIN_1=127.0.0.1:$BANK_AUTHORIZATION_1_ADMIN_PORT
export BANK_E2E_AUTHORIZATION_2=127.0.0.1:$BANK_AUTHORIZATION_2_PORT
export BANK_E2E_AUTHORIZATION_ADMIN_2=127.0.0.1:$BANK_AUTHORIZATION_2_ADMIN_PORT
# Shell-quoted, so that the suite's shlex.split gets the words back.
printf -v BANK_E2E_COMPOSE '%q ' "${compose[@]}"
export BANK_E2E_COMPOSE
bash tests/e2e/run.sh
