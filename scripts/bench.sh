#!/usr/bin/env bash
# Benchmarks the complete withdrawal flow with bank-load: builds the release
# binaries, runs a closed-loop load with its floors and ratios on SQLite,
# then on PostgreSQL, then an open-loop run at a fixed rate on PostgreSQL
# for the latency target. Reports go to stdout and to BANK_BENCH_OUT;
# progress and the machine's state go to stderr. BENCHMARKS.md records the
# results.
#
# PostgreSQL comes from BANK_BENCH_POSTGRES_URL, or else from a throwaway
# cluster that this script starts with the local initdb and pg_ctl (as the
# postgres user when run as root) and stops at the end. The cluster keeps
# the server's default durability: fsync and synchronous_commit are on.
#
# Environment (defaults in brackets):
#   BANK_BENCH_TELLERS           concurrent tellers [32]
#   BANK_BENCH_DURATION          seconds of measured load per backend [30]
#   BANK_BENCH_FLOOR_DURATION    seconds of each floor measurement [5]
#   BANK_BENCH_RATE              flows/s of the open-loop run, 0 to skip it [500]
#   BANK_BENCH_RATE_DURATION     seconds of the open-loop run [15]
#   BANK_BENCH_POSTGRES_URL      a server whose user may create databases,
#                                instead of a throwaway cluster
#   BANK_BENCH_POSTGRES_OPTIONS  extra server options for the throwaway
#                                cluster, for example "-c fsync=off"
#   BANK_BENCH_OUT               folder for the reports [target/bench]
set -euo pipefail
cd "$(dirname "$0")/.."

tellers=${BANK_BENCH_TELLERS:-32}
duration=${BANK_BENCH_DURATION:-30}
floor_duration=${BANK_BENCH_FLOOR_DURATION:-5}
rate=${BANK_BENCH_RATE:-500}
rate_duration=${BANK_BENCH_RATE_DURATION:-15}
out_dir=${BANK_BENCH_OUT:-target/bench}

step() { printf '\n==> %s\n' "$*" >&2; }

# Prints the load average, which should be below 1 before a run: other work
# on the machine skews every figure.
machine_state() {
  printf 'machine: %s CPUs (%s), %s MiB memory; %s\n' "$(nproc)" \
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')" \
    "$(free -m | awk '/^Mem:/ {print $2}')" "$(uptime | sed 's/.*load average/load average/')" >&2
}

step "cargo build --release (bank-load, deposit-status, withdrawal-authorization)"
cargo build --release --locked --bin bank-load --bin deposit-status --bin withdrawal-authorization
bank_load=target/release/bank-load
mkdir -p "$out_dir"

# The throwaway cluster, stopped and removed on exit.
cluster_dir=""
pg_bin=""
postgres_pid_flags=()
run_as_server() {
  if [[ "$(id -u)" == 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}
stop_cluster() {
  if [[ -n "$cluster_dir" ]]; then
    run_as_server "$pg_bin/pg_ctl" -D "$cluster_dir/data" -w -m fast stop >/dev/null 2>&1 || true
    rm -rf -- "$cluster_dir"
  fi
}
trap stop_cluster EXIT

# Prints a TCP port of 127.0.0.1 that was free a moment ago, or a random
# one without python3; start_cluster tries again when it is taken.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' \
    2>/dev/null || echo $((20000 + RANDOM % 40000))
}

start_cluster() {
  # The newest /usr/lib/postgresql/VERSION/bin (Debian), else initdb's
  # directory on PATH.
  pg_bin=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
  if [[ -z "$pg_bin" ]] && command -v initdb >/dev/null; then
    pg_bin=$(dirname "$(command -v initdb)")
  fi
  if [[ -z "$pg_bin" || ! -x "$pg_bin/initdb" || ! -x "$pg_bin/pg_ctl" ]]; then
    echo "error: initdb and pg_ctl not found in /usr/lib/postgresql/*/bin or on PATH: install the postgresql package (apt-get install postgresql) or set BANK_BENCH_POSTGRES_URL" >&2
    exit 1
  fi

  cluster_dir=$(mktemp -d /tmp/bank-bench-postgres-XXXXXX)
  if [[ "$(id -u)" == 0 ]]; then
    chown postgres: "$cluster_dir"
  fi
  run_as_server "$pg_bin/initdb" -D "$cluster_dir/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >/dev/null

  local attempt
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    if run_as_server "$pg_bin/pg_ctl" -D "$cluster_dir/data" -l "$cluster_dir/postgres.log" -w -t 60 \
      -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories='$cluster_dir' -c max_connections=300 ${BANK_BENCH_POSTGRES_OPTIONS:-}" \
      start >/dev/null; then
      break
    fi
    if [[ $attempt == 5 ]]; then
      echo "error: PostgreSQL did not start; last lines of $cluster_dir/postgres.log:" >&2
      tail -n 20 "$cluster_dir/postgres.log" >&2
      exit 1
    fi
  done

  postgres_url="postgres://postgres@127.0.0.1:$port/postgres"
  # The postmaster's process id, so that bank-load reports the server's CPU.
  postgres_pid_flags=(--postgres-pid "$(head -n 1 "$cluster_dir/data/postmaster.pid")")
}

# Runs bank-load with the given flags and keeps its report as NAME.txt.
run_load() {
  local name=$1
  shift
  machine_state
  "$bank_load" "$@" | tee "$out_dir/$name.txt"
}

step "SQLite: $tellers tellers, closed loop, $duration s"
run_load sqlite --backend sqlite --tellers "$tellers" --duration "$duration" --floor-duration "$floor_duration"

if [[ -n "${BANK_BENCH_POSTGRES_URL:-}" ]]; then
  postgres_url=$BANK_BENCH_POSTGRES_URL
  step "PostgreSQL at BANK_BENCH_POSTGRES_URL"
else
  step "starting a throwaway PostgreSQL cluster"
  start_cluster
  "$pg_bin/postgres" --version >&2
fi

step "PostgreSQL: $tellers tellers, closed loop, $duration s"
run_load postgres --backend postgres --database-url "$postgres_url" "${postgres_pid_flags[@]}" \
  --tellers "$tellers" --duration "$duration" --floor-duration "$floor_duration"

if [[ "$rate" != 0 ]]; then
  step "PostgreSQL: open loop at $rate flows/s over $tellers tellers, $rate_duration s"
  run_load postgres-rate --backend postgres --database-url "$postgres_url" "${postgres_pid_flags[@]}" \
    --tellers "$tellers" --rate "$rate" --duration "$rate_duration" --no-floors
fi

step "reports written to $out_dir"
