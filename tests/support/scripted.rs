//! `ScriptedServer`: a raw-TCP HTTP/1.1 server whose every byte is written by the test.
//!
//! Each accepted connection runs the test's handler on its own std thread (at most
//! [`MAX_CONNECTIONS`] at once). The handler reads requests with
//! [`ServerConn::read_request`] and answers with whatever bytes the case needs, well-formed
//! or not. The server keeps gauges the tests assert on instead of a stopwatch: connections
//! accepted, open and closed by the client, and how many requests were in flight at once.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::wire::{self, RawRequest};

/// At most this many connections are served at once; further ones are closed unanswered.
pub const MAX_CONNECTIONS: usize = 512;

/// A safety net: a connection idle this long is dropped, so no server thread lives forever.
const IDLE_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long [`ServerConn::close`] waits for the client to close its side.
const CLOSE_LINGER: Duration = Duration::from_secs(1);

/// How often the accept loop checks the stop flag.
const ACCEPT_POLL: Duration = Duration::from_millis(5);

/// The gauges of a [`ScriptedServer`], as one consistent snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScriptedStats {
    /// Connections accepted since start.
    pub accepted: usize,
    /// Connections whose handler has not finished yet.
    pub open: usize,
    /// The largest value `open` ever had.
    pub max_open: usize,
    /// Connections on which the server saw the client close (EOF or reset).
    pub closed_by_peer: usize,
    /// Connections the handler shut down (`shutdown_write` or `close`).
    pub closed_by_server: usize,
    /// Requests read since start.
    pub requests: usize,
    /// Requests read whose reply has not started yet.
    pub in_flight: usize,
    /// The largest value `in_flight` ever had.
    pub max_in_flight: usize,
}

struct Shared {
    stats: Mutex<ScriptedStats>,
    changed: Condvar,
    stop: AtomicBool,
    log: Mutex<Vec<RawRequest>>,
    /// Clones of the live sockets, shut down when the server drops so no read blocks on.
    live: Mutex<Vec<(usize, TcpStream)>>,
}

impl Shared {
    fn stats(&self) -> MutexGuard<'_, ScriptedStats> {
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn update(&self, f: impl FnOnce(&mut ScriptedStats)) {
        let mut stats = self.stats();
        f(&mut stats);
        stats.max_open = stats.max_open.max(stats.open);
        stats.max_in_flight = stats.max_in_flight.max(stats.in_flight);
        drop(stats);
        self.changed.notify_all();
    }

    fn wait_until(&self, cond: impl FnMut(&ScriptedStats) -> bool, timeout: Duration) -> bool {
        super::wait_on(self.stats(), &self.changed, cond, timeout, || {
            self.stop.load(Ordering::SeqCst)
        })
    }
}

type Handler = dyn Fn(&mut ServerConn) + Send + Sync + 'static;

/// A raw-TCP HTTP/1.1 server on `127.0.0.1:0`, scripted per connection by a closure.
///
/// Dropping it stops accepting, shuts down every live connection and returns promptly.
pub struct ScriptedServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl ScriptedServer {
    /// Starts a server that calls `handler` once per accepted connection, on its own thread.
    pub fn new(handler: impl Fn(&mut ServerConn) + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared {
            stats: Mutex::new(ScriptedStats::default()),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
            log: Mutex::new(Vec::new()),
            live: Mutex::new(Vec::new()),
        });
        let handler: Arc<Handler> = Arc::new(handler);
        let accept_shared = Arc::clone(&shared);
        let accept = thread::Builder::new()
            .name(format!("scripted-accept-{}", addr.port()))
            .spawn(move || accept_loop(&listener, &accept_shared, &handler))
            .expect("spawn accept thread");
        Self {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// Answers the n-th request on each connection with `replies[n]`, then closes the
    /// connection after the last reply (or when the client closes first).
    pub fn replies(replies: Vec<Vec<u8>>) -> Self {
        Self::new(move |conn| {
            for reply in &replies {
                if conn.read_request().is_none() {
                    return;
                }
                conn.write_all(reply);
            }
            conn.close();
        })
    }

    /// Answers every request with `reply`, keeping the connection open until the client
    /// closes it.
    pub fn always(reply: impl Into<Vec<u8>>) -> Self {
        let reply = reply.into();
        Self::new(move |conn| {
            while conn.read_request().is_some() {
                conn.write_all(&reply);
            }
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/path` (a leading `/` in `path` is optional).
    pub fn url(&self, path: &str) -> String {
        super::url_for(self.addr, path)
    }

    /// A snapshot of all gauges.
    pub fn stats(&self) -> ScriptedStats {
        self.shared.stats().clone()
    }

    /// Connections accepted since start.
    pub fn accepted(&self) -> usize {
        self.stats().accepted
    }

    /// Connections whose handler is still running.
    pub fn open(&self) -> usize {
        self.stats().open
    }

    /// The most connections that were open at once.
    pub fn max_open(&self) -> usize {
        self.stats().max_open
    }

    /// Connections the client closed (as seen by a read returning EOF or an error).
    pub fn closed_by_peer(&self) -> usize {
        self.stats().closed_by_peer
    }

    /// Requests read since start.
    pub fn requests(&self) -> usize {
        self.stats().requests
    }

    /// The most requests that were in flight at once (read, reply not yet started).
    pub fn max_in_flight(&self) -> usize {
        self.stats().max_in_flight
    }

    /// Every request read so far, in the order they were read.
    pub fn request_log(&self) -> Vec<RawRequest> {
        self.shared
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits until `cond` holds for the gauges or `timeout` passes; returns whether it held.
    pub fn wait_until(&self, cond: impl FnMut(&ScriptedStats) -> bool, timeout: Duration) -> bool {
        self.shared.wait_until(cond, timeout)
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
        let live: Vec<(usize, TcpStream)> = self
            .shared
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
            .collect();
        super::shut_down(
            &self.shared.stop,
            live.iter().map(|(_, stream)| stream),
            self.accept.take(),
        );
    }
}

impl std::fmt::Debug for ScriptedServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedServer")
            .field("addr", &self.addr)
            .field("stats", &self.stats())
            .finish()
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>, handler: &Arc<Handler>) {
    let mut index = 0;
    while !shared.stop.load(Ordering::SeqCst) {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(ACCEPT_POLL);
                continue;
            }
            Err(_) => continue,
        };
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_nodelay(true);
        if shared.stats().open >= MAX_CONNECTIONS {
            drop(stream);
            continue;
        }
        let Ok(clone) = stream.try_clone() else {
            continue;
        };
        shared
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((index, clone));
        shared.update(|s| {
            s.accepted += 1;
            s.open += 1;
        });
        let mut conn = ServerConn {
            stream,
            buf: Vec::new(),
            index,
            outstanding: 0,
            peer_closed: false,
            server_closed: false,
            shared: Arc::clone(shared),
        };
        let handler = Arc::clone(handler);
        let spawned = thread::Builder::new()
            .name(format!("scripted-conn-{index}"))
            .spawn(move || {
                // A panicking handler must still release its gauges (ServerConn's Drop).
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    handler(&mut conn);
                }));
            });
        if spawned.is_err() {
            shared.update(|s| s.open -= 1);
        }
        index += 1;
    }
}

/// One accepted connection, handed to the handler of a [`ScriptedServer`].
pub struct ServerConn {
    stream: TcpStream,
    buf: Vec<u8>,
    index: usize,
    /// Requests read on this connection whose reply has not started.
    outstanding: usize,
    peer_closed: bool,
    server_closed: bool,
    shared: Arc<Shared>,
}

impl ServerConn {
    /// The 0-based index of this connection in accept order.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Reads one request (head and body, framed by Content-Length or chunked). `None` when
    /// the client closed the connection, on a read error, or on a malformed request.
    pub fn read_request(&mut self) -> Option<RawRequest> {
        let _ = self.stream.set_read_timeout(Some(IDLE_READ_TIMEOUT));
        match wire::read_request(&mut self.stream, &mut self.buf) {
            Ok(Some(request)) => {
                self.outstanding += 1;
                self.shared
                    .log
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(request.clone());
                self.shared.update(|s| {
                    s.requests += 1;
                    s.in_flight += 1;
                });
                Some(request)
            }
            Ok(None) => {
                self.note_peer_closed();
                None
            }
            Err(e) => {
                if !matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::InvalidData
                ) {
                    self.note_peer_closed();
                }
                None
            }
        }
    }

    /// Writes `bytes` (ignoring errors: the client may be gone, which the test observes
    /// on its side). The first write after a request ends that request's time in flight.
    pub fn write_all(&mut self, bytes: &[u8]) {
        self.end_in_flight();
        let _ = self.stream.write_all(bytes);
        let _ = self.stream.flush();
    }

    /// Sends FIN: the client sees EOF, but the server can still read.
    pub fn shutdown_write(&mut self) {
        self.end_in_flight();
        let _ = self.stream.shutdown(Shutdown::Write);
        if !self.server_closed {
            self.server_closed = true;
            self.shared.update(|s| s.closed_by_server += 1);
        }
    }

    /// Closes gracefully: FIN, then briefly drains what the client still sends so that
    /// unread bytes do not turn the close into a reset. Returns once the client closed
    /// too, or after a short linger.
    pub fn close(&mut self) {
        self.shutdown_write();
        self.wait_for_close(CLOSE_LINGER);
    }

    /// Blocks until the client closes the connection (a read gives EOF or an error), at
    /// most `timeout`. Bytes that arrive meanwhile are discarded. Returns whether the
    /// client closed.
    pub fn wait_for_close(&mut self, timeout: Duration) -> bool {
        if self.peer_closed {
            return true;
        }
        let deadline = Instant::now() + timeout;
        let mut scratch = [0_u8; 4096];
        loop {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            let _ = self
                .stream
                .set_read_timeout(Some((deadline - now).max(Duration::from_millis(1))));
            match self.stream.read(&mut scratch) {
                Ok(0) => break,
                Ok(_) => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) =>
                {
                    if self.shared.stop.load(Ordering::SeqCst) {
                        return false;
                    }
                }
                Err(_) => break,
            }
        }
        self.note_peer_closed();
        true
    }

    /// Waits until `cond` holds for the server's gauges (or `timeout` passes): lets a
    /// handler hold its reply until, say, N requests are in flight.
    pub fn wait_until(&self, cond: impl FnMut(&ScriptedStats) -> bool, timeout: Duration) -> bool {
        self.shared.wait_until(cond, timeout)
    }

    /// A snapshot of the server's gauges.
    pub fn stats(&self) -> ScriptedStats {
        self.shared.stats().clone()
    }

    /// The underlying socket, for cases the methods above do not cover.
    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    fn end_in_flight(&mut self) {
        if self.outstanding > 0 {
            let n = std::mem::take(&mut self.outstanding);
            self.shared.update(|s| s.in_flight -= n);
        }
    }

    fn note_peer_closed(&mut self) {
        if !self.peer_closed {
            self.peer_closed = true;
            self.shared.update(|s| s.closed_by_peer += 1);
        }
    }
}

impl Drop for ServerConn {
    fn drop(&mut self) {
        let n = std::mem::take(&mut self.outstanding);
        let index = self.index;
        self.shared
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(i, _)| *i != index);
        self.shared.update(|s| {
            s.in_flight -= n;
            s.open -= 1;
        });
    }
}
