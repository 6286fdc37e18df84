//! Proxies: which one a request goes through, and how the connection reaches the origin
//! through it.
//!
//! A client holds a list of [`Proxy`] rules (set by the user, else read once from the
//! environment the way curl reads it, see [`env`]). For each request the first rule that
//! takes the URL decides its route: straight to the origin, forwarded by an HTTP proxy
//! (an `http` URL: the request target in absolute form, `Proxy-Authorization` to the
//! proxy), tunnelled through an HTTP proxy (`CONNECT host:port`, then TLS to the origin
//! inside the tunnel: see [`tunnel`]), or through a SOCKS5 proxy ([`socks5`]). The pool
//! key of a connection names its proxy, so a proxied connection is never reused for a
//! direct request or another proxy.

use std::fmt;
use std::sync::Arc;

use http::{HeaderValue, StatusCode};
use percent_encoding::percent_decode_str;
use url::Url;

use crate::error::{Error, ErrorKind, Result};
use crate::message::credentials::basic_auth_header;

pub(crate) mod env;
pub(crate) mod socks5;
pub(crate) mod tunnel;

pub use env::NoProxy;

/// A proxy rule for a client: which URLs it takes, and the proxy they go through.
///
/// The proxy URL's scheme says what the proxy speaks: `http://` (forwarding for `http`
/// URLs, a `CONNECT` tunnel for `https` ones), `https://` (the same over TLS to the proxy,
/// verified against the proxy's name with the client's TLS settings), `socks5://` (the
/// client resolves the origin's name) or `socks5h://` (the proxy resolves it). A URL without a scheme is an
/// `http://` proxy, as curl takes it. Credentials in the URL's userinfo (percent-decoded)
/// or set with [`basic_auth`](Self::basic_auth) go to the proxy only.
///
/// # Examples
///
/// ```
/// use par_http_core::Proxy;
///
/// let proxy = Proxy::https("http://user:secret@proxy.test:3128")?
///     .no_proxy(par_http_core::NoProxy::from_list("localhost, .internal.test"));
/// assert!(format!("{proxy:?}").contains("proxy.test:3128"));
/// assert!(!format!("{proxy:?}").contains("secret"));
/// # Ok::<(), par_http_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Proxy {
    intercept: Intercept,
    no_proxy: Option<NoProxy>,
    /// Credentials set with `basic_auth`, over those of the URL.
    auth: Option<(String, String)>,
}

/// A per-request proxy choice (see [`Proxy::custom`]).
type Choose = Arc<dyn Fn(&Url) -> Option<Url> + Send + Sync>;

#[derive(Clone)]
enum Intercept {
    Http(Arc<Target>),
    Https(Arc<Target>),
    All(Arc<Target>),
    Custom(Choose),
}

impl Proxy {
    /// Sends `http` URLs through the proxy at `url`.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Proxy`] error when `url` is not a usable proxy URL.
    pub fn http(url: &str) -> Result<Self> {
        Ok(Self::new(Intercept::Http(Arc::new(Target::parse(url)?))))
    }

    /// Sends `https` URLs through the proxy at `url`.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Proxy`] error when `url` is not a usable proxy URL.
    pub fn https(url: &str) -> Result<Self> {
        Ok(Self::new(Intercept::Https(Arc::new(Target::parse(url)?))))
    }

    /// Sends every URL through the proxy at `url`.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Proxy`] error when `url` is not a usable proxy URL.
    pub fn all(url: &str) -> Result<Self> {
        Ok(Self::new(Intercept::All(Arc::new(Target::parse(url)?))))
    }

    /// Chooses per request: `choose` returns the proxy URL for a request URL, or `None`
    /// to let the next rule (or a direct connection) have it. A URL it returns that is not
    /// a usable proxy URL fails that request with an [`ErrorKind::Proxy`] error.
    ///
    /// # Examples
    ///
    /// ```
    /// use par_http_core::{Proxy, Url};
    ///
    /// let proxy = Proxy::custom(|url: &Url| {
    ///     (url.host_str() == Some("api.test")).then(|| Url::parse("socks5h://127.0.0.1:1080").unwrap())
    /// });
    /// # let _ = proxy;
    /// ```
    pub fn custom(choose: impl Fn(&Url) -> Option<Url> + Send + Sync + 'static) -> Self {
        Self::new(Intercept::Custom(Arc::new(choose)))
    }

    fn new(intercept: Intercept) -> Self {
        Self {
            intercept,
            no_proxy: None,
            auth: None,
        }
    }

    /// Credentials for the proxy (Basic for an HTTP proxy, username/password for SOCKS5),
    /// in place of those in the proxy URL.
    pub fn basic_auth(mut self, user: &str, password: &str) -> Self {
        self.auth = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// URLs this rule leaves alone (they go to the next rule, or direct).
    pub fn no_proxy(mut self, no_proxy: NoProxy) -> Self {
        self.no_proxy = Some(no_proxy);
        self
    }

    /// The proxies named by the process environment, read the way curl reads them (see
    /// [`Proxy::from_env_with`]).
    pub fn from_env() -> Vec<Self> {
        Self::from_env_with(|name| std::env::var(name).ok())
    }

    /// The proxies named by an environment that `lookup` reads: `http_proxy` (and
    /// `HTTP_PROXY` unless `REQUEST_METHOD` is set, a CGI environment where a request's
    /// `Proxy:` header would become `HTTP_PROXY`), `https_proxy` / `HTTPS_PROXY`,
    /// `all_proxy` / `ALL_PROXY`, each limited by `no_proxy` / `NO_PROXY`. Lower case
    /// wins over upper case, a scheme's own variable over `all_proxy`; empty values and
    /// URLs that are not usable proxies are ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// use par_http_core::Proxy;
    ///
    /// let env = |name: &str| match name {
    ///     "HTTPS_PROXY" => Some("proxy.test:3128".to_owned()),
    ///     "NO_PROXY" => Some("localhost,.internal.test".to_owned()),
    ///     _ => None,
    /// };
    /// assert_eq!(Proxy::from_env_with(env).len(), 1);
    /// ```
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Vec<Self> {
        env::from_env(&lookup)
    }

    /// The proxy this rule takes `url` to, if it takes it.
    fn intercept(&self, url: &Url) -> Option<Result<Arc<Target>>> {
        if self.no_proxy.as_ref().is_some_and(|np| np.matches(url)) {
            return None;
        }
        let target = match &self.intercept {
            Intercept::Http(target) if url.scheme() == "http" => target.clone(),
            Intercept::Https(target) if url.scheme() == "https" => target.clone(),
            Intercept::All(target) => target.clone(),
            Intercept::Custom(choose) => match choose(url) {
                Some(proxy) => match Target::from_url(proxy) {
                    Ok(target) => Arc::new(target),
                    Err(err) => return Some(Err(err)),
                },
                None => return None,
            },
            _ => return None,
        };
        Some(Ok(match &self.auth {
            Some((user, password)) => Arc::new(target.with_auth(user, password)),
            None => target,
        }))
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Proxy");
        match &self.intercept {
            Intercept::Http(t) => d.field("http", &t.name),
            Intercept::Https(t) => d.field("https", &t.name),
            Intercept::All(t) => d.field("all", &t.name),
            Intercept::Custom(_) => d.field("custom", &".."),
        };
        d.field("no_proxy", &self.no_proxy)
            .field("basic_auth", &self.auth.is_some())
            .finish()
    }
}

/// The proxies of a connector: the user's rules, else those of the environment, read
/// once when the connector is made.
#[derive(Clone, Debug, Default)]
pub(crate) struct Proxies {
    rules: Vec<Proxy>,
}

impl Proxies {
    /// The rules a connector uses: `explicit` when there are any, else the environment's
    /// when `from_env`.
    pub(crate) fn new(explicit: &[Proxy], from_env: bool) -> Self {
        let rules = if !explicit.is_empty() {
            explicit.to_vec()
        } else if from_env {
            Proxy::from_env()
        } else {
            Vec::new()
        };
        Self { rules }
    }

    /// The proxy for `url`: the first rule that takes it, `None` for a direct connection.
    pub(crate) fn choose(&self, url: &Url) -> Result<Option<Arc<Target>>> {
        for rule in &self.rules {
            if let Some(target) = rule.intercept(url) {
                return target.map(Some);
            }
        }
        Ok(None)
    }
}

/// What a proxy speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// HTTP: forwarding, or `CONNECT` tunnels.
    Http,
    /// SOCKS5; `remote_dns` (`socks5h`) when the proxy resolves the origin's name.
    Socks5 { remote_dns: bool },
}

/// One proxy, ready to connect through: where it is, what it speaks, its credentials.
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) kind: Kind,
    /// The proxy's host and port.
    pub(crate) host: String,
    pub(crate) port: u16,
    /// The proxy as `scheme://host:port`, without credentials: for pool keys and errors.
    pub(crate) name: Arc<str>,
    /// TLS to the proxy itself (an `https://` proxy).
    pub(crate) tls: bool,
    /// The pool key part: the name, and a tag of the credentials when there are any, so
    /// a connection opened (or a tunnel authorized) with one user's credentials is never
    /// reused for another's. The tag is a keyed hash (a key made per process): the
    /// credentials cannot be read back from it.
    pub(crate) key: Arc<str>,
    /// `Proxy-Authorization` for an HTTP proxy.
    pub(crate) authorization: Option<HeaderValue>,
    /// User name and password for a SOCKS5 proxy.
    pub(crate) credentials: Option<(String, String)>,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("name", &self.name)
            .field("credentials", &self.credentials.is_some())
            .finish_non_exhaustive()
    }
}

impl Target {
    /// A proxy from its URL as a user writes it (`http://` when it has no scheme).
    pub(crate) fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        let with_scheme;
        let text = if text.contains("://") {
            text
        } else {
            with_scheme = format!("http://{text}");
            &with_scheme
        };
        let url = Url::parse(text)
            .map_err(|_| Error::from(ProxyError::new(redacted(text), ProxyFailure::InvalidUrl)))?;
        Self::from_url(url)
    }

    /// A proxy from its URL.
    pub(crate) fn from_url(url: Url) -> Result<Self> {
        let kind = match url.scheme() {
            "http" | "https" => Kind::Http,
            "socks5" => Kind::Socks5 { remote_dns: false },
            "socks5h" => Kind::Socks5 { remote_dns: true },
            _ => {
                return Err(ProxyError::new(redacted(url.as_str()), ProxyFailure::Scheme).into());
            }
        };
        let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
            return Err(ProxyError::new(redacted(url.as_str()), ProxyFailure::InvalidUrl).into());
        };
        let tls = url.scheme() == "https";
        let port = url.port().unwrap_or(match kind {
            Kind::Http if tls => 443,
            Kind::Http => 80,
            Kind::Socks5 { .. } => 1080,
        });
        let name: Arc<str> = format!("{}://{host}:{port}", url.scheme()).into();
        let mut target = Self {
            kind,
            host: host.to_owned(),
            port,
            key: name.clone(),
            name,
            tls,
            authorization: None,
            credentials: None,
        };
        if !url.username().is_empty() || url.password().is_some() {
            let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
            let user = decode(url.username());
            let password = decode(url.password().unwrap_or_default());
            target = target.with_auth(&user, &password);
        }
        Ok(target)
    }

    /// The same proxy with other credentials.
    fn with_auth(&self, user: &str, password: &str) -> Self {
        let mut target = self.clone();
        target.authorization = Some(basic_auth_header(user, Some(password)));
        target.credentials = Some((user.to_owned(), password.to_owned()));
        target.key = format!("{} #{:016x}", self.name, credentials_tag(user, password)).into();
        target
    }

    /// True for an HTTP proxy that forwards `url`'s requests itself (an `http` URL);
    /// false when the connection is a tunnel to the origin.
    pub(crate) fn forwards(&self, url: &Url) -> bool {
        self.kind == Kind::Http && url.scheme() == "http"
    }
}

/// A tag for a user name and password: a hash keyed once per process.
fn credentials_tag(user: &str, password: &str) -> u64 {
    use std::hash::BuildHasher;
    static KEY: std::sync::OnceLock<std::collections::hash_map::RandomState> =
        std::sync::OnceLock::new();
    KEY.get_or_init(Default::default).hash_one((user, password))
}

/// `text` with any userinfo cut out, for errors and logs.
fn redacted(text: &str) -> String {
    match (text.find("://"), text.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}{}", &text[..scheme_end + 3], &text[at + 1..])
        }
        (None, Some(at)) => text[at + 1..].to_owned(),
        _ => text.to_owned(),
    }
}

/// Why a proxy failed: the source of an [`ErrorKind::Proxy`] error.
///
/// # Examples
///
/// ```
/// let err = par_http_core::Proxy::http("ftp://proxy.test").unwrap_err();
/// assert!(err.is_proxy());
/// let proxy = err.proxy_error().unwrap();
/// assert_eq!(proxy.proxy(), "ftp://proxy.test/");
/// assert_eq!(proxy.status(), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyError {
    proxy: String,
    failure: ProxyFailure,
}

/// What went wrong with a proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProxyFailure {
    /// The proxy URL does not parse or has no host.
    InvalidUrl,
    /// The proxy URL's scheme is not one par-http speaks.
    Scheme,
    /// The proxy answered `CONNECT` with this status.
    Refused(StatusCode),
    /// The proxy's answer to `CONNECT` is not valid HTTP.
    BadResponse,
    /// The connection closed during the handshake with the proxy.
    Closed,
    /// The SOCKS5 handshake failed.
    Socks(socks5::Socks5Error),
}

impl ProxyError {
    pub(crate) fn new(proxy: impl Into<String>, failure: ProxyFailure) -> Self {
        Self {
            proxy: proxy.into(),
            failure,
        }
    }

    /// The proxy, as `scheme://host:port` (never with credentials).
    pub fn proxy(&self) -> &str {
        &self.proxy
    }

    /// The status the proxy answered a `CONNECT` with (407: it wants credentials, or
    /// refused those it was given), for a refused tunnel.
    pub fn status(&self) -> Option<StatusCode> {
        match self.failure {
            ProxyFailure::Refused(status) => Some(status),
            _ => None,
        }
    }

    /// True when the proxy wants credentials or refused those it was given (a 407 to
    /// `CONNECT`, or a SOCKS5 proxy that refused the user name and password).
    pub fn is_auth(&self) -> bool {
        matches!(
            self.failure,
            ProxyFailure::Refused(StatusCode::PROXY_AUTHENTICATION_REQUIRED)
                | ProxyFailure::Socks(socks5::Socks5Error::AuthRefused)
                | ProxyFailure::Socks(socks5::Socks5Error::NoAcceptableMethod)
        )
    }
}

impl From<ProxyError> for Error {
    fn from(err: ProxyError) -> Self {
        Self::new(ErrorKind::Proxy).with_source(err)
    }
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proxy = &self.proxy;
        match &self.failure {
            ProxyFailure::InvalidUrl => write!(f, "invalid proxy url {proxy}"),
            ProxyFailure::Scheme => write!(f, "unsupported proxy scheme in {proxy}"),
            ProxyFailure::Refused(status) => {
                write!(f, "proxy {proxy} refused the tunnel with status {status}")
            }
            ProxyFailure::BadResponse => write!(f, "invalid answer to CONNECT from proxy {proxy}"),
            ProxyFailure::Closed => write!(f, "proxy {proxy} closed the connection"),
            ProxyFailure::Socks(err) => write!(f, "socks5 proxy {proxy}: {err}"),
        }
    }
}

impl std::error::Error for ProxyError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls_parse_with_defaults_and_credentials() {
        let t = Target::parse("proxy.test:3128").unwrap();
        assert_eq!((t.kind, &*t.name), (Kind::Http, "http://proxy.test:3128"));
        assert!(t.authorization.is_none());
        let t = Target::parse("socks5h://us%40er:p%3Ass@10.0.0.1").unwrap();
        assert_eq!(t.kind, Kind::Socks5 { remote_dns: true });
        assert_eq!(&*t.name, "socks5h://10.0.0.1:1080");
        assert_eq!(t.credentials, Some(("us@er".to_owned(), "p:ss".to_owned())));
        let t = Target::parse("https://proxy.test").unwrap();
        assert!(t.tls);
        assert_eq!((t.kind, t.port), (Kind::Http, 443));
        let t = Target::parse("http://u:p@proxy.test").unwrap();
        assert!(!t.tls);
        assert_eq!(t.authorization, Some(basic_auth_header("u", Some("p"))));
        assert_eq!(t.port, 80);
        let err = Target::parse("ftp://u:secret@proxy.test").unwrap_err();
        assert!(err.is_proxy());
        assert!(!err.to_string().contains("secret"), "{err}");
        assert!(Target::parse("http://").is_err());
    }

    #[test]
    fn the_first_rule_that_takes_a_url_wins() {
        let rules = Proxies {
            rules: vec![
                Proxy::http("http://h.test:1").unwrap(),
                Proxy::all("socks5://a.test:2")
                    .unwrap()
                    .no_proxy(NoProxy::from_list("skip.test")),
            ],
        };
        let name = |u: &str| {
            rules
                .choose(&Url::parse(u).unwrap())
                .unwrap()
                .map(|t| t.name.to_string())
        };
        assert_eq!(name("http://x.test/").as_deref(), Some("http://h.test:1"));
        assert_eq!(
            name("https://x.test/").as_deref(),
            Some("socks5://a.test:2")
        );
        assert_eq!(name("https://skip.test/"), None);
        assert_eq!(
            name("http://skip.test/").as_deref(),
            Some("http://h.test:1")
        );
    }

    #[test]
    fn credentials_are_part_of_the_pool_key_without_being_readable_in_it() {
        let a = Target::parse("http://u:one@p.test:1").unwrap();
        let b = Target::parse("http://u:two@p.test:1").unwrap();
        let none = Target::parse("http://p.test:1").unwrap();
        let a2 = Target::parse("http://u:one@p.test:1").unwrap();
        assert_eq!(a.key, a2.key);
        assert_ne!(a.key, b.key);
        assert_ne!(a.key, none.key);
        assert_eq!(&*none.key, "http://p.test:1");
        assert!(!a.key.contains("one") && a.key.starts_with("http://p.test:1 #"));
    }

    #[test]
    fn basic_auth_replaces_url_credentials() {
        let proxy = Proxy::all("http://a:b@p.test:1")
            .unwrap()
            .basic_auth("c", "d");
        let target = proxy
            .intercept(&Url::parse("http://x.test/").unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(
            target.authorization,
            Some(basic_auth_header("c", Some("d")))
        );
        assert_eq!(target.credentials, Some(("c".into(), "d".into())));
    }

    #[test]
    fn a_custom_rule_with_a_bad_url_fails_the_request() {
        let proxy = Proxy::custom(|_| Url::parse("ftp://p.test").ok());
        let result = proxy.intercept(&Url::parse("http://x.test/").unwrap());
        assert!(result.unwrap().unwrap_err().is_proxy());
    }
}
