//! Configured files that are not regular files, or too large: `/dev/zero`, `/dev/urandom`, a FIFO,
//! a directory and an oversized file as `--config`, as a drop-in, as `model.labels` and as
//! `model.path` (and the siblings: the ONNX Runtime library, a media file). Each is one error
//! line with the exit code of its class, at once: no hang on the FIFO, no memory growing on
//! `/dev/zero`. The drop-in rules (hidden files and editor leftovers ignored, a visible `*.toml`
//! that cannot be read is an error) and the labels rules (BOM, CRLF, blank lines, the count).
//!
//! Every edgesight here runs under a 4 GiB address-space limit and is killed after 60 s, so a
//! regression (reading `/dev/zero` to the end, blocking on the FIFO) fails the test instead of
//! taking the machine down or hanging the suite.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;

/// Runs edgesight with `args`, bounded in memory and time; the process must have exited.
fn bounded(args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let (out, err) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -v 4194304 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_edgesight"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(std::fs::File::create(&err).expect("stderr file"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = Proc::spawn(&mut cmd);
    let mut status = None;
    wait_for(&format!("edgesight {args:?} to exit"), Duration::from_secs(60), || {
        status = child.try_wait().expect("try_wait");
        status.is_some()
    });
    Output {
        status: status.expect("exited"),
        stdout: std::fs::read(&out).expect("stdout"),
        stderr: std::fs::read(&err).expect("stderr"),
    }
}

/// `assert_fails`, and the error is one line.
fn assert_one_line_error(o: &Output, code: i32, needles: &[&str]) {
    assert_fails(o, code, needles);
    let err = stderr(o);
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("edgesight: ") && l.contains("error: ")).collect();
    assert_eq!(errors.len(), 1, "one error line: {err}");
}

/// The special files every place is tried with, and what the message calls them.
fn specials(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    let fifo = dir.join("fifo.toml");
    let ok = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
    assert!(ok.success(), "mkfifo");
    let sub = dir.join("a-directory.toml");
    std::fs::create_dir(&sub).expect("directory");
    vec![
        (PathBuf::from("/dev/zero"), "is a character device, not a regular file"),
        (PathBuf::from("/dev/urandom"), "is a character device, not a regular file"),
        (fifo, "is a FIFO (named pipe), not a regular file"),
        (sub, "is a directory, not a regular file"),
    ]
}

/// A config whose model, labels and stream are fine, in `dir`.
fn good_config(dir: &Path) -> ConfigBuilder {
    ConfigBuilder::nanodet(dir).labels().stream("cam", "test://ball?width=64&height=48", "")
}

fn check(cfg: &Path) -> Output {
    bounded(&["check", "--offline", "--quiet", "--config", p(cfg)], &[])
}

#[test]
fn special_or_oversized_config_files_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, what) in specials(dir.path()) {
        let o = check(&path);
        assert_one_line_error(&o, 2, &["config error: config file", p(&path), what, "--config"]);
    }
    // 1 MiB and one byte of an otherwise valid file (comments).
    let text = good_config(dir.path()).text();
    let big = dir.path().join("big.toml");
    std::fs::write(&big, format!("{text}#{}\n", "x".repeat((1 << 20) - text.len() - 2 + 1))).expect("write");
    assert_eq!(std::fs::metadata(&big).expect("size").len(), (1 << 20) + 1);
    assert_one_line_error(&check(&big), 2, &["config file", "is 1.0 MiB (1048577 bytes), more than the 1 MiB allowed"]);
    // Exactly 1 MiB is fine.
    let fits = dir.path().join("fits.toml");
    std::fs::write(&fits, format!("{text}#{}\n", "x".repeat((1 << 20) - text.len() - 2))).expect("write");
    let o = check(&fits);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn special_or_oversized_drop_ins_are_refused_with_their_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = good_config(dir.path()).write();
    let conf_d = dir.path().join("conf.d");
    std::fs::create_dir(&conf_d).expect("conf.d");
    let specials_dir = tempfile::tempdir().expect("tempdir");
    for (target, what) in specials(specials_dir.path()) {
        let link = conf_d.join("50-site.toml");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let o = check(&cfg);
        assert_one_line_error(&o, 2, &["config error: drop-in", p(&link), what, "remove or rename it"]);
        std::fs::remove_file(&link).expect("remove link");
    }
    // A directory named like a drop-in.
    std::fs::create_dir(conf_d.join("60-dir.toml")).expect("dir");
    assert_one_line_error(&check(&cfg), 2, &["drop-in", "60-dir.toml is a directory, not a regular file"]);
    std::fs::remove_dir(conf_d.join("60-dir.toml")).expect("rmdir");
    // A dangling link: the drop-in it was meant to apply does not exist.
    let dangling = conf_d.join("70-gone.toml");
    std::os::unix::fs::symlink("/nonexistent/site.toml", &dangling).expect("symlink");
    assert_one_line_error(
        &check(&cfg),
        2,
        &["drop-in", "70-gone.toml is a symbolic link to /nonexistent/site.toml, which does not exist"],
    );
    std::fs::remove_file(&dangling).expect("remove");
    // Oversized.
    let big = conf_d.join("80-big.toml");
    std::fs::write(&big, format!("#{}\n", "x".repeat(1 << 20))).expect("write");
    assert_one_line_error(&check(&cfg), 2, &["drop-in", "80-big.toml is 1.0 MiB", "more than the 1 MiB allowed"]);
}

#[test]
fn hidden_drop_ins_and_editor_leftovers_are_ignored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = good_config(dir.path()).write();
    let conf_d = dir.path().join("conf.d");
    std::fs::create_dir(&conf_d).expect("conf.d");
    let bad = "[model]\nnms_iou = 3\n";
    for name in [".hidden.toml", "50-site.toml~", ".50-site.toml.swp", "50-site.toml.bak", "50-site.toml.dpkg-dist"] {
        std::fs::write(conf_d.join(name), bad).expect("write");
    }
    // Emacs' lock file is a dangling link.
    std::os::unix::fs::symlink("user@host.1234:1700000000", conf_d.join(".#50-site.toml")).expect("symlink");
    let o = check(&cfg);
    assert_eq!(o.status.code(), Some(0), "none of them is applied: {}", stderr(&o));
    // The visible one is.
    std::fs::write(conf_d.join("50-site.toml"), bad).expect("write");
    assert_fails(&check(&cfg), 2, &["50-site.toml:2:11: model.nms_iou: found 3"]);
}

#[test]
fn special_or_oversized_labels_files_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cases = specials(dir.path());
    let big = dir.path().join("big.txt");
    std::fs::write(&big, "person\n".repeat((1 << 20) / 7 + 1)).expect("write");
    cases.push((big, "is 1.0 MiB (1048579 bytes), more than the 1 MiB allowed"));
    for (path, what) in cases {
        let cfg = ConfigBuilder::nanodet(dir.path())
            .model_extra(&format!("labels = \"{}\"\n", path.display()))
            .stream("cam", "test://ball?width=64&height=48", "")
            .write();
        let o = check(&cfg);
        assert_one_line_error(&o, 3, &["model error: labels file", p(&path), what, "model.labels"]);
        // The same through `detect --labels`.
        let o = bounded(
            &[
                "detect",
                "--model",
                p(&model("nanodet_g_416_coco.onnx")),
                "--family",
                "nanodet",
                "--labels",
                p(&path),
                p(&image("chelsea.png")),
            ],
            &[],
        );
        assert_one_line_error(&o, 3, &["labels file", what]);
    }
}

#[test]
fn special_or_oversized_model_files_are_refused_before_onnx_runtime_reads_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cases = specials(dir.path());
    // 2 GiB and one byte, sparse: nothing is written to the disk.
    let big = dir.path().join("big.onnx");
    std::fs::File::create(&big).and_then(|f| f.set_len((2 << 30) + 1)).expect("sparse file");
    cases.push((big, "is 2.0 GiB (2147483649 bytes), more than the 2 GiB allowed"));
    for (path, what) in cases {
        let cfg = ConfigBuilder::nanodet(dir.path()).stream("cam", "test://ball?width=64&height=48", "").write();
        let text = std::fs::read_to_string(&cfg).expect("cfg");
        let text = text.replace(&model("nanodet_g_416_coco.onnx").display().to_string(), p(&path));
        std::fs::write(&cfg, text).expect("write");
        assert_one_line_error(&check(&cfg), 3, &["model error: model file", p(&path), what, "model.path"]);
        let o = bounded(&["detect", "--model", p(&path), "--family", "nanodet", p(&image("chelsea.png"))], &[]);
        assert_one_line_error(&o, 3, &["model file", what]);
    }
}

#[test]
fn an_onnx_runtime_library_or_media_file_that_is_a_fifo_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().expect("mkfifo").success());
    let nanodet = model("nanodet_g_416_coco.onnx");
    let chelsea = image("chelsea.png");
    let args = ["detect", "--model", p(&nanodet), "--family", "nanodet", p(&chelsea)];
    let o = bounded(&args, &[("ORT_DYLIB_PATH", p(&fifo))]);
    assert_one_line_error(
        &o,
        3,
        &["cannot load the ONNX Runtime library", "is a FIFO (named pipe), not a regular file"],
    );
    let o = bounded(&["detect", "--model", p(&nanodet), "--family", "nanodet", p(&fifo)], &[]);
    assert_one_line_error(&o, 4, &["media file", p(&fifo), "is a FIFO (named pipe), not a regular file"]);
    let o = bounded(&["detect", "--model", p(&nanodet), "--family", "nanodet", "/dev/zero"], &[]);
    assert_one_line_error(&o, 4, &["media file /dev/zero is a character device"]);
}

/// `check` with the NanoDet model (80 classes) and these labels.
fn check_labels(dir: &Path, name: &str, bytes: &[u8]) -> Output {
    let labels = dir.join(name);
    std::fs::write(&labels, bytes).expect("labels");
    let cfg = ConfigBuilder::nanodet(dir)
        .model_extra(&format!("labels = \"{}\"\nclasses = [\"person\", \"toothbrush\"]\n", labels.display()))
        .stream("cam", "test://ball?width=64&height=48", "")
        .write();
    bounded(&["check", "--offline", "--config", p(&cfg)], &[])
}

#[test]
fn labels_with_a_bom_and_crlf_line_ends_are_read_clean() {
    let dir = tempfile::tempdir().expect("tempdir");
    let coco = std::fs::read_to_string(model("coco80_labels.txt")).expect("labels");
    let windows = format!("\u{feff}{}\r\n\r\n", coco.trim_end().replace('\n', "\r\n"));
    let o = check_labels(dir.path(), "windows.txt", windows.as_bytes());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // The report shows the names as the model's events will: no BOM, no CR.
    let out = stdout(&o);
    assert!(out.contains("classes = [\"person\", \"toothbrush\"]"), "{out}");
}

#[test]
fn labels_that_do_not_match_the_models_classes_are_a_model_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let coco = std::fs::read_to_string(model("coco80_labels.txt")).expect("labels");
    let o = check_labels(dir.path(), "81.txt", format!("background\n{coco}").as_bytes());
    assert_one_line_error(&o, 3, &["labels file", "81.txt names 81 classes but model", "scores 80"]);
    let fewer: String = coco.lines().take(79).map(|l| format!("{l}\n")).collect();
    let o = check_labels(dir.path(), "79.txt", fewer.as_bytes());
    assert_one_line_error(&o, 3, &["79.txt names 79 classes but model", "scores 80"]);
    // A blank line inside would shift every later name.
    let holed = coco.replacen("bicycle\n", "bicycle\n\n", 1);
    let o = check_labels(dir.path(), "holed.txt", holed.as_bytes());
    assert_one_line_error(&o, 3, &["holed.txt has a blank line 3 before its last name"]);
}
