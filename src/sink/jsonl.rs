//! JSON-lines sink: to standard output or appended to a file.
//!
//! Events are kept in memory as whole lines and written together every `flush_interval_s`
//! (one write, not one per event: the optimisation guide's "avoid unnecessary disk writes"),
//! at shutdown, on reload and when 64 KiB are waiting. A `kill -9` loses at most the events of
//! the last interval; no write ever leaves half a line behind except on a disk that filled up
//! in the middle of one, and the rest of that line follows when it is written again.
//!
//! A file never stops the pipeline once it is open: a write that fails (disk full, read-only,
//! removed directory) is counted and logged (rate limited), the events stay in memory (up to
//! `MAX_PENDING`, then the oldest are dropped and counted) and are written when writing works
//! again. A file removed or replaced under its name (`rm`, logrotate) is opened again. With
//! `max_file_mb` the file is rotated by size, and the oldest rotated files are removed so that
//! the event file and its rotated files together never pass `max_total_mb`. Standard output is
//! different: a closed standard output ends the run (exit 5), as nothing could read events.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::rotate;
use super::stats::{SinkDrop, SinkStats};
use super::{Event, KindEvent, Sink};
use crate::error::{Error, Result};

/// Events kept in memory while the output cannot be written.
pub const MAX_PENDING: usize = 8 << 20;
/// Written at once when this much is waiting, whatever the interval.
const WRITE_AT: usize = 64 << 10;
/// Repeated write errors are logged at most this often.
const ERROR_LOG_EVERY: Duration = Duration::from_secs(30);

/// How the event file is written (`[output.jsonl]`).
#[derive(Debug, Clone, PartialEq)]
pub struct FilePolicy {
    /// Rotate when the file would pass this size.
    pub max_file_bytes: Option<u64>,
    /// The event file and its rotated files together stay at or under this.
    pub max_total_bytes: Option<u64>,
    /// How long events wait in memory before they are written; zero writes each at once.
    pub flush_interval: Duration,
}

impl Default for FilePolicy {
    fn default() -> Self {
        FilePolicy { max_file_bytes: None, max_total_bytes: None, flush_interval: Duration::from_secs(1) }
    }
}

struct OpenFile {
    file: File,
    path: PathBuf,
    /// A regular file, synced to disk at shutdown and rotation; a character device
    /// (`/dev/null`) is not, and is never rotated nor looked for under its name.
    durable: bool,
    size: u64,
    /// Device and inode: a different file under the name means it was replaced.
    id: (u64, u64),
    /// Sizes of the rotated files, newest first (once the cap was first applied).
    rotated: Option<Vec<u64>>,
}

enum Target {
    Stdout,
    File(OpenFile),
    /// The file could not be opened again after it disappeared; retried at each write.
    Lost {
        path: PathBuf,
        durable: bool,
    },
}

pub struct JsonlSink {
    target: Target,
    policy: FilePolicy,
    stats: Arc<SinkStats>,
    /// One encoded event (reused).
    line: Vec<u8>,
    /// Whole lines not written yet (the first may be partly written: `partial`).
    pending: Vec<u8>,
    /// Bytes of the first pending line already in the file (a write cut by a full disk).
    partial: usize,
    last_write: Instant,
    /// Set while writing fails: when the last error was logged, and how many since.
    failing: Option<(Instant, u64)>,
}

fn open_append(path: &Path) -> std::io::Result<(File, u64, (u64, u64))> {
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let meta = file.metadata()?;
    Ok((file, meta.len(), (meta.dev(), meta.ino())))
}

impl JsonlSink {
    pub fn stdout(policy: FilePolicy, stats: Arc<SinkStats>) -> JsonlSink {
        JsonlSink::with_target(Target::Stdout, policy, stats)
    }

    fn with_target(target: Target, policy: FilePolicy, stats: Arc<SinkStats>) -> JsonlSink {
        JsonlSink {
            target,
            policy,
            stats,
            line: Vec::with_capacity(4096),
            pending: Vec::with_capacity(WRITE_AT * 2),
            partial: 0,
            last_write: Instant::now(),
            failing: None,
        }
    }

    /// Opens (or creates) the event file for appending. The checks and errors of start-up and
    /// `check` (exit 5); nothing is removed or rotated here.
    pub fn file(path: &Path, policy: FilePolicy, stats: Arc<SinkStats>) -> Result<JsonlSink> {
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
        let (file, size, id) = open_append(path).map_err(|e| {
            Error::output(format!(
                "cannot open event file {} for appending: {e}; check the path and permissions",
                path.display()
            ))
        })?;
        let open = OpenFile { file, path: path.to_path_buf(), durable, size, id, rotated: None };
        Ok(JsonlSink::with_target(Target::File(open), policy, stats))
    }

    /// One event as a JSON line, queued; written when its interval is up (`write_pending`).
    fn queue(&mut self, event: &impl serde::Serialize) -> Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, event).map_err(|e| Error::output(format!("cannot encode event: {e}")))?;
        self.line.push(b'\n');
        if let (Target::File(f), Some(max)) = (&self.target, self.policy.max_file_bytes)
            && f.durable
            && self.line.len() as u64 > max
        {
            self.stats.count_dropped(SinkDrop::TooLarge, 1);
            log::warn!(
                "event file {}: an event of {} bytes is larger than output.jsonl.max_file_mb and was dropped; raise \
                 max_file_mb",
                f.path.display(),
                self.line.len()
            );
            return Ok(());
        }
        self.pending.extend_from_slice(&self.line);
        self.bound_pending();
        let now = Instant::now();
        if self.policy.flush_interval.is_zero()
            || self.pending.len() >= WRITE_AT
            || now.saturating_duration_since(self.last_write) >= self.policy.flush_interval
        {
            self.write_pending(now)?;
        }
        SinkStats::set(&self.stats.pending_bytes, self.pending.len() as u64);
        Ok(())
    }

    fn describe(&self) -> String {
        match &self.target {
            Target::Stdout => "standard output".into(),
            Target::File(f) => f.path.display().to_string(),
            Target::Lost { path, .. } => path.display().to_string(),
        }
    }

    /// Keeps `pending` under `MAX_PENDING` by dropping the oldest whole lines (never the one
    /// partly in the file), down to 7/8 of it, so that a long outage moves the buffer once per
    /// megabyte of events rather than once per event.
    fn bound_pending(&mut self) {
        if self.pending.len() <= MAX_PENDING {
            return;
        }
        let first_end = self.pending.iter().position(|b| *b == b'\n').map_or(0, |i| i + 1);
        let keep_from = if self.partial > 0 { first_end } else { 0 };
        let excess = self.pending.len() - (MAX_PENDING - MAX_PENDING / 8);
        // Whole lines from `keep_from` until `excess` bytes are gone.
        let mut cut = keep_from;
        let mut dropped = 0;
        while cut - keep_from < excess {
            match self.pending[cut..].iter().position(|b| *b == b'\n') {
                Some(i) => {
                    cut += i + 1;
                    dropped += 1;
                }
                None => break,
            }
        }
        self.pending.drain(keep_from..cut);
        self.stats.count_dropped(SinkDrop::Disk, dropped);
        log::warn!(
            "event file {}: {dropped} oldest unwritten event(s) dropped: {} MiB waited in memory (the output has \
             failed since the first error logged)",
            self.describe(),
            MAX_PENDING >> 20
        );
    }

    /// Writes what is pending. Files: errors are counted and logged, the events kept.
    fn write_pending(&mut self, now: Instant) -> Result<()> {
        self.last_write = now;
        if self.pending.is_empty() {
            return Ok(());
        }
        let result = match &mut self.target {
            Target::Stdout => {
                let mut out = std::io::stdout().lock();
                let res = out.write_all(&self.pending).and_then(|_| out.flush());
                res.map_err(|e| Error::output(format!("cannot write events to standard output: {e}")))?;
                let lines = self.pending.iter().filter(|b| **b == b'\n').count() as u64;
                SinkStats::add(&self.stats.written, lines);
                self.pending.clear();
                SinkStats::set(&self.stats.pending_bytes, 0);
                return Ok(());
            }
            Target::Lost { path, durable } => match open_append(path) {
                Ok((file, size, id)) => {
                    let (path, durable) = (std::mem::take(path), *durable);
                    log::info!("event file {}: opened again", path.display());
                    self.target = Target::File(OpenFile { file, path, durable, size, id, rotated: None });
                    SinkStats::add(&self.stats.reopens, 1);
                    return self.write_pending(now);
                }
                Err(e) => Err(WriteFailure::Failed(format!("cannot open it again: {e}"))),
            },
            Target::File(f) => write_file(f, &mut self.pending, &mut self.partial, &self.policy, &self.stats),
        };
        match result {
            Ok(()) => {
                if let Some((_, errors)) = self.failing.take() {
                    log::info!(
                        "event file {}: writing again after {errors} failed attempt(s); the events kept meanwhile \
                         are written",
                        self.describe()
                    );
                }
            }
            Err(failure) => {
                SinkStats::add(&self.stats.errors, 1);
                let e = match &failure {
                    WriteFailure::Removed(e) | WriteFailure::Failed(e) => e,
                };
                let due = self.failing.is_none_or(|(at, _)| now.saturating_duration_since(at) >= ERROR_LOG_EVERY);
                let count = self.failing.map_or(0, |(_, n)| n) + 1;
                if due {
                    log::error!(
                        "event file {}: {e}; the pipeline goes on and keeps up to {} MiB of events in memory, \
                         written when the file can be written again (free disk space or fix the permissions)",
                        self.describe(),
                        MAX_PENDING >> 20
                    );
                    self.failing = Some((now, count));
                } else if let Some((_, n)) = &mut self.failing {
                    *n = count;
                }
                if let (Target::File(f), WriteFailure::Removed(_)) = (&self.target, &failure) {
                    self.target = Target::Lost { path: f.path.clone(), durable: f.durable };
                }
            }
        }
        SinkStats::set(&self.stats.pending_bytes, self.pending.len() as u64);
        Ok(())
    }
}

/// Why pending events could not be written.
enum WriteFailure {
    /// The file was removed and a new one could not be created: retried as `Target::Lost`.
    Removed(String),
    Failed(String),
}

/// Whether `f` is still the file under its name.
fn still_there(f: &OpenFile) -> bool {
    std::fs::metadata(&f.path).is_ok_and(|m| (m.dev(), m.ino()) == f.id)
}

/// Writes the pending lines into `f`, rotating by size. On an error the written part is gone
/// from `pending` and the rest stays; the error says why.
fn write_file(
    f: &mut OpenFile,
    pending: &mut Vec<u8>,
    partial: &mut usize,
    policy: &FilePolicy,
    stats: &SinkStats,
) -> std::result::Result<(), WriteFailure> {
    if f.durable && !still_there(f) {
        // Removed or renamed away (logrotate): a new file under the name.
        let (file, size, id) =
            open_append(&f.path).map_err(|e| WriteFailure::Removed(format!("the file was removed and {e}")))?;
        log::info!("event file {}: it was removed or replaced; writing to a new one", f.path.display());
        SinkStats::add(&stats.reopens, 1);
        (f.file, f.size, f.id) = (file, size, id);
    }
    let max_file = policy.max_file_bytes.filter(|_| f.durable);
    if let Some(max) = max_file
        && f.rotated.is_none()
    {
        // First write: the cap applies to what earlier runs left too.
        let mut sizes = rotate::rotated_sizes(&f.path);
        let budget = policy.max_total_bytes.unwrap_or(u64::MAX).saturating_sub(max);
        rotate::trim(&f.path, &mut sizes, budget);
        f.rotated = Some(sizes);
    }
    while !pending.is_empty() {
        // The lines that fit in this file (all of them without rotation).
        let mut end = pending.len();
        if let Some(max) = max_file {
            end = 0;
            let mut from = 0;
            while let Some(i) = pending[from..].iter().position(|b| *b == b'\n') {
                let next = from + i + 1;
                // The rest of a line cut by a full disk goes where its start is.
                if f.size + (next - *partial) as u64 > max && !(from == 0 && *partial > 0) {
                    break;
                }
                end = next;
                from = next;
            }
            if end == 0 {
                rotate_now(f, policy, max).map_err(WriteFailure::Failed)?;
                SinkStats::add(&stats.rotations, 1);
                continue;
            }
        }
        let chunk = &pending[*partial..end];
        let mut done = 0;
        let result = loop {
            if done == chunk.len() {
                break Ok(());
            }
            match f.file.write(&chunk[done..]) {
                Ok(0) => break Err("the file takes no more bytes (disk full?)".to_string()),
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => break Err(format!("cannot write: {e}")),
            }
        };
        f.size += done as u64;
        // Whole lines written leave `pending`; a cut line stays, its written part remembered.
        let written = &chunk[..done];
        let whole = written.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let lines = written.iter().filter(|b| **b == b'\n').count() as u64;
        SinkStats::add(&stats.written, lines);
        if whole > 0 {
            pending.drain(..*partial + whole);
            *partial = done - whole;
        } else {
            *partial += done;
        }
        result.map_err(WriteFailure::Failed)?;
    }
    let rotated: u64 = f.rotated.as_ref().map_or(0, |r| r.iter().sum());
    SinkStats::set(&stats.bytes_on_disk, f.size + rotated);
    Ok(())
}

/// Closes the full file as `path.1` and starts an empty one, then removes the oldest rotated
/// files beyond `max_total_mb`.
fn rotate_now(f: &mut OpenFile, policy: &FilePolicy, max_file: u64) -> std::result::Result<(), String> {
    let _ = f.file.sync_data();
    let sizes = f.rotated.get_or_insert_with(Vec::new);
    rotate::shift(&f.path, sizes, f.size).map_err(|e| format!("cannot rotate it: {e}"))?;
    let budget = policy.max_total_bytes.unwrap_or(u64::MAX).saturating_sub(max_file);
    rotate::trim(&f.path, sizes, budget);
    let (file, size, id) = open_append(&f.path).map_err(|e| format!("cannot start a new file after rotating: {e}"))?;
    (f.file, f.size, f.id) = (file, size, id);
    Ok(())
}

impl Sink for JsonlSink {
    fn emit(&mut self, event: &Event<'_>) -> Result<()> {
        self.queue(event)
    }

    fn emit_kind(&mut self, event: &KindEvent<'_>) -> Result<()> {
        self.queue(event)
    }

    fn tick(&mut self) -> Result<()> {
        let now = Instant::now();
        if !self.pending.is_empty() && now.saturating_duration_since(self.last_write) >= self.policy.flush_interval {
            self.write_pending(now)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.write_pending(Instant::now())?;
        let res = match &mut self.target {
            Target::Stdout => std::io::stdout().flush(),
            Target::File(OpenFile { file, durable: true, .. }) => file.sync_data(),
            Target::File(OpenFile { file, durable: false, .. }) => file.flush(),
            Target::Lost { .. } => Ok(()),
        };
        res.map_err(|e| Error::output(format!("cannot flush events to {}: {e}", self.describe())))?;
        if !self.pending.is_empty() {
            return Err(Error::output(format!(
                "event file {}: {} bytes of events could not be written (see the errors above); free disk space or \
                 fix the permissions",
                self.describe(),
                self.pending.len()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Labels;

    fn event(frame: u64, labels: &Labels) -> Event<'_> {
        Event {
            ts: std::time::SystemTime::UNIX_EPOCH,
            stream: "cam",
            frame,
            pts_ms: None,
            width: 640,
            height: 480,
            latency_ms: 1.0,
            detections: &[],
            track_ids: &[],
            labels,
            snapshot: None,
        }
    }

    /// While nothing can be written, at most `MAX_PENDING` bytes wait: the oldest lines go
    /// first, whole, and are counted; the newest stay in order.
    #[test]
    fn an_output_that_never_works_keeps_the_newest_events_under_the_cap() {
        let labels = Labels::from_names(["a"]);
        let stats = Arc::new(SinkStats::default());
        let lost = Target::Lost { path: PathBuf::from("/nonexistent-dir/e.jsonl"), durable: true };
        let policy = FilePolicy { flush_interval: Duration::ZERO, ..FilePolicy::default() };
        let mut sink = JsonlSink::with_target(lost, policy, Arc::clone(&stats));
        let n = 100_000;
        for i in 0..n {
            sink.emit(&event(i, &labels)).unwrap();
        }
        assert!(sink.pending.len() <= MAX_PENDING && sink.pending.len() > MAX_PENDING / 2);
        let text = String::from_utf8(sink.pending.clone()).unwrap();
        let frames: Vec<u64> = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["frame"].as_u64().unwrap())
            .collect();
        assert_eq!(frames.last(), Some(&(n - 1)));
        assert!(frames.windows(2).all(|w| w[1] == w[0] + 1), "the newest, in order");
        assert_eq!(stats.dropped(SinkDrop::Disk) + frames.len() as u64, n, "every event written or counted");
        assert_eq!(SinkStats::get(&stats.errors), n, "each write attempt failed and was counted");
        assert!(sink.flush().is_err(), "at shutdown the unwritten events are an error");
    }

    /// Rotation by size: whole lines, no file over the size, the total under the cap.
    #[test]
    fn rotation_splits_on_line_boundaries_under_both_caps() {
        let labels = Labels::from_names(["a"]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.jsonl");
        let policy = FilePolicy {
            max_file_bytes: Some(1000),
            max_total_bytes: Some(3500),
            flush_interval: Duration::from_secs(3600),
        };
        let stats = Arc::new(SinkStats::default());
        let mut sink = JsonlSink::file(&path, policy, Arc::clone(&stats)).unwrap();
        for i in 0..200 {
            sink.emit(&event(i, &labels)).unwrap();
            if i % 7 == 0 {
                sink.flush().unwrap();
            }
        }
        sink.flush().unwrap();
        let mut frames = Vec::new();
        let mut total = 0;
        for p in [rotate::rotated(&path, 2), rotate::rotated(&path, 1), path.clone()] {
            let text = std::fs::read_to_string(&p).unwrap();
            assert!(text.len() <= 1000 && text.ends_with('\n'), "{}: {} bytes", p.display(), text.len());
            total += text.len();
            frames.extend(
                text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["frame"].as_u64().unwrap()),
            );
        }
        assert!(!rotate::rotated(&path, 3).exists() && total <= 3500);
        assert_eq!(frames.last(), Some(&199));
        assert!(frames.windows(2).all(|w| w[1] == w[0] + 1));
        assert_eq!(SinkStats::get(&stats.written), 200);
        assert_eq!(SinkStats::get(&stats.bytes_on_disk), total as u64);
    }
}
