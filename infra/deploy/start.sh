#!/bin/sh
# Starts one CareGraph process: the container's entrypoint, configured by environment only.
#
#   CAREGRAPH_SUBGRAPH   empty: the whole graph in one process; users, messaging, scheduling,
#                        registry or imaging: that subgraph alone, for a gateway
#   CAREGRAPH_MIGRATE    1 (default): apply database migrations first; 0: do not (when several
#                        processes share a database, let one job migrate, see compose.yaml)
#   every other CAREGRAPH_* setting as README.md lists them
#
# With arguments, runs that caregraph command instead (e.g. `start.sh demo`, `start.sh migrate`).
set -eu

caregraph="${CAREGRAPH_BIN:-caregraph}"

if [ "$#" -gt 0 ]; then
  exec "$caregraph" "$@"
fi

case "${CAREGRAPH_MIGRATE:-1}" in
  1 | true | yes) "$caregraph" migrate ;;
  0 | false | no) ;;
  *)
    echo "CAREGRAPH_MIGRATE must be 1 or 0, not ${CAREGRAPH_MIGRATE}" >&2
    exit 2
    ;;
esac

# `caregraph serve` reads CAREGRAPH_SUBGRAPH, CAREGRAPH_HOST and CAREGRAPH_PORT itself.
exec "$caregraph" serve
