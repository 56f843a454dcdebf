//! Model families: the default input contract of each and the decoder that reads its outputs.
//! docs/specs/model_interface.md describes the same contracts for users.

use std::fmt;

use serde::Deserialize;

use super::{Decoder, nanodet::NanoDet, ssd::Ssd, yolov5::YoloV5, yolov8::YoloV8, yolox::YoloX};
use crate::engine::{ElemType, ShapeDisplay, TensorInfo};
use crate::error::{Error, Result};
use crate::preprocess::{ChannelOrder, DType, InputSpec, Layout, Letterbox, Pad};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Nanodet,
    Ssd,
    Yolov5,
    Yolov8,
    Yolox,
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Nanodet => "nanodet",
            Family::Ssd => "ssd",
            Family::Yolov5 => "yolov5",
            Family::Yolov8 => "yolov8",
            Family::Yolox => "yolox",
        })
    }
}

/// Parts of the input contract a config may override (all optional).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InputOverrides {
    /// (width, height)
    pub size: Option<(u32, u32)>,
    pub layout: Option<Layout>,
    pub channel_order: Option<ChannelOrder>,
    pub mean: Option<[f32; 3]>,
    pub std: Option<[f32; 3]>,
    pub letterbox: Option<Letterbox>,
    pub pad: Option<Pad>,
}

/// Family-specific decoding options from the config.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecodeOptions {
    /// Feature-map strides (nanodet, yolox); default 8, 16, 32.
    pub strides: Option<Vec<u32>>,
    /// NanoDet's distribution size minus one, when the box outputs cannot be told from the scores.
    pub reg_max: Option<u32>,
}

impl Family {
    /// The input contract a model of this family has unless the config says otherwise.
    pub fn default_input(self) -> InputSpec {
        match self {
            Family::Nanodet => InputSpec {
                width: 416,
                height: 416,
                layout: Layout::Nchw,
                dtype: DType::F32,
                channel_order: ChannelOrder::Bgr,
                mean: [103.53, 116.28, 123.675],
                std: [57.375, 57.12, 58.395],
                letterbox: Letterbox::TopLeft,
                pad: Pad::Tensor(0.0),
            },
            Family::Ssd => InputSpec {
                width: 300,
                height: 300,
                layout: Layout::Nhwc,
                dtype: DType::U8,
                channel_order: ChannelOrder::Rgb,
                mean: [0.0; 3],
                std: [1.0; 3],
                letterbox: Letterbox::Stretch,
                pad: Pad::Pixel(0.0),
            },
            Family::Yolov5 | Family::Yolov8 => InputSpec {
                width: 640,
                height: 640,
                layout: Layout::Nchw,
                dtype: DType::F32,
                channel_order: ChannelOrder::Rgb,
                mean: [0.0; 3],
                std: [255.0; 3],
                letterbox: Letterbox::Center,
                pad: Pad::Pixel(114.0),
            },
            // Official YOLOX exports (Megvii, since 0.2): BGR, raw 0..255, top-left, grey 114.
            Family::Yolox => InputSpec {
                width: 640,
                height: 640,
                layout: Layout::Nchw,
                dtype: DType::F32,
                channel_order: ChannelOrder::Bgr,
                mean: [0.0; 3],
                std: [1.0; 3],
                letterbox: Letterbox::TopLeft,
                pad: Pad::Pixel(114.0),
            },
        }
    }

    /// Resolves the input contract from the family defaults, the config and what the model declares.
    /// The model's static dimensions win over defaults; a config that contradicts them is an error.
    pub fn resolve_input(self, declared: &TensorInfo, o: &InputOverrides) -> Result<InputSpec> {
        let mut spec = self.default_input();
        let err = |why: String| Error::model(format!("model input {declared} does not fit family \"{self}\": {why}"));
        let s = &declared.shape;
        if s.len() != 4 {
            return Err(err(format!("expected a 4-D image tensor, found rank {}", s.len())));
        }
        let shape_layout = match (s[1] == 3, s[3] == 3) {
            (true, false) => Some(Layout::Nchw),
            (false, true) => Some(Layout::Nhwc),
            _ => None,
        };
        spec.layout = match (o.layout, shape_layout) {
            (Some(l), Some(m)) if l != m => {
                return Err(err(format!(
                    "model.layout = {l:?} but the tensor is {m:?}; remove the key or fix the export"
                )));
            }
            (Some(l), _) | (None, Some(l)) => l,
            (None, None) => spec.layout,
        };
        let chan = match spec.layout {
            Layout::Nchw => s[1],
            Layout::Nhwc => s[3],
        };
        if chan >= 0 && chan != 3 {
            return Err(err(format!("expected 3 colour channels, found {chan}")));
        }
        let declared_dtype = match declared.dtype {
            ElemType::F32 => DType::F32,
            ElemType::F16 => DType::F16,
            ElemType::U8 => DType::U8,
            ref other => {
                return Err(err(format!("input element type {other} is not supported (f32, f16 or u8)")));
            }
        };
        // A different element type than the family's usually means the wrong family; a config
        // that sets its own normalisation has said what the model wants.
        // f16 and f32 inputs take the same normalisation (an FP16 TensorRT engine of an f32 family).
        let same_kind = |a: DType, b: DType| a == b || (a != DType::U8 && b != DType::U8);
        if !same_kind(declared_dtype, spec.dtype) && o.mean.is_none() && o.std.is_none() {
            return Err(Error::model(format!(
                "model does not match family \"{self}\": its input {declared} is {}, the family takes {}; \
                 check model.family (or set model.mean and model.std for an unusual export)",
                declared.dtype,
                match spec.dtype {
                    DType::F32 => "f32",
                    DType::F16 => "f16",
                    DType::U8 => "u8",
                }
            )));
        }
        spec.dtype = declared_dtype;
        let (dh, dw) = match spec.layout {
            Layout::Nchw => (s[2], s[3]),
            Layout::Nhwc => (s[1], s[2]),
        };
        if let Some((w, h)) = o.size
            && ((dw >= 0 && dw != w as i64) || (dh >= 0 && dh != h as i64))
        {
            return Err(err(format!(
                "model.input_size = [{w}, {h}] but the model takes {}x{} (width x height); remove the key or re-export",
                ShapeDisplay(&[dw]),
                ShapeDisplay(&[dh])
            )));
        }
        let (fw, fh) = o.size.unwrap_or((spec.width, spec.height));
        spec.width = if dw > 0 { dw as u32 } else { fw };
        spec.height = if dh > 0 { dh as u32 } else { fh };
        if let Some(c) = o.channel_order {
            spec.channel_order = c;
        }
        if let Some(m) = o.mean {
            spec.mean = m;
        }
        if let Some(sd) = o.std {
            spec.std = sd;
        }
        if let Some(l) = o.letterbox {
            spec.letterbox = l;
        }
        if let Some(p) = o.pad {
            spec.pad = p;
        }
        if spec.dtype == DType::U8 && (spec.mean != [0.0; 3] || spec.std != [1.0; 3]) {
            return Err(
                err("a u8 input takes raw pixels: model.mean must be [0, 0, 0] and model.std [1, 1, 1]".into()),
            );
        }
        Ok(spec)
    }

    /// Checks the model's outputs against the family and builds its decoder.
    pub fn decoder(self, input: &InputSpec, outputs: &[TensorInfo], opts: &DecodeOptions) -> Result<Box<dyn Decoder>> {
        let strides = opts.strides.clone().unwrap_or_else(|| vec![8, 16, 32]);
        Ok(match self {
            Family::Nanodet => Box::new(NanoDet::new(input.width, input.height, &strides, opts.reg_max, outputs)?),
            Family::Ssd => Box::new(Ssd::new(input.width, input.height, outputs)?),
            Family::Yolov5 => Box::new(YoloV5::new(outputs)?),
            Family::Yolov8 => Box::new(YoloV8::new(outputs)?),
            Family::Yolox => Box::new(YoloX::new(input.width, input.height, &strides, outputs)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(dtype: ElemType) -> TensorInfo {
        TensorInfo { name: "images".into(), dtype, shape: vec![1, 3, 640, 640] }
    }

    /// A u8 model under an f32 family, or an f32 model under a u8 family, is most likely the wrong
    /// family and is refused as such, unless the config sets its own normalisation; f16 and f32
    /// are the same kind (an FP16 engine of an f32 family).
    #[test]
    fn an_input_of_the_other_element_kind_is_the_wrong_family() {
        let none = InputOverrides::default();
        for (family, dtype) in [(Family::Yolox, ElemType::U8), (Family::Ssd, ElemType::F32)] {
            let e = family.resolve_input(&input(dtype), &none).unwrap_err().to_string();
            assert!(e.contains(&format!("does not match family \"{family}\"")), "{family}: {e}");
        }
        assert_eq!(Family::Yolox.resolve_input(&input(ElemType::F16), &none).unwrap().dtype, DType::F16);
        let own = InputOverrides { mean: Some([0.0; 3]), std: Some([1.0; 3]), ..InputOverrides::default() };
        assert_eq!(Family::Yolox.resolve_input(&input(ElemType::U8), &own).unwrap().dtype, DType::U8);
    }

    /// A u8 input carries raw pixels: a mean or a std, either one alone, cannot be applied to it
    /// and is refused rather than silently ignored.
    #[test]
    fn a_u8_input_refuses_a_mean_or_a_std() {
        let u8_input = input(ElemType::U8);
        for o in [
            InputOverrides { mean: Some([1.0; 3]), ..InputOverrides::default() },
            InputOverrides { std: Some([2.0; 3]), ..InputOverrides::default() },
        ] {
            let e = Family::Ssd.resolve_input(&u8_input, &o).unwrap_err().to_string();
            assert!(e.contains("a u8 input takes raw pixels"), "{o:?}: {e}");
        }
    }
}
