//! The CUDA preprocess kernel's time per 1080p frame on a real GPU, against the memory-bandwidth
//! bound of that GPU (scripts/gpu-check.sh runs it: `cargo bench --features cuda-jp6 --bench
//! cuda_kernel`). A measurement, not a test: it prints figures for the performance guide.
//!
//! Cases, NanoDet's input (416x416 f32 NCHW) from a 1920x1080 NV12 frame:
//! - kernel: frame already in device memory (NVMM / CUDA capture), output in an engine's device
//!   slot: the kernel alone, timed with CUDA events over many launches;
//! - host frame → device slot: the pinned copy and upload of the planes, then the kernel;
//! - host frame → host tensor: as above plus the copy back (an ONNX Runtime CPU engine);
//! - the CPU preprocessor on the same frame, for the ratio.

use std::time::Instant;

use cudarc::driver::{CudaContext, DevicePtr, DevicePtrMut, sys::CUdevice_attribute};
use edgesight::detect::Family;
use edgesight::preprocess::cuda::CudaPreprocessor;
use edgesight::preprocess::resize::row_taps;
use edgesight::preprocess::{
    CpuPreprocessor, DeviceFrame, DeviceSlot, FrameData, FrameMemory, FrameView, Geometry, InputSlot, PixelFormat,
    Preprocessor, TensorMut, YuvConversion,
};

fn main() {
    let (w, h) = (1920usize, 1080usize);
    let spec = Family::Nanodet.default_input();
    let mut data = vec![0u8; w * h * 3 / 2];
    let mut s = 0x2545_f491u32;
    for (i, b) in data.iter_mut().enumerate() {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        *b = ((i % w) as u32 / 8 + (s & 31)) as u8;
    }
    let format = PixelFormat::Nv12(YuvConversion::Jpeg);
    let view = FrameView {
        data: &data,
        width: w as u32,
        height: h as u32,
        format,
        offsets: [0, w * h, 0],
        strides: [w, w, 0],
    };

    let ctx = CudaContext::new(0).expect("a CUDA GPU");
    let stream = ctx.new_stream().expect("stream");
    let name = ctx.name().unwrap_or_default();
    let attr = |a| ctx.attribute(a).expect("device attribute") as f64;
    // Nominal peak: memory clock (kHz) x 2 (double data rate) x bus width (bits) / 8.
    let peak = attr(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE)
        * 1e3
        * 2.0
        * attr(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH)
        / 8.0;
    let mut pre = CudaPreprocessor::new(spec.clone(), 0).expect("CUDA preprocessor");
    println!("device: {name}; {}", pre.summary());

    let frame_dev = stream.clone_htod(&data).expect("upload the frame");
    let (base, _f) = frame_dev.device_ptr(&stream);
    let dframe = DeviceFrame {
        width: w as u32,
        height: h as u32,
        format,
        memory: FrameMemory::Cuda,
        planes: [base, base + (w * h) as u64, 0],
        pitches: [w, w, 0],
    };
    let mut out = stream.alloc_zeros::<f32>(spec.len()).expect("output");
    let (optr, _o) = out.device_ptr_mut(&stream);
    let slot = || DeviceSlot::new(optr, spec.len(), spec.dtype, 0, stream.cu_stream() as u64);

    // Kernel alone: events around N launches.
    let n = 1000;
    for _ in 0..50 {
        pre.run(&FrameData::Device(&dframe), InputSlot::Device(slot())).expect("kernel");
    }
    let start = stream.record_event(None).expect("event");
    for _ in 0..n {
        pre.run(&FrameData::Device(&dframe), InputSlot::Device(slot())).expect("kernel");
    }
    let end = stream.record_event(None).expect("event");
    end.synchronize().expect("sync");
    let kernel_us = start.elapsed_ms(&end).expect("elapsed") as f64 * 1e3 / n as f64;

    // Bytes that must move: every source row the resize reads (whole rows: 32-byte sectors cover
    // the scattered columns of a 4.6x downscale) of luma and chroma, and the output tensor.
    let g = Geometry::new(w as u32, h as u32, spec.width, spec.height, spec.letterbox);
    let mut taps = Vec::new();
    row_taps(h as u32, g.new_h, &mut taps);
    let mut rows: Vec<usize> = taps.iter().flat_map(|t| [t.i0, t.i1]).collect();
    rows.sort_unstable();
    rows.dedup();
    let mut crow: Vec<usize> =
        rows.iter().flat_map(|r| [r / 2, (r / 2).saturating_sub(1), (r / 2 + 1).min(h / 2 - 1)]).collect();
    crow.sort_unstable();
    crow.dedup();
    let bytes = (rows.len() * w + crow.len() * w + spec.len() * 4) as f64;
    let bound_us = bytes / peak * 1e6;

    // Host frame into the device slot, and into a host tensor.
    let time = |f: &mut dyn FnMut()| {
        for _ in 0..20 {
            f();
        }
        let t = Instant::now();
        let n = 200;
        for _ in 0..n {
            f();
        }
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    };
    let host_to_dev = time(&mut || {
        pre.run(&FrameData::Host(view), InputSlot::Device(slot())).expect("host frame");
        stream.synchronize().expect("sync");
    });
    let mut host = vec![0f32; spec.len()];
    let host_to_host = time(&mut || {
        pre.run(&FrameData::Host(view), InputSlot::Host(TensorMut::F32(&mut host))).expect("host frame, host tensor");
    });
    let mut cpu = CpuPreprocessor::new(spec.clone());
    let mut cpu_out = vec![0f32; spec.len()];
    let cpu_us = time(&mut || {
        cpu.fill(&view, TensorMut::F32(&mut cpu_out)).expect("cpu");
    });
    assert_eq!(
        host.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        cpu_out.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        "GPU and CPU tensors differ"
    );

    println!("1920x1080 NV12 -> 416x416x3 f32 NCHW (NanoDet), {} source rows read", rows.len());
    println!("kernel (device frame -> device slot): {kernel_us:.1} us/frame");
    println!(
        "bandwidth bound: {:.2} MB at {:.0} GB/s nominal = {bound_us:.1} us; kernel at {:.0}% of the bound",
        bytes / 1e6,
        peak / 1e9,
        100.0 * bound_us / kernel_us
    );
    println!("host frame -> device slot (pinned copy + upload + kernel): {host_to_dev:.1} us/frame");
    println!("host frame -> host tensor (+ copy back, ONNX CPU engines): {host_to_host:.1} us/frame");
    println!(
        "cpu preprocessor, same frame: {cpu_us:.1} us/frame ({:.1}x the host->host CUDA path)",
        cpu_us / host_to_host
    );
    println!("GPU tensor == CPU tensor: bit-exact");
}
