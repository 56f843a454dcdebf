#!/usr/bin/env python3
"""The serial Python peer `make bench` compares edgesight with: what a user would write in an
afternoon with the usual tools. OpenCV VideoCapture decodes every frame of a clip; NumPy letterboxes
and normalises it exactly as edgesight does for NanoDet (models/MODELS.md); ONNX Runtime runs the
same model with the config's `model.threads` intra-op threads, 1 inter-op thread, sequential
execution; NumPy decodes the NanoDet outputs and runs per-class NMS with the config's thresholds.
One frame after the other, nothing overlapped. Prints one JSON object:

  {"frames": 795, "seconds": 41.2, "fps": 19.3, "inference_ms_mean": 37.0, "decode_ms_mean": ...,
   "preprocess_ms_mean": ..., "postprocess_ms_mean": ..., "detections": 6123, ...}

  peer.py [--config configs/x86-dev.toml] [--clip FILE] [--model FILE] [--threads N] [--frames N]

Defaults come from the config (model path, threads, score_threshold, nms_iou, max_detections, the
first stream's file: URI). Runs in .cache/venv (scripts/setup.sh venv). NanoDet only."""
import argparse
import json
import os
import sys
import time
import tomllib

import cv2
import numpy as np
import onnxruntime as ort

SIZE = 416
MEAN = np.array([103.53, 116.28, 123.675], dtype=np.float32)  # B, G, R
STD = np.array([57.375, 57.12, 58.395], dtype=np.float32)
STRIDES = (8, 16, 32)
BOX_BINS = 44  # 4 sides x 11 bins (reg_max 10): the box outputs; the others are class scores


def load_config(path):
    with open(path, "rb") as f:
        cfg = tomllib.load(f)
    base = os.path.dirname(os.path.abspath(path))
    model = cfg["model"]
    if model.get("family", "nanodet") != "nanodet":
        sys.exit(f"peer.py: {path}: model.family {model['family']!r}: the peer decodes NanoDet only")
    uri = next((s["uri"] for s in cfg.get("stream", []) if s.get("uri", "").startswith("file:")), None)
    return {
        "model": os.path.join(base, model["path"]),
        "threads": int(model.get("threads", 0)),
        "score": float(model.get("score_threshold", 0.35)),
        "nms_iou": float(model.get("nms_iou", 0.6)),
        "max_det": int(model.get("max_detections", 100)),
        "clip": os.path.join(base, uri[len("file:"):]) if uri else None,
    }


def preprocess(bgr, canvas):
    """Letterbox at the top-left (scale r = min(416/w, 416/h), bilinear), (px − mean)/std, rest 0."""
    h, w = bgr.shape[:2]
    r = min(SIZE / w, SIZE / h)
    nw, nh = min(round(w * r), SIZE), min(round(h * r), SIZE)
    resized = cv2.resize(bgr, (nw, nh), interpolation=cv2.INTER_LINEAR)
    canvas.fill(0.0)
    canvas[:nh, :nw] = (resized.astype(np.float32) - MEAN) / STD
    return canvas.transpose(2, 0, 1)[None], r


def grids():
    """Per stride: (stride, cell centres [n, 2]) in input pixels."""
    out = []
    for s in STRIDES:
        g = SIZE // s
        i = np.arange(g * g)
        out.append((s, np.stack([(i % g + 0.5) * s, (i // g + 0.5) * s], axis=1).astype(np.float32)))
    return out


def nms(boxes, scores, iou_max):
    """Greedy NMS of one class: indices kept, best first."""
    order = np.argsort(-scores, kind="stable")
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        ix = np.clip(np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0]), 0, None)
        iy = np.clip(np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1]), 0, None)
        inter = ix * iy
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-12)
        order = rest[iou <= iou_max]
    return keep


def decode(outputs, r, cells, score_min, iou_max, max_det):
    """NanoDet outputs matched by shape: per stride, class scores [1, n, C] (sigmoid applied) and
    distributions [1, n, 4·(reg_max+1)]; only cells with a score above the threshold are decoded."""
    by_cells = {}
    for out in outputs:
        by_cells.setdefault(out.shape[1], []).append(out[0])
    found_boxes, found_scores, found_classes = [], [], []
    for s, centres in cells:
        a, b = by_cells[centres.shape[0]]
        cls, dist = (a, b) if b.shape[1] == BOX_BINS else (b, a)
        cell, c = np.nonzero(cls > score_min)
        if not cell.size:
            continue
        bins = BOX_BINS // 4
        d = dist[cell].reshape(-1, 4, bins)
        e = np.exp(d - d.max(axis=2, keepdims=True))
        side = (e / e.sum(axis=2, keepdims=True)) @ np.arange(bins, dtype=np.float32) * s
        xy = centres[cell]
        found_boxes.append(np.concatenate([xy - side[:, :2], xy + side[:, 2:]], axis=1) / r)
        found_scores.append(cls[cell, c])
        found_classes.append(c)
    if not found_boxes:
        return []
    boxes, scores, classes = np.concatenate(found_boxes), np.concatenate(found_scores), np.concatenate(found_classes)
    kept = []
    for c in np.unique(classes):
        idx = np.nonzero(classes == c)[0]
        kept += [(float(scores[idx[k]]), int(c), boxes[idx[k]]) for k in nms(boxes[idx], scores[idx], iou_max)]
    kept.sort(key=lambda d: -d[0])
    return kept[:max_det]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p.add_argument("--config", default=os.path.join(here, "configs", "x86-dev.toml"))
    p.add_argument("--clip", help="video file (default: the config's first file: stream)")
    p.add_argument("--model", help="ONNX model (default: the config's model.path)")
    p.add_argument("--threads", type=int, help="intra-op threads (default: the config's model.threads)")
    p.add_argument("--frames", type=int, default=0, help="stop after N frames (default: every frame)")
    a = p.parse_args()
    cfg = load_config(a.config)
    model, clip = a.model or cfg["model"], a.clip or cfg["clip"]
    threads = cfg["threads"] if a.threads is None else a.threads
    if not clip:
        sys.exit(f"peer.py: {a.config} has no file: stream; give --clip")

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    input_name = sess.get_inputs()[0].name
    cells = grids()
    canvas = np.zeros((SIZE, SIZE, 3), dtype=np.float32)

    cap = cv2.VideoCapture(clip)
    if not cap.isOpened():
        sys.exit(f"peer.py: OpenCV cannot open {clip}")
    frames = detections = 0
    t_dec = t_pre = t_inf = t_post = 0.0
    start = time.perf_counter()
    while not a.frames or frames < a.frames:
        t0 = time.perf_counter()
        ok, bgr = cap.read()
        if not ok:
            break
        t1 = time.perf_counter()
        tensor, r = preprocess(bgr, canvas)
        t2 = time.perf_counter()
        outputs = sess.run(None, {input_name: tensor})
        t3 = time.perf_counter()
        detections += len(decode(outputs, r, cells, cfg["score"], cfg["nms_iou"], cfg["max_det"]))
        t4 = time.perf_counter()
        frames += 1
        t_dec, t_pre, t_inf, t_post = t_dec + t1 - t0, t_pre + t2 - t1, t_inf + t3 - t2, t_post + t4 - t3
    seconds = time.perf_counter() - start
    if not frames:
        sys.exit(f"peer.py: no frame decoded from {clip}")
    ms = lambda t: round(1000 * t / frames, 2)  # noqa: E731
    print(json.dumps({
        "frames": frames, "seconds": round(seconds, 3), "fps": round(frames / seconds, 2),
        "inference_ms_mean": ms(t_inf), "decode_ms_mean": ms(t_dec), "preprocess_ms_mean": ms(t_pre),
        "postprocess_ms_mean": ms(t_post), "detections": detections, "threads": threads,
        "model": os.path.basename(model), "clip": os.path.basename(clip),
        "onnxruntime": ort.__version__, "opencv": cv2.__version__,
    }))


if __name__ == "__main__":
    main()
