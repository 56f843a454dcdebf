#!/usr/bin/env python3
"""OpenCV's answer for the conformance suite (tests/conformance.rs): packed frames (BGR, RGB,
and the four-byte BGRx/BGRA/RGBx/RGBA) converted with cv2.cvtColor, letterboxed with cv2.resize
(INTER_LINEAR) and normalised with NumPy in float32, as a Python/OpenCV pipeline does.

Usage: opencv_reference.py DIR. DIR holds cases.json (written by the test) and case_N.frame;
this writes case_N.tensor (little-endian float32, float16 or uint8) for each case."""
import json
import os
import sys

import cv2
import numpy as np

CONVERSIONS = {
    "bgr": None,
    "rgb": cv2.COLOR_RGB2BGR,
    "bgrx": cv2.COLOR_BGRA2BGR,
    "bgra": cv2.COLOR_BGRA2BGR,
    "rgbx": cv2.COLOR_RGBA2BGR,
    "rgba": cv2.COLOR_RGBA2BGR,
}


def tensor(case, raw):
    w, h, stride, fmt = case["width"], case["height"], case["stride"], case["format"]
    bpp = 3 if fmt in ("bgr", "rgb") else 4
    rows = np.frombuffer(raw, dtype=np.uint8)[: stride * h].reshape(h, stride)[:, : w * bpp]
    img = np.ascontiguousarray(rows.reshape(h, w, bpp))
    conv = CONVERSIONS[fmt]
    bgr = img if conv is None else cv2.cvtColor(img, conv)
    dw, dh = case["input_width"], case["input_height"]
    mode = case["letterbox"]
    if mode == "stretch":
        nw, nh, ox, oy = dw, dh, 0, 0
    else:
        r = min(dw / w, dh / h)
        nw, nh = min(max(round(w * r), 1), dw), min(max(round(h * r), 1), dh)
        ox, oy = ((dw - nw) // 2, (dh - nh) // 2) if mode == "center" else (0, 0)
    resized = cv2.resize(bgr, (nw, nh), interpolation=cv2.INTER_LINEAR)
    if case["channel_order"] == "rgb":
        resized = resized[:, :, ::-1]
    mean = np.array(case["mean"], dtype=np.float32)
    std = np.array(case["std"], dtype=np.float32)
    if case["pad_pixel"] is not None:
        canvas = np.full((dh, dw, 3), case["pad_pixel"], dtype=np.float32)
        canvas[oy : oy + nh, ox : ox + nw] = resized
        out = (canvas - mean) / std
    else:
        out = np.full((dh, dw, 3), case["pad_value"], dtype=np.float32)
        out[oy : oy + nh, ox : ox + nw] = (resized.astype(np.float32) - mean) / std
    if case["layout"] == "nchw":
        out = out.transpose(2, 0, 1)
    out = np.ascontiguousarray(out)
    if case["dtype"] == "u8":
        return np.clip(np.rint(out), 0, 255).astype(np.uint8).tobytes()
    if case["dtype"] == "f16":
        # NumPy's float32 -> float16 cast rounds to nearest, ties to even (IEEE 754).
        return out.astype("<f2").tobytes()
    return out.astype("<f4").tobytes()


def main():
    folder = sys.argv[1]
    with open(os.path.join(folder, "cases.json")) as f:
        cases = json.load(f)
    for i, case in enumerate(cases):
        with open(os.path.join(folder, f"case_{i}.frame"), "rb") as f:
            raw = f.read()
        with open(os.path.join(folder, f"case_{i}.tensor"), "wb") as f:
            f.write(tensor(case, raw))
    print(f"opencv {cv2.__version__}: {len(cases)} cases", file=sys.stderr)


if __name__ == "__main__":
    main()
