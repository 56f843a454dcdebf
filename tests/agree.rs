//! `check` and `run` follow one rule: a configuration `check` calls valid starts, and one it
//! refuses is refused by `run` with the same exit code. Found disagreeing before: every stream
//! disabled (check: valid, run: exit 2), `/dev/null` as the event file (check: valid, run: exit 5
//! at shutdown, "cannot flush"), a FIFO as the event file (both blocked until a reader came).

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// Exit code and stderr of `edgesight ARGS`, killed if it has not ended after 60 s.
fn exit_of(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Proc::spawn(
        Command::new(env!("CARGO_BIN_EXE_edgesight")).args(args).stdout(Stdio::null()).stderr(Stdio::piped()),
    );
    wait_for(&format!("edgesight {args:?} to end"), Duration::from_secs(60), || {
        child.try_wait().expect("status").is_some()
    });
    let out = child.wait_with_output();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn check_and_run_agree() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clip = dir.path().join("clip.mp4");
    make_clip(&clip, 5, "ball");
    let fifo = dir.path().join("events.fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().expect("mkfifo").success());
    let file_stream = format!("file://{}", clip.display());
    let cases: Vec<(&str, String, Option<i32>)> = vec![
        // (what, config, the exit code both must give)
        (
            "every stream disabled",
            ConfigBuilder::nanodet(dir.path())
                .stream("cam", &file_stream, "enabled = false\n")
                .events(&dir.path().join("e.jsonl"))
                .text(),
            Some(2),
        ),
        (
            "events to /dev/null",
            ConfigBuilder::nanodet(dir.path())
                .stream("cam", &file_stream, "")
                .events(std::path::Path::new("/dev/null"))
                .text(),
            Some(0),
        ),
        (
            "events to a FIFO",
            ConfigBuilder::nanodet(dir.path()).stream("cam", &file_stream, "").events(&fifo).text(),
            Some(5),
        ),
        (
            "events to a directory",
            ConfigBuilder::nanodet(dir.path()).stream("cam", &file_stream, "").events(dir.path()).text(),
            Some(5),
        ),
        (
            "a source that is a FIFO",
            ConfigBuilder::nanodet(dir.path())
                .stream("cam", &format!("file://{}", fifo.display()), "")
                .events(&dir.path().join("e.jsonl"))
                .text(),
            Some(4),
        ),
    ];
    for (what, text, expected) in cases {
        let cfg = dir.path().join("edgesight.toml");
        std::fs::write(&cfg, text).expect("cfg");
        let (check, check_err) = exit_of(&["check", "--quiet", "--config", p(&cfg)]);
        let (run, run_err) = exit_of(&["run", "--config", p(&cfg)]);
        assert_eq!(check, expected, "{what}: check exit {check:?}: {check_err}");
        assert_eq!(run, expected, "{what}: run exit {run:?} (check said {check:?}): {run_err}");
    }
}
