//! What the process and the machine do while `edgesight bench` runs: a background thread
//! ("bench-sampler") reads /proc every `period` (bench: 250 ms) and, at the end, summarises.
//!
//! The figures (docs/perf/bench_report.md, "The bench report: system figures"):
//! - **Window.** Every CPU, RSS-median and GPU figure covers the *steady part*: from the sample
//!   taken when `mark_steady` is called (the end of the warm-up) to the sample taken by `finish`.
//!   Without `mark_steady`, the steady part is the whole run. `window_s` is its length,
//!   `samples` the number of samples in it (both ends included).
//! - **100 % = one core** for process and thread figures: CPU time (user + system, from the
//!   `utime`/`stime` of /proc/self/stat and /proc/self/task/*/stat) divided by wall time. A
//!   process that keeps 2 cores busy shows 200 %.
//! - **Per core** (`cpu_per_core_pct`): each online CPU's busy share of its own time from the
//!   `cpuN` lines of /proc/stat, machine-wide (every process, not only this one): (user + nice +
//!   system + irq + softirq + steal) / (those + idle + iowait); 100 % = that core always busy.
//! - **Thread groups.** Threads are named by whoever starts them; GStreamer names its streaming
//!   threads `element:pad` (15 characters at most, the kernel's limit), and threads nobody names
//!   inherit the name of the thread that started them. Groups, by name:
//!   - `inference`: the main thread, every thread with the process's own name (ONNX Runtime's
//!     intra-op pool threads, started from the thread that builds the session, inherit it) and
//!     names starting with `inference`. The pipeline's loop (preprocess, engine, decode + NMS,
//!     tracking, sinks) runs on the thread that calls `runtime::pipeline::run`: the main thread
//!     of `edgesight run` and `edgesight bench` (a bench that runs it elsewhere must name that
//!     thread `inference…`, so that the ONNX Runtime threads it starts inherit the name).
//!   - `decode`: reading, demuxing, parsing and decoding the video: `qtdemux`/`matroskademux`/
//!     `tsdemux`/`flvdemux`, `typefind`, `multiqueue` (decodebin's queue: its thread parses and
//!     runs `avdec_*`), `h264parse`/`h265parse`, `avdec*`, libav's own workers (`av:…`; libav
//!     before 7.0 does not name them and they inherit their creator's, a demuxer's or
//!     multiqueue's, name), source threads (`source`, `filesrc`, `v4l2src`, `udpsrc`, `rtspsrc`,
//!     `rtpjitterbuffer`, rtspsrc's command task `task…`, `dec:`), hardware decoders
//!     (`nvv4l2decoder`).
//!   - `capture`: handing decoded frames to the application: `capture-<stream>` (the supervised
//!     capture thread that pulls from the appsink) and `tailqueue:src` (the queue after decodebin;
//!     its thread runs the conversion/scale elements, the capsfilter and the appsink).
//!   - `encode`: the visualisation: `src:src` (the encoder pipeline's `appsrc name=src`; its
//!     thread converts, scales, runs x264enc and muxes; x264's own threads inherit the name),
//!     `x264…`, `visualise-rtsp` (the RTSP server's loop).
//!   - `other`: everything else (metrics, notify, log-counts, mqtt, snapshots, GLib's `gmain`,
//!     `pool-…` task-pool threads, which may run either side's conversion with `n-threads` > 1,
//!     the RTP sessions' RTCP threads, this sampler).
//!   - `exited threads`: CPU time of the process (its total includes dead threads) that no
//!     sampled thread accounts for: threads that ran and ended between two samples, and the
//!     last part of the life of threads that ended during the window. `threads` there is the
//!     number of threads seen that ended.
//!
//!   `threads_raw` lists the same time by thread name with digit suffixes removed
//!   (`qtdemux0:sink` → `qtdemux:sink`, `avdec_h264-0` → `avdec_h264`; `capture-<stream>` kept
//!   whole), the main thread as `<name> (main)`: nothing is hidden by the grouping.
//! - **Memory.** `rss_peak_mb`: VmHWM at the end (the whole run, warm-up included; at least the
//!   steady max: the kernel's RSS counters are exact only to some pages per thread);
//!   `rss_steady_mb` / `rss_max_steady_mb`: median / max of VmRSS over the steady samples. MiB.
//! - **GPU**: see `gpu.rs`; same window, one reading per sample.
//!
//! Nothing here panics: a /proc file that cannot be read leaves its figure `null` and says why
//! in `notes`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::gpu::{Accumulator, Probe, Reading};
pub use super::gpu::{GpuDevice, GpuReport};

/// The system figures of a bench run (module comment: window, units, groups).
#[derive(Debug, Clone, Serialize)]
pub struct SystemReport {
    /// Online CPUs.
    pub cores: Option<usize>,
    /// Length of the steady part, seconds, and the samples in it.
    pub window_s: f64,
    pub samples: usize,
    /// Process CPU time / wall time; 100 = one core.
    pub cpu_process_pct: Option<f64>,
    /// Each online core's busy %, machine-wide, in CPU number order; empty when unknown.
    pub cpu_per_core_pct: Vec<f64>,
    /// CPU % by thread group, largest first.
    pub threads: Vec<ThreadGroup>,
    /// CPU % by (normalised) thread name, largest first.
    pub threads_raw: Vec<ThreadGroup>,
    /// VmHWM at the end, MiB.
    pub rss_peak_mb: Option<f64>,
    /// Median and max VmRSS of the steady samples, MiB.
    pub rss_steady_mb: Option<f64>,
    pub rss_max_steady_mb: Option<f64>,
    pub gpu: GpuReport,
    /// Why a figure is missing or partial.
    pub notes: Vec<String>,
}

/// CPU time of a set of threads over the steady part.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ThreadGroup {
    pub name: String,
    /// 100 = one core.
    pub cpu_pct: f64,
    /// Threads seen in the steady part (for `exited threads`: those that ended in it).
    pub threads: usize,
}

enum Msg {
    Steady,
    Finish,
}

/// Samples the process and the machine on a background thread until `finish`.
pub struct Sampler {
    tx: Sender<Msg>,
    thread: Option<JoinHandle<Collector>>,
    failed: Option<String>,
}

impl Sampler {
    /// Starts sampling every `period` (bench uses 250 ms) until `finish`.
    pub fn start(period: Duration) -> Sampler {
        let (tx, rx) = mpsc::channel();
        let period = period.max(Duration::from_millis(10));
        match thread::Builder::new().name("bench-sampler".into()).spawn(move || sample_loop(&rx, period)) {
            Ok(h) => Sampler { tx, thread: Some(h), failed: None },
            Err(e) => Sampler { tx, thread: None, failed: Some(format!("cannot start the sampler thread: {e}")) },
        }
    }

    /// Marks the end of the warm-up: "steady" figures use only samples after this.
    pub fn mark_steady(&self) {
        let _ = self.tx.send(Msg::Steady);
    }

    /// Takes a last sample, stops the thread and summarises the steady part.
    pub fn finish(mut self) -> SystemReport {
        let _ = self.tx.send(Msg::Finish);
        let collected = match self.thread.take().map(JoinHandle::join) {
            Some(Ok(c)) => Ok(c),
            Some(Err(_)) => Err("the sampler thread failed".to_string()),
            None => Err(self.failed.take().unwrap_or_else(|| "no sampler thread".into())),
        };
        let peak = read("/proc/self/status").ok().and_then(|s| status_kb(&s, "VmHWM"));
        match collected {
            Ok(c) => c.report(online_cores(), ticks_per_second(), peak),
            Err(why) => {
                let mut r = Collector::new(Probe::None(why.clone())).report(online_cores(), ticks_per_second(), peak);
                r.notes.push(why);
                r
            }
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        // Dropped without `finish`: stop the thread (its channel closes) and wait for it.
        if let Some(h) = self.thread.take() {
            let _ = self.tx.send(Msg::Finish);
            let _ = h.join();
        }
    }
}

fn sample_loop(rx: &Receiver<Msg>, period: Duration) -> Collector {
    let mut c = Collector::new(Probe::open());
    c.add(take_sample(&c.probe));
    let mut next = Instant::now() + period;
    loop {
        let wait = next.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => {
                c.add(take_sample(&c.probe));
                next += period;
                // A sampler starved for CPU does not try to catch up.
                if next < Instant::now() {
                    next = Instant::now() + period;
                }
            }
            Ok(Msg::Steady) => {
                let s = take_sample(&c.probe);
                c.steady(s);
            }
            Ok(Msg::Finish) | Err(RecvTimeoutError::Disconnected) => {
                c.add(take_sample(&c.probe));
                return c;
            }
        }
    }
}

/// Jiffies of user + system time: the times /proc reports; 100 on every Linux architecture
/// edgesight runs on, asked anyway.
fn ticks_per_second() -> u64 {
    rustix::param::clock_ticks_per_second().max(1)
}

fn read(path: impl AsRef<Path>) -> Result<String, String> {
    let p = path.as_ref();
    std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
}

/// Online CPUs: /sys's list ("0-3,6"), else the cpuN lines of /proc/stat.
fn online_cores() -> Option<usize> {
    read("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|s| parse_cpu_list(&s))
        .or_else(|| read("/proc/stat").ok().map(|s| parse_proc_stat(&s).len()).filter(|&n| n > 0))
}

/// Busy and total jiffies of one CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct CpuTimes {
    pub busy: u64,
    pub total: u64,
}

/// The `cpuN` lines of /proc/stat: (N, times). The fields are user nice system idle iowait irq
/// softirq steal guest guest_nice; guest time is already inside user (proc(5)), so it is left
/// out. Offline CPUs have no line.
pub(crate) fn parse_proc_stat(text: &str) -> Vec<(usize, CpuTimes)> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let n: usize = it.next()?.strip_prefix("cpu")?.parse().ok()?;
            let v: Vec<u64> = it.take(8).map(|f| f.parse().unwrap_or(0)).collect();
            if v.len() < 4 {
                return None;
            }
            let f = |i: usize| v.get(i).copied().unwrap_or(0);
            let busy = f(0) + f(1) + f(2) + f(5) + f(6) + f(7);
            Some((n, CpuTimes { busy, total: busy + f(3) + f(4) }))
        })
        .collect()
}

/// "0-3,6" (the kernel's CPU list format) → 5.
pub(crate) fn parse_cpu_list(text: &str) -> Option<usize> {
    let mut n = 0;
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        n += match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                b.checked_sub(a)? + 1
            }
            None => {
                part.trim().parse::<usize>().ok()?;
                1
            }
        };
    }
    (n > 0).then_some(n)
}

/// What the sampler needs from a /proc/PID/stat or /proc/PID/task/TID/stat line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TaskStat {
    pub comm: String,
    /// utime + stime, jiffies.
    pub ticks: u64,
    /// starttime, jiffies since boot: with the tid, tells a reused tid from the old thread.
    pub start: u64,
}

/// Parses a stat line. `comm` may hold spaces and parentheses: it runs from the first '(' to
/// the *last* ')'; the numbered fields (proc(5)) follow: utime 14, stime 15, starttime 22.
pub(crate) fn parse_task_stat(text: &str) -> Option<TaskStat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // rest[0] is field 3 (state).
    let field = |n: usize| -> Option<u64> { rest.get(n - 3)?.parse().ok() };
    Some(TaskStat { comm, ticks: field(14)? + field(15)?, start: field(22)? })
}

/// A "Key:   1234 kB" line of /proc/PID/status.
pub(crate) fn status_kb(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let v = l.strip_prefix(key)?.strip_prefix(':')?;
        v.split_whitespace().next()?.parse().ok()
    })
}

/// The group a thread belongs to (module comment); `main` is the process's own name.
pub(crate) fn group_of(comm: &str, is_main: bool, main: &str) -> &'static str {
    let c = comm.to_ascii_lowercase();
    let starts = |ps: &[&str]| ps.iter().any(|p| c.starts_with(p));
    if is_main || comm == main || starts(&["inference"]) {
        "inference"
    } else if starts(&["capture-", "tailqueue"]) {
        "capture"
    } else if starts(&["src:src", "x264", "visualise-"]) {
        "encode"
    } else if starts(&[
        "qtdemux",
        "matroskademux",
        "tsdemux",
        "flvdemux",
        "typefind",
        "multiqueue",
        "h264parse",
        "h265parse",
        "avdec",
        "av:",
        "source",
        "filesrc",
        "v4l2src",
        "udpsrc",
        "rtspsrc",
        "rtpjitterbuffer",
        "dec:",
        "nvv4l2decoder",
    ]) || is_task(&c)
    {
        "decode"
    } else {
        "other"
    }
}

/// GStreamer's unnamed tasks ("task0"): rtspsrc's command loop.
fn is_task(c: &str) -> bool {
    c.strip_prefix("task").is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// A thread name without its instance numbers: the first and last ':'-separated parts lose
/// trailing digits and then a trailing '-' or '_' ("avdec_h264-0" → "avdec_h264", "qtdemux0:sink" →
/// "qtdemux:sink"). `capture-<stream>` is kept whole: the stream's name is the point.
pub(crate) fn normalise(comm: &str) -> String {
    if comm.starts_with("capture-") {
        return comm.to_string();
    }
    let strip = |p: &str| -> String {
        let t = p.trim_end_matches(|c: char| c.is_ascii_digit());
        let t = t.strip_suffix('-').or_else(|| t.strip_suffix('_')).unwrap_or(t);
        if t.is_empty() { p.to_string() } else { t.to_string() }
    };
    // Only the element's name (first part) and the last part carry instance numbers; a middle
    // part is a codec ("av:h264:df0").
    let mut parts: Vec<String> = comm.split(':').map(str::to_string).collect();
    let last = parts.len() - 1;
    parts[0] = strip(&parts[0]);
    if last > 0 {
        parts[last] = strip(&parts[last]);
    }
    parts.join(":")
}

/// One reading of everything.
#[derive(Debug, Clone)]
pub(crate) struct RawSample {
    pub at: Option<Instant>,
    /// The process's utime + stime (dead threads included), jiffies.
    pub process_ticks: Result<u64, String>,
    pub cpus: Result<Vec<(usize, CpuTimes)>, String>,
    /// (tid, stat) of the threads alive at the time.
    pub tasks: Result<Vec<(u32, TaskStat)>, String>,
    pub rss_kb: Result<u64, String>,
    pub gpu: Vec<Reading>,
}

fn take_sample(probe: &Probe) -> RawSample {
    let tasks =
        std::fs::read_dir("/proc/self/task").map_err(|e| format!("cannot list /proc/self/task: {e}")).map(|dir| {
            dir.flatten()
                .filter_map(|e| {
                    let tid: u32 = e.file_name().to_str()?.parse().ok()?;
                    // A thread that ended since the listing has no stat any more: skipped.
                    let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
                    Some((tid, parse_task_stat(&stat)?))
                })
                .collect()
        });
    RawSample {
        at: Some(Instant::now()),
        process_ticks: read("/proc/self/stat")
            .and_then(|s| parse_task_stat(&s).map(|t| t.ticks).ok_or_else(|| "unexpected /proc/self/stat".into())),
        cpus: read("/proc/stat")
            .map(|s| parse_proc_stat(&s))
            .and_then(|v| if v.is_empty() { Err("no cpuN line in /proc/stat".to_string()) } else { Ok(v) }),
        tasks,
        rss_kb: read("/proc/self/status")
            .and_then(|s| status_kb(&s, "VmRSS").ok_or_else(|| "no VmRSS in /proc/self/status".into())),
        gpu: probe.read(),
    }
}

/// A thread seen in the steady part.
#[derive(Debug, Clone)]
struct Track {
    comm: String,
    main: bool,
    /// Its ticks at the start of the steady part (0 if it started later).
    base: u64,
    last: u64,
    alive: bool,
}

/// Everything kept between samples: the steady part's first sample, the latest one, the
/// threads, the RSS values and the GPU readings.
pub(crate) struct Collector {
    probe: Probe,
    pid: u32,
    main_comm: String,
    base: Option<RawSample>,
    last: Option<RawSample>,
    tracks: HashMap<(u32, u64), Track>,
    rss_kb: Vec<u64>,
    gpu: Accumulator,
    samples: usize,
    notes: BTreeMap<String, ()>,
}

impl Collector {
    pub(crate) fn new(probe: Probe) -> Collector {
        let main_comm = read("/proc/self/comm").map(|s| s.trim_end().to_string()).unwrap_or_default();
        Collector::with(probe, std::process::id(), main_comm)
    }

    fn with(probe: Probe, pid: u32, main_comm: String) -> Collector {
        Collector {
            probe,
            pid,
            main_comm,
            base: None,
            last: None,
            tracks: HashMap::new(),
            rss_kb: Vec::new(),
            gpu: Accumulator::default(),
            samples: 0,
            notes: BTreeMap::new(),
        }
    }

    /// Starts the steady part afresh at `s`.
    pub(crate) fn steady(&mut self, s: RawSample) {
        self.base = None;
        self.tracks.clear();
        self.rss_kb.clear();
        self.gpu = Accumulator::default();
        self.samples = 0;
        self.add(s);
    }

    pub(crate) fn add(&mut self, s: RawSample) {
        self.samples += 1;
        for e in
            [s.process_ticks.as_ref().err(), s.cpus.as_ref().err(), s.tasks.as_ref().err(), s.rss_kb.as_ref().err()]
                .into_iter()
                .flatten()
        {
            self.notes.insert(e.clone(), ());
        }
        if let Ok(kb) = s.rss_kb {
            self.rss_kb.push(kb);
        }
        self.gpu.add(s.gpu.clone());
        let first = self.base.is_none();
        if let Ok(tasks) = &s.tasks {
            for t in self.tracks.values_mut() {
                t.alive = false;
            }
            for (tid, st) in tasks {
                let tr = self.tracks.entry((*tid, st.start)).or_insert_with(|| Track {
                    comm: st.comm.clone(),
                    main: *tid == self.pid,
                    base: if first { st.ticks } else { 0 },
                    last: st.ticks,
                    alive: true,
                });
                // Names change (GStreamer names a pool thread when it runs a task): the latest.
                tr.comm.clone_from(&st.comm);
                tr.last = st.ticks.max(tr.last);
                tr.alive = true;
            }
        }
        if first {
            self.base = Some(s);
        } else {
            self.last = Some(s);
        }
    }

    pub(crate) fn report(&self, cores: Option<usize>, hz: u64, peak_kb: Option<u64>) -> SystemReport {
        let mut notes: Vec<String> = self.notes.keys().cloned().collect();
        let mib = |kb: u64| kb as f64 / 1024.0;
        let window = match (self.base.as_ref().and_then(|b| b.at), self.last.as_ref().and_then(|l| l.at)) {
            (Some(a), Some(b)) => b.saturating_duration_since(a).as_secs_f64(),
            _ => 0.0,
        };
        if window <= 0.0 {
            notes.push("the steady part holds fewer than two samples: no CPU figure".into());
        }
        let pct = |ticks: u64| (window > 0.0).then(|| ticks as f64 / hz as f64 / window * 100.0);
        let (base, last) = (self.base.as_ref(), self.last.as_ref());
        let process_ticks = match (base.map(|b| &b.process_ticks), last.map(|l| &l.process_ticks)) {
            (Some(Ok(a)), Some(Ok(b))) => Some(b.saturating_sub(*a)),
            _ => None,
        };
        let cpu_per_core_pct = match (base.map(|b| &b.cpus), last.map(|l| &l.cpus)) {
            (Some(Ok(a)), Some(Ok(b))) if window > 0.0 => per_core(a, b),
            _ => Vec::new(),
        };

        let mut groups: BTreeMap<&'static str, (u64, usize)> = BTreeMap::new();
        let mut raw: BTreeMap<String, (u64, usize)> = BTreeMap::new();
        let (mut accounted, mut ended) = (0u64, 0usize);
        for t in self.tracks.values() {
            let d = t.last.saturating_sub(t.base);
            accounted += d;
            if !t.alive {
                ended += 1;
            }
            let g = groups.entry(group_of(&t.comm, t.main, &self.main_comm)).or_default();
            g.0 += d;
            g.1 += 1;
            let name = if t.main { format!("{} (main)", t.comm) } else { normalise(&t.comm) };
            let r = raw.entry(name).or_default();
            r.0 += d;
            r.1 += 1;
        }
        let mut threads: Vec<ThreadGroup> = groups
            .into_iter()
            .filter_map(|(n, (d, k))| Some(ThreadGroup { name: n.into(), cpu_pct: pct(d)?, threads: k }))
            .collect();
        if let Some(p) = process_ticks {
            let gone = p.saturating_sub(accounted);
            if (gone > 0 || ended > 0)
                && let Some(c) = pct(gone)
            {
                threads.push(ThreadGroup { name: "exited threads".into(), cpu_pct: c, threads: ended });
            }
        }
        let mut threads_raw: Vec<ThreadGroup> = raw
            .into_iter()
            .filter_map(|(n, (d, k))| Some(ThreadGroup { name: n, cpu_pct: pct(d)?, threads: k }))
            .collect();
        for v in [&mut threads, &mut threads_raw] {
            v.sort_by(|a, b| b.cpu_pct.total_cmp(&a.cpu_pct).then_with(|| a.name.cmp(&b.name)));
        }

        let mut rss = self.rss_kb.clone();
        rss.sort_unstable();
        if cores.is_none() {
            notes.push("the number of online CPUs is unknown (/sys/devices/system/cpu/online, /proc/stat)".into());
        }
        SystemReport {
            cores,
            window_s: window,
            samples: self.samples,
            cpu_process_pct: process_ticks.and_then(pct),
            cpu_per_core_pct,
            threads,
            threads_raw,
            // VmHWM comes from the kernel's per-thread batched counters, which can lag a VmRSS
            // read earlier by some pages: the peak is never shown below a value seen.
            rss_peak_mb: peak_kb.into_iter().chain(rss.last().copied()).max().map(mib),
            rss_steady_mb: median(&rss).map(mib),
            rss_max_steady_mb: rss.last().copied().map(mib),
            gpu: self.gpu.report(&self.probe),
            notes,
        }
    }
}

/// Busy % of each CPU present in both readings, by CPU number.
fn per_core(a: &[(usize, CpuTimes)], b: &[(usize, CpuTimes)]) -> Vec<f64> {
    let before: HashMap<usize, CpuTimes> = a.iter().copied().collect();
    let mut v: Vec<(usize, f64)> = b
        .iter()
        .filter_map(|(n, t)| {
            let s = before.get(n)?;
            let total = t.total.checked_sub(s.total).filter(|&d| d > 0)?;
            let busy = t.busy.saturating_sub(s.busy).min(total);
            Some((*n, busy as f64 / total as f64 * 100.0))
        })
        .collect();
    v.sort_by_key(|&(n, _)| n);
    v.into_iter().map(|(_, p)| p).collect()
}

/// Median of sorted values (the lower middle for an even count: a value that was measured).
fn median(sorted: &[u64]) -> Option<u64> {
    (!sorted.is_empty()).then(|| sorted[(sorted.len() - 1) / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  500 10 200 3000 40 5 6 7 99 0\n\
                        cpu0 100 0 50 1000 10 0 0 0 0 0\n\
                        cpu1 300 10 120 500 20 5 6 7 99 0\n\
                        intr 12345 0 0\nctxt 999\nbtime 1700000000\n";

    #[test]
    fn proc_stat_cpu_lines() {
        let v = parse_proc_stat(STAT);
        assert_eq!(v.len(), 2, "the aggregate line is not a core");
        assert_eq!(v[0], (0, CpuTimes { busy: 150, total: 1160 }));
        // busy = user+nice+system+irq+softirq+steal; guest (99) is inside user already.
        assert_eq!(v[1], (1, CpuTimes { busy: 448, total: 968 }));
        // An offline CPU has no line: numbers need not be contiguous.
        assert_eq!(parse_proc_stat("cpu3 1 2 3 4\n")[0].0, 3);
        assert!(parse_proc_stat("cpu0 1 2\nnonsense\n").is_empty());
    }

    #[test]
    fn per_core_busy_between_two_readings() {
        let a = parse_proc_stat(STAT);
        let b = parse_proc_stat("cpu0 150 0 50 1050 10 0 0 0\ncpu1 300 10 120 600 20 5 6 7\ncpu2 1 1 1 1\n");
        // cpu0: 50 busy of 100; cpu1: 0 of 100; cpu2 was not there before: left out.
        assert_eq!(per_core(&a, &b), vec![50.0, 0.0]);
        // A counter that went backwards (CPU hot-plugged) gives no figure rather than nonsense.
        assert_eq!(per_core(&b, &a), Vec::<f64>::new());
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-3\n"), Some(4));
        assert_eq!(parse_cpu_list("0-3,6,8-9"), Some(7));
        assert_eq!(parse_cpu_list("0"), Some(1));
        assert_eq!(parse_cpu_list(""), None);
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("a-b"), None);
    }

    #[test]
    fn task_stat_with_awkward_names() {
        let line = |comm: &str| {
            format!("4242 ({comm}) S 1 4242 4242 0 -1 4194560 500 0 0 0 123 45 0 0 20 0 9 0 777 1000000 2000 0")
        };
        let t = parse_task_stat(&line("edgesight")).unwrap();
        assert_eq!(t, TaskStat { comm: "edgesight".into(), ticks: 168, start: 777 });
        for comm in ["qtdemux0:sink", "a b (c) d", ") (", "x)", "", "multiqueue0:src"] {
            let t = parse_task_stat(&line(comm)).unwrap();
            assert_eq!((t.comm.as_str(), t.ticks, t.start), (comm, 168, 777));
        }
        assert_eq!(parse_task_stat("4242 (cut) S 1 2 3"), None);
        assert_eq!(parse_task_stat("no parentheses 1 2 3"), None);
        assert_eq!(parse_task_stat(""), None);
    }

    #[test]
    fn status_lines() {
        let s = "Name:\tedgesight\nVmPeak:\t  900 kB\nVmHWM:\t   512000 kB\nVmRSS:\t   409600 kB\n";
        assert_eq!(status_kb(s, "VmHWM"), Some(512_000));
        assert_eq!(status_kb(s, "VmRSS"), Some(409_600));
        assert_eq!(status_kb(s, "VmSwap"), None);
        assert_eq!(status_kb("VmRSSx:\t1 kB\n", "VmRSS"), None);
    }

    #[test]
    fn names_normalised() {
        assert_eq!(normalise("qtdemux0:sink"), "qtdemux:sink");
        assert_eq!(normalise("multiqueue0:src"), "multiqueue:src");
        assert_eq!(normalise("avdec_h264-0"), "avdec_h264");
        assert_eq!(normalise("av:h264:df3"), "av:h264:df");
        assert_eq!(normalise("task12"), "task");
        assert_eq!(normalise("capture-cam2"), "capture-cam2");
        assert_eq!(normalise("edgesight"), "edgesight");
        assert_eq!(normalise("42"), "42");
    }

    #[test]
    fn groups_by_name() {
        let g = |c: &str| group_of(c, false, "edgesight");
        assert_eq!(group_of("whatever", true, "edgesight"), "inference");
        assert_eq!(g("edgesight"), "inference", "ONNX Runtime's pool threads inherit the name");
        assert_eq!(g("inference-loop"), "inference");
        for d in [
            "qtdemux0:sink",
            "multiqueue0:src",
            "typefind:sink",
            "avdec_h264-0",
            "av:h264:df0",
            "source:src",
            "udpsrc3:src",
            "rtpjitterbuffer",
            "task0",
            "h264parse0:src",
            "nvv4l2decoder0",
        ] {
            assert_eq!(g(d), "decode", "{d}");
        }
        for c in ["capture-demo", "tailqueue:src"] {
            assert_eq!(g(c), "capture", "{c}");
        }
        for e in ["src:src", "x264enc0:src", "visualise-rtsp"] {
            assert_eq!(g(e), "encode", "{e}");
        }
        for o in ["notify", "metrics", "log-counts", "pool-edgesight", "gmain", "bench-sampler", "taskbar", "mqtt"] {
            assert_eq!(g(o), "other", "{o}");
        }
    }

    fn sample(at: Instant, proc_ticks: u64, tasks: &[(u32, &str, u64)], rss: u64) -> RawSample {
        RawSample {
            at: Some(at),
            process_ticks: Ok(proc_ticks),
            cpus: Ok(vec![(0, CpuTimes { busy: proc_ticks, total: proc_ticks * 2 })]),
            tasks: Ok(tasks.iter().map(|&(t, c, k)| (t, TaskStat { comm: c.into(), ticks: k, start: 1 })).collect()),
            rss_kb: Ok(rss),
            gpu: Vec::new(),
        }
    }

    #[test]
    fn report_over_the_steady_part() {
        let t0 = Instant::now();
        let s = |secs: u64| t0 + Duration::from_secs(secs);
        let mut c = Collector::with(Probe::None("test".into()), 10, "edgesight".into());
        // Warm-up: the main thread burns 1000 ticks, none of which count.
        c.add(sample(s(0), 0, &[(10, "edgesight", 0)], 100_000));
        c.add(sample(s(5), 1000, &[(10, "edgesight", 1000)], 900_000));
        c.steady(sample(s(10), 1000, &[(10, "edgesight", 1000), (11, "qtdemux0:sink", 0), (12, "worker", 0)], 2048));
        // 10 s of steady part at 100 ticks/s: main +500 (50 %), demuxer +100 (10 %), "worker"
        // ends after +50 (5 %) and threads nobody saw add 150: exited threads 15 %.
        c.add(sample(s(15), 1300, &[(10, "edgesight", 1250), (11, "qtdemux0:sink", 0), (12, "worker", 50)], 4096));
        c.add(sample(s(20), 1800, &[(10, "edgesight", 1500), (11, "qtdemux0:sink", 100), (13, "capture-a", 0)], 3072));
        let r = c.report(Some(2), 100, Some(10_240));
        assert_eq!((r.window_s, r.samples, r.cores), (10.0, 3, Some(2)));
        assert_eq!(r.cpu_process_pct, Some(80.0));
        assert_eq!(r.cpu_per_core_pct, vec![50.0]);
        let find = |v: &[ThreadGroup], n: &str| v.iter().find(|g| g.name == n).cloned();
        assert_eq!(find(&r.threads, "inference").unwrap().cpu_pct, 50.0);
        assert_eq!(find(&r.threads, "decode").unwrap().cpu_pct, 10.0);
        assert_eq!(find(&r.threads, "capture").unwrap().cpu_pct, 0.0);
        assert_eq!(find(&r.threads, "other").unwrap(), ThreadGroup { name: "other".into(), cpu_pct: 5.0, threads: 1 });
        assert_eq!(
            find(&r.threads, "exited threads").unwrap(),
            ThreadGroup { name: "exited threads".into(), cpu_pct: 15.0, threads: 1 }
        );
        assert_eq!(r.threads[0].name, "inference", "largest first");
        assert_eq!(find(&r.threads_raw, "edgesight (main)").unwrap().cpu_pct, 50.0);
        assert_eq!(find(&r.threads_raw, "qtdemux:sink").unwrap().cpu_pct, 10.0);
        // RSS: steady samples only (2, 4, 3 MiB); the peak is VmHWM's.
        assert_eq!((r.rss_steady_mb, r.rss_max_steady_mb, r.rss_peak_mb), (Some(3.0), Some(4.0), Some(10.0)));
        assert!(r.notes.is_empty(), "{:?}", r.notes);
        assert_eq!(r.gpu, GpuReport::None { reason: "test".into() });
        // A VmHWM that lags a VmRSS seen earlier: the peak is the largest value seen.
        assert_eq!(c.report(Some(2), 100, Some(1024)).rss_peak_mb, Some(4.0));
        assert_eq!(c.report(Some(2), 100, None).rss_peak_mb, Some(4.0));
    }

    #[test]
    fn a_reused_tid_is_a_new_thread() {
        let t0 = Instant::now();
        let mut c = Collector::with(Probe::None("x".into()), 1, "edgesight".into());
        let mut a = sample(t0, 0, &[(5, "old", 400)], 1);
        c.add(a.clone());
        a = sample(t0 + Duration::from_secs(1), 100, &[], 1);
        a.tasks = Ok(vec![(5, TaskStat { comm: "new".into(), ticks: 30, start: 99 })]);
        c.add(a);
        let r = c.report(Some(1), 100, None);
        let raw: Vec<(&str, f64)> = r.threads_raw.iter().map(|g| (g.name.as_str(), g.cpu_pct)).collect();
        assert_eq!(raw, vec![("new", 30.0), ("old", 0.0)]);
    }

    #[test]
    fn unreadable_proc_degrades_to_missing_figures() {
        let t0 = Instant::now();
        let mut c = Collector::with(Probe::None("x".into()), 1, "e".into());
        let bad = |at| RawSample {
            at: Some(at),
            process_ticks: Err("cannot read /proc/self/stat: denied".into()),
            cpus: Err("cannot read /proc/stat: denied".into()),
            tasks: Err("cannot list /proc/self/task: denied".into()),
            rss_kb: Err("no VmRSS".into()),
            gpu: Vec::new(),
        };
        c.add(bad(t0));
        c.add(bad(t0 + Duration::from_secs(1)));
        let r = c.report(None, 100, None);
        assert_eq!((r.cpu_process_pct, r.rss_steady_mb, r.rss_max_steady_mb), (None, None, None));
        assert!(r.cpu_per_core_pct.is_empty() && r.threads.is_empty());
        assert_eq!(r.notes.len(), 5, "{:?}", r.notes);
        // A single sample: no window, no CPU figure, no panic.
        let mut c = Collector::with(Probe::None("x".into()), 1, "e".into());
        c.add(sample(t0, 5, &[(1, "e", 5)], 10));
        let r = c.report(Some(1), 100, None);
        assert_eq!((r.window_s, r.cpu_process_pct), (0.0, None));
        assert_eq!(r.rss_steady_mb, Some(10.0 / 1024.0));
        let json = serde_json::to_value(&r).unwrap();
        assert!(json["cpu_process_pct"].is_null());
    }

    #[test]
    fn a_real_sampler_sees_a_busy_named_thread() {
        let sampler = Sampler::start(Duration::from_millis(50));
        sampler.mark_steady();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&stop);
        let burner = thread::Builder::new()
            .name("capture-burn".into())
            .spawn(move || {
                let mut x = 1u64;
                while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
                x
            })
            .unwrap();
        thread::sleep(Duration::from_millis(300));
        // Still burning when `finish` takes its last sample: its time is its own, not "exited".
        let r = sampler.finish();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = burner.join();
        assert!(r.samples >= 2, "{r:?}");
        assert!(r.cpu_process_pct.is_some_and(|p| p > 0.0), "{r:?}");
        assert!(r.rss_steady_mb.is_some_and(|m| m > 0.0) && r.rss_peak_mb.is_some_and(|m| m > 0.0), "{r:?}");
        assert!(r.cores.is_some_and(|n| n > 0) && !r.cpu_per_core_pct.is_empty(), "{r:?}");
        let capture = r.threads.iter().find(|g| g.name == "capture");
        assert!(capture.is_some_and(|g| g.cpu_pct > 0.0 && g.threads == 1), "{r:?}");
        assert!(r.threads_raw.iter().any(|g| g.name == "capture-burn" && g.cpu_pct > 0.0), "{r:?}");
        let json = serde_json::to_value(&r).unwrap();
        assert!(json["gpu"]["source"].is_string(), "{json}");
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3]), Some(3));
        assert_eq!(median(&[1, 2, 3, 4]), Some(2));
        assert_eq!(median(&[1, 2, 3]), Some(2));
    }
}
