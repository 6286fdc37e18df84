//! The local server every client is measured against: hyper 1.x on a tokio runtime with
//! one thread, keep-alive on, bound to 127.0.0.1.
//!
//! It runs in a process of its own (`par-http-bench server`), so the client's CPU time and
//! memory are measured without it, and it leaves the machine's other core to the client.
//! Routes:
//!
//! | route                   | answer                                                  |
//! |-------------------------|---------------------------------------------------------|
//! | `/small`                | `hello, world!` (13 bytes, Content-Length)              |
//! | `/chunked?n=K`          | K bytes, streamed with chunked framing                  |
//! | `/bytes?n=K`            | K bytes, streamed with Content-Length                   |
//! | `/delay?ms=D`           | `hello, world!` after D ms                              |
//! | `/throttled?n=K&rate=R` | K bytes with Content-Length, sent at R bytes/s          |
//! | `/stall?every=N&ms=D`   | `hello, world!`; every N-th `/stall` request after D ms |
//! | `/stats`                | `in_flight max_in_flight open max_open` of the gauges   |
//! | `/reset`                | resets the gauges' maxima and the `/stall` count        |
//!
//! The gauges let the runner check that scenario S4 really had its requests in flight
//! at once.
//!
//! The server listens on a second port too, with the same routes: a distant host's, whose
//! connections have small send buffers (see [`DISTANT_SEND_BUFFER`]). Scenario S5 gets
//! `/throttled` there: a server at the other end of a slow link (see [`Throttled`]).

use std::convert::Infallible;
use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{CONTENT_LENGTH, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::time::{Instant, Sleep};

use crate::BoxError;

/// The body of `/small` and `/delay`.
pub(crate) const SMALL: &[u8] = b"hello, world!";

/// The size of one frame of a streamed body.
const FRAME: usize = 256 * 1024;

/// The bytes streamed bodies are cut from (zeros, so they cost nothing in the binary).
static ZEROS: [u8; FRAME] = [0; FRAME];

/// A gauge and its high-water mark.
#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl Gauge {
    fn up(&self) {
        let now = self.now.fetch_add(1, Ordering::Relaxed) + 1;
        self.max.fetch_max(now, Ordering::Relaxed);
    }

    fn down(&self) {
        self.now.fetch_sub(1, Ordering::Relaxed);
    }

    fn reset(&self) {
        self.max
            .store(self.now.load(Ordering::Relaxed), Ordering::Relaxed);
    }
}

/// Requests in flight and connections open.
#[derive(Default)]
struct Gauges {
    in_flight: Gauge,
    open: Gauge,
    /// `/stall` requests since the start or the last `/reset` (the hedging scenario).
    stalls: AtomicUsize,
}

/// Decrements a gauge when dropped, so a cancelled future releases what it counted.
struct Down<'a>(&'a Gauge);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        self.0.down();
    }
}

/// A body of `remaining` zero bytes in frames of [`FRAME`] bytes, with an exact size
/// hint (hyper then writes Content-Length) or none (hyper then writes chunked).
struct Zeros {
    remaining: u64,
    exact: bool,
}

impl Body for Zeros {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let len = usize::try_from(self.remaining).map_or(FRAME, |left| left.min(FRAME));
        self.remaining -= len as u64;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&ZEROS[..len])))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        if self.exact {
            SizeHint::with_exact(self.remaining)
        } else {
            SizeHint::default()
        }
    }
}

/// The size of one chunk of a throttled body.
const THROTTLED_CHUNK: usize = 16 * 1024;

/// How much lateness of a throttled chunk the next ones make up for: enough for the
/// timer's, not for a client that stopped reading (see [`Throttled`]).
const THROTTLE_SLACK: Duration = Duration::from_millis(2);

/// A body of `remaining` zero bytes sent at `rate` bytes per second, in chunks of
/// [`THROTTLED_CHUNK`] bytes, with an exact size hint (Content-Length): the answer of a
/// distant server, one response at a time through a link of that rate.
///
/// Each chunk leaves when the link has finished sending the ones before it and this one
/// (`sent_until` + its length at `rate`): a 1 MiB body at 10 MB/s takes about 105 ms from
/// the response head on. The pace is per response, so responses in parallel are not
/// slower than one. When the client does not read, the connection's buffers fill, hyper
/// stops asking for chunks, and the link waits too: it does not send the missed time in
/// one burst when the client comes back (it makes up at most [`THROTTLE_SLACK`]).
struct Throttled {
    remaining: u64,
    rate: u64,
    sent_until: Instant,
    sleep: Pin<Box<Sleep>>,
}

impl Throttled {
    fn new(len: u64, rate: u64) -> Self {
        let now = Instant::now();
        Self {
            remaining: len,
            rate: rate.max(1),
            sent_until: now,
            sleep: Box::pin(tokio::time::sleep_until(now)),
        }
    }
}

impl Body for Throttled {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let len = usize::try_from(self.remaining)
            .map_or(THROTTLED_CHUNK, |left| left.min(THROTTLED_CHUNK));
        let sending = Duration::from_secs_f64(len as f64 / self.rate as f64);
        let due = self.sent_until + sending;
        let now = Instant::now();
        if now < due {
            self.sleep.as_mut().reset(due);
            if self.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
        let now = Instant::now();
        self.sent_until = due.max(now.checked_sub(THROTTLE_SLACK).unwrap_or(now));
        self.remaining -= len as u64;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&ZEROS[..len])))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// The one body type of the server's responses.
enum Answer {
    Full(Option<Bytes>),
    Zeros(Zeros),
    Throttled(Throttled),
}

impl Body for Answer {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Self::Full(bytes) => Poll::Ready(bytes.take().map(|bytes| Ok(Frame::data(bytes)))),
            Self::Zeros(zeros) => Pin::new(zeros).poll_frame(cx),
            Self::Throttled(throttled) => Pin::new(throttled).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(bytes) => bytes.is_none(),
            Self::Zeros(zeros) => zeros.is_end_stream(),
            Self::Throttled(throttled) => throttled.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |bytes| bytes.len() as u64))
            }
            Self::Zeros(zeros) => zeros.size_hint(),
            Self::Throttled(throttled) => throttled.size_hint(),
        }
    }
}

/// The value of query parameter `name` as a number.
fn query_number(req: &Request<Incoming>, name: &str) -> Option<u64> {
    req.uri().query()?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        if key == name {
            value.parse().ok()
        } else {
            None
        }
    })
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Answer> {
    let mut response = Response::new(Answer::Full(Some(body.into())));
    *response.status_mut() = status;
    response
}

async fn route(
    gauges: Arc<Gauges>,
    req: Request<Incoming>,
) -> Result<Response<Answer>, Infallible> {
    gauges.in_flight.up();
    let _in_flight = Down(&gauges.in_flight);
    let response = match req.uri().path() {
        "/small" => text(StatusCode::OK, Bytes::from_static(SMALL)),
        "/delay" => {
            let ms = query_number(&req, "ms").unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            text(StatusCode::OK, Bytes::from_static(SMALL))
        }
        "/stall" => {
            // Deterministic: the N-th, 2N-th, ... request of the route stalls.
            let every = query_number(&req, "every").unwrap_or(20).max(1);
            let count = gauges.stalls.fetch_add(1, Ordering::Relaxed) as u64 + 1;
            if count % every == 0 {
                let ms = query_number(&req, "ms").unwrap_or(1000);
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            text(StatusCode::OK, Bytes::from_static(SMALL))
        }
        path @ ("/bytes" | "/chunked") => {
            let n = query_number(&req, "n").unwrap_or(0);
            let exact = path == "/bytes";
            let mut response = Response::new(Answer::Zeros(Zeros {
                remaining: n,
                exact,
            }));
            if exact {
                response
                    .headers_mut()
                    .insert(CONTENT_LENGTH, HeaderValue::from(n));
            }
            response
        }
        "/throttled" => {
            let n = query_number(&req, "n").unwrap_or(0);
            let rate = query_number(&req, "rate").unwrap_or(u64::MAX);
            let mut response = Response::new(Answer::Throttled(Throttled::new(n, rate)));
            response
                .headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from(n));
            response
        }
        "/stats" => {
            // This request itself is in flight: leave it out.
            let stats = format!(
                "{} {} {} {}",
                gauges.in_flight.now.load(Ordering::Relaxed) - 1,
                gauges.in_flight.max.load(Ordering::Relaxed),
                gauges.open.now.load(Ordering::Relaxed),
                gauges.open.max.load(Ordering::Relaxed),
            );
            text(StatusCode::OK, stats)
        }
        "/reset" => {
            gauges.in_flight.reset();
            gauges.open.reset();
            gauges.stalls.store(0, Ordering::Relaxed);
            text(StatusCode::OK, "reset")
        }
        _ => text(StatusCode::NOT_FOUND, "not found"),
    };
    Ok(response)
}

/// Which of the two listeners a connection came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// The benchmark's own port: the kernel's and hyper's buffers at their defaults.
    Near,
    /// The port of a distant host (scenario S5): see [`DISTANT_SEND_BUFFER`].
    Distant,
}

/// The send buffer of the distant listener's connections (`SO_SNDBUF`, which the kernel
/// doubles), and the most hyper holds for one of them ([`THROTTLED_CHUNK`]: one chunk).
///
/// On 127.0.0.1 the kernel grows a connection's send buffer to megabytes, and hyper
/// queues up to about 400 KiB of body frames: a whole throttled body would wait there,
/// sent at its rate, while the client reads another one, and would then be read at
/// loopback speed. A distant server's link does not go on while the client's receive
/// window is full; with these small buffers, the client's own receive buffer (and
/// 48 KiB on the server's side) is all that fills up ahead of its reads, as over a real
/// link.
const DISTANT_SEND_BUFFER: u32 = 16 * 1024;

/// A listener on `127.0.0.1:port` (0: any free port).
fn listen(port: u16, link: Link) -> Result<tokio::net::TcpListener, BoxError> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    if link == Link::Distant {
        // Accepted connections inherit it.
        socket.set_send_buffer_size(DISTANT_SEND_BUFFER)?;
    }
    socket.bind(([127, 0, 0, 1], port).into())?;
    // Room for scenario S4's burst of connections (the kernel caps it at somaxconn).
    Ok(socket.listen(65_535)?)
}

/// Serves every connection of `listener` until the process is killed.
async fn accept(listener: tokio::net::TcpListener, link: Link, gauges: Arc<Gauges>) {
    let mut builder = http1::Builder::new();
    builder.keep_alive(true);
    if link == Link::Distant {
        builder.max_buf_size(THROTTLED_CHUNK);
    }
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors, say: wait for some to close.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let gauges = gauges.clone();
        let builder = builder.clone();
        tokio::spawn(async move {
            gauges.open.up();
            let _open = Down(&gauges.open);
            let service = service_fn(|req| route(gauges.clone(), req));
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Runs the server on `127.0.0.1:port` (0: any free port), the same routes on a distant
/// port (any free one, see [`Link::Distant`]) and on `extra` more ports like the first
/// (any free ones), until the process is killed. The first line on stdout is `listening
/// PORT DISTANT_PORT EXTRA_PORT...`.
///
/// The extra ports are for scenario S4's 100,000 connections: from 127.0.0.1 to one
/// port, a client has only the ephemeral ports (about 28,000) for them; to several, that
/// many for each.
pub(crate) fn serve(port: u16, extra: usize) -> Result<(), BoxError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let near = listen(port, Link::Near)?;
        let distant = listen(0, Link::Distant)?;
        let extras = (0..extra)
            .map(|_| listen(0, Link::Near))
            .collect::<Result<Vec<_>, _>>()?;
        let mut line = format!(
            "listening {} {}",
            near.local_addr()?.port(),
            distant.local_addr()?.port()
        );
        for listener in &extras {
            line.push_str(&format!(" {}", listener.local_addr()?.port()));
        }
        let mut stdout = std::io::stdout();
        writeln!(stdout, "{line}")?;
        stdout.flush()?;
        let gauges = Arc::new(Gauges::default());
        tokio::spawn(accept(distant, Link::Distant, gauges.clone()));
        for listener in extras {
            tokio::spawn(accept(listener, Link::Near, gauges.clone()));
        }
        accept(near, Link::Near, gauges).await;
        Ok(())
    })
}
