#!/usr/bin/env bash
# The CUDA path on a real GPU: one prepared script for an x86_64 Debian/Ubuntu machine with an
# NVIDIA GPU and its driver (no CUDA toolkit needed: NVRTC comes from PyPI when the system has
# none). Finishes in under 5 minutes on a 16-core machine:
#   1. builds with --features cuda-jp6 (target/cuda);
#   2. the conformance suite's CUDA instantiation on the GPU: every tensor case bit-exact with
#      the CPU preprocessor, detections, batching, 400 random cases, device slots;
#   3. `edgesight detect` with model.preprocess = "cuda" on the bundled images: identical to
#      preprocess = "cpu", and within the tolerance of the reference detections of ONNX Runtime
#      in Python (tests/data/reference);
#   4. the kernel's time per 1080p frame against the GPU's memory-bandwidth bound
#      (benches/cuda_kernel.rs);
#   5. where TensorRT 10 is installed: the conformance suite's cuda × tensorrt pair, an FP16
#      engine built from the bundled ONNX, its detections against the reference's tolerance, and
#      frames per second against the ONNX Runtime CPU path on the same clip.
# Output: the log on stdout, a summary in target/gpu-check/summary.txt; exit 0 only if all pass.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
CARGO="${CARGO:-cargo}"
FEATURE="${FEATURE:-cuda-jp6}"
OUT=target/gpu-check
mkdir -p "$OUT"
: > "$OUT/summary.txt"
start=$SECONDS
say() { printf '\033[1m==> gpu-check: %s\033[0m\n' "$*" >&2; echo "$*" >> "$OUT/summary.txt"; }
fail=0

if ! nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader > "$OUT/gpu.txt" 2>&1; then
    say "FAIL: nvidia-smi found no GPU: $(cat "$OUT/gpu.txt")"; exit 1
fi
say "GPU: $(head -1 "$OUT/gpu.txt")"
scripts/setup.sh build ort test cuda
# NVRTC: the system's CUDA 12 when installed, else the PyPI wheel (12.2, supports up to sm_90).
nvrtc_dir=""
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu; do
    [ -e "$d/libnvrtc.so.12" ] && { nvrtc_dir="$d"; break; }
done
[ -n "$nvrtc_dir" ] || nvrtc_dir="$PWD/.cache/cuda/nvrtc-12.2"
export LD_LIBRARY_PATH="$nvrtc_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
say "NVRTC from $nvrtc_dir"

say "1. build --features $FEATURE"
"$CARGO" build --release --locked --features "$FEATURE" --target-dir target/cuda
BIN=target/cuda/release/edgesight

say "2. conformance suite, CUDA instantiation, on the GPU"
if "$CARGO" test --release --locked --features "$FEATURE" --target-dir target/cuda --test conformance -- \
    cuda_onnx:: cuda_device_slots 2>&1 | tee "$OUT/conformance.log"; then
    say "   $(grep -E '^test result' "$OUT/conformance.log" | tail -1)"
else
    say "FAIL: conformance (see $OUT/conformance.log)"; fail=1
fi

say "3. detect, preprocess = \"cuda\" and \"cpu\", against tests/data/reference/nanodet_images.jsonl"
sed 's/^threads = 2/threads = 2\npreprocess = "cuda"/; s|\.\./|'"$PWD"'/|g' configs/x86-dev.toml > "$OUT/cuda.toml"
sed 's|\.\./|'"$PWD"'/|g' configs/x86-dev.toml > "$OUT/cpu.toml"
for pre in cuda cpu; do
    for img in tests/data/images/*; do
        "$BIN" detect --config "$OUT/$pre.toml" "$img" 2>>"$OUT/detect-$pre.log" | head -1
    done > "$OUT/detections-$pre.jsonl" || { say "FAIL: detect with $pre (see $OUT/detect-$pre.log)"; fail=1; }
done
grep -m1 "preprocess: cuda" "$OUT/detect-cuda.log" | sed 's/^/   /' >> "$OUT/summary.txt" || true
scripts/compare_detections.py "$OUT/detections-cuda.jsonl" tests/data/reference/nanodet_images.jsonl \
    --same-as "$OUT/detections-cpu.jsonl" --label cuda >> "$OUT/summary.txt" || fail=1

say "4. kernel time per 1080p frame"
if "$CARGO" bench --locked --features "$FEATURE" --target-dir target/cuda --bench cuda_kernel 2>&1 | tee "$OUT/bench.log"; then
    grep -E "us/frame|bound|bit-exact|device:" "$OUT/bench.log" | sed 's/^/   /' >> "$OUT/summary.txt"
else
    say "FAIL: bench (see $OUT/bench.log)"; fail=1
fi

say "5. TensorRT, where the machine has it (libnvinfer.so.10 and libnvonnxparser.so.10 on the loader path)"
if ldconfig -p 2>/dev/null | grep -q "libnvinfer.so.10 " || [ -n "${EDGESIGHT_TRT_DIR:-}" ]; then
    [ -n "${EDGESIGHT_TRT_DIR:-}" ] && export LD_LIBRARY_PATH="$EDGESIGHT_TRT_DIR:$LD_LIBRARY_PATH"
    # The shim against the machine's own headers when present (their version = the library's).
    for inc in /usr/include/x86_64-linux-gnu /usr/include /usr/local/TensorRT/include; do
        [ -e "$inc/NvInfer.h" ] && { export EDGESIGHT_TENSORRT_INCLUDE="$inc"; break; }
    done
    TFEAT="$FEATURE,tensorrt"
    "$CARGO" build --release --locked --features "$TFEAT" --target-dir target/cuda-trt
    TBIN=target/cuda-trt/release/edgesight
    if "$CARGO" test --release --locked --features "$TFEAT" --target-dir target/cuda-trt --test conformance -- \
        cuda_tensorrt:: 2>&1 | tee "$OUT/conformance-trt.log"; then
        say "   cuda × tensorrt (fp32): $(grep -E '^test result' "$OUT/conformance-trt.log" | tail -1)"
    else
        say "FAIL: conformance cuda × tensorrt (see $OUT/conformance-trt.log)"; fail=1
    fi
    "$TBIN" engine build --onnx models/nanodet_g_416_coco.onnx --precision fp16 --cache "$OUT/engines" \
        2> "$OUT/engine-build.log" || { say "FAIL: engine build (see $OUT/engine-build.log)"; fail=1; }
    grep -E "engine build:.*done|engine stored|building" "$OUT/engine-build.log" | tail -3 | sed 's/^/   /' >> "$OUT/summary.txt" || true
    python3 - "$OUT/cpu.toml" "$OUT/trt.toml" "$PWD/$OUT/engines" <<'PY'
import sys
src, dst, cache = sys.argv[1:]
out = []
for line in open(src):
    if line.startswith("engine = "):
        continue
    out.append(line)
    if line.startswith("threads = "):
        out += ['engine = "tensorrt"\n', 'preprocess = "cuda"\n', 'precision = "fp16"\n', f'engine_cache = "{cache}"\n']
open(dst, "w").writelines(out)
PY
    for img in tests/data/images/*; do "$TBIN" detect --config "$OUT/trt.toml" "$img" 2>>"$OUT/detect-trt.log" | head -1; done \
        > "$OUT/detections-trt.jsonl"
    # FP16 TensorRT against the reference: the reference's tolerance (IoU >= 0.7, score +-0.05).
    scripts/compare_detections.py "$OUT/detections-trt.jsonl" tests/data/reference/nanodet_images.jsonl \
        --label "tensorrt fp16" >> "$OUT/summary.txt" || { say "FAIL: TensorRT detections"; fail=1; }
    # Frames per second on the bundled clip: TensorRT FP16 + CUDA preprocessing vs ONNX Runtime CPU.
    for cfg in "$OUT/cpu.toml" "$OUT/trt.toml"; do
        "$TBIN" detect --config "$cfg" media/vtest_h264.mp4 2>&1 >/dev/null | grep "^stats:" | sed "s|^|   $(basename "$cfg"): |" >> "$OUT/summary.txt"
    done
else
    say "   SKIPPED: TensorRT 10 is not installed here (set EDGESIGHT_TRT_DIR to its lib folder)"
fi

say "done in $((SECONDS - start)) s: $([ $fail -eq 0 ] && echo PASS || echo FAIL)"
cat "$OUT/summary.txt"
exit $fail
