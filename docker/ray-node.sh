#!/bin/sh
# Run one Ray node in the foreground: `ray-node.sh head [ARGS]` or `ray-node.sh worker HEAD:PORT [ARGS]`.
# ARGS go to `ray start` after the defaults below, so they override them. `--block` keeps
# `ray start` in the foreground: stopping it (SIGTERM) stops exactly the processes of this
# node. docker/compose.yaml runs this script; the tests run it too, outside Docker.
set -eu
usage="usage: ray-node.sh head [RAY START ARGS] | ray-node.sh worker HEAD_HOST:PORT [RAY START ARGS]"
role="${1:?$usage}"
shift
case "$role" in
  head)
    exec ray start --head --block --disable-usage-stats \
      --port="${RAY_PORT:-6379}" \
      --include-dashboard=true \
      --dashboard-host="${RAY_DASHBOARD_HOST:-127.0.0.1}" \
      --dashboard-port="${RAY_DASHBOARD_PORT:-8265}" \
      "$@"
    ;;
  worker)
    head="${1:?$usage}"
    shift
    exec ray start --block --disable-usage-stats --address="$head" "$@"
    ;;
  *)
    echo "$usage" >&2
    exit 2
    ;;
esac
