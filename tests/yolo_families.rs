//! YOLOv5, YOLOv8 and YOLOX end to end: `scripts/make_test_models.py` writes tiny ONNX graphs
//! whose single output is a known raw tensor; this test decodes that tensor itself (formulas of
//! docs/specs/model_interface.md, written here again rather than calling the crate), runs NMS,
//! maps the boxes back through the letterbox and clips them, then compares with what
//! `edgesight detect` prints for the same model on a 96x64 image. These models ignore their
//! input, so nothing here checks preprocessing: tests/yolo_input.rs does, with models whose
//! detections report what reached them.
//!
//! Needs Python with `onnx` and `numpy`: `EDGESIGHT_PYTHON`, else `.cache/venv/bin/python3`
//! (`make test-deps` creates it), else `python3`. Without them the tests fail; they never skip.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// Defaults of `edgesight detect` without a config.
const THRESHOLD: f64 = 0.35;
const NMS_IOU: f64 = 0.6;
const MAX_DETECTIONS: usize = 100;
const STRIDES: [usize; 3] = [8, 16, 32];
/// Size of the generated scene.png.
const SCENE_W: u32 = 96;
const SCENE_H: u32 = 64;
/// Printed scores have 4 decimals, boxes 1: half a unit of rounding plus float noise.
const SCORE_TOL: f64 = 1e-4;
const BOX_TOL: f64 = 0.06;
/// No fixture decision (threshold, NMS IoU, order) may be closer than this to its boundary.
const MARGIN: f64 = 1e-3;

// ------------------------------------------------------------------------------------------------
// Generating the models

/// A fresh directory holding the generated models, scene.png and raw tensors.
struct Fixtures {
    dir: tempfile::TempDir,
}

impl Fixtures {
    fn generate() -> Fixtures {
        let dir = tempfile::Builder::new().prefix("edgesight-yolo-").tempdir().expect("a temporary directory");
        common::generate_models("make_test_models.py", dir.path());
        let f = Fixtures { dir };
        for name in
            ["yolov5.onnx", "yolov5.json", "yolov8.onnx", "yolov8.json", "yolox.onnx", "yolox.json", "scene.png"]
        {
            assert!(f.path(name).is_file(), "scripts/make_test_models.py did not write {name}");
        }
        f
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn raw(&self, family: &str) -> Raw {
        Raw::load(&self.path(&format!("{family}.json")))
    }

    fn model(&self, family: &str) -> String {
        self.path(&format!("{family}.onnx")).to_str().expect("utf-8 path").to_string()
    }

    fn scene(&self) -> String {
        self.path("scene.png").to_str().expect("utf-8 path").to_string()
    }
}

/// The raw output tensor a generated model returns, as the generator wrote it.
struct Raw {
    shape: Vec<usize>,
    data: Vec<f32>,
    input_w: usize,
    input_h: usize,
    num_classes: usize,
}

impl Raw {
    fn load(path: &Path) -> Raw {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let usize_of = |v: &Value| v.as_u64().expect("a non-negative integer") as usize;
        let shape: Vec<usize> = v["output"]["shape"].as_array().expect("output.shape").iter().map(usize_of).collect();
        // The JSON holds each f32 exactly, as a double: `as f32` gives back the model's value.
        let data: Vec<f32> =
            v["output"]["data"].as_array().expect("output.data").iter().map(|x| x.as_f64().unwrap() as f32).collect();
        assert_eq!(shape.len(), 3, "{}: rank-3 output expected", path.display());
        assert_eq!(shape.iter().product::<usize>(), data.len(), "{}: shape and data disagree", path.display());
        Raw {
            shape,
            data,
            input_w: usize_of(&v["input"]["width"]),
            input_h: usize_of(&v["input"]["height"]),
            num_classes: usize_of(&v["num_classes"]),
        }
    }

    /// `[1,a,b]` as edgesight prints shapes.
    fn shape_text(&self) -> String {
        format!("[{}]", self.shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(","))
    }

    fn at(&self, i: usize, j: usize) -> f64 {
        self.data[i * self.shape[2] + j] as f64
    }
}

// ------------------------------------------------------------------------------------------------
// Independent reference decode

/// One decoded candidate, box `[x1, y1, x2, y2]` in model-input pixels.
#[derive(Debug, Clone)]
struct Cand {
    class_id: u64,
    score: f64,
    bbox: [f64; 4],
    /// Best class score (before objectness) and whether another class ties with it.
    class_score: f64,
    tied: bool,
}

fn best(scores: &[f64]) -> (u64, f64, bool) {
    let mut best = (0usize, f64::NEG_INFINITY);
    for (k, &s) in scores.iter().enumerate() {
        if s > best.1 {
            best = (k, s);
        }
    }
    let tied = scores.iter().enumerate().any(|(k, &s)| k != best.0 && s == best.1);
    (best.0 as u64, best.1, tied)
}

fn corners(cx: f64, cy: f64, w: f64, h: f64) -> [f64; 4] {
    [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0]
}

/// YOLOv5: `[1, N, 5 + C]` rows of cx, cy, w, h, objectness, class scores.
fn decode_yolov5(raw: &Raw) -> Vec<Cand> {
    let (n, width) = (raw.shape[1], raw.shape[2]);
    (0..n)
        .map(|i| {
            let row: Vec<f64> = (0..width).map(|j| raw.at(i, j)).collect();
            let (class_id, cls, tied) = best(&row[5..]);
            Cand {
                class_id,
                score: row[4] * cls,
                bbox: corners(row[0], row[1], row[2], row[3]),
                class_score: cls,
                tied,
            }
        })
        .collect()
}

/// YOLOv8: `[1, 4 + C, N]`, one anchor per column: cx, cy, w, h, class scores.
fn decode_yolov8(raw: &Raw) -> Vec<Cand> {
    let (ch, n) = (raw.shape[1], raw.shape[2]);
    (0..n)
        .map(|i| {
            let col: Vec<f64> = (0..ch).map(|c| raw.at(c, i)).collect();
            let (class_id, cls, tied) = best(&col[4..]);
            Cand { class_id, score: cls, bbox: corners(col[0], col[1], col[2], col[3]), class_score: cls, tied }
        })
        .collect()
}

/// YOLOX: `[1, N, 5 + C]` raw offsets, rows stride by stride, cells row-major:
/// x = (o0 + gx)·s, y = (o1 + gy)·s, w = exp(o2)·s, h = exp(o3)·s; score = objectness × class.
fn decode_yolox(raw: &Raw) -> Vec<Cand> {
    let mut cells = Vec::new(); // (stride, gx, gy) of each row
    for s in STRIDES {
        let (gw, gh) = (raw.input_w.div_ceil(s), raw.input_h.div_ceil(s));
        for cell in 0..gw * gh {
            cells.push((s as f64, (cell % gw) as f64, (cell / gw) as f64));
        }
    }
    let (n, width) = (raw.shape[1], raw.shape[2]);
    assert!(n <= cells.len(), "{n} rows, the strides give only {} cells", cells.len());
    (0..n)
        .map(|i| {
            let row: Vec<f64> = (0..width).map(|j| raw.at(i, j)).collect();
            let (s, gx, gy) = cells[i];
            let (cx, cy) = ((row[0] + gx) * s, (row[1] + gy) * s);
            let (w, h) = (row[2].exp() * s, row[3].exp() * s);
            let (class_id, cls, tied) = best(&row[5..]);
            Cand { class_id, score: row[4] * cls, bbox: corners(cx, cy, w, h), class_score: cls, tied }
        })
        .collect()
}

fn iou(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let area = |r: &[f64; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Letterbox {
    Center,
    TopLeft,
}

/// Where a `src_w x src_h` image lands in the model input: (scale r, offset x, offset y).
fn placement(src_w: u32, src_h: u32, input_w: usize, input_h: usize, mode: Letterbox) -> (f64, f64, f64) {
    let r = (input_w as f64 / src_w as f64).min(input_h as f64 / src_h as f64);
    let new_w = (src_w as f64 * r).round_ties_even() as usize;
    let new_h = (src_h as f64 * r).round_ties_even() as usize;
    match mode {
        Letterbox::Center => (r, ((input_w - new_w) / 2) as f64, ((input_h - new_h) / 2) as f64),
        Letterbox::TopLeft => (r, 0.0, 0.0),
    }
}

/// A detection as edgesight should print it (unrounded), and how the fixture got there.
#[derive(Debug, Clone)]
struct Expected {
    class_id: u64,
    score: f64,
    bbox: [f64; 4],
}

/// What the fixture exercises, for the coverage checks.
#[derive(Debug, Default)]
struct Coverage {
    above_threshold: usize,
    suppressed: usize,
    cross_class_overlaps: usize,
    just_below: usize,
    just_above: usize,
    clipped: usize,
    classes: std::collections::BTreeSet<u64>,
    high_class_low_product: usize,
    tied_survivors: usize,
}

/// Threshold, per-class greedy NMS, cap, then letterbox inverse and clipping.
fn expected(cands: &[Cand], threshold: f64, placement: (f64, f64, f64)) -> (Vec<Expected>, Coverage) {
    let mut cov = Coverage::default();
    for c in cands {
        assert!(
            (c.score - threshold).abs() > MARGIN,
            "fixture: score {} is too close to the threshold {threshold} for an exact comparison",
            c.score
        );
        if c.score <= threshold && c.score > threshold - 0.02 {
            cov.just_below += 1;
        }
        if c.score <= threshold && c.class_score > threshold {
            cov.high_class_low_product += 1;
        }
    }
    let mut above: Vec<&Cand> = cands.iter().filter(|c| c.score > threshold).collect();
    cov.above_threshold = above.len();
    above.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<&Cand> = Vec::new();
    for c in above {
        let mut suppress = false;
        for k in kept.iter().filter(|k| k.class_id == c.class_id) {
            let o = iou(&k.bbox, &c.bbox);
            assert!((o - NMS_IOU).abs() > MARGIN, "fixture: IoU {o} is too close to {NMS_IOU}");
            suppress |= o > NMS_IOU;
        }
        if suppress {
            cov.suppressed += 1;
        } else {
            kept.push(c);
        }
    }
    kept.truncate(MAX_DETECTIONS);
    for (i, a) in kept.iter().enumerate() {
        for b in &kept[i + 1..] {
            assert!(
                (a.score - b.score).abs() > MARGIN,
                "fixture: scores {} and {} make the order ambiguous",
                a.score,
                b.score
            );
            if a.class_id != b.class_id && iou(&a.bbox, &b.bbox) > NMS_IOU {
                cov.cross_class_overlaps += 1;
            }
        }
    }
    let (r, ox, oy) = placement;
    let (w, h) = (SCENE_W as f64, SCENE_H as f64);
    let out = kept
        .iter()
        .map(|c| {
            let b = c.bbox;
            let mapped = [(b[0] - ox) / r, (b[1] - oy) / r, (b[2] - ox) / r, (b[3] - oy) / r];
            let clipped =
                [mapped[0].clamp(0.0, w), mapped[1].clamp(0.0, h), mapped[2].clamp(0.0, w), mapped[3].clamp(0.0, h)];
            if mapped != clipped {
                cov.clipped += 1;
            }
            if c.score < threshold + 0.02 {
                cov.just_above += 1;
            }
            if c.tied {
                cov.tied_survivors += 1;
            }
            cov.classes.insert(c.class_id);
            Expected { class_id: c.class_id, score: c.score, bbox: clipped }
        })
        .collect();
    (out, cov)
}

// ------------------------------------------------------------------------------------------------
// Running edgesight and comparing

fn edgesight(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgesight")).args(args).output().expect("edgesight runs")
}

/// Runs `edgesight detect` on scene.png; returns the printed detections.
fn detect(f: &Fixtures, family: &str, extra: &[&str]) -> Vec<Value> {
    let (model, scene) = (f.model(family), f.scene());
    let mut args = vec!["detect", "--model", &model, "--family", family];
    args.extend_from_slice(extra);
    args.push(&scene);
    let o = edgesight(&args);
    let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "edgesight {args:?} failed ({}): {stderr}", o.status);
    assert!(stderr.contains("frames=1"), "no stats line on stderr: {stderr}");
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one event per image expected, got: {stdout}");
    let event: Value = serde_json::from_str(lines[0]).expect("a JSON event");
    assert_eq!(event["stream"], "scene.png", "{event}");
    assert_eq!(event["frame"], 0, "{event}");
    assert_eq!(
        (event["width"].as_u64(), event["height"].as_u64()),
        (Some(SCENE_W as u64), Some(SCENE_H as u64)),
        "{event}"
    );
    event["detections"].as_array().expect("detections array").clone()
}

fn show(e: &[Expected]) -> String {
    e.iter()
        .map(|d| {
            format!(
                "  class {} score {:.5} bbox [{:.2}, {:.2}, {:.2}, {:.2}]\n",
                d.class_id, d.score, d.bbox[0], d.bbox[1], d.bbox[2], d.bbox[3]
            )
        })
        .collect()
}

/// Ok when `actual` (edgesight's detections) matches `expected` within the printing precision.
fn compare(expected: &[Expected], actual: &[Value]) -> Result<(), String> {
    let context = || {
        format!(
            "\nexpected:\n{}actual:\n{}",
            show(expected),
            actual.iter().map(|d| format!("  {d}\n")).collect::<String>()
        )
    };
    if expected.len() != actual.len() {
        return Err(format!("{} detections expected, {} printed{}", expected.len(), actual.len(), context()));
    }
    for (i, (e, a)) in expected.iter().zip(actual).enumerate() {
        let class_id = a["class_id"].as_u64().ok_or_else(|| format!("detection {i}: no class_id{}", context()))?;
        if class_id != e.class_id {
            return Err(format!("detection {i}: class {class_id}, expected {}{}", e.class_id, context()));
        }
        if a["label"] != format!("class{class_id}").as_str() {
            return Err(format!("detection {i}: label {}, expected \"class{class_id}\"{}", a["label"], context()));
        }
        let score = a["score"].as_f64().ok_or_else(|| format!("detection {i}: no score{}", context()))?;
        if (score - e.score).abs() > SCORE_TOL {
            return Err(format!("detection {i}: score {score}, expected {:.6}{}", e.score, context()));
        }
        let bbox: Vec<f64> =
            a["bbox"].as_array().map(|b| b.iter().filter_map(Value::as_f64).collect()).unwrap_or_default();
        if bbox.len() != 4 {
            return Err(format!("detection {i}: bbox {} is not 4 numbers{}", a["bbox"], context()));
        }
        for k in 0..4 {
            if (bbox[k] - e.bbox[k]).abs() > BOX_TOL {
                return Err(format!(
                    "detection {i}: bbox {bbox:?}, expected {:?} (coordinate {k}){}",
                    e.bbox,
                    context()
                ));
            }
        }
    }
    Ok(())
}

fn decode(family: &str, raw: &Raw) -> Vec<Cand> {
    match family {
        "yolov5" => decode_yolov5(raw),
        "yolov8" => decode_yolov8(raw),
        "yolox" => decode_yolox(raw),
        _ => unreachable!(),
    }
}

fn letterbox_of(family: &str) -> Letterbox {
    if family == "yolox" { Letterbox::TopLeft } else { Letterbox::Center }
}

/// The fixture exercises every situation the task lists; otherwise a pass would prove little.
fn assert_coverage(family: &str, cov: &Coverage, objectness: bool) {
    eprintln!("{family}: fixture coverage {cov:?}");
    let ok = cov.suppressed >= 1
        && cov.cross_class_overlaps >= 1
        && cov.just_below >= 1
        && cov.just_above >= 1
        && cov.clipped >= 1
        && cov.classes.len() >= 2
        && cov.tied_survivors >= 1
        && (!objectness || cov.high_class_low_product >= 1);
    assert!(ok, "{family}: the generated fixture does not cover every case: {cov:?}");
}

fn check_family(family: &str, objectness: bool) {
    let f = Fixtures::generate();
    let raw = f.raw(family);
    assert_eq!((raw.input_w, raw.input_h), (64, 64));
    assert_eq!(raw.num_classes, 3);
    let rows = match family {
        "yolov8" => raw.shape[2],
        // 64x64 input: 8x8 + 4x4 + 2x2 cells.
        "yolox" => 84,
        _ => raw.shape[1],
    };
    let layout = if family == "yolov8" { [1, 4 + raw.num_classes, rows] } else { [1, rows, 5 + raw.num_classes] };
    assert_eq!(raw.shape, layout, "{family}: output layout");
    let place = placement(SCENE_W, SCENE_H, raw.input_w, raw.input_h, letterbox_of(family));
    let (want, cov) = expected(&decode(family, &raw), THRESHOLD, place);
    assert_coverage(family, &cov, objectness);
    let got = detect(&f, family, &[]);
    if let Err(e) = compare(&want, &got) {
        panic!("{family}: edgesight disagrees with the reference decode: {e}");
    }
}

// ------------------------------------------------------------------------------------------------
// Tests

#[test]
fn yolov5_matches_reference_decode() {
    check_family("yolov5", true);
}

#[test]
fn yolov8_matches_reference_decode() {
    check_family("yolov8", false);
}

#[test]
fn yolov8_with_a_score_threshold_matches_reference_decode() {
    let f = Fixtures::generate();
    let raw = f.raw("yolov8");
    let place = placement(SCENE_W, SCENE_H, raw.input_w, raw.input_h, Letterbox::Center);
    let (want, _) = expected(&decode_yolov8(&raw), 0.5, place);
    let (all, _) = expected(&decode_yolov8(&raw), THRESHOLD, place);
    assert!(want.len() < all.len(), "the higher threshold should drop detections");
    let got = detect(&f, "yolov8", &["--score-threshold", "0.5"]);
    if let Err(e) = compare(&want, &got) {
        panic!("yolov8 --score-threshold 0.5: {e}");
    }
}

#[test]
fn yolox_matches_reference_decode() {
    check_family("yolox", true);
}

/// A model of one family loaded as another is a model error (exit 3) naming the family and the
/// output shape found.
#[test]
fn wrong_family_is_a_model_error() {
    let f = Fixtures::generate();
    let scene = f.scene();
    for (model, family) in [("yolov5", "yolov8"), ("yolox", "yolov8"), ("yolov5", "yolox"), ("yolov8", "yolox")] {
        let path = f.model(model);
        let o = edgesight(&["detect", "--model", &path, "--family", family, &scene]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(3), "{model}.onnx as {family}: exit code; stderr: {err}");
        assert!(o.stdout.is_empty(), "{model}.onnx as {family}: printed events");
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(err.lines().count(), 1, "one line expected: {err}");
        let shape = f.raw(model).shape_text();
        for needle in [format!("does not match family \"{family}\""), shape] {
            assert!(err.contains(&needle), "{model}.onnx as {family}: stderr lacks {needle:?}: {err}");
        }
    }
}

/// The transposed YOLOv8 layout `[1,4+C,N]` (N > 4+C) given to family yolov5 is refused like the
/// other mismatches, with a hint to the right family, instead of being decoded as garbage.
#[test]
fn yolov8_model_as_yolov5_is_a_model_error() {
    let f = Fixtures::generate();
    let (path, scene) = (f.model("yolov8"), f.scene());
    let o = edgesight(&["detect", "--model", &path, "--family", "yolov5", &scene]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "exit code; stdout: {}; stderr: {err}", String::from_utf8_lossy(&o.stdout));
    for needle in ["does not match family \"yolov5\"", &f.raw("yolov8").shape_text(), "yolov8"] {
        assert!(err.contains(needle), "stderr lacks {needle:?}: {err}");
    }
}

/// The comparison can fail: edgesight's YOLOv5 output matches the YOLOv5 reference but neither
/// the YOLOX formulas on the same tensor nor slightly altered expectations.
#[test]
fn comparison_is_not_vacuous() {
    let f = Fixtures::generate();
    let raw = f.raw("yolov5");
    let place = placement(SCENE_W, SCENE_H, raw.input_w, raw.input_h, Letterbox::Center);
    let got = detect(&f, "yolov5", &[]);
    let (want, _) = expected(&decode_yolov5(&raw), THRESHOLD, place);
    compare(&want, &got).expect("the right decode matches");
    assert!(got.len() >= 5, "too few detections to mean anything: {got:?}");

    let (as_yolox, _) = expected(&decode_yolox(&raw), THRESHOLD, place);
    assert!(compare(&as_yolox, &got).is_err(), "YOLOX formulas on the YOLOv5 tensor matched too");

    let mut shifted = want.clone();
    shifted[1].bbox[2] -= 0.2;
    assert!(compare(&shifted, &got).is_err(), "a box 0.2 px off matched");
    let mut rescored = want.clone();
    rescored[2].score += 3e-4;
    assert!(compare(&rescored, &got).is_err(), "a score 3e-4 off matched");
    let mut relabelled = want.clone();
    relabelled[0].class_id += 1;
    assert!(compare(&relabelled, &got).is_err(), "a wrong class matched");
    assert!(compare(&want[1..], &got).is_err(), "a missing detection matched");
    let mut reordered = want.clone();
    reordered.swap(0, 1);
    assert!(compare(&reordered, &got).is_err(), "a different order matched");
    // A letterbox 1 px off is caught too.
    let (unclipped, _) = expected(&decode_yolov5(&raw), THRESHOLD, (place.0, place.1, place.2 + 1.0));
    assert!(compare(&unclipped, &got).is_err(), "a different letterbox offset matched");
}
