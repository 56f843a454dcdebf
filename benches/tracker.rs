//! The tracker's cost per frame, ByteTrack and OC-SORT, at 50 and 200 objects (issue 14;
//! `make bench-tracker`, figures in docs/perf/optimization_guide.md, "Tracker cost").
//!
//! The scene, seeded and the same on every machine: objects on a 1920x1080 frame, each moving
//! on a smooth closed path (up to about 15 px a frame) with a box of its own size and class
//! (four classes), and per frame: box jitter, 5 % of the objects missed, 5 % scored low (as under
//! occlusion: the tracker's second association), a few clutter boxes, mostly low-scored. The
//! paths close after `PERIOD` frames, so the frames repeat without a jump and the tracker stays in
//! its steady state however many iterations criterion runs; a warm-up of one period confirms the
//! tracks and sizes every buffer first. Stream time advances by 40 ms (25 FPS) per frame.

use std::f32::consts::TAU;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use edgesight::detect::Detection;
use edgesight::track::{Tracker, TrackerKind, TrackerSettings};

/// Frames after which every path is back at its start.
const PERIOD: usize = 500;
/// The reporting threshold (model.score_threshold's default).
const SCORE_THRESHOLD: f32 = 0.35;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.next()
    }
}

/// One frame: detections, reported ones (above the threshold) first, and how many those are.
struct Frame {
    dets: Vec<Detection>,
    high: usize,
}

fn scene(objects: usize, seed: u64) -> Vec<Frame> {
    let mut rng = Rng(seed);
    struct Object {
        centre: [f32; 2],
        amplitude: [f32; 2],
        /// Whole turns per period, so that the path closes.
        turns: [f32; 2],
        phase: [f32; 2],
        size: [f32; 2],
        class_id: u32,
    }
    let objects: Vec<Object> = (0..objects)
        .map(|_| {
            let w = rng.range(24.0, 80.0);
            Object {
                centre: [rng.range(300.0, 1620.0), rng.range(250.0, 830.0)],
                amplitude: [rng.range(50.0, 300.0), rng.range(20.0, 200.0)],
                turns: [(1.0 + 3.0 * rng.next()).floor(), (1.0 + 2.0 * rng.next()).floor()],
                phase: [rng.range(0.0, TAU), rng.range(0.0, TAU)],
                size: [w, w * rng.range(1.8, 2.8)],
                class_id: (rng.next() * 4.0) as u32,
            }
        })
        .collect();
    (0..PERIOD)
        .map(|f| {
            let mut dets = Vec::with_capacity(objects.len() + 8);
            let t = f as f32 / PERIOD as f32 * TAU;
            for o in &objects {
                let r = rng.next();
                if r < 0.05 {
                    continue; // missed
                }
                let score = if r < 0.10 { rng.range(0.12, 0.33) } else { rng.range(0.5, 0.95) };
                let (w, h) = (o.size[0] * rng.range(0.95, 1.05), o.size[1] * rng.range(0.96, 1.04));
                let cx = o.centre[0] + o.amplitude[0] * (o.turns[0] * t + o.phase[0]).sin() + rng.range(-2.0, 2.0);
                let cy = o.centre[1] + o.amplitude[1] * (o.turns[1] * t + o.phase[1]).cos() + rng.range(-2.0, 2.0);
                dets.push(Detection {
                    class_id: o.class_id,
                    score,
                    bbox: [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0],
                });
            }
            for _ in 0..(rng.next() * 6.0) as usize {
                let (x, y, w) = (rng.range(0.0, 1850.0), rng.range(0.0, 950.0), rng.range(20.0, 70.0));
                let score = if rng.next() < 0.8 { rng.range(0.1, 0.35) } else { rng.range(0.36, 0.6) };
                dets.push(Detection { class_id: (rng.next() * 4.0) as u32, score, bbox: [x, y, x + w, y + 2.4 * w] });
            }
            // As the post-processing hands them: reported boxes first, each part best first.
            dets.sort_by(|a, b| {
                (b.score > SCORE_THRESHOLD).cmp(&(a.score > SCORE_THRESHOLD)).then(b.score.total_cmp(&a.score))
            });
            let high = dets.iter().take_while(|d| d.score > SCORE_THRESHOLD).count();
            Frame { dets, high }
        })
        .collect()
}

fn per_frame(c: &mut Criterion) {
    let mut group = c.benchmark_group("tracker_frame");
    for objects in [50usize, 200] {
        let frames = scene(objects, 0x5eed_0014 + objects as u64);
        for (name, kind) in [("bytetrack", TrackerKind::ByteTrack), ("ocsort", TrackerKind::OcSort)] {
            let settings = TrackerSettings::defaults(kind);
            let mut tracker = Tracker::new(&settings, SCORE_THRESHOLD).expect("a tracker");
            let mut t_ms = 0u64;
            let mut i = 0usize;
            let mut step = |tracker: &mut Tracker| {
                let f = &frames[i];
                tracker.update(t_ms, &f.dets, f.high);
                t_ms += 40;
                i = (i + 1) % PERIOD;
            };
            for _ in 0..PERIOD {
                step(&mut tracker);
            }
            let confirmed = tracker.ids().iter().flatten().count();
            eprintln!("{name}/{objects}: {confirmed} detections on confirmed tracks after the warm-up");
            group.bench_with_input(BenchmarkId::new(name, objects), &objects, |b, _| {
                b.iter(|| {
                    step(&mut tracker);
                    black_box(tracker.ids().len())
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, per_frame);
criterion_main!(benches);
