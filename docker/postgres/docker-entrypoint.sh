#!/bin/sh
# Entry point of the locally built PostgreSQL image (scripts/docker-images.sh),
# used in place of the official postgres image where no registry can be
# reached. It reads the official image's variables, as documented at
# https://hub.docker.com/_/postgres:
#   POSTGRES_PASSWORD          required unless POSTGRES_HOST_AUTH_METHOD=trust
#   POSTGRES_USER              superuser name, default postgres
#   POSTGRES_DB                database created at initialisation, default
#                              POSTGRES_USER
#   POSTGRES_INITDB_ARGS       extra initdb arguments
#   POSTGRES_HOST_AUTH_METHOD  pg_hba.conf method for TCP clients, default
#                              scram-sha-256
#   PGDATA                     data directory, default
#                              /var/lib/postgresql/data
# On an empty data directory it runs initdb, creates POSTGRES_DB and runs the
# *.sql and *.sh files of /docker-entrypoint-initdb.d in name order, then
# starts the server listening on every interface.
set -eu

# Any command other than postgres runs as given, as in the official image.
if [ $# -gt 0 ] && [ "$1" != postgres ]; then
  exec "$@"
fi
if [ $# -gt 0 ]; then
  shift
fi

PGDATA=${PGDATA:-/var/lib/postgresql/data}
export PGDATA
POSTGRES_USER=${POSTGRES_USER:-postgres}
POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}
auth_method=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 0700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" postgres "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth_method" != trust ]; then
    echo "error: POSTGRES_PASSWORD is not set. Set it, or set POSTGRES_HOST_AUTH_METHOD=trust to allow connections without a password" >&2
    exit 1
  fi

  password_file=$(mktemp)
  printf '%s\n' "${POSTGRES_PASSWORD:-}" >"$password_file"
  # POSTGRES_INITDB_ARGS is split on spaces on purpose, as in the official
  # image.
  # shellcheck disable=SC2086
  initdb --username="$POSTGRES_USER" --pwfile="$password_file" --auth-local=trust \
    --auth-host="$auth_method" ${POSTGRES_INITDB_ARGS:-}
  rm -f "$password_file"
  printf '\nhost all all all %s\n' "$auth_method" >>"$PGDATA/pg_hba.conf"

  # A server reachable only on the Unix socket while the scripts run, so
  # no client sees a half-initialised cluster.
  pg_ctl --wait --silent --options="-c listen_addresses=''" start
  if [ "$POSTGRES_DB" != postgres ]; then
    # psql interpolates :"db" only in input it reads, not in --command.
    echo 'CREATE DATABASE :"db";' |
      psql --no-psqlrc --set=ON_ERROR_STOP=1 --username="$POSTGRES_USER" --dbname=postgres \
        --set=db="$POSTGRES_DB"
  fi
  for script in /docker-entrypoint-initdb.d/*; do
    case "$script" in
      *.sql)
        echo "running $script"
        psql --no-psqlrc --set=ON_ERROR_STOP=1 --username="$POSTGRES_USER" --dbname="$POSTGRES_DB" --file="$script"
        ;;
      *.sh)
        echo "running $script"
        . "$script"
        ;;
      *) ;;
    esac
  done
  pg_ctl --wait --silent --mode=fast stop
  echo "PostgreSQL cluster initialised in $PGDATA"
fi

exec postgres -c listen_addresses='*' "$@"
