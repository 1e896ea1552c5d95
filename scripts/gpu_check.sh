#!/usr/bin/env bash
# On a GPU machine (NVIDIA driver with CUDA 13, no Rust): runs what scripts/gpu_build.sh bundled
# (carry `gpu-bundle`), writing every result under $OUT:
#
#   1. nvidia-smi;
#   2. the optimisation tests on `cuda:0` (SIMSCORE_TEST_DEVICE): values against the measure
#      engine, gradients against finite differences, the loop, joint optimisation;
#   3. `simscore optimize` end to end on `cuda:0`;
#   4. the optimisation benchmark on `cuda:0` (iterations per second).
#
# Each step has its own time limit (600 s in all, one `run` call) and a failing step does not stop
# the next ones; the script's exit status says whether all passed. $OUT receives 8 files.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
out="${OUT:-$(mktemp -d)}"
mkdir -p "$out"
bin="$(mktemp -d)"
tar -C "$bin" -xJf gpu-bundle/gpu-bundle.tar.xz

# The CUDA 13 user-space libraries: wherever the machine has them (PyTorch's wheels, a toolkit),
# cuRAND from the bundle if the machine lacks it. libcuda itself comes with the driver.
libs=(libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libnvrtc.so.13 libcurand.so.10)
names=()
for lib in "${libs[@]}"; do names+=(-o -name "$lib"); done
found_all="$(find / \( -path /proc -o -path /sys \) -prune -o \( -false "${names[@]}" \) -print 2>/dev/null)"
libdirs=()
for lib in "${libs[@]}"; do
  found="$(grep -m1 "/$lib\$" <<<"$found_all" || true)"
  if [[ -z "$found" && "$lib" == libcurand.so.10 ]]; then
    xz -dc gpu-bundle/libcurand.so.10.xz >"$bin/libcurand.so.10"
    found="$bin/libcurand.so.10"
  fi
  echo "$lib: ${found:-MISSING}" | tee -a "$out/env.txt"
  if [[ -n "$found" ]]; then libdirs+=("$(dirname "$found")"); fi
done
LD_LIBRARY_PATH="$(printf '%s:' "${libdirs[@]}" | tr -s ':')${LD_LIBRARY_PATH:-}"
export LD_LIBRARY_PATH

status=0
step() {
  local name="$1" limit="$2"
  shift 2
  echo "== $name"
  if timeout "$limit" "$@" >"$out/$name.txt" 2>&1; then
    echo "ok"
  else
    echo "FAILED (exit $?), see $name.txt"
    status=1
  fi
  tail -5 "$out/$name.txt"
}

step nvidia-smi 30 nvidia-smi
for t in optim_measures optim_loop optim_joint; do
  step "$t" 90 env SIMSCORE_TEST_DEVICE=cuda:0 "$bin/$t" --test-threads 1
done
step cli-optimize 60 "$bin/simscore" optimize --dataset ultrametric --measure cka \
  --stop-score 0.99 --device cuda:0 --json
step bench-optim 240 env SIMSCORE_BENCH_DEVICE=cuda:0 "$bin/optim" --bench --noplot
grep -E "^optim_|time:|thrpt:" "$out/bench-optim.txt" >"$out/bench-summary.txt" || true
exit $status
