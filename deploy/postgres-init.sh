#!/bin/sh
# Run once by the postgres image, when it initialises an empty data volume (it is sourced from
# /docker-entrypoint-initdb.d/, after the `cspr` database and superuser exist).
#
# Temporal gets a role of its own: its credentials cannot read the case store, where the
# children's records are. The role may create databases: Temporal's own tool creates its two
# databases (owned by it) and installs their schema (deploy/temporal-schema.sh, the compose
# service temporal-schema).
#
# Changing TEMPORAL_DB_PASSWORD later does not re-run this: change the role's password with
# ALTER ROLE temporal PASSWORD '...' as well.

psql --variable=ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    --set=temporal_password="$TEMPORAL_DB_PASSWORD" <<'SQL'
CREATE ROLE temporal LOGIN CREATEDB PASSWORD :'temporal_password';
SQL
