//! Files named in the configuration (the config file and its drop-ins, labels, models, the ONNX
//! Runtime library, media files): every one goes through here before anything reads it.
//!
//! A path that is not a regular file (a directory, a FIFO, a socket, a character or block device
//! such as `/dev/zero`) is refused with what it is, before it is opened: reading `/dev/zero` would
//! grow memory without end and opening a FIFO would block until a writer comes. Files that
//! edgesight reads itself are opened with `O_NONBLOCK` and checked again on the open handle (the
//! path may change in between), and read up to their size cap plus one byte, so a file that grows
//! or lies about its size (`/proc`) cannot make edgesight read more than that.

use std::fs::{File, Metadata, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use crate::error::{Error, ExitKind, Result};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// What a configured file is used as: its name in messages, its size cap, the fix that ends every
/// message about it, and the class of error (exit code) a problem with it is.
#[derive(Debug, Clone, Copy)]
pub struct Role {
    pub what: &'static str,
    /// Largest size accepted; `None` for files others read (media, the library).
    pub cap: Option<u64>,
    pub fix: &'static str,
    pub kind: ExitKind,
}

/// The main configuration file: a few KiB in practice.
pub const CONFIG: Role =
    Role { what: "config file", cap: Some(MIB), fix: "pass a TOML file with --config", kind: ExitKind::Config };

/// A drop-in of `conf.d/`.
pub const DROP_IN: Role = Role {
    what: "drop-in",
    cap: Some(MIB),
    fix: "every visible *.toml in conf.d is applied: make it a TOML file, or remove or rename it",
    kind: ExitKind::Config,
};

/// `model.labels` / `--labels`: one class name per line (COCO's 80 take 600 bytes).
pub const LABELS: Role = Role {
    what: "labels file",
    cap: Some(MIB),
    fix: "set model.labels to a text file with one class name per line",
    kind: ExitKind::Model,
};

/// `model.path` / `--model`: an ONNX file holds at most 2 GiB (protobuf's limit; larger models
/// keep their weights in external data files, which ONNX Runtime opens itself).
pub const MODEL: Role = Role {
    what: "model file",
    cap: Some(2 * GIB),
    fix: "set model.path to an .onnx file (the bundled ones are in models/)",
    kind: ExitKind::Model,
};

/// `model.onnxruntime_lib` / `ORT_DYLIB_PATH`: mapped by the dynamic loader, never read here.
pub const LIBRARY: Role = Role {
    what: "ONNX Runtime library",
    cap: None,
    fix: "point model.onnxruntime_lib or ORT_DYLIB_PATH at libonnxruntime.so",
    kind: ExitKind::Model,
};

/// A video or image file (a `file` stream, `detect` inputs): GStreamer reads it.
pub const MEDIA: Role =
    Role { what: "media file", cap: None, fix: "check the path: give a video or image file", kind: ExitKind::Source };

/// Why a path cannot be used, without the role's wording (`ortlib` lists these per place tried).
#[derive(Debug)]
pub enum Problem {
    /// stat or open failed (missing, permissions, a loop of links …).
    Io(std::io::Error),
    /// A symbolic link whose target does not exist.
    Dangling(std::path::PathBuf),
    /// Not a regular file: what it is instead.
    NotRegular(&'static str),
    /// Larger than the role's cap (`size` 0: more than `cap` came out of a file whose size said
    /// less).
    TooLarge { size: u64, cap: u64 },
    /// Not UTF-8 text (line number, from 1, of the first invalid byte).
    NotUtf8 { line: usize },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Io(e) => write!(f, "{e}"),
            Problem::Dangling(target) => {
                write!(f, "is a symbolic link to {}, which does not exist", target.display())
            }
            Problem::NotRegular(what) => write!(f, "is {what}, not a regular file"),
            Problem::TooLarge { size, cap } if size > cap => {
                write!(f, "is {} ({size} bytes), more than the {} allowed", human(*size), human(*cap))
            }
            Problem::TooLarge { cap, .. } => write!(f, "is larger than the {} allowed", human(*cap)),
            Problem::NotUtf8 { line } => write!(f, "is not UTF-8 text (line {line}); save it as UTF-8"),
        }
    }
}

impl Problem {
    /// The one-line error of this problem for a file of `role`.
    pub fn error(&self, path: &Path, role: &Role) -> Error {
        let msg = match self {
            // An I/O error reads "No such file or directory (os error 2)": keep the usual order.
            Problem::Io(e) => format!("cannot read {} {}: {e}; {}", role.what, path.display(), role.fix),
            other => format!("{} {} {other}; {}", role.what, path.display(), role.fix),
        };
        match role.kind {
            ExitKind::Config => Error::Config(msg),
            ExitKind::Model => Error::Model(msg),
            ExitKind::Source => Error::Source(msg),
            ExitKind::Output => Error::Output(msg),
            ExitKind::Other | ExitKind::ShutdownTimeout => Error::Other(msg),
        }
    }
}

/// `1 MiB`, `2 GiB`, `1.5 MiB`, `300 bytes`.
pub fn human(bytes: u64) -> String {
    let (unit, name) = if bytes >= GIB {
        (GIB, "GiB")
    } else if bytes >= MIB {
        (MIB, "MiB")
    } else if bytes >= 1024 {
        (1024, "KiB")
    } else {
        return format!("{bytes} bytes");
    };
    if bytes.is_multiple_of(unit) {
        format!("{} {name}", bytes / unit)
    } else {
        format!("{:.1} {name}", bytes as f64 / unit as f64)
    }
}

/// What a non-regular file is, for messages; `None` for a regular file.
pub fn not_regular(meta: &Metadata) -> Option<&'static str> {
    let t = meta.file_type();
    if t.is_file() {
        None
    } else if t.is_dir() {
        Some("a directory")
    } else if t.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if t.is_socket() {
        Some("a socket")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else {
        Some("not a file")
    }
}

fn check_meta(meta: &Metadata, cap: Option<u64>) -> Result<(), Problem> {
    if let Some(what) = not_regular(meta) {
        return Err(Problem::NotRegular(what));
    }
    match cap {
        Some(cap) if meta.len() > cap => Err(Problem::TooLarge { size: meta.len(), cap }),
        _ => Ok(()),
    }
}

/// Checks `path` without opening it: it exists (following symbolic links), is a regular file and
/// is not over `cap`.
pub fn inspect(path: &Path, cap: Option<u64>) -> Result<Metadata, Problem> {
    let meta = std::fs::metadata(path).map_err(|e| match std::fs::read_link(path) {
        Ok(target) if e.kind() == std::io::ErrorKind::NotFound => Problem::Dangling(target),
        _ => Problem::Io(e),
    })?;
    check_meta(&meta, cap)?;
    Ok(meta)
}

/// Reads a regular file of at most `cap` bytes: checked by path, opened without blocking (a FIFO
/// swapped in meanwhile cannot hang the open), checked again on the handle, read up to `cap + 1`.
pub fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, Problem> {
    inspect(path, Some(cap))?;
    let file: File = OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path).map_err(Problem::Io)?;
    let meta = file.metadata().map_err(Problem::Io)?;
    check_meta(&meta, Some(cap))?;
    let mut bytes = Vec::with_capacity(meta.len().min(cap) as usize);
    file.take(cap + 1).read_to_end(&mut bytes).map_err(Problem::Io)?;
    if bytes.len() as u64 > cap {
        // Its size said otherwise (a file that grew, or one of /proc): the real size is unknown.
        return Err(Problem::TooLarge { size: 0, cap });
    }
    Ok(bytes)
}

/// Bytes as UTF-8 text, or the line of the first byte that is not.
pub fn utf8(bytes: Vec<u8>) -> Result<String, Problem> {
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..valid].iter().filter(|&&b| b == b'\n').count() + 1;
        Problem::NotUtf8 { line }
    })
}

/// Checks a file that another component reads (ONNX Runtime, GStreamer, the dynamic loader):
/// a regular file within the role's cap.
pub fn check(path: &Path, role: &Role) -> Result<Metadata> {
    inspect(path, role.cap).map_err(|p| p.error(path, role))
}

/// Reads a file of `role` (which must have a cap).
pub fn read(path: &Path, role: &Role) -> Result<Vec<u8>> {
    read_capped(path, role.cap.unwrap_or(MIB)).map_err(|p| p.error(path, role))
}

/// Reads a UTF-8 text file of `role`.
pub fn read_text(path: &Path, role: &Role) -> Result<String> {
    read_capped(path, role.cap.unwrap_or(MIB)).and_then(utf8).map_err(|p| p.error(path, role))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_files_are_named() {
        assert!(matches!(inspect(Path::new("/dev/zero"), None), Err(Problem::NotRegular("a character device"))));
        assert!(matches!(inspect(Path::new("/"), None), Err(Problem::NotRegular("a directory"))));
        assert!(matches!(read_capped(Path::new("/dev/urandom"), 10), Err(Problem::NotRegular(_))));
    }

    #[test]
    fn reads_at_most_the_cap() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        let f = dir.join("big.txt");
        std::fs::write(&f, vec![b'a'; 11]).expect("write");
        assert!(matches!(read_capped(&f, 10), Err(Problem::TooLarge { size: 11, cap: 10 })));
        assert_eq!(read_capped(&f, 11).expect("fits").len(), 11);
        let link = dir.join("dangling.txt");
        std::os::unix::fs::symlink(dir.join("nowhere"), &link).expect("symlink");
        assert!(matches!(inspect(&link, None), Err(Problem::Dangling(_))));
    }

    #[test]
    fn utf8_errors_name_the_line() {
        assert!(matches!(utf8(b"a\nb\n\xff".to_vec()), Err(Problem::NotUtf8 { line: 3 })));
        assert_eq!(utf8(b"ok".to_vec()).expect("utf-8"), "ok");
    }

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(human(MIB), "1 MiB");
        assert_eq!(human(2 * GIB), "2 GiB");
        assert_eq!(human(MIB + MIB / 2), "1.5 MiB");
        assert_eq!(human(300), "300 bytes");
    }
}

/// What identifies a file's content cheaply: device, inode, size and modification time. A file
/// replaced at the same path (copied over, or renamed into place) gets a new stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
}

/// The stamp of `path` (following symbolic links), None when it cannot be read.
pub fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        dev: m.dev(),
        ino: m.ino(),
        len: m.len(),
        mtime_ns: m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
    })
}

/// edgesight's cache folder: systemd's `CacheDirectory` (the unit sets `/var/cache/edgesight`),
/// else `$XDG_CACHE_HOME/edgesight` or `~/.cache/edgesight`; none when none of them is known.
/// Compiled CUDA kernels and TensorRT engines live here.
pub fn cache_dir() -> Option<std::path::PathBuf> {
    use std::path::PathBuf;
    if let Some(d) = std::env::var_os("CACHE_DIRECTORY") {
        // systemd may pass several, separated by ':'; the first is ours.
        let first = d.to_string_lossy().split(':').next().unwrap_or_default().to_string();
        return (!first.is_empty()).then(|| PathBuf::from(first));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("edgesight"))
}

/// edgesight's state folder: systemd's `StateDirectory` (the unit sets `/var/lib/edgesight`),
/// else `$XDG_STATE_HOME/edgesight` or `~/.local/state/edgesight`, else `/var/lib/edgesight`.
/// The MQTT spool lives here.
pub fn state_dir() -> std::path::PathBuf {
    use std::path::PathBuf;
    if let Some(d) = std::env::var_os("STATE_DIRECTORY") {
        let first = d.to_string_lossy().split(':').next().unwrap_or_default().to_string();
        if !first.is_empty() {
            return PathBuf::from(first);
        }
    }
    std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .map_or_else(|| PathBuf::from("/var/lib/edgesight"), |b| b.join("edgesight"))
}
