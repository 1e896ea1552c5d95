#!/usr/bin/env bash
# Container health check: GET /healthz on the port simscore listens on (from SIMSCORE_BIND), with
# bash's /dev/tcp, so the runtime image needs no curl. Exits 0 when the answer is 200.
set -eu
port="${SIMSCORE_BIND:-127.0.0.1:8080}"
port="${port##*:}"
exec 3<>"/dev/tcp/127.0.0.1/${port}"
printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
IFS= read -r -t 4 status <&3
exec 3<&-
case "$status" in
  "HTTP/1."?" 200"*) exit 0 ;;
  *) echo "unhealthy: ${status:-no answer}" >&2; exit 1 ;;
esac
