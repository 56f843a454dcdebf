#!/usr/bin/env bash
# Soak test: 4 looped copies of the bundled clip played like cameras (realtime) for N minutes;
# reports RSS after warm-up and at the end. Fails if RSS grew by 5% or more after warm-up.
#   scripts/soak.sh [MINUTES]      (make soak MINUTES=10)
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES="${1:-10}"
WARMUP_S="${WARMUP_S:-60}"
BIN="${BIN:-target/release/edgesight}"
dir="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
{
    printf '[device]\nname = "soak"\nlog_level = "warn"\n\n[model]\npath = "%s/models/nanodet_g_416_coco.onnx"\nfamily = "nanodet"\nlabels = "%s/models/coco80_labels.txt"\nthreads = 2\n\n' "$PWD" "$PWD"
    for i in 1 2 3 4; do
        printf '[[stream]]\nname = "loop%s"\nuri = "file://%s/media/vtest_h264.mp4"\nrealtime = true\nloop = true\n\n' "$i" "$PWD"
    done
    printf '[output.jsonl]\npath = "%s/events.jsonl"\n\n[metrics]\nlisten = "127.0.0.1:%s"\n' "$dir" "$port"
} > "$dir/soak.toml"

"$BIN" run --config "$dir/soak.toml" 2> "$dir/stderr.log" &
pid=$!
rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
echo "soak: 4 looped streams for $MINUTES min (warm-up ${WARMUP_S} s), pid $pid"
sleep "$WARMUP_S"
start_rss=$(rss)
start_frames=$(wc -l < "$dir/events.jsonl")
echo "soak: RSS after warm-up: ${start_rss} kB"
end=$((SECONDS + MINUTES * 60))
while [ $SECONDS -lt $end ]; do
    sleep 60
    kill -0 "$pid" 2>/dev/null || { echo "soak: edgesight exited"; cat "$dir/stderr.log"; exit 1; }
    echo "soak: $(( (SECONDS - (end - MINUTES * 60)) / 60 )) min: RSS $(rss) kB, events $(wc -l < "$dir/events.jsonl")"
done
end_rss=$(rss)
frames=$(( $(wc -l < "$dir/events.jsonl") - start_frames ))
metrics=$(curl -s "http://127.0.0.1:$port/metrics" 2>/dev/null | grep -E '^edgesight_(frames_dropped_total|reconnects_total)' | awk '{s+=$2} END {print s+0}' || true)
kill -TERM "$pid"; wait "$pid" || true
growth=$(python3 -c "print(f'{($end_rss - $start_rss) / $start_rss * 100:.2f}')")
echo "soak: RSS start ${start_rss} kB, end ${end_rss} kB, growth ${growth}% over $MINUTES min; $frames events after warm-up; dropped+reconnects counters: ${metrics}"
python3 -c "import sys; sys.exit(0 if $growth < 5 else 1)" || { echo "soak: FAIL: RSS grew ${growth}% (limit 5%)"; exit 1; }
echo "soak: PASS"
