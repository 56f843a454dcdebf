#!/usr/bin/env bash
# The clips `make bench` and the optimisation guide measure on, made from the bundled clip
# (media/vtest_h264.mp4, 768x576, 795 frames) with GStreamer into .cache/bench/ (once; reused):
#   vtest_768x576.mp4    the bundled clip itself (a copy)
#   vtest_640x272.mp4    cropped to 2.35:1 and scaled down (a small, wide camera)
#   vtest_1920x1080.mp4  scaled up to 1080p (what real cameras send), H.264 like a camera's
# Encoding is deterministic enough for timing (x264, fixed bitrate, keyframe every 50 frames).
# Prints the directory. Usage: scripts/bench-clips.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-.cache/bench}
mkdir -p "$dir"
src=$(realpath media/vtest_h264.mp4)
[ -s "$dir/vtest_768x576.mp4" ] || cp "$src" "$dir/vtest_768x576.mp4"

make_clip() { # NAME CAPS FILTER BITRATE(kbit/s)
    local out="$dir/$1" tmp="$dir/.$1.tmp"
    [ -s "$out" ] && return 0
    echo "bench-clips: making $out" >&2
    gst-launch-1.0 -q filesrc location="$src" ! qtdemux ! h264parse ! avdec_h264 ! $3 \
        videoscale ! "$2" ! x264enc speed-preset=faster bitrate="$4" key-int-max=50 threads=2 \
        ! video/x-h264,profile=high ! h264parse ! mp4mux ! filesink location="$tmp" >/dev/null
    mv "$tmp" "$out"
}
make_clip vtest_640x272.mp4 "video/x-raw,width=640,height=272" "videocrop top=124 bottom=125 !" 800
make_clip vtest_1920x1080.mp4 "video/x-raw,width=1920,height=1080" "" 6000
echo "$dir"
