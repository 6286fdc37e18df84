//! The local server every client is measured against: hyper 1.x on a tokio runtime with
//! one thread, keep-alive on, bound to 127.0.0.1.
//!
//! It runs in a process of its own (`par-http-bench server`), so the client's CPU time and
//! memory are measured without it, and it leaves the machine's other core to the client.
//! Routes:
//!
//! | route          | answer                                                     |
//! |----------------|------------------------------------------------------------|
//! | `/small`       | `hello, world!` (13 bytes, Content-Length)                 |
//! | `/chunked?n=K` | K bytes, streamed with chunked framing                     |
//! | `/bytes?n=K`   | K bytes, streamed with Content-Length                      |
//! | `/delay?ms=D`  | `hello, world!` after D ms                                 |
//! | `/stats`       | `in_flight max_in_flight open max_open` of the gauges       |
//! | `/reset`       | resets the maxima of the gauges to their current values    |
//!
//! The gauges let the runner check that scenario S4 really had its requests in flight
//! at once.

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

/// The one body type of the server's responses.
enum Answer {
    Full(Option<Bytes>),
    Zeros(Zeros),
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
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(bytes) => bytes.is_none(),
            Self::Zeros(zeros) => zeros.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |bytes| bytes.len() as u64))
            }
            Self::Zeros(zeros) => zeros.size_hint(),
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
            text(StatusCode::OK, "reset")
        }
        _ => text(StatusCode::NOT_FOUND, "not found"),
    };
    Ok(response)
}

/// Runs the server on `127.0.0.1:port` (0: any free port) until the process is killed.
/// The first line on stdout is `listening PORT`.
pub(crate) fn serve(port: u16) -> Result<(), BoxError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.set_reuseaddr(true)?;
        socket.bind(([127, 0, 0, 1], port).into())?;
        // Room for scenario S4's burst of connections (the kernel caps it at somaxconn).
        let listener = socket.listen(65_535)?;
        let port = listener.local_addr()?.port();
        let mut stdout = std::io::stdout();
        writeln!(stdout, "listening {port}")?;
        stdout.flush()?;
        let gauges = Arc::new(Gauges::default());
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // Out of descriptors, say: wait for some to close.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let gauges = gauges.clone();
            tokio::spawn(async move {
                gauges.open.up();
                let _open = Down(&gauges.open);
                let service = service_fn(|req| route(gauges.clone(), req));
                let _ = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}
