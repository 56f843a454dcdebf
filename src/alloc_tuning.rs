//! glibc allocator tuning (FFI). A camera daemon runs many threads (GStreamer streaming threads
//! per stream, rebuilt on every reconnect or loop, ONNX Runtime's pool); glibc gives threads up
//! to 8 arenas per core and keeps what they fragment, so RSS drifts upwards for hours. Two arenas
//! keep it flat (measured: `make soak`, docs/perf/optimization_guide.md) at no measurable cost.
#![allow(unsafe_code)]

/// Limits glibc to two malloc arenas unless `MALLOC_ARENA_MAX` is set. Call before any thread.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets an allocator parameter; it is called at start-up, before
        // this process starts any thread, and M_ARENA_MAX with a positive value is valid.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}
