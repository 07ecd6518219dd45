#!/bin/sh
# The image's entrypoint: run `chainflow "$@"`. Other processes reach this one at
# CHAINFLOW_HTTP_PUBLIC_URL (the hub's registry); when it is unset, as for compose replicas
# that share one environment, derive it from this container's own address. Kubernetes sets it
# from the pod IP (deploy/k8s), and then it is left alone.
set -eu
if [ -z "${CHAINFLOW_HTTP_PUBLIC_URL:-}" ]; then
  address=$(python -c 'import socket; print(socket.gethostbyname(socket.gethostname()))')
  CHAINFLOW_HTTP_PUBLIC_URL="http://${address}:${CHAINFLOW_HTTP_PORT:-8000}"
  export CHAINFLOW_HTTP_PUBLIC_URL
fi
exec chainflow "$@"
