//! The detector: preprocess → engine → decode for a batch of frames. Built by `assemble` from the
//! `[model]` config; it only knows the seams (`Preprocessor`, `Engine`, `Decoder`), never which
//! implementation is behind them or where their memory lives.

use std::time::{Duration, Instant};

use crate::capture::{Frame, FrameGuard};
use crate::detect::{Decoder, Detection, Family, Labels, PostProcess};
use crate::engine::{Engine, ImageOutputs};
use crate::error::{Error, Result};
use crate::metrics::StageTimes;
use crate::preprocess::{Geometry, Preprocessor};

/// The detections of one image: the reported ones first, then (with a tracker) the low-score
/// ones only the tracker sees.
#[derive(Debug, Clone, Copy)]
pub struct Found<'a> {
    pub all: &'a [Detection],
    pub reported: usize,
}

impl<'a> Found<'a> {
    /// What events show: the detections above the reporting thresholds.
    pub fn reported(&self) -> &'a [Detection] {
        &self.all[..self.reported.min(self.all.len())]
    }
}

pub struct Detector {
    engine: Box<dyn Engine>,
    pre: Box<dyn Preprocessor>,
    decoder: Box<dyn Decoder>,
    post: PostProcess,
    labels: Labels,
    family: Family,
    /// Largest batch the engine was allocated for.
    batch: usize,
    /// Frames mapped for the batch in flight: released once the engine has run.
    guards: Vec<FrameGuard>,
    geometries: Vec<Geometry>,
    low_floor: Option<f32>,
}

/// The parts of a detector, as `assemble` makes them.
pub struct DetectorParts {
    pub engine: Box<dyn Engine>,
    pub pre: Box<dyn Preprocessor>,
    pub decoder: Box<dyn Decoder>,
    pub post: PostProcess,
    pub labels: Labels,
    pub family: Family,
    pub batch: usize,
}

impl Detector {
    pub fn new(p: DetectorParts) -> Detector {
        Detector {
            engine: p.engine,
            pre: p.pre,
            decoder: p.decoder,
            post: p.post,
            labels: p.labels,
            family: p.family,
            batch: p.batch,
            guards: Vec::with_capacity(p.batch),
            geometries: Vec::with_capacity(p.batch),
            low_floor: None,
        }
    }

    /// Keeps the low-score floor of the post-processing it replaces.
    pub fn set_postprocess(&mut self, mut post: PostProcess) {
        post.set_low_floor(self.low_floor);
        self.post = post;
    }

    /// A tracker's low-score floor (`tracking.low_score`), or None without a tracker.
    pub fn set_low_floor(&mut self, floor: Option<f32>) {
        self.low_floor = floor;
        self.post.set_low_floor(floor);
    }

    pub fn preprocessor(&self) -> &dyn Preprocessor {
        self.pre.as_ref()
    }

    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    pub fn family(&self) -> Family {
        self.family
    }

    pub fn engine_name(&self) -> &'static str {
        self.engine.name()
    }

    /// The engine alone, for `bench`'s ceiling: a full batch prepared once from a grey frame, then
    /// run back to back (after two unmeasured runs) until `runs` runs or `budget` has passed, at
    /// least three. Returns each run's time divided by the batch: the time per image.
    pub fn time_engine(&mut self, runs: usize, budget: Duration) -> Result<Vec<Duration>> {
        let n = self.batch;
        let (w, h) = (640u32, 480u32);
        let grey = vec![114u8; (w * h * 3) as usize];
        let view =
            crate::preprocess::FrameView::packed(&grey, w, h, w as usize * 3, crate::preprocess::ChannelOrder::Bgr);
        for i in 0..n {
            let slot = self.engine.slot(n, i)?;
            self.pre.run(&crate::preprocess::FrameData::Host(view), slot)?;
        }
        for _ in 0..2 {
            self.engine.run(n)?;
        }
        let start = Instant::now();
        let mut times = Vec::with_capacity(runs);
        while times.len() < 3 || (times.len() < runs && start.elapsed() < budget) {
            let t = Instant::now();
            self.engine.run(n)?;
            times.push(t.elapsed() / n as u32);
        }
        Ok(times)
    }

    /// Runs the model on `frames` as one batch and calls `each(i, found, labels, times)` for
    /// every frame in order; boxes are in the frame's source pixels. Stage times are per image:
    /// a batch's preprocessing and inference time divided by its size.
    pub fn detect_batch<'f>(
        &mut self,
        frames: impl ExactSizeIterator<Item = &'f Frame>,
        mut each: impl FnMut(usize, Found<'_>, &Labels, &StageTimes) -> Result<()>,
    ) -> Result<()> {
        let n = frames.len();
        if n == 0 {
            return Ok(());
        }
        if n > self.batch {
            return Err(Error::other(format!("a batch of {n} frames for a detector of batch {}", self.batch)));
        }
        let t0 = Instant::now();
        let Detector { engine, pre, decoder, post, labels, guards, geometries, .. } = self;
        guards.clear();
        geometries.clear();
        let result = (|| {
            for (i, frame) in frames.enumerate() {
                let guard = frame.map()?;
                let geometry = pre.run(&guard.data(), engine.slot(n, i)?)?;
                geometries.push(frame.to_source_geometry(geometry));
                // The mapping stays until the engine has consumed the tensor.
                guards.push(guard);
            }
            let t1 = Instant::now();
            engine.run(n)?;
            Ok(t1)
        })();
        guards.clear();
        let t1 = result?;
        let t2 = Instant::now();
        let per = |d: Duration| d / n as u32;
        let mut times = StageTimes { preprocess: per(t1 - t0), inference: per(t2 - t1), decode: Duration::ZERO };
        for (i, geometry) in geometries.iter().enumerate() {
            let t = Instant::now();
            post.run(decoder.as_mut(), &ImageOutputs { batch: engine.results(), image: i }, geometry)?;
            let found = Found { all: post.detections(), reported: post.reported() };
            times.decode = t.elapsed();
            each(i, found, labels, &times)?;
        }
        Ok(())
    }
}
