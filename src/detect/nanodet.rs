//! NanoDet (GFL head): per stride a class-score output `[1, n, C]` (sigmoid applied) and a box
//! distribution output `[1, n, 4·(reg_max+1)]`; n = cells of the stride's grid.
//! Outputs are matched by shape, never by name order.

use super::{Decoder, Detection, grid};
use crate::engine::{Outputs, ShapeDisplay, TensorInfo, describe};
use crate::error::{Error, Result};

/// One stride level: which outputs hold its scores and boxes.
#[derive(Debug, Clone)]
struct Level {
    stride: f32,
    grid_w: usize,
    cells: usize,
    scores: usize,
    boxes: usize,
}

pub struct NanoDet {
    levels: Vec<Level>,
    classes: usize,
    bins: usize,
    /// Softmax scratch, one side's bins.
    probs: Vec<f32>,
}

/// Last dimensions that NanoDet box outputs have in practice: 4 × (reg_max + 1), reg_max 7, 10, 16.
const KNOWN_BOX_DIMS: [i64; 3] = [32, 44, 68];

impl NanoDet {
    pub fn new(
        input_w: u32,
        input_h: u32,
        strides: &[u32],
        reg_max: Option<u32>,
        outputs: &[TensorInfo],
    ) -> Result<NanoDet> {
        let expected = || {
            let cells: Vec<String> = strides
                .iter()
                .map(|&s| {
                    let (gw, gh) = grid(input_w, input_h, s);
                    (gw * gh).to_string()
                })
                .collect();
            format!(
                "per stride {strides:?} a score output [1,n,C] and a box output [1,n,4*(reg_max+1)] with n = {} (input {input_w}x{input_h})",
                cells.join(", ")
            )
        };
        let mismatch = |why: &str| {
            Error::model(format!(
                "model does not match family \"nanodet\": {why}; expected {}; found outputs: {}",
                expected(),
                describe(outputs)
            ))
        };
        let box_dim = reg_max.map(|r| 4 * (r as i64 + 1));
        let mut levels = Vec::new();
        let (mut classes, mut box_last) = (None::<i64>, None::<i64>);
        for &s in strides {
            let (gw, gh) = grid(input_w, input_h, s);
            let n = (gw * gh) as i64;
            let candidates: Vec<usize> = outputs
                .iter()
                .enumerate()
                .filter(|(_, o)| o.shape.len() == 3 && o.shape[0] <= 1 && o.shape[1] == n)
                .map(|(i, _)| i)
                .collect();
            let [a, b] = candidates[..] else {
                return Err(mismatch(&format!("{} outputs with {n} cells for stride {s}", candidates.len())));
            };
            let (da, db) = (outputs[a].shape[2], outputs[b].shape[2]);
            let is_box = |d: i64| match box_dim {
                Some(bd) => d == bd,
                None => KNOWN_BOX_DIMS.contains(&d),
            };
            let (scores, boxes) = match (is_box(da), is_box(db)) {
                (false, true) => (a, b),
                (true, false) => (b, a),
                _ => {
                    return Err(mismatch(&format!(
                        "cannot tell scores from boxes between {} and {} (set model.reg_max)",
                        outputs[a], outputs[b]
                    )));
                }
            };
            let (c, bd) = (outputs[scores].shape[2], outputs[boxes].shape[2]);
            if c < 1 || bd % 4 != 0 || bd < 8 {
                return Err(mismatch(&format!("unusable last dimensions {c} (scores) and {bd} (boxes)")));
            }
            if classes.is_some_and(|x| x != c) || box_last.is_some_and(|x| x != bd) {
                return Err(mismatch("strides disagree on the number of classes or bins"));
            }
            classes = Some(c);
            box_last = Some(bd);
            levels.push(Level { stride: s as f32, grid_w: gw, cells: n as usize, scores, boxes });
        }
        let (Some(classes), Some(bd)) = (classes, box_last) else {
            return Err(mismatch("no strides configured"));
        };
        Ok(NanoDet { levels, classes: classes as usize, bins: bd as usize / 4, probs: vec![0.0; bd as usize / 4] })
    }

    /// Expected value of the softmax over one side's bins (in stride units).
    fn side(&mut self, logits: &[f32]) -> f32 {
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for (p, &l) in self.probs.iter_mut().zip(logits) {
            *p = (l - max).exp();
            sum += *p;
        }
        let mut dist = 0.0;
        for (k, p) in self.probs.iter().enumerate() {
            dist += p * k as f32;
        }
        dist / sum
    }
}

impl Decoder for NanoDet {
    fn decode(&mut self, outputs: &dyn Outputs, min_score: f32, out: &mut Vec<Detection>) -> Result<()> {
        let (c, bins) = (self.classes, self.bins);
        for li in 0..self.levels.len() {
            let lv = self.levels[li].clone();
            let scores = outputs.output(lv.scores)?;
            let boxes = outputs.output(lv.boxes)?;
            if scores.data.len() < lv.cells * c || boxes.data.len() < lv.cells * 4 * bins {
                return Err(Error::model(format!(
                    "nanodet stride {}: outputs {} and {} are smaller than {} cells",
                    lv.stride,
                    ShapeDisplay(scores.shape),
                    ShapeDisplay(boxes.shape),
                    lv.cells
                )));
            }
            for i in 0..lv.cells {
                let row = &scores.data[i * c..(i + 1) * c];
                if !row.iter().any(|&s| s > min_score) {
                    continue;
                }
                let reg = &boxes.data[i * 4 * bins..(i + 1) * 4 * bins];
                let cx = ((i % lv.grid_w) as f32 + 0.5) * lv.stride;
                let cy = ((i / lv.grid_w) as f32 + 0.5) * lv.stride;
                let l = self.side(&reg[0..bins]) * lv.stride;
                let t = self.side(&reg[bins..2 * bins]) * lv.stride;
                let r = self.side(&reg[2 * bins..3 * bins]) * lv.stride;
                let b = self.side(&reg[3 * bins..4 * bins]) * lv.stride;
                let bbox = [cx - l, cy - t, cx + r, cy + b];
                // Every class above the threshold is reported (the same box can be "car" and "truck").
                for (class_id, &score) in row.iter().enumerate() {
                    if score > min_score {
                        out.push(Detection { class_id: class_id as u32, score, bbox });
                    }
                }
            }
        }
        Ok(())
    }

    fn num_classes(&self) -> Option<usize> {
        Some(self.classes)
    }
}
