#!/bin/sh
# Registers cspr's search attributes on its Temporal namespace. Safe to run again: an attribute
# already registered with the same type is left alone; one registered with another type is an
# error, because the workflows would then fail to upsert it.
#
# Environment (docker-compose.yml's temporal-register service sets them):
#   TEMPORAL_ADDRESS    host:port of the Temporal frontend
#   TEMPORAL_NAMESPACE  the namespace the cases run in
#   SEARCH_ATTRIBUTES   "Name=Type ..." (workflows/search_attributes.py; tests/test_compose.py
#                       checks that the two agree)
#   REGISTER_TIMEOUT_S  how long to wait for the namespace (default 120)
set -eu

: "${TEMPORAL_ADDRESS:?TEMPORAL_ADDRESS is not set}"
: "${TEMPORAL_NAMESPACE:?TEMPORAL_NAMESPACE is not set}"
: "${SEARCH_ATTRIBUTES:?SEARCH_ATTRIBUTES is not set: nothing to register}"
timeout_s=${REGISTER_TIMEOUT_S:-120}

# The frontend knows a namespace created moments ago (temporal-namespace) only after its
# namespace cache refreshes: until then adding attributes fails.
waited=0
until temporal operator search-attribute list \
        --address "$TEMPORAL_ADDRESS" --namespace "$TEMPORAL_NAMESPACE" >/dev/null 2>&1; do
    if [ "$waited" -ge "$timeout_s" ]; then
        echo "namespace $TEMPORAL_NAMESPACE not ready at $TEMPORAL_ADDRESS after ${timeout_s}s" >&2
        exit 1
    fi
    sleep 2
    waited=$((waited + 2))
done

for attribute in $SEARCH_ATTRIBUTES; do
    name=${attribute%%=*}
    type=${attribute#*=}
    if output=$(temporal operator search-attribute create \
            --address "$TEMPORAL_ADDRESS" --namespace "$TEMPORAL_NAMESPACE" \
            --name "$name" --type "$type" 2>&1); then
        echo "$name ($type): registered"
    elif echo "$output" | grep -qi 'different type'; then
        echo "$name: $output" >&2
        exit 1
    elif echo "$output" | grep -qi 'already exists'; then
        echo "$name ($type): already registered"
    else
        echo "$name: $output" >&2
        exit 1
    fi
done
