#!/usr/bin/env bash
# The CUDA builds, checked on a machine without a GPU (part of `make test`, so of CI):
#   for cuda-jp6 with NVRTC 12.2 (JetPack 6.0's) and cuda-jp5 with NVRTC 11.8 (the PyPI wheel
#   closest to JetPack 5's 11.4): build the binary and tests/cuda_build.rs with that feature and
#   run them: NVRTC compiles the kernel for compute_72/87, ptxas assembles sm_72/87 without
#   spills, the PTX cache, the missing-library errors (exit 3), and `ldd` shows no NVIDIA
#   library; and tests/nvmm.rs: NVMM capture's missing libraries (libnvbufsurface, libEGL,
#   libcuda: one line each, exit 3), the hardware-decoder-only rule and the pipelines `check`
#   prints. The kernel's arithmetic is checked bit-exact by tests/conformance.rs (emulated).
# Builds go to target/cuda (never over target/release, whose binary `make demo` runs).
# Without the PyPI wheels it fails under CI and skips, saying so, elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO="${CARGO:-cargo}"
say() { printf '\033[1m==> cuda: %s\033[0m\n' "$*" >&2; }
start=$SECONDS

if ! scripts/setup.sh cuda || [ ! -e .cache/cuda/.complete ]; then
    if [ -n "${CI:-}" ]; then say "FAIL: NVRTC/ptxas wheels could not be installed (scripts/setup.sh cuda)"; exit 1; fi
    say "SKIPPED: NVRTC/ptxas wheels unavailable (scripts/setup.sh cuda failed or not x86_64); the CUDA build checks did not run"
    exit 0
fi

rm -f target/cuda-check/report.txt
# cuda-jp6 with TensorRT (the vendored 10.16 headers, the PyPI dispatch runtime); cuda-jp5 without:
# its TensorRT 8.5 headers are proprietary and only in a JetPack 5 sysroot.
for variant in "cuda-jp6,tensorrt nvrtc-12.2 --test=tensorrt_build" "cuda-jp5 nvrtc-11.8"; do
    read -r feature nvrtc more <<<"$variant"
    say "$feature: build, tests/cuda_build.rs and tests/nvmm.rs (and TensorRT's) with .cache/cuda/$nvrtc"
    echo "[$feature, .cache/cuda/$nvrtc]" >> target/cuda-check/report.txt 2>/dev/null \
        || { mkdir -p target/cuda-check; echo "[$feature, .cache/cuda/$nvrtc]" >> target/cuda-check/report.txt; }
    LD_LIBRARY_PATH="$PWD/.cache/cuda/$nvrtc" EDGESIGHT_NVRTC_DIR="$PWD/.cache/cuda/$nvrtc" \
        EDGESIGHT_PTXAS="$PWD/.cache/cuda/nvcc-12.2/ptxas" \
        EDGESIGHT_TRT_DISPATCH="$PWD/.cache/cuda/tensorrt/libnvinfer_dispatch.so.10" \
        "$CARGO" test --release --locked --features "$feature" --target-dir target/cuda --test cuda_build --test nvmm \
        ${more:-} -- --test-threads=2
done
# CUDA 13 (Yocto wrynose): builds; no PyPI NVRTC 13 is installed here to compile with.
say "cuda-13: cargo check"
"$CARGO" check --release --locked --features cuda-13 --target-dir target/cuda --lib
cat target/cuda-check/report.txt
say "done in $((SECONDS - start)) s"
