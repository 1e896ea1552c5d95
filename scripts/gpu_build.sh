#!/usr/bin/env bash
# Builds the `cuda` binaries on a machine without a GPU or a CUDA install, for a GPU machine that
# has the NVIDIA driver (CUDA 13) but no Rust toolchain (../shared/specs/gpu-build.md):
#
#   1. the CUDA 13.0 toolchain from PyPI wheels, in a venv outside the repository;
#   2. a toolkit folder the build scripts understand, with a link-time stub of libcuda
#      (the driver provides the real one where the binaries run);
#   3. `simscore`, the optimisation test binaries and the optimisation benchmark, built with
#      `--features cuda` into their own target folder, stripped and packed into
#      `gpu-bundle/` with cuRAND (about 58 MB; at most 64 MiB travels to the GPU machine).
#
# Then, on the GPU machine: `bash scripts/gpu_check.sh` (carry `gpu-bundle`).
#
# Environment: CUDA_VENV (default /tmp/cudavenv), CUDA_HOME (default /tmp/cuda13), CUDA_COMPUTE_CAP
# (default 90: H100/H200), CARGO_TARGET_DIR (default target-cuda).
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${CUDA_VENV:-/tmp/cudavenv}"
home="${CUDA_HOME:-/tmp/cuda13}"
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target-cuda}"

echo "== CUDA 13.0 wheels in $venv"
if ! [[ -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv"
fi
# 13.0 exactly: the 580 driver cannot JIT the PTX of newer toolkits (CUDA_ERROR_UNSUPPORTED_PTX_VERSION)
"$venv/bin/pip" install --quiet \
  nvidia-cuda-nvcc==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88 \
  nvidia-cuda-runtime==13.0.96 nvidia-cuda-cccl==13.0.85 nvidia-cuda-nvrtc==13.0.88 \
  nvidia-nvjitlink==13.0.88 nvidia-cublas==13.0.2.14 nvidia-curand==10.4.0.35
cu13="$("$venv/bin/python" -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13"))')"

echo "== toolkit folder $home"
rm -rf "$home"
mkdir -p "$home/lib64/stubs"
for d in bin include nvvm; do ln -s "$cu13/$d" "$home/$d"; done
ln -s lib64 "$home/lib"
for f in "$cu13"/lib/*.so*; do
  ln -s "$f" "$home/lib64/$(basename "$f")"
  # the linker wants unversioned names: libcublas.so.13 → libcublas.so
  base="$(basename "$f" | sed -E 's/\.so\..*$/.so/')"
  [[ -e "$home/lib64/$base" ]] || ln -s "$f" "$home/lib64/$base"
done

# libcuda comes with the driver, not with any wheel: link against a stub that defines every driver
# entry point cudarc declares and fails with CUDA_ERROR_STUB_LIBRARY (34).
cudarc="$(cargo metadata --format-version 1 --features cuda 2>/dev/null |
  python3 -c 'import json,sys,os; m=json.load(sys.stdin); print(next(os.path.dirname(p["manifest_path"]) for p in m["packages"] if p["name"]=="cudarc"))')"
stub="$(mktemp -d)/libcuda_stub.c"
grep -oE 'pub unsafe fn cu[A-Za-z0-9_]+' "$cudarc/src/driver/sys/mod.rs" | sort -u |
  sed -E 's/pub unsafe fn (.*)/int \1(void) { return 34; }/' >"$stub"
gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$home/lib64/stubs/libcuda.so" "$stub"
echo "stub libcuda: $(wc -l <"$stub") entry points"

echo "== build (--features cuda, compute capability $CUDA_COMPUTE_CAP, into $CARGO_TARGET_DIR)"
export CUDA_HOME="$home" PATH="$home/bin:$PATH" CUDARC_CUDA_VERSION=13000
cargo build --release --features cuda --bin simscore
tests=(optim_measures optim_loop optim_joint)
test_args=()
for t in "${tests[@]}"; do test_args+=(--test "$t"); done
cargo test --release -p simscore-core --features cuda --no-run "${test_args[@]}"
cargo bench -p simscore-core --features cuda --no-run --bench optim

echo "== bundle"
rm -rf gpu-bundle
staging="$(mktemp -d)"
# the newest build of a test or bench target (cargo names them `<target>-<hash>`)
newest() {
  local f best=""
  for f in "$CARGO_TARGET_DIR"/release/deps/"$1"-*; do
    [[ "$f" == *.d ]] && continue
    if [[ -z "$best" || "$f" -nt "$best" ]]; then best="$f"; fi
  done
  echo "$best"
}
cp "$CARGO_TARGET_DIR/release/simscore" "$staging/"
for t in "${tests[@]}" optim; do cp "$(newest "$t")" "$staging/$t"; done
strip "$staging"/*
mkdir -p gpu-bundle
# The binaries share most of their bytes (candle's kernels): a dictionary larger than one binary
# lets xz store them once (5 binaries of 53-81 MiB: about 15 MB).
tar -C "$staging" -cf - . | xz -T1 --lzma2=preset=9e,dict=384MiB >gpu-bundle/gpu-bundle.tar.xz
# cuRAND is linked by candle but not shipped by recent PyTorch wheels; carried as a fallback.
xz -T2 -c "$cu13/lib/libcurand.so.10" >gpu-bundle/libcurand.so.10.xz
rm -rf "$staging"
ls -l gpu-bundle
size=$(du -sm gpu-bundle | cut -f1)
if ((size > 64)); then
  echo "gpu-bundle is ${size} MiB, above the 64 MiB that travels to the GPU machine" >&2
  exit 1
fi
