//! Credentials are never printed, and work whatever characters they hold.
//!
//! A secret holding every character a URI gives a meaning to (`@ : / %`) is planted in an RTSP
//! URI's password (percent-encoded) and in the `password` key, and looked for — in clear, encoded,
//! and as any of its runs of letters and digits (a fragment printed is a leak too) — in
//! everything edgesight writes: `check`, `run --dry-run`, a run against the real RTSP server
//! that requires it (logs at debug, the events, the stats line, `/status`, `/metrics`,
//! `/healthz`), a wrong password's messages, and the config errors of malformed URIs holding it.
//! Frames arrive with the secret given either way.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;

const USER: &str = "viewer";
/// The password the RTSP server requires. Each run of letters and digits is distinctive.
const SECRET: &str = "Qz7k@Xw9q:Vb4j/Jm5x%Rt2w";
/// A wrong password, a secret as well.
const WRONG: &str = "Wr0n@Gp4s:Hy6d/Kt8z%Lc3v";

/// Fails when `text` holds `secret` in clear, percent-encoded, or any fragment of it.
fn assert_clean(what: &str, text: &str, secret: &str) {
    let mut forms = vec![secret.to_string(), percent_encode(secret, false), percent_encode(secret, true)];
    forms.extend(secret.split(|c: char| !c.is_ascii_alphanumeric()).filter(|f| !f.is_empty()).map(String::from));
    for form in forms {
        assert!(!text.contains(&form), "{what} prints {form:?} of the secret:\n{text}");
    }
}

fn all(o: &Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

/// `[[stream]]` extra lines for an RTSP stream of the test server.
const RTSP_EXTRA: &str = "latency_ms = 0\nbackoff_initial_s = 0.2\nbackoff_max_s = 1\n";

/// The secret percent-encoded in the URI.
fn uri_with(port: u16, password: &str) -> String {
    format!("rtsp://{USER}:{}@127.0.0.1:{port}/test", percent_encode(password, false))
}

/// The secret in the `user` and `password` keys.
fn keys_with(password: &str) -> String {
    format!("user = \"{USER}\"\npassword = \"{password}\"\n{RTSP_EXTRA}")
}

#[test]
fn check_and_dry_run_print_no_credentials() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let _srv = rtsp_server(port, Some((USER, SECRET)));
    let in_uri = ConfigBuilder::nanodet(dir.path()).stream("cam", &uri_with(port, SECRET), RTSP_EXTRA).text();
    let in_keys = ConfigBuilder::nanodet(dir.path())
        .stream("cam", &format!("rtsp://127.0.0.1:{port}/test"), &keys_with(SECRET))
        .text();
    for (how, text, shown) in [
        ("in the uri", in_uri, format!("uri = \"rtsp://********@127.0.0.1:{port}/test\"")),
        ("in the keys", in_keys, "password = \"********\"".to_string()),
    ] {
        let cfg = dir.path().join("edgesight.toml");
        std::fs::write(&cfg, text).expect("config");
        for args in [
            &["check", "--config", p(&cfg)][..],
            &["check", "--offline", "--config", p(&cfg)],
            &["check", "--schema-only", "--config", p(&cfg)],
            &["run", "--dry-run", "--config", p(&cfg)],
        ] {
            let o = edgesight(args, &[("RUST_LOG", "debug")]);
            let what = format!("{args:?} with the secret {how}");
            assert_eq!(o.status.code(), Some(0), "{what}: the server accepts the secret: {}", stderr(&o));
            assert!(stdout(&o).contains(&shown), "{what}: the resolved configuration shows {shown}:\n{}", stdout(&o));
            assert_clean(&what, &all(&o), SECRET);
        }
    }
}

#[test]
fn a_run_gets_frames_with_the_secret_either_way_and_prints_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let metrics = format!("127.0.0.1:{}", free_port());
    let _srv = rtsp_server(port, Some((USER, SECRET)));
    let events = dir.path().join("events.jsonl");
    let log = dir.path().join("stderr.log");
    let cfg = ConfigBuilder::nanodet(dir.path())
        .stream("in_uri", &uri_with(port, SECRET), RTSP_EXTRA)
        .stream("in_keys", &format!("rtsp://127.0.0.1:{port}/test"), &keys_with(SECRET))
        .events(&events)
        .metrics(&metrics)
        .write();
    let es = Proc::spawn(
        Command::new(env!("CARGO_BIN_EXE_edgesight"))
            .args(["run", "--config", p(&cfg)])
            .env("RUST_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file")),
    );
    wait_for("frames from both streams", Duration::from_secs(90), || {
        events_of_stream(&events, "in_uri") >= 3 && events_of_stream(&events, "in_keys") >= 3
    });
    for path in ["/status", "/metrics", "/healthz"] {
        let body = http_get(&metrics, path);
        assert!(body.starts_with("HTTP/1.1 200"), "{path}: {body}");
        assert_clean(path, &body, SECRET);
    }
    stop(es);
    let err = std::fs::read_to_string(&log).expect("stderr");
    assert!(err.contains("stats: frames="), "no stats line:\n{err}");
    assert!(err.contains("stream \"in_uri\"") && err.contains("rtsp://"), "the logs name the streams:\n{err}");
    assert_clean("the run's standard error (debug logs, stats line)", &err, SECRET);
    assert_clean("the events", &std::fs::read_to_string(&events).expect("events"), SECRET);
}

#[test]
fn a_wrong_password_gives_the_credentials_hint_and_prints_neither_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let _srv = rtsp_server(port, Some((USER, SECRET)));
    let hint = "check the user and password of the stream";
    for (how, uri, extra) in [
        ("in the uri", uri_with(port, WRONG), format!("{RTSP_EXTRA}max_retries = 1\n")),
        ("in the keys", format!("rtsp://127.0.0.1:{port}/test"), format!("{}max_retries = 1\n", keys_with(WRONG))),
    ] {
        let cfg = ConfigBuilder::nanodet(dir.path()).stream("cam", &uri, &extra).write();
        let o = edgesight(&["check", "--config", p(&cfg)], &[("RUST_LOG", "debug")]);
        assert_fails(&o, 4, &["stream \"cam\": rtsp://********@127.0.0.1", hint]);
        // A run logs the failure, retries once and gives up.
        let run = edgesight(&["run", "--config", p(&cfg)], &[("RUST_LOG", "debug")]);
        assert!(stderr(&run).contains("giving up after 1 retries") && stderr(&run).contains(hint), "{}", stderr(&run));
        for (what, o) in [("check", &o), ("run", &run)] {
            let what = format!("{what} with a wrong password {how}");
            assert_clean(&what, &all(o), WRONG);
            assert_clean(&what, &all(o), SECRET);
        }
    }
}

#[test]
fn config_errors_of_malformed_uris_print_no_credentials() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (e, l, s) = (percent_encode(SECRET, false), percent_encode(SECRET, true), SECRET);
    let shapes = [
        format!("rtsp://{USER}:{s}@cam/s"), // unencoded / in the password: an @ after the host
        format!("RTSP://{USER}:{s}@cam:554/s"), // the same, scheme in capitals
        format!("rtsp://{USER}:{e}@cam/s@x"), // an @ after the host
        format!("rtsp://{USER}:{e}%zz@cam/s"), // malformed percent-escape
        format!("rtsps://{USER}:{l}%4@cam/s"), // malformed percent-escape at the end
        format!("rtsp://{USER}:{e}%C3%28@cam/s"), // not UTF-8 once decoded
        format!("rtsp://{USER}%zz:{e}@cam/s"), // malformed escape in the user
        format!("rtsp:{USER}:{e}@cam/s"),   // no //
        format!("rtsp:/{USER}:{e}@cam/s"),
        format!("rtsp://{USER}:{e}@"), // no host
        format!("rtsp://{USER}:{e}@:554/s"),
        format!("rtsp://{USER}:{e}@cam:x554/s"), // bad port
        format!("rtsp://{USER}:{s}"),            // no @host, raw
        format!("rtsp://{USER}:{e}"),            // no @host: the password reads as a port
        format!("rtsp://{USER}:{}", s.replace('/', "?")),
        format!("file://{USER}:{e}@cam/s"),
        format!("test://{USER}:{e}@ball"),
        format!("test://ball?width={e}@x"),
        format!("v4l2://{USER}:{e}@cam"),
        format!("csi://{USER}:{e}@0"),
        format!("http://{USER}:{e}@cam/s"),
    ];
    let mut builder = ConfigBuilder::nanodet(dir.path());
    for (i, uri) in shapes.iter().enumerate() {
        builder = builder.stream(&format!("s{i}"), uri, "");
    }
    // The secret in the password key of the wrong type, and where a password does not apply.
    let text = format!(
        "{}[[stream]]\nname = \"typed\"\nuri = \"rtsp://cam/s\"\npassword = 73910462\n\
         [[stream]]\nname = \"file\"\nuri = \"test://\"\npassword = \"{SECRET}\"\n",
        builder.text()
    );
    let cfg = dir.path().join("edgesight.toml");
    std::fs::write(&cfg, text).expect("config");
    let o = edgesight(&["check", "--schema-only", "--config", p(&cfg)], &[]);
    assert_fails(&o, 2, &["stream \"typed\".password: found an integer", "stream \"file\".user: user and password"]);
    let err = stderr(&o);
    for (i, uri) in shapes.iter().enumerate() {
        assert!(err.contains(&format!("stream \"s{i}\".uri: ")), "{uri} is an error:\n{err}");
    }
    assert!(err.contains("malformed percent-escape") && err.contains("has an @ after the host"), "{err}");
    assert_clean("config errors", &all(&o), SECRET);
    assert!(!err.contains("73910462"), "a password of the wrong type is printed:\n{err}");
}
