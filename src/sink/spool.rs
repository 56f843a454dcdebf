//! The MQTT output's on-disk spool: an append-only log of segment files in `spool_dir`, bounded
//! by `spool_max_mb`. Every event goes through it: appended (in order), published from it, and
//! forgotten only once the broker acknowledged it (PUBACK for QoS 1; written to the socket for
//! QoS 0). While the broker is unreachable the log grows; on reconnect (or after a restart) it is
//! replayed from the oldest unacknowledged event, before any newer one.
//!
//! Files: `<20-digit sequence>.seg` segments, written one after the other, and `ack`, the
//! position (`segment offset`) after the last acknowledged event, replaced atomically (written to
//! `ack.tmp`, then renamed) at most once a second and at close. A record is
//! `[len: u32 LE][crc32(body): u32 LE][body]`, the body `[topic length: u16 LE][topic][payload]`.
//! A record cut by a kill or a power cut fails its length or checksum: at open the segment is
//! truncated there (the torn tail is skipped and logged) and appending continues after the last
//! whole record. Events acknowledged after the last `ack` write are published again after a
//! restart: duplicates, never a loss (at least once).
//!
//! When an append would pass the cap, whole segments go, the oldest first, and their events not
//! yet acknowledged are counted as `dropped{reason="spool_full"}`.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Position in the spool: a segment and a byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub seg: u64,
    pub off: u64,
}

const HEADER: usize = 8;
/// How often the acknowledged position is written to disk at most.
const ACK_EVERY: Duration = Duration::from_secs(1);

/// One record read back from the spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub topic: String,
    pub payload: Vec<u8>,
    /// The position after it (what `ack` takes).
    pub end: Pos,
}

#[derive(Debug)]
struct Segment {
    id: u64,
    /// Bytes in the file plus those buffered for it (only the last segment buffers).
    bytes: u64,
    records: u64,
    acked: u64,
}

/// What changed when events were appended or segments dropped.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Appended {
    /// Unacknowledged events dropped with the oldest segments (cap reached).
    pub dropped_full: u64,
    /// Events larger than half the cap, never stored.
    pub dropped_too_large: u64,
}

pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    segs: VecDeque<Segment>,
    /// The last segment, opened for appending.
    file: File,
    /// Appended but not yet written to `file`.
    buf: Vec<u8>,
    read: Pos,
    acked: Pos,
    ack_written: Pos,
    ack_written_at: Instant,
    /// Events appended and not acknowledged (nor dropped).
    pending: u64,
}

/// CRC-32 (IEEE 802.3, reflected), the checksum of a record body.
pub fn crc32(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, e) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            }
            *e = c;
        }
        t
    });
    let mut c = !0u32;
    for b in data {
        c = table[((c ^ *b as u32) & 0xFF) as usize] ^ (c >> 8);
    }
    !c
}

fn seg_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.seg"))
}

/// The whole records at the start of `data`: their count and the length they cover.
fn scan(data: &[u8]) -> (u64, usize) {
    let (mut n, mut at) = (0, 0);
    while let Some(len) = record_len(&data[at..]) {
        at += len;
        n += 1;
    }
    (n, at)
}

/// The length of the whole, valid record at the start of `data`.
fn record_len(data: &[u8]) -> Option<usize> {
    if data.len() < HEADER {
        return None;
    }
    let len = u32::from_le_bytes(data[0..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(data[4..8].try_into().ok()?);
    let body = data.get(HEADER..HEADER + len)?;
    (len >= 2 && crc32(body) == crc).then_some(HEADER + len)
}

fn decode(body: &[u8], end: Pos) -> Option<Record> {
    let tl = u16::from_le_bytes(body.get(0..2)?.try_into().ok()?) as usize;
    let topic = std::str::from_utf8(body.get(2..2 + tl)?).ok()?.to_string();
    Some(Record { topic, payload: body[2 + tl..].to_vec(), end })
}

impl Spool {
    /// Opens (or creates) the spool in `dir`: checks every segment, truncates a torn tail, and
    /// positions reading at the first event not acknowledged.
    pub fn open(dir: &Path, max_bytes: u64) -> std::io::Result<Spool> {
        std::fs::create_dir_all(dir)?;
        let mut ids: Vec<u64> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".seg")?.parse().ok())
            .collect();
        ids.sort_unstable();
        let acked = std::fs::read_to_string(dir.join("ack"))
            .ok()
            .and_then(|s| {
                let mut it = s.split_whitespace().map(|v| v.parse::<u64>().ok());
                Some(Pos { seg: it.next()??, off: it.next()?? })
            })
            .unwrap_or(Pos { seg: 0, off: 0 });
        let mut segs = VecDeque::new();
        for id in ids {
            let path = seg_path(dir, id);
            if id < acked.seg {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            let data = std::fs::read(&path)?;
            let (records, valid) = scan(&data);
            if valid < data.len() {
                log::warn!(
                    "MQTT spool {}: {} byte(s) of a torn or damaged record skipped (a kill or power cut during a \
                     write); the events before it are kept",
                    path.display(),
                    data.len() - valid
                );
                OpenOptions::new().write(true).open(&path)?.set_len(valid as u64)?;
            }
            let acked_here = if id == acked.seg { scan(&data[..(acked.off as usize).min(valid)]).0 } else { 0 };
            segs.push_back(Segment { id, bytes: valid as u64, records, acked: acked_here });
        }
        let next_id = segs.back().map_or(acked.seg.max(1), |s| s.id);
        if segs.is_empty() {
            segs.push_back(Segment { id: next_id, bytes: 0, records: 0, acked: 0 });
        }
        let last = segs.back().map(|s| s.id).unwrap_or(next_id);
        let file = OpenOptions::new().create(true).append(true).open(seg_path(dir, last))?;
        let first = segs.front().map(|s| s.id).unwrap_or(last);
        let start = if acked.seg >= first && segs.iter().any(|s| s.id == acked.seg) {
            Pos { seg: acked.seg, off: acked.off.min(segs.iter().find(|s| s.id == acked.seg).map_or(0, |s| s.bytes)) }
        } else {
            Pos { seg: first, off: 0 }
        };
        let pending = segs.iter().map(|s| s.records - s.acked.min(s.records)).sum();
        let segment_bytes = (max_bytes / 8).clamp(4096, 8 << 20);
        Ok(Spool {
            dir: dir.to_path_buf(),
            max_bytes,
            segment_bytes,
            segs,
            file,
            buf: Vec::new(),
            read: start,
            acked: start,
            ack_written: start,
            ack_written_at: Instant::now(),
            pending,
        })
    }

    /// Bytes of the spool (files and what waits to be written to them).
    pub fn bytes(&self) -> u64 {
        self.segs.iter().map(|s| s.bytes).sum()
    }

    /// Events stored and not yet acknowledged.
    pub fn pending(&self) -> u64 {
        self.pending
    }

    /// The position after the last event appended.
    pub fn end(&self) -> Pos {
        let last = self.segs.back().expect("a spool always has a segment");
        Pos { seg: last.id, off: last.bytes }
    }

    /// Whether events wait to be published (from the read position).
    pub fn has_unread(&self) -> bool {
        self.read < self.end()
    }

    /// Appends one event (buffered: `write` puts it in the file).
    pub fn append(&mut self, topic: &str, payload: &[u8]) -> std::io::Result<Appended> {
        let mut out = Appended::default();
        let body_len = 2 + topic.len() + payload.len();
        let rec_len = (HEADER + body_len) as u64;
        if rec_len > self.max_bytes / 2 || topic.len() > u16::MAX as usize || body_len > u32::MAX as usize {
            out.dropped_too_large = 1;
            return Ok(out);
        }
        if self.segs.back().is_some_and(|s| s.bytes > 0 && s.bytes + rec_len > self.segment_bytes) {
            self.roll()?;
        }
        while self.bytes() + rec_len > self.max_bytes && self.segs.len() > 1 {
            out.dropped_full += self.drop_oldest();
        }
        let start = self.buf.len();
        self.buf.extend_from_slice(&(body_len as u32).to_le_bytes());
        self.buf.extend_from_slice(&[0; 4]);
        self.buf.extend_from_slice(&(topic.len() as u16).to_le_bytes());
        self.buf.extend_from_slice(topic.as_bytes());
        self.buf.extend_from_slice(payload);
        let crc = crc32(&self.buf[start + HEADER..]);
        self.buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
        let last = self.segs.back_mut().expect("a spool always has a segment");
        last.bytes += rec_len;
        last.records += 1;
        self.pending += 1;
        Ok(out)
    }

    /// Writes the buffered events to the last segment (no fsync: a kill loses nothing written,
    /// a power cut what the kernel had not written yet).
    pub fn write(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let res = self.file.write_all(&self.buf);
        if res.is_err() {
            // Whatever part went in is cut off again, so that the file holds whole records.
            let last = self.segs.back_mut().expect("a spool always has a segment");
            let keep = last.bytes - self.buf.len() as u64;
            let _ = self.file.set_len(keep);
            last.bytes = keep;
            self.pending -= scan(&self.buf).0;
            self.buf.clear();
            return res;
        }
        self.buf.clear();
        Ok(())
    }

    /// Starts a new segment after the last one, synced.
    fn roll(&mut self) -> std::io::Result<()> {
        self.write()?;
        let _ = self.file.sync_data();
        let id = self.segs.back().map_or(1, |s| s.id + 1);
        self.file = OpenOptions::new().create(true).append(true).open(seg_path(&self.dir, id))?;
        self.segs.push_back(Segment { id, bytes: 0, records: 0, acked: 0 });
        Ok(())
    }

    /// Removes the oldest segment; returns its events not acknowledged.
    fn drop_oldest(&mut self) -> u64 {
        let Some(s) = self.segs.pop_front() else { return 0 };
        let _ = std::fs::remove_file(seg_path(&self.dir, s.id));
        let lost = s.records - s.acked.min(s.records);
        self.pending -= lost.min(self.pending);
        let next = Pos { seg: self.segs.front().map_or(s.id + 1, |n| n.id), off: 0 };
        self.read = self.read.max(next);
        self.acked = self.acked.max(next);
        self.persist_ack(true);
        lost
    }

    /// The next event to publish, moving the read position past it.
    pub fn read_next(&mut self) -> std::io::Result<Option<Record>> {
        self.write()?;
        loop {
            let Some(idx) = self.segs.iter().position(|s| s.id == self.read.seg) else {
                // Dropped under the reader: continue at the oldest segment.
                match self.segs.front() {
                    Some(s) if s.id > self.read.seg => {
                        self.read = Pos { seg: s.id, off: 0 };
                        continue;
                    }
                    _ => return Ok(None),
                }
            };
            let seg = &self.segs[idx];
            if self.read.off >= seg.bytes {
                match self.segs.get(idx + 1) {
                    Some(n) => {
                        self.read = Pos { seg: n.id, off: 0 };
                        continue;
                    }
                    None => return Ok(None),
                }
            }
            let file = File::open(seg_path(&self.dir, seg.id))?;
            let mut head = [0u8; HEADER];
            file.read_exact_at(&mut head, self.read.off)?;
            let len = u32::from_le_bytes(head[0..4].try_into().unwrap_or_default()) as u64;
            let mut body = vec![0u8; len as usize];
            file.read_exact_at(&mut body, self.read.off + HEADER as u64)?;
            let end = Pos { seg: seg.id, off: self.read.off + HEADER as u64 + len };
            self.read = end;
            match decode(&body, end) {
                Some(r) if crc32(&body).to_le_bytes() == head[4..8] => return Ok(Some(r)),
                _ => {
                    // Checked at open and written whole since: only a file changed under us.
                    log::warn!("MQTT spool segment {}: an unreadable record skipped", seg.id);
                    continue;
                }
            }
        }
    }

    /// Where the next `read_next` reads.
    pub fn read_pos(&self) -> Pos {
        self.read
    }

    /// Reads again from `p` (an event that could not be handed over).
    pub fn set_read(&mut self, p: Pos) {
        self.read = p.max(self.acked);
    }

    /// Goes back to the first event not acknowledged (after a lost connection).
    pub fn rewind(&mut self) {
        self.read = self.acked;
    }

    /// The broker acknowledged the event ending at `end` (events are acknowledged in order).
    /// Returns whether it was still in the spool.
    pub fn ack(&mut self, end: Pos) -> bool {
        if end <= self.acked {
            return false;
        }
        let Some(seg) = self.segs.iter_mut().find(|s| s.id == end.seg) else { return false };
        seg.acked += 1;
        self.acked = end;
        self.pending -= 1.min(self.pending);
        let mut removed = false;
        // Segments before the acknowledged one are done; so is a full one that was acknowledged
        // to its end once a newer one exists.
        while self.segs.len() > 1
            && let Some(front) = self.segs.front()
            && (front.id < self.acked.seg || (front.id == self.acked.seg && self.acked.off >= front.bytes))
        {
            let id = front.id;
            self.segs.pop_front();
            let _ = std::fs::remove_file(seg_path(&self.dir, id));
            removed = true;
        }
        if let Some(front) = self.segs.front()
            && self.acked.seg < front.id
        {
            self.acked = Pos { seg: front.id, off: 0 };
        }
        self.read = self.read.max(self.acked);
        self.persist_ack(removed);
        true
    }

    /// Writes the acknowledged position when it moved and a second passed (or `now`).
    fn persist_ack(&mut self, now: bool) {
        if self.acked == self.ack_written || (!now && self.ack_written_at.elapsed() < ACK_EVERY) {
            return;
        }
        let tmp = self.dir.join("ack.tmp");
        let text = format!("{} {}\n", self.acked.seg, self.acked.off);
        if std::fs::write(&tmp, text).and_then(|_| std::fs::rename(&tmp, self.dir.join("ack"))).is_ok() {
            self.ack_written = self.acked;
        }
        self.ack_written_at = Instant::now();
    }

    /// Writes what is buffered, syncs, and records the acknowledged position (shutdown, flush).
    pub fn sync(&mut self) -> std::io::Result<()> {
        self.write()?;
        self.persist_ack(true);
        self.file.sync_data()
    }

    /// Called now and then: writes the acknowledged position once a second.
    pub fn tick(&mut self) {
        self.persist_ack(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(s: &mut Spool, from: u64, to: u64) -> Appended {
        let mut total = Appended::default();
        for i in from..to {
            let a = s.append("p/d/cam/events", format!("{{\"frame\":{i}}}").as_bytes()).unwrap();
            total.dropped_full += a.dropped_full;
            total.dropped_too_large += a.dropped_too_large;
        }
        s.write().unwrap();
        total
    }

    fn frame(r: &Record) -> u64 {
        let v: serde_json::Value = serde_json::from_slice(&r.payload).unwrap();
        v["frame"].as_u64().unwrap()
    }

    fn drain(s: &mut Spool, ack: bool) -> Vec<u64> {
        let mut out = Vec::new();
        while let Some(r) = s.read_next().unwrap() {
            out.push(frame(&r));
            if ack {
                s.ack(r.end);
            }
        }
        out
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    /// Events come back in the order they were appended, across segments, and a rewind (a lost
    /// connection) starts again at the first one not acknowledged.
    #[test]
    fn replay_is_in_order_and_rewinds_to_the_first_unacknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), 64 << 10).unwrap();
        fill(&mut s, 0, 1000);
        assert!(s.segs.len() > 2, "several segments");
        let mut got = Vec::new();
        for _ in 0..10 {
            let r = s.read_next().unwrap().unwrap();
            got.push(frame(&r));
            s.ack(r.end);
        }
        // Five more read (in flight), not acknowledged: the connection is lost.
        for _ in 0..5 {
            s.read_next().unwrap().unwrap();
        }
        s.rewind();
        got.extend(drain(&mut s, true));
        assert_eq!(got, (0..1000).collect::<Vec<_>>());
        assert_eq!(s.pending(), 0);
    }

    /// Over the cap, whole segments go, oldest first: what remains is the newest, in order,
    /// and every event is either there or counted.
    #[test]
    fn the_cap_drops_the_oldest_and_counts_them() {
        let dir = tempfile::tempdir().unwrap();
        let cap = 32 << 10;
        let mut s = Spool::open(dir.path(), cap).unwrap();
        let n = 5000;
        let a = fill(&mut s, 0, n);
        assert!(a.dropped_full > 0);
        assert!(s.bytes() <= cap, "{} bytes", s.bytes());
        let on_disk: u64 = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
        assert!(on_disk <= cap + 64, "{on_disk} bytes on disk");
        let rest = drain(&mut s, true);
        assert_eq!(rest.last(), Some(&(n - 1)));
        assert!(rest.windows(2).all(|w| w[1] == w[0] + 1));
        assert_eq!(a.dropped_full + rest.len() as u64, n);
        assert_eq!(rest[0], a.dropped_full);
        // An event that could never fit is refused and counted, not stored.
        let big = vec![b'x'; cap as usize];
        assert_eq!(s.append("t", &big).unwrap().dropped_too_large, 1);
    }

    /// A record cut in the middle (a kill -9 during a write) is skipped when the spool is opened
    /// again; the whole records before it are kept, and appending continues after them.
    #[test]
    fn a_torn_tail_record_is_skipped_on_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
        fill(&mut s, 0, 10);
        let seg = seg_path(dir.path(), s.end().seg);
        drop(s);
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        // The start of an 11th record: its header and a part of its body.
        f.write_all(&100u32.to_le_bytes()).unwrap();
        f.write_all(&[1, 2, 3, 4, 5, 6, 7]).unwrap();
        drop(f);
        let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(s.pending(), 10);
        fill(&mut s, 10, 12);
        assert_eq!(drain(&mut s, true), (0..12).collect::<Vec<_>>());
        // A flipped byte inside the last record fails its checksum the same way.
        fill(&mut s, 12, 15);
        s.sync().unwrap();
        drop(s);
        let len = std::fs::metadata(&seg).unwrap().len();
        let f = OpenOptions::new().write(true).open(&seg).unwrap();
        f.write_all_at(b"#", len - 2).unwrap();
        let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(drain(&mut s, true), vec![12, 13]);
    }

    /// Events not acknowledged survive closing and opening the spool (a restart), in order;
    /// acknowledged ones do not come back once the position was written.
    #[test]
    fn the_spool_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), 64 << 10).unwrap();
        fill(&mut s, 0, 600);
        for _ in 0..250 {
            let r = s.read_next().unwrap().unwrap();
            s.ack(r.end);
        }
        s.sync().unwrap();
        drop(s);
        let mut s = Spool::open(dir.path(), 64 << 10).unwrap();
        assert_eq!(s.pending(), 350);
        fill(&mut s, 600, 700);
        assert_eq!(drain(&mut s, true), (250..700).collect::<Vec<_>>());
        s.sync().unwrap();
        drop(s);
        let mut s = Spool::open(dir.path(), 64 << 10).unwrap();
        assert_eq!(s.pending(), 0);
        assert!(s.read_next().unwrap().is_none());
    }
}
