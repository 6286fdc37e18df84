//! Opening connections: name resolution, then TCP to each address in turn, then for
//! `https` the TLS handshake ([`crate::transport::tls`]).
//!
//! The policy lives here, once, for every runtime: IP literals skip resolution, addresses
//! are tried in the order the resolver returned them, and the connect timeout covers
//! resolution, every attempt and the handshake together. The runtime only supplies the
//! mechanism ([`Runtime::resolve`], [`Runtime::connect_tcp`]).

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_lite::future;
use url::{Host, Url};

use crate::error::{Error, ErrorKind, Result, TimeoutPhase};
use crate::runtime::{BoxIo, Runtime};
use crate::transport::tls::TlsConnector;

/// Opens a TCP connection to the host and port of `url`, and runs the TLS handshake
/// over it when `tls` is given (the caller gives it for `https` URLs). The flag is true
/// when the server chose HTTP/2 by ALPN.
pub(crate) async fn connect(
    runtime: &dyn Runtime,
    url: &Url,
    timeout: Option<Duration>,
    tls: Option<&TlsConnector>,
) -> Result<(BoxIo, bool)> {
    let attempt = async {
        #[cfg(feature = "tracing")]
        let started = runtime.now();
        let io = connect_any(runtime, url).await?;
        #[cfg(feature = "tracing")]
        let connected = runtime.now();
        #[cfg(feature = "tracing")]
        tracing::debug!(
            connect_us = micros(connected - started),
            "par-http: connected"
        );
        let Some(tls) = tls else {
            return Ok((io, false));
        };
        // Boxed: the handshake's state would otherwise sit in every connection's future,
        // plain ones included (a connection storm holds thousands at once).
        let secured = Box::pin(tls.handshake(url, io)).await?;
        #[cfg(feature = "tracing")]
        tracing::debug!(
            tls_us = micros(runtime.now() - connected),
            h2 = secured.1,
            "par-http: tls handshake done"
        );
        Ok(secured)
    };
    within_connect_timeout(runtime, timeout, attempt).await
}

/// A duration in whole microseconds, for a tracing field.
#[cfg(feature = "tracing")]
pub(crate) fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// Runs `attempt` (a connection being opened, directly or through a proxy), failing it
/// with a connect timeout once `timeout` has passed.
pub(crate) async fn within_connect_timeout<T>(
    runtime: &dyn Runtime,
    timeout: Option<Duration>,
    attempt: impl Future<Output = Result<T>>,
) -> Result<T> {
    match timeout {
        None => attempt.await,
        Some(limit) => {
            let sleep = runtime.sleep(limit);
            future::or(attempt, async move {
                sleep.await;
                Err(Error::new(ErrorKind::Timeout(TimeoutPhase::Connect)))
            })
            .await
        }
    }
}

async fn connect_any(runtime: &dyn Runtime, url: &Url) -> Result<BoxIo> {
    let port = url.port_or_known_default().unwrap_or(80);
    let addrs = match url.host() {
        Some(Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
        Some(Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
        Some(Host::Domain(name)) => runtime
            .resolve(name, port)
            .await
            .map_err(|err| Error::io(ErrorKind::Connect, err))?,
        None => return Err(Error::new(ErrorKind::InvalidUrl)),
    };
    let mut last_error = io::Error::new(
        io::ErrorKind::NotFound,
        "the host name resolved to no address",
    );
    for addr in addrs {
        match runtime.connect_tcp(addr).await {
            Ok(io) => return Ok(io),
            Err(err) => last_error = err,
        }
    }
    Err(Error::io(ErrorKind::Connect, last_error))
}
