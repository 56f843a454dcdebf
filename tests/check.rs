//! `edgesight check` on a corpus of broken configurations (tests/configs/broken): each one gives
//! the expected exit code and a message naming file:line and key; none panics. Each file states
//! its expectations in header comments: `# exit: N`, `# expect: TEXT` (repeatable) and
//! optionally `# args: …` (default `--offline`).

mod common;

use common::*;

struct Case {
    file: std::path::PathBuf,
    exit: i32,
    expect: Vec<String>,
    offline: bool,
}

fn cases() -> Vec<Case> {
    let dir = root().join("tests/configs/broken");
    let mut files: Vec<_> = std::fs::read_dir(&dir).expect("corpus").filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|file| {
            let text = std::fs::read_to_string(&file).expect("read");
            let header = |k: &str| -> Vec<String> {
                text.lines().filter_map(|l| l.strip_prefix(&format!("# {k}: ")).map(str::to_string)).collect()
            };
            Case {
                exit: header("exit")
                    .first()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("{file:?}: no # exit")),
                expect: header("expect"),
                offline: !header("args").iter().any(|a| a.trim() == "--config"),
                file,
            }
        })
        .collect()
}

#[test]
fn broken_configs_are_caught_with_position_and_key() {
    let cases = cases();
    assert!(cases.len() >= 30, "the corpus has {} configs", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        let mut args = vec!["check", "--quiet"];
        if c.offline {
            args.push("--offline");
        }
        args.extend(["--config", p(&c.file)]);
        let o = edgesight(&args, &[]);
        let err = stderr(&o);
        let name = c.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if err.contains("panicked") {
            failures.push(format!("{name}: panic: {err}"));
        }
        if o.status.code() != Some(c.exit) {
            failures.push(format!("{name}: exit {:?}, expected {}: {err}", o.status.code(), c.exit));
        }
        for e in &c.expect {
            if !err.contains(e.as_str()) {
                failures.push(format!("{name}: message lacks {e:?}: {err}"));
            }
        }
        if c.exit == 2 && !err.contains(&format!("{name}:")) {
            failures.push(format!("{name}: config errors must name the file: {err}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_shipped_configs_pass_check() {
    let o = edgesight(&["check", "--offline", "--config", p(&root().join("configs/x86-dev.toml"))], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("family = \"nanodet\""), "{out}");
    assert!(out.contains("x86-dev.toml:"), "values name their file: {out}");
    let o = edgesight(&["check", "--schema-only", "--config", p(&root().join("configs/edgesight.toml"))], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn a_password_set_by_a_drop_in_on_the_reference_config_is_masked() {
    // The reference config's stream "gate" with its (commented) credentials set by a drop-in, as
    // a field tech does: `check` prints the key masked and never the secret.
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("edgesight.toml");
    std::fs::copy(root().join("configs/edgesight.toml"), &cfg).expect("copy");
    std::fs::create_dir_all(dir.path().join("conf.d")).expect("conf.d");
    let secret = "Gx7q2vTz9wK";
    std::fs::write(
        dir.path().join("conf.d/10-credentials.toml"),
        format!("[[stream]]\nname = \"gate\"\nuser = \"admin\"\npassword = \"{secret}\"\n"),
    )
    .expect("drop-in");
    let o = edgesight(&["check", "--schema-only", "--config", p(&cfg)], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(out.contains("password = \"********\""), "the key is shown, masked: {out}");
    assert!(out.contains("10-credentials.toml"), "and names the drop-in that set it: {out}");
    assert!(!out.contains(secret) && !err.contains(secret), "the secret never appears: {out}{err}");
}

#[test]
fn drop_ins_override_per_key_and_the_report_names_their_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let main = dir.path().join("edgesight.toml");
    std::fs::write(
        &main,
        format!(
            "[model]\npath = \"{}\"\nfamily = \"nanodet\"\nscore_threshold = 0.35\nthreads = 1\n[[stream]]\nname = \"a\"\nuri = \"test://\"\n\
             [[stream]]\nname = \"b\"\nuri = \"test://\"\n",
            model("nanodet_g_416_coco.onnx").display()
        ),
    )
    .expect("main");
    std::fs::create_dir(dir.path().join("conf.d")).expect("conf.d");
    std::fs::write(dir.path().join("conf.d/10-threshold.toml"), "[model]\nscore_threshold = 0.5\n").expect("drop-in");
    // Stream "b" stays enabled: a configuration without any enabled stream is refused by `run`,
    // so `check` refuses it too.
    std::fs::write(dir.path().join("conf.d/20-stream.toml"), "[[stream]]\nname = \"a\"\nenabled = false\n")
        .expect("drop-in");
    let o = edgesight(&["check", "--offline", "--config", p(&main)], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let line = |key: &str| out.lines().find(|l| l.starts_with(&format!("{key} ="))).unwrap_or_default().to_string();
    assert!(
        line("score_threshold").contains("0.5") && line("score_threshold").contains("10-threshold.toml:2"),
        "{out}"
    );
    assert!(line("threads").contains("edgesight.toml:5"), "{out}");
    assert!(line("enabled").contains("false") && line("enabled").contains("20-stream.toml:3"), "{out}");
    // An error in a drop-in names the drop-in.
    std::fs::write(dir.path().join("conf.d/30-bad.toml"), "[model]\nnms_iou = 3\n").expect("drop-in");
    let o = edgesight(&["check", "--offline", "--config", p(&main)], &[]);
    assert_fails(&o, 2, &["30-bad.toml:2:11: model.nms_iou: found 3"]);
}

#[test]
fn dry_run_checks_and_exits_without_running() {
    let o = edgesight(&["run", "--dry-run", "--config", p(&root().join("configs/x86-dev.toml"))], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("configuration valid"));
    assert!(!stdout(&o).contains("\"detections\""), "no events in a dry run");
}

#[test]
fn with_problems_of_several_kinds_check_exits_with_the_first_of_model_output_source_and_prints_all() {
    // The runbook's order: model (3), output (5), source (4). Each combination of the three.
    let dir = tempfile::tempdir().expect("tempdir");
    let bad_events = dir.path().join("no/such/dir/events.jsonl");
    let bad_source = "file:/nonexistent/clip.mp4";
    let good_source = format!("file:{}", clip().display());
    let cases = [
        (true, true, true, 3),
        (false, true, true, 5),
        (true, false, true, 3),
        (true, true, false, 3),
        (false, false, true, 4),
        (false, true, false, 5),
    ];
    for (model, output, source, code) in cases {
        let mut b = ConfigBuilder::nanodet(dir.path())
            .stream("cam", if source { bad_source } else { &good_source }, "")
            .events(&if output { bad_events.clone() } else { dir.path().join("events.jsonl") });
        if model {
            b = b.model_file("no_such_model.onnx");
        }
        let cfg = b.write();
        let o = edgesight(&["check", "--quiet", "--config", p(&cfg)], &[]);
        let err = stderr(&o);
        let what = format!("model {model}, output {output}, source {source}");
        assert_eq!(o.status.code(), Some(code), "{what}: {err}");
        assert!(!model || err.contains("model error"), "{what}: the model problem is printed: {err}");
        assert!(!output || err.contains("output error"), "{what}: the output problem is printed: {err}");
        assert!(!source || err.contains("source error"), "{what}: the source problem is printed: {err}");
    }
}
