#!/usr/bin/env python3
"""Compares `edgesight detect` events with reference detections, using the tolerance of
tests/data/reference/README.md. For each image, at least 95% of the expected detections must be
matched by one of the same class with IoU >= 0.7 and a score within 0.05, and at most 5% may be
extra. With --same-as, the detections must also equal another run's exactly (same tensor, same
model: preprocess = "cuda" against "cpu").

  compare_detections.py GOT.jsonl REFERENCE.jsonl [--same-as OTHER.jsonl] [--label TEXT]

Prints one line per image and exits 1 if any image fails. Used by scripts/gpu-check.sh."""
import argparse
import json
import sys


def load(path):
    out = {}
    for line in open(path):
        if line.strip():
            d = json.loads(line)
            out[d.get("stream", d.get("source"))] = d["detections"]
    return out


def iou(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return ix * iy / u if u > 0 else 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("got")
    p.add_argument("reference")
    p.add_argument("--same-as")
    p.add_argument("--label", default="detect")
    a = p.parse_args()
    got, ref = load(a.got), load(a.reference)
    same = load(a.same_as) if a.same_as else None
    bad = 0
    for name, want in ref.items():
        g = got.get(name)
        if g is None:
            print(f"   {a.label} {name}: no detections: FAIL")
            bad += 1
            continue
        used, matched = set(), 0
        for w in want:
            for i, d in enumerate(g):
                if i not in used and d["class_id"] == w["class_id"] and iou(d["bbox"], w["bbox"]) >= 0.7 \
                        and abs(d["score"] - w["score"]) <= 0.05:
                    used.add(i)
                    matched += 1
                    break
        ok = matched >= 0.95 * len(want) and len(g) - len(used) <= 0.05 * max(len(want), 1)
        extra = ""
        if same is not None:
            identical = g == same.get(name)
            ok = ok and identical
            extra = f", {'identical to' if identical else 'DIFFERENT from'} {a.same_as}"
        bad += not ok
        print(f"   {a.label} {name}: {len(g)} detections, {matched}/{len(want)} of the reference matched, "
              f"{len(g) - len(used)} extra{extra}{'' if ok else ': FAIL'}")
    print(f"   {a.label}: {len(ref) - bad} of {len(ref)} images pass")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
