//! The MQTT output against a real broker: a `mosquitto` started per test on a free loopback port
//! (Debian `mosquitto`, installed by `scripts/setup.sh test`), a subscriber in the test (rumqttc,
//! a persistent QoS 1 session, so that nothing published while it reconnects is lost), and
//! `edgesight run` with both the JSONL and the MQTT output: the event file is the reference.

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use rumqttc::{Client, Event, Incoming, MqttOptions, QoS};

const PATIENCE: Duration = Duration::from_secs(120);

fn mosquitto_installed() -> bool {
    let ok = Command::new("mosquitto").arg("-h").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    if !ok {
        // `make test` installs it (scripts/setup.sh test); a bare `cargo test` may lack it.
        assert!(
            std::env::var_os("EDGESIGHT_REQUIRE_MOSQUITTO").is_none(),
            "mosquitto is not installed: apt-get install mosquitto mosquitto-clients"
        );
        println!("SKIPPED: mosquitto is not installed (apt-get install mosquitto mosquitto-clients)");
    }
    ok
}

/// A mosquitto on `port` with persistence in `dir` (a restarted broker keeps the subscriber's
/// session and its queued messages).
struct Broker {
    port: u16,
    dir: PathBuf,
    proc: Option<Proc>,
}

impl Broker {
    fn start(dir: &Path, port: u16) -> Broker {
        let mut b = Broker { port, dir: dir.to_path_buf(), proc: None };
        b.restart();
        b
    }

    fn restart(&mut self) {
        let data = self.dir.join("mosquitto-data");
        std::fs::create_dir_all(&data).expect("broker dir");
        let conf = self.dir.join("mosquitto.conf");
        let mut text = format!(
            "listener {} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\n",
            self.port,
            data.display()
        );
        // As root, mosquitto would switch to the `mosquitto` user, who cannot write here.
        if std::fs::read_to_string("/proc/self/status")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|v| v.split_whitespace().next())
            == Some("0")
        {
            text += "user root\n";
        }
        std::fs::write(&conf, text).expect("broker config");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("mosquitto.log")).unwrap();
        self.proc =
            Some(Proc::spawn(Command::new("mosquitto").args(["-c", p(&conf)]).stdout(Stdio::null()).stderr(log)));
        let addr = format!("127.0.0.1:{}", self.port);
        wait_for("mosquitto listening", Duration::from_secs(20), || std::net::TcpStream::connect(&addr).is_ok());
    }

    /// SIGTERM (mosquitto saves its sessions), then the port is closed.
    fn stop(&mut self) {
        if let Some(p) = self.proc.take() {
            signal(&p, "TERM");
            p.wait_with_output();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Messages received by a subscriber: (topic, payload, retained).
type Inbox = Arc<Mutex<Vec<(String, String, bool)>>>;

/// A QoS 1 subscriber to `filter` with a persistent session; returns once subscribed.
fn subscribe(port: u16, id: &str, filter: &str) -> Inbox {
    let inbox: Inbox = Arc::default();
    let mut opts = MqttOptions::new(id, "127.0.0.1", port);
    opts.set_clean_session(false);
    opts.set_keep_alive(Duration::from_secs(5));
    opts.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut conn) = Client::new(opts, 16);
    client.subscribe(filter, QoS::AtLeastOnce).expect("subscribe");
    let (tx, rx) = std::sync::mpsc::channel();
    let out = Arc::clone(&inbox);
    std::thread::spawn(move || {
        let _client = client;
        for ev in conn.iter() {
            match ev {
                Ok(Event::Incoming(Incoming::SubAck(_))) => {
                    let _ = tx.send(());
                }
                Ok(Event::Incoming(Incoming::Publish(p))) => {
                    let text = String::from_utf8_lossy(&p.payload).into_owned();
                    out.lock().unwrap().push((p.topic.clone(), text, p.retain));
                }
                Ok(_) => {}
                // The broker is being restarted: rumqttc reconnects on the next poll.
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(20)).expect("SUBACK");
    inbox
}

fn received(inbox: &Inbox, topic: &str) -> Vec<String> {
    inbox.lock().unwrap().iter().filter(|(t, _, _)| t == topic).map(|(_, p, _)| p.clone()).collect()
}

/// The run's configuration: the bundled clip (`stream_extra`), the event file, metrics, and
/// `[output.mqtt]` with `mqtt_extra`.
fn config(dir: &Path, port: u16, stream_extra: &str, mqtt_extra: &str, metrics: Option<&str>) -> PathBuf {
    let mut b = ConfigBuilder::nanodet(dir).stream("cam", p(&clip()), stream_extra).events(&dir.join("events.jsonl"));
    if let Some(m) = metrics {
        b = b.metrics(m);
    }
    let text = format!(
        "{}\n[output.mqtt]\nhost = \"127.0.0.1\"\nport = {port}\ndevice = \"dev1\"\ntopic_prefix = \"t\"\n\
         spool_dir = \"{}\"\nconnect_timeout_s = 1\nreconnect_min_s = 0.2\nreconnect_max_s = 0.5\n{mqtt_extra}",
        b.text(),
        dir.join("spool").display()
    );
    let cfg = dir.join("edgesight.toml");
    std::fs::write(&cfg, text).expect("config");
    cfg
}

/// The event file's lines (frame events and events with their own kind), in order.
fn jsonl_lines(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("events.jsonl")).expect("event file").lines().map(str::to_string).collect()
}

fn frame_of(payload: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(payload).unwrap_or_else(|e| panic!("not JSON ({e}): {payload}"));
    v["frame"].as_u64().unwrap_or_else(|| panic!("no frame: {payload}"))
}

fn metric(addr: &str, name: &str) -> u64 {
    let text = http_get(addr, "/metrics");
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse::<f64>().ok()))
        .unwrap_or_else(|| panic!("no {name} in:\n{text}")) as u64
}

fn run_to_end(cfg: &Path, log: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_edgesight"))
        .args(["run", "--config", p(cfg)])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log"))
        .status()
        .expect("edgesight runs");
    let err = std::fs::read_to_string(log).unwrap_or_default();
    assert_eq!(out.code(), Some(0), "edgesight run failed:\n{err}");
    err
}

/// (a) Every event arrives: the MQTT messages equal the event file's lines, in count, content
/// and order (frame events on `.../cam/events`, track ends on `.../cam/track_end`), and the
/// retained status says online while it runs and offline after a clean stop.
#[test]
fn every_event_arrives_equal_to_the_event_file() {
    if !mosquitto_installed() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let _broker = Broker::start(dir.path(), port);
    let inbox = subscribe(port, "sub-a", "t/#");
    let cfg = config(dir.path(), port, "", "qos = 1\n", None);
    let err = run_to_end(&cfg, &dir.path().join("run.log"));
    let lines = jsonl_lines(dir.path());
    let frames = stats_value(&err, "frames") as usize;
    let (frame_lines, kind_lines): (Vec<String>, Vec<String>) = lines.iter().cloned().partition(|l| !is_track_end(l));
    assert_eq!(frame_lines.len(), frames, "one JSONL line per processed frame");
    wait_for("every event over MQTT", Duration::from_secs(30), || {
        received(&inbox, "t/dev1/cam/events").len() >= frames
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(received(&inbox, "t/dev1/cam/events"), frame_lines, "the frame events, byte for byte, in order");
    assert_eq!(received(&inbox, "t/dev1/cam/track_end"), kind_lines, "the track ends, byte for byte, in order");
    let status = received(&inbox, "t/dev1/status");
    assert!(status.first().is_some_and(|s| s.contains("\"online\"")), "online first: {status:?}\n{err}");
    assert!(status.last().is_some_and(|s| s.contains("\"offline\"")), "offline after a clean stop: {status:?}");
    assert!(!err.contains("ERROR"), "no error logged:\n{err}");
}

/// (b) The broker is stopped for longer than the reconnection backoff and started again: the
/// events of the outage are spooled, and sent after it, in order, none missing; duplicates
/// only where QoS 1 allows them (an event whose PUBACK was lost with the connection).
#[test]
fn events_spooled_during_a_broker_outage_arrive_afterwards_in_order() {
    if !mosquitto_installed() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let metrics = format!("127.0.0.1:{}", free_port());
    let mut broker = Broker::start(dir.path(), port);
    let inbox = subscribe(port, "sub-b", "t/+/+/events");
    let cfg = config(dir.path(), port, "realtime = true\nloop = true\n", "stats_interval_s = 1\n", Some(&metrics));
    let log = dir.path().join("run.log");
    let es = run_logged(&cfg, &log);
    wait_for("events over MQTT", PATIENCE, || received(&inbox, "t/dev1/cam/events").len() >= 20);
    broker.stop();
    wait_for("events spooled during the outage", PATIENCE, || {
        metric(&metrics, "edgesight_sink_spooled_total{sink=\"mqtt\"}") >= 40
    });
    // Longer than reconnect_max_s: several failed attempts.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(metric(&metrics, "edgesight_sink_connected{sink=\"mqtt\"}"), 0);
    broker.restart();
    wait_for("the spool replayed", PATIENCE, || {
        metric(&metrics, "edgesight_sink_replayed_total{sink=\"mqtt\"}") >= 40
            && metric(&metrics, "edgesight_sink_spool_events{sink=\"mqtt\"}") < 5
    });
    let status = status_json(&metrics);
    let m = &status["sinks"]["mqtt"];
    assert!(m["connected"] == true && m["errors"].as_u64() >= Some(1), "{m}");
    stop(es);
    let err = std::fs::read_to_string(&log).unwrap_or_default();
    let want: Vec<u64> = jsonl_lines(dir.path()).iter().filter(|l| !is_track_end(l)).map(|l| frame_of(l)).collect();
    wait_for("every event over MQTT", Duration::from_secs(30), || {
        let mut got: Vec<u64> = received(&inbox, "t/dev1/cam/events").iter().map(|p| frame_of(p)).collect();
        got.dedup();
        got.len() >= want.len()
    });
    let got: Vec<u64> = received(&inbox, "t/dev1/cam/events").iter().map(|p| frame_of(p)).collect();
    // In order: a duplicate is a resend of events already received, never a jump back past
    // one not yet received.
    let mut seen = std::collections::BTreeSet::new();
    let mut firsts = Vec::new();
    for f in &got {
        if seen.insert(*f) {
            firsts.push(*f);
        }
    }
    assert_eq!(firsts, want, "every event of the event file, first arrivals in order\n{err}");
    assert!(got.len() - firsts.len() <= 64 * 2, "duplicates only from the unacknowledged window");
    assert!(err.contains("connected again after"), "{err}");
}

/// (c) The Last Will: a `kill -9` leaves the retained status `offline` (the broker publishes
/// it when the connection drops without a DISCONNECT).
#[test]
fn a_killed_process_is_marked_offline_by_its_last_will() {
    if !mosquitto_installed() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let _broker = Broker::start(dir.path(), port);
    let cfg = config(dir.path(), port, "realtime = true\nloop = true\n", "stats_interval_s = 1\n", None);
    let stats = subscribe(port, "sub-c-stats", "t/dev1/stats");
    let es = run_logged(&cfg, &dir.path().join("run.log"));
    let inbox = subscribe(port, "sub-c", "t/dev1/status");
    // The periodic stats message is the /status document.
    wait_for("a stats message", PATIENCE, || !received(&stats, "t/dev1/stats").is_empty());
    let doc: serde_json::Value = serde_json::from_str(&received(&stats, "t/dev1/stats")[0]).expect("stats JSON");
    assert!(
        doc["frames"].is_u64() && doc["sinks"]["mqtt"]["sent"].is_u64() && doc["streams"][0]["name"] == "cam",
        "{doc}"
    );
    wait_for("online", PATIENCE, || received(&inbox, "t/dev1/status").last().is_some_and(|s| s.contains("\"online\"")));
    signal(&es, "KILL");
    drop(es);
    wait_for("offline", Duration::from_secs(20), || {
        received(&inbox, "t/dev1/status").last().is_some_and(|s| s.contains("\"offline\""))
    });
    // Retained: a client that subscribes afterwards is told at once.
    let late = subscribe(port, "sub-c-late", "t/dev1/status");
    wait_for("the retained status", Duration::from_secs(10), || !late.lock().unwrap().is_empty());
    let (_, payload, retained) = late.lock().unwrap()[0].clone();
    assert!(retained && payload.contains("\"offline\"") && payload.contains("\"dev1\""), "{payload}");
}

/// (d) A broker that accepts the TCP connection and never answers: inference does not slow
/// down (every frame of the clip processed and written to the event file, no frame dropped),
/// the events wait in the spool; and (restart) a later run with a working broker sends them
/// first, in order, before its own.
#[test]
fn a_broker_that_never_answers_slows_nothing_and_the_spool_survives_a_restart() {
    if !mosquitto_installed() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().unwrap().port();
    // Accepts and reads, never writes a byte (no CONNACK).
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = s;
                let mut buf = [0u8; 4096];
                while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
            });
        }
    });
    let cfg = config(dir.path(), port, "", "", None);
    let err = run_to_end(&cfg, &dir.path().join("dead.log"));
    let frames = stats_value(&err, "frames");
    assert!(frames > 0);
    assert_eq!(stats_value(&err, "dropped"), 0, "no frame dropped:\n{err}");
    let first_run: Vec<String> = jsonl_lines(dir.path()).into_iter().filter(|l| !is_track_end(l)).collect();
    assert_eq!(first_run.len() as u64, frames, "every frame has its event in the event file");
    assert!(err.contains("did not answer within 1 s"), "the cause is logged:\n{err}");
    assert!(err.contains("stay in the spool"), "{err}");
    // The same clip without MQTT processes the same frames.
    let plain =
        ConfigBuilder::nanodet(dir.path()).stream("cam", p(&clip()), "").events(&dir.path().join("plain.jsonl"));
    let plain_cfg = dir.path().join("plain.toml");
    std::fs::write(&plain_cfg, plain.text()).unwrap();
    let plain_err = run_to_end(&plain_cfg, &dir.path().join("plain.log"));
    assert_eq!(stats_value(&plain_err, "frames"), frames, "the same frames processed as without MQTT");
    {
        let spool = edgesight::sink::spool::Spool::open(&dir.path().join("spool"), 100_000_000).expect("spool");
        assert!(spool.pending() >= frames, "the events wait in the spool: {} of {frames}", spool.pending());
    }
    // A restart with a broker: the spooled events go first, then the new run's.
    let port2 = free_port();
    let _broker = Broker::start(dir.path(), port2);
    let inbox = subscribe(port2, "sub-d", "t/dev1/cam/events");
    std::fs::remove_file(dir.path().join("events.jsonl")).unwrap();
    let cfg = config(dir.path(), port2, "", "", None);
    let err = run_to_end(&cfg, &dir.path().join("second.log"));
    let second_run: Vec<String> = jsonl_lines(dir.path()).into_iter().filter(|l| !is_track_end(l)).collect();
    let want: Vec<String> = first_run.iter().chain(second_run.iter()).cloned().collect();
    wait_for("both runs' events", Duration::from_secs(30), || {
        received(&inbox, "t/dev1/cam/events").len() >= want.len()
    });
    assert_eq!(received(&inbox, "t/dev1/cam/events"), want, "the first run's events, then the second's:\n{err}");
    assert!(err.contains("from an earlier run wait for the broker"), "{err}");
}

/// `check` validates the MQTT output's files and spool directory without a broker, and says
/// the broker was not contacted; a missing password file is an output error that names the
/// key, never the password.
#[test]
fn check_reads_the_files_without_contacting_the_broker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "s3cr3t-pa55\n").unwrap();
    let extra = format!("username = \"u\"\npassword_file = \"{}\"\n", pw.display());
    let cfg = config(dir.path(), 1, "", &extra, None);
    let o = edgesight(&["check", "--config", p(&cfg)], &[("RUST_LOG", "info")]);
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(0), "{all}");
    assert!(all.contains("the broker is not contacted by check"), "{all}");
    assert!(!all.contains("s3cr3t"), "the password never shows: {all}");
    std::fs::remove_file(&pw).unwrap();
    let o = edgesight(&["check", "--config", p(&cfg)], &[]);
    assert_fails(&o, 5, &["MQTT password file", "output.mqtt.password_file"]);
}

/// Fails when `text` holds `secret` or any of its runs of letters and digits (tests/secrets.rs).
fn assert_clean(what: &str, text: &str, secret: &str) {
    let mut forms = vec![secret.to_string()];
    forms.extend(secret.split(|c: char| !c.is_ascii_alphanumeric()).filter(|f| !f.is_empty()).map(String::from));
    for form in forms {
        assert!(!text.contains(&form), "{what} prints {form:?} of the secret:\n{text}");
    }
}

/// A broker that requires a password: with the right one (from `password_file`) events flow;
/// with a wrong one the refusal is logged once with its cause and fix, events are spooled; the
/// password never shows in the logs (at debug), `check`, `/status` or `/metrics`.
#[test]
fn the_broker_password_comes_from_its_file_and_is_never_printed() {
    if !mosquitto_installed() {
        return;
    }
    const SECRET: &str = "Mq7t@Zp4w:Kd9x/Rv2s";
    const WRONG: &str = "Wq3n@Hs8k:Tf5c/Lm6y";
    let dir = tempfile::tempdir().expect("tempdir");
    let passwd = dir.path().join("passwd");
    let ok = Command::new("mosquitto_passwd").args(["-c", "-b", p(&passwd), "cam-user", SECRET]).status();
    assert!(ok.is_ok_and(|s| s.success()), "mosquitto_passwd");
    let port = free_port();
    let mut broker = Broker { port, dir: dir.path().to_path_buf(), proc: None };
    // The broker's config with a password file, written before `restart` appends nothing else.
    let data = dir.path().join("mosquitto-data");
    std::fs::create_dir_all(&data).unwrap();
    let conf = dir.path().join("auth.conf");
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next())
        == Some("0");
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\n{}",
            passwd.display(),
            if root { "user root\n" } else { "" }
        ),
    )
    .unwrap();
    broker.proc =
        Some(Proc::spawn(Command::new("mosquitto").args(["-c", p(&conf)]).stdout(Stdio::null()).stderr(Stdio::null())));
    wait_for("mosquitto listening", Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let metrics = format!("127.0.0.1:{}", free_port());
    let pw = dir.path().join("mqtt-password");
    let run = |password: &str, log: &str| {
        std::fs::write(&pw, format!("{password}\n")).unwrap();
        let extra = format!("username = \"cam-user\"\npassword_file = \"{}\"\n", pw.display());
        let cfg = config(dir.path(), port, "realtime = true\nloop = true\n", &extra, Some(&metrics));
        let log = dir.path().join(log);
        let es = Proc::spawn(
            Command::new(env!("CARGO_BIN_EXE_edgesight"))
                .args(["run", "--config", p(&cfg)])
                .env("RUST_LOG", "debug")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).expect("log")),
        );
        (es, log, cfg)
    };
    // The right password: connected, events acknowledged.
    let (es, log, cfg) = run(SECRET, "good.log");
    wait_for("events acknowledged", PATIENCE, || {
        std::net::TcpStream::connect(&metrics).is_ok()
            && metric(&metrics, "edgesight_sink_events_total{sink=\"mqtt\"}") >= 10
    });
    let pages = format!("{}{}", http_get(&metrics, "/status"), http_get(&metrics, "/metrics"));
    stop(es);
    assert_clean("a run with the right password", &std::fs::read_to_string(&log).unwrap(), SECRET);
    assert_clean("/status and /metrics", &pages, SECRET);
    let o = edgesight(&["check", "--config", p(&cfg)], &[("RUST_LOG", "debug")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_clean("check", &format!("{}{}", stdout(&o), stderr(&o)), SECRET);
    // A wrong password: refused, the cause and the keys to check logged, events spooled.
    let (es, log, _) = run(WRONG, "wrong.log");
    wait_for("events spooled", PATIENCE, || {
        std::net::TcpStream::connect(&metrics).is_ok()
            && metric(&metrics, "edgesight_sink_spooled_total{sink=\"mqtt\"}") >= 10
    });
    stop(es);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("refused the connection:")
            && text.contains("check output.mqtt.username")
            && text.contains("output.mqtt.password_file"),
        "{text}"
    );
    assert_eq!(text.matches("refused the connection").count(), 1, "logged once, not per attempt:\n{text}");
    assert_clean("a run with a wrong password", &text, WRONG);
    assert_clean("a run with a wrong password", &text, SECRET);
}

/// A reload (SIGHUP) that changes `[output.mqtt]` replaces the output: the old one hands over
/// through the spool (same directory), and every event arrives once under the old topics or the
/// new ones, in order, as in the event file.
#[test]
fn a_reload_that_changes_the_mqtt_output_loses_no_event() {
    if !mosquitto_installed() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let _broker = Broker::start(dir.path(), port);
    let inbox = subscribe(port, "sub-r", "+/dev1/cam/events");
    let cfg = config(dir.path(), port, "realtime = true\nloop = true\n", "", None);
    let log = dir.path().join("run.log");
    let es = run_logged(&cfg, &log);
    wait_for("events under t/", PATIENCE, || received(&inbox, "t/dev1/cam/events").len() >= 20);
    let text = std::fs::read_to_string(&cfg).unwrap().replace("topic_prefix = \"t\"", "topic_prefix = \"u\"");
    std::fs::write(&cfg, text).unwrap();
    signal(&es, "HUP");
    wait_for("events under u/", PATIENCE, || received(&inbox, "u/dev1/cam/events").len() >= 20);
    stop(es);
    let err = std::fs::read_to_string(&log).unwrap_or_default();
    let want: Vec<u64> = jsonl_lines(dir.path()).iter().filter(|l| !is_track_end(l)).map(|l| frame_of(l)).collect();
    let all = || {
        let mut v: Vec<u64> = received(&inbox, "t/dev1/cam/events").iter().map(|p| frame_of(p)).collect();
        v.extend(received(&inbox, "u/dev1/cam/events").iter().map(|p| frame_of(p)));
        v
    };
    wait_for("every event", Duration::from_secs(30), || all().len() >= want.len());
    assert_eq!(all(), want, "the old topics' events, then the new ones', together those of the event file\n{err}");
}

/// The crash-loss bound of the runbook: after a `kill -9` the spool holds every event of the
/// event file (written at once here, `flush_interval_s = 0`) except at most the few still in
/// the 20 ms queue, whole and in order (a record the kill cut is skipped at the next open).
#[test]
fn a_kill_9_loses_at_most_the_events_of_the_queue() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Nothing listens: every event stays in the spool.
    let port = free_port();
    let cfg = config(dir.path(), port, "realtime = true\nloop = true\n", "", None);
    let text = std::fs::read_to_string(&cfg).unwrap().replacen(
        "[output.jsonl]\n",
        "[output.jsonl]\nflush_interval_s = 0\n",
        1,
    );
    std::fs::write(&cfg, text).unwrap();
    let es = run_logged(&cfg, &dir.path().join("run.log"));
    wait_for("events", PATIENCE, || events_count(&dir.path().join("events.jsonl")) >= 60);
    signal(&es, "KILL");
    drop(es);
    let want: Vec<u64> = jsonl_lines(dir.path()).iter().filter(|l| !is_track_end(l)).map(|l| frame_of(l)).collect();
    let mut spool = edgesight::sink::spool::Spool::open(&dir.path().join("spool"), 100_000_000).expect("spool");
    let mut got = Vec::new();
    while let Some(r) = spool.read_next().expect("read") {
        if r.topic.ends_with("/events") {
            got.push(frame_of(std::str::from_utf8(&r.payload).unwrap()));
        }
    }
    assert!(got.len() <= want.len() && got[..] == want[..got.len()], "the spool is a prefix of the event file");
    // 20 ms at the clip's rate is less than one frame; a loaded machine gets some slack.
    assert!(want.len() - got.len() <= 5, "{} events of the event file not in the spool", want.len() - got.len());
}

/// Runs openssl (Debian's, which `mosquitto` pulls in through libssl) with `args` in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl runs");
    assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

/// A CA (`name`.ca.pem) and a certificate for 127.0.0.1 signed by it (`name`.pem, `name`.key).
fn make_certs(dir: &Path, name: &str) {
    let ca = format!("{name}.ca");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name} CA"),
            "-keyout",
            &format!("{ca}.key"),
            "-out",
            &format!("{ca}.pem"),
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ],
    );
    std::fs::write(dir.join(format!("{name}.ext")), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

/// TLS (rustls with the ring provider) to a broker whose certificate `ca_file` signed: events
/// arrive; with another CA the handshake fails with its cause and fix logged, events spooled.
#[test]
fn tls_to_the_broker_checks_its_certificate() {
    if !mosquitto_installed() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    make_certs(dir.path(), "broker");
    make_certs(dir.path(), "other");
    let (plain, tls) = (free_port(), free_port());
    let conf = dir.path().join("tls.conf");
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next())
        == Some("0");
    let d = dir.path().display();
    std::fs::write(
        &conf,
        format!(
            "allow_anonymous true\nlistener {plain} 127.0.0.1\nlistener {tls} 127.0.0.1\ncafile {d}/broker.ca.pem\n\
             certfile {d}/broker.pem\nkeyfile {d}/broker.key\n{}",
            if root { "user root\n" } else { "" }
        ),
    )
    .unwrap();
    let _broker =
        Proc::spawn(Command::new("mosquitto").args(["-c", p(&conf)]).stdout(Stdio::null()).stderr(Stdio::null()));
    wait_for("mosquitto listening", Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", tls)).is_ok()
    });
    let inbox = subscribe(plain, "sub-tls", "t/dev1/cam/events");
    let metrics = format!("127.0.0.1:{}", free_port());
    let run = |ca: &str, log: &str| {
        let extra = format!("[output.mqtt.tls]\nca_file = \"{d}/{ca}\"\n");
        let cfg = config(dir.path(), tls, "realtime = true\nloop = true\n", &extra, Some(&metrics));
        let log = dir.path().join(log);
        (run_logged(&cfg, &log), log)
    };
    let (es, _) = run("broker.ca.pem", "good.log");
    wait_for("events over TLS", PATIENCE, || received(&inbox, "t/dev1/cam/events").len() >= 10);
    stop(es);
    let (es, log) = run("other.ca.pem", "wrong-ca.log");
    wait_for("events spooled", PATIENCE, || {
        std::net::TcpStream::connect(&metrics).is_ok()
            && metric(&metrics, "edgesight_sink_spooled_total{sink=\"mqtt\"}") >= 10
    });
    stop(es);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("TLS failed:") && text.contains("check output.mqtt.tls.ca_file"), "{text}");
}
