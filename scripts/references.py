#!/usr/bin/env python3
"""Rebuilds tests/data/reference: the detections ONNX Runtime gives in Python for the bundled
models on the bundled images and clip, with pre- and post-processing written from the model
contract (models/MODELS.md, docs/specs/model_interface.md), not from the Rust code, so that the
integration tests compare the product with an independent pipeline.

  references.py              # writes tests/data/reference/*.jsonl (`make references`)
  references.py --out DIR    # writes them into DIR instead
  references.py --check      # regenerates in memory and compares with the committed files

Pinned versions (scripts/setup.sh test): onnxruntime 1.32.0, opencv-python-headless 4.12.0.88,
numpy 2.2.6. Other versions are refused: the files record what these versions compute.

Rules the files follow (tests/data/reference/README.md):
- Boxes are in source-frame pixels and are NOT clipped to the frame: a box the model draws
  past an edge keeps its coordinates (e.g. x2 = 769.2 on a 768-pixel-wide frame). The product
  clips (docs/specs/model_interface.md); the tests' IoU tolerance absorbs the difference of at
  most a pixel or two.
- Scores are rounded to 4 decimals, coordinates to 0.1 px (Python's round, half to even on the
  float value); detections of a frame are ordered by score, highest first.
- Images are read with cv2.imread, the clip with cv2.VideoCapture (FFmpeg); `frame` counts
  decoded frames from 0.

--check compares frame by frame: the same sources, frames and sizes, the same number of
detections with the same class ids and labels in the same order, scores within 2e-4 and
coordinates within 0.2 px (two rounding steps: enough for ONNX Runtime's thread-count and
instruction-set noise, far below any real change of the pipeline). It prints every difference
and exits 1 if any exceeds the tolerance."""
import argparse
import json
import os
import sys

import cv2
import numpy as np
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "reference")
VERSIONS = {"onnxruntime": (ort.__version__, "1.32.0"), "opencv": (cv2.__version__, "4.12.0"),
            "numpy": (np.__version__, "2.2.6")}
IMAGES = ["astronaut.png", "chelsea.png", "basketball1.png", "vtest_f00100.jpg"]
CLIP = "vtest_h264.mp4"
EVERY = 25
SCORE_TOL, COORD_TOL = 2e-4, 0.2

# NanoDet-g-416 contract (models/MODELS.md).
NANODET_SIZE = 416
NANODET_MEAN = np.array([103.53, 116.28, 123.675], dtype=np.float32)  # B, G, R
NANODET_STD = np.array([57.375, 57.12, 58.395], dtype=np.float32)
NANODET_STRIDES = (8, 16, 32)
REG_MAX = 10  # 11 bins per side, box outputs [1, n, 44]
SCORE_THRESHOLD = 0.35  # kept when strictly above
NMS_IOU = 0.6  # a box is removed when its IoU with a better box of its class is above this
MAX_DETECTIONS = 100

# SSDLite person contract: uint8 NHWC RGB, stretched to 300x300 here (the graph would resize).
SSD_SIZE = 300


def session(name):
    opts = ort.SessionOptions()
    # Two intra-op threads, as configs/x86-dev.toml. 1, 2 and 4 threads gave identical files on
    # x86-64; other CPUs may differ within the --check tolerance.
    opts.intra_op_num_threads = 2
    return ort.InferenceSession(os.path.join(ROOT, "models", name), opts, providers=["CPUExecutionProvider"])


def labels(name):
    with open(os.path.join(ROOT, "models", name)) as f:
        return [line.strip() for line in f]


def nanodet_tensor(bgr):
    """Letterbox at the top-left: scale r = min(416/w, 416/h), size round-half-even(w·r) ×
    round-half-even(h·r), cv2.resize INTER_LINEAR, (px − mean)/std in float32, the rest 0."""
    h, w = bgr.shape[:2]
    r = min(NANODET_SIZE / w, NANODET_SIZE / h)
    nw, nh = min(round(w * r), NANODET_SIZE), min(round(h * r), NANODET_SIZE)
    resized = cv2.resize(bgr, (nw, nh), interpolation=cv2.INTER_LINEAR)
    canvas = np.zeros((NANODET_SIZE, NANODET_SIZE, 3), dtype=np.float32)
    canvas[:nh, :nw] = (resized.astype(np.float32) - NANODET_MEAN) / NANODET_STD
    return canvas.transpose(2, 0, 1)[None].copy(), r


def iou(box, others):
    ix = np.clip(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0, None)
    inter = ix * iy
    union = (box[2] - box[0]) * (box[3] - box[1]) + (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return inter / np.maximum(union - inter, 1e-12)


def nms(boxes, scores):
    """Greedy NMS of one class: indices kept, best first."""
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        order = rest[iou(boxes[i], boxes[rest]) <= NMS_IOU]
    return keep


def nanodet_decode(outputs, r):
    """Outputs matched by shape: per stride, scores [1, n, C] and distributions [1, n, 44]."""
    bins = 4 * (REG_MAX + 1)
    by_cells = {}
    for out in outputs:
        n, last = out.shape[1], out.shape[2]
        by_cells.setdefault(n, {})["box" if last == bins else "cls"] = out[0].astype(np.float32)
    all_boxes, all_scores = [], []
    for s in NANODET_STRIDES:
        g = NANODET_SIZE // s
        pair = by_cells[g * g]
        cls, dist = pair["cls"], pair["box"].reshape(-1, 4, REG_MAX + 1)
        e = np.exp(dist - dist.max(axis=2, keepdims=True))
        side = (e / e.sum(axis=2, keepdims=True)) @ np.arange(REG_MAX + 1, dtype=np.float32) * s
        i = np.arange(g * g)
        cx, cy = (i % g + 0.5) * s, (i // g + 0.5) * s
        boxes = np.stack([cx - side[:, 0], cy - side[:, 1], cx + side[:, 2], cy + side[:, 3]], axis=1)
        all_boxes.append(boxes / r)
        all_scores.append(cls)
    boxes, scores = np.concatenate(all_boxes), np.concatenate(all_scores)
    found = []
    for c in range(scores.shape[1]):
        idx = np.nonzero(scores[:, c] > SCORE_THRESHOLD)[0]
        for k in nms(boxes[idx], scores[idx, c]):
            found.append((float(scores[idx[k], c]), c, boxes[idx[k]]))
    found.sort(key=lambda d: -d[0])
    return found[:MAX_DETECTIONS]


def nanodet(sess, names):
    def detect(bgr):
        tensor, r = nanodet_tensor(bgr)
        outputs = sess.run(None, {sess.get_inputs()[0].name: tensor})
        return [(score, c, names[c], box) for score, c, box in nanodet_decode(outputs, r)]
    return detect


def ssdlite(sess, names):
    """Stretched to 300×300 with cv2.resize INTER_LINEAR, RGB uint8; NMS is in the graph, boxes
    are normalised (ymin, xmin, ymax, xmax) of the frame."""
    def detect(bgr):
        h, w = bgr.shape[:2]
        rgb = cv2.cvtColor(cv2.resize(bgr, (SSD_SIZE, SSD_SIZE), interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB)
        out = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {sess.get_inputs()[0].name: rgb[None]})))
        n = int(out["num_detections:0"][0])
        found = []
        for (y1, x1, y2, x2), score, c in zip(out["detection_boxes:0"][0][:n], out["detection_scores:0"][0][:n],
                                             out["detection_classes:0"][0][:n]):
            if score > SCORE_THRESHOLD:
                c = int(c)
                found.append((float(score), c, names[c], np.array([x1 * w, y1 * h, x2 * w, y2 * h])))
        found.sort(key=lambda d: -d[0])
        return found
    return detect


def record(source, frame, bgr, detect):
    h, w = bgr.shape[:2]
    dets = [{"label": label, "class_id": c, "score": round(score, 4), "bbox": [round(float(v), 1) for v in box]}
            for score, c, label, box in detect(bgr)]
    return {"source": source, "frame": frame, "width": w, "height": h, "detections": dets}


def images(detect):
    out = []
    for name in IMAGES:
        bgr = cv2.imread(os.path.join(ROOT, "tests", "data", "images", name), cv2.IMREAD_COLOR)
        out.append(record(name, 0, bgr, detect))
    return out


def clip(detect):
    cap = cv2.VideoCapture(os.path.join(ROOT, "media", CLIP))
    out, frame = [], 0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        if frame % EVERY == 0:
            out.append(record(CLIP, frame, bgr, detect))
        frame += 1
    assert out, f"OpenCV could not decode media/{CLIP}"
    return out


def generate():
    nano = nanodet(session("nanodet_g_416_coco.onnx"), labels("coco80_labels.txt"))
    ssd = ssdlite(session("ssdlite_mobilenet_v2_person.onnx"), labels("ssdlite_person_labels.txt"))
    return {
        "nanodet_images.jsonl": images(nano),
        "ssdlite_person_images.jsonl": images(ssd),
        f"nanodet_vtest_h264_every{EVERY}.jsonl": clip(nano),
    }


def text(records):
    return "".join(json.dumps(r) + "\n" for r in records)


def differences(name, want, got):
    """Lines describing where `got` leaves the tolerance of `want` (the committed file)."""
    bad, notes = [], []
    if len(want) != len(got):
        return [f"{name}: {len(got)} records, the committed file has {len(want)}"], notes
    for w, g in zip(want, got):
        where = f"{name} {w['source']} frame {w['frame']}"
        if (w["source"], w["frame"], w["width"], w["height"]) != (g["source"], g["frame"], g["width"], g["height"]):
            bad.append(f"{where}: got {g['source']} frame {g['frame']} {g['width']}x{g['height']}")
            continue
        wd, gd = w["detections"], g["detections"]
        if [(d["class_id"], d["label"]) for d in wd] != [(d["class_id"], d["label"]) for d in gd]:
            bad.append(f"{where}: classes {[d['label'] for d in gd]}, committed {[d['label'] for d in wd]}")
            continue
        for i, (a, b) in enumerate(zip(wd, gd)):
            ds = abs(a["score"] - b["score"])
            dc = max(abs(x - y) for x, y in zip(a["bbox"], b["bbox"]))
            if ds or dc:
                line = f"{where} detection {i}: score {b['score']} vs {a['score']}, bbox {b['bbox']} vs {a['bbox']}"
                (bad if ds > SCORE_TOL + 1e-9 or dc > COORD_TOL + 1e-9 else notes).append(line)
    return bad, notes


def check_versions():
    wrong = [f"{k} {have} (wants {want})" for k, (have, want) in VERSIONS.items() if not have.startswith(want)]
    if wrong:
        sys.exit(f"references.py: {', '.join(wrong)}; run `scripts/setup.sh test` and use .cache/venv/bin/python3")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=OUT, help="folder to write into (default tests/data/reference)")
    p.add_argument("--check", action="store_true", help="compare with the committed files, write nothing")
    a = p.parse_args()
    check_versions()
    files = generate()
    if a.check:
        bad_total = 0
        for name, records in files.items():
            with open(os.path.join(OUT, name)) as f:
                want = [json.loads(line) for line in f if line.strip()]
            bad, notes = differences(name, want, records)
            for line in notes:
                print(f"within tolerance: {line}")
            for line in bad:
                print(f"DIFFERENT: {line}")
            identical = text(records) == text(want)
            print(f"{name}: {len(records)} records, "
                  f"{'identical' if identical else f'{len(notes)} within tolerance, {len(bad)} beyond'}")
            bad_total += len(bad)
        return 1 if bad_total else 0
    os.makedirs(a.out, exist_ok=True)
    for name, records in files.items():
        with open(os.path.join(a.out, name), "w") as f:
            f.write(text(records))
        print(f"wrote {os.path.join(a.out, name)} ({len(records)} records)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
