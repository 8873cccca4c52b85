#!/bin/sh
# Creates cspr's Temporal namespace with its retention set deliberately, or sets the retention of
# the namespace if it exists already. Safe to run again (docker-compose.yml's temporal-namespace
# service runs it on every `up`).
#
# The retention is how long Temporal keeps a closed workflow's history. The case store, not
# Temporal, is the long-term record: the retention bounds what `cspr reconcile` can bring back
# after a restore of the store, and how long a closed case's (encrypted) history stays in
# Temporal unless erasure deletes it first (README, Operations).
#
# Environment:
#   TEMPORAL_ADDRESS         host:port of the Temporal frontend
#   TEMPORAL_NAMESPACE       the namespace the cases run in
#   TEMPORAL_RETENTION_DAYS  days (a whole number, 1 or more: Temporal's minimum is a day); the
#                            worker reads the same value as CSPR_TEMPORAL_RETENTION_DAYS
#   NAMESPACE_TIMEOUT_S      how long to wait for the server (default 120)
set -eu

: "${TEMPORAL_ADDRESS:?TEMPORAL_ADDRESS is not set}"
: "${TEMPORAL_NAMESPACE:?TEMPORAL_NAMESPACE is not set}"
: "${TEMPORAL_RETENTION_DAYS:?TEMPORAL_RETENTION_DAYS is not set}"
timeout_s=${NAMESPACE_TIMEOUT_S:-120}

case "$TEMPORAL_RETENTION_DAYS" in
    ''|*[!0-9]*|0) echo "TEMPORAL_RETENTION_DAYS must be a whole number of days, 1 or more" >&2
                   exit 2 ;;
esac
# In hours: every CLI release takes Go's durations; not all take "d".
retention="$((TEMPORAL_RETENTION_DAYS * 24))h"

waited=0
until temporal operator cluster health --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; do
    if [ "$waited" -ge "$timeout_s" ]; then
        echo "Temporal not serving at $TEMPORAL_ADDRESS after ${timeout_s}s" >&2
        exit 1
    fi
    sleep 2
    waited=$((waited + 2))
done

if temporal operator namespace describe --address "$TEMPORAL_ADDRESS" \
        --namespace "$TEMPORAL_NAMESPACE" >/dev/null 2>&1; then
    # A namespace created moments ago is described (from the database) before the frontend's
    # namespace cache knows it, and an update says "not found" until then: try again.
    until output=$(temporal operator namespace update --address "$TEMPORAL_ADDRESS" \
            --namespace "$TEMPORAL_NAMESPACE" --retention "$retention" 2>&1); do
        if ! echo "$output" | grep -qi 'not found' || [ "$waited" -ge "$timeout_s" ]; then
            echo "namespace $TEMPORAL_NAMESPACE: $output" >&2
            exit 1
        fi
        sleep 2
        waited=$((waited + 2))
    done
    echo "namespace $TEMPORAL_NAMESPACE: retention set to $TEMPORAL_RETENTION_DAYS days"
else
    temporal operator namespace create --address "$TEMPORAL_ADDRESS" \
        --namespace "$TEMPORAL_NAMESPACE" --retention "$retention" >/dev/null
    echo "namespace $TEMPORAL_NAMESPACE: created, retention $TEMPORAL_RETENTION_DAYS days"
fi
