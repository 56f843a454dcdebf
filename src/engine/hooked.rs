//! Test-only engine behaviour, compiled only with the `test-hooks` feature: `cargo test` turns it
//! on (a dev-dependency of the crate on itself), release builds do not have this module at all.
//!
//! `EDGESIGHT_TEST_INFERENCE_DELAY_MS` adds a delay to every run (a slow engine);
//! `EDGESIGHT_TEST_STALL_AFTER_FRAMES` wedges the engine after that many runs (a hung GPU), until
//! SIGTERM/SIGINT, so the watchdog and shutdown paths can be tested end to end.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::{BatchOutputs, Engine, TensorInfo};
use crate::error::Result;
use crate::preprocess::{InputSlot, Memory};

pub struct Hooked {
    inner: Box<dyn Engine>,
    delay: Option<Duration>,
    stall_after: Option<u64>,
    runs: u64,
    /// Raised by SIGTERM/SIGINT: ends a wedge.
    terminate: Arc<AtomicBool>,
}

impl Hooked {
    /// Wraps `inner` when a hook variable is set; otherwise returns it unchanged.
    pub fn from_env(inner: Box<dyn Engine>) -> Box<dyn Engine> {
        let num = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
        let delay = num("EDGESIGHT_TEST_INFERENCE_DELAY_MS").map(Duration::from_millis);
        let stall_after = num("EDGESIGHT_TEST_STALL_AFTER_FRAMES");
        if delay.is_none() && stall_after.is_none() {
            return inner;
        }
        log::warn!("test hooks active: delay {delay:?}, stall after {stall_after:?} runs");
        let terminate = Arc::new(AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            let _ = signal_hook::flag::register(sig, Arc::clone(&terminate));
        }
        Box::new(Hooked { inner, delay, stall_after, runs: 0, terminate })
    }
}

impl Engine for Hooked {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn input(&self) -> &TensorInfo {
        self.inner.input()
    }
    fn outputs(&self) -> &[TensorInfo] {
        self.inner.outputs()
    }
    fn input_memory(&self) -> Memory {
        self.inner.input_memory()
    }
    fn max_batch(&self) -> usize {
        self.inner.max_batch()
    }
    fn allocate(&mut self, image_shape: [i64; 4], batch: usize) -> Result<()> {
        self.inner.allocate(image_shape, batch)
    }
    fn slot(&mut self, batch: usize, image: usize) -> Result<InputSlot<'_>> {
        self.inner.slot(batch, image)
    }
    fn run(&mut self, batch: usize) -> Result<()> {
        if let Some(d) = self.delay {
            std::thread::sleep(d);
        }
        if self.stall_after.is_some_and(|n| self.runs >= n) {
            // Wedged on purpose: the inference loop does not move until a stop signal.
            while !self.terminate.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        self.runs += 1;
        self.inner.run(batch)
    }
    fn results(&self) -> &dyn BatchOutputs {
        self.inner.results()
    }
}
