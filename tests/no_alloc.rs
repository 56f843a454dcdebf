//! The hot path allocates nothing per frame: preprocess, decode and NMS reuse the buffers their
//! stage owns once the first frame has sized them. Counted with a global allocator wrapper.
// The counting allocator implements the unsafe `GlobalAlloc` trait: the crate denies unsafe code
// everywhere else.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use edgesight::detect::family::DecodeOptions;
use edgesight::detect::{ClassPolicy, Family, PostProcess};
use edgesight::engine::{ElemType, Outputs, TensorInfo, TensorView};
use edgesight::preprocess::{
    ChannelOrder, CpuPreprocessor, FrameData, FrameView, Geometry, InputSlot, Letterbox, Matrix, PixelFormat,
    Preprocessor, TensorMut, YuvCoefficients, YuvConversion,
};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCS.with(|a| a.set(a.get() + 1));
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCS.with(|a| a.set(a.get() + 1));
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations(f: impl FnOnce()) -> u64 {
    ALLOCS.with(|a| a.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCS.with(Cell::get)
}

struct Tensors {
    shapes: Vec<Vec<i64>>,
    data: Vec<Vec<f32>>,
}

impl Outputs for Tensors {
    fn output(&self, i: usize) -> edgesight::Result<TensorView<'_>> {
        Ok(TensorView { shape: &self.shapes[i], data: &self.data[i] })
    }
}

/// Pseudo-random but deterministic values in 0..1.
fn noise(n: usize, seed: u32) -> Vec<f32> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x % 10_000) as f32 / 10_000.0
        })
        .collect()
}

#[test]
fn preprocess_reuses_its_buffers() {
    let (w, h) = (768u32, 576u32);
    let packed = noise((w * h * 3) as usize, 1).iter().map(|v| (v * 255.0) as u8).collect::<Vec<u8>>();
    let i420 = noise((w * h * 3 / 2) as usize, 2).iter().map(|v| (v * 255.0) as u8).collect::<Vec<u8>>();
    let yuv = |conversion| FrameView {
        data: &i420,
        width: w,
        height: h,
        format: PixelFormat::I420(conversion),
        offsets: [0, (w * h) as usize, (w * h * 5 / 4) as usize],
        strides: [w as usize, (w / 2) as usize, (w / 2) as usize],
    };
    let bgrx = noise((w * h * 4) as usize, 3).iter().map(|v| (v * 255.0) as u8).collect::<Vec<u8>>();
    let video = YuvConversion::Video(YuvCoefficients::new(Matrix::Bt601, false));
    let frames = [
        FrameView::packed(&packed, w, h, (w * 3) as usize, ChannelOrder::Bgr),
        yuv(video),
        yuv(YuvConversion::Jpeg),
        // NV12 (interleaved chroma) and BGRx, as hardware decoders and nvvidconv deliver them.
        FrameView {
            format: PixelFormat::Nv12(video),
            offsets: [0, (w * h) as usize, 0],
            strides: [w as usize; 3],
            ..yuv(video)
        },
        FrameView {
            data: &bgrx,
            width: w,
            height: h,
            format: PixelFormat::Packed4(ChannelOrder::Bgr),
            offsets: [0; 3],
            strides: [(w * 4) as usize, 0, 0],
        },
    ];
    for family in [Family::Nanodet, Family::Ssd, Family::Yolov5] {
        let spec = family.default_input();
        let mut pre = CpuPreprocessor::new(spec.clone());
        let mut f32s = vec![0.0f32; spec.len()];
        let mut u8s = vec![0u8; spec.len()];
        let mut f16s = vec![0u16; spec.len()];
        let mut run = |pre: &mut CpuPreprocessor, f: &FrameView<'_>| {
            let out = match spec.dtype {
                edgesight::preprocess::DType::F32 => TensorMut::F32(&mut f32s),
                edgesight::preprocess::DType::F16 => TensorMut::F16(&mut f16s),
                edgesight::preprocess::DType::U8 => TensorMut::U8(&mut u8s),
            };
            pre.run(&FrameData::Host(*f), InputSlot::Host(out)).expect("preprocess");
        };
        for f in &frames {
            run(&mut pre, f);
            assert_eq!(allocations(|| run(&mut pre, f)), 0, "{family}: preprocess allocated on a repeated frame");
        }
    }
}

fn info(name: &str, shape: &[i64]) -> TensorInfo {
    TensorInfo { name: name.into(), dtype: ElemType::F32, shape: shape.to_vec() }
}

#[test]
fn decode_and_nms_reuse_their_buffers() {
    let nanodet_shapes: Vec<Vec<i64>> = vec![
        vec![1, 2704, 80],
        vec![1, 676, 80],
        vec![1, 169, 80],
        vec![1, 2704, 44],
        vec![1, 676, 44],
        vec![1, 169, 44],
    ];
    let cases: Vec<(Family, Vec<TensorInfo>, Vec<Vec<i64>>)> = vec![
        (
            Family::Nanodet,
            nanodet_shapes.iter().enumerate().map(|(i, s)| info(&format!("o{i}"), s)).collect(),
            nanodet_shapes.clone(),
        ),
        (Family::Yolov5, vec![info("out", &[1, 25200, 85])], vec![vec![1, 25200, 85]]),
        (Family::Yolov8, vec![info("out", &[1, 84, 8400])], vec![vec![1, 84, 8400]]),
        (Family::Yolox, vec![info("out", &[1, 8400, 85])], vec![vec![1, 8400, 85]]),
        (
            Family::Ssd,
            vec![
                info("num_detections:0", &[1]),
                info("detection_boxes:0", &[1, 100, 4]),
                info("detection_scores:0", &[1, 100]),
                info("detection_classes:0", &[1, 100]),
            ],
            vec![vec![1], vec![1, 100, 4], vec![1, 100], vec![1, 100]],
        ),
    ];
    for (family, infos, shapes) in cases {
        let spec = family.default_input();
        let mut decoder = family.decoder(&spec, &infos, &DecodeOptions::default()).expect("decoder");
        let mut data: Vec<Vec<f32>> =
            shapes.iter().enumerate().map(|(i, s)| noise(s.iter().product::<i64>() as usize, i as u32 + 7)).collect();
        if family == Family::Ssd {
            data[0][0] = 100.0;
            for (i, c) in data[3].iter_mut().enumerate() {
                *c = (i % 3) as f32 + 1.0;
            }
        }
        let outputs = Tensors { shapes, data };
        let mut post = PostProcess::new(ClassPolicy::new(0.5), 0.6, 100);
        let g = Geometry::new(768, 576, spec.width, spec.height, Letterbox::TopLeft);
        let n = post.run(decoder.as_mut(), &outputs, &g).expect("decode").len();
        assert!(n > 0, "{family}: the test data must produce detections");
        let allocs = allocations(|| {
            post.run(decoder.as_mut(), &outputs, &g).expect("decode");
        });
        assert_eq!(allocs, 0, "{family}: decode + NMS allocated on a repeated frame");
        // With a tracker: the low-score boxes too, reported ones first.
        post.set_low_floor(Some(0.1));
        post.run(decoder.as_mut(), &outputs, &g).expect("decode");
        assert!(post.detections().len() >= post.reported(), "{family}");
        let allocs = allocations(|| {
            post.run(decoder.as_mut(), &outputs, &g).expect("decode");
        });
        assert_eq!(allocs, 0, "{family}: decode + NMS with the tracker's low floor allocated on a repeated frame");
    }
}

/// Each tracker in steady state: a scene of people walking (some scored low, as under
/// occlusion), clutter that starts tentative tracks and loses them, a post-processing with the
/// tracker's low floor. After a warm-up that sizes the buffers, further frames allocate nothing.
#[test]
fn tracking_allocates_nothing_per_frame() {
    use edgesight::track::TrackerKind;
    for kind in [TrackerKind::ByteTrack, TrackerKind::OcSort] {
        tracker_allocates_nothing(kind);
    }
}

fn tracker_allocates_nothing(kind: edgesight::track::TrackerKind) {
    use edgesight::detect::Detection;
    use edgesight::track::{StreamTracker, TrackerSettings, stream::Continuity};

    let mut tracker = StreamTracker::new(&TrackerSettings::defaults(kind), 0.35);
    let at = Continuity { session: 0, width: 1280, height: 720 };
    let mut dets: Vec<Detection> = Vec::with_capacity(64);
    let jitter = noise(100_000, 3);
    let mut k = 0;
    let mut frame = |tracker: &mut StreamTracker, f: u64, dets: &mut Vec<Detection>| {
        dets.clear();
        let mut r = || {
            k = (k + 1) % jitter.len();
            jitter[k]
        };
        // 20 people crossing the frame; every 7th one scored low in this frame.
        for p in 0..20u64 {
            let x = ((p * 61 + f * (1 + p % 3)) % 1200) as f32 + r();
            let y = (p * 31 % 500) as f32 + r();
            let score = if (p + f).is_multiple_of(7) { 0.2 } else { 0.6 + 0.3 * r() };
            dets.push(Detection { class_id: (p % 2) as u32, score, bbox: [x, y, x + 40.0, y + 100.0] });
        }
        // Clutter at random places.
        for _ in 0..5 {
            let (x, y) = (r() * 1200.0, r() * 600.0);
            dets.push(Detection { class_id: 0, score: 0.5 * r() + 0.1, bbox: [x, y, x + 30.0, y + 70.0] });
        }
        dets.sort_unstable_by_key(|d| d.score <= 0.35);
        let high = dets.iter().take_while(|d| d.score > 0.35).count();
        tracker.frame(at, f * 40, dets, high);
    };
    for f in 0..300 {
        frame(&mut tracker, f, &mut dets);
    }
    assert!(tracker.ids().iter().flatten().count() > 10, "{kind:?}: the scene must have confirmed tracks");
    let allocs = allocations(|| {
        for f in 300..400 {
            frame(&mut tracker, f, &mut dets);
        }
    });
    assert_eq!(allocs, 0, "{kind:?}: the tracker allocated in steady state");
}
