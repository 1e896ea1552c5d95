#!/usr/bin/env bash
# Job-submission throughput and latency over HTTP on loopback, against Postgres (or SQLite with
# DB=sqlite). Starts a release server with no workers (the queue only grows), creates a token,
# uploads one small dataset, then drives POST /v1/jobs with wrk (Debian package `wrk`).
#
#   bash benches/submit_load.sh            # Postgres at 127.0.0.1:5432, database created per run
#   DB=sqlite bash benches/submit_load.sh
#   PG_SOCKET=/var/run/postgresql bash benches/submit_load.sh   # Postgres over its Unix socket
# Env: CONNECTIONS (wrk, default 16), CONNS (database pool, default 16), SECONDS_RUN (default 15),
# BIN (a simscore binary to measure instead of building this checkout)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "install wrk (apt-get install wrk)"; exit 1; }
if [ -z "${BIN:-}" ]; then cargo build --release -q; fi
bin=${BIN:-target/release/simscore} # BIN=path/to/simscore compares builds
work=$(mktemp -d)
if [ "${DB:-postgres}" = sqlite ]; then
  export SIMSCORE_DATABASE_URL="sqlite://$work/db.sqlite"
else
  name="simscore_load_$(date +%s)"
  psql -qAt postgres://postgres@127.0.0.1:5432/test -c "create database $name" >/dev/null
  if [ -n "${PG_SOCKET:-}" ]; then # e.g. PG_SOCKET=/var/run/postgresql: the server's Unix socket
    export SIMSCORE_DATABASE_URL="postgres://postgres@localhost/$name?host=$PG_SOCKET"
  else
    export SIMSCORE_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$name"
  fi
fi
export SIMSCORE_BLOB_STORE="$work/blobs" RUST_LOG=warn
port=18080
token=$($bin token create --user load 2>/dev/null)
$bin serve --bind 127.0.0.1:$port --workers 0 --db-max-connections ${CONNS:-16} &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do curl -sf localhost:$port/healthz >/dev/null && break; sleep 0.2; done
python3 - "$work/x.npy" <<'PY'
import struct, sys
n, p = 20, 5
header = "{'descr': '<f8', 'fortran_order': False, 'shape': (%d, %d), }" % (n, p)
header += " " * (63 - (10 + len(header)) % 64) + "\n"
with open(sys.argv[1], "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
    f.write(struct.pack("<%dd" % (n * p), *[((i * 7919) % 101) / 10.0 for i in range(n * p)]))
PY
ds=$(curl -sf -H "Authorization: Bearer $token" --data-binary @"$work/x.npy" localhost:$port/v1/datasets | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
cat > "$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
wrk.body = '{"kind":"score","spec":{"x":{"dataset":"$ds"},"y":{"dataset":"$ds"},"measures":["cka"],"seed":1}}'
LUA
echo "database: ${DB:-postgres}; warm-up"
wrk -t2 -c${CONNECTIONS:-16} -d3s -s "$work/post.lua" http://127.0.0.1:$port/v1/jobs >/dev/null
echo "measured run"
wrk -t2 -c${CONNECTIONS:-16} -d${SECONDS_RUN:-15}s --latency -s "$work/post.lua" http://127.0.0.1:$port/v1/jobs
