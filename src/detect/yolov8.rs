//! YOLOv8 / YOLO11: one output `[1, 4 + C, N]` (transposed) = cx, cy, w, h (input pixels) then
//! class scores; no objectness. Score = best class score.

use super::{Decoder, Detection, best_class_strided, single_output, xywh_to_xyxy};
use crate::engine::{Outputs, ShapeDisplay, TensorInfo};
use crate::error::{Error, Result};

pub struct YoloV8 {
    output: usize,
    channels: usize,
}

impl YoloV8 {
    pub fn new(outputs: &[TensorInfo]) -> Result<YoloV8> {
        let (output, _) =
            single_output("yolov8", "[1,4+C,N] (cx, cy, w, h, C class scores; N anchors)", outputs, 0, false)?;
        let ch = outputs[output].shape[1];
        if (0..5).contains(&ch) {
            return Err(Error::model(format!(
                "model does not match family \"yolov8\": output {} has {ch} channels, expected 4 + C",
                outputs[output]
            )));
        }
        Ok(YoloV8 { output, channels: ch.max(0) as usize })
    }
}

impl Decoder for YoloV8 {
    fn decode(&mut self, outputs: &dyn Outputs, min_score: f32, out: &mut Vec<Detection>) -> Result<()> {
        let t = outputs.output(self.output)?;
        let ch = if self.channels > 0 { self.channels } else { t.shape.get(1).copied().unwrap_or(0) as usize };
        if ch < 5 || t.data.len() % ch != 0 {
            return Err(Error::model(format!("yolov8: output shape {} is not [1,4+C,N]", ShapeDisplay(t.shape))));
        }
        let n = t.data.len() / ch;
        let d = t.data;
        for i in 0..n {
            let (class_id, score) = best_class_strided(&d[4 * n + i..], n, ch - 4);
            if score > min_score {
                out.push(Detection { class_id, score, bbox: xywh_to_xyxy(d[i], d[n + i], d[2 * n + i], d[3 * n + i]) });
            }
        }
        Ok(())
    }

    fn num_classes(&self) -> Option<usize> {
        (self.channels > 4).then(|| self.channels - 4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::one_output;
    use crate::engine::ElemType;

    /// An export with a dynamic channel dimension (`[1, -1, -1]`): the class count comes from
    /// each run's output shape instead of the model's.
    #[test]
    fn a_dynamic_channel_count_is_read_from_the_output() {
        let info = TensorInfo { name: "output0".into(), dtype: ElemType::F32, shape: vec![1, -1, -1] };
        let mut d = YoloV8::new(&[info]).unwrap();
        // [1, 4 + 2, 2]: anchor 1 is class 1 at 0.9, centred at (30, 40), 20 × 10.
        #[rustfmt::skip]
        let data = vec![
            0.0, 30.0, // cx
            0.0, 40.0, // cy
            0.0, 20.0, // w
            0.0, 10.0, // h
            0.1, 0.2, // class 0
            0.1, 0.9, // class 1
        ];
        let mut dets = Vec::new();
        d.decode(&one_output(vec![1, 6, 2], data), 0.5, &mut dets).unwrap();
        assert_eq!(dets.len(), 1);
        assert_eq!((dets[0].class_id, dets[0].score, dets[0].bbox), (1, 0.9, [20.0, 35.0, 40.0, 45.0]));
    }

    /// Outputs that are not `[1, 4 + C, N]` are model errors, not garbage detections or a panic.
    #[test]
    fn an_output_without_classes_or_with_a_ragged_length_is_an_error() {
        let info = TensorInfo { name: "output0".into(), dtype: ElemType::F32, shape: vec![1, -1, -1] };
        let mut d = YoloV8::new(&[info]).unwrap();
        let mut dets = Vec::new();
        // Four channels: boxes without a single class score.
        assert!(d.decode(&one_output(vec![1, 4, 2], vec![1.0; 8]), 0.5, &mut dets).is_err());
        // Six channels, but 13 values: not a whole number of anchors.
        assert!(d.decode(&one_output(vec![1, 6, 2], vec![1.0; 13]), 0.5, &mut dets).is_err());
        assert!(dets.is_empty());
        // Five channels is a one-class detector (a person-only export): valid.
        d.decode(&one_output(vec![1, 5, 1], vec![10.0, 10.0, 4.0, 4.0, 0.8]), 0.5, &mut dets).unwrap();
        assert_eq!(dets.len(), 1);
    }
}
