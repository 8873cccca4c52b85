#!/bin/sh
# Creates Temporal's two databases on PostgreSQL and installs or upgrades their schema with
# Temporal's own tool (temporal-sql-tool, in the temporalio/admin-tools image): the steps
# Temporal documents for a new cluster, and the upgrade step for every later release. Safe to
# run again (docker-compose.yml's temporal-schema service runs it on every `up`, before the
# server starts): a database or version table that exists already is left alone, and
# update-schema applies only the versions the database does not have yet.
#
# Environment:
#   SQL_HOST, SQL_PORT   PostgreSQL
#   SQL_USER             Temporal's role (it may create databases: deploy/postgres-init.sh)
#   SQL_PASSWORD         its password (temporal-sql-tool reads SQL_PASSWORD itself)
#   SQL_PLUGIN           postgres12 (PostgreSQL 12 and later)
#   DBNAME, VISIBILITY_DBNAME   Temporal's databases (default temporal, temporal_visibility)
#   SCHEMA_ROOT          where the image keeps the schema (default /etc/temporal/schema/postgresql/v12)
set -eu

: "${SQL_HOST:?SQL_HOST is not set}"
: "${SQL_USER:?SQL_USER is not set}"
: "${SQL_PASSWORD:?SQL_PASSWORD is not set}"
SQL_PORT=${SQL_PORT:-5432}
SQL_PLUGIN=${SQL_PLUGIN:-postgres12}
DBNAME=${DBNAME:-temporal}
VISIBILITY_DBNAME=${VISIBILITY_DBNAME:-temporal_visibility}
SCHEMA_ROOT=${SCHEMA_ROOT:-/etc/temporal/schema/postgresql/v12}
export SQL_PASSWORD

sql_tool() {
    database=$1
    shift
    temporal-sql-tool --plugin "$SQL_PLUGIN" --endpoint "$SQL_HOST" --port "$SQL_PORT" \
        --user "$SQL_USER" --database "$database" "$@"
}

# A step whose only complaint is that its object exists already is done; any other failure stops.
once() {
    what=$1
    shift
    if output=$("$@" 2>&1); then
        echo "$what: done"
    elif echo "$output" | grep -qi 'already exists'; then
        echo "$what: already there"
    else
        echo "$what: $output" >&2
        exit 1
    fi
}

setup() {
    database=$1
    versioned=$2
    once "$database: create database" sql_tool "$database" create-database
    # Creates the version tables and sets version 0.0; on a set-up database it stops at the
    # tables, which exist, and leaves the version as it is.
    once "$database: setup-schema" sql_tool "$database" setup-schema -v 0.0
    sql_tool "$database" update-schema --schema-dir "$versioned"
    echo "$database: schema up to date"
}

setup "$DBNAME" "$SCHEMA_ROOT/temporal/versioned"
setup "$VISIBILITY_DBNAME" "$SCHEMA_ROOT/visibility/versioned"
