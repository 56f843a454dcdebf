//! INT8 calibration images for TensorRT engine builds (`model.calibration_images`,
//! `edgesight engine build --calib DIR`): every `.jpg`/`.jpeg`/`.png` of a folder, decoded by the
//! product's own capture and preprocessed by the CPU preprocessor into the model's input
//! contract, so the calibration sees exactly the tensors inference will see.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::capture::{CaptureOptions, Pull};
use crate::detect::Family;
use crate::detect::family::InputOverrides;
use crate::engine::tensorrt::CalibrationSource;
use crate::engine::{ElemType, TensorInfo};
use crate::error::{Error, Result};
use crate::preprocess::{CpuPreprocessor, DType, InputSlot, Preprocessor, TensorMut};

/// At most this many images are used (TensorRT's guidance is about 500).
const MAX_IMAGES: usize = 1000;

pub struct ImageCalibration {
    files: Vec<PathBuf>,
    next: usize,
    family: Family,
    input: InputOverrides,
    digest: String,
    pre: Option<(Vec<i64>, CpuPreprocessor)>,
}

impl ImageCalibration {
    pub fn new(dir: &Path, family: Family, input: InputOverrides) -> Result<ImageCalibration> {
        let entries = std::fs::read_dir(dir).map_err(|e| {
            Error::config(format!(
                "model.calibration_images: cannot read {}: {e}; give a folder of .jpg/.png images",
                dir.display()
            ))
        })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.extension()
                        .and_then(|x| x.to_str())
                        .is_some_and(|x| ["jpg", "jpeg", "png"].contains(&x.to_ascii_lowercase().as_str()))
            })
            .collect();
        files.sort();
        files.truncate(MAX_IMAGES);
        if files.is_empty() {
            return Err(Error::config(format!(
                "model.calibration_images: {} holds no .jpg, .jpeg or .png images; put a few hundred frames from the \
                 cameras there",
                dir.display()
            )));
        }
        // The images' names and contents: another set of images is another engine.
        let mut all = Vec::new();
        for f in &files {
            let bytes = crate::fsutil::read(f, &crate::fsutil::MEDIA)?;
            all.extend_from_slice(f.file_name().map(|n| n.as_encoded_bytes()).unwrap_or_default());
            all.extend_from_slice(crate::sha256::hex(&bytes).as_bytes());
        }
        log::info!("tensorrt: INT8 calibration with {} images from {}", files.len(), dir.display());
        Ok(ImageCalibration { files, next: 0, family, input, digest: crate::sha256::hex(&all), pre: None })
    }

    /// One image into `out` (one image of the input tensor).
    fn fill(&mut self, path: &Path, out: &mut [f32]) -> Result<()> {
        let (_, pre) = self.pre.as_mut().ok_or_else(|| Error::other("calibration used before its input shape"))?;
        let opts = CaptureOptions { accepts: pre.accepts(), ..CaptureOptions::default() };
        let stop = AtomicBool::new(false);
        let mut cap = crate::runtime::assemble::open_file(path, &opts, &stop)?;
        for _ in 0..10 {
            if let Pull::Frame(f) = cap.pull(Duration::from_secs(1))? {
                let guard = f.map()?;
                pre.run(&guard.data(), InputSlot::Host(TensorMut::F32(out)))?;
                return Ok(());
            }
        }
        Err(Error::source(format!("calibration image {} gave no frame", path.display())))
    }
}

impl CalibrationSource for ImageCalibration {
    fn next(&mut self, shape: &[i64]) -> Result<Option<Vec<f32>>> {
        if self.next >= self.files.len() {
            return Ok(None);
        }
        if self.pre.as_ref().is_none_or(|(s, _)| s != shape) {
            let info = TensorInfo { name: "input".into(), dtype: ElemType::F32, shape: shape.to_vec() };
            let spec = self.family.resolve_input(&info, &self.input)?;
            if spec.dtype != DType::F32 {
                return Err(Error::model("INT8 calibration needs a model with an f32 input"));
            }
            self.pre = Some((shape.to_vec(), CpuPreprocessor::new(spec)));
        }
        let batch = shape.first().copied().unwrap_or(1).max(1) as usize;
        let per = self.pre.as_ref().map(|(_, p)| Preprocessor::spec(p).len()).unwrap_or(0);
        let mut out = vec![0f32; batch * per];
        for (i, chunk) in out.chunks_exact_mut(per.max(1)).enumerate() {
            // A last, partial batch is completed with images from the start.
            let path = self.files[(self.next + i) % self.files.len()].clone();
            self.fill(&path, chunk)?;
        }
        self.next += batch;
        Ok(Some(out))
    }

    fn digest(&self) -> String {
        self.digest.clone()
    }
}
