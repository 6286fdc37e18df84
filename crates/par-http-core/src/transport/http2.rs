//! How the pooled connector sends a request that may go over HTTP/2.
//!
//! ```text
//!   Origins::route(origin) ─┬─ Http1 ───────────────▶ the HTTP/1.1 path (pool)
//!                           ├─ Stream(lease) ───────▶ request::send on a stream
//!                           └─ Probe ─▶ pool slot, connect (ALPN)
//!                                  ├─ http/1.1 ─▶ probe.http1(), the new connection
//!                                  │              serves this request over HTTP/1.1
//!                                  └─ h2 ──────▶ H2Conn::handshake, probe.http2()
//!                                                 ─▶ request::send on a stream
//! ```
//!
//! A stream the server did not process (`REFUSED_STREAM`, above a graceful `GOAWAY`'s
//! last stream, or a connection that closed before the stream started) is sent once
//! more, when its body is in memory, and not on the connection that refused it: on
//! another one, or a new one (on the same one only when the per-host cap leaves no
//! other). Other failures are the request's outcome.

use std::sync::{Arc, Weak};

use bytes::Bytes;
use http::Version;

use crate::error::Result;
use crate::h1::{BodyKind, ResponseHead};
use crate::message::body::Body;
use crate::message::request::Request;
use crate::message::response::ResponseBody;
use crate::runtime::BoxIo;
use crate::transport::connect::connect;
use crate::transport::h2::conn::{H2Conn, H2Settings};
use crate::transport::h2::origins::Route;
use crate::transport::h2::request::{self, StreamSettings};
use crate::transport::http1::{Inner, prefetch};
use crate::transport::pool::{Grant, PoolKey, Pooled, Slot};
use crate::transport::settings::HttpVersionPolicy;

/// The outcome of [`exchange`].
pub(crate) enum H2Exchange {
    /// The request went over HTTP/2 (or failed trying).
    Done(Result<(ResponseHead, ResponseBody)>),
    /// The origin speaks HTTP/1.1: send it there, on this new connection if there is one.
    Http1(Option<Pooled>),
}

/// A connection a probe opened.
enum Opened {
    Http1(Pooled),
    Http2(Slot, BoxIo),
}

/// Sends `request` over HTTP/2 if its origin speaks it (see the module docs).
pub(crate) async fn exchange(inner: &Inner, request: &mut Request, key: &PoolKey) -> H2Exchange {
    // In memory, the body can be sent again (and handed back to the redirect policy).
    let replay: Option<Bytes> = request.body.as_bytes().cloned();
    // The connection that did not process the first attempt, if it was refused.
    let mut refused_by: Option<Weak<H2Conn>> = None;
    let mut retried = false;
    loop {
        let max = inner.config.max_connections_per_host.max(1);
        let pool = &inner.pool;
        let may_open = || pool.stats(key).0 < max;
        let route = inner.h2.route(key, may_open, refused_by.as_ref()).await;
        let lease = match route {
            Route::Http1 => return H2Exchange::Http1(None),
            Route::Stream(lease) => lease,
            Route::Probe(probe) => match open(inner, &request.url, key).await {
                Err(err) => return H2Exchange::Done(Err(err)),
                Ok(Opened::Http1(pooled)) => {
                    probe.http1();
                    return H2Exchange::Http1(Some(pooled));
                }
                Ok(Opened::Http2(slot, io)) => {
                    let settings = H2Settings {
                        max_header_list_size: u32::try_from(inner.config.limits.max_head_bytes)
                            .unwrap_or(u32::MAX),
                        idle_timeout: inner.config.idle_timeout,
                    };
                    let wanted = inner.h2.wanted_event();
                    match H2Conn::handshake(io, slot, settings, &inner.runtime, wanted).await {
                        Ok(conn) => probe.http2(conn),
                        Err(err) => return H2Exchange::Done(Err(err)),
                    }
                }
            },
        };
        let settings = StreamSettings {
            limits: &inner.config.limits,
            read_timeout: inner.config.read_timeout,
            runtime: &inner.runtime,
        };
        let conn = Arc::downgrade(lease.conn());
        let sent = request::send(lease, request, &settings).await;
        if let Some(bytes) = &replay {
            request.body = Body::from(bytes.clone());
        }
        match sent {
            Ok(response) => {
                let mut body = response.body;
                let received = match prefetch(&mut body) {
                    Ok(received) => received,
                    Err(err) => return H2Exchange::Done(Err(err)),
                };
                let body = if body.is_done() {
                    drop(body);
                    ResponseBody::from(received)
                } else {
                    ResponseBody::from_parts(received, body)
                };
                let head = ResponseHead {
                    status: response.status,
                    version: Version::HTTP_2,
                    headers: response.headers,
                    body: BodyKind::UntilClose,
                    close: None,
                };
                return H2Exchange::Done(Ok((head, body)));
            }
            Err(failure) => {
                if failure.unprocessed && !retried && replay.is_some() {
                    retried = true;
                    refused_by = Some(conn);
                    continue;
                }
                return H2Exchange::Done(Err(failure.error));
            }
        }
    }
}

/// Opens a connection for a probe: an idle HTTP/1.1 one of the pool, or a new one whose
/// protocol ALPN (or prior knowledge) decides.
async fn open(inner: &Inner, url: &url::Url, key: &PoolKey) -> Result<Opened> {
    match inner
        .pool
        .checkout(key, true, false, inner.runtime.now())
        .await
    {
        Grant::Conn(pooled) => Ok(Opened::Http1(pooled)),
        Grant::Slot(slot) => {
            let tls = inner.tls_for(url)?;
            let (io, h2) = Box::pin(connect(
                inner.runtime.as_ref(),
                url,
                inner.config.connect_timeout,
                tls,
            ))
            .await?;
            if h2 || inner.config.http_versions == HttpVersionPolicy::Http2PriorKnowledge {
                Ok(Opened::Http2(slot, io))
            } else {
                Ok(Opened::Http1(inner.http1_connection(slot, io, None)))
            }
        }
    }
}
