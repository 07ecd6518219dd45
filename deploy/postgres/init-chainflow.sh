#!/bin/sh
# Run once by the postgres image on an empty data directory (/docker-entrypoint-initdb.d):
# ChainFlow connects as an ordinary role that owns its database, never as a superuser, so
# that row-level security applies to it. The superuser enables pgvector here, because that
# role may not create the extension itself.
set -eu
psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres \
  -v password="${CHAINFLOW_DB_PASSWORD:?set CHAINFLOW_DB_PASSWORD}" <<'SQL'
CREATE ROLE chainflow LOGIN PASSWORD :'password';
CREATE DATABASE chainflow OWNER chainflow;
SQL
psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d chainflow -c 'CREATE EXTENSION IF NOT EXISTS vector'
