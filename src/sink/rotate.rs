//! Size rotation of the event file, logrotate's naming: `events.jsonl` is written, `events.jsonl.1`
//! is the newest full one, `events.jsonl.N` the oldest. The oldest go first when the files
//! together would pass the total cap.

use std::path::{Path, PathBuf};

/// Rotated files are looked for up to this number (a cap of 10 GB in 1 MB files is 10 000).
const MOST: u32 = 100_000;

/// `path.n`.
pub fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// Sizes of the rotated files, newest (`.1`) first, up to the first number that is missing.
pub fn rotated_sizes(path: &Path) -> Vec<u64> {
    let mut sizes = Vec::new();
    for n in 1..=MOST {
        match std::fs::metadata(rotated(path, n)) {
            Ok(m) if m.is_file() => sizes.push(m.len()),
            _ => break,
        }
    }
    sizes
}

/// Moves `path.n` to `path.n+1` for every rotated file (oldest first, so nothing is
/// overwritten), then `path` to `path.1`. `sizes` (as `rotated_sizes`) follows.
pub fn shift(path: &Path, sizes: &mut Vec<u64>, current: u64) -> std::io::Result<()> {
    for n in (1..=sizes.len() as u32).rev() {
        std::fs::rename(rotated(path, n), rotated(path, n + 1))?;
    }
    std::fs::rename(path, rotated(path, 1))?;
    sizes.insert(0, current);
    Ok(())
}

/// Deletes the oldest rotated files until the rest add up to `budget` bytes or less; returns
/// their total.
pub fn trim(path: &Path, sizes: &mut Vec<u64>, budget: u64) -> u64 {
    let mut total: u64 = sizes.iter().sum();
    while total > budget {
        let Some(size) = sizes.pop() else { break };
        let victim = rotated(path, sizes.len() as u32 + 1);
        if let Err(e) = std::fs::remove_file(&victim)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            log::warn!(
                "event file {}: cannot remove {} to stay under max_total_mb: {e}",
                path.display(),
                victim.display()
            );
            sizes.push(size);
            break;
        }
        total -= size;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_and_trim_keep_the_newest_under_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.jsonl");
        assert_eq!(rotated(&path, 3), dir.path().join("e.jsonl.3"));
        let mut sizes = rotated_sizes(&path);
        assert!(sizes.is_empty());
        for (i, len) in [10u64, 20, 30, 40].iter().enumerate() {
            std::fs::write(&path, vec![b'a' + i as u8; *len as usize]).unwrap();
            shift(&path, &mut sizes, *len).unwrap();
        }
        assert_eq!(sizes, [40, 30, 20, 10], "newest first");
        assert_eq!(rotated_sizes(&path), sizes);
        assert_eq!(std::fs::read(rotated(&path, 1)).unwrap()[0], b'd', ".1 is the newest");
        assert_eq!(trim(&path, &mut sizes, 75), 70);
        assert_eq!(sizes, [40, 30]);
        assert!(!rotated(&path, 3).exists() && rotated(&path, 2).exists());
        assert_eq!(trim(&path, &mut sizes, 0), 0);
        assert!(rotated_sizes(&path).is_empty());
    }
}
