#!/bin/sh
# Runs once, when the PostgreSQL container initialises an empty data
# directory (the official image and docker/postgres/docker-entrypoint.sh both
# run /docker-entrypoint-initdb.d/*.sh then). Each service gets its own login
# role, without superuser rights, owning its own database, so neither service
# can read or change the other's tables, the audit log included. Each
# service creates its tables with its own migrations when it starts.
#
# Passwords come from DEPOSIT_STATUS_DB_PASSWORD and
# WITHDRAWAL_AUTHORIZATION_DB_PASSWORD. Like POSTGRES_PASSWORD, they take
# effect only here, on a new data directory; change them later with
# ALTER ROLE ... PASSWORD.
set -eu

: "${DEPOSIT_STATUS_DB_PASSWORD:?must be set: the password of role deposit_status}"
: "${WITHDRAWAL_AUTHORIZATION_DB_PASSWORD:?must be set: the password of role withdrawal_authorization}"

# psql interpolates :'name' in input it reads from stdin, so the passwords
# are quoted as SQL literals whatever characters they contain.
psql --no-psqlrc --set=ON_ERROR_STOP=1 --username="$POSTGRES_USER" --dbname=postgres \
  --set=deposit_status_password="$DEPOSIT_STATUS_DB_PASSWORD" \
  --set=withdrawal_authorization_password="$WITHDRAWAL_AUTHORIZATION_DB_PASSWORD" <<'SQL'
CREATE ROLE deposit_status LOGIN PASSWORD :'deposit_status_password';
CREATE DATABASE deposit_status OWNER deposit_status;
REVOKE ALL ON DATABASE deposit_status FROM PUBLIC;

CREATE ROLE withdrawal_authorization LOGIN PASSWORD :'withdrawal_authorization_password';
CREATE DATABASE withdrawal_authorization OWNER withdrawal_authorization;
REVOKE ALL ON DATABASE withdrawal_authorization FROM PUBLIC;
SQL
