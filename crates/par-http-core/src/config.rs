//! Client configuration shared by every request of a client and of its scopes.
//!
//! [`Config`] is plain data, built by the facade's `ClientBuilder`. The client applies
//! the request-level parts (default headers, user agent) before a request reaches its
//! [`Dispatch`](crate::Dispatch), so a mock dispatch sees exactly what the network would;
//! the connector reads the connection-level parts (pool limits, timeouts, framing limits).

use std::time::Duration;

use http::header::{HeaderMap, HeaderValue};

use crate::h1::Limits;
use crate::pool::{
    DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS_PER_HOST, DEFAULT_MAX_IDLE_PER_HOST,
};

/// Default time allowed to open a connection (resolution included).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The settings of a client.
///
/// # Examples
///
/// ```
/// use par_http_core::Config;
///
/// let mut config = Config::default();
/// config.max_connections_per_host = 8;
/// assert_eq!(config.limits.max_headers, 100);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Open connections per origin, at most; further requests wait (default 100).
    pub max_connections_per_host: usize,
    /// Idle keep-alive connections kept per origin (default 100).
    pub max_idle_per_host: usize,
    /// How long an idle connection is kept (default 90 s).
    pub idle_timeout: Duration,
    /// Time allowed to connect, resolution included (default 30 s).
    pub connect_timeout: Option<Duration>,
    /// Time allowed for a whole request up to its response head (default: none).
    pub timeout: Option<Duration>,
    /// Framing limits on responses.
    pub limits: Limits,
    /// Header fields added to every request that does not set them itself.
    pub default_headers: HeaderMap,
}

impl Default for Config {
    fn default() -> Self {
        let mut default_headers = HeaderMap::new();
        default_headers.insert(
            http::header::USER_AGENT,
            HeaderValue::from_static(concat!("par-http/", env!("CARGO_PKG_VERSION"))),
        );
        Self {
            max_connections_per_host: DEFAULT_MAX_CONNECTIONS_PER_HOST,
            max_idle_per_host: DEFAULT_MAX_IDLE_PER_HOST,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            connect_timeout: Some(DEFAULT_CONNECT_TIMEOUT),
            timeout: None,
            limits: Limits::default(),
            default_headers,
        }
    }
}
