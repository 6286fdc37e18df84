//! One request as an HTTP/2 stream: the head by RFC 9113's rules, the body under the
//! server's flow control, the response head checked against the client's limits.
//!
//! RFC 9113 §8.2.2: connection-specific fields (`Connection` and the fields it names,
//! `Keep-Alive`, `Proxy-Connection`, `Transfer-Encoding`, `Upgrade`) are not sent, `TE`
//! only as `trailers`, and `Host` gives way to `:authority`, taken from the URL. Field
//! names are lower-case already (the `http` crate stores them so).

use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_lite::future;
use futures_lite::io::AsyncReadExt;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};

use crate::error::{Error, ErrorKind, Result, TimeoutPhase};
use crate::h1::Limits;
use crate::message::body::BodyParts;
use crate::message::request::Request;
use crate::runtime::Runtime;
use crate::transport::h2::body::H2Body;
use crate::transport::h2::conn::Lease;
use crate::transport::h2::error::{from_h2, is_unprocessed};
use crate::transport::idle::IdleTimer;

/// A response head received on a stream, with the rest of its body.
pub(crate) struct H2Response {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: H2Body,
}

/// A stream that failed: `unprocessed` when the server did not process it (refused,
/// above a `GOAWAY`'s last stream, or never sent), so that it may be sent again.
pub(crate) struct StreamFailure {
    pub(crate) error: Error,
    pub(crate) unprocessed: bool,
}

impl StreamFailure {
    fn processed(error: Error) -> Self {
        Self {
            error,
            unprocessed: false,
        }
    }
}

/// What a stream needs of the client: limits and the read timeout.
pub(crate) struct StreamSettings<'a> {
    pub(crate) limits: &'a Limits,
    pub(crate) read_timeout: Option<Duration>,
    pub(crate) runtime: &'a Arc<dyn Runtime>,
}

/// Sends `request` on a new stream of the lease's connection and waits for the response
/// head. The body is taken from `request` (the caller keeps a copy to send again).
pub(crate) async fn send(
    mut lease: Lease,
    request: &mut Request,
    settings: &StreamSettings<'_>,
) -> Result<H2Response, StreamFailure> {
    let head = match head(request) {
        Ok(head) => head,
        Err(error) => return Err(StreamFailure::processed(error)),
    };
    let body = std::mem::take(&mut request.body).into_parts();
    let end_of_stream = matches!(&body, BodyParts::Bytes(bytes) if bytes.is_empty());
    let ready = lease.sender().ready().await;
    let mut sender = match ready {
        Ok(sender) => sender,
        Err(err) => {
            lease.conn().mark_closed();
            return Err(StreamFailure {
                error: from_h2(err, ErrorKind::Io),
                unprocessed: true,
            });
        }
    };
    let (response, mut stream) = match sender.send_request(head, end_of_stream) {
        Ok(sent) => sent,
        Err(err) => {
            lease.conn().mark_closed();
            return Err(StreamFailure {
                error: from_h2(err, ErrorKind::Io),
                unprocessed: true,
            });
        }
    };
    // Over the server's limit, `h2` holds the stream back until a slot frees up; until
    // then it is counted as queued (for the scope's stall watch, and to free slots that
    // uncollected responses hold). `poll_ready` completes once it is on the wire. (It
    // also waits a moment for a stream that takes the last slot: that one is not
    // queued, since the streams in use do not exceed the limit.)
    let conn = lease.conn();
    let over_limit = conn.streams() > conn.max_streams();
    let on_the_wire = future::poll_once(poll_fn(|cx| sender.poll_ready(cx)))
        .await
        .is_some();
    let queued = (over_limit && !on_the_wire).then(|| conn.queue());
    let opened = async move {
        if let Some(queued) = queued {
            let _ = poll_fn(|cx| sender.poll_ready(cx)).await;
            drop(queued);
        }
        future::pending::<Result<http::Response<h2::RecvStream>, StreamFailure>>().await
    };
    let upload = async {
        if !end_of_stream {
            match send_body(&mut stream, body).await {
                Ok(()) => {}
                // The request's own body failed: the stream is reset when dropped.
                Err(Upload::Body(error)) => return Err(StreamFailure::processed(error)),
                // The stream ended under the upload (a reset, `REFUSED_STREAM`, the
                // connection lost): the response side says why, and whether the server
                // processed it. (The driver may run on another thread and end the
                // stream between the polls of the two sides: the first to see it must
                // not decide.) Resetting it makes sure the response side ends: a stream
                // the server reset keeps the server's reason.
                Err(Upload::Stream) => stream.send_reset(h2::Reason::CANCEL),
            }
        }
        // The server may answer before it read the body, or after: wait for it.
        future::pending::<Result<http::Response<h2::RecvStream>, StreamFailure>>().await
    };
    let answer = async {
        response.await.map_err(|err| {
            // The stream is over (reset, refused, or its connection gone): no reset to send.
            lease.finish();
            let unprocessed = is_unprocessed(&err);
            if err.is_go_away() {
                lease.conn().mark_closed();
            }
            StreamFailure {
                error: from_h2(err, ErrorKind::Io),
                unprocessed,
            }
        })
    };
    let answer = future::or(answer, future::or(upload, opened));
    let response = match settings.read_timeout {
        None => answer.await,
        Some(limit) => {
            let sleep = settings.runtime.sleep(limit);
            future::or(answer, async move {
                sleep.await;
                Err(StreamFailure::processed(Error::new(ErrorKind::Timeout(
                    TimeoutPhase::Head,
                ))))
            })
            .await
        }
    }?;
    let (parts, recv) = response.into_parts();
    check_limits(&parts.headers, settings.limits).map_err(StreamFailure::processed)?;
    let idle = settings
        .read_timeout
        .map(|limit| IdleTimer::new(settings.runtime.clone(), limit));
    Ok(H2Response {
        status: parts.status,
        headers: parts.headers,
        body: H2Body::new(recv, lease, idle),
    })
}

/// The request head as `h2` takes it, by RFC 9113 §8.2.2 and §8.3.1.
fn head(request: &Request) -> Result<http::Request<()>> {
    let url = &request.url;
    let uri: http::Uri = url[..url::Position::AfterQuery]
        .parse()
        .map_err(|err| Error::new(ErrorKind::InvalidUrl).with_source(err))?;
    let mut head = http::Request::new(());
    *head.method_mut() = request.method.clone();
    *head.uri_mut() = uri;
    *head.version_mut() = http::Version::HTTP_2;
    let headers = head.headers_mut();
    let named: Vec<HeaderName> = request
        .headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for (name, value) in &request.headers {
        if is_connection_specific(name) || named.contains(name) {
            continue;
        }
        if name == header::TE && !value.as_bytes().eq_ignore_ascii_case(b"trailers") {
            continue;
        }
        headers.append(name.clone(), value.clone());
    }
    if !headers.contains_key(header::CONTENT_LENGTH) {
        let len = request.body.len();
        let expects_body = matches!(request.method, Method::POST | Method::PUT | Method::PATCH);
        if let Some(len) = len.filter(|&len| len > 0 || expects_body) {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        }
    }
    Ok(head)
}

/// Fields that describe one HTTP/1.1 connection, not the message (RFC 9113 §8.2.2),
/// and `Host`, which `:authority` replaces.
fn is_connection_specific(name: &HeaderName) -> bool {
    name == header::CONNECTION
        || name == header::TRANSFER_ENCODING
        || name == header::UPGRADE
        || name == header::HOST
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

/// The client's head limits on a decoded header list (RFC 9113 §6.5.2 counts each
/// field as its name, its value and 32 bytes).
fn check_limits(headers: &HeaderMap, limits: &Limits) -> Result<()> {
    if headers.len() > limits.max_headers {
        return Err(Error::new(ErrorKind::Limit).with_source("too many header fields"));
    }
    let size: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 32)
        .sum();
    if size > limits.max_head_bytes {
        return Err(Error::new(ErrorKind::Limit).with_source("response head too large"));
    }
    Ok(())
}

/// Why an upload stopped.
enum Upload {
    /// The request's body failed to read.
    Body(Error),
    /// `h2` took no more data: the stream was reset or its connection ended (the
    /// response side reports the cause).
    Stream,
}

impl From<h2::Error> for Upload {
    /// Whatever `h2` reports (a reset, `GOAWAY`, an IO failure, or a send on a stream
    /// reset meanwhile), the response side says it better.
    fn from(_: h2::Error) -> Self {
        Self::Stream
    }
}

/// Sends a request body within the stream's flow-control window.
async fn send_body(stream: &mut h2::SendStream<Bytes>, body: BodyParts) -> Result<(), Upload> {
    match body {
        BodyParts::Bytes(bytes) => send_chunk(stream, bytes, true).await,
        BodyParts::Reader(mut reader, _) => {
            let mut buf = BytesMut::zeroed(16 * 1024);
            loop {
                let n = reader
                    .read(&mut buf)
                    .await
                    .map_err(|err| Upload::Body(Error::io(ErrorKind::Io, err)))?;
                if n == 0 {
                    return send_chunk(stream, Bytes::new(), true).await;
                }
                let chunk = Bytes::copy_from_slice(buf.get(..n).unwrap_or_default());
                send_chunk(stream, chunk, false).await?;
            }
        }
    }
}

/// Sends `chunk` as the window allows, piece by piece.
async fn send_chunk(
    stream: &mut h2::SendStream<Bytes>,
    mut chunk: Bytes,
    end: bool,
) -> Result<(), Upload> {
    if chunk.is_empty() {
        if end {
            stream.send_data(Bytes::new(), true).map_err(Upload::from)?;
        }
        return Ok(());
    }
    while !chunk.is_empty() {
        stream.reserve_capacity(chunk.len());
        let granted = match poll_fn(|cx| stream.poll_capacity(cx)).await {
            Some(Ok(granted)) => granted,
            Some(Err(err)) => return Err(Upload::from(err)),
            None => return Err(Upload::Stream),
        };
        if granted == 0 {
            continue;
        }
        let piece = chunk.split_to(granted.min(chunk.len()));
        let last = end && chunk.is_empty();
        stream.send_data(piece, last).map_err(Upload::from)?;
    }
    Ok(())
}
