//! Media that used to crash or never end: a PNG whose header claims 30000×30000 (refused from its
//! caps by `pipeline.max_frame_pixels`, before any conversion), a looping still GIF whose demuxer
//! never ends (given up after the stall time instead of spinning a core forever), and special
//! files as file sources (a FIFO blocked the pipeline and SIGTERM; a device was read forever).

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

fn hostile(name: &str) -> std::path::PathBuf {
    root().join("tests/data/hostile").join(name)
}

fn detect(input: &str) -> std::process::Output {
    edgesight(&["detect", "--config", p(&root().join("configs/x86-dev.toml")), input], &[])
}

#[test]
fn a_frame_larger_than_max_frame_pixels_is_refused_from_its_caps() {
    let o = detect(p(&hostile("header_30000x30000.png")));
    assert_fails(&o, 4, &["30000x30000", "pipeline.max_frame_pixels = 33177600"]);
    // The limit is the configuration's: the bundled clip (768x576) is refused under a small one.
    let dir = tempfile::tempdir().expect("tempdir");
    let events = dir.path().join("events.jsonl");
    let cfg = ConfigBuilder::nanodet(dir.path())
        .stream("clip", &format!("file://{}", clip().display()), "")
        .events(&events)
        .write();
    let text = std::fs::read_to_string(&cfg).expect("cfg") + "\n[pipeline]\nmax_frame_pixels = 400000\n";
    std::fs::write(&cfg, text).expect("cfg");
    let o = edgesight(&["run", "--config", p(&cfg)], &[]);
    assert_fails(&o, 4, &["stream \"clip\"", "768x576 (442368 pixels)", "max_frame_pixels = 400000"]);
}

#[test]
fn a_looping_still_gif_ends_after_the_stall_time_instead_of_spinning() {
    // `detect`: one frame, then no frame and no end for 10 s: a source error, not a hang.
    let o = detect(p(&hostile("looping_still.gif")));
    assert_fails(&o, 4, &["looping_still.gif", "no frame for 10 s", "convert it"]);
    assert_eq!(parse_lines(&stdout(&o)).len(), 1, "the frame it has is processed");
    // `run`: the stream is given up (not reopened forever) and the run ends with its reason.
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = ConfigBuilder::nanodet(dir.path())
        .stream("gif", &format!("file://{}", p(&hostile("looping_still.gif"))), "stall_timeout_s = 2\n")
        .events(&dir.path().join("events.jsonl"))
        .write();
    let o = edgesight(&["run", "--config", p(&cfg)], &[]);
    assert_fails(&o, 4, &["stream \"gif\"", "no frame for", "convert it"]);
}

#[test]
fn special_files_are_refused_as_file_sources_without_blocking() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("clip.mp4");
    assert!(Command::new("mkfifo").arg(&fifo).status().expect("mkfifo").success());
    for (path, kind) in
        [(fifo.as_path(), "a FIFO (named pipe)"), (std::path::Path::new("/dev/zero"), "a character device")]
    {
        // detect
        let o = detect(p(path));
        assert_fails(&o, 4, &[p(path), kind, "not a regular file"]);
        // run and check, through the same opening code
        let cfg = ConfigBuilder::nanodet(dir.path())
            .stream("f", &format!("file://{}", p(path)), "")
            .events(&dir.path().join("events.jsonl"))
            .write();
        for args in [vec!["run", "--config", p(&cfg)], vec!["check", "--quiet", "--config", p(&cfg)]] {
            let child = Proc::spawn(
                Command::new(env!("CARGO_BIN_EXE_edgesight")).args(&args).stderr(std::process::Stdio::piped()),
            );
            let mut child = child;
            wait_for("the process to exit", Duration::from_secs(30), || child.try_wait().expect("status").is_some());
            let o = child.wait_with_output();
            assert_fails(&o, 4, &["stream \"f\"", kind]);
        }
    }
}
