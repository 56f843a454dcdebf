//! The connection side of the metrics listener: one thread, every socket non-blocking, one
//! `poll(2)` over the listening socket and all open connections. A connection costs a socket and
//! at most `MAX_REQUEST_HEAD` bytes of input plus its response, never a thread, so idle, trickling
//! or oversized clients cannot delay the others nor take threads from the rest of the process
//! (the service runs under `TasksMax`). Each request head must arrive whole within
//! `REQUEST_TIMEOUT` (else 408) and `MAX_REQUEST_HEAD` bytes (else 431); past `MAX_CONNECTIONS`
//! open at once, new ones get 503. One request per connection, then close.
//!
//! (tiny_http was the alternative: +300 KB stripped and four crates, yet it reads header lines
//! into unbounded buffers and grows a thread per busy connection without a cap.)

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};

/// Connections open at once (being read, answered or closed). Prometheus, a watchdog and a person
/// with curl need a handful; 128 leaves room for a hundred stray idle sockets while bounding file
/// descriptors and buffers (under 10 MB even if every one waits on a large `/metrics` answer).
pub const MAX_CONNECTIONS: usize = 128;
/// Request line and headers together. Prometheus sends ~300 bytes; 8 KiB is the common default of
/// HTTP servers. Input is read only up to this many bytes per connection.
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// From accept to the end of the headers. A real client sends its request in one packet at once;
/// an idle or trickling client is answered 408 and closed after this, freeing its place.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// For the whole response: a client that does not read it cannot hold its place for longer.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// After the response, what the client still sends is read and discarded for at most this long:
/// closing with unread input would reset the connection and could destroy the response before the
/// client has read it.
const LINGER: Duration = Duration::from_secs(1);
/// Reads of discarded input per connection and turn of the loop (16 × 8 KiB).
const LINGER_READS: usize = 16;
/// How often the loop looks at the stop flag when nothing happens.
const TICK: Duration = Duration::from_millis(50);

/// An HTTP/1.1 response that closes the connection.
pub fn response(status: &str, content_type: &str, extra_headers: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra_headers}Connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Where the request head ends in `buf`, if it does: after the first empty line (CRLF or bare LF).
fn head_end(buf: &[u8]) -> Option<usize> {
    let lf_lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    let crlf = buf.windows(3).position(|w| w == b"\n\r\n").map(|i| i + 3);
    lf_lf.into_iter().chain(crlf).min()
}

enum Phase {
    /// Reading the request head (never more than `MAX_REQUEST_HEAD` bytes).
    Head(Vec<u8>),
    /// Sending the response; `usize` bytes of it are out.
    Answer(Vec<u8>, usize),
    /// Response sent and our side shut: discarding input until the client closes.
    Linger,
    Done,
}

struct Conn {
    stream: TcpStream,
    phase: Phase,
    deadline: Instant,
}

impl Conn {
    fn interest(&self) -> PollFlags {
        match self.phase {
            Phase::Answer(..) => PollFlags::OUT,
            _ => PollFlags::IN,
        }
    }

    fn answer(&mut self, bytes: Vec<u8>) {
        self.phase = Phase::Answer(bytes, 0);
        self.deadline = Instant::now() + WRITE_TIMEOUT;
    }

    /// Moves the connection on as far as its socket allows without blocking. Input discarded
    /// while lingering is read at most `LINGER_READS` times per call, so that a client sending
    /// without pause cannot keep the loop from the other connections.
    fn step(&mut self, handler: &dyn Fn(&[u8]) -> Vec<u8>, scratch: &mut [u8]) {
        let mut discards = 0;
        loop {
            match &mut self.phase {
                Phase::Head(head) => {
                    let room = (MAX_REQUEST_HEAD - head.len()).min(scratch.len());
                    match self.stream.read(&mut scratch[..room]) {
                        // The client closed its side: a bare request line (`nc`) is still answered.
                        Ok(0) if head.is_empty() => self.phase = Phase::Done,
                        Ok(0) => {
                            let reply = handler(head);
                            self.answer(reply);
                        }
                        Ok(n) => {
                            // Only the new bytes and the 2 before them can complete an empty line.
                            let from = head.len().saturating_sub(2);
                            head.extend_from_slice(&scratch[..n]);
                            if head_end(&head[from..]).is_some() {
                                let reply = handler(head);
                                self.answer(reply);
                            } else if head.len() >= MAX_REQUEST_HEAD {
                                let body = format!("request line and headers over {MAX_REQUEST_HEAD} bytes\n");
                                self.answer(response("431 Request Header Fields Too Large", "text/plain", "", &body));
                            }
                        }
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                        Err(_) => self.phase = Phase::Done,
                    }
                }
                Phase::Answer(bytes, sent) => match self.stream.write(&bytes[*sent..]) {
                    Ok(0) => self.phase = Phase::Done,
                    Ok(n) => {
                        *sent += n;
                        if *sent == bytes.len() {
                            let _ = self.stream.shutdown(Shutdown::Write);
                            self.phase = Phase::Linger;
                            self.deadline = Instant::now() + LINGER;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                    Err(_) => self.phase = Phase::Done,
                },
                Phase::Linger if discards == LINGER_READS => return,
                Phase::Linger => match self.stream.read(scratch) {
                    Ok(n) if n > 0 => discards += 1,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                    _ => self.phase = Phase::Done,
                },
                Phase::Done => return,
            }
        }
    }

    /// At the deadline: a head still incomplete is answered 408; anything else is closed.
    fn expire(&mut self, now: Instant) {
        if now < self.deadline {
            return;
        }
        if matches!(self.phase, Phase::Head(_)) {
            let body = format!("request not complete within {} s\n", REQUEST_TIMEOUT.as_secs());
            self.answer(response("408 Request Timeout", "text/plain", "", &body));
        } else {
            self.phase = Phase::Done;
        }
    }
}

/// Over `MAX_CONNECTIONS`: a 503 written without blocking (a fresh socket's send buffer takes
/// it), the input already there (up to 64 KiB) discarded so that the close is not a reset, then
/// closed. Never waits for the client.
fn refuse(mut stream: TcpStream) {
    let body = format!("too many connections (limit {MAX_CONNECTIONS}); try again later\n");
    let _ = stream.write(&response("503 Service Unavailable", "text/plain", "Retry-After: 1\r\n", &body));
    let _ = stream.shutdown(Shutdown::Write);
    let mut sink = [0u8; 4096];
    for _ in 0..16 {
        if !matches!(stream.read(&mut sink), Ok(n) if n > 0) {
            break;
        }
    }
}

/// Serves `listener` until `stop` is set: `handler` turns a request head into a whole response.
/// The listener must be non-blocking.
pub fn serve(listener: &TcpListener, stop: &Arc<AtomicBool>, handler: &dyn Fn(&[u8]) -> Vec<u8>) {
    let mut conns: Vec<Conn> = Vec::new();
    let mut scratch = vec![0u8; MAX_REQUEST_HEAD];
    // After an accept error other than "none waiting" (out of file descriptors), the listener
    // stays readable: it is left out of the poll for a tick instead of spinning.
    let mut accept_paused_until: Option<Instant> = None;
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        let accepting = accept_paused_until.is_none_or(|t| now >= t);
        let wait = conns.iter().map(|c| c.deadline.saturating_duration_since(now)).fold(TICK, Duration::min);
        let (listener_ready, ready) = {
            let mut fds = Vec::with_capacity(conns.len() + 1);
            fds.push(PollFd::new(listener, if accepting { PollFlags::IN } else { PollFlags::empty() }));
            fds.extend(conns.iter().map(|c| PollFd::new(&c.stream, c.interest())));
            let timeout = Timespec::try_from(wait).unwrap_or(Timespec { tv_sec: 0, tv_nsec: 50_000_000 });
            // EINTR and the like: the next turn polls again.
            let _ = poll(&mut fds, Some(&timeout));
            (!fds[0].revents().is_empty(), fds[1..].iter().map(|f| !f.revents().is_empty()).collect::<Vec<_>>())
        };
        for (conn, ready) in conns.iter_mut().zip(ready) {
            if ready {
                conn.step(handler, &mut scratch);
            }
        }
        // Before accepting: a connection that just closed no longer counts against the limit.
        conns.retain(|c| !matches!(c.phase, Phase::Done));
        if listener_ready {
            accept_paused_until = None;
            loop {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if stream.set_nonblocking(true).is_err() {
                            continue;
                        }
                        if conns.len() >= MAX_CONNECTIONS {
                            log::warn!("metrics listener: {MAX_CONNECTIONS} connections open; refusing more with 503");
                            refuse(stream);
                            continue;
                        }
                        let mut conn =
                            Conn { stream, phase: Phase::Head(Vec::new()), deadline: Instant::now() + REQUEST_TIMEOUT };
                        // Most requests are already there: answered without another poll.
                        conn.step(handler, &mut scratch);
                        conns.push(conn);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => {
                        log::warn!("metrics listener: cannot accept a connection: {e}");
                        accept_paused_until = Some(Instant::now() + TICK);
                        break;
                    }
                }
            }
        }
        let now = Instant::now();
        for conn in &mut conns {
            conn.expire(now);
            if matches!(conn.phase, Phase::Answer(..)) {
                conn.step(handler, &mut scratch);
            }
        }
        conns.retain(|c| !matches!(c.phase, Phase::Done));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_ends_at_the_first_empty_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), Some(27));
        assert_eq!(head_end(b"GET /\n\n"), Some(7));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody\n\n"), Some(27));
    }

    /// A listener on a free loopback port served by `serve` on a thread, with a handler that
    /// echoes the request line; stopped and joined on drop.
    struct Server {
        addr: std::net::SocketAddr,
        stop: Arc<AtomicBool>,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    impl Server {
        fn start() -> Server {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.set_nonblocking(true).expect("non-blocking");
            let addr = listener.local_addr().expect("addr");
            let stop = Arc::new(AtomicBool::new(false));
            let st = Arc::clone(&stop);
            let thread = std::thread::spawn(move || {
                serve(&listener, &st, &|head: &[u8]| {
                    let line = String::from_utf8_lossy(head.split(|b| *b == b'\n').next().unwrap_or_default());
                    response("200 OK", "text/plain", "", &format!("{}\n", line.trim()))
                })
            });
            Server { addr, stop, thread: Some(thread) }
        }

        fn exchange(&self, request: &[u8]) -> String {
            let mut s = TcpStream::connect(self.addr).expect("connect");
            s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
            s.write_all(request).expect("request");
            let mut out = String::new();
            s.read_to_string(&mut out).expect("response");
            out
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    #[test]
    fn a_request_is_answered_and_closed() {
        let server = Server::start();
        let out = server.exchange(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n");
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n") && out.ends_with("\r\n\r\nGET /x HTTP/1.1\n"), "{out:?}");
        assert!(out.contains("Connection: close\r\n"), "{out:?}");
    }

    #[test]
    fn a_bare_request_line_then_eof_is_answered() {
        let server = Server::start();
        let mut s = TcpStream::connect(server.addr).expect("connect");
        s.write_all(b"GET /metrics\n").expect("request");
        s.shutdown(Shutdown::Write).expect("half-close");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("response");
        assert!(out.ends_with("GET /metrics\n"), "{out:?}");
    }

    #[test]
    fn a_head_over_the_limit_is_431_and_one_at_the_limit_is_served() {
        let server = Server::start();
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.resize(MAX_REQUEST_HEAD + 1, b'a');
        let out = server.exchange(&big);
        assert!(out.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "{out:?}");
        let mut fits = b"GET /fits HTTP/1.1\r\nX: ".to_vec();
        fits.resize(MAX_REQUEST_HEAD - 4, b'a');
        fits.extend_from_slice(b"\r\n\r\n");
        let out = server.exchange(&fits);
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out:?}");
    }
}
