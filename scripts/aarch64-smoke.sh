#!/usr/bin/env bash
# The aarch64 (Jetson) build without Docker, checked under qemu:
#   1. an arm64 Debian 12 sysroot (mmdebstrap, cached in .cache/aarch64/sysroot) for GStreamer;
#   2. cargo-zigbuild for aarch64-unknown-linux-gnu.2.31, so the binary needs glibc <= 2.31 and
#      starts on JetPack 5 (Ubuntu 20.04) as well as JetPack 6 (Ubuntu 22.04, glibc 2.35);
#   3. under qemu-aarch64 with the sysroot's libraries: --version, check on the shipped configs,
#      and detect on a bundled image with the aarch64 ONNX Runtime from PyPI, compared with the
#      reference detections;
#   4. the GPU builds for aarch64 (jetson-jp6: CUDA, TensorRT, NVMM; cuda-jp5, glibc <= 2.31),
#      which link no NVIDIA library; under qemu (no CUDA or TensorRT in the sysroot) jetson-jp6
#      with engine = "tensorrt" and cuda-jp5 with preprocess = "cuda" stop with their
#      missing-library line and exit 3, not a panic.
# Installs what it needs when missing (apt: gcc-aarch64-linux-gnu, binutils, mmdebstrap,
# qemu-user; pip: ziglang, cargo-zigbuild in .cache/zigvenv). Never uses Docker or `cross`.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=aarch64-unknown-linux-gnu
GLIBC=2.31
# ONNX Runtime 1.32's aarch64 library crashes at load under qemu-user 7.2 (Debian 12); 1.22 runs.
ORT_AARCH64="${ORT_AARCH64:-1.22.0}"
CACHE="$PWD/.cache/aarch64"
SYSROOT="$CACHE/sysroot"
BIN="target/aarch64/$TARGET/release/edgesight"
start=$SECONDS
say() { printf '\033[1m==> aarch64: %s\033[0m\n' "$*" >&2; }

scripts/setup.sh build
need=()
for p in gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu mmdebstrap qemu-user; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    sudo_() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
    sudo_ apt-get update -qq
    sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$TARGET"; then
    rustup target add "$TARGET"
fi
if [ ! -x .cache/zigvenv/bin/cargo-zigbuild ]; then
    say "installing ziglang and cargo-zigbuild into .cache/zigvenv"
    python3 -m venv .cache/zigvenv
    .cache/zigvenv/bin/pip install -q --disable-pip-version-check ziglang cargo-zigbuild
fi
export PATH="$PWD/.cache/zigvenv/bin:$PATH"

PKGS="libc6-dev,libgcc-s1,libstdc++6,libgstreamer1.0-dev,libgstreamer-plugins-base1.0-dev,libgstrtspserver-1.0-dev,gstreamer1.0-plugins-base,gstreamer1.0-plugins-good,gstreamer1.0-libav"
if [ "$(cat "$SYSROOT/.edgesight-packages" 2>/dev/null)" != "$PKGS" ]; then
    say "building the arm64 sysroot (Debian 12, about 700 MB)"
    rm -rf "$SYSROOT"
    mkdir -p "$CACHE"
    mmdebstrap --quiet --arch=arm64 --variant=extract --include="$PKGS" bookworm "$SYSROOT" \
        "deb http://deb.debian.org/debian bookworm main"
    # Extract mode skips the alternatives symlinks the libav plugin needs.
    ln -sf blas/libblas.so.3 "$SYSROOT/usr/lib/aarch64-linux-gnu/libblas.so.3"
    ln -sf lapack/liblapack.so.3 "$SYSROOT/usr/lib/aarch64-linux-gnu/liblapack.so.3"
    echo "$PKGS" > "$SYSROOT/.edgesight-packages"
fi

ORT_DIR="$CACHE/onnxruntime-$ORT_AARCH64"
if ! ls "$ORT_DIR"/libonnxruntime.so.* >/dev/null 2>&1; then
    say "downloading ONNX Runtime $ORT_AARCH64 for aarch64 from PyPI"
    mkdir -p "$ORT_DIR"
    python3 -m pip download -q --no-deps --only-binary=:all: --platform manylinux_2_28_aarch64 \
        --platform manylinux_2_27_aarch64 --python-version 3.11 --dest "$ORT_DIR" "onnxruntime==$ORT_AARCH64"
    python3 - "$ORT_DIR" <<'PY'
import glob, os, sys, zipfile
d = sys.argv[1]
with zipfile.ZipFile(glob.glob(os.path.join(d, "onnxruntime-*.whl"))[0]) as z:
    for n in z.namelist():
        if n.startswith("onnxruntime/capi/libonnxruntime.so"):
            open(os.path.join(d, os.path.basename(n)), "wb").write(z.read(n))
PY
fi
ORT_LIB="$(ls "$ORT_DIR"/libonnxruntime.so.* | head -1)"

# The Yocto recipe ships the same wheel: its checksum and licence checksum must be this one's.
ort_recipe=yocto/meta-edgesight/recipes-edgesight/onnxruntime/onnxruntime-bin_$ORT_AARCH64.bb
if [ -f "$ort_recipe" ]; then
    whl="$(ls "$ORT_DIR"/onnxruntime-*.whl | head -1)"
    want_sha=$(sed -n 's/^SRC_URI\[sha256sum\] = "\(.*\)"/\1/p' "$ort_recipe")
    want_md5=$(sed -n 's/^LIC_FILES_CHKSUM = "file:\/\/onnxruntime\/LICENSE;md5=\(.*\)"/\1/p' "$ort_recipe")
    have_md5=$(python3 -c 'import hashlib, sys, zipfile; print(hashlib.md5(zipfile.ZipFile(sys.argv[1]).read("onnxruntime/LICENSE")).hexdigest())' "$whl")
    if [ "$(sha256sum "$whl" | cut -d' ' -f1)" = "$want_sha" ] && [ "$have_md5" = "$want_md5" ] \
        && sed 's/${PV}/'"$ORT_AARCH64"'/g' "$ort_recipe" | grep -qF "/$(basename "$whl");"; then
        say "$ort_recipe fetches this wheel (name, sha256 and licence md5 match)"
    else
        say "FAIL: $ort_recipe does not match $(basename "$whl")"; exit 1
    fi
fi

say "building for $TARGET.$GLIBC"
export PKG_CONFIG_ALLOW_CROSS=1
export PKG_CONFIG_SYSROOT_DIR_aarch64_unknown_linux_gnu="$SYSROOT"
export PKG_CONFIG_LIBDIR_aarch64_unknown_linux_gnu="$SYSROOT/usr/lib/aarch64-linux-gnu/pkgconfig:$SYSROOT/usr/share/pkgconfig"
cargo zigbuild --release --locked --target "$TARGET.$GLIBC" --target-dir target/aarch64

fail=0
check() { if "$@"; then :; else fail=1; fi; }
glibc="$(aarch64-linux-gnu-objdump -T "$BIN" | grep -o 'GLIBC_[0-9.]*' | sort -V | tail -1 | sed 's/GLIBC_//')"
ver_le() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -1)" = "$1" ]; }
if ver_le "$glibc" 2.31; then
    say "highest GLIBC symbol: $glibc: starts on JetPack 5 (glibc 2.31) and JetPack 6 (2.35)"
elif ver_le "$glibc" 2.35; then
    say "FAIL: highest GLIBC symbol $glibc: JetPack 6 only, not JetPack 5 (2.31)"; fail=1
else
    say "FAIL: highest GLIBC symbol $glibc: above JetPack 6's 2.35"; fail=1
fi

run() {
    GST_REGISTRY_FORK=no GST_PLUGIN_SYSTEM_PATH=/usr/lib/aarch64-linux-gnu/gstreamer-1.0 \
        GST_REGISTRY="$CACHE/gst-registry.bin" qemu-aarch64 -L "$SYSROOT" "$BIN" "$@"
}
out="$(run --version)"; say "$(echo "$out" | tr '\n' ' ')"
echo "$out" | grep -q "target: aarch64-linux" || { say "FAIL: --version"; fail=1; }
check run check --schema-only --quiet --config configs/edgesight.toml
check env ORT_DYLIB_PATH="$ORT_LIB" GST_REGISTRY_FORK=no GST_PLUGIN_SYSTEM_PATH=/usr/lib/aarch64-linux-gnu/gstreamer-1.0 \
    GST_REGISTRY="$CACHE/gst-registry.bin" qemu-aarch64 -L "$SYSROOT" "$BIN" check --offline --quiet --config configs/x86-dev.toml
say "detect on tests/data/images/basketball1.png with ONNX Runtime $ORT_AARCH64 (aarch64, emulated: slow)"
events="$(ORT_DYLIB_PATH="$ORT_LIB" run detect --config configs/x86-dev.toml tests/data/images/basketball1.png 2>"$CACHE/detect.log")" \
    || { say "FAIL: detect"; cat "$CACHE/detect.log"; fail=1; }
python3 - "$events" tests/data/reference/nanodet_images.jsonl <<'PY' || fail=1
import json, sys
got = json.loads(sys.argv[1].splitlines()[0])
ref = next(json.loads(l) for l in open(sys.argv[2]) if '"basketball1.png"' in l)
pairs = list(zip(got["detections"], ref["detections"]))
ok = len(got["detections"]) == len(ref["detections"]) and all(
    g["class_id"] == r["class_id"] and abs(g["score"] - r["score"]) < 1e-3
    and all(abs(a - b) <= 0.2 for a, b in zip(g["bbox"], r["bbox"])) for g, r in pairs)
print(f"==> aarch64: detect: {len(got['detections'])} detections, {'identical to' if ok else 'DIFFERENT from'} the reference", file=sys.stderr)
sys.exit(0 if ok else 1)
PY
# The preprocessing tests for aarch64 (the NEON vector path against the scalar one): the lib's
# preprocess unit tests and the conformance suite's tensor cases for both CPU paths, which need no
# ONNX Runtime (its aarch64 library crashes under qemu 7.2, see above).
say "building the preprocess tests for $TARGET.$GLIBC"
# zig's clang does not know the GCC pragma of the kernel emulation (kernels/emulate.h; the flag
# -ffp-contract=off it repeats is passed anyway).
CXXFLAGS_aarch64_unknown_linux_gnu=-Wno-unknown-pragmas \
    cargo-zigbuild test --release --locked --target "$TARGET.$GLIBC" --target-dir target/aarch64 \
    --lib --test conformance --no-run --message-format=json > "$CACHE/tests.json"
mapfile -t test_bins < <(python3 - "$CACHE/tests.json" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line) if line.startswith("{") else {}
    if (m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]
            and m["target"]["name"] in ("edgesight", "conformance")):
        print(m["target"]["name"], m["executable"])
PY
)
for entry in "${test_bins[@]}"; do
    name="${entry%% *}"; exe="${entry#* }"
    if [ "$name" = edgesight ]; then filters=(preprocess::); else
        # The tensor cases of every pair built here (cpu_onnx: NEON; cpu_scalar; the kernel emulation).
        filters=(tensors_match random_sizes the_naive_reference_is_not); fi
    say "$name tests under qemu: ${filters[*]}"
    check qemu-aarch64 -L "$SYSROOT" "$exe" "${filters[@]}"
done
[ ${#test_bins[@]} -eq 2 ] || { say "FAIL: the aarch64 test binaries were not found"; fail=1; }

CUDA_BIN="target/aarch64-cuda/$TARGET/release/edgesight"
JETSON_BIN="$CACHE/edgesight-jetson-jp6"
# jetson-jp6 = CUDA + TensorRT (shim against the vendored 10.16 headers here; a JetPack 6 image
# build points EDGESIGHT_TENSORRT_INCLUDE at its own) + NVMM. cuda-jp5 last: its binary is the one
# left in target/aarch64-cuda. (jetson-jp5 needs JetPack 5's proprietary TensorRT 8.5 headers.)
for feature in jetson-jp6 cuda-jp5; do
    say "building with --features $feature for $TARGET.$GLIBC"
    cargo zigbuild --release --locked --features "$feature" --target "$TARGET.$GLIBC" --target-dir target/aarch64-cuda
    if aarch64-linux-gnu-objdump -p "$CUDA_BIN" | grep NEEDED | grep -i -E "cuda|nvrtc|nvinfer|nvidia"; then
        say "FAIL: $feature links an NVIDIA library"; fail=1
    fi
    [ "$feature" = jetson-jp6 ] && cp "$CUDA_BIN" "$JETSON_BIN"
done
sed 's/^threads = 2/threads = 2\npreprocess = "cuda"\nengine = "tensorrt"/; s/^engine = "onnx-cpu"//; s|\.\./|'"$PWD"'/|g' \
    configs/x86-dev.toml > "$CACHE/trt.toml"
set +e
trt_err="$(GST_REGISTRY_FORK=no GST_PLUGIN_SYSTEM_PATH=/usr/lib/aarch64-linux-gnu/gstreamer-1.0 \
    GST_REGISTRY="$CACHE/gst-registry.bin" qemu-aarch64 -L "$SYSROOT" "$JETSON_BIN" check --quiet --config "$CACHE/trt.toml" 2>&1)"
code=$?
set -e
say "jetson-jp6 under qemu, engine = \"tensorrt\", no TensorRT installed: exit $code: $trt_err"
if [ "$code" -ne 3 ] || ! grep -q "libnvinfer.so.10 (TensorRT 10) was not found" <<<"$trt_err" || grep -q panicked <<<"$trt_err"; then
    say "FAIL: the missing-library error of the aarch64 TensorRT build"; fail=1
fi
cuda_glibc="$(aarch64-linux-gnu-objdump -T "$CUDA_BIN" | grep -o 'GLIBC_[0-9.]*' | sort -V | tail -1 | sed 's/GLIBC_//')"
ver_le "$cuda_glibc" 2.31 || { say "FAIL: cuda-jp5 needs GLIBC_$cuda_glibc, above JetPack 5's 2.31"; fail=1; }
sed 's/^threads = 2/threads = 2\npreprocess = "cuda"/; s|\.\./|'"$PWD"'/|g' configs/x86-dev.toml > "$CACHE/cuda.toml"
set +e
cuda_err="$(ORT_DYLIB_PATH="$ORT_LIB" GST_REGISTRY_FORK=no GST_PLUGIN_SYSTEM_PATH=/usr/lib/aarch64-linux-gnu/gstreamer-1.0 \
    GST_REGISTRY="$CACHE/gst-registry.bin" qemu-aarch64 -L "$SYSROOT" "$CUDA_BIN" check --quiet --config "$CACHE/cuda.toml" 2>&1)"
code=$?
set -e
say "cuda-jp5 under qemu, preprocess = \"cuda\", no CUDA installed: exit $code: $cuda_err"
if [ "$code" -ne 3 ] || ! grep -q "libcuda.so.1" <<<"$cuda_err" || ! grep -q "libnvrtc.so (CUDA 11.4 NVRTC)" <<<"$cuda_err" \
    || grep -q panicked <<<"$cuda_err"; then
    say "FAIL: the missing-library error of the aarch64 CUDA build"; fail=1
fi

say "done in $((SECONDS - start)) s"
[ "$fail" -eq 0 ] && say "PASS" || { say "FAIL"; exit 1; }
