//! `H2Server`: an HTTP/2 server built on the `h2` crate's server half, on plain TCP
//! (clients reach it with prior knowledge), for scripted misbehaviour.
//!
//! It runs on its own thread with a two-worker tokio runtime. Its [`H2Options`] set the
//! `SETTINGS` it sends (max concurrent streams, initial window, max header list size) and
//! how it answers each request ([`Behaviour`]). Its gauges count connections, requests,
//! streams in flight and their peak, and the streams the client reset (with the code),
//! so tests check the wire without a stopwatch.

use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::server::SendResponse;
use h2::{Reason, RecvStream};
use http::{Request, Response};
use tokio::sync::oneshot;

/// How an [`H2Server`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// `200` with the request path as the body (after reading the request body).
    Echo,
    /// Holds every request (until the client resets it or 60 s pass).
    Hold,
    /// Holds requests until `n` are in flight, then sends `GOAWAY` and answers them all
    /// (on the first connection; later ones echo).
    GoAwayAfter(usize),
    /// Resets the stream of requests whose path is `/reset` with `INTERNAL_ERROR`,
    /// answers the others.
    ResetSome,
    /// Answers `200` with `n` header fields.
    ManyHeaders(usize),
    /// Never reads request bodies and never answers.
    StopReading,
    /// Sends the head and half of a body, then closes the TCP connection.
    CloseMidStream,
    /// Holds requests until `n` are in flight, then raises `SETTINGS_INITIAL_WINDOW_SIZE`
    /// to 1 MiB and answers them all.
    SettingsChangeAfter(usize),
    /// `REFUSED_STREAM` for the first request the server sees, answers the others.
    RefuseFirst,
    /// Holds the first request of each connection (until the client resets it or 60 s
    /// pass), echoes the others (hedged requests).
    HoldFirst,
    /// `REFUSED_STREAM` for every request on the first connection; later connections
    /// answer.
    RefuseFirstConnection,
    /// `REFUSED_STREAM` for every request.
    RefuseAll,
    /// Sends the head and `start`, then holds the rest of the body until the client
    /// resets the stream (60 s at most).
    HeadThenHold,
    /// Answers `/big` with `n` bytes (`b`), other paths with their path.
    BigAt(usize),
}

/// The `SETTINGS` of an [`H2Server`] and how it answers.
#[derive(Debug, Clone, Copy)]
pub struct H2Options {
    pub max_concurrent_streams: Option<u32>,
    pub initial_window_size: Option<u32>,
    pub max_header_list_size: Option<u32>,
    pub behaviour: Behaviour,
}

impl H2Options {
    pub fn new(behaviour: Behaviour) -> Self {
        Self {
            max_concurrent_streams: None,
            initial_window_size: None,
            max_header_list_size: None,
            behaviour,
        }
    }
}

/// The gauges of an [`H2Server`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct H2Stats {
    pub accepted: usize,
    pub requests: usize,
    pub in_flight: usize,
    pub max_in_flight: usize,
    /// Streams the client reset, and with which code (`CANCEL` is 8).
    pub resets: Vec<u32>,
    /// Request bodies received in full, by length.
    pub bodies: Vec<usize>,
    /// Every stream the server accepted: its connection (1 for the first accepted), its
    /// stream id and its path. (Streams `h2` refused on its own, over
    /// `max_concurrent_streams`, never reach the server: they are the gaps in the ids.)
    pub streams: Vec<(usize, u32, String)>,
    /// The streams the behaviour refused with `REFUSED_STREAM`: connection and path.
    pub refused: Vec<(usize, String)>,
}

impl H2Stats {
    /// Stream ids the client opened that the server never accepted, per connection:
    /// the odd ids below the highest one seen that are missing (`h2`'s own
    /// `REFUSED_STREAM` for streams over `max_concurrent_streams`, or streams reset
    /// before they arrived).
    pub fn unaccepted_stream_ids(&self) -> Vec<(usize, u32)> {
        let mut by_conn: std::collections::BTreeMap<usize, Vec<u32>> = Default::default();
        for (conn, id, _) in &self.streams {
            by_conn.entry(*conn).or_default().push(*id);
        }
        let mut missing = Vec::new();
        for (conn, ids) in by_conn {
            let top = ids.iter().copied().max().unwrap_or(0);
            missing.extend(
                (1..=top)
                    .step_by(2)
                    .filter(|id| !ids.contains(id))
                    .map(|id| (conn, id)),
            );
        }
        missing
    }

    /// The connection each path was answered on (refused streams left out).
    pub fn answered_on(&self, path: &str) -> Vec<usize> {
        self.streams
            .iter()
            .filter(|(conn, _, p)| {
                p == path && !self.refused.iter().any(|(c, rp)| c == conn && rp == p)
            })
            .map(|(conn, _, _)| *conn)
            .collect()
    }
}

#[derive(Default)]
struct State {
    stats: Mutex<H2Stats>,
    changed: Condvar,
}

impl State {
    fn update(&self, f: impl FnOnce(&mut H2Stats)) {
        f(&mut self.lock());
        self.changed.notify_all();
    }

    fn lock(&self) -> MutexGuard<'_, H2Stats> {
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An `h2` server on `127.0.0.1:0`. Dropping it stops the runtime and joins its thread.
pub struct H2Server {
    addr: SocketAddr,
    state: Arc<State>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl H2Server {
    pub fn start(options: H2Options) -> Self {
        let state = Arc::new(State::default());
        let (stop_tx, stop_rx) = oneshot::channel();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let server_state = Arc::clone(&state);
        let thread = thread::Builder::new()
            .name("h2-server".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("tokio runtime");
                rt.block_on(serve(server_state, addr_tx, stop_rx, options));
                rt.shutdown_timeout(Duration::from_secs(2));
            })
            .expect("spawn h2 server thread");
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("h2 server listening");
        Self {
            addr,
            state,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        super::url_for(self.addr, path)
    }

    pub fn stats(&self) -> H2Stats {
        self.state.lock().clone()
    }

    /// Waits until `cond` holds on the gauges, or `timeout` passes; true if it held.
    pub fn wait_until(&self, mut cond: impl FnMut(&H2Stats) -> bool, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut stats = self.state.lock();
        loop {
            if cond(&stats) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            stats = self
                .state
                .changed
                .wait_timeout(stats, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl Drop for H2Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(
    state: Arc<State>,
    addr_tx: std::sync::mpsc::Sender<SocketAddr>,
    mut stop: oneshot::Receiver<()>,
    options: H2Options,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let _ = addr_tx.send(listener.local_addr().expect("local addr"));
    loop {
        let stream = tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let _ = stream.set_nodelay(true);
        let number = {
            let mut stats = state.lock();
            stats.accepted += 1;
            stats.accepted
        };
        let first = number == 1;
        state.changed.notify_all();
        let mut options = options;
        if !first && matches!(options.behaviour, Behaviour::GoAwayAfter(_)) {
            // Only the first connection goes away; the client's next one is served.
            options.behaviour = Behaviour::Echo;
        }
        tokio::spawn(connection(Arc::clone(&state), stream, options, number));
    }
}

async fn connection(
    state: Arc<State>,
    stream: tokio::net::TcpStream,
    options: H2Options,
    number: usize,
) {
    let mut builder = h2::server::Builder::new();
    if let Some(max) = options.max_concurrent_streams {
        builder.max_concurrent_streams(max);
    }
    if let Some(window) = options.initial_window_size {
        builder.initial_window_size(window);
    }
    if let Some(max) = options.max_header_list_size {
        builder.max_header_list_size(max);
    }
    let Ok(mut conn) = builder.handshake::<_, Bytes>(stream).await else {
        return;
    };
    let mut seen = 0_usize;
    let held: Arc<Mutex<Vec<oneshot::Sender<()>>>> = Arc::default();
    loop {
        let accepted = tokio::time::timeout(Duration::from_secs(60), conn.accept()).await;
        let Ok(Some(Ok((request, respond)))) = accepted else {
            return;
        };
        seen += 1;
        let id = u32::from(respond.stream_id());
        let path = request.uri().path().to_owned();
        let refuse = match options.behaviour {
            Behaviour::RefuseAll => true,
            Behaviour::RefuseFirstConnection => number == 1,
            _ => false,
        };
        let mut first_request = false;
        state.update(|s| {
            s.requests += 1;
            s.in_flight += 1;
            s.max_in_flight = s.max_in_flight.max(s.in_flight);
            s.streams.push((number, id, path.clone()));
            first_request = s.requests == 1;
        });
        match options.behaviour {
            Behaviour::GoAwayAfter(n) => {
                let gate = (seen <= n).then(|| {
                    let (tx, rx) = oneshot::channel();
                    held.lock().unwrap_or_else(PoisonError::into_inner).push(tx);
                    rx
                });
                tokio::spawn(stream_task(
                    Arc::clone(&state),
                    request,
                    respond,
                    gate,
                    options,
                ));
                if seen == n {
                    // GOAWAY first, then the answers: the client learns of it before its
                    // streams end, and must open a new connection for what comes next.
                    conn.graceful_shutdown();
                    for tx in held
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .drain(..)
                    {
                        let _ = tx.send(());
                    }
                }
            }
            Behaviour::SettingsChangeAfter(n) => {
                let gate = (seen <= n).then(|| {
                    let (tx, rx) = oneshot::channel();
                    held.lock().unwrap_or_else(PoisonError::into_inner).push(tx);
                    rx
                });
                tokio::spawn(stream_task(
                    Arc::clone(&state),
                    request,
                    respond,
                    gate,
                    options,
                ));
                if seen == n {
                    let _ = conn.set_initial_window_size(1024 * 1024);
                    for tx in held
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .drain(..)
                    {
                        let _ = tx.send(());
                    }
                }
            }
            Behaviour::HoldFirst if seen == 1 => {
                let hold = H2Options {
                    behaviour: Behaviour::Hold,
                    ..options
                };
                tokio::spawn(stream_task(
                    Arc::clone(&state),
                    request,
                    respond,
                    None,
                    hold,
                ));
            }
            Behaviour::RefuseFirst if first_request => refuse_stream(&state, respond, number, path),
            _ if refuse => refuse_stream(&state, respond, number, path),
            _ => {
                tokio::spawn(stream_task(
                    Arc::clone(&state),
                    request,
                    respond,
                    None,
                    options,
                ));
            }
        }
        if options.behaviour == Behaviour::CloseMidStream {
            // Let the stream task write its half body (the connection must be polled for
            // that), then close the socket.
            let _ = tokio::time::timeout(Duration::from_millis(200), conn.accept()).await;
            return;
        }
    }
}

/// Answers a stream with `REFUSED_STREAM`, recording it.
fn refuse_stream(state: &State, mut respond: SendResponse<Bytes>, number: usize, path: String) {
    respond.send_reset(Reason::REFUSED_STREAM);
    state.update(|s| {
        s.in_flight -= 1;
        s.refused.push((number, path));
    });
}

async fn stream_task(
    state: Arc<State>,
    request: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    gate: Option<oneshot::Receiver<()>>,
    options: H2Options,
) {
    let path = request.uri().path().to_owned();
    let mut body = request.into_body();
    let done = |state: &State| state.update(|s| s.in_flight -= 1);
    if options.behaviour == Behaviour::StopReading {
        let reason = std::future::poll_fn(|cx| respond.poll_reset(cx)).await;
        record_reset(&state, reason);
        done(&state);
        drop(body);
        return;
    }
    // Read the request body, giving its window back.
    let mut received = 0;
    while let Some(chunk) = body.data().await {
        let Ok(chunk) = chunk else { break };
        received += chunk.len();
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    state.update(|s| s.bodies.push(received));
    let hold = matches!(options.behaviour, Behaviour::Hold);
    if let Some(gate) = gate {
        tokio::select! {
            reason = std::future::poll_fn(|cx| respond.poll_reset(cx)) => {
                record_reset(&state, reason);
                done(&state);
                return;
            }
            _ = gate => {}
        }
    }
    if hold || (options.behaviour == Behaviour::ResetSome && path == "/reset") {
        if hold {
            let reset = tokio::time::timeout(
                Duration::from_secs(60),
                std::future::poll_fn(|cx| respond.poll_reset(cx)),
            )
            .await;
            if let Ok(reason) = reset {
                record_reset(&state, reason);
            }
        } else {
            respond.send_reset(Reason::INTERNAL_ERROR);
        }
        done(&state);
        return;
    }
    let mut response = Response::new(());
    if let Behaviour::ManyHeaders(n) = options.behaviour {
        for i in 0..n {
            response.headers_mut().insert(
                format!("x-field-{i}")
                    .parse::<http::HeaderName>()
                    .expect("name"),
                http::HeaderValue::from(i),
            );
        }
    }
    let Ok(mut send) = respond.send_response(response, false) else {
        done(&state);
        return;
    };
    if options.behaviour == Behaviour::HeadThenHold {
        let _ = send.send_data(Bytes::from_static(b"start"), false);
        let reset = tokio::time::timeout(
            Duration::from_secs(60),
            std::future::poll_fn(|cx| send.poll_reset(cx)),
        )
        .await;
        if let Ok(reason) = reset {
            record_reset(&state, reason);
        }
        done(&state);
        return;
    }
    if let (Behaviour::BigAt(n), "/big") = (options.behaviour, path.as_str()) {
        let _ = send.send_data(Bytes::from(vec![b'b'; n]), true);
        done(&state);
        return;
    }
    if options.behaviour == Behaviour::CloseMidStream {
        let _ = send.send_data(Bytes::from(vec![b'x'; 1000]), false);
        done(&state);
        // Keep the stream open: the connection is dropped under it.
        tokio::time::sleep(Duration::from_secs(5)).await;
        return;
    }
    let _ = send.send_data(Bytes::from(path), true);
    done(&state);
}

fn record_reset(state: &State, reason: Result<Reason, h2::Error>) {
    if let Ok(reason) = reason {
        state.update(|s| s.resets.push(reason.into()));
    }
}

/// A server whose first connection is scripted frame by frame: it answers stream 1,
/// then sends `GOAWAY(last stream 1, NO_ERROR)`, leaving the client's other streams
/// unprocessed, and closes. Every later connection is relayed to `upstream` (an
/// [`H2Server`]) as is. Returns its address, and a count of the streams it saw on the
/// first connection.
pub fn goaway_refusing_server(upstream: &H2Server) -> (SocketAddr, Arc<Mutex<usize>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let upstream = upstream.addr;
    let seen = Arc::new(Mutex::new(0_usize));
    let count = Arc::clone(&seen);
    thread::spawn(move || {
        let mut first = true;
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            if first {
                first = false;
                let count = Arc::clone(&count);
                thread::spawn(move || script_goaway(stream, &count));
            } else {
                thread::spawn(move || relay(stream, upstream));
            }
        }
    });
    (addr, seen)
}

/// Writes one HTTP/2 frame.
fn frame(out: &mut impl std::io::Write, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let len = payload.len() as u32;
    let mut head = [0u8; 9];
    head[..3].copy_from_slice(&len.to_be_bytes()[1..]);
    head[3] = kind;
    head[4] = flags;
    head[5..].copy_from_slice(&stream.to_be_bytes());
    let _ = out.write_all(&head);
    let _ = out.write_all(payload);
}

fn script_goaway(mut stream: std::net::TcpStream, seen: &Mutex<usize>) {
    use std::io::Read;
    let _ = stream.set_read_timeout(Some(Duration::from_millis(300)));
    let mut preface = [0u8; 24];
    if stream.read_exact(&mut preface).is_err() {
        return;
    }
    frame(&mut stream, 0x4, 0, 0, &[]); // SETTINGS
    // Read frames until the client pauses: its SETTINGS (acknowledged) and its HEADERS.
    loop {
        let mut head = [0u8; 9];
        if stream.read_exact(&mut head).is_err() {
            break;
        }
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let mut payload = vec![0u8; len];
        if stream.read_exact(&mut payload).is_err() {
            break;
        }
        match head[3] {
            0x4 if head[4] & 0x1 == 0 => frame(&mut stream, 0x4, 0x1, 0, &[]),
            0x1 => *seen.lock().unwrap_or_else(PoisonError::into_inner) += 1,
            _ => {}
        }
    }
    // Stream 1: `:status: 200` (HPACK static index 8), then "first"; then GOAWAY. (Which
    // request went out on stream 1 depends on the order the client's tasks ran in.)
    frame(&mut stream, 0x1, 0x4, 1, &[0x88]);
    frame(&mut stream, 0x0, 0x1, 1, b"first");
    let mut goaway = Vec::new();
    goaway.extend_from_slice(&1_u32.to_be_bytes());
    goaway.extend_from_slice(&0_u32.to_be_bytes());
    frame(&mut stream, 0x7, 0, 0, &goaway);
    let _ = std::io::Write::flush(&mut stream);
    thread::sleep(Duration::from_millis(200));
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// Copies bytes both ways between `client` and a new connection to `upstream`.
fn relay(client: std::net::TcpStream, upstream: SocketAddr) {
    let Ok(server) = std::net::TcpStream::connect(upstream) else {
        return;
    };
    let (Ok(mut client_read), Ok(mut server_write)) = (client.try_clone(), server.try_clone())
    else {
        return;
    };
    let (mut server_read, mut client_write) = (server, client);
    thread::spawn(move || {
        let _ = std::io::copy(&mut client_read, &mut server_write);
        let _ = server_write.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut server_read, &mut client_write);
    let _ = client_write.shutdown(std::net::Shutdown::Write);
}
