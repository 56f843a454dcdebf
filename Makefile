# edgesight: `make demo` and `make test` set up everything they need on Debian/Ubuntu.
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)
CARGO ?= cargo
BIN := target/release/edgesight

.PHONY: all deps onnxruntime test-deps build demo test lint fmt clean soak references references-check bench-tracker bench

all: build

deps:
	scripts/setup.sh build

onnxruntime:
	scripts/setup.sh ort

test-deps:
	scripts/setup.sh test

build: deps
	$(CARGO) build --release --locked

## Runs the bundled NanoDet model on the bundled clip: events on stdout, the stats line at the end.
demo: build onnxruntime
	$(BIN) run --config configs/x86-dev.toml

## Unit and integration tests (real GStreamer pipelines and ONNX Runtime), formatting, the
## systemd unit, and the CUDA builds' checks that need no GPU (scripts/cuda-check.sh).
test: deps onnxruntime test-deps
	$(CARGO) fmt --check
	EDGESIGHT_REQUIRE_MOSQUITTO=1 $(CARGO) test --release --locked
	scripts/packaging-check.sh
	scripts/cuda-check.sh

## Rebuilds tests/data/reference (expected detections, ONNX Runtime in Python) from models/, media/
## and tests/data/images with scripts/references.py; `references-check` compares instead of writing
## (tests/reference.rs runs the check too).
references:
	scripts/setup.sh venv
	.cache/venv/bin/python3 scripts/references.py

references-check:
	scripts/setup.sh venv
	.cache/venv/bin/python3 scripts/references.py --check

## Soak test (not in CI): 4 looped streams for MINUTES minutes, RSS at start and end.
MINUTES ?= 10
soak: build onnxruntime
	scripts/soak.sh $(MINUTES)

## Tracker cost per frame (criterion; benches/tracker.rs): ByteTrack and OC-SORT at 50 and 200
## objects. Figures in docs/perf/optimization_guide.md, "Tracker cost".
bench-tracker: deps
	$(CARGO) bench --locked --bench tracker

## edgesight against the serial Python peer (benches/peer.py) on the clips of scripts/bench-clips.sh,
## FP32 and INT8, interleaved, then the criterion micro-benchmarks (preprocess, postprocess); not in
## `make test`. ROUNDS=2 FRAMES=200 (0: whole clips) CLIPS="640x272 768x576 1920x1080" THREADS=2;
## `scripts/bench.sh --quick` is a smoke run. Figures: docs/perf/optimization_guide.md, "make bench".
bench: deps onnxruntime
	scripts/bench.sh

lint: deps
	$(CARGO) clippy --release --locked --all-targets -- -D warnings
	$(CARGO) clippy --release --locked --all-targets --features cuda-jp6,tensorrt --target-dir target/cuda -- -D warnings

fmt:
	$(CARGO) fmt

clean:
	$(CARGO) clean

# Packaging and cross-build targets (aarch64 smoke test, systemd and Yocto checks).
-include mk/*.mk
