//! What YOLOv5, YOLOv8 and YOLOX models receive: channel order, scale (mean/std), letterbox mode
//! and padding, and every input override of `[model]`, through `edgesight detect`.
//!
//! `scripts/make_probe_models.py` writes "probe" models that average each channel of their input
//! tensor over six windows and report each mean t as the score of its own detection (score =
//! 0.5 + 0.25·t/full scale, on a box whose x position names the probe), a scene of six solid
//! vertical stripes, and a reference made with OpenCV: for each input size and letterbox mode, the
//! solid colour or the padding each window holds. From that reference and the documented contract
//! (docs/specs/model_interface.md, written here again rather than taken from the crate) this test
//! computes every t, and compares with the scores edgesight prints. The windows sit on both sides
//! of the letterbox edges, so an image one row off changes a value too.
//!
//! Needs Python with `onnx`, `numpy` and OpenCV (see `common::generate_models`).

mod common;

use std::path::PathBuf;

use common::{edgesight, p, stderr, stdout};
use serde_json::Value;

/// Printed scores have 4 decimals (half a unit of rounding plus float noise), boxes 1.
const SCORE_TOL: f64 = 1e-4;
const BOX_TOL: f64 = 0.06;

/// The input contract the preprocessing must meet.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Contract {
    bgr: bool,
    /// Per tensor channel: t = (pixel − mean) / std, in f32.
    mean: [f32; 3],
    std: [f32; 3],
    letterbox: &'static str,
    pad: Pad,
    /// Input (width, height).
    input: (u32, u32),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Pad {
    /// A pixel value, normalised like the image.
    Pixel(f32),
    /// Written into the tensor as is.
    Tensor(f32),
}

impl Contract {
    /// YOLOv5 and YOLOv8: RGB, px/255, centred, grey 114; the probe models take 64x64.
    fn yolov5() -> Contract {
        Contract {
            bgr: false,
            mean: [0.0; 3],
            std: [255.0; 3],
            letterbox: "center",
            pad: Pad::Pixel(114.0),
            input: (64, 64),
        }
    }

    /// YOLOX: BGR, raw 0..255, top-left, grey 114.
    fn yolox() -> Contract {
        Contract { bgr: true, std: [1.0; 3], letterbox: "top-left", ..Contract::yolov5() }
    }

    /// The tensor value of channel `c` in a window holding `cell` (the reference's entry).
    fn value(&self, cell: &Value, c: usize) -> f32 {
        if cell["pad"] == true {
            return match self.pad {
                Pad::Pixel(v) => (v - self.mean[c]) / self.std[c],
                Pad::Tensor(v) => v,
            };
        }
        let rgb = cell["rgb"].as_array().expect("rgb");
        let src = if self.bgr { 2 - c } else { c };
        let px = rgb[src].as_u64().expect("a pixel value") as f32;
        (px - self.mean[c]) / self.std[c]
    }

    /// Where a box in model-input pixels lands in the scene: (scale x, scale y, offset x, offset y).
    fn placement(&self, scene: (u32, u32)) -> (f64, f64, f64, f64) {
        let ((iw, ih), (w, h)) = ((self.input.0 as f64, self.input.1 as f64), (scene.0 as f64, scene.1 as f64));
        if self.letterbox == "stretch" {
            return (iw / w, ih / h, 0.0, 0.0);
        }
        let r = (iw / w).min(ih / h);
        let (nw, nh) = ((w * r).round_ties_even(), (h * r).round_ties_even());
        match self.letterbox {
            "center" => (r, r, ((iw - nw) / 2.0).floor(), ((ih - nh) / 2.0).floor()),
            "top-left" => (r, r, 0.0, 0.0),
            other => panic!("unknown letterbox {other}"),
        }
    }

    /// The same contract with one of the mistakes a test must catch.
    fn mistakes(&self) -> Vec<(&'static str, Contract)> {
        let other_box = if self.letterbox == "center" { "top-left" } else { "center" };
        let other_scale = if self.std == [1.0; 3] { [255.0; 3] } else { [1.0; 3] };
        vec![
            ("channel order swapped", Contract { bgr: !self.bgr, ..*self }),
            ("padding 0 instead of 114", Contract { pad: Pad::Pixel(0.0), ..*self }),
            ("letterbox mode swapped", Contract { letterbox: other_box, ..*self }),
            ("other scale", Contract { std: other_scale, ..*self }),
        ]
    }
}

/// One probe's detection as edgesight should print it.
#[derive(Debug)]
struct Expected {
    what: String,
    class_id: u64,
    t: f32,
    score: f64,
    bbox: [f64; 4],
}

/// The generated probe models, scene and reference (probes.json) in a fresh directory.
struct Probes {
    dir: tempfile::TempDir,
    doc: Value,
}

impl Probes {
    fn generate() -> Probes {
        let dir = tempfile::Builder::new().prefix("edgesight-probe-").tempdir().expect("a temporary directory");
        common::generate_models("make_probe_models.py", dir.path());
        let json = dir.path().join("probes.json");
        let text = std::fs::read_to_string(&json).unwrap_or_else(|e| panic!("{}: {e}", json.display()));
        let doc = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", json.display()));
        Probes { dir, doc }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn scene(&self) -> (u32, u32) {
        let s = &self.doc["scene"];
        (s["width"].as_u64().unwrap() as u32, s["height"].as_u64().unwrap() as u32)
    }

    /// (offset, gain, full scale) of `model`: score = offset + gain · t / full scale.
    fn encoding(&self, model: &str) -> (f64, f64, f64) {
        let e = &self.doc["encoding"];
        let full_scale = self.doc["models"][model]["full_scale"].as_f64().expect("model in probes.json");
        (e["offset"].as_f64().expect("offset"), e["gain"].as_f64().expect("gain"), full_scale)
    }

    /// Score to tensor value, for messages.
    fn decoder(&self, model: &str) -> impl Fn(f64) -> f64 + use<> {
        let (offset, gain, full_scale) = self.encoding(model);
        move |score| (score - offset) / gain * full_scale
    }

    /// Every probe's detection for `model` under `contract`, in probe order.
    fn expected(&self, model: &str, contract: &Contract) -> Vec<Expected> {
        let (offset, gain, full_scale) = self.encoding(model);
        let key = format!("{}x{}/{}", contract.input.0, contract.input.1, contract.letterbox);
        let cells = self.doc["reference"][&key].as_array().unwrap_or_else(|| panic!("no reference for {key}"));
        let (sx, sy, ox, oy) = contract.placement(self.scene());
        let (w, h) = (self.scene().0 as f64, self.scene().1 as f64);
        let probes = self.doc["probes"].as_array().expect("probes");
        probes
            .iter()
            .map(|pr| {
                let k = pr["window"].as_u64().unwrap() as usize;
                let c = pr["channel"].as_u64().unwrap() as usize;
                let cell = &cells[k];
                assert!(!cell.is_null(), "fixture: window {k} is not solid in {key}");
                let t = contract.value(cell, c);
                let score = offset + gain * t as f64 / full_scale;
                assert!(score > 0.36, "fixture: t = {t} of probe {k}/{c} would score {score}, under the threshold");
                let b: Vec<f64> = pr["box"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
                let bbox = [
                    ((b[0] - ox) / sx).clamp(0.0, w),
                    ((b[1] - oy) / sy).clamp(0.0, h),
                    ((b[2] - ox) / sx).clamp(0.0, w),
                    ((b[3] - oy) / sy).clamp(0.0, h),
                ];
                let window = self.doc["windows"][k]["name"].as_str().unwrap();
                let source = if cell["pad"] == true { "padding".to_string() } else { format!("scene {}", cell["rgb"]) };
                let what = format!("{window}, tensor channel {c} ({source} in {key})");
                Expected { what, class_id: c as u64, t, score, bbox }
            })
            .collect()
    }
}

/// The detections edgesight prints for the stripes scene with `args` (a model and family, or a
/// config).
fn detect(f: &Probes, args: &[&str]) -> Vec<Value> {
    let scene = f.path("stripes.png");
    let mut all = vec!["detect"];
    all.extend_from_slice(args);
    all.push(p(&scene));
    let o = edgesight(&all, &[]);
    assert!(o.status.success(), "edgesight {all:?} failed ({}): {}", o.status, stderr(&o));
    let events = common::parse_lines(&stdout(&o));
    assert_eq!(events.len(), 1, "one event per image expected: {}", stdout(&o));
    events[0]["detections"].as_array().expect("detections").clone()
}

/// Ok when every probe's detection is printed as expected; otherwise every difference, with the
/// tensor value it means (`decode`: score to t).
fn compare(expected: &[Expected], got: &[Value], decode: impl Fn(f64) -> f64) -> Result<(), String> {
    let mut errors = Vec::new();
    if expected.len() != got.len() {
        errors.push(format!("{} detections expected, {} printed", expected.len(), got.len()));
    }
    for e in expected {
        // The probe is the detection at its x: no letterbox mode of the scene moves x.
        let Some(d) = got.iter().find(|d| (d["bbox"][0].as_f64().unwrap_or(f64::NAN) - e.bbox[0]).abs() < 0.6) else {
            errors.push(format!("{}: no detection at x {:.1}", e.what, e.bbox[0]));
            continue;
        };
        let score = d["score"].as_f64().unwrap_or(f64::NAN);
        let t = decode(score);
        if (score - e.score).abs() > SCORE_TOL {
            errors.push(format!("{}: value {t:.4} (score {score}), expected {:.4}", e.what, e.t));
        }
        if d["class_id"].as_u64() != Some(e.class_id) {
            errors.push(format!("{}: class {}, expected {}", e.what, d["class_id"], e.class_id));
        }
        let bbox: Vec<f64> = d["bbox"].as_array().unwrap().iter().filter_map(Value::as_f64).collect();
        if bbox.len() != 4 || (0..4).any(|k| (bbox[k] - e.bbox[k]).abs() > BOX_TOL) {
            errors.push(format!("{}: box {bbox:?}, expected {:?}", e.what, e.bbox));
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(errors.join("\n")) }
}

/// Whether two expectations differ by more than the printing precision somewhere.
fn differs(a: &[Expected], b: &[Expected]) -> bool {
    a.iter().zip(b).any(|(a, b)| (a.score - b.score).abs() > 2.0 * SCORE_TOL || a.bbox != b.bbox)
}

/// `model` with no config matches the family's default contract, and would not match it with
/// any of the usual mistakes (so each of them fails this test).
fn check_defaults(model: &str, family: &str, contract: Contract) {
    let f = Probes::generate();
    let path = f.path(&format!("{model}.onnx"));
    let got = detect(&f, &["--model", p(&path), "--family", family]);
    if let Err(e) = compare(&f.expected(model, &contract), &got, f.decoder(model)) {
        panic!("{family}: the model did not receive the documented input:\n{e}");
    }
    for (mistake, wrong) in contract.mistakes() {
        assert!(
            compare(&f.expected(model, &wrong), &got, f.decoder(model)).is_err(),
            "{family}: the probes cannot tell the default contract from {mistake}"
        );
    }
}

#[test]
fn yolov5_model_receives_rgb_over_255_centred_grey_114() {
    check_defaults("yolov5_probe", "yolov5", Contract::yolov5());
}

#[test]
fn yolov8_model_receives_rgb_over_255_centred_grey_114() {
    check_defaults("yolov8_probe", "yolov8", Contract::yolov5());
}

#[test]
fn yolox_model_receives_raw_bgr_top_left_grey_114() {
    check_defaults("yolox_probe", "yolox", Contract::yolox());
}

/// Every input key of `[model]` (docs/specs/model_interface.md, "Contract overrides") reaches the
/// model, each alone on the family default, with a visible effect.
#[test]
fn every_input_override_reaches_the_model() {
    let f = Probes::generate();
    let v5 = Contract::yolov5();
    let cases: Vec<(&str, &str, Contract)> = vec![
        ("yolov5_probe", "channel_order = \"bgr\"", Contract { bgr: true, ..v5 }),
        ("yolov5_probe", "mean = [10.0, 20.0, 30.0]", Contract { mean: [10.0, 20.0, 30.0], ..v5 }),
        ("yolov5_probe", "std = [200.0, 300.0, 400.0]", Contract { std: [200.0, 300.0, 400.0], ..v5 }),
        ("yolov5_probe", "letterbox = \"top-left\"", Contract { letterbox: "top-left", ..v5 }),
        ("yolov5_probe", "letterbox = \"stretch\"", Contract { letterbox: "stretch", ..v5 }),
        ("yolox_probe", "letterbox = \"center\"", Contract { letterbox: "center", ..Contract::yolox() }),
        ("yolov5_probe", "pad_pixel = 30", Contract { pad: Pad::Pixel(30.0), ..v5 }),
        // Not normalised: with this mean and std a normalised -0.25 would be -0.05 .. -0.15.
        (
            "yolov5_probe",
            "pad_value = -0.25\nmean = [10.0, 20.0, 30.0]\nstd = [200.0, 200.0, 200.0]",
            Contract { pad: Pad::Tensor(-0.25), mean: [10.0, 20.0, 30.0], std: [200.0; 3], ..v5 },
        ),
        // 128x64 on a dynamic model: the scene fits at scale 1, centred with 16 columns of
        // padding left and right (the 640x640 default would put every window elsewhere).
        ("yolov5_probe_dyn", "input_size = [128, 64]", Contract { input: (128, 64), ..v5 }),
        // The key can only confirm what the shape says; the NHWC tensor must be filled as such.
        ("yolov5_probe_nhwc", "layout = \"nhwc\"", v5),
    ];
    let mut failures = Vec::new();
    for (model, lines, contract) in &cases {
        let family = f.doc["models"][model]["family"].as_str().expect("family").to_string();
        let default = if family == "yolox" { Contract::yolox() } else { v5 };
        if *lines != "layout = \"nhwc\"" {
            assert!(
                differs(&f.expected(model, contract), &f.expected(model, &default)),
                "fixture: {lines} changes nothing the probes see"
            );
        }
        let cfg = f.path("edgesight.toml");
        let path = f.path(&format!("{model}.onnx"));
        std::fs::write(&cfg, format!("[model]\npath = \"{}\"\nfamily = \"{family}\"\n{lines}\n", p(&path)))
            .expect("config");
        let got = detect(&f, &["--config", p(&cfg)]);
        if let Err(e) = compare(&f.expected(model, contract), &got, f.decoder(model)) {
            failures.push(format!("{model} with {lines:?}:\n{e}"));
        }
    }
    assert!(failures.is_empty(), "overrides that did not reach the model:\n\n{}", failures.join("\n\n"));
}

/// The NHWC probe without the key reads its layout from the shape; a key that contradicts the
/// shape is a model error naming both.
#[test]
fn layout_comes_from_the_shape_and_a_contradicting_key_is_refused() {
    let f = Probes::generate();
    let path = f.path("yolov5_probe_nhwc.onnx");
    let got = detect(&f, &["--model", p(&path), "--family", "yolov5"]);
    if let Err(e) = compare(&f.expected("yolov5_probe_nhwc", &Contract::yolov5()), &got, f.decoder("yolov5_probe_nhwc"))
    {
        panic!("NHWC model without model.layout:\n{e}");
    }
    let cfg = f.path("edgesight.toml");
    std::fs::write(&cfg, format!("[model]\npath = \"{}\"\nfamily = \"yolov5\"\nlayout = \"nchw\"\n", p(&path)))
        .expect("config");
    let o = edgesight(&["detect", "--config", p(&cfg), p(&f.path("stripes.png"))], &[]);
    common::assert_fails(&o, 3, &["model.layout = Nchw", "Nhwc"]);
}
