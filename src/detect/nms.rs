//! Per-class greedy non-maximum suppression, in place, without allocating once warmed up.

use super::Detection;

/// Intersection over union of two `[x1, y1, x2, y2]` boxes (0 when either is empty).
pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let area_a = (a[2] - a[0]).max(0.0) * (a[3] - a[1]).max(0.0);
    let area_b = (b[2] - b[0]).max(0.0) * (b[3] - b[1]).max(0.0);
    let union = area_a + area_b - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// Sorts by score, highest first; ties broken by class and box so results are deterministic.
pub fn sort_by_score(dets: &mut [Detection]) {
    dets.sort_unstable_by(by_score);
}

/// The order of `sort_by_score`.
pub fn by_score(a: &Detection, b: &Detection) -> std::cmp::Ordering {
    b.score
        .total_cmp(&a.score)
        .then(a.class_id.cmp(&b.class_id))
        .then(a.bbox[0].total_cmp(&b.bbox[0]))
        .then(a.bbox[1].total_cmp(&b.bbox[1]))
}

/// Reusable state of the NMS stage.
#[derive(Default)]
pub struct Nms {
    keep: Vec<bool>,
}

impl Nms {
    /// Removes, within each class, every box whose IoU with a higher-scoring kept box exceeds
    /// `iou_threshold`. Leaves `dets` sorted by score, highest first.
    pub fn run(&mut self, dets: &mut Vec<Detection>, iou_threshold: f32) {
        // Group by class, best first inside each group.
        dets.sort_unstable_by(|a, b| {
            a.class_id
                .cmp(&b.class_id)
                .then(b.score.total_cmp(&a.score))
                .then(a.bbox[0].total_cmp(&b.bbox[0]))
                .then(a.bbox[1].total_cmp(&b.bbox[1]))
        });
        self.keep.clear();
        self.keep.resize(dets.len(), true);
        let mut start = 0;
        while start < dets.len() {
            let class = dets[start].class_id;
            let end = start + dets[start..].iter().take_while(|d| d.class_id == class).count();
            for i in start..end {
                if !self.keep[i] {
                    continue;
                }
                for j in i + 1..end {
                    if self.keep[j] && iou(&dets[i].bbox, &dets[j].bbox) > iou_threshold {
                        self.keep[j] = false;
                    }
                }
            }
            start = end;
        }
        let mut idx = 0;
        let keep = &self.keep;
        dets.retain(|_| {
            let k = keep[idx];
            idx += 1;
            k
        });
        sort_by_score(dets);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(class_id: u32, score: f32, bbox: [f32; 4]) -> Detection {
        Detection { class_id, score, bbox }
    }

    #[test]
    fn iou_of_known_boxes() {
        assert_eq!(iou(&[0.0, 0.0, 10.0, 10.0], &[0.0, 0.0, 10.0, 10.0]), 1.0);
        assert_eq!(iou(&[0.0, 0.0, 10.0, 10.0], &[10.0, 10.0, 20.0, 20.0]), 0.0);
        // Half overlap: inter 50, union 150.
        assert!((iou(&[0.0, 0.0, 10.0, 10.0], &[5.0, 0.0, 15.0, 10.0]) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(iou(&[0.0, 0.0, 0.0, 0.0], &[0.0, 0.0, 0.0, 0.0]), 0.0);
    }

    #[test]
    fn suppresses_within_class_only_and_sorts_by_score() {
        let mut v = vec![
            d(0, 0.5, [1.0, 1.0, 11.0, 11.0]),
            d(0, 0.9, [0.0, 0.0, 10.0, 10.0]),
            d(1, 0.7, [0.0, 0.0, 10.0, 10.0]),
            d(0, 0.6, [50.0, 50.0, 60.0, 60.0]),
        ];
        Nms::default().run(&mut v, 0.6);
        let got: Vec<(u32, f32)> = v.iter().map(|d| (d.class_id, d.score)).collect();
        assert_eq!(got, vec![(0, 0.9), (1, 0.7), (0, 0.6)]);
    }

    #[test]
    fn a_suppressed_box_does_not_suppress_others() {
        // B overlaps A (suppressed), C overlaps B but not A: C survives.
        let mut v = vec![
            d(0, 0.9, [0.0, 0.0, 10.0, 10.0]),
            d(0, 0.8, [2.0, 0.0, 12.0, 10.0]),
            d(0, 0.7, [5.0, 0.0, 15.0, 10.0]),
        ];
        Nms::default().run(&mut v, 0.5);
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].score, 0.7);
    }

    #[test]
    fn threshold_is_exclusive() {
        let mut v = vec![d(0, 0.9, [0.0, 0.0, 10.0, 10.0]), d(0, 0.8, [5.0, 0.0, 15.0, 10.0])];
        Nms::default().run(&mut v, 1.0 / 3.0 + 1e-6);
        assert_eq!(v.len(), 2);
    }
}
