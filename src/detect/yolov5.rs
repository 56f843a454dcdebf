//! YOLOv5 / YOLOv7: one output `[1, N, 5 + C]` = cx, cy, w, h (input pixels), objectness, class
//! scores (sigmoid applied in the export). Score = objectness × best class score.

use super::{Decoder, Detection, best_class, single_output, xywh_to_xyxy};
use crate::engine::{Outputs, TensorInfo};
use crate::error::Result;

pub struct YoloV5 {
    output: usize,
    stride: usize,
}

impl YoloV5 {
    pub fn new(outputs: &[TensorInfo]) -> Result<YoloV5> {
        let (output, last) =
            single_output("yolov5", "[1,N,5+C] (cx, cy, w, h, objectness, C class scores)", outputs, 6, true)?;
        Ok(YoloV5 { output, stride: last })
    }
}

impl Decoder for YoloV5 {
    fn decode(&mut self, outputs: &dyn Outputs, min_score: f32, out: &mut Vec<Detection>) -> Result<()> {
        let t = outputs.output(self.output)?;
        for row in t.data.chunks_exact(self.stride) {
            let obj = row[4];
            if obj <= min_score {
                // Class scores are at most 1, so the product cannot pass either.
                continue;
            }
            let (class_id, cls) = best_class(&row[5..]);
            let score = obj * cls;
            if score > min_score {
                out.push(Detection { class_id, score, bbox: xywh_to_xyxy(row[0], row[1], row[2], row[3]) });
            }
        }
        Ok(())
    }

    fn num_classes(&self) -> Option<usize> {
        Some(self.stride - 5)
    }
}
