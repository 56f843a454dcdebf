#!/usr/bin/env python3
"""Writes YOLO "probe" models whose detections report what reached their input, for tests/yolo_input.rs.

    scripts/make_probe_models.py --out DIR

The models of scripts/make_test_models.py output a constant, so no preprocessing mistake (channel
order, scale, letterbox, padding) could change what they detect. A probe model instead averages
each channel of the input tensor over a few windows and writes every mean t into the class score
of its own detection: score = OFFSET + GAIN * t / full_scale (objectness 1), on a fixed box that
identifies the probe by its x position (which no letterbox mode of the scene changes). The
printed score (4 decimals) thus gives t to 4e-4 of full scale, a tenth of a pixel level.

It writes, into DIR:
  stripes.png            a 96x64 RGB scene of six vertical stripes of solid colours, so that a
                         window of the letterboxed tensor holds one exact colour (or only padding)
                         whatever the vertical scaling;
  yolov5_probe.onnx      [1,3,64,64] -> [1,18,8]           (full scale 1: px/255)
  yolov8_probe.onnx      [1,3,64,64] -> [1,7,18]           (full scale 1)
  yolox_probe.onnx       [1,3,64,64] -> [1,84,8]           (full scale 255: raw pixels)
  yolov5_probe_nhwc.onnx [1,64,64,3] NHWC, else as yolov5  (for model.layout)
  yolov5_probe_dyn.onnx  [1,3,H,W] dynamic, else as yolov5 (for model.input_size)
  probes.json            windows, probes, boxes, encoding, and the reference: for each input size
                         and letterbox mode, what OpenCV (cv2.resize INTER_LINEAR into a canvas)
                         puts in each window: one RGB colour, or only padding.

The reference says nothing about normalisation or channel order: the test derives the expected
tensor values from it and the contract under test, and the windows are chosen (and checked here)
so that each holds one solid colour or only padding in every geometry the test uses.

Needs numpy, onnx and OpenCV (`make test-deps` installs them into .cache/venv).
"""

import argparse
import json
import os
import sys

try:
    import cv2
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError as e:  # reported by the Rust test verbatim
    sys.exit(f"make_probe_models.py: {sys.executable} cannot import {e.name or e} ({e}); run `make test-deps`")

OPSET = 13
IR_VERSION = 8
SCENE_W, SCENE_H = 96, 64
INPUT = 64
NUM_CLASSES = 3
STRIDES = (8, 16, 32)
# score = OFFSET + GAIN * t / full_scale keeps t in [-0.6, 2] of full scale between the default
# threshold 0.35 and 1, so that normalisations other than the default stay readable.
OFFSET, GAIN = 0.5, 0.25

# Six vertical stripes, 16 px each, every channel different from the others within a stripe (a
# swapped channel order changes every value) and from the padding grey 114.
STRIPES = [(200, 40, 90), (30, 160, 220), (250, 220, 20), (70, 90, 140), (140, 250, 60), (20, 60, 180)]

# (name, rows [y0, y1), cols [x0, x1)) in tensor pixels. On the 64x64 input the scene becomes 64x43:
# centred it covers rows 10..52, top-left rows 0..42, stretched all rows. Each window's rows sit
# on one side of an edge of one of these, so that an edge one row off changes some window.
WINDOWS = [
    ("rows 0-9 (centre: top padding)", (0, 10), (3, 6)),
    ("row 10 (centre: first scene row)", (10, 11), (12, 15)),
    ("rows 43-52 (top-left: padding; centre: scene)", (43, 53), (24, 27)),
    ("row 42 (top-left: last scene row)", (42, 43), (34, 38)),
    ("row 52 (centre: last scene row)", (52, 53), (45, 48)),
    ("rows 53-63 (centre: bottom padding)", (53, 64), (56, 60)),
]
# Geometries the reference covers: input (width, height) x letterbox mode. On 128x64 the scene
# fits at scale 1, so centring pads 16 columns left and right instead of rows.
SIZES = [(64, 64), (128, 64)]
MODES = ["center", "top-left", "stretch"]


def probes():
    """One probe per (window, tensor channel): its index, box [x1, y1, x2, y2] and class (= channel).

    Boxes lie in x 17..63 so that they stay inside the scene on every input the test uses (on
    128x64 centred the scene starts at x 16); 2.5 px apart, 2 px wide, rows 29..35."""
    out = []
    for k in range(len(WINDOWS)):
        for c in range(3):
            j = 3 * k + c
            x1 = 18.0 + 2.5 * j
            out.append({"window": k, "channel": c, "box": [x1, 29.0, x1 + 2.0, 35.0]})
    return out


# ---------------------------------------------------------------------------------------------
# Reference geometry (OpenCV)


def scene():
    img = np.zeros((SCENE_H, SCENE_W, 3), np.uint8)
    for x in range(SCENE_W):
        img[:, x] = STRIPES[x // 16]
    return img


def letterboxed(img, iw, ih, mode):
    """The scene fitted into iw x ih as the documented contract says, and a mask of scene pixels."""
    h, w = img.shape[:2]
    canvas = np.zeros((ih, iw, 3), np.uint8)
    mask = np.zeros((ih, iw), bool)
    if mode == "stretch":
        nw, nh, ox, oy = iw, ih, 0, 0
    else:
        r = min(iw / w, ih / h)
        nw, nh = round(w * r), round(h * r)  # Python rounds half to even, as documented
        ox, oy = ((iw - nw) // 2, (ih - nh) // 2) if mode == "center" else (0, 0)
    resized = img if (nw, nh) == (w, h) else cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    canvas[oy : oy + nh, ox : ox + nw] = resized
    mask[oy : oy + nh, ox : ox + nw] = True
    return canvas, mask


def reference():
    """Per "WxH/mode": per window {"pad": true}, {"rgb": [r, g, b]}, or None when mixed."""
    img = scene()
    ref = {}
    for iw, ih in SIZES:
        for mode in MODES:
            canvas, mask = letterboxed(img, iw, ih, mode)
            cells = []
            for _name, (y0, y1), (x0, x1) in WINDOWS:
                m, px = mask[y0:y1, x0:x1], canvas[y0:y1, x0:x1].reshape(-1, 3)
                if not m.any():
                    cells.append({"pad": True})
                elif m.all() and (px == px[0]).all():
                    cells.append({"rgb": [int(v) for v in px[0]]})
                else:
                    cells.append(None)
            ref[f"{iw}x{ih}/{mode}"] = cells
    return ref


# ---------------------------------------------------------------------------------------------
# Graphs


def layout_of(family):
    """(raw output filled with the constant parts, [(flat index of each probe's score)], full scale)."""
    ps = probes()
    n = len(ps)
    if family == "yolov8":  # [1, 4 + C, N]: one column per probe
        raw = np.zeros((1, 4 + NUM_CLASSES, n), np.float32)
        at = []
        for j, p in enumerate(ps):
            x1, y1, x2, y2 = p["box"]
            raw[0, 0:4, j] = [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]
            at.append((4 + p["channel"]) * n + j)
        return raw, at, 1.0
    if family == "yolov5":  # [1, N, 5 + C]: one row per probe
        raw = np.zeros((1, n, 5 + NUM_CLASSES), np.float32)
        at = []
        for j, p in enumerate(ps):
            x1, y1, x2, y2 = p["box"]
            raw[0, j, 0:5] = [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1, 1.0]
            at.append(j * (5 + NUM_CLASSES) + 5 + p["channel"])
        return raw, at, 1.0
    # yolox: one row per grid cell (84 on 64x64); probe j in stride-8 cell j (row-major), the
    # other rows have objectness 0.
    rows = sum(((INPUT + s - 1) // s) ** 2 for s in STRIDES)
    raw = np.zeros((1, rows, 5 + NUM_CLASSES), np.float32)
    at, s, gw = [], 8, INPUT // 8
    for j, p in enumerate(ps):
        x1, y1, x2, y2 = p["box"]
        gx, gy = j % gw, j // gw
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        raw[0, j, 0:5] = [cx / s - gx, cy / s - gy, np.log((x2 - x1) / s), np.log((y2 - y1) / s), 1.0]
        at.append(j * (5 + NUM_CLASSES) + 5 + p["channel"])
    return raw, at, 255.0


def write_model(path, family, nhwc=False, dynamic=False):
    raw, at, full_scale = layout_of(family)
    n = len(at)
    # out = base + means @ M: M routes probe j's mean, times GAIN / full_scale, to its class score.
    base = raw.copy().reshape(-1)
    base[at] = OFFSET
    route = np.zeros((n, base.size), np.float32)
    route[np.arange(n), at] = GAIN / full_scale
    if nhwc:
        shape = [1, INPUT, INPUT, 3]
    elif dynamic:
        shape = [1, 3, "height", "width"]
    else:
        shape = [1, 3, INPUT, INPUT]
    images = helper.make_tensor_value_info("images", TensorProto.FLOAT, shape)
    output = helper.make_tensor_value_info("output", TensorProto.FLOAT, list(raw.shape))
    init = [
        numpy_helper.from_array(base.reshape(raw.shape), name="base"),
        numpy_helper.from_array(route, name="route"),
        numpy_helper.from_array(np.array([1, n], np.int64), name="means_shape"),
        numpy_helper.from_array(np.array(raw.shape, np.int64), name="out_shape"),
        numpy_helper.from_array(np.array([2, 3], np.int64), name="hw_axes"),
    ]
    nodes, x = [], "images"
    if nhwc:
        nodes.append(helper.make_node("Transpose", ["images"], ["nchw"], perm=[0, 3, 1, 2]))
        x = "nchw"
    means = []
    for k, (_name, (y0, y1), (x0, x1)) in enumerate(WINDOWS):
        init.append(numpy_helper.from_array(np.array([y0, x0], np.int64), name=f"w{k}_start"))
        init.append(numpy_helper.from_array(np.array([y1, x1], np.int64), name=f"w{k}_end"))
        nodes.append(helper.make_node("Slice", [x, f"w{k}_start", f"w{k}_end", "hw_axes"], [f"w{k}"]))
        # [1, 3, h, w] -> [1, 3]: the mean of each channel over the window.
        nodes.append(helper.make_node("ReduceMean", [f"w{k}"], [f"m{k}"], axes=[2, 3], keepdims=0))
        means.append(f"m{k}")
    nodes += [
        helper.make_node("Concat", means, ["means3"], axis=1),  # [1, 18]: index 3k + c
        helper.make_node("Reshape", ["means3", "means_shape"], ["means"]),
        helper.make_node("MatMul", ["means", "route"], ["routed"]),
        helper.make_node("Reshape", ["routed", "out_shape"], ["scores"]),
        helper.make_node("Add", ["base", "scores"], ["output"]),
    ]
    graph = helper.make_graph(nodes, "edgesight_probe_" + os.path.basename(path), [images], [output], init)
    model = helper.make_model(
        graph,
        producer_name="edgesight/scripts/make_probe_models.py",
        opset_imports=[helper.make_opsetid("", OPSET)],
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)
    return full_scale


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="output directory (created if missing)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    def out(name):
        return os.path.join(args.out, name)

    # cv2 writes BGR: the file holds the stripes as RGB.
    if not cv2.imwrite(out("stripes.png"), scene()[:, :, ::-1]):
        sys.exit("make_probe_models.py: cv2.imwrite failed")
    models = {}
    for name, family, kw in [
        ("yolov5_probe", "yolov5", {}),
        ("yolov8_probe", "yolov8", {}),
        ("yolox_probe", "yolox", {}),
        ("yolov5_probe_nhwc", "yolov5", {"nhwc": True}),
        ("yolov5_probe_dyn", "yolov5", {"dynamic": True}),
    ]:
        models[name] = {"family": family, "full_scale": write_model(out(f"{name}.onnx"), family, **kw)}
    doc = {
        "scene": {"file": "stripes.png", "width": SCENE_W, "height": SCENE_H, "stripes": STRIPES},
        "encoding": {"offset": OFFSET, "gain": GAIN},
        "models": models,
        "windows": [{"name": n, "rows": list(r), "cols": list(c)} for n, r, c in WINDOWS],
        "probes": probes(),
        "reference": reference(),
    }
    with open(out("probes.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"make_probe_models.py: wrote {', '.join(models)}, stripes.png and probes.json to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
