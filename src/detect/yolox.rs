//! YOLOX: one output `[1, N, 5 + C]` of raw grid offsets (export with `decode_in_inference=False`):
//! per stride (8, 16, 32) and grid cell, x = (o0 + gx)·s, y = (o1 + gy)·s, w = exp(o2)·s,
//! h = exp(o3)·s; objectness and class scores have the sigmoid applied. Score = obj × best class.

use super::{Decoder, Detection, best_class, grid, single_output, xywh_to_xyxy};
use crate::engine::{Outputs, TensorInfo};
use crate::error::{Error, Result};

pub struct YoloX {
    output: usize,
    width: usize,
    /// (stride, grid width, cells) per level, in output order.
    levels: Vec<(f32, usize, usize)>,
}

impl YoloX {
    pub fn new(input_w: u32, input_h: u32, strides: &[u32], outputs: &[TensorInfo]) -> Result<YoloX> {
        let (output, width) =
            single_output("yolox", "[1,N,5+C] (raw x, y, log w, log h, objectness, C class scores)", outputs, 6, true)?;
        let levels: Vec<(f32, usize, usize)> = strides
            .iter()
            .map(|&s| {
                let (gw, gh) = grid(input_w, input_h, s);
                (s as f32, gw, gw * gh)
            })
            .collect();
        let total: usize = levels.iter().map(|l| l.2).sum();
        let n = outputs[output].shape[1];
        if n >= 0 && n as usize != total {
            return Err(Error::model(format!(
                "model does not match family \"yolox\": {} has {n} rows, strides {strides:?} on a {input_w}x{input_h} input give {total}",
                outputs[output]
            )));
        }
        Ok(YoloX { output, width, levels })
    }
}

impl Decoder for YoloX {
    fn decode(&mut self, outputs: &dyn Outputs, min_score: f32, out: &mut Vec<Detection>) -> Result<()> {
        let t = outputs.output(self.output)?;
        let w = self.width;
        let total: usize = self.levels.iter().map(|l| l.2).sum();
        if t.data.len() < total * w {
            return Err(Error::model(format!("yolox: output has {} values, expected {}", t.data.len(), total * w)));
        }
        let mut row_index = 0;
        for &(s, gw, cells) in &self.levels {
            for cell in 0..cells {
                let row = &t.data[row_index * w..(row_index + 1) * w];
                row_index += 1;
                let obj = row[4];
                if obj <= min_score {
                    continue;
                }
                let (class_id, cls) = best_class(&row[5..]);
                let score = obj * cls;
                if score <= min_score {
                    continue;
                }
                let (gx, gy) = ((cell % gw) as f32, (cell / gw) as f32);
                let cx = (row[0] + gx) * s;
                let cy = (row[1] + gy) * s;
                let bw = row[2].exp() * s;
                let bh = row[3].exp() * s;
                out.push(Detection { class_id, score, bbox: xywh_to_xyxy(cx, cy, bw, bh) });
            }
        }
        Ok(())
    }

    fn num_classes(&self) -> Option<usize> {
        Some(self.width - 5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::one_output;
    use crate::engine::ElemType;

    /// A 64x64 input at stride 32: 2x2 cells of [x, y, log w, log h, objectness, one class].
    fn yolox() -> YoloX {
        let info = TensorInfo { name: "output".into(), dtype: ElemType::F32, shape: vec![1, -1, 6] };
        YoloX::new(64, 64, &[32], &[info]).unwrap()
    }

    #[test]
    fn cells_decode_to_grid_offsets_times_stride() {
        let mut rows = vec![0.0; 4 * 6];
        // Cell 3 = (1, 1): centre (0.5 + 1)·32 = 48, size e^0·32; score 0.9·0.8.
        rows[18..24].copy_from_slice(&[0.5, 0.5, 0.0, 0.0, 0.9, 0.8]);
        let mut dets = Vec::new();
        yolox().decode(&one_output(vec![1, 4, 6], rows), 0.5, &mut dets).unwrap();
        assert_eq!(dets.len(), 1);
        assert_eq!((dets[0].class_id, dets[0].bbox), (0, [32.0, 32.0, 64.0, 64.0]));
        assert!((dets[0].score - 0.72).abs() < 1e-6);
    }

    /// A dynamic-row model that returns fewer rows than the grid has is a model error, not a
    /// panic of the detector thread.
    #[test]
    fn an_output_shorter_than_the_grid_is_an_error() {
        let mut dets = Vec::new();
        let e = yolox().decode(&one_output(vec![1, 3, 6], vec![0.0; 3 * 6]), 0.5, &mut dets).unwrap_err().to_string();
        assert!(e.contains("expected 24"), "{e}");
    }
}
