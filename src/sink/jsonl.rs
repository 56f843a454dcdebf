//! JSON-lines sink: to standard output or appended to a file, one `write` per event so a crash
//! never leaves half a line and no event waits in a buffer.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Event, Sink, TrackEndEvent};
use crate::error::{Error, Result};

enum Target {
    Stdout,
    /// `durable`: a regular file, synced to disk on flush; a character device (`/dev/null`) is not.
    File {
        file: File,
        path: PathBuf,
        durable: bool,
    },
}

pub struct JsonlSink {
    target: Target,
    line: Vec<u8>,
    written: u64,
}

impl JsonlSink {
    pub fn stdout() -> JsonlSink {
        JsonlSink { target: Target::Stdout, line: Vec::with_capacity(4096), written: 0 }
    }

    pub fn file(path: &Path) -> Result<JsonlSink> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir()
        {
            return Err(Error::output(format!(
                "event file {}: directory {} does not exist; create it or change output.jsonl.path",
                path.display(),
                dir.display()
            )));
        }
        // A FIFO would block opening (and every write) until a reader comes, a socket or a
        // directory cannot take appends: refused, by the same rule for `check` and `run`.
        // Character devices (/dev/null, a serial console) are written like files.
        let existing = std::fs::metadata(path).ok();
        if let Some(meta) = &existing {
            use std::os::unix::fs::FileTypeExt;
            let what = crate::fsutil::not_regular(meta).filter(|_| !meta.file_type().is_char_device());
            if let Some(what) = what {
                return Err(Error::output(format!(
                    "event file {} is {what}; events go to a regular file, or to standard output with \
                     path = \"-\"",
                    path.display()
                )));
            }
        }
        let durable = existing.as_ref().is_none_or(|m| m.is_file());
        let file = OpenOptions::new().create(true).append(true).open(path).map_err(|e| {
            Error::output(format!(
                "cannot open event file {} for appending: {e}; check the path and permissions",
                path.display()
            ))
        })?;
        Ok(JsonlSink {
            target: Target::File { file, path: path.to_path_buf(), durable },
            line: Vec::with_capacity(4096),
            written: 0,
        })
    }

    /// Events written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    fn describe(&self) -> String {
        match &self.target {
            Target::Stdout => "standard output".into(),
            Target::File { path, .. } => path.display().to_string(),
        }
    }
}

impl JsonlSink {
    /// One JSON line, written with a single `write`.
    fn line(&mut self, event: &impl serde::Serialize) -> Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, event).map_err(|e| Error::output(format!("cannot encode event: {e}")))?;
        self.line.push(b'\n');
        let res = match &mut self.target {
            Target::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(&self.line).and_then(|_| out.flush())
            }
            Target::File { file, .. } => file.write_all(&self.line),
        };
        res.map_err(|e| Error::output(format!("cannot write events to {}: {e}", self.describe())))?;
        self.written += 1;
        Ok(())
    }
}

impl Sink for JsonlSink {
    fn emit(&mut self, event: &Event<'_>) -> Result<()> {
        self.line(event)
    }

    fn emit_track_end(&mut self, event: &TrackEndEvent<'_>) -> Result<()> {
        self.line(event)
    }

    fn flush(&mut self) -> Result<()> {
        let res = match &mut self.target {
            Target::Stdout => std::io::stdout().flush(),
            Target::File { file, durable: true, .. } => file.sync_data(),
            Target::File { file, durable: false, .. } => file.flush(),
        };
        res.map_err(|e| Error::output(format!("cannot flush events to {}: {e}", self.describe())))
    }
}
