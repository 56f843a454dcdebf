#!/usr/bin/env bash
# Soak test: 4 looped copies of the bundled clip played like cameras (realtime) for N minutes.
# RSS is sampled every 10 s; the figure compared is the median of the first minute after warm-up
# against the median of the last minute (a single reading moves by several percent as decoder
# pipelines are rebuilt at every loop). Fails if it grew by 5% or more.
#   scripts/soak.sh [MINUTES]      (make soak MINUTES=10)
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES="${1:-10}"
# Warm-up covers two passes of the 80 s clip: every stream has rebuilt its pipeline twice and
# the allocator has reached its working size.
WARMUP_S="${WARMUP_S:-200}"
BIN="${BIN:-target/release/edgesight}"
dir="$(mktemp -d)"
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT

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
alive() { kill -0 "$pid" 2>/dev/null || { echo "soak: edgesight exited"; cat "$dir/stderr.log"; exit 1; }; }
echo "soak: 4 looped streams for $MINUTES min after a ${WARMUP_S} s warm-up, pid $pid"
sleep "$WARMUP_S"
alive
start_frames=$(wc -l < "$dir/events.jsonl")
samples="$dir/rss.txt"
: > "$samples"
for ((t = 0; t < MINUTES * 60; t += 10)); do
    alive
    echo "$t $(rss)" >> "$samples"
    if (( t % 60 == 0 )); then echo "soak: $((t / 60)) min: RSS $(rss) kB, events $(wc -l < "$dir/events.jsonl")"; fi
    sleep 10
done
alive
frames=$(( $(wc -l < "$dir/events.jsonl") - start_frames ))
counters=$(curl -s "http://127.0.0.1:$port/metrics" | grep -E '^edgesight_(frames_dropped_total|reconnects_total)' | awk '{s+=$2} END {print s+0}' || true)
kill -TERM "$pid"; wait "$pid" || true; pid=""
python3 - "$samples" "$MINUTES" "$frames" "$counters" <<'PY'
import statistics, sys
path, minutes, frames, counters = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
rows = [tuple(map(int, l.split())) for l in open(path) if l.strip()]
first = statistics.median(r for t, r in rows if t < 60)
last = statistics.median(r for t, r in rows if t >= minutes * 60 - 60)
growth = (last - first) / first * 100
print(f"soak: RSS median first minute {first:.0f} kB, last minute {last:.0f} kB, growth {growth:.2f}% over {minutes} min "
      f"(min {min(r for _, r in rows)} kB, max {max(r for _, r in rows)} kB); {frames} events after warm-up; dropped+reconnects counters {counters}")
if growth >= 5:
    print(f"soak: FAIL: RSS grew {growth:.2f}% (limit 5%)")
    sys.exit(1)
print("soak: PASS")
PY
