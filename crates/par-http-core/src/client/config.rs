//! Client configuration shared by every request of a client and of its scopes.
//!
//! [`Config`] is plain data, built by the facade's `ClientBuilder`. The client applies
//! the request-level parts (base URL, default headers, user agent, authentication) and its
//! redirect policy around the [`Dispatch`](crate::Dispatch), so a mock dispatch sees exactly
//! what the network would; the connector reads the connection-level parts (pool limits,
//! timeouts, framing limits).

use std::time::Duration;

use http::header::{HeaderMap, HeaderValue};

use crate::client::auth::AuthHook;
use crate::client::cookies::CookieStore;
use crate::client::decompress::DEFAULT_MAX_DECOMPRESSED_BYTES;
use crate::client::redirect::RedirectPolicy;
use crate::h1::Limits;
use crate::transport::pool::{
    DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS_PER_HOST, DEFAULT_MAX_IDLE_PER_HOST,
};
use crate::transport::proxy::Proxy;
use crate::transport::settings::ConnectorConfig;
use crate::transport::settings::HttpVersionPolicy;
use crate::transport::tls::TlsConfig;

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
    /// Time allowed for a whole request: connecting, sending, the response head and the
    /// whole body (default: none). A request's own timeout overrides it.
    pub timeout: Option<Duration>,
    /// The longest wait for the next received byte, while waiting for the response head
    /// and while reading the body (default: none).
    pub read_timeout: Option<Duration>,
    /// Decode response bodies whose `Content-Encoding` is one of the enabled codings
    /// (default: true; it has no effect when no decompression feature is on).
    pub decompress: bool,
    /// The most bytes a decoded body may have; more is an
    /// [`ErrorKind::Decompress`](crate::ErrorKind::Decompress) error (default
    /// [`DEFAULT_MAX_DECOMPRESSED_BYTES`]; `None`: no limit).
    pub max_decompressed_bytes: Option<u64>,
    /// Framing limits on responses.
    pub limits: Limits,
    /// Header fields added to every request that does not set them itself.
    pub default_headers: HeaderMap,
    /// The `Authorization` sent with every request that has none of its own (basic or
    /// bearer auth of the client).
    pub authorization: Option<HeaderValue>,
    /// A function run on every request after its headers and credentials are set.
    pub auth_hook: Option<AuthHook>,
    /// The URL relative request URLs are resolved against.
    pub base_url: Option<url::Url>,
    /// How redirects are followed (default: up to 10, no https to http downgrade).
    pub redirect: RedirectPolicy,
    /// How failed requests are retried (default: not at all); a scope or a request may
    /// set its own.
    pub retry: Option<std::sync::Arc<crate::RetryPolicy>>,
    /// How idempotent requests are hedged (default: not at all); a scope or a request
    /// may set its own.
    pub hedge: Option<std::sync::Arc<crate::HedgePolicy>>,
    /// TLS for `https` URLs: trusted roots, client identity, verification (default:
    /// built-in roots, full verification).
    pub tls: TlsConfig,
    /// The proxy rules, the first that takes a URL wins (default: none).
    pub proxies: Vec<Proxy>,
    /// With no `proxies`, read them from the environment (`http_proxy`, `HTTPS_PROXY`,
    /// `NO_PROXY`, ...) once per client, as curl does (default: true).
    pub proxy_from_env: bool,
    /// The cookie store consulted for every request and fed by every response, each
    /// redirect hop included (default: none).
    pub cookie_store: Option<std::sync::Arc<dyn CookieStore>>,
    /// Which HTTP versions to speak (default: HTTP/2 when the server picks it by ALPN,
    /// else HTTP/1.1).
    pub http_versions: HttpVersionPolicy,
}

impl Default for Config {
    fn default() -> Self {
        let mut default_headers = HeaderMap::new();
        default_headers.insert(
            http::header::USER_AGENT,
            HeaderValue::from_static(concat!("par-http/", env!("CARGO_PKG_VERSION"))),
        );
        crate::client::decompress::add_accept_encoding(&mut default_headers);
        Self {
            max_connections_per_host: DEFAULT_MAX_CONNECTIONS_PER_HOST,
            max_idle_per_host: DEFAULT_MAX_IDLE_PER_HOST,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            connect_timeout: Some(DEFAULT_CONNECT_TIMEOUT),
            timeout: None,
            read_timeout: None,
            decompress: true,
            max_decompressed_bytes: Some(DEFAULT_MAX_DECOMPRESSED_BYTES),
            limits: Limits::default(),
            default_headers,
            authorization: None,
            auth_hook: None,
            base_url: None,
            redirect: RedirectPolicy::default(),
            retry: None,
            hedge: None,
            tls: TlsConfig::default(),
            proxies: Vec::new(),
            proxy_from_env: true,
            cookie_store: None,
            http_versions: HttpVersionPolicy::default(),
        }
    }
}

impl Config {
    /// Turns response decompression on or off, and with it the default `Accept-Encoding`
    /// header: turning it off removes that header when it is the one par-http set;
    /// turning it on adds it when there is none.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut config = par_http_core::Config::default();
    /// config.set_decompress(false);
    /// assert!(!config.decompress);
    /// assert!(config.default_headers.get("accept-encoding").is_none());
    /// ```
    pub fn set_decompress(&mut self, enabled: bool) {
        self.decompress = enabled;
        let Some(ours) = crate::client::decompress::accept_encoding() else {
            return;
        };
        let current = self.default_headers.get(http::header::ACCEPT_ENCODING);
        if enabled && current.is_none() {
            self.default_headers
                .insert(http::header::ACCEPT_ENCODING, ours);
        } else if !enabled && current == Some(&ours) {
            self.default_headers.remove(http::header::ACCEPT_ENCODING);
        }
    }
}

impl Config {
    /// The settings the pooled connector takes from this configuration.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut config = par_http_core::Config::default();
    /// config.max_connections_per_host = 4;
    /// assert_eq!(config.connector_config().max_connections_per_host, 4);
    /// ```
    pub fn connector_config(&self) -> ConnectorConfig {
        ConnectorConfig {
            max_connections_per_host: self.max_connections_per_host,
            max_idle_per_host: self.max_idle_per_host,
            idle_timeout: self.idle_timeout,
            connect_timeout: self.connect_timeout,
            read_timeout: self.read_timeout,
            limits: self.limits.clone(),
            tls: self.tls.clone(),
            hand_back_requests: self.redirect.max_redirects().is_some(),
            proxies: self.proxies.clone(),
            proxy_from_env: self.proxy_from_env,
            http_versions: self.http_versions,
        }
    }
}
