//! MQTT output (`[output.mqtt]`): events as the JSON the JSONL output writes, to
//! `<prefix>/<device>/<stream>/events` (frame events) and `<prefix>/<device>/<stream>/<kind>`
//! (events with their own kind), a retained `<prefix>/<device>/status` (`online` on connect,
//! `offline` on a clean stop and, through the Last Will, when the process dies or the link is
//! lost) and `<prefix>/<device>/stats` every `stats_interval_s` (the `/status` document).
//!
//! Three parts, so that the broker never stalls inference:
//! - `MqttSink::emit` (inference thread) encodes the event and hands it to the MQTT thread
//!   through a bounded queue, without waiting: a full queue drops the event (counted
//!   `queue_full`; it only fills when the spool disk stalls for seconds).
//! - The MQTT thread appends every event to the on-disk spool (`spool.rs`) at once, publishes
//!   from the spool in order, at most `WINDOW` unacknowledged at a time, and forgets an event
//!   when the broker acknowledged it. While the broker is unreachable the spool grows (up to
//!   `spool_max_mb`, oldest dropped); after a reconnection it is replayed first.
//! - One connection thread per connection attempt runs rumqttc's event loop and forwards its
//!   events. A lost connection ends it; the next attempt, after the backoff, is a new one, so
//!   nothing unacknowledged is resent by rumqttc itself: the spool resends it.
//!
//! Delivery: QoS 1 is at least once (an event whose PUBACK was lost with the connection, or
//! acknowledged after the last `ack` write before a kill, is sent again); QoS 0 at most once.
//! A `kill -9` loses at most the events still in the queue (the MQTT thread writes them to the
//! spool within `QUEUE_WAIT`, 20 ms).

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::thread;
use std::time::{Duration, Instant};

use rumqttc::{
    Client, ConnectReturnCode, ConnectionError, Event as MqttEvent, Incoming, LastWill, MqttOptions, Outgoing, QoS,
    TlsConfiguration, Transport,
};

use super::spool::{Pos, Spool};
use super::stats::{MqttDrop, SinkStats};
use super::{Event, KindEvent, Sink};
use crate::config::MqttConfig;
use crate::error::{Error, Result};

/// Events waiting between the inference thread and the MQTT thread.
const QUEUE: usize = 4096;
/// How long the MQTT thread waits for work at most (the spool is written at this pace).
const QUEUE_WAIT: Duration = Duration::from_millis(20);
/// Events published and not yet acknowledged, at most.
const WINDOW: usize = 64;
/// Largest MQTT packet sent or accepted.
const MAX_PACKET: usize = 1 << 20;
/// Repeated connection errors are logged at most this often.
const ERROR_LOG_EVERY: Duration = Duration::from_secs(30);
/// At shutdown, how long the spool is still drained to a connected broker.
const DRAIN: Duration = Duration::from_secs(3);

enum Msg {
    Publish {
        topic: String,
        payload: Vec<u8>,
    },
    /// Write the spool to disk and answer.
    Flush(SyncSender<()>),
    /// From connection `id`.
    Net(u64, std::result::Result<MqttEvent, ConnectionError>),
    Shutdown,
}

/// The settings the MQTT thread works with (from `MqttConfig`, files read).
struct Settings {
    cfg: MqttConfig,
    password: Option<String>,
    tls: Option<TlsFiles>,
}

struct TlsFiles {
    ca: Vec<u8>,
    client: Option<(Vec<u8>, Vec<u8>)>,
}

pub struct MqttSink {
    tx: SyncSender<Msg>,
    topic_base: String,
    stats: Arc<SinkStats>,
    worker: Option<thread::JoinHandle<()>>,
    done: Receiver<()>,
    /// When a full queue was last logged.
    queue_logged: Option<Instant>,
}

fn read_file(what: &str, key: &str, path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        Error::output(format!("MQTT {what} {}: {e}; check output.mqtt.{key} and its permissions", path.display()))
    })
}

/// Reads the password and TLS files (the checks of `check` and start-up).
fn settings(cfg: &MqttConfig) -> Result<Settings> {
    let password = match &cfg.password_file {
        Some(p) => {
            let raw = read_file("password file", "password_file", p)?;
            let text = String::from_utf8(raw).map_err(|_| {
                Error::output(format!(
                    "MQTT password file {} is not UTF-8 text; write the password on one line",
                    p.display()
                ))
            })?;
            let pw = text.trim_end_matches(['\n', '\r']).to_string();
            if pw.is_empty() {
                return Err(Error::output(format!(
                    "MQTT password file {} is empty; write the password on its first line",
                    p.display()
                )));
            }
            Some(pw)
        }
        None => None,
    };
    let tls = match &cfg.tls {
        Some(t) => {
            let ca = read_file("CA file", "tls.ca_file", &t.ca_file)?;
            if !String::from_utf8_lossy(&ca).contains("-----BEGIN CERTIFICATE-----") {
                return Err(Error::output(format!(
                    "MQTT CA file {} holds no PEM certificate; output.mqtt.tls.ca_file must be the broker's CA in \
                     PEM form",
                    t.ca_file.display()
                )));
            }
            let client = match (&t.cert_file, &t.key_file) {
                (Some(c), Some(k)) => Some((
                    read_file("client certificate", "tls.cert_file", c)?,
                    read_file("client key", "tls.key_file", k)?,
                )),
                _ => None,
            };
            Some(TlsFiles { ca, client })
        }
        None => None,
    };
    Ok(Settings { cfg: cfg.clone(), password, tls })
}

/// What `check` verifies without a broker: the files can be read, the spool directory written.
pub fn probe(cfg: &MqttConfig) -> Result<()> {
    settings(cfg)?;
    probe_spool(cfg)?;
    Ok(())
}

/// What `check` says of the broker it does not contact.
pub fn not_contacted(cfg: &MqttConfig) -> String {
    format!(
        "MQTT broker {}:{}: the broker is not contacted by check (a field device may be offline); run connects, and \
         spools events in {} while it cannot",
        cfg.host,
        cfg.port,
        cfg.spool_dir.display()
    )
}

fn spool_error(cfg: &MqttConfig, e: &std::io::Error) -> Error {
    Error::output(format!(
        "MQTT spool directory {}: {e}; create it writable for the service user or change output.mqtt.spool_dir",
        cfg.spool_dir.display()
    ))
}

fn probe_spool(cfg: &MqttConfig) -> Result<()> {
    let existed = cfg.spool_dir.exists();
    let res = std::fs::create_dir_all(&cfg.spool_dir).and_then(|_| {
        let p = cfg.spool_dir.join(".probe");
        std::fs::write(&p, b"")?;
        std::fs::remove_file(&p)
    });
    if !existed {
        let _ = std::fs::remove_dir(&cfg.spool_dir);
    }
    res.map_err(|e| spool_error(cfg, &e))
}

impl MqttSink {
    /// Opens the spool and starts the MQTT thread; the broker is connected to in the background.
    /// When a reload replaces an MQTT output with the same spool directory, the old one is
    /// still closing: the new thread opens the spool once it is closed (events queue meanwhile).
    pub fn start(cfg: &MqttConfig, stats: Arc<SinkStats>) -> Result<MqttSink> {
        let settings = Arc::new(settings(cfg)?);
        let spool = if claim(&cfg.spool_dir, false) {
            match Spool::open(&cfg.spool_dir, cfg.spool_max_bytes) {
                Ok(s) => Some(s),
                Err(e) => {
                    release(&cfg.spool_dir);
                    return Err(spool_error(cfg, &e));
                }
            }
        } else {
            probe_spool(cfg)?;
            None
        };
        stats.mqtt.enabled.store(true, std::sync::atomic::Ordering::Relaxed);
        let (tx, rx) = sync_channel(QUEUE);
        let (done_tx, done) = sync_channel(1);
        let topic_base = format!("{}/{}", cfg.topic_prefix, cfg.device);
        let worker_tx = tx.clone();
        let worker_stats = Arc::clone(&stats);
        let worker_topic = topic_base.clone();
        let handle = thread::Builder::new()
            .name("mqtt".into())
            .spawn(move || {
                let cfg = &settings.cfg;
                let spool = match spool {
                    Some(s) => Ok(s),
                    None => {
                        claim(&cfg.spool_dir, true);
                        Spool::open(&cfg.spool_dir, cfg.spool_max_bytes)
                    }
                };
                match spool {
                    Ok(spool) => {
                        let mut worker =
                            Worker::new(Arc::clone(&settings), spool, worker_stats, worker_tx, rx, worker_topic);
                        worker.run();
                    }
                    Err(e) => {
                        log::error!("{}; no event reaches the broker until a restart", spool_error(cfg, &e));
                        // Counted, so that /status shows it; the queue must not fill and block.
                        while let Ok(msg) = rx.recv() {
                            match msg {
                                Msg::Publish { .. } => worker_stats.mqtt.count_dropped(MqttDrop::SpoolError, 1),
                                Msg::Flush(reply) => {
                                    let _ = reply.send(());
                                }
                                Msg::Shutdown => break,
                                Msg::Net(..) => {}
                            }
                        }
                    }
                }
                release(&cfg.spool_dir);
                let _ = done_tx.send(());
            })
            .map_err(|e| Error::output(format!("cannot start the MQTT thread: {e}")))?;
        Ok(MqttSink { tx, topic_base, stats, worker: Some(handle), done, queue_logged: None })
    }

    fn send(&mut self, topic: String, payload: Vec<u8>) {
        if payload.len() + topic.len() + 16 > MAX_PACKET {
            self.stats.mqtt.count_dropped(MqttDrop::TooLarge, 1);
            log::warn!(
                "MQTT: an event of {} bytes is larger than the 1 MiB packet limit and was dropped",
                payload.len()
            );
            return;
        }
        match self.tx.try_send(Msg::Publish { topic, payload }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.stats.mqtt.count_dropped(MqttDrop::QueueFull, 1);
                if self.queue_logged.is_none_or(|at| at.elapsed() >= ERROR_LOG_EVERY) {
                    self.queue_logged = Some(Instant::now());
                    log::warn!(
                        "MQTT: {QUEUE} events wait for the MQTT thread (the spool disk is stalled?); new events are \
                         dropped and counted (dropped{{reason=\"queue_full\"}})"
                    );
                }
            }
        }
    }
}

fn encode(event: &impl serde::Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec(event).map_err(|e| Error::output(format!("cannot encode event: {e}")))
}

impl Sink for MqttSink {
    fn emit(&mut self, event: &Event<'_>) -> Result<()> {
        let payload = encode(event)?;
        let topic = format!("{}/{}/events", self.topic_base, event.stream);
        self.send(topic, payload);
        Ok(())
    }

    fn emit_kind(&mut self, event: &KindEvent<'_>) -> Result<()> {
        let payload = encode(event)?;
        let topic = format!("{}/{}/{}", self.topic_base, event.stream(), event.kind());
        self.send(topic, payload);
        Ok(())
    }

    /// Has the queued events written to the spool (not to the broker: the spool keeps them).
    fn flush(&mut self) -> Result<()> {
        let (tx, rx) = sync_channel(1);
        if self.tx.send(Msg::Flush(tx)).is_err() {
            return Err(Error::output("MQTT: the MQTT thread stopped; events are no longer spooled"));
        }
        match rx.recv_timeout(Duration::from_secs(5)) {
            Ok(()) => Ok(()),
            Err(_) => Err(Error::output("MQTT: the spool was not written within 5 s (a stalled disk?)")),
        }
    }
}

impl Drop for MqttSink {
    /// Drains the spool to a connected broker (up to `DRAIN`), publishes `offline` and
    /// disconnects; what is left stays in the spool for the next start.
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Shutdown);
        if self.done.recv_timeout(DRAIN + Duration::from_secs(3)).is_ok()
            && let Some(h) = self.worker.take()
        {
            let _ = h.join();
        }
    }
}

/// One in-flight publication, in the order they were handed to rumqttc.
struct Inflight {
    /// The spool position after the event; None for status and stats messages.
    end: Option<Pos>,
    pkid: Option<u16>,
    acked: bool,
}

struct Conn {
    id: u64,
    client: Client,
    connected: bool,
    inflight: std::collections::VecDeque<Inflight>,
    /// Events up to here were in the spool when the connection came: they count as replayed.
    replay_until: Pos,
}

struct Worker {
    settings: Arc<Settings>,
    spool: Spool,
    stats: Arc<SinkStats>,
    tx: SyncSender<Msg>,
    rx: Receiver<Msg>,
    conn: Option<Conn>,
    next_id: u64,
    retry_at: Instant,
    backoff: Duration,
    /// While connecting fails: when the last error was logged, and the failures since.
    failing: Option<(Instant, u64)>,
    last_stats: Instant,
    topic_base: String,
    spool_failing: Option<Instant>,
}

fn qos(q: u8) -> QoS {
    if q == 0 { QoS::AtMostOnce } else { QoS::AtLeastOnce }
}

fn status_payload(state: &str, device: &str) -> Vec<u8> {
    serde_json::json!({
        "state": state,
        "device": device,
        "ts": humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
    })
    .to_string()
    .into_bytes()
}

/// One line: what went wrong with the broker, and what to check.
pub fn describe(cfg: &MqttConfig, e: &ConnectionError) -> String {
    let at = format!("MQTT broker {}:{}", cfg.host, cfg.port);
    match e {
        ConnectionError::ConnectionRefused(code) => {
            let (why, fix) = match code {
                ConnectReturnCode::BadUserNamePassword => (
                    "bad username or password (CONNACK 4)",
                    "check output.mqtt.username and the file output.mqtt.password_file",
                ),
                ConnectReturnCode::NotAuthorized => (
                    "not authorized (CONNACK 5)",
                    "check output.mqtt.username, output.mqtt.password_file and the broker's access rules",
                ),
                ConnectReturnCode::BadClientId => {
                    ("client ID rejected (CONNACK 2)", "check output.mqtt.device (the client ID is edgesight-<device>)")
                }
                ConnectReturnCode::ServiceUnavailable => ("service unavailable (CONNACK 3)", "check the broker"),
                ConnectReturnCode::RefusedProtocolVersion => {
                    ("MQTT 3.1.1 not accepted (CONNACK 1)", "enable MQTT 3.1.1 on the broker")
                }
                ConnectReturnCode::Success => ("refused", "check the broker"),
            };
            format!("{at} refused the connection: {why}; {fix}")
        }
        ConnectionError::NetworkTimeout => format!(
            "{at} did not answer within {} s (no TCP connection or no CONNACK); check output.mqtt.host and port and \
             that the broker is up and reachable",
            cfg.connect_timeout.as_secs()
        ),
        ConnectionError::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            format!(
                "{at} refused the TCP connection (nothing listens there); check output.mqtt.host and port and that the broker runs"
            )
        }
        ConnectionError::Io(io) => {
            format!("{at}: connection failed or lost: {io}; check the network and output.mqtt.host and port")
        }
        ConnectionError::Tls(t) => format!(
            "{at}: TLS failed: {t}; check output.mqtt.tls.ca_file (the CA that signed the broker's certificate, whose \
             name must match output.mqtt.host) and the client certificate and key"
        ),
        ConnectionError::MqttState(s) => format!(
            "{at}: the connection broke: {s}; the broker stopped answering (keep-alive) or closed it; check the broker's log"
        ),
        other => format!("{at}: {other}; check the broker and output.mqtt"),
    }
}

/// Spool directories in use by an MQTT output of this process (one writer per directory).
static SPOOLS: std::sync::Mutex<Vec<std::path::PathBuf>> = std::sync::Mutex::new(Vec::new());
static SPOOL_FREED: std::sync::Condvar = std::sync::Condvar::new();

/// Takes `dir` for one output; with `wait`, until the output using it released it (at most
/// the old output's shutdown, `DRAIN` and a little more). False when busy and not waiting.
fn claim(dir: &std::path::Path, wait: bool) -> bool {
    let mut used = SPOOLS.lock().unwrap_or_else(|p| p.into_inner());
    let deadline = Instant::now() + DRAIN + Duration::from_secs(10);
    while used.iter().any(|d| d == dir) {
        let left = deadline.saturating_duration_since(Instant::now());
        if !wait || left.is_zero() {
            return false;
        }
        used = SPOOL_FREED.wait_timeout(used, left).unwrap_or_else(|p| p.into_inner()).0;
    }
    used.push(dir.to_path_buf());
    true
}

fn release(dir: &std::path::Path) {
    let mut used = SPOOLS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(i) = used.iter().position(|d| d == dir) {
        used.remove(i);
    }
    SPOOL_FREED.notify_all();
}

impl Worker {
    fn new(
        settings: Arc<Settings>,
        spool: Spool,
        stats: Arc<SinkStats>,
        tx: SyncSender<Msg>,
        rx: Receiver<Msg>,
        topic_base: String,
    ) -> Worker {
        let cfg = &settings.cfg;
        SinkStats::set(&stats.mqtt.spool_bytes, spool.bytes());
        SinkStats::set(&stats.mqtt.spool_events, spool.pending());
        if spool.pending() > 0 {
            log::info!(
                "MQTT spool {}: {} event(s) from an earlier run wait for the broker; they are sent first",
                cfg.spool_dir.display(),
                spool.pending()
            );
        }
        Worker {
            backoff: cfg.reconnect_min,
            settings,
            spool,
            stats,
            tx,
            rx,
            conn: None,
            next_id: 0,
            retry_at: Instant::now(),
            failing: None,
            last_stats: Instant::now(),
            topic_base,
            spool_failing: None,
        }
    }

    fn run(&mut self) {
        let mut shutdown = false;
        while !shutdown {
            match self.rx.recv_timeout(QUEUE_WAIT) {
                Ok(msg) => shutdown = self.handle(msg),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => shutdown = true,
            }
            // What else is waiting, without blocking again.
            while !shutdown && let Ok(msg) = self.rx.try_recv() {
                shutdown = self.handle(msg);
            }
            self.write_spool();
            self.step();
        }
        self.stop();
    }

    /// Handles one message; true on shutdown.
    fn handle(&mut self, msg: Msg) -> bool {
        match msg {
            Msg::Publish { topic, payload } => {
                let connected = self.conn.as_ref().is_some_and(|c| c.connected);
                match self.spool.append(&topic, &payload) {
                    Ok(a) => {
                        let m = &self.stats.mqtt;
                        m.count_dropped(MqttDrop::SpoolFull, a.dropped_full);
                        m.count_dropped(MqttDrop::TooLarge, a.dropped_too_large);
                        if a.dropped_full > 0 {
                            log::warn!(
                                "MQTT spool {} is full (output.mqtt.spool_max_mb): {} oldest unsent event(s) dropped",
                                self.settings.cfg.spool_dir.display(),
                                a.dropped_full
                            );
                        }
                        if !connected && a.dropped_too_large == 0 {
                            SinkStats::add(&m.spooled, 1);
                        }
                    }
                    Err(e) => self.spool_failed(&e, 1),
                }
            }
            Msg::Flush(reply) => {
                self.write_spool();
                if let Err(e) = self.spool.sync() {
                    self.spool_failed(&e, 0);
                }
                let _ = reply.send(());
            }
            Msg::Net(id, ev) => {
                if self.conn.as_ref().is_some_and(|c| c.id == id) {
                    self.net(ev);
                }
            }
            Msg::Shutdown => return true,
        }
        false
    }

    fn spool_failed(&mut self, e: &std::io::Error, lost: u64) {
        self.stats.mqtt.count_dropped(MqttDrop::SpoolError, lost);
        if self.spool_failing.is_none_or(|at| at.elapsed() >= ERROR_LOG_EVERY) {
            self.spool_failing = Some(Instant::now());
            log::error!(
                "MQTT spool {}: cannot write: {e}; events are dropped and counted (dropped{{reason=\"spool_error\"}}) \
                 until it can be written: free disk space or fix the permissions",
                self.settings.cfg.spool_dir.display()
            );
        }
    }

    fn write_spool(&mut self) {
        let before = self.spool.pending();
        if let Err(e) = self.spool.write() {
            let lost = before - self.spool.pending();
            self.spool_failed(&e, lost);
        }
        self.spool.tick();
        SinkStats::set(&self.stats.mqtt.spool_bytes, self.spool.bytes());
        SinkStats::set(&self.stats.mqtt.spool_events, self.spool.pending());
    }

    /// Connects when due, publishes from the spool, sends the periodic stats.
    fn step(&mut self) {
        if self.conn.is_none() && Instant::now() >= self.retry_at {
            self.connect();
        }
        let Some(conn) = self.conn.as_mut().filter(|c| c.connected) else { return };
        let q = qos(self.settings.cfg.qos);
        while conn.inflight.len() < WINDOW && self.spool.has_unread() {
            let before = self.spool.read_pos();
            let rec = match self.spool.read_next() {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) => {
                    log::error!("MQTT spool {}: cannot read: {e}", self.settings.cfg.spool_dir.display());
                    break;
                }
            };
            if conn.client.try_publish(rec.topic, q, false, rec.payload).is_err() {
                // rumqttc's queue is full: read it again later.
                self.spool.set_read(before);
                break;
            }
            conn.inflight.push_back(Inflight { end: Some(rec.end), pkid: None, acked: false });
        }
        let interval = self.settings.cfg.stats_interval;
        if !interval.is_zero() && self.last_stats.elapsed() >= interval {
            self.last_stats = Instant::now();
            let payload = self.stats.status().unwrap_or_else(|| own_stats(&self.settings.cfg, &self.stats));
            let topic = format!("{}/stats", self.topic_base);
            if conn.client.try_publish(topic, QoS::AtMostOnce, false, payload).is_ok() {
                conn.inflight.push_back(Inflight { end: None, pkid: None, acked: false });
            }
        }
    }

    fn connect(&mut self) {
        let s = &self.settings;
        let cfg = &s.cfg;
        self.next_id += 1;
        let id = self.next_id;
        let mut opts = MqttOptions::new(format!("edgesight-{}", cfg.device), cfg.host.clone(), cfg.port);
        opts.set_keep_alive(cfg.keep_alive);
        opts.set_clean_session(true);
        opts.set_max_packet_size(MAX_PACKET, MAX_PACKET);
        opts.set_last_will(LastWill::new(
            format!("{}/status", self.topic_base),
            status_payload("offline", &cfg.device),
            QoS::AtLeastOnce,
            true,
        ));
        if let Some(user) = &cfg.username {
            opts.set_credentials(user.clone(), s.password.clone().unwrap_or_default());
        }
        if let Some(tls) = &s.tls {
            opts.set_transport(Transport::tls_with_config(TlsConfiguration::Simple {
                ca: tls.ca.clone(),
                alpn: None,
                client_auth: tls.client.clone(),
            }));
        }
        let (client, mut connection) = Client::new(opts, WINDOW + 8);
        let mut net = connection.eventloop.network_options();
        net.set_connection_timeout(cfg.connect_timeout.as_secs().max(1));
        connection.eventloop.set_network_options(net);
        let tx = self.tx.clone();
        let spawned = thread::Builder::new().name("mqtt-conn".into()).spawn(move || {
            for ev in connection.iter() {
                let end = ev.is_err();
                if tx.send(Msg::Net(id, ev)).is_err() || end {
                    break;
                }
            }
        });
        if let Err(e) = spawned {
            log::error!("MQTT: cannot start a connection thread: {e}");
            self.retry_at = Instant::now() + self.backoff;
            return;
        }
        self.conn = Some(Conn {
            id,
            client,
            connected: false,
            inflight: Default::default(),
            replay_until: Pos { seg: 0, off: 0 },
        });
    }

    fn net(&mut self, ev: std::result::Result<MqttEvent, ConnectionError>) {
        let cfg = &self.settings.cfg;
        let Some(conn) = self.conn.as_mut() else { return };
        match ev {
            Ok(MqttEvent::Incoming(Incoming::ConnAck(_))) => {
                conn.connected = true;
                conn.replay_until = self.spool.end();
                self.spool.rewind();
                let waiting = self.spool.pending();
                SinkStats::set(&self.stats.mqtt.connected, 1);
                SinkStats::add(&self.stats.mqtt.connects, 1);
                self.backoff = cfg.reconnect_min;
                match self.failing.take() {
                    Some((_, n)) => log::info!(
                        "MQTT broker {}:{} connected again after {n} failed attempt(s); {waiting} spooled event(s) are sent first",
                        cfg.host,
                        cfg.port
                    ),
                    None => log::info!("MQTT broker {}:{} connected as edgesight-{}", cfg.host, cfg.port, cfg.device),
                }
                let topic = format!("{}/status", self.topic_base);
                if conn.client.try_publish(topic, QoS::AtLeastOnce, true, status_payload("online", &cfg.device)).is_ok()
                {
                    conn.inflight.push_back(Inflight { end: None, pkid: None, acked: false });
                }
            }
            Ok(MqttEvent::Outgoing(Outgoing::Publish(pkid))) => {
                if let Some(i) = conn.inflight.iter_mut().find(|i| i.pkid.is_none()) {
                    i.pkid = Some(pkid);
                    if pkid == 0 {
                        i.acked = true;
                    }
                }
                self.settle();
            }
            Ok(MqttEvent::Incoming(Incoming::PubAck(ack))) => {
                if let Some(i) = conn.inflight.iter_mut().find(|i| i.pkid == Some(ack.pkid) && !i.acked) {
                    i.acked = true;
                }
                self.settle();
            }
            Ok(_) => {}
            Err(e) => self.lost(&e),
        }
    }

    /// Removes the acknowledged publications at the front, in order, from the spool.
    fn settle(&mut self) {
        let Some(conn) = self.conn.as_mut() else { return };
        while conn.inflight.front().is_some_and(|i| i.acked) {
            let Some(i) = conn.inflight.pop_front() else { break };
            if let Some(end) = i.end {
                self.spool.ack(end);
                SinkStats::add(&self.stats.mqtt.sent, 1);
                if end <= conn.replay_until {
                    SinkStats::add(&self.stats.mqtt.replayed, 1);
                }
            }
        }
    }

    fn lost(&mut self, e: &ConnectionError) {
        let cfg = &self.settings.cfg;
        let was_connected = self.conn.take().is_some_and(|c| c.connected);
        self.spool.rewind();
        SinkStats::set(&self.stats.mqtt.connected, 0);
        SinkStats::add(&self.stats.mqtt.errors, 1);
        let now = Instant::now();
        self.retry_at = now + self.backoff;
        let wait = self.backoff;
        self.backoff = (self.backoff * 2).min(cfg.reconnect_max);
        let due =
            was_connected || self.failing.is_none_or(|(at, _)| now.saturating_duration_since(at) >= ERROR_LOG_EVERY);
        let count = self.failing.map_or(0, |(_, n)| n) + 1;
        if due {
            log::error!(
                "{}; events are spooled in {} (up to output.mqtt.spool_max_mb) and sent when it is back; retrying in {:.1} s",
                describe(cfg, e),
                cfg.spool_dir.display(),
                wait.as_secs_f64()
            );
            self.failing = Some((now, count));
        } else if let Some((_, n)) = &mut self.failing {
            *n = count;
        }
    }

    /// Shutdown: drains the spool to a connected broker for up to `DRAIN`, publishes `offline`,
    /// disconnects, and writes the spool's state.
    fn stop(&mut self) {
        self.write_spool();
        let deadline = Instant::now() + DRAIN;
        let mut offline_sent = false;
        while Instant::now() < deadline {
            let Some(conn) = self.conn.as_ref() else { break };
            if !conn.connected {
                break;
            }
            let drained = !self.spool.has_unread() && conn.inflight.iter().all(|i| i.end.is_none());
            if drained && !offline_sent {
                offline_sent = true;
                let topic = format!("{}/status", self.topic_base);
                let payload = status_payload("offline", &self.settings.cfg.device);
                if let Some(c) = self.conn.as_mut()
                    && c.client.try_publish(topic, QoS::AtLeastOnce, true, payload).is_ok()
                {
                    c.inflight.push_back(Inflight { end: None, pkid: None, acked: false });
                }
            }
            if offline_sent && self.conn.as_ref().is_some_and(|c| c.inflight.is_empty()) {
                break;
            }
            if !offline_sent {
                self.step();
            }
            match self.rx.recv_timeout(QUEUE_WAIT) {
                Ok(Msg::Net(id, ev)) if self.conn.as_ref().is_some_and(|c| c.id == id) => self.net(ev),
                Ok(Msg::Flush(reply)) => {
                    let _ = reply.send(());
                }
                _ => {}
            }
        }
        if let Some(conn) = self.conn.take() {
            let _ = conn.client.try_disconnect();
        }
        SinkStats::set(&self.stats.mqtt.connected, 0);
        if let Err(e) = self.spool.sync() {
            self.spool_failed(&e, 0);
        }
        SinkStats::set(&self.stats.mqtt.spool_bytes, self.spool.bytes());
        SinkStats::set(&self.stats.mqtt.spool_events, self.spool.pending());
        if self.spool.pending() > 0 {
            log::info!(
                "MQTT: {} event(s) stay in the spool {} and are sent after the next start",
                self.spool.pending(),
                self.settings.cfg.spool_dir.display()
            );
        }
    }
}

/// The stats message when the runtime gave no `/status` renderer (only the sink's counters).
fn own_stats(cfg: &MqttConfig, stats: &SinkStats) -> String {
    serde_json::json!({"device": cfg.device, "sinks": {"mqtt": mqtt_status(stats)}}).to_string()
}

/// The MQTT output's `/status` entry.
pub fn mqtt_status(k: &SinkStats) -> serde_json::Value {
    let m = &k.mqtt;
    serde_json::json!({
        "connected": SinkStats::get(&m.connected) == 1,
        "sent": SinkStats::get(&m.sent),
        "spooled": SinkStats::get(&m.spooled),
        "replayed": SinkStats::get(&m.replayed),
        "dropped": MqttDrop::ALL.iter().map(|w| (w.as_str().to_string(), serde_json::json!(m.dropped(*w)))).collect::<serde_json::Map<_, _>>(),
        "errors": SinkStats::get(&m.errors),
        "connects": SinkStats::get(&m.connects),
        "spool_bytes": SinkStats::get(&m.spool_bytes),
        "spool_events": SinkStats::get(&m.spool_events),
    })
}
