#!/usr/bin/env python3
"""Static INT8 quantisation (QDQ) of an ONNX detector with ONNX Runtime's quantiser, calibrated on
frames preprocessed exactly as edgesight feeds the model (models/MODELS.md, scripts/references.py).

  quantize_int8.py            # models/nanodet_g_416_coco.onnx -> models/nanodet_g_416_coco_int8.onnx
  quantize_int8.py --model IN.onnx --out OUT.onnx --frames DIR_OR_CLIP [--frames ...] \\
      --size 416x416 --mean 103.53,116.28,123.675 --std 57.375,57.12,58.395 [--rgb] \\
      [--exclude-op-types Pad,MaxPool] [--every 25] [--offset 12]

Format: QDQ (QuantizeLinear/DequantizeLinear pairs around float ops; ONNX Runtime fuses them into
integer kernels), activations uint8 asymmetric, weights int8 symmetric per output channel, MinMax
calibration. Per-channel weights: NanoDet's depthwise convolutions have channels of very different
ranges, and a per-tensor scale loses the small ones (see docs/specs/model_interface.md).

NanoDet-g pads with -inf before its MaxPool (`Pad(-inf)`): calibrating that tensor gives an infinite
range and a NaN scale, so Pad and MaxPool stay float (--exclude-op-types, default Pad,MaxPool).

Deterministic: the calibration set is a fixed list (every --every-th frame of each clip starting at
--offset, then the images of each folder in name order); the default set is the bundled clip
(frames 12, 37, ... — not the frames tests/int8.rs checks, 0, 25, ...) and tests/data/images.
The result depends on the onnx and onnxruntime versions (printed; recorded in models/MODELS.md)."""
import argparse
import os
import sys

import cv2
import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE_EXT = (".png", ".jpg", ".jpeg", ".bmp")
# Versions the committed models/nanodet_g_416_coco_int8.onnx was made with (models/MODELS.md).
MADE_WITH = {"onnxruntime": "1.32.0", "onnx": "1.23.2", "opencv": "4.12.0", "numpy": "2.2.6"}



def floats(text):
    return np.array([float(v) for v in text.split(",")], dtype=np.float32)


def size(text):
    w, h = text.lower().split("x")
    return int(w), int(h)


def letterbox(bgr, w, h, mean, std, rgb):
    """edgesight's default preprocessing (MODELS.md): scale r = min(w/iw, h/ih), size
    round-half-even, bilinear, image at the top-left, (px − mean)/std, the rest 0; NCHW float32."""
    ih, iw = bgr.shape[:2]
    r = min(w / iw, h / ih)
    nw, nh = min(round(iw * r), w), min(round(ih * r), h)
    img = cv2.resize(bgr, (nw, nh), interpolation=cv2.INTER_LINEAR)
    if rgb:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    canvas = np.zeros((h, w, 3), dtype=np.float32)
    canvas[:nh, :nw] = (img.astype(np.float32) - mean) / std
    return canvas.transpose(2, 0, 1)[None].copy()


def frames(sources, every, offset):
    """The calibration frames (BGR), in a fixed order: clips first frame by frame, then images."""
    for src in sources:
        if os.path.isdir(src):
            for name in sorted(os.listdir(src)):
                if name.lower().endswith(IMAGE_EXT):
                    img = cv2.imread(os.path.join(src, name), cv2.IMREAD_COLOR)
                    if img is None:
                        sys.exit(f"quantize_int8.py: cannot read image {src}/{name}")
                    yield f"{src}/{name}", img
            continue
        cap = cv2.VideoCapture(src)
        n, got = 0, 0
        while True:
            ok, img = cap.read()
            if not ok:
                break
            if n >= offset and (n - offset) % every == 0:
                got += 1
                yield f"{src}#{n}", img
            n += 1
        if not got:
            sys.exit(f"quantize_int8.py: no frame decoded from {src} (not a clip OpenCV can read, or "
                     f"--offset {offset} past its end)")


class Reader(CalibrationDataReader):
    def __init__(self, input_name, tensors):
        self.items = iter([{input_name: t} for t in tensors])

    def get_next(self):
        return next(self.items, None)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=os.path.join(ROOT, "models", "nanodet_g_416_coco.onnx"))
    p.add_argument("--out", default=os.path.join(ROOT, "models", "nanodet_g_416_coco_int8.onnx"))
    p.add_argument("--frames", action="append",
                   help="a clip (every --every-th frame) or a folder of images; repeatable "
                        "(default: media/vtest_h264.mp4 and tests/data/images)")
    p.add_argument("--size", type=size, default=(416, 416), help="model input WxH (default 416x416)")
    p.add_argument("--mean", type=floats, default=floats("103.53,116.28,123.675"),
                   help="per channel, in the model's channel order (default NanoDet's, BGR)")
    p.add_argument("--std", type=floats, default=floats("57.375,57.12,58.395"))
    p.add_argument("--rgb", action="store_true", help="the model takes RGB (default BGR, like NanoDet)")
    p.add_argument("--every", type=int, default=25, help="take every Nth frame of a clip (default 25)")
    p.add_argument("--offset", type=int, default=12, help="first frame taken from a clip (default 12)")
    p.add_argument("--exclude-op-types", default="Pad,MaxPool",
                   help="node types kept in float (default Pad,MaxPool: NanoDet's Pad(-inf))")
    p.add_argument("--exclude-nodes", default="",
                   help="node names kept in float, comma-separated (e.g. the detection head's last convolutions)")
    p.add_argument("--per-tensor", action="store_true", help="one weight scale per tensor, not per channel")
    a = p.parse_args()
    sources = a.frames or [os.path.join(ROOT, "media", "vtest_h264.mp4"), os.path.join(ROOT, "tests", "data", "images")]
    if a.every < 1 or a.offset < 0:
        sys.exit("quantize_int8.py: --every must be at least 1 and --offset at least 0")
    have = {"onnxruntime": ort.__version__, "onnx": onnx.__version__, "opencv": cv2.__version__,
            "numpy": np.__version__}
    print("versions: " + ", ".join(f"{k} {v}" for k, v in have.items()), file=sys.stderr)
    other = [f"{k} {have[k]} (made with {v})" for k, v in MADE_WITH.items() if not have[k].startswith(v)]
    if other:
        print(f"quantize_int8.py: warning: {', '.join(other)}: the output will differ from the committed "
              "model's checksum", file=sys.stderr)

    model = onnx.load(a.model)
    exclude_types = {t for t in a.exclude_op_types.split(",") if t}
    exclude = [n.name for n in model.graph.node if n.op_type in exclude_types]
    names = {n.name for n in model.graph.node}
    for name in (n for n in a.exclude_nodes.split(",") if n):
        if name not in names:
            sys.exit(f"quantize_int8.py: --exclude-nodes: no node named {name!r} in {a.model}")
        exclude.append(name)
    input_name = model.graph.input[0].name
    w, h = a.size
    tensors, names = [], []
    for name, img in frames(sources, a.every, a.offset):
        tensors.append(letterbox(img, w, h, a.mean, a.std, a.rgb))
        names.append(name)
    print(f"calibration: {len(tensors)} frames ({names[0]} ... {names[-1]}); float nodes: {exclude}",
          file=sys.stderr)

    # Shape inference and graph clean-up first, as ONNX Runtime's quantiser recommends.
    pre = a.out + ".pre.onnx"
    try:
        quant_pre_process(a.model, pre, skip_symbolic_shape=True)
        # The range of Pad's -inf output is calibrated too (then unused, Pad stays float) and NumPy
        # warns about its NaN zero point; the scales actually used are checked below.
        with np.errstate(invalid="ignore", divide="ignore"):
            quantize_static(
                pre, a.out, Reader(input_name, tensors),
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                per_channel=not a.per_tensor,
                calibrate_method=CalibrationMethod.MinMax,
                nodes_to_exclude=exclude,
            )
    finally:
        if os.path.exists(pre):
            os.remove(pre)
    # A NaN, infinite or zero scale means a node that makes infinite values (NanoDet's Pad(-inf))
    # was quantised: it must be excluded. (The -inf pad constant itself stays, in float.)
    out = onnx.load(a.out)
    init = {i.name: onnx.numpy_helper.to_array(i) for i in out.graph.initializer}
    bad = [n.name for n in out.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")
           and n.input[1] in init and not np.all(np.isfinite(init[n.input[1]]) & (init[n.input[1]] > 0))]
    if bad:
        os.remove(a.out)
        sys.exit(f"quantize_int8.py: NaN, infinite or zero scales in {bad[:5]}: keep the node types that "
                 "produce infinite values in float (--exclude-op-types)")
    print(f"wrote {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
