//! The kernel's bit-exact tests must notice a broken kernel. Each mutant below is one plausible
//! slip in `kernels/preprocess_body.cuh` (an off-by-one in the letterbox, a rounding constant, a
//! swapped coefficient, a wrong chroma row, …). The test compiles each into its own host
//! emulation (g++, like build.rs), runs it over a set of conformance cases through the product's
//! `EmulatedPreprocessor`, and requires at least one case to differ from the CPU preprocessor.
//! The unmutated copy, built the same way, must match every case: the harness itself works.
//!
//! Mutants that read outside the tables (e.g. an image one row taller) would crash this process
//! rather than fail a comparison, so the list keeps to slips that stay in bounds.
//!
//! Every mutant's text must occur exactly once in the kernel. When the kernel changes, the test
//! fails and asks for the list to be updated, instead of silently testing nothing.

mod common;

use std::path::Path;
use std::process::Command;

use edgesight::detect::Family;
use edgesight::preprocess::emulated::{EmulatedKernel, EmulatedPreprocessor};
use edgesight::preprocess::{
    ChannelOrder, CpuPreprocessor, DType, FrameData, FrameView, InputSlot, InputSpec, Layout, Letterbox, Matrix, Pad,
    PixelFormat, Preprocessor, TensorMut, YuvCoefficients, YuvConversion,
};

/// (what the slip is, text in the kernel, replacement).
const MUTANTS: &[(&str, &str, &str)] = &[
    ("letterbox: first image column treated as padding", "x < p->off_x ||", "x <= p->off_x ||"),
    ("letterbox: first image row treated as padding", "y < p->off_y ||", "y <= p->off_y ||"),
    ("resize: vertical rounding +1 instead of +2", "return es_sat((v + 2) >> 2);", "return es_sat((v + 1) >> 2);"),
    (
        "resize: horizontal weights swapped",
        "s0[k] = a[k] * xt[2] + b[k] * xt[3]",
        "s0[k] = a[k] * xt[3] + b[k] * xt[2]",
    ),
    (
        "resize: vertical weights swapped",
        "es_vertical(s0[k], s1[k], yt[2], yt[3])",
        "es_vertical(s0[k], s1[k], yt[3], yt[2])",
    ),
    ("saturation at 254", "(v > 255 ? 255 : v)", "(v > 254 ? 254 : v)"),
    (
        "swscale: green coefficients swapped",
        "es_mulhi(cu, p->yc[4]) + es_mulhi(cv, p->yc[5])",
        "es_mulhi(cu, p->yc[5]) + es_mulhi(cv, p->yc[4])",
    ),
    (
        "swscale: chroma row rounded up",
        "es_chroma(p, 0, x / 2, y / 2) * 8 - 1024",
        "es_chroma(p, 0, x / 2, (y + 1) / 2) * 8 - 1024",
    ),
    ("libjpeg: odd-column rounding +8", "(self * 3 + next + 7) >> 4", "(self * 3 + next + 8) >> 4"),
    ("libjpeg: top edge reads row 1", "(near > 0 ? near - 1 : 0)", "(near > 0 ? near - 1 : 1)"),
    // (116131 would be an equivalent mutant: no Cb in -128..127 rounds differently with it.)
    ("libjpeg: Cb factor of blue mistyped", "116130 * cb", "116230 * cb"),
    ("NV12: U and V swapped", "return es_at(p, 1, cx * 2 + k, cy);", "return es_at(p, 1, cx * 2 + (1 - k), cy);"),
    ("padding: channel 0's value everywhere", "bits[c] = p->pad[c];", "bits[c] = p->pad[0];"),
    ("NHWC: channels reversed", "at * 3 + c;", "at * 3 + (2 - c);"),
    (
        "packed 4-byte: alpha read as a colour",
        "bpp = p->format == ES_PACKED3 ? 3u : 4u;",
        "bpp = p->format == ES_PACKED3 ? 3u : 3u;",
    ),
];

const KERNEL_FILES: [&str; 4] = ["emulate.cpp", "emulate.h", "preprocess_body.cuh", "preprocess.cu"];

/// Builds kernels/ with `body` as the kernel body into a shared library in `dir`.
fn build(dir: &Path, body: &str) -> libloading::Library {
    for f in KERNEL_FILES {
        std::fs::copy(common::root().join("kernels").join(f), dir.join(f)).expect("copy kernel source");
    }
    std::fs::write(dir.join("preprocess_body.cuh"), body).expect("mutant body");
    let lib = dir.join("libmutant.so");
    let out = Command::new("g++")
        .args(["-std=c++17", "-O1", "-shared", "-fPIC", "-ffp-contract=off", "-o"])
        .arg(&lib)
        .arg(dir.join("emulate.cpp"))
        .output()
        .expect("g++ runs (build-essential)");
    assert!(out.status.success(), "g++: {}", String::from_utf8_lossy(&out.stderr));
    // SAFETY: a library we just built from the kernel's own sources; its initialisers are g++'s.
    #[allow(unsafe_code)]
    unsafe {
        libloading::Library::new(&lib).expect("load the mutant")
    }
}

fn entry(lib: &libloading::Library) -> EmulatedKernel {
    // SAFETY: the symbol is emulate.cpp's entry point, of exactly this signature.
    #[allow(unsafe_code)]
    unsafe {
        *lib.get::<EmulatedKernel>(b"edgesight_emulate_preprocess\0").expect("entry point")
    }
}

/// xorshift picture data.
fn bytes(n: usize, seed: u32) -> Vec<u8> {
    let mut s = seed.max(1);
    (0..n)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            ((i * 7 % 256) as u32 / 2 + (s % 128)) as u8
        })
        .collect()
}

/// A frame of `format` with a row pitch `pad` bytes longer than its rows.
fn frame(format: PixelFormat, w: usize, h: usize, pad: usize) -> (Vec<u8>, [usize; 3], [usize; 3]) {
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    match format {
        PixelFormat::Packed(_) => (bytes((w * 3 + pad) * h, 3), [0; 3], [w * 3 + pad, 0, 0]),
        PixelFormat::Packed4(_) => (bytes((w * 4 + pad) * h, 4), [0; 3], [w * 4 + pad, 0, 0]),
        PixelFormat::I420(_) => {
            let (ys, cs) = (w + pad, cw + pad);
            let u = ys * h;
            let v = u + cs * ch;
            (bytes(v + cs * ch, 5), [0, u, v], [ys, cs, cs])
        }
        PixelFormat::Nv12(_) => {
            let (ys, cs) = (w + pad, cw * 2 + pad);
            (bytes(ys * h + cs * ch, 6), [0, ys * h, 0], [ys, cs, 0])
        }
    }
}

fn specs() -> Vec<InputSpec> {
    let mut out = Vec::new();
    let base = Family::Nanodet.default_input();
    for (letterbox, layout, dtype) in [
        (Letterbox::TopLeft, Layout::Nchw, DType::F32),
        (Letterbox::Center, Layout::Nhwc, DType::F16),
        (Letterbox::Stretch, Layout::Nhwc, DType::U8),
        (Letterbox::Center, Layout::Nchw, DType::F32),
    ] {
        let mut s = base.clone();
        (s.width, s.height, s.letterbox, s.layout, s.dtype) = (48, 40, letterbox, layout, dtype);
        s.pad = Pad::Pixel(114.0);
        (s.mean, s.std) = ([10.0, 90.0, 200.0], [50.0, 2.0, 130.0]);
        if dtype == DType::U8 {
            (s.mean, s.std, s.pad) = ([0.0; 3], [1.0; 3], Pad::Pixel(7.0));
        }
        s.channel_order = if layout == Layout::Nhwc { ChannelOrder::Rgb } else { ChannelOrder::Bgr };
        out.push(s);
    }
    out
}

fn formats() -> Vec<PixelFormat> {
    let video = YuvConversion::Video(YuvCoefficients::new(Matrix::Bt601, false));
    vec![
        PixelFormat::Packed(ChannelOrder::Bgr),
        PixelFormat::Packed4(ChannelOrder::Rgb),
        PixelFormat::I420(video),
        PixelFormat::I420(YuvConversion::Jpeg),
        PixelFormat::Nv12(video),
        PixelFormat::Nv12(YuvConversion::Jpeg),
    ]
}

/// Bytes of one tensor written by `pre`.
fn run(pre: &mut dyn Preprocessor, view: &FrameView<'_>) -> Vec<u8> {
    let spec = pre.spec().clone();
    let n = spec.len();
    match spec.dtype {
        DType::F32 => {
            let mut t = vec![f32::NAN; n];
            pre.run(&FrameData::Host(*view), InputSlot::Host(TensorMut::F32(&mut t))).expect("preprocess");
            t.iter().flat_map(|x| x.to_le_bytes()).collect()
        }
        DType::F16 => {
            let mut t = vec![0x7e01u16; n];
            pre.run(&FrameData::Host(*view), InputSlot::Host(TensorMut::F16(&mut t))).expect("preprocess");
            t.iter().flat_map(|x| x.to_le_bytes()).collect()
        }
        DType::U8 => {
            let mut t = vec![0xA5u8; n];
            pre.run(&FrameData::Host(*view), InputSlot::Host(TensorMut::U8(&mut t))).expect("preprocess");
            t
        }
    }
}

/// How many of the cases the kernel `k` gets different from the CPU preprocessor, of how many.
fn differing_cases(k: EmulatedKernel) -> (usize, usize) {
    let (mut differ, mut total) = (0, 0);
    for spec in specs() {
        for format in formats() {
            for (w, h, pad) in [(77, 45, 24), (31, 57, 0), (48, 40, 3)] {
                let (data, offsets, strides) = frame(format, w, h, pad);
                let view = FrameView { data: &data, width: w as u32, height: h as u32, format, offsets, strides };
                let cpu = run(&mut CpuPreprocessor::new(spec.clone()), &view);
                // SAFETY: `k` comes from a build of kernels/emulate.cpp loaded for this whole test.
                #[allow(unsafe_code)]
                let mut emu = unsafe { EmulatedPreprocessor::with_kernel(spec.clone(), k) };
                differ += usize::from(run(&mut emu, &view) != cpu);
                total += 1;
            }
        }
    }
    (differ, total)
}

#[test]
fn every_planted_bug_in_the_kernel_fails_the_bit_exact_comparison() {
    let body = std::fs::read_to_string(common::root().join("kernels/preprocess_body.cuh")).expect("kernel");
    let dir = tempfile::tempdir().expect("tempdir");

    // Control: the kernel as it is, built by this harness, matches every case.
    let control_dir = dir.path().join("control");
    std::fs::create_dir_all(&control_dir).expect("dir");
    let control = build(&control_dir, &body);
    let (differ, total) = differing_cases(entry(&control));
    assert_eq!(differ, 0, "the unmutated kernel differs from the CPU path in {differ} of {total} cases");

    let mut survivors = Vec::new();
    for (i, (what, from, to)) in MUTANTS.iter().enumerate() {
        assert_eq!(
            body.matches(from).count(),
            1,
            "mutant {what:?}: {from:?} must occur exactly once in kernels/preprocess_body.cuh; update MUTANTS"
        );
        let mdir = dir.path().join(format!("m{i}"));
        std::fs::create_dir_all(&mdir).expect("dir");
        let lib = build(&mdir, &body.replacen(from, to, 1));
        let (differ, total) = differing_cases(entry(&lib));
        if differ == 0 {
            survivors.push(format!("{what} ({from:?} -> {to:?})"));
        }
        eprintln!("mutant {what}: caught in {differ} of {total} cases");
    }
    assert!(survivors.is_empty(), "planted bugs the comparison does not see:\n{}", survivors.join("\n"));
}
