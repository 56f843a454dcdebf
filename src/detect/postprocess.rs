//! After decoding: per-class thresholds, class allow-list, NMS, detection cap, and boxes mapped
//! to source-frame pixels. Works in one reused buffer.

use super::nms::{Nms, by_score, sort_by_score};
use super::{Decoder, Detection};
use crate::engine::Outputs;
use crate::error::Result;
use crate::preprocess::Geometry;

/// Which classes are reported and from which score, by class id.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassPolicy {
    /// Threshold for classes without their own (a detection must score strictly above it).
    pub default_threshold: f32,
    /// Threshold per class id; `None` means the default.
    pub thresholds: Vec<Option<f32>>,
    /// When set, only these class ids are reported.
    pub allow: Option<Vec<bool>>,
}

impl ClassPolicy {
    pub fn new(default_threshold: f32) -> ClassPolicy {
        ClassPolicy { default_threshold, thresholds: Vec::new(), allow: None }
    }

    pub fn set_threshold(&mut self, class: u32, t: f32) {
        let i = class as usize;
        if self.thresholds.len() <= i {
            self.thresholds.resize(i + 1, None);
        }
        self.thresholds[i] = Some(t);
    }

    pub fn allow_only(&mut self, classes: &[u32]) {
        let n = classes.iter().map(|&c| c as usize + 1).max().unwrap_or(0);
        let mut v = vec![false; n];
        for &c in classes {
            v[c as usize] = true;
        }
        self.allow = Some(v);
    }

    pub fn threshold(&self, class: u32) -> f32 {
        self.thresholds.get(class as usize).copied().flatten().unwrap_or(self.default_threshold)
    }

    pub fn allowed(&self, class: u32) -> bool {
        match &self.allow {
            None => true,
            Some(v) => v.get(class as usize).copied().unwrap_or(false),
        }
    }

    /// Lowest threshold of any reported class: what the decoder may skip below.
    pub fn min_threshold(&self) -> f32 {
        let mut m = self.default_threshold;
        for (i, t) in self.thresholds.iter().enumerate() {
            if let Some(t) = t
                && self.allowed(i as u32)
            {
                m = m.min(*t);
            }
        }
        m
    }
}

pub struct PostProcess {
    policy: ClassPolicy,
    /// Where the decoder may stop: the lowest reporting threshold, or the tracker's low floor.
    min_score: f32,
    /// A tracker's low-score floor: detections above it but not reported are kept after the
    /// reported ones, for the tracker only.
    low_floor: Option<f32>,
    /// How many of `dets` (the first ones) are reported.
    reported: usize,
    nms_iou: f32,
    max_detections: usize,
    nms: Nms,
    dets: Vec<Detection>,
}

impl PostProcess {
    pub fn new(policy: ClassPolicy, nms_iou: f32, max_detections: usize) -> PostProcess {
        PostProcess {
            min_score: policy.min_threshold(),
            low_floor: None,
            reported: 0,
            policy,
            nms_iou,
            max_detections,
            nms: Nms::default(),
            dets: Vec::with_capacity(256),
        }
    }

    pub fn policy(&self) -> &ClassPolicy {
        &self.policy
    }

    /// With `Some(floor)`, `run` also returns the detections above `floor` that the policy does
    /// not report, after the reported ones (a tracker's low-score association); `None`: only
    /// reported ones, as without a tracker.
    pub fn set_low_floor(&mut self, floor: Option<f32>) {
        self.low_floor = floor;
        let reported = self.policy.min_threshold();
        self.min_score = floor.map_or(reported, |f| f.min(reported));
    }

    /// The detections of the latest `run`.
    pub fn detections(&self) -> &[Detection] {
        &self.dets
    }

    /// How many of the detections of the latest `run` are reported: the first ones; the rest
    /// are the low-score ones asked for with `set_low_floor`.
    pub fn reported(&self) -> usize {
        self.reported
    }

    /// Decodes the engine outputs and returns the final detections, boxes in source pixels,
    /// highest score first.
    pub fn run(
        &mut self,
        decoder: &mut dyn Decoder,
        outputs: &dyn Outputs,
        geometry: &Geometry,
    ) -> Result<&[Detection]> {
        self.dets.clear();
        decoder.decode(outputs, self.min_score, &mut self.dets)?;
        let policy = &self.policy;
        let floor = |c: u32| self.low_floor.map_or(policy.threshold(c), |f| f.min(policy.threshold(c)));
        self.dets.retain(|d| policy.allowed(d.class_id) && d.score > floor(d.class_id));
        if decoder.nms_in_graph() {
            sort_by_score(&mut self.dets);
        } else {
            self.nms.run(&mut self.dets, self.nms_iou);
        }
        // NMS ran in model-input pixels (as the exporters do); now map to the frame and drop boxes
        // that lie entirely in the letterbox padding or outside the frame before capping.
        for d in &mut self.dets {
            d.bbox = geometry.to_source(d.bbox);
        }
        self.dets.retain(|d| d.bbox[2] > d.bbox[0] && d.bbox[3] > d.bbox[1]);
        if self.low_floor.is_none() {
            self.dets.truncate(self.max_detections);
            self.reported = self.dets.len();
            return Ok(&self.dets);
        }
        // NMS ran on reported and low-score boxes together: within a class the reported ones are
        // the best, so no low-score box suppressed one of them and they are exactly the boxes a
        // run without a tracker reports. Reported first, each part in `sort_by_score`'s order
        // (a total order, so an unstable sort, which allocates nothing, is deterministic), each
        // part capped on its own.
        let policy = &self.policy;
        let reported = |d: &Detection| d.score > policy.threshold(d.class_id);
        self.dets.sort_unstable_by(|a, b| reported(b).cmp(&reported(a)).then_with(|| by_score(a, b)));
        let n = self.dets.iter().take_while(|d| reported(d)).count();
        let kept = n.min(self.max_detections);
        // Moves the low part right behind the capped reported part, in place, and caps it.
        self.dets.drain(kept..n);
        self.dets.truncate(kept + self.max_detections);
        self.reported = kept;
        Ok(&self.dets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_thresholds_and_allow_list() {
        let mut p = ClassPolicy::new(0.35);
        p.set_threshold(32, 0.6);
        p.set_threshold(7, 0.2);
        assert_eq!(p.threshold(32), 0.6);
        assert_eq!(p.threshold(0), 0.35);
        assert_eq!(p.threshold(500), 0.35);
        assert_eq!(p.min_threshold(), 0.2);
        p.allow_only(&[0, 32]);
        assert!(p.allowed(0) && p.allowed(32) && !p.allowed(7) && !p.allowed(81));
        // Class 7 is no longer reported, so its low threshold no longer lowers the decoder's floor.
        assert_eq!(p.min_threshold(), 0.35);
    }

    /// Emits fixed candidates (model-input pixels), whatever the outputs.
    struct Fixed(Vec<Detection>);

    impl Decoder for Fixed {
        fn decode(&mut self, _: &dyn Outputs, min_score: f32, out: &mut Vec<Detection>) -> Result<()> {
            out.extend(self.0.iter().filter(|d| d.score > min_score));
            Ok(())
        }
        fn num_classes(&self) -> Option<usize> {
            None
        }
    }

    /// The tracker's low floor adds boxes after the reported ones and never changes those.
    #[test]
    fn the_low_floor_appends_low_boxes_and_keeps_the_reported_ones() {
        let d = |class_id, score, x: f32| Detection { class_id, score, bbox: [x, 10.0, x + 20.0, 60.0] };
        let cands = vec![d(0, 0.9, 0.0), d(0, 0.2, 100.0), d(1, 0.5, 200.0), d(1, 0.3, 300.0), d(0, 0.05, 400.0)];
        let mut policy = ClassPolicy::new(0.35);
        policy.set_threshold(1, 0.45);
        let g = Geometry::new(640, 640, 640, 640, crate::preprocess::Letterbox::TopLeft);
        let outputs = crate::detect::TestOutputs(Vec::new());
        let mut plain = PostProcess::new(policy.clone(), 0.6, 100);
        let reported = plain.run(&mut Fixed(cands.clone()), &outputs, &g).unwrap().to_vec();
        assert_eq!(plain.reported(), reported.len());
        let mut tracked = PostProcess::new(policy, 0.6, 100);
        tracked.set_low_floor(Some(0.1));
        let all = tracked.run(&mut Fixed(cands), &outputs, &g).unwrap().to_vec();
        assert_eq!(&all[..tracked.reported()], &reported[..], "the reported part is what runs without a tracker");
        let scores: Vec<f32> = all.iter().map(|d| d.score).collect();
        assert_eq!(scores, [0.9, 0.5, 0.3, 0.2], "low ones after, best first; 0.05 is below the floor");
        assert_eq!(tracked.reported(), 2);
        assert_eq!(tracked.detections(), &all[..]);
    }

    /// With a tracker each part has its own cap, and "reported" stays "strictly above".
    #[test]
    fn the_low_floor_caps_each_part_and_keeps_the_strict_threshold() {
        let d = |score, x: f32| Detection { class_id: 0, score, bbox: [x, 10.0, x + 20.0, 60.0] };
        let cands = vec![d(0.9, 0.0), d(0.35, 100.0), d(0.3, 200.0), d(0.2, 300.0), d(0.15, 400.0)];
        let g = Geometry::new(640, 640, 640, 640, crate::preprocess::Letterbox::TopLeft);
        let outputs = crate::detect::TestOutputs(Vec::new());
        let mut post = PostProcess::new(ClassPolicy::new(0.35), 0.6, 2);
        post.set_low_floor(Some(0.1));
        post.run(&mut Fixed(cands.clone()), &outputs, &g).unwrap();
        let scores: Vec<f32> = post.detections().iter().map(|d| d.score).collect();
        assert_eq!((post.reported(), scores), (1, vec![0.9, 0.35, 0.3]), "0.35 is not above 0.35; two low ones");
        let mut reported = cands.clone();
        reported.iter_mut().for_each(|d| d.score = 0.9 - d.bbox[0] / 1000.0);
        post.run(&mut Fixed(reported), &outputs, &g).unwrap();
        assert_eq!((post.reported(), post.detections().len()), (2, 2), "at most max_detections reported");
        post.set_low_floor(None);
        assert_eq!(post.run(&mut Fixed(cands), &outputs, &g).unwrap().len(), 1, "no floor: reported ones only");
    }
    /// The class allow-list and each class's own threshold (strictly above) decide what is
    /// kept, and boxes with no area left after mapping to the frame are dropped.
    #[test]
    fn allow_list_class_thresholds_and_empty_boxes() {
        let d = |class_id, score, bbox| Detection { class_id, score, bbox };
        let cands = vec![
            d(0, 0.9, [0.0, 10.0, 20.0, 60.0]),
            d(7, 0.95, [100.0, 10.0, 120.0, 60.0]),
            d(1, 0.45, [200.0, 10.0, 220.0, 60.0]),
            d(1, 0.46, [300.0, 10.0, 320.0, 60.0]),
            d(0, 0.8, [400.0, 50.0, 420.0, 50.0]),
            d(0, 0.8, [500.0, 10.0, 500.0, 60.0]),
        ];
        let mut policy = ClassPolicy::new(0.35);
        policy.set_threshold(1, 0.45);
        policy.allow_only(&[0, 1]);
        let g = Geometry::new(640, 640, 640, 640, crate::preprocess::Letterbox::TopLeft);
        let outputs = crate::detect::TestOutputs(Vec::new());
        for floor in [None, Some(0.1)] {
            let mut post = PostProcess::new(policy.clone(), 0.6, 100);
            post.set_low_floor(floor);
            let kept: Vec<(u32, f32)> = post
                .run(&mut Fixed(cands.clone()), &outputs, &g)
                .unwrap()
                .iter()
                .map(|d| (d.class_id, d.score))
                .collect();
            let reported = &kept[..post.reported()];
            assert_eq!(
                reported,
                [(0, 0.9), (1, 0.46)],
                "floor {floor:?}: class 7 not allowed, 0.45 not above 0.45, no empty boxes"
            );
            assert!(
                !kept.iter().any(|(c, _)| *c == 7),
                "floor {floor:?}: a class outside the list is never kept: {kept:?}"
            );
            assert!(!kept.iter().any(|(_, s)| *s == 0.8), "floor {floor:?}: empty boxes dropped: {kept:?}");
        }
    }
}
