//! CPU preprocessing cost per frame, scalar path against the vector paths this CPU runs (issue 16):
//! 768x576 I420 and packed BGR, and 1920x1080 I420, into NanoDet's 416x416 f32 NCHW input
//! (letterbox top-left: 416x312 and 416x234 of image). One thread. The frames are seeded noise:
//! the arithmetic does not depend on the values.
//!
//! `cargo bench --bench preprocess`; `-- --quick` for a shorter run.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use edgesight::detect::Family;
use edgesight::preprocess::{
    ChannelOrder, CpuPreprocessor, FrameView, Matrix, PixelFormat, Simd, TensorMut, YuvCoefficients, YuvConversion,
};

fn noise(n: usize, mut s: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 24) as u8
        })
        .collect()
}

/// (name, data, format, width, height): I420 planes packed one after the other.
fn frames() -> Vec<(&'static str, Vec<u8>, PixelFormat, usize, usize)> {
    let i420 = PixelFormat::I420(YuvConversion::Video(YuvCoefficients::new(Matrix::Bt601, false)));
    vec![
        ("768x576 I420", noise(768 * 576 * 3 / 2, 1), i420, 768, 576),
        ("768x576 BGR", noise(768 * 576 * 3, 2), PixelFormat::Packed(ChannelOrder::Bgr), 768, 576),
        ("1920x1080 I420", noise(1920 * 1080 * 3 / 2, 3), i420, 1920, 1080),
    ]
}

fn view<'a>(data: &'a [u8], format: PixelFormat, w: usize, h: usize) -> FrameView<'a> {
    match format {
        PixelFormat::I420(_) => FrameView {
            data,
            width: w as u32,
            height: h as u32,
            format,
            offsets: [0, w * h, w * h + w * h / 4],
            strides: [w, w / 2, w / 2],
        },
        _ => FrameView::packed(data, w as u32, h as u32, w * 3, ChannelOrder::Bgr),
    }
}

fn bench(c: &mut Criterion) {
    let spec = Family::Nanodet.default_input();
    let mut group = c.benchmark_group("preprocess 416 f32 nchw");
    for (name, data, format, w, h) in frames() {
        let frame = view(&data, format, w, h);
        // Every path this CPU runs (scalar, then SSE2 and AVX2, or NEON), one after the other for
        // each frame: ratios within one run.
        for level in Simd::available() {
            let mut pre = CpuPreprocessor::with_simd(spec.clone(), level);
            let mut t = vec![0.0f32; spec.len()];
            group.bench_with_input(BenchmarkId::new(name, level.name()), &frame, |b, f| {
                b.iter(|| pre.fill(black_box(f), TensorMut::F32(&mut t)).expect("preprocess"))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
