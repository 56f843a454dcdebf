//! The shipped unit (systemd/edgesight.service) under a real systemd manager: a configuration
//! that fails validation stops the start with exit 2 and is not restarted
//! (`RestartPreventExitStatus=2`), and a hung inference loop is killed by the watchdog
//! (`WatchdogSec=`) and started again (`Restart=on-failure`).
//!
//! The manager is systemd itself, run as PID 1 of new PID, mount, cgroup, UTS, IPC and network
//! namespaces: a container without an image, on the host's file system with its own /run and a
//! cgroup2 tree of its own under the test's cgroup. That needs root, systemd, util-linux's
//! `unshare` and `nsenter` and a writable cgroup2 hierarchy; where one is missing the test says
//! so (`SKIPPED: …`) and passes. See `derive_unit` for what differs from the shipped unit.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// What the manager may start besides the test's units. Its default dependencies would boot the
/// host's sysinit.target, and that is not harmless on a shared file system: seen here,
/// systemd-tmpfiles-setup emptied the host's /tmp, systemd-sysctl and systemd-binfmt changed
/// kernel settings. The test's units have `DefaultDependencies=no`; these are masked besides.
const MASKED: &[&str] = &[
    "sysinit.target",
    "basic.target",
    "systemd-tmpfiles-setup.service",
    "systemd-tmpfiles-setup-dev.service",
    "systemd-tmpfiles-clean.timer",
    "systemd-binfmt.service",
    "proc-sys-fs-binfmt_misc.automount",
    "systemd-sysctl.service",
    "systemd-sysusers.service",
    "systemd-journald.service",
    "systemd-journald.socket",
    "systemd-journal-flush.service",
    "systemd-update-utmp.service",
    "systemd-remount-fs.service",
    "systemd-modules-load.service",
];

/// Runs inside the namespaces (`$1`: the test directory, `$2`: systemd): API file systems of its
/// own, the units, the manager's console log into a file, then systemd as PID 1.
const INNER: &str = r#"set -eu
dir=$1
mount -t proc proc /proc
mount -t tmpfs tmpfs /run
mkdir -p /run/systemd/system
mount -t cgroup2 cgroup2 /sys/fs/cgroup
cp "$dir"/units/* /run/systemd/system/
for unit in $MASKED; do ln -s /dev/null "/run/systemd/system/$unit"; done
: > "$dir/console.log"
if [ -e /dev/console ]; then mount --bind "$dir/console.log" /dev/console; fi
exec env -i container=edgesight-test PATH=/usr/sbin:/usr/bin:/sbin:/bin "$2" --system --unit=edgesight-test.target \
    --log-target=console --show-status=no
"#;

/// The shipped unit with paths and the lines that cannot work here rewritten:
/// - `/usr/bin/edgesight` and `/etc/edgesight/edgesight.toml` become the built binary and `cfg`;
/// - `User=`, `Group=`, `SupplementaryGroups=` go: there is no `edgesight` user here, the
///   manager runs as root (the hardening lines all stay, `CapabilityBoundingSet=` included);
/// - `StateDirectory=`, `CacheDirectory=`, `ConfigurationDirectory=` go: they would create
///   /var/lib/edgesight, /var/cache/edgesight and /etc/edgesight on the host's disk;
///   `ReadWritePaths=` becomes the test directory (the event file);
/// - `Wants=`/`After=network-online.target` go and `DefaultDependencies=no` comes (see `MASKED`);
/// - the output goes to `log` (no journald in this manager), `env` is added, no core dumps;
/// - `ProtectHome=yes` becomes `read-only` when the build lives under a home directory, and a
///   checkout under /tmp or /var/tmp is bound into the service's private /tmp.
fn derive_unit(shipped: &str, cfg: &Path, log: &Path, env: &[&str]) -> String {
    let bin = env!("CARGO_BIN_EXE_edgesight");
    let under_home = ["/home/", "/root/", "/run/user/"].iter().any(|h| bin.starts_with(h));
    let dir = cfg.parent().expect("a directory");
    let dropped =
        ["User=", "Group=", "SupplementaryGroups=", "StateDirectory", "CacheDirectory", "ConfigurationDirectory"];
    let mut out = String::new();
    for line in shipped.lines() {
        let line = line.replace("/usr/bin/edgesight", bin).replace("/etc/edgesight/edgesight.toml", p(cfg));
        if dropped.iter().any(|d| line.starts_with(d)) || line.starts_with("Wants=") || line.starts_with("After=") {
            continue;
        }
        if line.starts_with("ReadWritePaths=") {
            out += &format!("ReadWritePaths={}\n", dir.display());
        } else if line == "ProtectHome=yes" && under_home {
            out += "ProtectHome=read-only\n";
        } else {
            out += &line;
            out.push('\n');
        }
        if line == "[Unit]" {
            out += "DefaultDependencies=no\n";
        } else if line == "[Service]" {
            out += &format!("StandardOutput=append:{0}\nStandardError=append:{0}\n", log.display());
            // The watchdog's SIGABRT would dump a core of the whole process first: seconds to
            // minutes on a loaded machine, and a file on the host's disk.
            out += "LimitCORE=0\n";
            // PrivateTmp= gives the service an empty /tmp: a checkout (or target dir) that lives
            // under /tmp or /var/tmp, as CI clones may, is bound into it again.
            for path in [root(), PathBuf::from(bin).parent().expect("bin dir").to_path_buf()] {
                if path.starts_with("/tmp") || path.starts_with("/var/tmp") {
                    out += &format!("BindReadOnlyPaths={}\n", path.display());
                }
            }
            if dir.starts_with("/tmp") || dir.starts_with("/var/tmp") {
                out += &format!("BindPaths={}\n", dir.display());
            }
            for e in env {
                out += &format!("Environment={e}\n");
            }
        }
    }
    out
}

/// Why this machine cannot host a manager, if it cannot.
fn unsupported() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|v| v.split_whitespace().nth(1));
    if uid != Some("0") {
        return Some("not root: starting a systemd manager in new namespaces needs root".into());
    }
    if systemd().is_none() {
        return Some("systemd is not installed (no /lib/systemd/systemd)".into());
    }
    for tool in ["unshare", "nsenter", "systemctl"] {
        if Command::new(tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_err() {
            return Some(format!("{tool} is not installed"));
        }
    }
    if cgroup2().is_none() {
        return Some("no cgroup2 hierarchy is mounted".into());
    }
    None
}

fn systemd() -> Option<PathBuf> {
    ["/lib/systemd/systemd", "/usr/lib/systemd/systemd"].iter().map(PathBuf::from).find(|p| p.exists())
}

/// This process's cgroup in the cgroup2 hierarchy (hybrid hosts mount it at
/// /sys/fs/cgroup/unified, unified ones at /sys/fs/cgroup).
fn cgroup2() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mount = mounts.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        (right.split(' ').next() == Some("cgroup2")).then(|| left.split(' ').nth(4).map(PathBuf::from))?
    })?;
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = own.lines().find_map(|l| l.strip_prefix("0::"))?;
    Some(mount.join(path.trim_start_matches('/')))
}

/// systemd as PID 1 of its namespaces; stopped, and its cgroup removed, when dropped.
struct Manager {
    unshare: Child,
    /// The test's service units (their PrivateTmp= folders are removed with the manager).
    units: Vec<String>,
    /// systemd's PID as this process sees it.
    pid: u32,
    cgroup: PathBuf,
    console: PathBuf,
}

impl Manager {
    /// Starts it with the units in `dir/units`; `Err` says why it did not come up.
    fn start(dir: &Path, units: &[&str]) -> Result<Manager, String> {
        let cgroup = cgroup2().expect("cgroup2").join(format!("edgesight-test-{}", std::process::id()));
        std::fs::create_dir(&cgroup).map_err(|e| format!("cannot create the cgroup {}: {e}", cgroup.display()))?;
        let systemd = systemd().expect("systemd");
        let log = std::fs::File::create(dir.join("unshare.log")).expect("log");
        // The shell moves itself into the new cgroup, which becomes the root of the manager's
        // cgroup namespace.
        let unshare = Command::new("sh")
            .args([
                "-c",
                r#"echo $$ > "$1/cgroup.procs" && exec unshare --cgroup --pid --mount --uts --ipc --net \
                --fork --propagation private sh -c "$2" inner "$3" "$4""#,
            ])
            .args(["sh", p(&cgroup), INNER, p(dir), p(&systemd)])
            .env("MASKED", MASKED.join(" "))
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot run unshare: {e}"))?;
        let units = units.iter().map(|u| u.to_string()).collect();
        let mut manager = Manager { unshare, units, pid: 0, cgroup, console: dir.join("console.log") };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            let children = format!("/proc/{0}/task/{0}/children", manager.unshare.id());
            manager.pid = std::fs::read_to_string(children).ok().and_then(|c| c.trim().parse().ok()).unwrap_or(0);
            if manager.pid != 0 && manager.show("edgesight-test.target", "ActiveState") == "active" {
                return Ok(manager);
            }
            if manager.unshare.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = std::fs::read_to_string(dir.join("unshare.log")).unwrap_or_default();
        let console = std::fs::read_to_string(&manager.console).unwrap_or_default();
        Err(format!("the systemd manager did not come up within 30 s: {log}{console}"))
    }

    /// `systemctl ARGS` against this manager (its mount namespace holds /run/systemd, its PID
    /// namespace the /proc systemctl reads).
    fn systemctl(&self, args: &[&str]) -> Output {
        Command::new("nsenter")
            .args(["-t", &self.pid.to_string(), "-m", "-p", "--", "systemctl"])
            .args(args)
            .output()
            .expect("nsenter")
    }

    fn show(&self, unit: &str, property: &str) -> String {
        stdout(&self.systemctl(&["show", "-P", property, unit])).trim().to_string()
    }

    /// What the manager logged (in a container systemd logs to its stderr; /dev/console is
    /// bound to a file too, so that nothing reaches the host's console).
    fn console(&self) -> String {
        let dir = self.console.parent().expect("dir");
        let mut log = std::fs::read_to_string(dir.join("unshare.log")).unwrap_or_default();
        log += &std::fs::read_to_string(&self.console).unwrap_or_default();
        log
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        // `systemctl exit` stops every unit, then the manager; killing PID 1 of a PID namespace
        // kills everything in it, should that not be done in time.
        if self.pid != 0 {
            let _ = self.systemctl(&["exit"]);
        }
        let start = Instant::now();
        while self.unshare.try_wait().ok().flatten().is_none() {
            if start.elapsed() > Duration::from_secs(40) {
                if self.pid != 0 {
                    let _ = Command::new("kill").args(["-KILL", &self.pid.to_string()]).status();
                }
                let _ = self.unshare.kill();
                let _ = self.unshare.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // The cgroups the manager made, deepest first; they empty as their processes are reaped.
        let start = Instant::now();
        while self.cgroup.exists() && start.elapsed() < Duration::from_secs(20) {
            remove_cgroups(&self.cgroup);
            std::thread::sleep(Duration::from_millis(100));
        }
        if self.cgroup.exists() {
            eprintln!("warning: cgroup {} left behind", self.cgroup.display());
        }
        // systemd removes PrivateTmp= folders in a helper process that dies with the namespace.
        for tmp in ["/tmp", "/var/tmp"] {
            for e in std::fs::read_dir(tmp).into_iter().flatten().flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with("systemd-private-") && self.units.iter().any(|u| name.contains(&format!("-{u}-"))) {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
    }
}

fn remove_cgroups(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroups(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

fn config(dir: &Path, extra_model: &str) -> PathBuf {
    let cfg = ConfigBuilder::nanodet(dir)
        .labels()
        .model_extra(extra_model)
        .stream("cam", "test://ball?width=160&height=120&fps=10", "")
        .events(&dir.join("events.jsonl"))
        .text();
    let path = dir.join(format!("edgesight-{}.toml", if extra_model.is_empty() { "good" } else { "bad" }));
    // Each event written as it comes: the events before the hang are counted after the watchdog's
    // kill, which takes what waits in memory with it (at most flush_interval_s of them).
    std::fs::write(&path, format!("{cfg}flush_interval_s = 0\n")).expect("config");
    path
}

#[test]
fn under_systemd_a_bad_config_is_not_restarted_and_a_hung_loop_is() {
    if let Some(reason) = unsupported() {
        eprintln!("SKIPPED: {reason}");
        return;
    }
    assert_test_hooks();
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let shipped = std::fs::read_to_string(root().join("systemd/edgesight.service")).expect("the unit");
    for line in ["Restart=on-failure", "RestartSec=5", "RestartPreventExitStatus=2", "WatchdogSec=30", "Type=notify"] {
        assert!(shipped.lines().any(|l| l == line), "the shipped unit lacks {line}: update this test");
    }
    let units = dir.path().join("units");
    std::fs::create_dir(&units).expect("units");
    let (bad_log, hung_log) = (dir.path().join("bad.log"), dir.path().join("hung.log"));
    let bad = derive_unit(&shipped, &config(dir.path(), "score_treshold = 0.5\n"), &bad_log, &[]);
    let hung = derive_unit(&shipped, &config(dir.path(), ""), &hung_log, &["EDGESIGHT_TEST_STALL_AFTER_FRAMES=20"]);
    // Names of this run's own, so that cleaning up after it touches nothing of another run.
    let (bad_unit, hung_unit) = (
        format!("edgesight-{}-bad.service", std::process::id()),
        format!("edgesight-{}-hung.service", std::process::id()),
    );
    std::fs::write(units.join(&bad_unit), bad).expect("unit");
    std::fs::write(units.join(&hung_unit), hung).expect("unit");
    std::fs::write(units.join("edgesight-test.target"), "[Unit]\nDefaultDependencies=no\n").expect("target");
    let t0 = Instant::now();
    let manager = match Manager::start(dir.path(), &[&bad_unit, &hung_unit]) {
        Ok(m) => m,
        Err(reason) => {
            eprintln!("SKIPPED: {reason}");
            return;
        }
    };

    eprintln!("systemd_unit: manager up after {:?}", t0.elapsed());
    // A configuration with an unknown key: the start fails with exit 2, the errors are in the
    // log, nothing ran (no event file) and no restart is even scheduled.
    let o = manager.systemctl(&["start", &bad_unit]);
    assert!(!o.status.success(), "the start of a bad configuration succeeded");
    let state = |unit: &str| {
        ["ActiveState", "SubState", "Result", "NRestarts", "ExecMainStatus"].map(|p| manager.show(unit, p)).join(" ")
    };
    let log = std::fs::read_to_string(&bad_log).unwrap_or_default();
    assert!(
        log.contains("model.score_treshold: unknown key"),
        "the unit's log lacks the config error: {log:?}; unit: {}\n{}",
        state(&bad_unit),
        manager.console()
    );
    assert_eq!(state(&bad_unit), "failed failed exit-code 0 2", "{log}{}", manager.console());
    // A restart would come RestartSec (5 s) after the failure: the unit stays failed past it.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(8) {
        assert_eq!(state(&bad_unit), "failed failed exit-code 0 2", "{}", manager.console());
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(!dir.path().join("events.jsonl").exists(), "events from a bad configuration");

    // A good configuration whose inference wedges after 20 frames: READY, pings, then silence;
    // WatchdogSec later systemd kills it (SIGABRT) and starts it again.
    eprintln!("systemd_unit: bad config checked after {:?}", t0.elapsed());
    let o = manager.systemctl(&["start", &hung_unit]);
    assert!(o.status.success(), "{}{}", stderr(&o), std::fs::read_to_string(&hung_log).unwrap_or_default());
    assert_eq!(manager.show(&hung_unit, "WatchdogUSec"), "30s");
    let first = manager.show(&hung_unit, "MainPID");
    // WatchdogSec, the kill, RestartSec and a new start (model load, READY) on a machine that may
    // be busy: generous, and the states seen on the way are in the failure message.
    let mut seen: Vec<String> = Vec::new();
    let start = Instant::now();
    loop {
        let now = state(&hung_unit);
        if now.starts_with("active running") && manager.show(&hung_unit, "NRestarts") == "1" {
            break;
        }
        if seen.last() != Some(&now) {
            seen.push(now);
        }
        assert!(
            start.elapsed() < Duration::from_secs(30 + 5 + 300),
            "no restart by the watchdog within {:?}; states seen: {seen:?}\n{}\n{}",
            start.elapsed(),
            std::fs::read_to_string(&hung_log).unwrap_or_default(),
            manager.console()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    eprintln!("systemd_unit: restarted by the watchdog after {:?}; states: {seen:?}", t0.elapsed());
    let second = manager.show(&hung_unit, "MainPID");
    assert_ne!(first, second, "a new process");
    // Between the two, systemd's own verdict: the watchdog (the old process killed by SIGABRT).
    assert!(seen.iter().any(|s| s.starts_with("activating auto-restart watchdog")), "{seen:?}\n{}", manager.console());
    assert!(events(&dir.path().join("events.jsonl")).len() >= 20, "events before the hang");
}
