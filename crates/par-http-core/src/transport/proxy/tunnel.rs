//! Opening a connection through a proxy: TCP to the proxy (and TLS to it, for an
//! `https://` proxy), then a `CONNECT` tunnel (HTTP proxy, `https` origin) or a SOCKS5 handshake, then TLS to the origin inside the tunnel
//! for `https`. A forwarding HTTP proxy (`http` origin) needs only the TCP connection.
//!
//! Whatever the proxy answers instead of opening the tunnel (a 407 and its body, a
//! SOCKS5 refusal) ends here as an [`ErrorKind::Proxy`] error naming the proxy: the
//! connection is dropped, so nothing the proxy sent is ever read as the origin's response.
//! TLS inside the tunnel is checked against the origin's name (SNI and certificate),
//! never the proxy's.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use url::{Host, Url};

use super::socks5::{Destination, Handshake, Step};
use super::{Kind, ProxyError, ProxyFailure, Target};
use crate::error::{Error, ErrorKind, Result};
use crate::runtime::{BoxIo, Runtime};
use crate::transport::connect::{connect, within_connect_timeout};
use crate::transport::tls::TlsConnector;

/// The longest answer to `CONNECT` read before giving up on it.
const MAX_CONNECT_RESPONSE: usize = 16 * 1024;

/// Opens a connection for `url`: through `proxy` when there is one, else directly. The
/// connect timeout covers every step, the proxy's handshake included. `tls` is for an
/// `https` origin, `proxy_tls` for an `https://` proxy.
pub(crate) async fn connect_via(
    runtime: &dyn Runtime,
    url: &Url,
    timeout: Option<Duration>,
    tls: Option<&TlsConnector>,
    proxy: Option<&Target>,
    proxy_tls: Option<&TlsConnector>,
) -> Result<BoxIo> {
    let Some(proxy) = proxy else {
        return connect(runtime, url, timeout, tls).await.map(|(io, _)| io);
    };
    // Boxed: the proxy's handshakes would otherwise make every direct connection's
    // future as large as theirs (a connection storm holds thousands at once).
    let attempt = Box::pin(through_proxy(runtime, url, tls, proxy, proxy_tls));
    within_connect_timeout(runtime, timeout, attempt).await
}

/// The steps of a connection through `proxy`: TCP to it, TLS to an `https://` proxy, the
/// tunnel (`CONNECT` or SOCKS5) unless it forwards plain `http`, then TLS to the origin.
async fn through_proxy(
    runtime: &dyn Runtime,
    url: &Url,
    tls: Option<&TlsConnector>,
    proxy: &Target,
    proxy_tls: Option<&TlsConnector>,
) -> Result<BoxIo> {
    let io = tcp(runtime, &proxy.host, proxy.port).await?;
    let io = match (proxy.tls, proxy_tls) {
        (false, _) => io,
        (true, Some(connector)) => {
            let at =
                Url::parse(&format!("https://{}:{}/", proxy.host, proxy.port)).map_err(|_| {
                    Error::from(ProxyError::new(&*proxy.name, ProxyFailure::InvalidUrl))
                })?;
            connector.handshake(&at, io).await?.0
        }
        (true, None) => return Err(Error::new(ErrorKind::TlsConfig)),
    };
    let io = match proxy.kind {
        Kind::Http if url.scheme() == "http" => return Ok(io),
        Kind::Http => http_connect(io, url, proxy).await?,
        Kind::Socks5 { remote_dns } => socks5(runtime, io, url, proxy, remote_dns).await?,
    };
    match tls {
        Some(tls) => tls.handshake(url, io).await.map(|(io, _)| io),
        None => Ok(io),
    }
}

/// TCP to `host:port`, each resolved address in turn.
async fn tcp(runtime: &dyn Runtime, host: &str, port: u16) -> Result<BoxIo> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => runtime
            .resolve(host, port)
            .await
            .map_err(|err| Error::io(ErrorKind::Connect, err))?,
    };
    let mut last_error =
        io::Error::new(io::ErrorKind::NotFound, "the proxy resolved to no address");
    for addr in addrs {
        match runtime.connect_tcp(addr).await {
            Ok(io) => return Ok(io),
            Err(err) => last_error = err,
        }
    }
    Err(Error::io(ErrorKind::Connect, last_error))
}

/// `host:port` of `url`, IPv6 in brackets: the `CONNECT` target.
fn authority(url: &Url) -> Result<String> {
    let host = url
        .host_str()
        .ok_or_else(|| Error::new(ErrorKind::InvalidUrl))?;
    let port = url.port_or_known_default().unwrap_or(443);
    Ok(format!("{host}:{port}"))
}

/// Asks an HTTP proxy for a tunnel to `url`'s origin; the connection is the tunnel once
/// the proxy answers 2xx.
async fn http_connect(mut io: BoxIo, url: &Url, proxy: &Target) -> Result<BoxIo> {
    let fail = |failure| Error::from(ProxyError::new(&*proxy.name, failure));
    let authority = authority(url)?;
    let mut head = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n").into_bytes();
    if let Some(auth) = &proxy.authorization {
        head.extend_from_slice(b"Proxy-Authorization: ");
        head.extend_from_slice(auth.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    io.write_all(&head)
        .await
        .map_err(|_| fail(ProxyFailure::Closed))?;
    io.flush().await.map_err(|_| fail(ProxyFailure::Closed))?;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&buf) {
            Ok(httparse::Status::Complete(used)) => {
                let status = response
                    .code
                    .and_then(|code| http::StatusCode::from_u16(code).ok())
                    .ok_or_else(|| fail(ProxyFailure::BadResponse))?;
                if !status.is_success() {
                    return Err(fail(ProxyFailure::Refused(status)));
                }
                // The client speaks first in TLS: a byte after the head is not the origin's.
                if used != buf.len() {
                    return Err(fail(ProxyFailure::BadResponse));
                }
                return Ok(io);
            }
            Ok(httparse::Status::Partial) => {}
            Err(_) => return Err(fail(ProxyFailure::BadResponse)),
        }
        if buf.len() >= MAX_CONNECT_RESPONSE {
            return Err(fail(ProxyFailure::BadResponse));
        }
        let n = io
            .read(&mut chunk)
            .await
            .map_err(|_| fail(ProxyFailure::Closed))?;
        if n == 0 {
            return Err(fail(ProxyFailure::Closed));
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}

/// The SOCKS5 handshake to `url`'s origin over `io`.
async fn socks5(
    runtime: &dyn Runtime,
    mut io: BoxIo,
    url: &Url,
    proxy: &Target,
    remote_dns: bool,
) -> Result<BoxIo> {
    let fail = |failure| Error::from(ProxyError::new(&*proxy.name, failure));
    let port = url.port_or_known_default().unwrap_or(80);
    let destination = match url.host() {
        Some(Host::Ipv4(ip)) => Destination::Ip(IpAddr::V4(ip), port),
        Some(Host::Ipv6(ip)) => Destination::Ip(IpAddr::V6(ip), port),
        Some(Host::Domain(name)) if remote_dns => Destination::Name(name.to_owned(), port),
        Some(Host::Domain(name)) => {
            let addrs = runtime
                .resolve(name, port)
                .await
                .map_err(|err| Error::io(ErrorKind::Connect, err))?;
            // The first IPv4 address when there is one: many SOCKS proxies have no IPv6.
            let Some(addr) = addrs.iter().find(|a| a.is_ipv4()).or_else(|| addrs.first()) else {
                return Err(Error::io(
                    ErrorKind::Connect,
                    io::Error::new(
                        io::ErrorKind::NotFound,
                        "the host name resolved to no address",
                    ),
                ));
            };
            Destination::Ip(addr.ip(), port)
        }
        None => return Err(Error::new(ErrorKind::InvalidUrl)),
    };
    let credentials = proxy
        .credentials
        .as_ref()
        .map(|(user, password)| (user.as_str(), password.as_str()));
    let mut handshake =
        Handshake::new(destination, credentials).map_err(|err| fail(ProxyFailure::Socks(err)))?;
    let closed = |_: io::Error| fail(ProxyFailure::Closed);
    io.write_all(&handshake.greeting()).await.map_err(closed)?;
    io.flush().await.map_err(closed)?;
    let mut buf: Vec<u8> = Vec::with_capacity(64);
    let mut chunk = [0u8; 300];
    loop {
        match handshake
            .receive(&buf)
            .map_err(|err| fail(ProxyFailure::Socks(err)))?
        {
            Step::NeedMore => {
                let n = io.read(&mut chunk).await.map_err(closed)?;
                if n == 0 {
                    return Err(fail(ProxyFailure::Closed));
                }
                buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
            }
            Step::Send { used, bytes } => {
                buf.drain(..used.min(buf.len()));
                io.write_all(&bytes).await.map_err(closed)?;
                io.flush().await.map_err(closed)?;
            }
            Step::Done { used } => {
                // Nothing may come after the reply before the client speaks (TLS) or
                // sends its request (HTTP).
                if used != buf.len() {
                    return Err(fail(ProxyFailure::Socks(
                        super::socks5::Socks5Error::Malformed,
                    )));
                }
                return Ok(io);
            }
        }
    }
}
