#!/usr/bin/env bash
# `make bench` (issue 16; not part of `make test` or CI): edgesight against the serial Python peer
# (benches/peer.py: OpenCV -> NumPy -> ONNX Runtime -> NumPy, one frame after the other) on the
# clips of scripts/bench-clips.sh, FP32 and INT8 NanoDet, then the criterion micro-benchmarks
# (benches/preprocess.rs if present, benches/postprocess.rs).
#
# Each (clip, precision) runs edgesight and the peer alternately, A B A B, ROUNDS times, with
# THREADS intra-op threads for both (model.threads; the peer's inter-op 1, sequential). The table
# gives the medians and their ratio, the pipeline's share of its engine alone (`edgesight bench`'s
# ceiling), capture->event p95 and steady RSS; `uptime` before and after says how loaded the machine was.
#
#   scripts/bench.sh             # every clip, FRAMES frames each, ROUNDS rounds, then criterion
#   scripts/bench.sh --quick     # smoke: the 640x272 clip, 40 frames, 2 rounds, criterion --quick
# Variables: ROUNDS=2  FRAMES=200 (0 = whole clips, 795 frames)  THREADS=2
#            CLIPS="640x272 768x576 1920x1080"  PRECISIONS="fp32 int8"  CRITERION=1 (0: skip)
# About 5 minutes with the defaults on a quiet 2-core x86 VM (19 at a load average of 10).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

QUICK=0
for arg in "$@"; do
    case "$arg" in
        --quick) QUICK=1 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "bench.sh: unknown argument $arg (see --help)" >&2; exit 2 ;;
    esac
done
if [ "$QUICK" = 1 ]; then
    : "${ROUNDS:=2}" "${FRAMES:=40}" "${CLIPS:=640x272}"
fi
ROUNDS=${ROUNDS:-2} FRAMES=${FRAMES:-200} THREADS=${THREADS:-2}
CLIPS=${CLIPS:-640x272 768x576 1920x1080} PRECISIONS=${PRECISIONS:-fp32 int8} CRITERION=${CRITERION:-1}

BIN=target/release/edgesight
PY=.cache/venv/bin/python3
ROOT=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# The pipeline's figures from `edgesight bench --json` (docs/perf/bench_report.md): FPS mean,
# its share of the engine-alone ceiling, capture->event p95 and the steady RSS.
edgesight_figures() { # REPORT_JSON
    $PY -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["pipeline"]["fps"]["mean"], r["ceiling"]["pipeline_fraction"], r["pipeline"]["latency_ms"]["p95"], r["system"]["rss_steady_mb"])' "$1"
}

# The first FRAMES frames of a clip, without re-encoding (cached next to the clips).
first_frames() { # CLIP
    local clip=$1
    [ "$FRAMES" -gt 0 ] || { echo "$clip"; return; }
    local out
    out="$(dirname "$clip")/first${FRAMES}_$(basename "$clip")"
    if [ ! -s "$out" ]; then
        gst-launch-1.0 -q filesrc location="$clip" ! qtdemux ! h264parse ! identity eos-after="$FRAMES" \
            ! mp4mux ! filesink location="$out.tmp" >/dev/null
        mv "$out.tmp" "$out"
    fi
    echo "$out"
}

# configs/x86-dev(-int8).toml with absolute paths, the clip as its one stream (every frame, not
# real time), THREADS threads, events to a file (the peer reads the same config).
make_config() { # PRECISION CLIP EVENTS OUT
    local base=configs/x86-dev.toml
    [ "$1" = int8 ] && base=configs/x86-dev-int8.toml
    sed -e "s|\"\\.\\./|\"$ROOT/|" -e "s|^uri = .*|uri = \"file:$2\"|" -e "s|^threads = .*|threads = $THREADS|" \
        -e "s|^path = \"-\"|path = \"$3\"|" "$base" > "$4"
}

say "building (cargo build --release --locked), ONNX Runtime, the Python venv"
scripts/setup.sh ort >/dev/null
scripts/setup.sh venv >/dev/null
cargo build --release --locked
clipdir=$(scripts/bench-clips.sh)

uptime | tee "$work/uptime_before"
results=$work/results.tsv
: > "$results"
for round in $(seq 1 "$ROUNDS"); do
    for size in $CLIPS; do
        clip=$(first_frames "$ROOT/$clipdir/vtest_$size.mp4")
        for precision in $PRECISIONS; do
            cfg=$work/$size-$precision.toml events=$work/events.jsonl
            make_config "$precision" "$clip" "$events" "$cfg"
            rm -f "$events"
            # The whole clip, every frame measured (no warm-up, like the peer), then its ceiling.
            "$BIN" bench --config "$cfg" --warmup 0 --duration 3600 --json "$work/report.json" > "$work/report.txt" 2> "$work/stderr" \
                || { echo "bench.sh: edgesight bench failed:" >&2; tail "$work/stderr" >&2; exit 1; }
            read -r fps fraction p95 rss < <(edgesight_figures "$work/report.json")
            dets=$($PY -c 'import json,sys; print(sum(len(e.get("detections", [])) for e in map(json.loads, open(sys.argv[1])) if "kind" not in e))' "$events")
            peer=$($PY benches/peer.py --config "$cfg")
            pfps=$($PY -c 'import json,sys; print(json.loads(sys.argv[1])["fps"])' "$peer")
            pdets=$($PY -c 'import json,sys; print(json.loads(sys.argv[1])["detections"])' "$peer")
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$precision" "$round" "$fps" "$pfps" "$dets" "$pdets" "$fraction" "$p95" "$rss" | tee -a "$results" >&2
        done
    done
done
uptime | tee "$work/uptime_after"

say "edgesight vs the serial Python peer: $ROUNDS rounds, ${FRAMES/#0/all} frames per clip, $THREADS threads, medians"
$PY - "$results" <<'PY'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()]
keys = list(dict.fromkeys((r[0], r[1]) for r in rows))
print(f"{'clip':<10} {'precision':<9} {'edgesight FPS':>13} {'peer FPS':>9} {'ratio':>6} {'of ceiling':>10} {'p95 ms':>7} {'RSS MiB':>8} {'detections (edgesight/peer)':>28}")
for clip, prec in keys:
    sel = [r for r in rows if (r[0], r[1]) == (clip, prec)]
    med = lambda i: statistics.median(float(r[i]) for r in sel)
    e, p = med(3), med(4)
    print(f"{clip:<10} {prec:<9} {e:>13.1f} {p:>9.1f} {e / p:>6.2f} {med(7):>10.2f} {med(8):>7.1f} {med(9):>8.0f} {sel[0][5] + ' / ' + sel[0][6]:>28}")
PY

if [ "$CRITERION" = 1 ]; then
    crit=()
    [ "$QUICK" = 1 ] && crit=(-- --quick)
    if [ -f benches/preprocess.rs ]; then
        say "criterion: benches/preprocess.rs"
        cargo bench --locked --bench preprocess "${crit[@]}"
    else
        say "criterion: no benches/preprocess.rs here, skipped"
    fi
    say "criterion: benches/postprocess.rs"
    cargo bench --locked --bench postprocess "${crit[@]}"
    uptime
fi
