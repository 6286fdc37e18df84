//! The pooled HTTP/1.1 connector [`Http1Dispatch`], the default [`Dispatch`]; with the
//! `http2` feature it speaks HTTP/2 too, to origins that choose it by ALPN (or all of
//! them, with prior knowledge), through the `h2` layer (`transport/h2/`).
//!
//! `Http1Dispatch` does the real work:
//! check a connection out of the [`Pool`], write the request, read the head, and hand
//! the body stream (which owns the connection) to the [`Response`].
//!
//! A request on a reused connection that fails before any response byte arrives is
//! retried once on a fresh connection when its method is idempotent and its body is in
//! memory (RFC 9112 §9.3.1): servers close idle connections all the time.
//!
//! Time limits: the connect timeout covers resolution, TCP and the TLS handshake
//! ([`connect`]); the read timeout is an [`IdleTimer`] on each connection (head and
//! body). The total timeout is not here: `Client::execute` applies it once around every
//! redirect hop and the body, whatever the dispatch.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures_lite::io::AsyncRead;
use http::Method;

use crate::error::{Error, ErrorKind, Result};
use crate::h1::ResponseDecoder;
use crate::message::dispatch::{ConnectionCounts, Dispatch};
use crate::message::request::Request;
use crate::message::response::{Response, ResponseBody, Sent};
use crate::runtime::{Boxed, Runtime, Task};
use crate::transport::conn::Connection;
use crate::transport::conn_body::H1Body;
use crate::transport::idle::IdleTimer;
use crate::transport::pool::{Grant, Pool, PoolConfig, PoolKey};
use crate::transport::proxy::{Proxies, Target};
use crate::transport::settings::ConnectorConfig;
use crate::transport::tls::TlsConnector;
use url::Url;

/// Body bytes read together with the head, at most: a body that is complete within this
/// gives its connection back before the response is even collected.
const PREFETCH_MAX: usize = 64 * 1024;

/// The pooled HTTP/1.1 connector.
#[derive(Clone)]
pub struct Http1Dispatch {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) runtime: Arc<dyn Runtime>,
    pub(crate) pool: Arc<Pool>,
    pub(crate) config: ConnectorConfig,
    sweeper: Mutex<Option<Task>>,
    sweeping: Arc<AtomicBool>,
    /// The TLS connector, built from `config.tls` at the first `https` connection.
    tls: OnceLock<Result<TlsConnector, rustls::Error>>,
    /// The same, offering HTTP/1.1 alone (connections through a proxy).
    tls_http1: OnceLock<Result<TlsConnector, rustls::Error>>,
    /// Pool keys and `Host` values of the origins seen recently, so that a request to a
    /// known origin formats neither.
    origins: Mutex<Vec<Origin>>,
    /// The proxy rules (the environment's read once, here).
    proxies: Proxies,
    /// The protocol of each origin reached over TLS, and its HTTP/2 connections.
    #[cfg(feature = "http2")]
    pub(crate) h2: Arc<crate::transport::h2::origins::Origins>,
}

/// Origins remembered by [`Inner::origin`], at most.
const ORIGINS_MAX: usize = 32;

/// What a request needs to know of its origin: its pool key and `Host` header value.
#[derive(Clone)]
struct Origin {
    key: PoolKey,
    host: Arc<str>,
}

impl Http1Dispatch {
    /// A connector that opens connections through `runtime`, configured by `config`.
    pub fn new(runtime: Arc<dyn Runtime>, config: ConnectorConfig) -> Self {
        let pool = Arc::new(
            Pool::new(PoolConfig {
                max_connections_per_host: config.max_connections_per_host,
                max_idle_per_host: config.max_idle_per_host,
                idle_timeout: config.idle_timeout,
            })
            .with_clock(&runtime),
        );
        let proxies = Proxies::new(&config.proxies, config.proxy_from_env);
        Self {
            inner: Arc::new(Inner {
                runtime,
                pool,
                proxies,
                config,
                sweeper: Mutex::new(None),
                sweeping: Arc::new(AtomicBool::new(false)),
                tls: OnceLock::new(),
                tls_http1: OnceLock::new(),
                origins: Mutex::new(Vec::new()),
                #[cfg(feature = "http2")]
                h2: Arc::default(),
            }),
        }
    }

    /// Open, idle and waiting counts for the origin of `url` (`scheme://host:port`).
    /// An HTTP/2 connection counts as open, never idle.
    pub fn pool_stats(&self, url: &Url) -> (usize, usize, usize) {
        self.inner.pool.stats(&self.inner.key_for(url))
    }

    /// HTTP/2 connections open to the origin of `url`, and their streams in use (both
    /// 0 without the `http2` feature).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[derive(Debug)] struct NoRuntime;
    /// # impl par_http_core::Spawn for NoRuntime { fn spawn(&self, f: par_http_core::Boxed<()>) -> par_http_core::Task { par_http_core::Task::new(()) } }
    /// # impl par_http_core::Runtime for NoRuntime {
    /// #     fn resolve(&self, _: &str, _: u16) -> par_http_core::Boxed<std::io::Result<Vec<std::net::SocketAddr>>> { Box::pin(async { Err(std::io::Error::other("no network")) }) }
    /// #     fn connect_tcp(&self, _: std::net::SocketAddr) -> par_http_core::Boxed<std::io::Result<par_http_core::BoxIo>> { Box::pin(async { Err(std::io::Error::other("no network")) }) }
    /// #     fn sleep_until(&self, _: std::time::Instant) -> par_http_core::Boxed<()> { Box::pin(std::future::pending()) }
    /// # }
    /// use par_http_core::{ConnectorConfig, Http1Dispatch};
    ///
    /// let dispatch = Http1Dispatch::new(std::sync::Arc::new(NoRuntime), ConnectorConfig::default());
    /// let url = par_http_core::Url::parse("https://example.test/").unwrap();
    /// assert_eq!(dispatch.h2_stats(&url), (0, 0));
    /// ```
    pub fn h2_stats(&self, url: &Url) -> (usize, usize) {
        #[cfg(feature = "http2")]
        {
            self.inner.h2.stats(&pool_key(url, None))
        }
        #[cfg(not(feature = "http2"))]
        {
            let _ = url;
            (0, 0)
        }
    }
}

impl fmt::Debug for Http1Dispatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http1Dispatch")
            .field("pool", &self.inner.pool)
            .finish_non_exhaustive()
    }
}

impl Dispatch for Http1Dispatch {
    fn connection_wanted(&self, url: &Url) -> Option<Boxed<()>> {
        let pool = self.inner.pool.clone();
        let key = self.inner.key_for(url);
        #[cfg(feature = "http2")]
        {
            // Over HTTP/2 a request waits for a stream, not a connection.
            let h2 = self.inner.h2.clone().stream_wanted(key.clone());
            Some(Box::pin(async move {
                futures_lite::future::or(async move { pool.wanted(&key).await }, h2).await;
            }))
        }
        #[cfg(not(feature = "http2"))]
        {
            Some(Box::pin(async move { pool.wanted(&key).await }))
        }
    }

    fn connections(&self, url: &Url) -> Option<ConnectionCounts> {
        let (open, idle, waiting) = self.pool_stats(url);
        let counts = ConnectionCounts::new(open, idle, waiting);
        #[cfg(feature = "http2")]
        {
            let streams = self.inner.h2.streams(&self.inner.key_for(url));
            Some(counts.with_streams(streams.capacity, streams.active, streams.queued))
        }
        #[cfg(not(feature = "http2"))]
        {
            Some(counts)
        }
    }

    fn send(&self, request: Request) -> Boxed<Result<Response>> {
        Box::pin(send(self.inner.clone(), request))
    }

    #[cfg(feature = "http2")]
    fn flush(&self) -> Option<Boxed<()>> {
        let conns = self.inner.h2.connections();
        if conns.is_empty() {
            return None;
        }
        // Bounded: a connection whose socket does not take the frames must not hold up
        // the end of a scope.
        let bound = self.inner.runtime.sleep(FLUSH_MAX);
        Some(Box::pin(futures_lite::future::or(
            async move {
                for conn in conns {
                    conn.flushed().await;
                }
            },
            bound,
        )))
    }
}

/// The longest a scope's end waits for HTTP/2 resets to be written.
#[cfg(feature = "http2")]
const FLUSH_MAX: Duration = Duration::from_secs(1);

impl Inner {
    /// The pool key and `Host` value of `url`'s origin, from the cache when it is there.
    fn origin(&self, url: &Url, proxy: Option<&Target>) -> Origin {
        if proxy.is_some() {
            return Origin {
                key: pool_key(url, proxy),
                host: host_header(url).into(),
            };
        }
        let mut origins = self.origins.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(known) = origins.iter().find(|origin| is_origin_of(&origin.key, url)) {
            return known.clone();
        }
        let origin = Origin {
            key: pool_key(url, None),
            host: host_header(url).into(),
        };
        if origins.len() >= ORIGINS_MAX {
            origins.remove(0);
        }
        origins.push(origin.clone());
        origin
    }

    /// The pool key of `url`, its proxy included (a proxy rule that fails counts as none:
    /// the request itself will fail).
    fn key_for(&self, url: &Url) -> PoolKey {
        let proxy = self.proxies.choose(url).ok().flatten();
        pool_key(url, proxy.as_deref())
    }

    /// The TLS connector for `url`: `None` for `http`, built once for the client.
    pub(crate) fn tls_for(&self, url: &Url) -> Result<Option<&TlsConnector>> {
        if url.scheme() != "https" {
            return Ok(None);
        }
        let offer_h2 = cfg!(feature = "http2")
            && self.config.http_versions
                != crate::transport::settings::HttpVersionPolicy::Http1Only;
        match self
            .tls
            .get_or_init(|| TlsConnector::new(&self.config.tls, offer_h2))
        {
            Ok(connector) => Ok(Some(connector)),
            Err(err) => Err(Error::new(ErrorKind::TlsConfig).with_source(err.clone())),
        }
    }

    /// The TLS connector for `url` that offers HTTP/1.1 alone by ALPN (for tunnels
    /// through a proxy), or `None` for a plain `http` URL.
    fn tls_http1_for(&self, url: &Url) -> Result<Option<&TlsConnector>> {
        if url.scheme() != "https" {
            return Ok(None);
        }
        self.tls_http1().map(Some)
    }

    /// The client's TLS connector offering HTTP/1.1 alone: for origins reached through a
    /// proxy, and for `https://` proxies themselves.
    fn tls_http1(&self) -> Result<&TlsConnector> {
        match self
            .tls_http1
            .get_or_init(|| TlsConnector::new(&self.config.tls, false))
        {
            Ok(connector) => Ok(connector),
            Err(err) => Err(Error::new(ErrorKind::TlsConfig).with_source(err.clone())),
        }
    }

    /// True when a request to `url` may go over HTTP/2: over TLS unless the client is
    /// HTTP/1.1 only, and always with prior knowledge.
    #[cfg(feature = "http2")]
    fn may_speak_h2(&self, url: &Url) -> bool {
        use crate::transport::settings::HttpVersionPolicy;
        match self.config.http_versions {
            HttpVersionPolicy::Http1Only => false,
            HttpVersionPolicy::Negotiate => url.scheme() == "https",
            HttpVersionPolicy::Http2PriorKnowledge => true,
        }
    }

    /// A new HTTP/1.1 connection in `slot`, with the client's read timeout; `forward`
    /// when it goes to a forwarding proxy (with the `Proxy-Authorization` to add).
    pub(crate) fn http1_connection(
        &self,
        slot: crate::transport::pool::Slot,
        io: crate::runtime::BoxIo,
        forward: Option<Option<http::HeaderValue>>,
    ) -> crate::transport::pool::Pooled {
        let idle =
            (self.config.read_timeout).map(|limit| IdleTimer::new(self.runtime.clone(), limit));
        slot.fill(
            Connection::new(io)
                .with_read_timeout(idle)
                .forwarding(forward),
        )
    }

    /// Starts the task that closes expired idle connections, if it is not running.
    fn ensure_sweeper(self: &Arc<Self>) {
        if self.sweeping.load(Ordering::Acquire) || !self.pool.has_idle() {
            return;
        }
        if self.sweeping.swap(true, Ordering::AcqRel) {
            return;
        }
        // Weak references only: the task must not keep the pool, or the executor it
        // runs on, alive (the executor owns the task: that would be a cycle).
        let pool: Weak<Pool> = Arc::downgrade(&self.pool);
        let runtime: Weak<dyn Runtime> = Arc::downgrade(&self.runtime);
        let flag = self.sweeping.clone();
        let period = self.config.idle_timeout.max(Duration::from_millis(10));
        // Wakes at the first expiry (a server's `Keep-Alive: timeout` can come before the
        // pool's own), at most every half period, at least 10 ms apart.
        let next_look = move |now: Instant, earliest: Option<Instant>| {
            let latest = now + period / 2;
            earliest.map_or(latest, |at| {
                at.clamp(now + Duration::from_millis(10), latest)
            })
        };
        let first = next_look(self.runtime.now(), self.pool.next_expiry());
        let task = self.runtime.spawn(Box::pin(async move {
            let mut at = first;
            loop {
                let Some(sleep) = runtime.upgrade().map(|rt| rt.sleep_until(at)) else {
                    break;
                };
                sleep.await;
                let (Some(pool), Some(runtime)) = (pool.upgrade(), runtime.upgrade()) else {
                    break;
                };
                let now = runtime.now();
                pool.sweep(now);
                if !pool.has_idle() {
                    break;
                }
                at = next_look(now, pool.next_expiry());
            }
            flag.store(false, Ordering::Release);
        }));
        let mut slot = self.sweeper.lock().unwrap_or_else(|p| p.into_inner());
        *slot = Some(task);
    }
}

/// The pool key of a URL's origin, and of the proxy the connection goes through: a
/// proxied connection is never reused for a direct request or another proxy.
fn pool_key(url: &Url, proxy: Option<&Target>) -> PoolKey {
    let port = url.port_or_known_default().unwrap_or(80);
    let host = url.host_str().unwrap_or_default();
    match proxy {
        None => format!("{}://{}:{}", url.scheme(), host, port).into(),
        Some(proxy) => format!("{}://{}:{} via {}", url.scheme(), host, port, proxy.key).into(),
    }
}

/// True when `key` (from [`pool_key`]) is the pool key of `url`, compared without
/// formatting the key.
fn is_origin_of(key: &str, url: &Url) -> bool {
    let port = url.port_or_known_default().unwrap_or(80);
    let host = url.host_str().unwrap_or_default();
    let Some(rest) = key.strip_prefix(url.scheme()) else {
        return false;
    };
    let Some(rest) = rest.strip_prefix("://") else {
        return false;
    };
    let Some(rest) = rest.strip_prefix(host) else {
        return false;
    };
    let Some(digits) = rest.strip_prefix(':') else {
        return false;
    };
    digits.parse::<u16>() == Ok(port)
}

/// The `Host` header value: host, and port when it is not the scheme's default.
fn host_header(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS | Method::TRACE
    )
}

/// Sends `request` on a pooled connection; every error names the request.
///
/// An `async` block rather than an `async fn`: the function's arguments would be held
/// twice in the future (once as arguments, once as locals), the request included.
#[allow(clippy::manual_async_fn)]
fn send(
    inner: Arc<Inner>,
    mut request: Request,
) -> impl Future<Output = Result<Response>> + Send + 'static {
    async move {
        // In memory, the body is there again after the exchange (kept for a retry).
        let replayable = request.body.as_bytes().is_some();
        let result = exchange(&inner, &mut request).await;
        inner.ensure_sweeper();
        match result {
            Ok((head, body)) => {
                let Request {
                    method,
                    url,
                    headers,
                    body: sent_body,
                    timeout,
                    ..
                } = request;
                let mut response = Response::new(method, url, head.status, head.headers, body);
                response.set_version(head.version);
                if inner.config.hand_back_requests {
                    // Handed back for the redirect policy (see `Client::hands_back_requests`).
                    response.set_sent(Box::new(Sent {
                        headers,
                        body: replayable.then_some(sent_body),
                        timeout,
                    }));
                }
                Ok(response)
            }
            Err(err) => Err(err.with_request(&request.method, request.url.as_str())),
        }
    }
}

/// Writes `request` and reads the response head (and whatever of the body is already
/// there), on an idle connection or a new one.
async fn exchange(
    inner: &Arc<Inner>,
    request: &mut Request,
) -> Result<(crate::h1::ResponseHead, ResponseBody)> {
    let proxy = inner.proxies.choose(&request.url)?;
    let origin = inner.origin(&request.url, proxy.as_deref());
    // A new connection an HTTP/2 probe found speaking HTTP/1.1: the first one to use.
    // Boxed: rare, and held in the future until the exchange ends.
    #[cfg_attr(not(feature = "http2"), allow(unused_mut))]
    let mut first: Option<Box<crate::transport::pool::Pooled>> = None;
    // Through a proxy, HTTP/1.1 (inside a tunnel too).
    #[cfg(feature = "http2")]
    if proxy.is_none() && inner.may_speak_h2(&request.url) {
        match Box::pin(crate::transport::http2::exchange(
            inner,
            request,
            &origin.key,
        ))
        .await
        {
            crate::transport::http2::H2Exchange::Done(result) => return result,
            crate::transport::http2::H2Exchange::Http1(pooled) => first = pooled.map(Box::new),
        }
    }
    #[cfg(not(feature = "http2"))]
    if inner.config.http_versions
        == crate::transport::settings::HttpVersionPolicy::Http2PriorKnowledge
    {
        return Err(Error::new(ErrorKind::InvalidRequest)
            .with_source("HTTP/2 prior knowledge needs the `http2` feature"));
    }
    let may_retry = is_idempotent(&request.method) && request.body.as_bytes().is_some();
    // A request that is not retried on a fresh connection needs an idle one checked
    // strictly (see `Connection::is_idle_usable`).
    let strict = !may_retry;
    let mut fresh_only = false;
    loop {
        let mut pooled = match first.take() {
            Some(pooled) => *pooled,
            None => {
                // An idle connection, without waiting (the usual case under keep-alive);
                // the checkout that may wait is boxed: its state would otherwise take
                // room in the future for as long as the request waits for its response.
                if let Some(pooled) = (!fresh_only)
                    .then(|| {
                        inner
                            .pool
                            .take_idle(&origin.key, strict, inner.runtime.now())
                    })
                    .flatten()
                {
                    pooled
                } else {
                    Box::pin(checkout(
                        inner,
                        &request.url,
                        &origin.key,
                        proxy.as_deref(),
                        fresh_only,
                        strict,
                    ))
                    .await?
                }
            }
        };
        let reused = pooled.was_reused();
        let Some(conn) = pooled.conn_mut() else {
            return Err(Error::new(ErrorKind::Io));
        };
        let mut decoder = ResponseDecoder::new(&request.method, &inner.config.limits);
        // Not boxed: while the response is awaited its state is small (the writing, boxed
        // inside it, is over by then).
        match conn.exchange(request, &origin.host, &mut decoder).await {
            Ok(head) => {
                let mut body = H1Body::new(pooled, decoder);
                let received = prefetch(&mut body)?;
                let body = if body.is_done() {
                    ResponseBody::from(received)
                } else {
                    ResponseBody::from_parts(received, body)
                };
                return Ok((head, body));
            }
            Err(failure) => {
                drop(pooled);
                if reused && failure.nothing_received && may_retry && !fresh_only {
                    fresh_only = true;
                    continue;
                }
                return Err(crate::transport::tls::reclassify(failure.error));
            }
        }
    }
}

/// A connection for `url`: an idle one of its origin (unless `fresh_only`), or a new
/// one once the pool grants a slot. Connecting is boxed: it is rare under keep-alive, and
/// its state (the TLS handshake's above all) would otherwise sit in every request's
/// future.
async fn checkout(
    inner: &Arc<Inner>,
    url: &Url,
    key: &PoolKey,
    proxy: Option<&Target>,
    fresh_only: bool,
    strict: bool,
) -> Result<crate::transport::pool::Pooled> {
    match inner
        .pool
        .checkout(key, !fresh_only, strict, inner.runtime.now())
        .await
    {
        Grant::Conn(pooled) => Ok(pooled),
        Grant::Slot(slot) => {
            // Through a proxy, TLS offers HTTP/1.1 alone: HTTP/2 is not spoken there.
            let tls = match proxy {
                Some(_) => inner.tls_http1_for(url)?,
                None => inner.tls_for(url)?,
            };
            let proxy_tls = match proxy {
                Some(proxy) if proxy.tls => Some(inner.tls_http1()?),
                _ => None,
            };
            let io = Box::pin(crate::transport::proxy::tunnel::connect_via(
                inner.runtime.as_ref(),
                url,
                inner.config.connect_timeout,
                tls,
                proxy,
                proxy_tls,
            ))
            .await?;
            let forward = proxy
                .filter(|proxy| proxy.forwards(url))
                .map(|proxy| proxy.authorization.clone());
            Ok(inner.http1_connection(slot, io, forward))
        }
    }
}

/// Reads the body bytes that are already available (at most [`PREFETCH_MAX`]) without
/// waiting for more, so that a small body ends and frees its connection right away.
/// Never waits, so not `async`: the request's future has no state for it.
pub(crate) fn prefetch(body: &mut (impl AsyncRead + Unpin)) -> Result<bytes::Bytes> {
    // Nothing is awaited: a read that is not ready just ends the prefetch (the user's
    // reads, with their own waker, take over from there).
    let mut cx = Context::from_waker(Waker::noop());
    let mut received = BytesMut::new();
    // Most bodies read here are small: reads go through a small chunk on the stack (it is
    // zeroed on every read, so it stays small) until one fills it; then straight into
    // `received`, grown (and zeroed) by what one read may bring.
    let mut large = false;
    loop {
        if received.len() >= PREFETCH_MAX {
            break;
        }
        let mut small = [0u8; 512];
        let start = received.len();
        let chunk: &mut [u8] = if large {
            received.resize(start + 8 * 1024, 0);
            received.get_mut(start..).unwrap_or_default()
        } else {
            &mut small
        };
        let result = Pin::new(&mut *body).poll_read(&mut cx, chunk);
        let n = match &result {
            Poll::Ready(Ok(n)) => *n,
            _ => 0,
        };
        if large {
            received.truncate(start + n);
        } else {
            received.extend_from_slice(small.get(..n).unwrap_or_default());
            large = n == small.len();
        }
        match result {
            Poll::Ready(Ok(0)) | Poll::Pending => break,
            Poll::Ready(Ok(_)) => {}
            Poll::Ready(Err(err)) => return Err(crate::message::response::from_io(err)),
        }
    }
    Ok(received.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_key_matches_only_its_own_origin() {
        let urls = [
            "http://a.test/x",
            "http://a.test:8080/",
            "https://a.test/",
            "http://a.tes/",
            "http://a.test.evil/",
            "http://[::1]:99/",
            "http://127.0.0.1/",
            "http://127.0.0.10/",
        ];
        for (i, one) in urls.iter().enumerate() {
            let one = Url::parse(one).unwrap();
            let key = pool_key(&one, None);
            for (j, other) in urls.iter().enumerate() {
                let other = Url::parse(other).unwrap();
                assert_eq!(is_origin_of(&key, &other), i == j, "{key} vs {other}");
            }
        }
        let key = pool_key(&Url::parse("http://a.test/x").unwrap(), None);
        assert!(is_origin_of(
            &key,
            &Url::parse("http://a.test:80/y?q").unwrap()
        ));
    }
}
