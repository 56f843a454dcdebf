//! SIGTERM/SIGINT (stop, drain, exit) and SIGHUP (reload), as flags the pipeline polls.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};

#[derive(Clone)]
pub struct Signals {
    terminate: Arc<AtomicBool>,
    reload: Arc<AtomicBool>,
}

impl Signals {
    /// Installs the handlers. A second SIGTERM/SIGINT while stopping ends the process at once.
    pub fn install() -> Result<Signals> {
        let s = Signals::manual();
        let err = |e: std::io::Error| Error::other(format!("cannot install signal handlers: {e}"));
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&s.terminate)).map_err(err)?;
            signal_hook::flag::register(sig, Arc::clone(&s.terminate)).map_err(err)?;
        }
        signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&s.reload)).map_err(err)?;
        Ok(s)
    }

    /// Flags without handlers (tests, and `detect`).
    pub fn manual() -> Signals {
        Signals { terminate: Arc::new(AtomicBool::new(false)), reload: Arc::new(AtomicBool::new(false)) }
    }

    pub fn terminating(&self) -> bool {
        self.terminate.load(Ordering::SeqCst)
    }

    pub fn terminate(&self) {
        self.terminate.store(true, Ordering::SeqCst);
    }

    /// True once per SIGHUP.
    pub fn take_reload(&self) -> bool {
        self.reload.swap(false, Ordering::SeqCst)
    }

    pub fn terminate_flag(&self) -> &AtomicBool {
        &self.terminate
    }
}
