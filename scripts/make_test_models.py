#!/usr/bin/env python3
"""Writes tiny YOLOv5 / YOLOv8 / YOLOX ONNX graphs with known raw outputs, for tests/yolo_families.rs.

    scripts/make_test_models.py --out DIR

For each family F in yolov5, yolov8, yolox it writes:
  DIR/F.onnx  input `images` f32 [1,3,64,64]; one output `output` whose value is a constant tensor
              (plus 0 * ReduceMean(images), so that no runtime prunes the input or folds the graph);
  DIR/F.json  the raw output tensor (shape, flat row-major values as exact f32), the input size,
              the number of classes and, per hand-placed row, the situation it sets up (doc only:
              the test derives its expectations from the values alone).
and DIR/scene.png, a 96x64 RGB image, so that the centred letterbox of yolov5/yolov8 is exercised
(r = 64/96, resized 64x43, offset (0, 10)) and yolox's top-left one (offset (0, 0)).

The values are hand-placed objects (NMS within a class, overlap across classes, scores just below
and just above the default 0.35 threshold, boxes past the frame edges, ties between classes,
low objectness with a high class score) among seeded random background rows that score below
0.30. Every decision (threshold, IoU 0.6) is at least 0.005 away from its boundary, so f32 vs f64
arithmetic cannot flip it.

These models ignore their input; scripts/make_probe_models.py writes the ones that check what
preprocessing hands a model (tests/yolo_input.rs).

Needs only numpy and onnx (`make test-deps` installs them into .cache/venv).
"""

import argparse
import json
import math
import os
import struct
import sys
import zlib

try:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError as e:  # reported by the Rust test verbatim
    sys.exit(f"make_test_models.py: {sys.executable} cannot import {e.name or e} ({e}); run `make test-deps`")

INPUT_W = INPUT_H = 64
NUM_CLASSES = 3
SEED = 20240611
OPSET = 13
IR_VERSION = 8


# ---------------------------------------------------------------------------------------------
# Graph


def write_model(path, raw):
    """A graph computing `raw + 0 * ReduceMean(images)`: output shape = raw.shape, values = raw."""
    raw = np.ascontiguousarray(raw, dtype=np.float32)
    images = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, INPUT_H, INPUT_W])
    output = helper.make_tensor_value_info("output", TensorProto.FLOAT, list(raw.shape))
    init = [
        numpy_helper.from_array(raw, name="raw"),
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), name="zero"),
    ]
    nodes = [
        # [1,3,H,W] -> [1]; broadcasting [1] against [1,N,K] keeps the output rank 3.
        helper.make_node("ReduceMean", ["images"], ["mean"], axes=[1, 2, 3], keepdims=0, name="mean"),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"], name="times_zero"),
        helper.make_node("Add", ["raw", "nothing"], ["output"], name="add"),
    ]
    graph = helper.make_graph(nodes, "edgesight_test_" + os.path.basename(path), [images], [output], init)
    model = helper.make_model(
        graph,
        producer_name="edgesight/scripts/make_test_models.py",
        opset_imports=[helper.make_opsetid("", OPSET)],
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)


def write_json(path, family, raw, roles):
    raw = np.ascontiguousarray(raw, dtype=np.float32)
    doc = {
        "family": family,
        "input": {"width": INPUT_W, "height": INPUT_H},
        "num_classes": NUM_CLASSES,
        "output": {
            "name": "output",
            "shape": list(raw.shape),
            # float(np.float32) is the exact f32 value as a double: parses back to the same f32.
            "data": [float(v) for v in raw.reshape(-1)],
        },
        "roles": roles,
    }
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


# ---------------------------------------------------------------------------------------------
# Raw outputs


def background(rng, n, max_score):
    """n rows (cx, cy, w, h, obj, c0..cC-1) in input pixels that score at most `max_score`."""
    rows = []
    for _ in range(n):
        cx, cy = rng.uniform(0, INPUT_W), rng.uniform(0, INPUT_H)
        w, h = rng.uniform(4, 24), rng.uniform(4, 24)
        obj = rng.uniform(0.0, max_score)
        cls = rng.uniform(0.0, 1.0, NUM_CLASSES)
        rows.append([cx, cy, w, h, obj, *cls])
    return rows


# Hand-placed objects shared by the YOLOv5-style layouts: (role, cx, cy, w, h, obj, c0, c1, c2), in
# model-input pixels (64x64; the scene occupies y 10..53 after the centred letterbox).
YOLOV5_OBJECTS = [
    ("A: best box of class 0", 20, 25, 16, 14, 0.95, 0.90, 0.05, 0.02),  # 0.855
    ("B: class 0 over A (IoU 0.77), suppressed by NMS", 21, 26, 16, 14, 0.90, 0.85, 0.10, 0.05),  # 0.765
    ("C: class 1 over A (IoU 0.78), survives", 22, 25, 16, 14, 0.90, 0.10, 0.80, 0.10),  # 0.72
    ("D: class 0 beside A (IoU 0.28), survives", 29, 25, 16, 14, 0.80, 0.75, 0.10, 0.10),  # 0.60
    ("E: just above the threshold", 46, 36, 10, 10, 0.50, 0.10, 0.05, 0.71),  # 0.355
    ("F: just below the threshold", 10, 44, 8, 8, 0.50, 0.05, 0.10, 0.69),  # 0.345
    ("G: past the right and bottom edges (clipped)", 58, 50, 20, 12, 0.80, 0.05, 0.81, 0.10),  # 0.648
    ("H: class score 0.99, objectness 0.30: rejected", 40, 20, 10, 10, 0.30, 0.02, 0.99, 0.01),  # 0.297
    ("H2: objectness 0.40 and class 0.80 both pass, product 0.32 does not", 36, 46, 10, 8, 0.40, 0.80, 0.05, 0.05),
    ("T: tie between classes 0 and 1: class 0", 50, 20, 8, 10, 0.90, 0.70, 0.70, 0.10),  # 0.63
    ("K: in the top padding and past the left edge (clipped)", 3, 12, 10, 10, 0.85, 0.20, 0.10, 0.80),  # 0.68
    ("I1: class 2", 30, 40, 10, 10, 0.90, 0.10, 0.05, 0.60),  # 0.54
    ("I2: class 2, IoU 0.55 with I1: survives", 32.9, 40, 10, 10, 0.625, 0.10, 0.05, 0.80),  # 0.50
    ("I3: class 2, IoU 0.61 with I1: suppressed", 27.6, 40, 10, 10, 0.575, 0.10, 0.05, 0.80),  # 0.46
]


def yolov5(rng):
    """[1, N, 5 + C]: cx, cy, w, h, objectness, class scores."""
    rows = [list(o[1:]) for o in YOLOV5_OBJECTS]
    roles = [o[0] for o in YOLOV5_OBJECTS]
    bg = background(rng, 10, 0.30)
    rows += bg
    roles += ["background"] * len(bg)
    order = rng.permutation(len(rows))
    raw = np.array([rows[i] for i in order], dtype=np.float32)[None]
    return raw, {str(k): roles[i] for k, i in enumerate(order) if roles[i] != "background"}


# (role, cx, cy, w, h, c0, c1, c2): no objectness.
YOLOV8_OBJECTS = [
    ("A: best box of class 0", 20, 25, 16, 14, 0.88, 0.05, 0.02),
    ("B: class 0 over A (IoU 0.77), suppressed by NMS", 21, 26, 16, 14, 0.80, 0.10, 0.05),
    ("C: class 1 over A (IoU 0.78), survives", 22, 25, 16, 14, 0.10, 0.77, 0.10),
    ("D: class 0 beside A (IoU 0.28), survives", 29, 25, 16, 14, 0.62, 0.10, 0.10),
    ("E: just above the threshold", 46, 36, 10, 10, 0.10, 0.05, 0.356),
    ("F: just below the threshold", 10, 44, 8, 8, 0.05, 0.10, 0.344),
    ("G: past the right and bottom edges (clipped)", 58, 50, 20, 12, 0.05, 0.66, 0.10),
    ("T: tie between classes 0 and 1: class 0", 50, 20, 8, 10, 0.58, 0.58, 0.10),
    ("K: in the top padding and past the left edge (clipped)", 3, 12, 10, 10, 0.20, 0.10, 0.70),
    ("I1: class 2", 30, 40, 10, 10, 0.02, 0.03, 0.55),
    ("I2: class 2, IoU 0.55 with I1: survives", 32.9, 40, 10, 10, 0.02, 0.03, 0.51),
    ("I3: class 2, IoU 0.61 with I1: suppressed", 27.6, 40, 10, 10, 0.02, 0.03, 0.47),
    ("L: class 1 reaching into the bottom padding (clipped to the frame bottom)", 40, 52, 12, 8, 0.05, 0.45, 0.05),
]


def yolov8(rng):
    """[1, 4 + C, N] (transposed): cx, cy, w, h, class scores per column."""
    cols = [list(o[1:]) for o in YOLOV8_OBJECTS]
    roles = [o[0] for o in YOLOV8_OBJECTS]
    bg = [[cx, cy, w, h, *(np.array(cls) * 0.30)] for cx, cy, w, h, _obj, *cls in background(rng, 10, 0.30)]
    cols += bg
    roles += ["background"] * len(bg)
    order = rng.permutation(len(cols))
    raw = np.array([cols[i] for i in order], dtype=np.float32).T[None]
    return np.ascontiguousarray(raw), {str(k): roles[i] for k, i in enumerate(order) if roles[i] != "background"}


STRIDES = (8, 16, 32)


def yolox_levels():
    """(stride, grid_w, grid_h, first row) per level, as YOLOX orders its rows."""
    levels, first = [], 0
    for s in STRIDES:
        gw, gh = math.ceil(INPUT_W / s), math.ceil(INPUT_H / s)
        levels.append((s, gw, gh, first))
        first += gw * gh
    return levels, first


# (role, stride, gx, gy, cx, cy, w, h, obj, c0, c1, c2) with the box in model-input pixels; the
# raw offsets are derived from it: o0 = cx/s - gx, o1 = cy/s - gy, o2 = ln(w/s), o3 = ln(h/s).
# Top-left letterbox: the scene occupies y 0..43 of the input.
YOLOX_OBJECTS = [
    ("A: best box of class 0", 8, 2, 3, 20, 26, 16, 13.2, 0.95, 0.90, 0.05, 0.02),  # 0.855
    ("B: class 0 over A from stride 16, suppressed by NMS", 16, 1, 1, 20.8, 25.6, 16, 13.1, 0.90, 0.85, 0.10, 0.05),
    ("C: class 1 over A, survives", 8, 3, 3, 22, 25.6, 16.1, 12.5, 0.90, 0.10, 0.80, 0.10),  # 0.72
    ("D: class 0 beside A, survives", 8, 4, 3, 28.8, 24.8, 14.6, 13.2, 0.80, 0.75, 0.10, 0.10),  # 0.60
    ("E: just above the threshold", 16, 2, 2, 46.4, 36.8, 10.7, 9.7, 0.50, 0.10, 0.05, 0.71),  # 0.355
    ("F: just below the threshold", 8, 1, 5, 10.4, 44.8, 8, 8, 0.50, 0.05, 0.10, 0.69),  # 0.345
    ("G: past the right and bottom edges (clipped), stride 32", 32, 1, 1, 57.6, 48, 39, 17.5, 0.80, 0.05, 0.81, 0.10),
    ("H: class score 0.99, objectness 0.30: rejected", 8, 5, 2, 44, 20, 9.8, 9.8, 0.30, 0.02, 0.99, 0.01),
    ("H2: objectness 0.40 and class 0.80 both pass, product 0.32 does not", 8, 4, 6, 36, 52, 10, 8, 0.40, 0.80, 0.05, 0.05),
    ("T: tie between classes 0 and 1: class 0", 8, 6, 2, 50, 20, 8, 9.8, 0.90, 0.70, 0.70, 0.10),  # 0.63
    ("K: past the left and top edges (clipped)", 8, 0, 0, 2.4, 3.2, 11.9, 10.8, 0.85, 0.20, 0.10, 0.80),  # 0.68
    ("I1: class 2", 8, 3, 5, 30, 40, 10, 10, 0.90, 0.10, 0.05, 0.60),  # 0.54
    ("I2: class 2, IoU 0.55 with I1: survives", 8, 4, 5, 32.9, 40, 10, 10, 0.625, 0.10, 0.05, 0.80),  # 0.50
    ("I3: class 2 from stride 16, IoU 0.61 with I1: suppressed", 16, 1, 2, 27.6, 40, 10, 10, 0.575, 0.10, 0.05, 0.80),
]


def yolox(rng):
    """[1, N, 5 + C] of raw grid offsets, N = sum over strides of ceil(W/s) * ceil(H/s)."""
    levels, n = yolox_levels()
    first = {s: (gw, row0) for s, gw, _gh, row0 in levels}
    raw = np.zeros((n, 5 + NUM_CLASSES), dtype=np.float64)
    for i in range(n):
        raw[i, 0:2] = rng.uniform(0.0, 1.0, 2)
        raw[i, 2:4] = rng.uniform(-1.0, 1.0, 2)
        raw[i, 4] = rng.uniform(0.0, 0.30)
        raw[i, 5:] = rng.uniform(0.0, 1.0, NUM_CLASSES)
    roles = {}
    for role, s, gx, gy, cx, cy, w, h, obj, *cls in YOLOX_OBJECTS:
        gw, row0 = first[s]
        row = row0 + gy * gw + gx
        assert str(row) not in roles, f"two objects in row {row}"
        raw[row] = [cx / s - gx, cy / s - gy, math.log(w / s), math.log(h / s), obj, *cls]
        roles[str(row)] = role
    return raw.astype(np.float32)[None], roles


# ---------------------------------------------------------------------------------------------
# Scene image


def write_png(path, width, height):
    """An 8-bit RGB PNG (a colour gradient) written without PIL."""
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter: none
        for x in range(width):
            rows += bytes(((x * 255) // (width - 1), (y * 255) // (height - 1), ((x + y) * 7) & 0xFF))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n"
    png += chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(bytes(rows), 9))
    png += chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="output directory (created if missing)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(SEED)
    for family, make in (("yolov5", yolov5), ("yolov8", yolov8), ("yolox", yolox)):
        raw, roles = make(rng)
        write_model(os.path.join(args.out, f"{family}.onnx"), raw)
        write_json(os.path.join(args.out, f"{family}.json"), family, raw, roles)
    write_png(os.path.join(args.out, "scene.png"), 96, 64)
    print(f"make_test_models.py: wrote yolov5, yolov8, yolox models and scene.png to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
