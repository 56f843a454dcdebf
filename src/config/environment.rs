//! Stage (b) of validation, the environment: the model loads and matches its family (which also
//! loads ONNX Runtime), output directories are writable, sources answer. Every problem is
//! reported; the exit code is that of the first kind found in the order model, output, source.

use std::fs::OpenOptions;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{EventTarget, Loaded};
use crate::capture::{CaptureOptions, GstCapture, Pull, SourceSpec};
use crate::error::Error;
use crate::runtime::Detector;

#[derive(Debug, Clone)]
pub struct EnvOptions {
    /// Skip checks that need the network (RTSP sources).
    pub offline: bool,
    /// How long a network source has to deliver its first frame.
    pub source_timeout: Duration,
}

impl Default for EnvOptions {
    fn default() -> Self {
        EnvOptions { offline: false, source_timeout: Duration::from_secs(10) }
    }
}

/// Checks that `dir` can take new files, by creating and removing one.
fn writable_dir(dir: &Path) -> Result<(), String> {
    if !dir.is_dir() {
        return Err(format!("directory {} does not exist", dir.display()));
    }
    let probe = dir.join(format!(".edgesight-check-{}", std::process::id()));
    let res = OpenOptions::new().write(true).create_new(true).open(&probe);
    let _ = std::fs::remove_file(&probe);
    res.map(|_| ()).map_err(|e| format!("directory {} is not writable: {e}", dir.display()))
}

fn check_output(path: &Path) -> Result<(), Error> {
    let hint = "create it, fix its permissions or change output.jsonl.path";
    if path.exists() {
        OpenOptions::new()
            .append(true)
            .open(path)
            .map(|_| ())
            .map_err(|e| Error::output(format!("event file {} cannot be appended to: {e}; {hint}", path.display())))
    } else {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        writable_dir(dir).map_err(|e| Error::output(format!("event file {}: {e}; {hint}", path.display())))
    }
}

fn check_source(name: &str, spec: &SourceSpec, opts: &EnvOptions) -> Result<(), Error> {
    let err = |msg: String| Error::source(format!("stream \"{name}\": {msg}"));
    match spec {
        SourceSpec::File { path } => {
            std::fs::File::open(path).map(|_| ()).map_err(|e| err(format!("{}: {e}; check the path", path.display())))
        }
        SourceSpec::V4l2 { device } if !device.exists() => {
            Err(err(format!("{} does not exist; is the camera plugged in?", device.display())))
        }
        SourceSpec::Rtsp { .. } if !opts.offline => {
            let mut cap = GstCapture::open(spec, &CaptureOptions { leaky: true, ..CaptureOptions::default() })
                .map_err(|e| err(e.to_string()))?;
            let start = Instant::now();
            loop {
                let left = opts.source_timeout.saturating_sub(start.elapsed());
                if left.is_zero() {
                    return Err(err(format!(
                        "{spec}: no frame within {} s; check the address, the network and that the camera is on",
                        opts.source_timeout.as_secs()
                    )));
                }
                match cap.pull(left.min(Duration::from_millis(500))) {
                    Ok(Pull::Frame(_)) => return Ok(()),
                    Ok(Pull::Eos) => return Err(err(format!("{spec}: the stream ended at once"))),
                    Ok(Pull::Timeout) => {}
                    Err(e) => return Err(err(e.to_string())),
                }
            }
        }
        _ => Ok(()),
    }
}

/// Every environment problem of `loaded`; empty when it can run.
pub fn check(loaded: &Loaded, opts: &EnvOptions) -> Vec<Error> {
    let cfg = &loaded.config;
    let mut errors = Vec::new();
    if let Err(e) = Detector::load(&cfg.model) {
        errors.push(loaded.locate(e));
    }
    if let EventTarget::File(p) = &cfg.output.jsonl
        && let Err(e) = check_output(p)
    {
        errors.push(e);
    }
    for s in cfg.streams.iter().filter(|s| s.enabled) {
        if let Err(e) = check_source(&s.name, &s.source, opts) {
            errors.push(e);
        }
    }
    errors
}
