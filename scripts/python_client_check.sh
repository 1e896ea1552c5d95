#!/usr/bin/env bash
# The Python client, kept working:
#   1. generate it from the committed openapi/openapi.json with openapi-python-client, failing on
#      any generator warning;
#   2. check the document with a second generator, openapi-generator-cli (validate, then generate a
#      Python client and fail on any warning but two known to be noise, see below);
#   3. start a real server (the debug binary; a temporary SQLite database and blob directory on a
#      free loopback port), create a token with `simscore token create`, install the generated
#      package and run examples/lab_script.py against it.
#
# Usage: scripts/python_client_check.sh            (from anywhere; builds the debug binary if needed)
# Env:   SIMSCORE_BIN=path/to/simscore  use this binary instead of building target/debug/simscore
#        SPEC=path/to/openapi.json       check this document instead of openapi/openapi.json
#        KEEP=1                          keep the work directory (printed at the end)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
spec="${SPEC:-openapi/openapi.json}"

# Pinned so that a new generator release cannot turn CI red on its own.
OPENAPI_PYTHON_CLIENT=openapi-python-client==0.29.1
OPENAPI_GENERATOR_CLI=openapi-generator-cli==7.26.0
RUFF=ruff==0.17.6 # openapi-python-client formats its output with ruff; without it, it warns

work="$(mktemp -d /tmp/simscore-pyclient.XXXXXX)"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [[ "${KEEP:-}" == 1 ]]; then echo "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
fail() { echo "python_client_check: $*" >&2; exit 1; }

echo "-- Python tools"
python3 -m venv "$work/venv"
py="$work/venv/bin/python"
export PATH="$work/venv/bin:$PATH" # the generators' post hooks (ruff) are found on PATH
"$py" -m pip install --quiet --disable-pip-version-check \
  "$OPENAPI_PYTHON_CLIENT" "$OPENAPI_GENERATOR_CLI" "$RUFF" numpy
if ! java -version >/dev/null 2>&1; then
  # openapi-generator-cli bundles its jar but needs a Java runtime.
  echo "-- installing a Java runtime (default-jre-headless)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null ||
    { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null; }
fi

echo "-- openapi-python-client generate"
gen_log="$work/openapi-python-client.log"
openapi-python-client generate --path "$spec" --output-path "$work/client" \
  --meta setup >"$gen_log" 2>&1 || { cat "$gen_log"; fail "openapi-python-client failed"; }
if grep -qiE 'warning|error|skipping|unsupported|not in PATH' "$gen_log"; then
  cat "$gen_log"
  fail "openapi-python-client warned: fix the utoipa annotations in src/api/*.rs and regenerate openapi/openapi.json"
fi
[[ -f "$work/client/simscore_client/api/datasets/upload_dataset.py" ]] || fail "the generated client has no upload_dataset"
# A binary body must be typed as bytes (string/binary), not as a list of integers.
if grep -q 'list\[int\]' -r "$work/client/simscore_client/api"; then
  grep -n 'list\[int\]' -r "$work/client/simscore_client/api" >&2
  fail "a binary body or response is typed as list[int]: give it a string/binary schema"
fi

echo "-- openapi-generator-cli validate + generate (second generator)"
ogc_log="$work/openapi-generator.log"
openapi-generator-cli validate -i "$spec" --recommend >"$ogc_log" 2>&1 ||
  { cat "$ogc_log"; fail "openapi-generator-cli validate failed"; }
grep -q 'No validation issues detected' "$ogc_log" || { cat "$ogc_log"; fail "openapi-generator-cli validate reported issues"; }
openapi-generator-cli generate -g python -i "$spec" -o "$work/ogc-client" \
  --package-name simscore_ogc >"$ogc_log" 2>&1 || { cat "$ogc_log"; fail "openapi-generator-cli generate failed"; }
# Known noise of openapi-generator 7.x on any OpenAPI 3.1 document: the "3.1 support is in beta"
# notice, and "Failed to get the schema name: null", which it prints for every object schema (even
# `{type: object, properties: {a: {type: string}}}` alone triggers it).
if grep -E '\bWARN\b|\bERROR\b' "$ogc_log" |
  grep -vE 'OpenAPI 3\.1 support is still in beta|Failed to get the schema name: null$' | grep -q .; then
  grep -E '\bWARN\b|\bERROR\b' "$ogc_log" >&2
  fail "openapi-generator-cli warned about openapi/openapi.json"
fi

echo "-- installing the generated client"
"$py" -m pip install --quiet --disable-pip-version-check "$work/client"

echo "-- starting a server"
if [[ -n "${SIMSCORE_BIN:-}" ]]; then
  bin="$SIMSCORE_BIN"
else
  cargo build --quiet --bin simscore
  bin="$root/target/debug/simscore"
fi
port="$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export SIMSCORE_DATABASE_URL="sqlite://$work/simscore.db"
export SIMSCORE_BLOB_STORE="$work/blobs"
export SIMSCORE_BIND="127.0.0.1:$port"
export SIMSCORE_WORKERS=2
"$bin" migrate >/dev/null 2>"$work/migrate.log" || { cat "$work/migrate.log"; fail "simscore migrate failed"; }
token="$("$bin" token create --user lab --name python-client-check 2>/dev/null)"
[[ "$token" == ssk_* ]] || fail "simscore token create printed no token"
RUST_LOG=warn "$bin" serve >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  if "$py" -c "import urllib.request, sys; urllib.request.urlopen('http://127.0.0.1:$port/healthz', timeout=1)" 2>/dev/null; then break; fi
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log"; fail "the server exited"; }
  sleep 0.1
done

echo "-- examples/lab_script.py"
SIMSCORE_URL="http://127.0.0.1:$port" SIMSCORE_TOKEN="$token" SIMSCORE_OUT="$work/results" \
  "$py" examples/lab_script.py || { tail -50 "$work/server.log"; fail "examples/lab_script.py failed"; }
echo "python client check: ok"
