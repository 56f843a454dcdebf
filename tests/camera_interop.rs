//! RTSP servers other than the one edgesight was written against, and servers that answer one
//! transport only, as many cameras and NVR restreamers do. Every server is real and started by
//! the test: gst-rtsp-server (scripts/rtsp_server.py, `--protocols`, `--auth`) and VLC's own
//! RTSP server (`cvlc … --sout '#rtp{sdp=rtsp://…}'`, which serves RTP over UDP only and refuses
//! to run as root, so a root test runs it as `nobody`).
//!
//! - The default configuration (`transport = "auto"`) gets frames from both servers without a
//!   single retry: the fallback from TCP to UDP happens inside the first connection attempt.
//! - A UDP-only and a TCP-only server each work with `auto`; `check` says which transport and
//!   codec answered; the wrong forced transport gets the transport hint, not a plug-in hint.
//! - A reconnect tries the transport that worked last first.
//! - With UDP dropped by the network (iptables in a network namespace, root only): a forced
//!   `udp` gets the firewall hint, `auto` remembered UDP and falls back to TCP when UDP goes
//!   silent.
//! - The codec is named only when nothing installed decodes the offered video (H.264 decoders
//!   turned off with GST_PLUGIN_FEATURE_RANK).
//! - Basic and digest authentication, with a password holding `@ : / %`.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;

/// `[[stream]]` lines: no jitter buffer, quick reopening.
const RTSP_EXTRA: &str = "latency_ms = 0\nbackoff_initial_s = 0.2\nbackoff_max_s = 1\n";

/// The line `check` prints for a stream that answered.
fn answered(stream: &str, how: &str) -> String {
    format!("# stream \"{stream}\" answered: {how}, 320x240")
}

fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|v| v.split_whitespace().nth(1)) == Some("0")
}

/// `edgesight check` (with the network) on one RTSP stream.
fn check(dir: &Path, uri: &str, extra: &str, env: &[(&str, &str)]) -> Output {
    let cfg = ConfigBuilder::nanodet(dir).stream("cam", uri, &format!("{RTSP_EXTRA}{extra}")).write();
    edgesight(&["check", "--config", p(&cfg)], env)
}

fn assert_answers(o: &Output, how: &str) {
    assert_eq!(o.status.code(), Some(0), "{}", stderr(o));
    let want = answered("cam", how);
    assert!(stdout(o).lines().any(|l| l == want), "no {want:?} in:\n{}", stdout(o));
}

/// VLC's RTSP server on `port`, serving the bundled clip (looped) at `/test`, from a copy in
/// `dir` that the unprivileged user can read. Returns once the port accepts connections.
fn vlc_server(dir: &Path, port: u16) -> Proc {
    use std::os::unix::fs::PermissionsExt;
    let home = dir.join("vlc");
    std::fs::create_dir_all(&home).expect("vlc dir");
    let clip_copy = home.join("clip.mp4");
    std::fs::copy(clip(), &clip_copy).expect("clip");
    for (path, mode) in [(dir, 0o755), (home.as_path(), 0o777), (clip_copy.as_path(), 0o644)] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    let mut cmd = if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--", "cvlc"]);
        c
    } else {
        Command::new("cvlc")
    };
    let log = std::fs::File::create(home.join("vlc.log")).expect("vlc log");
    let child = cmd
        .arg(&clip_copy)
        .args(["--loop", "--no-sout-all", "--sout-keep", "--sout"])
        .arg(format!("#rtp{{sdp=rtsp://127.0.0.1:{port}/test}}"))
        .env("HOME", &home)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("cvlc (Debian vlc-bin and vlc-plugin-base): run `make test-deps`");
    let mut vlc = Proc::from(child);
    wait_for("VLC's RTSP server to listen", Duration::from_secs(60), || {
        if let Ok(Some(status)) = vlc.try_wait() {
            let log = std::fs::read_to_string(home.join("vlc.log")).unwrap_or_default();
            panic!("VLC exited ({status}):\n{log}");
        }
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    vlc
}

#[test]
fn the_default_config_gets_frames_from_gst_rtsp_server_and_from_vlc_without_a_retry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (gst_port, vlc_port) = (free_port(), free_port());
    let _gst = rtsp_server(gst_port, None);
    let _vlc = vlc_server(dir.path(), vlc_port);
    let events = dir.path().join("events.jsonl");
    let log = dir.path().join("stderr.log");
    // A retry would show as a "reopening in" line and wait at least 3.75 s.
    let extra = "latency_ms = 0\nbackoff_initial_s = 5\n";
    let cfg = ConfigBuilder::nanodet(dir.path())
        .stream("gst", &format!("rtsp://127.0.0.1:{gst_port}/test"), extra)
        .stream("vlc", &format!("rtsp://127.0.0.1:{vlc_port}/test"), extra)
        .events(&events)
        .write();
    let es = run_logged(&cfg, &log);
    wait_for("events from both servers", Duration::from_secs(120), || {
        events_of_stream(&events, "gst") >= 3 && events_of_stream(&events, "vlc") >= 3
    });
    stop(es);
    let err = std::fs::read_to_string(&log).expect("log");
    assert!(!err.contains("reopening in"), "the first connection attempt of each stream got frames:\n{err}");
    let vlc = format!("rtsp://127.0.0.1:{vlc_port}/test");
    let gst = format!("rtsp://127.0.0.1:{gst_port}/test");
    for line in [
        format!("{vlc}: the server refused RTP over TCP; trying UDP (transport = \"auto\")"),
        format!("{vlc}: RTP over UDP, H264, "),
        format!("{gst}: RTP over TCP, H264, 320x240 (transport = \"auto\")"),
    ] {
        assert!(err.contains(&line), "no {line:?} in:\n{err}");
    }
    assert!(!err.contains(&format!("{gst}: the server refused")), "gst-rtsp-server serves TCP:\n{err}");
}

#[test]
fn single_transport_servers_work_with_auto_and_a_wrong_forced_transport_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (serves, label, wrong, wrong_label) in [("udp", "UDP", "tcp", "TCP"), ("tcp", "TCP", "udp", "UDP")] {
        let port = free_port();
        let _srv = rtsp_server_with(port, &["--protocols", serves]);
        let uri = format!("rtsp://127.0.0.1:{port}/test");
        assert_answers(&check(dir.path(), &uri, "", &[]), &format!("RTP over {label}, H264"));
        assert_answers(&check(dir.path(), &uri, "transport = \"auto\"\n", &[]), &format!("RTP over {label}, H264"));
        assert_answers(
            &check(dir.path(), &uri, &format!("transport = \"{serves}\"\n"), &[]),
            &format!("RTP over {label}, H264"),
        );
        let forced = check(dir.path(), &uri, &format!("transport = \"{wrong}\"\n"), &[]);
        assert_fails(
            &forced,
            4,
            &[
                &format!("the server refused RTP over {wrong_label} (transport = \"{wrong}\")"),
                "set transport = \"auto\" (TCP, then UDP)",
            ],
        );
        assert!(!stderr(&forced).contains("decoder"), "every decoder is installed: {}", stderr(&forced));
    }
}

#[test]
fn a_reconnect_tries_the_transport_that_worked_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut srv = rtsp_server_with(port, &["--protocols", "udp"]);
    let events = dir.path().join("events.jsonl");
    let log = dir.path().join("stderr.log");
    let cfg = ConfigBuilder::nanodet(dir.path())
        .stream("cam", &format!("rtsp://127.0.0.1:{port}/test"), RTSP_EXTRA)
        .events(&events)
        .write();
    let es = run_logged(&cfg, &log);
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_for("frames over UDP", Duration::from_secs(60), || events_of_stream(&events, "cam") >= 3);
    // Two outages: each reconnect asks for UDP first, the server is never asked for TCP again.
    for outage in 1..=2 {
        srv.kill().expect("kill");
        srv.wait().expect("reap");
        wait_for("the outage to be seen", Duration::from_secs(60), || read().matches("reopening in").count() >= outage);
        srv = rtsp_server_with(port, &["--protocols", "udp"]);
        wait_for("frames again", Duration::from_secs(60), || read().matches("frames flow again").count() >= outage);
    }
    stop(es);
    let err = read();
    assert_eq!(err.matches("the server refused RTP over TCP; trying UDP").count(), 1, "{err}");
    assert_eq!(err.matches("RTP over UDP, H264, 320x240 (transport = \"auto\")").count(), 3, "{err}");
}

/// H.264 decoders turned off as decodebin sees them: the registry says what is installed.
const NO_H264: (&str, &str) = ("GST_PLUGIN_FEATURE_RANK", "avdec_h264:NONE,openh264dec:NONE");

#[test]
fn the_codec_is_named_only_when_nothing_installed_decodes_the_offered_video() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let _srv = rtsp_server_with(port, &["--protocols", "udp"]);
    let uri = format!("rtsp://127.0.0.1:{port}/test");
    // Refused transport and no decoder: both are said, the codec first.
    let o = check(dir.path(), &uri, "transport = \"tcp\"\nmax_retries = 1\n", &[NO_H264]);
    assert_fails(
        &o,
        4,
        &["the camera offers video as H264, which no installed decoder reads", "so set transport = \"auto\" too"],
    );
    // auto does not try UDP for video nothing decodes.
    let o = check(dir.path(), &uri, "", &[NO_H264]);
    assert_fails(&o, 4, &["the camera offers video as H264, which no installed decoder reads"]);
    // A server that serves the transport: decodebin finds no decoder, and the hint names the codec.
    let both = free_port();
    let _all = rtsp_server(both, None);
    let o = check(dir.path(), &format!("rtsp://127.0.0.1:{both}/test"), "", &[NO_H264]);
    assert_fails(&o, 4, &["no installed decoder reads the camera's video (H264)"]);
}

#[test]
fn basic_and_digest_authentication_with_a_password_holding_uri_characters() {
    const USER: &str = "viewer";
    const SECRET: &str = "Pq4@Ln8:Zt2/Wy6%Hd1";
    let dir = tempfile::tempdir().expect("tempdir");
    for auth in ["basic", "digest"] {
        let port = free_port();
        let _srv = rtsp_server_with(port, &["--user", USER, "--password", SECRET, "--auth", auth]);
        let plain = format!("rtsp://127.0.0.1:{port}/test");
        let in_uri = format!("rtsp://{USER}:{}@127.0.0.1:{port}/test", percent_encode(SECRET, false));
        let keys = format!("user = \"{USER}\"\npassword = \"{SECRET}\"\n");
        assert_answers(&check(dir.path(), &in_uri, "", &[]), "RTP over TCP, H264");
        assert_answers(&check(dir.path(), &plain, &keys, &[]), "RTP over TCP, H264");
        let wrong = format!("user = \"{USER}\"\npassword = \"{}\"\n", SECRET.replace('@', "#"));
        let o = check(dir.path(), &plain, &wrong, &[]);
        assert_fails(&o, 4, &["check the user and password of the stream"]);
        let none = check(dir.path(), &plain, "", &[]);
        assert_fails(&none, 4, &["check the user and password of the stream"]);
        for o in [&o, &none] {
            assert!(!stderr(o).contains("Ln8") && !stdout(o).contains("Ln8"), "{auth}: the password is printed");
        }
    }
}

#[test]
fn an_address_that_is_not_an_rtsp_server_gets_the_port_hint() {
    let dir = tempfile::tempdir().expect("tempdir");
    // An HTTP server on the port, as a camera's web interface would be.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for mut s in listener.incoming().map_while(Result::ok) {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ =
                s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nhello");
        }
    });
    let o = check(dir.path(), &format!("rtsp://127.0.0.1:{port}/test"), "", &[]);
    assert_fails(&o, 4, &["the address answered, but not in RTSP: check the port"]);
}

/// Runs `script` in a new network namespace (loopback only) where iptables drops every UDP
/// packet, and returns its output; None (with the reason printed) where that cannot be done.
fn with_udp_dropped(script: &str) -> Option<Output> {
    if !is_root() {
        println!("SKIPPED: not root: a network namespace with iptables rules needs root");
        return None;
    }
    if Command::new("iptables").arg("--version").output().is_err() {
        println!("SKIPPED: iptables is not installed (make test-deps installs it)");
        return None;
    }
    let full = format!("set -e\nip link set lo up\niptables -A INPUT -p udp -j DROP\n{script}");
    Some(Command::new("unshare").args(["--net", "--", "bash", "-c", &full]).output().expect("unshare"))
}

#[test]
fn udp_that_the_network_drops_gets_the_firewall_hint_and_auto_falls_back_to_tcp() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = 8554;
    let server = format!("/usr/bin/python3 {} --port {port}", p(&root().join("scripts/rtsp_server.py")));
    let uri = format!("rtsp://127.0.0.1:{port}/test");
    let forced = ConfigBuilder::nanodet(dir.path()).stream("cam", &uri, &format!("{RTSP_EXTRA}transport = \"udp\"\n"));
    let forced_cfg = dir.path().join("forced.toml");
    std::fs::write(&forced_cfg, forced.text()).expect("config");
    let auto_cfg = dir.path().join("auto.toml");
    std::fs::write(&auto_cfg, ConfigBuilder::nanodet(dir.path()).stream("cam", &uri, RTSP_EXTRA).text())
        .expect("config");
    let es = env!("CARGO_BIN_EXE_edgesight");
    // 1. forced UDP: the hint. 2. auto: TCP at once. 3. a stream that learnt UDP on a UDP-only
    // server reconnects to a server that serves both while UDP is dropped: UDP first, silence,
    // then TCP, in the same attempt.
    let events = dir.path().join("events.jsonl");
    let run_cfg = dir.path().join("run.toml");
    std::fs::write(&run_cfg, ConfigBuilder::nanodet(dir.path()).stream("cam", &uri, RTSP_EXTRA).events(&events).text())
        .expect("config");
    let run_log = dir.path().join("run.log");
    let script = format!(
        r#"
listening() {{ timeout 30 bash -c 'until (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null; do sleep 0.1; done'; }}
{server} > /dev/null &
srv=$!
listening
set +e
{es} check --quiet --config {forced} ; echo "forced exit $?"
{es} check --config {auto} | grep answered
kill $srv; wait $srv
iptables -D INPUT -p udp -j DROP
{server} --protocols udp > /dev/null &
srv=$!
listening
RUST_LOG=info {es} run --config {run} 2> {log} &
es=$!
timeout 60 sh -c 'until grep -q "RTP over UDP" {log}; do sleep 0.2; done'
kill $srv; wait $srv
iptables -A INPUT -p udp -j DROP
{server} > /dev/null &
srv=$!
timeout 60 sh -c 'until grep -q "frames flow again" {log}; do sleep 0.2; done'
kill -TERM $es; wait $es
kill $srv; wait $srv
"#,
        forced = p(&forced_cfg),
        auto = p(&auto_cfg),
        run = p(&run_cfg),
        log = p(&run_log),
    );
    let Some(o) = with_udp_dropped(&script) else { return };
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(out.contains("forced exit 4"), "{out}\n{err}");
    assert!(
        err.contains("no video arrives over UDP (a firewall or NAT drops RTP): set transport = \"auto\" or \"tcp\""),
        "{err}"
    );
    assert!(out.contains(&answered("cam", "RTP over TCP, H264")), "{out}\n{err}");
    let log = std::fs::read_to_string(&run_log).unwrap_or_default();
    for line in [
        format!("{uri}: the server refused RTP over TCP; trying UDP"),
        format!("{uri}: RTP over UDP, H264, 320x240"),
        format!("{uri}: no RTP arrived over UDP; trying TCP"),
        format!("{uri}: RTP over TCP, H264, 320x240"),
        "frames flow again".to_string(),
    ] {
        assert!(log.contains(&line), "no {line:?} in:\n{log}");
    }
}
