//! Decode stage: raw output tensors → detections in source-frame pixels.
//!
//! A `Family` knows its model's contract (default input contract, expected outputs) and builds a
//! `Decoder`. Decoders emit candidates in model-input pixels; `PostProcess` applies the per-class
//! thresholds, the allow-list, NMS and the detection cap, and maps boxes to the source frame.
//! Decoders never know which engine produced the tensors.

pub mod family;
pub mod labels;
pub mod nanodet;
pub mod nms;
pub mod postprocess;
pub mod ssd;
pub mod yolov5;
pub mod yolov8;
pub mod yolox;

pub use family::Family;
pub use labels::Labels;
pub use postprocess::{ClassPolicy, PostProcess};

use crate::engine::{Outputs, TensorInfo, describe};
use crate::error::{Error, Result};

/// One detected object: class, confidence and `[x1, y1, x2, y2]` box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub class_id: u32,
    pub score: f32,
    pub bbox: [f32; 4],
}

/// Turns one model family's raw outputs into candidate detections.
pub trait Decoder: Send {
    /// Appends every candidate scoring above `min_score` to `out`, box in model-input pixels.
    fn decode(&mut self, outputs: &dyn Outputs, min_score: f32, out: &mut Vec<Detection>) -> Result<()>;
    /// True when the graph already ran NMS (SSD); post-processing then skips its own.
    fn nms_in_graph(&self) -> bool {
        false
    }
    /// Number of classes the model scores, when the outputs say so.
    fn num_classes(&self) -> Option<usize>;
}

/// Grid size of a stride on an input (partial cells count, as in the exporters' `ceil`).
pub(crate) fn grid(input_w: u32, input_h: u32, stride: u32) -> (usize, usize) {
    let s = stride.max(1);
    (input_w.div_ceil(s) as usize, input_h.div_ceil(s) as usize)
}

pub(crate) fn xywh_to_xyxy(cx: f32, cy: f32, w: f32, h: f32) -> [f32; 4] {
    [cx - w * 0.5, cy - h * 0.5, cx + w * 0.5, cy + h * 0.5]
}

/// Index and value of the highest score (first one on ties).
pub(crate) fn best_class(scores: &[f32]) -> (u32, f32) {
    let mut best = (0u32, f32::NEG_INFINITY);
    for (i, &s) in scores.iter().enumerate() {
        if s > best.1 {
            best = (i as u32, s);
        }
    }
    best
}

/// Like `best_class` over `count` values `step` apart (a column of a transposed output).
pub(crate) fn best_class_strided(data: &[f32], step: usize, count: usize) -> (u32, f32) {
    let mut best = (0u32, f32::NEG_INFINITY);
    for k in 0..count {
        let s = data[k * step];
        if s > best.1 {
            best = (k as u32, s);
        }
    }
    best
}

/// Checks that a model has the single rank-3 output of the YOLO layouts.
/// `rows`: the output is `[1, N, width]` and `width` (returned) must be static and at least
/// `min_width`; otherwise it is the transposed `[1, channels, N]`.
pub(crate) fn single_output(
    family: &str,
    expected: &str,
    outputs: &[TensorInfo],
    min_width: i64,
    rows: bool,
) -> Result<(usize, usize)> {
    let mismatch = |why: &str| {
        Error::model(format!(
            "model does not match family \"{family}\": {why}; expected one output {expected}; found outputs: {}",
            describe(outputs)
        ))
    };
    let [out] = outputs else {
        return Err(mismatch(&format!("{} outputs", outputs.len())));
    };
    if out.shape.len() != 3 {
        return Err(mismatch(&format!("output {out} has rank {}", out.shape.len())));
    }
    let (d1, d2) = (out.shape[1], out.shape[2]);
    if rows {
        if d2 < min_width {
            return Err(mismatch(&format!("last dimension of {out} is not a static 5 + C")));
        }
        // Real exports have far more anchors than channels; the other way round is the
        // transposed YOLOv8 layout, which would decode into nonsense.
        if d1 >= 0 && d2 > d1 {
            return Err(mismatch(&format!(
                "{out} has more columns than rows (it looks like the transposed YOLOv8 layout [1,4+C,N]: try family = \"yolov8\")"
            )));
        }
        Ok((0, d2 as usize))
    } else {
        if d1 >= 0 && d2 >= 0 && d1 > d2 {
            return Err(mismatch(&format!(
                "{out} has more channels than anchors (it looks like [1,N,5+C]: try family = \"yolov5\" or \"yolox\")"
            )));
        }
        Ok((0, 0))
    }
}

/// A decoder's outputs in unit tests: per output, its shape and f32 data.
#[cfg(test)]
pub(crate) struct TestOutputs(pub Vec<(Vec<i64>, Vec<f32>)>);

#[cfg(test)]
impl Outputs for TestOutputs {
    fn output(&self, i: usize) -> Result<crate::engine::TensorView<'_>> {
        Ok(crate::engine::TensorView { shape: &self.0[i].0, data: &self.0[i].1 })
    }
}

/// One output of `shape` holding `data`.
#[cfg(test)]
pub(crate) fn one_output(shape: Vec<i64>, data: Vec<f32>) -> TestOutputs {
    TestOutputs(vec![(shape, data)])
}
