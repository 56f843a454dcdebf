#!/usr/bin/env bash
# Installs what edgesight needs on Debian/Ubuntu, only what is missing. Idempotent.
#   scripts/setup.sh build   # apt packages for building and running, Rust >= 1.92
#   scripts/setup.sh ort     # the ONNX Runtime library into .cache/onnxruntime (PyPI wheel)
#   scripts/setup.sh test    # RTSP test server packages and the Python venv below
#   scripts/setup.sh venv    # .cache/venv: onnx, pinned NumPy, OpenCV and ONNX Runtime (test
#                            # model generator, conformance reference, scripts/references.py);
#                            # TrackEval and motmetrics' data (tests/tracking.rs)
#   scripts/setup.sh cuda    # NVRTC 12.2 and 11.8 and ptxas 12.2 from PyPI into .cache/cuda, for
#                            # the kernel's compile checks (no GPU or driver needed)
set -euo pipefail
cd "$(dirname "$0")/.."

ORT_VERSION="${ORT_VERSION:-1.32.0}"
# The OpenCV the conformance suite compares packed frame formats with (tests/conformance.rs).
OPENCV_VERSION="${OPENCV_VERSION:-4.12.0.88}"
# The NumPy that scripts/references.py decodes with (its softmax and NMS are NumPy float32).
NUMPY_VERSION="${NUMPY_VERSION:-2.2.6}"
# The onnx that scripts/quantize_int8.py made models/nanodet_g_416_coco_int8.onnx with (with the
# ONNX Runtime above; its sha256 in models/MODELS.md holds for these versions only).
ONNX_VERSION="${ONNX_VERSION:-1.23.2}"
# TrackEval and the motmetrics wheel (TUD-Campus and TUD-Stadtmitte ground truth) for
# tests/tracking.rs; SciPy for TrackEval's assignment, tabulate for its imports.
TRACKEVAL_VERSION="${TRACKEVAL_VERSION:-1.3.0}"
MOTMETRICS_VERSION="${MOTMETRICS_VERSION:-1.4.0}"
SCIPY_VERSION="${SCIPY_VERSION:-1.17.1}"
TABULATE_VERSION="${TABULATE_VERSION:-0.10.0}"
RUST_MIN="1.92"
CACHE="$PWD/.cache"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

sudo_cmd() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "error: need root (or sudo) to run: $*" >&2; exit 1
    fi
}

apt_install() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if ! command -v apt-get >/dev/null; then
        echo "error: missing packages ${missing[*]} and no apt-get; install their equivalents" >&2; exit 1
    fi
    say "installing ${missing[*]}"
    sudo_cmd apt-get update -qq
    sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -1)" = "$2" ]; }

build_deps() {
    apt_install ca-certificates curl gcc pkg-config python3 python3-pip python3-venv \
        libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstrtspserver-1.0-dev \
        gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad \
        gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools
    local have=""
    command -v cargo >/dev/null && have="$(rustc --version | awk '{print $2}')"
    if [ -z "$have" ] && [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"; have="$(rustc --version | awk '{print $2}')"
    fi
    if [ -z "$have" ]; then
        say "installing Rust (rustup, stable, with rustfmt and clippy)"
        # The minimal profile plus the two components `make test` (cargo fmt --check) and
        # `make lint` (cargo clippy) run.
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c rustfmt -c clippy
        export PATH="$HOME/.cargo/bin:$PATH"
        echo "Rust installed in ~/.cargo/bin: open a new shell or run: . \"\$HOME/.cargo/env\"" >&2
    elif ! version_ge "$have" "$RUST_MIN"; then
        if command -v rustup >/dev/null; then
            say "Rust $have is older than $RUST_MIN: updating stable"
            rustup update stable
        else
            echo "error: Rust $have is older than $RUST_MIN (gstreamer-rs 0.25, ort 2.0); install rustup: https://rustup.rs" >&2
            exit 1
        fi
    fi
    # A toolchain installed earlier with the minimal profile lacks these.
    if command -v rustup >/dev/null; then
        for c in rustfmt clippy; do
            rustup component list --installed 2>/dev/null | grep -q "^$c" || { say "adding the Rust component $c"; rustup component add "$c"; }
        done
    fi
}

ort_lib() {
    local dir="$CACHE/onnxruntime"
    [ -e "$dir/libonnxruntime.so" ] && return 0
    local arch
    case "$(uname -m)" in
        x86_64) arch=x86_64 ;; aarch64|arm64) arch=aarch64 ;;
        *) echo "error: no ONNX Runtime wheel for $(uname -m)" >&2; exit 1 ;;
    esac
    say "downloading ONNX Runtime $ORT_VERSION ($arch) from PyPI"
    mkdir -p "$CACHE/wheels" "$dir"
    python3 -m pip download -q --no-deps --only-binary=:all: --platform "manylinux_2_28_$arch" \
        --python-version 3.11 --dest "$CACHE/wheels" "onnxruntime==$ORT_VERSION"
    python3 - "$CACHE/wheels" "$dir" "$ORT_VERSION" "$arch" <<'PY'
import glob, os, sys, zipfile
wheels, out, version, arch = sys.argv[1:]
(wheel,) = [w for w in glob.glob(os.path.join(wheels, f"onnxruntime-{version}-*.whl")) if arch in w]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        base = os.path.basename(name)
        if name.startswith("onnxruntime/capi/lib") and ".so" in base:
            with z.open(name) as src, open(os.path.join(out, base), "wb") as dst:
                dst.write(src.read())
lib = sorted(glob.glob(os.path.join(out, "libonnxruntime.so.*")))[-1]
os.symlink(os.path.basename(lib), os.path.join(out, "libonnxruntime.so"))
print(f"ONNX Runtime library: {lib}", file=sys.stderr)
PY
}

test_deps() {
    # The RTSP test server runs on Debian's python3 with the GI bindings of gst-rtsp-server.
    # systemd: systemd-analyze for the unit checks; procps: `kill` for the signal tests; g++: the
    # CUDA kernel's host emulation the tests build (feature kernel-emulation, kernels/emulate.cpp).
    # vlc-bin, vlc-plugin-base: VLC's RTSP server, the second server implementation of
    # tests/camera_interop.rs; iptables, iproute2: UDP dropped in a network namespace there (root only).
    # mosquitto, mosquitto-clients: the real MQTT broker tests/mqtt.rs starts per test.
    apt_install python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-ugly curl systemd procps g++ iproute2 \
        vlc-bin vlc-plugin-base iptables mosquitto mosquitto-clients
    venv
}

# One venv for every Python helper of the tests. NumPy, OpenCV and ONNX Runtime are pinned:
# tests/data/reference records what these versions compute (scripts/references.py --check).
venv() {
    local venv="$CACHE/venv"
    local want="numpy==$NUMPY_VERSION opencv-python-headless==$OPENCV_VERSION onnxruntime==$ORT_VERSION onnx==$ONNX_VERSION"
    # tests/tracking.rs: TrackEval scores the tracker, on the TUD ground truth inside the motmetrics
    # wheel. Both without their dependencies: trackeval 1.3.0 asks for NumPy >= 2.3.2 and the full
    # opencv-python, which would replace the pinned NumPy and OpenCV above (its HOTA/CLEAR/Identity
    # code runs on NumPy 2.2), and only motmetrics' data files are read, not its code (pandas).
    local no_deps="trackeval==$TRACKEVAL_VERSION motmetrics==$MOTMETRICS_VERSION scipy==$SCIPY_VERSION tabulate==$TABULATE_VERSION"
    # `python3 -m pip`, not `bin/pip`: a venv copied from another checkout keeps the other one's
    # path in its scripts' first line, and bin/pip would install there.
    if ! "$venv/bin/python3" - "$want" "$no_deps" 2>/dev/null <<'PY'
import sys
from importlib.metadata import version
import onnx  # noqa: F401 (the YOLO test model generator, scripts/quantize_int8.py)
pins = dict(p.split("==") for p in (sys.argv[1] + " " + sys.argv[2]).split())
sys.exit(any(version(name) != v for name, v in pins.items()))
PY
    then
        say "installing $want into $venv (test model generator, conformance and detection references, INT8 quantiser)"
        [ -x "$venv/bin/python3" ] || python3 -m venv "$venv"
        # shellcheck disable=SC2086
        "$venv/bin/python3" -m pip install -q --disable-pip-version-check $want
        # shellcheck disable=SC2086
        "$venv/bin/python3" -m pip install -q --disable-pip-version-check --no-deps $no_deps
    fi
}

# NVIDIA's PyPI wheels: the same NVRTC a JetPack 6.0 device compiles the kernel with (12.2), the
# closest to JetPack 5's 11.4 that PyPI has (11.8; its PTX 7.8 is what an 11.x driver accepts), and
# ptxas to assemble the PTX for Xavier (sm_72) and Orin (sm_87). tests/cuda_build.rs uses them.
CUDA_WHEELS="nvidia-cuda-nvrtc-cu12==12.2.140 nvidia-cuda-nvrtc-cu11==11.8.89 nvidia-cuda-nvcc-cu12==12.2.140 tensorrt-dispatch-cu12-libs==10.16.1.11"
cuda_tools() {
    local dir="$CACHE/cuda"
    [ -e "$dir/.complete" ] && [ "$(cat "$dir/.complete")" = "$CUDA_WHEELS" ] && return 0
    if [ "$(uname -m)" != x86_64 ]; then
        echo "setup: the NVRTC/ptxas checks use x86_64 wheels; skipping on $(uname -m)" >&2; return 0
    fi
    say "downloading NVRTC 12.2, NVRTC 11.8, ptxas 12.2 and the TensorRT 10.16 dispatch runtime from PyPI (about 70 MB)"
    rm -rf "$dir"
    mkdir -p "$CACHE/wheels" "$dir"
    # shellcheck disable=SC2086
    python3 -m pip download -q --no-deps --only-binary=:all: --platform manylinux2014_x86_64 \
        --platform manylinux_2_28_x86_64 --python-version 3.11 --dest "$CACHE/wheels" $CUDA_WHEELS
    python3 - "$CACHE/wheels" "$dir" <<'PY'
import glob, os, stat, sys, zipfile
wheels, out = sys.argv[1:]
want = {
    "nvidia_cuda_nvrtc_cu12-12.2.140": ("nvrtc-12.2", "nvidia/cuda_nvrtc/lib/"),
    "nvidia_cuda_nvrtc_cu11-11.8.89": ("nvrtc-11.8", "nvidia/cuda_nvrtc/lib/"),
    "nvidia_cuda_nvcc_cu12-12.2.140": ("nvcc-12.2", "nvidia/cuda_nvcc/bin/ptxas"),
    # TensorRT's smallest runtime (0.3 MB): real libnvinfer code for tests/tensorrt_build.rs.
    "tensorrt_dispatch_cu12_libs-10.16.1.11": ("tensorrt", "tensorrt_dispatch_libs/libnvinfer_dispatch"),
}
for prefix, (sub, member) in want.items():
    (wheel,) = glob.glob(os.path.join(wheels, prefix + "-*.whl"))
    os.makedirs(os.path.join(out, sub), exist_ok=True)
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            if name.startswith(member) and not name.endswith("/") and "__init__" not in name:
                dst = os.path.join(out, sub, os.path.basename(name))
                with z.open(name) as src, open(dst, "wb") as f:
                    f.write(src.read())
                os.chmod(dst, 0o755)
# CUDA 11's soname is libnvrtc.so.11.2, a name cudarc does not try: the -dev package's link.
os.symlink("libnvrtc.so.11.2", os.path.join(out, "nvrtc-11.8", "libnvrtc.so"))
PY
    echo "$CUDA_WHEELS" > "$dir/.complete"
}

for step in "$@"; do
    case "$step" in
        build) build_deps ;;
        ort) ort_lib ;;
        test) test_deps ;;
        venv) venv ;;
        cuda) cuda_tools ;;
        *) echo "usage: $0 build|ort|test|venv|cuda ..." >&2; exit 2 ;;
    esac
done
