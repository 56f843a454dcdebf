//! SSD exported from the TensorFlow Object Detection API: NMS already ran inside the graph.
//! Outputs `num_detections [N]`, `detection_boxes [N,K,4]` (normalised ymin, xmin, ymax, xmax),
//! `detection_scores [N,K]`, `detection_classes [N,K]` (1-based class ids). Matched by name.

use super::{Decoder, Detection};
use crate::engine::{Outputs, TensorInfo, describe};
use crate::error::{Error, Result};

pub struct Ssd {
    num: usize,
    boxes: usize,
    scores: usize,
    classes: usize,
    input_w: f32,
    input_h: f32,
}

/// Finds the output whose name, without a `:0` suffix or scope prefix, is `stem`.
fn find(outputs: &[TensorInfo], stem: &str) -> Option<usize> {
    outputs.iter().position(|o| {
        let base = o.name.split(':').next().unwrap_or("");
        base == stem || base.ends_with(&format!("/{stem}"))
    })
}

impl Ssd {
    pub fn new(input_w: u32, input_h: u32, outputs: &[TensorInfo]) -> Result<Ssd> {
        let mismatch = |why: String| {
            Error::model(format!(
                "model does not match family \"ssd\": {why}; expected outputs num_detections [N], detection_boxes [N,K,4], \
                 detection_scores [N,K], detection_classes [N,K] (TF Object Detection API export); found outputs: {}",
                describe(outputs)
            ))
        };
        let get = |stem: &str| find(outputs, stem).ok_or_else(|| mismatch(format!("no output named {stem}")));
        let (num, boxes, scores, classes) =
            (get("num_detections")?, get("detection_boxes")?, get("detection_scores")?, get("detection_classes")?);
        let rank_ok = |i: usize, rank: usize| outputs[i].shape.len() == rank;
        if !rank_ok(num, 1) || !rank_ok(boxes, 3) || !rank_ok(scores, 2) || !rank_ok(classes, 2) {
            return Err(mismatch("wrong ranks".into()));
        }
        if outputs[boxes].shape[2] >= 0 && outputs[boxes].shape[2] != 4 {
            return Err(mismatch(format!("{} does not end in 4 coordinates", outputs[boxes])));
        }
        Ok(Ssd { num, boxes, scores, classes, input_w: input_w as f32, input_h: input_h as f32 })
    }
}

impl Decoder for Ssd {
    fn decode(&mut self, outputs: &dyn Outputs, min_score: f32, out: &mut Vec<Detection>) -> Result<()> {
        let num = outputs.output(self.num)?;
        let boxes = outputs.output(self.boxes)?;
        let scores = outputs.output(self.scores)?;
        let classes = outputs.output(self.classes)?;
        let k = scores.data.len().min(classes.data.len()).min(boxes.data.len() / 4);
        let n = num.data.first().map_or(0, |&v| v.max(0.0) as usize).min(k);
        for i in 0..n {
            let score = scores.data[i];
            if score <= min_score {
                continue;
            }
            let b = &boxes.data[i * 4..i * 4 + 4];
            let bbox = [b[1] * self.input_w, b[0] * self.input_h, b[3] * self.input_w, b[2] * self.input_h];
            let class = classes.data[i];
            if class.is_nan() || class < 0.0 {
                return Err(Error::model(format!("ssd: detection_classes holds {class}, not a class id")));
            }
            out.push(Detection { class_id: class as u32, score, bbox });
        }
        Ok(())
    }

    fn nms_in_graph(&self) -> bool {
        true
    }

    fn num_classes(&self) -> Option<usize> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::TestOutputs;
    use crate::engine::ElemType;

    fn decode(classes: [f32; 2]) -> Result<Vec<Detection>> {
        let info = |name: &str, shape: Vec<i64>| TensorInfo { name: name.into(), dtype: ElemType::F32, shape };
        let mut ssd = Ssd::new(
            300,
            200,
            &[
                info("num_detections:0", vec![1]),
                info("detection_boxes:0", vec![1, 2, 4]),
                info("detection_scores:0", vec![1, 2]),
                info("detection_classes:0", vec![1, 2]),
            ],
        )?;
        // num_detections, detection_boxes, detection_scores, detection_classes.
        let out = TestOutputs(vec![
            (vec![1], vec![2.0]),
            (vec![1, 2, 4], vec![0.0, 0.0, 0.5, 0.5, 0.5, 0.25, 1.0, 1.0]),
            (vec![1, 2], vec![0.9, 0.8]),
            (vec![1, 2], classes.to_vec()),
        ]);
        let mut dets = Vec::new();
        ssd.decode(&out, 0.5, &mut dets)?;
        Ok(dets)
    }

    /// Class ids are taken as they are (0 included), boxes go from normalised (ymin, xmin, ymax,
    /// xmax) to input pixels; a negative class id is a model error, not class 0.
    #[test]
    fn classes_and_boxes_as_exported_and_a_negative_class_is_an_error() {
        let dets = decode([0.0, 3.0]).unwrap();
        let got: Vec<(u32, [f32; 4])> = dets.iter().map(|d| (d.class_id, d.bbox)).collect();
        assert_eq!(got, [(0, [0.0, 0.0, 150.0, 100.0]), (3, [75.0, 100.0, 300.0, 200.0])]);
        let e = decode([1.0, -1.0]).unwrap_err().to_string();
        assert!(e.contains("detection_classes holds -1"), "{e}");
    }

    /// An export whose boxes output is shorter than its scores (or than num_detections says) is
    /// read only as far as all four outputs go, never past the end of the boxes.
    #[test]
    fn a_short_boxes_output_bounds_the_detections() {
        let info = |name: &str, shape: Vec<i64>| TensorInfo { name: name.into(), dtype: ElemType::F32, shape };
        let mut ssd = Ssd::new(
            300,
            200,
            &[
                info("num_detections:0", vec![1]),
                info("detection_boxes:0", vec![1, -1, 4]),
                info("detection_scores:0", vec![1, -1]),
                info("detection_classes:0", vec![1, -1]),
            ],
        )
        .unwrap();
        let out = TestOutputs(vec![
            (vec![1], vec![3.0]),
            (vec![1, 1, 4], vec![0.0, 0.0, 0.5, 0.5]),
            (vec![1, 3], vec![0.9, 0.8, 0.7]),
            (vec![1, 3], vec![1.0, 2.0, 3.0]),
        ]);
        let mut dets = Vec::new();
        ssd.decode(&out, 0.5, &mut dets).unwrap();
        assert_eq!(dets.len(), 1);
    }
}
