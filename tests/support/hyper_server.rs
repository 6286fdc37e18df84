//! `HyperServer`: a real, third-party HTTP/1.1 server (hyper 1.x on tokio) for interop.
//!
//! It runs on its own thread with a two-worker tokio runtime, keep-alive on, bound to
//! `127.0.0.1:0`. Routes:
//!
//! | route            | answer                                                              |
//! |------------------|---------------------------------------------------------------------|
//! | `/small`         | `hello, world!`                                                     |
//! | `/redirect?to=U` | `302` to `U` (the rest of the query, as is)                         |
//! | `/headers`       | the request's header fields, `name: value` a line, sorted           |
//! | `/gzip`          | `hello, world!` gzipped, with `Content-Encoding: gzip`              |
//! | `/delay?ms=D`    | sleeps D ms, then answers the request target                        |
//! | `/echo`          | the request body, with `x-method: <method>`                         |
//! | `/status/N`      | status N (empty body for 1xx/204/304, `status N` otherwise)         |
//! | `/bytes?n=N`     | N bytes with Content-Length (see [`pattern`])                       |
//! | `/chunked?n=N`   | N bytes, chunked                                                    |
//! | `/never`         | never answers; held until the client goes away                      |
//! | `/gate?n=N`      | answers once N gate requests wait at once (503 after 10 s)          |
//! | `/set-cookie?C`  | `set`, with `Set-Cookie: C` (the query, as is)                      |
//!
//! Every response carries `x-connection: K`, the 0-based accept index of its connection,
//! and `x-version: HTTP/1.1` or `HTTP/2.0`.
//!
//! [`HyperServer::start_tls`] serves the same routes over TLS (rustls, a certificate from
//! the test's CA) with the ALPN protocols it is given: `h2` connections are served by
//! hyper's HTTP/2 server, the others by its HTTP/1.1 one. [`HyperServer::start_h2c`]
//! serves HTTP/2 on plain TCP (prior knowledge).
//! The gauges (connections accepted and open, requests, in flight, max in flight) let tests
//! prove parallelism and connection reuse without a stopwatch.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::{Notify, oneshot};

/// `/gate` answers 503 after waiting this long for its batch to fill.
const GATE_TIMEOUT: Duration = Duration::from_secs(10);

/// `/never` gives up (503) after this long, so no task outlives a forgotten test by much.
const NEVER_SAFETY: Duration = Duration::from_secs(60);

/// The gauges of a [`HyperServer`], as one consistent snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HyperStats {
    /// Connections accepted since start.
    pub accepted: usize,
    /// Connections not yet closed (by either side).
    pub open: usize,
    /// The largest value `open` ever had.
    pub max_open: usize,
    /// Requests whose head was received, since start.
    pub requests: usize,
    /// Requests received whose response head has not been produced yet.
    pub in_flight: usize,
    /// The largest value `in_flight` ever had.
    pub max_in_flight: usize,
}

#[derive(Default)]
struct Gauges {
    stats: Mutex<HyperStats>,
    changed: Condvar,
}

impl Gauges {
    fn lock(&self) -> MutexGuard<'_, HyperStats> {
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn update(&self, f: impl FnOnce(&mut HyperStats)) {
        let mut stats = self.lock();
        f(&mut stats);
        stats.max_open = stats.max_open.max(stats.open);
        stats.max_in_flight = stats.max_in_flight.max(stats.in_flight);
        drop(stats);
        self.changed.notify_all();
    }
}

/// Decrements a gauge when dropped, so cancelled futures release what they counted.
struct Release<'a> {
    gauges: &'a Gauges,
    what: fn(&mut HyperStats),
}

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.gauges.update(self.what);
    }
}

#[derive(Default)]
struct Gate {
    state: Mutex<GateState>,
    released: Notify,
}

#[derive(Default)]
struct GateState {
    waiting: usize,
    generation: u64,
}

impl Gate {
    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until `n` gate requests wait at once (true) or the timeout passes (false).
    async fn pass(&self, n: usize) -> bool {
        let generation = {
            let mut state = self.lock();
            state.waiting += 1;
            if state.waiting >= n {
                state.waiting = 0;
                state.generation += 1;
                self.released.notify_waiters();
                return true;
            }
            state.generation
        };
        // If this future is dropped (client gone) or times out, leave the batch.
        struct Leave<'a>(&'a Gate, u64, bool);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                let mut state = self.0.lock();
                if !self.2 && state.generation == self.1 {
                    state.waiting -= 1;
                }
            }
        }
        let mut leave = Leave(self, generation, false);
        let deadline = tokio::time::Instant::now() + GATE_TIMEOUT;
        loop {
            let notified = self.released.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.lock().generation != generation {
                leave.2 = true;
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.lock().generation != generation;
            }
        }
    }
}

#[derive(Default)]
struct State {
    gauges: Gauges,
    gate: Gate,
    /// The target of every request received, in the order received.
    targets: Mutex<Vec<String>>,
}

type Body = BoxBody<Bytes, Infallible>;

/// A hyper 1.x HTTP/1.1 server on `127.0.0.1:0`; see the module docs for its routes.
///
/// Dropping it stops the runtime (cancelling held requests) and joins its thread.
pub struct HyperServer {
    addr: SocketAddr,
    state: Arc<State>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl HyperServer {
    /// Starts the server and returns once it listens.
    pub fn start() -> Self {
        Self::start_with(Mode::Http1)
    }

    /// Starts an HTTPS server with `leaf` as its certificate, offering `alpn` (say
    /// `&["h2", "http/1.1"]`, or `&["http/1.1"]` for a server without HTTP/2).
    pub fn start_tls(leaf: &super::CertKey, alpn: &[&str]) -> Self {
        let mut config = super::tls_server::server_config(leaf, None);
        config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        Self::start_with(Mode::Tls(Arc::new(config)))
    }

    /// Starts a server that speaks HTTP/2 on plain TCP (h2c, prior knowledge).
    pub fn start_h2c() -> Self {
        Self::start_with(Mode::H2c)
    }

    /// `https://localhost:PORT/path`, for a server started with [`start_tls`](Self::start_tls)
    /// (its certificate names `localhost`).
    pub fn https_url(&self, path: &str) -> String {
        format!(
            "https://localhost:{}/{}",
            self.addr.port(),
            path.trim_start_matches('/')
        )
    }

    fn start_with(mode: Mode) -> Self {
        let state = Arc::new(State::default());
        let (stop_tx, stop_rx) = oneshot::channel();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let server_state = Arc::clone(&state);
        let thread = thread::Builder::new()
            .name("hyper-server".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("tokio runtime");
                rt.block_on(serve(server_state, addr_tx, stop_rx, mode));
                rt.shutdown_timeout(Duration::from_secs(2));
            })
            .expect("spawn hyper server thread");
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("hyper server listening");
        Self {
            addr,
            state,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
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
    pub fn stats(&self) -> HyperStats {
        self.state.gauges.lock().clone()
    }

    /// Connections accepted since start.
    pub fn accepted(&self) -> usize {
        self.stats().accepted
    }

    /// Connections currently open.
    pub fn open(&self) -> usize {
        self.stats().open
    }

    /// Requests received since start.
    pub fn requests(&self) -> usize {
        self.stats().requests
    }

    /// Requests currently in flight.
    pub fn in_flight(&self) -> usize {
        self.stats().in_flight
    }

    /// The most requests that were in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.stats().max_in_flight
    }

    /// The target (path and query) of every request received so far, in the order
    /// received.
    pub fn request_targets(&self) -> Vec<String> {
        self.state
            .targets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits until `cond` holds for the gauges or `timeout` passes; returns whether it held.
    pub fn wait_until(&self, cond: impl FnMut(&HyperStats) -> bool, timeout: Duration) -> bool {
        let gauges = &self.state.gauges;
        super::wait_on(gauges.lock(), &gauges.changed, cond, timeout, || false)
    }
}

impl Drop for HyperServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for HyperServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HyperServer")
            .field("addr", &self.addr)
            .field("stats", &self.stats())
            .finish()
    }
}

/// What a [`HyperServer`] speaks.
enum Mode {
    Http1,
    Tls(Arc<rustls::ServerConfig>),
    H2c,
}

async fn serve(
    state: Arc<State>,
    addr_tx: std::sync::mpsc::Sender<SocketAddr>,
    mut stop: oneshot::Receiver<()>,
    mode: Mode,
) {
    let acceptor = match &mode {
        Mode::Tls(config) => Some(tokio_rustls::TlsAcceptor::from(Arc::clone(config))),
        _ => None,
    };
    let h2c = matches!(mode, Mode::H2c);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let _ = addr_tx.send(listener.local_addr().expect("local addr"));
    let mut index = 0_usize;
    loop {
        let stream = tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let _ = stream.set_nodelay(true);
        state.gauges.update(|s| {
            s.accepted += 1;
            s.open += 1;
        });
        let conn_state = Arc::clone(&state);
        let conn_index = index;
        index += 1;
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let _open = Release {
                gauges: &conn_state.gauges,
                what: |s| s.open -= 1,
            };
            let service = service_fn(|req| route(Arc::clone(&conn_state), conn_index, req));
            let Some(acceptor) = acceptor else {
                if h2c {
                    let _ = http2_builder()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                } else {
                    let _ = http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                }
                return;
            };
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                let _ = http2_builder()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            } else {
                let _ = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            }
        });
    }
}

async fn route(
    state: Arc<State>,
    conn: usize,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    state.gauges.update(|s| {
        s.requests += 1;
        s.in_flight += 1;
    });
    let _in_flight = Release {
        gauges: &state.gauges,
        what: |s| s.in_flight -= 1,
    };
    let version = req.version();
    let target = req
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned());
    state
        .targets
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(target.clone());
    let path = req.uri().path().to_owned();
    let n = query_number(req.uri().query(), "n");
    let mut response = match path.as_str() {
        "/small" => text(StatusCode::OK, "hello, world!"),
        "/headers" => {
            let mut lines: Vec<String> = req
                .headers()
                .iter()
                .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap_or("?")))
                .collect();
            lines.sort();
            text(StatusCode::OK, &lines.join("\n"))
        }
        "/gzip" => {
            use std::io::Write as _;
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(b"hello, world!").expect("gzip");
            let mut response =
                Response::new(Full::new(Bytes::from(encoder.finish().expect("gzip"))).boxed());
            response
                .headers_mut()
                .insert("content-encoding", "gzip".parse().expect("a value"));
            response
        }
        "/redirect" => {
            let to = req
                .uri()
                .query()
                .and_then(|q| q.strip_prefix("to="))
                .unwrap_or("/small")
                .to_owned();
            let mut response = text(StatusCode::FOUND, "");
            response
                .headers_mut()
                .insert("location", to.parse().expect("a location"));
            response
        }
        "/delay" => {
            let ms = query_number(req.uri().query(), "ms").unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(ms as u64)).await;
            text(StatusCode::OK, &target)
        }
        "/echo" => {
            let method = req.method().to_string();
            let body = match req.into_body().collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(_) => Bytes::new(),
            };
            let mut response = Response::new(Full::new(body).boxed());
            response.headers_mut().insert(
                "x-method",
                method.parse().expect("method is a header value"),
            );
            response
        }
        "/set-cookie" => {
            let cookie = req.uri().query().unwrap_or_default().to_owned();
            let mut response = text(StatusCode::OK, "set");
            response
                .headers_mut()
                .insert("set-cookie", cookie.parse().expect("a cookie"));
            response
        }
        "/bytes" => Response::new(Full::new(Bytes::from(pattern(n.unwrap_or(0)))).boxed()),
        "/chunked" => {
            let body = Bytes::from(pattern(n.unwrap_or(0)));
            let frames: Vec<Result<Frame<Bytes>, Infallible>> = (0..body.len())
                .step_by(1000)
                .map(|at| Ok(Frame::data(body.slice(at..body.len().min(at + 1000)))))
                .collect();
            Response::new(StreamBody::new(futures_lite::stream::iter(frames)).boxed())
        }
        "/never" => {
            tokio::time::sleep(NEVER_SAFETY).await;
            text(StatusCode::SERVICE_UNAVAILABLE, "/never gave up")
        }
        "/gate" => {
            if state.gate.pass(n.unwrap_or(1)).await {
                text(StatusCode::OK, &target)
            } else {
                text(StatusCode::SERVICE_UNAVAILABLE, "gate timed out")
            }
        }
        _ => match path
            .strip_prefix("/status/")
            .and_then(|s| s.parse::<u16>().ok())
        {
            Some(code) => match StatusCode::from_u16(code) {
                Ok(status) if code == 204 || code == 304 || code < 200 => {
                    let mut response = Response::new(Full::new(Bytes::new()).boxed());
                    *response.status_mut() = status;
                    response
                }
                Ok(status) => text(status, &format!("status {code}")),
                Err(_) => text(StatusCode::BAD_REQUEST, "bad status"),
            },
            None => text(StatusCode::NOT_FOUND, "no such route"),
        },
    };
    response
        .headers_mut()
        .insert("x-connection", conn.to_string().parse().expect("digits"));
    let version = format!("{:?}", version);
    response
        .headers_mut()
        .insert("x-version", version.parse().expect("a version"));
    Ok(response)
}

/// hyper's HTTP/2 server, with room for a scope's 100 streams at once.
fn http2_builder() -> hyper::server::conn::http2::Builder<hyper_util::rt::TokioExecutor> {
    let mut builder =
        hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new());
    builder.max_concurrent_streams(250);
    builder
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_owned())).boxed());
    *response.status_mut() = status;
    response
}

fn query_number(query: Option<&str>, key: &str) -> Option<usize> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
}

/// The body of `/bytes?n=N` and `/chunked?n=N`: byte `i` is `b'a' + i % 26`.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}
