//! What the transport needs to know of a client's configuration: pool limits, time
//! limits, framing limits and TLS.
//!
//! The client's [`Config`](crate::Config) holds these among its request-level settings
//! and hands a copy to the connector ([`Config::connector_config`](crate::Config::connector_config)),
//! so the transport never depends on the layers above it.

use std::time::Duration;

use crate::h1::Limits;
use crate::transport::pool::{
    DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS_PER_HOST, DEFAULT_MAX_IDLE_PER_HOST,
};
use crate::transport::proxy::Proxy;
use crate::transport::tls::TlsConfig;

/// The settings of a pooled connector ([`Http1Dispatch`](crate::Http1Dispatch)).
///
/// # Examples
///
/// ```
/// use par_http_core::ConnectorConfig;
///
/// let mut config = ConnectorConfig::default();
/// config.max_connections_per_host = 8;
/// assert_eq!(config.max_idle_per_host, 100);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectorConfig {
    /// Open connections per origin, at most; further requests wait (default 100).
    pub max_connections_per_host: usize,
    /// Idle keep-alive connections kept per origin (default 100).
    pub max_idle_per_host: usize,
    /// How long an idle connection is kept (default 90 s).
    pub idle_timeout: Duration,
    /// Time allowed to connect: resolution, TCP and the TLS handshake (default: none).
    pub connect_timeout: Option<Duration>,
    /// The longest wait for the next received byte (default: none).
    pub read_timeout: Option<Duration>,
    /// Framing limits on responses.
    pub limits: Limits,
    /// TLS for `https` URLs.
    pub tls: TlsConfig,
    /// Keep each sent request (its headers, and its body when it was in memory) with its
    /// response, for a redirect policy that builds the next hop from it (default: false).
    pub hand_back_requests: bool,
    /// The proxy rules, the first that takes a URL wins (default: none).
    pub proxies: Vec<Proxy>,
    /// With no `proxies`, read them from the environment (`http_proxy`, `HTTPS_PROXY`,
    /// `NO_PROXY`, ...) once, when the connector is made (default: true).
    pub proxy_from_env: bool,
    /// Which HTTP versions to speak (default: negotiate HTTP/2 by ALPN over TLS).
    pub http_versions: HttpVersionPolicy,
}

/// Which HTTP versions a connector speaks.
///
/// # Examples
///
/// ```
/// use par_http_core::{ConnectorConfig, HttpVersionPolicy};
///
/// let mut config = ConnectorConfig::default();
/// assert_eq!(config.http_versions, HttpVersionPolicy::Negotiate);
/// config.http_versions = HttpVersionPolicy::Http1Only;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HttpVersionPolicy {
    /// Over TLS, offer `h2` and `http/1.1` by ALPN and speak what the server chooses;
    /// plain `http` is HTTP/1.1. Without the `http2` feature, HTTP/1.1 only.
    #[default]
    Negotiate,
    /// HTTP/1.1 only: ALPN offers `http/1.1` alone.
    Http1Only,
    /// HTTP/2 from the first byte, on `http` (h2c with prior knowledge, RFC 9113 §3.3)
    /// and `https` alike. Needs the `http2` feature: without it, requests fail with
    /// [`ErrorKind::InvalidRequest`](crate::ErrorKind::InvalidRequest).
    Http2PriorKnowledge,
}

impl Default for ConnectorConfig {
    fn default() -> Self {
        Self {
            max_connections_per_host: DEFAULT_MAX_CONNECTIONS_PER_HOST,
            max_idle_per_host: DEFAULT_MAX_IDLE_PER_HOST,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            connect_timeout: None,
            read_timeout: None,
            limits: Limits::default(),
            tls: TlsConfig::default(),
            hand_back_requests: false,
            proxies: Vec::new(),
            proxy_from_env: true,
            http_versions: HttpVersionPolicy::default(),
        }
    }
}
