//! A request ready to be sent, and the builder that makes one.
//!
//! [`RequestBuilder`] never fails while it is being used: an invalid URL or header is
//! remembered and reported when the request is sent (or, in a scope, when its outcome is
//! collected). That is what lets `parallel.get(url)` return a `Pending` without a `Result`.

use std::fmt;
use std::time::Duration;

use http::Method;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use url::Url;

use crate::body::Body;
use crate::error::{Error, ErrorKind, Result};

/// A request with a parsed URL, ready for a [`Dispatch`](crate::Dispatch).
#[derive(Debug)]
#[non_exhaustive]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The absolute URL.
    pub url: Url,
    /// Header fields, sent in addition to those the connector adds (`Host`, framing).
    pub headers: HeaderMap,
    /// The body.
    pub body: Body,
    /// A time limit for this request, overriding the client's.
    pub timeout: Option<Duration>,
}

impl Request {
    /// A request with no headers and no body.
    pub fn new(method: Method, url: Url) -> Self {
        Self {
            method,
            url,
            headers: HeaderMap::new(),
            body: Body::empty(),
            timeout: None,
        }
    }

    /// A copy of this request, if its body can be sent again.
    pub fn try_clone(&self) -> Option<Self> {
        Some(Self {
            method: self.method.clone(),
            url: self.url.clone(),
            headers: self.headers.clone(),
            body: self.body.try_clone()?,
            timeout: self.timeout,
        })
    }

    /// Makes an error about this request.
    pub fn error(&self, kind: ErrorKind) -> Error {
        Error::new(kind).with_request(&self.method, self.url.as_str())
    }
}

/// Something that can be turned into a URL: `&str`, `String`, `&String` or [`Url`].
///
/// Parsing happens when the request is built; a failure is kept and reported later.
pub trait IntoUrl {
    /// Parses (or passes on) the URL, resolving a relative one against `base` if given.
    fn into_url(self, base: Option<&Url>) -> std::result::Result<Url, (String, url::ParseError)>;
}

impl IntoUrl for Url {
    fn into_url(self, _base: Option<&Url>) -> std::result::Result<Url, (String, url::ParseError)> {
        Ok(self)
    }
}

impl IntoUrl for &Url {
    fn into_url(self, _base: Option<&Url>) -> std::result::Result<Url, (String, url::ParseError)> {
        Ok(self.clone())
    }
}

impl IntoUrl for &str {
    fn into_url(self, base: Option<&Url>) -> std::result::Result<Url, (String, url::ParseError)> {
        let parsed = match base {
            Some(base) => base.join(self),
            None => Url::parse(self),
        };
        parsed.map_err(|err| (self.to_owned(), err))
    }
}

impl IntoUrl for String {
    fn into_url(self, base: Option<&Url>) -> std::result::Result<Url, (String, url::ParseError)> {
        self.as_str().into_url(base)
    }
}

impl IntoUrl for &String {
    fn into_url(self, base: Option<&Url>) -> std::result::Result<Url, (String, url::ParseError)> {
        self.as_str().into_url(base)
    }
}

/// Builds a [`Request`]; errors are kept until [`build`](Self::build).
///
/// # Examples
///
/// ```
/// use par_http_core::RequestBuilder;
///
/// let request = RequestBuilder::new(http::Method::POST, "http://127.0.0.1:8080/items", None)
///     .header("x-trace", "1")
///     .body("hello")
///     .build()?;
/// assert_eq!(request.url.path(), "/items");
///
/// let bad = RequestBuilder::new(http::Method::GET, "not a url", None).build();
/// assert!(bad.unwrap_err().is_invalid_url());
/// # Ok::<(), par_http_core::Error>(())
/// ```
pub struct RequestBuilder {
    state: Result<Request>,
}

impl RequestBuilder {
    /// Starts a request for `url`, resolved against `base` when it is relative.
    pub fn new(method: Method, url: impl IntoUrl, base: Option<&Url>) -> Self {
        let state = match url.into_url(base) {
            Ok(url) => check_url(&method, url).map(|url| Request::new(method, url)),
            Err((raw, err)) => Err(Error::new(ErrorKind::InvalidUrl)
                .with_source(err)
                .with_request(&method, &raw)),
        };
        Self { state }
    }

    /// A builder that reports `error` when built.
    pub fn from_error(error: Error) -> Self {
        Self { state: Err(error) }
    }

    /// A builder for an already built request.
    pub fn from_request(request: Request) -> Self {
        Self { state: Ok(request) }
    }

    /// Appends a header field. An invalid name or value makes the request fail when sent.
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        K::Error: Into<http::Error>,
        V: TryInto<HeaderValue>,
        V::Error: Into<http::Error>,
    {
        if let Ok(request) = &mut self.state {
            let name = name.try_into().map_err(Into::into);
            let value = value.try_into().map_err(Into::into);
            match (name, value) {
                (Ok(name), Ok(value)) => {
                    request.headers.append(name, value);
                }
                (Err(err), _) | (_, Err(err)) => {
                    let err = request.error(ErrorKind::InvalidRequest).with_source(err);
                    self.state = Err(err);
                }
            }
        }
        self
    }

    /// Appends every field of `headers`.
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        if let Ok(request) = &mut self.state {
            let mut last = None;
            for (name, value) in headers {
                if let Some(name) = name {
                    last = Some(name);
                }
                if let Some(name) = &last {
                    request.headers.append(name.clone(), value);
                }
            }
        }
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Body>) -> Self {
        if let Ok(request) = &mut self.state {
            request.body = body.into();
        }
        self
    }

    /// Sets a time limit for this request (connect, send and response head).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        if let Ok(request) = &mut self.state {
            request.timeout = Some(timeout);
        }
        self
    }

    /// Applies `f` to the request being built (if it is still valid).
    pub fn map(mut self, f: impl FnOnce(Request) -> Result<Request>) -> Self {
        self.state = self.state.and_then(f);
        self
    }

    /// The request, or the first error met while building it.
    pub fn build(self) -> Result<Request> {
        self.state
    }
}

impl fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBuilder")
            .field("request", &self.state)
            .finish()
    }
}

/// Only `http` URLs with a host can be sent (`https` arrives with TLS support).
fn check_url(method: &Method, url: Url) -> Result<Url> {
    let supported = url.scheme() == "http" && url.host().is_some();
    if supported {
        Ok(url)
    } else {
        Err(Error::new(ErrorKind::InvalidUrl)
            .with_source(UnsupportedUrl)
            .with_request(method, url.as_str()))
    }
}

/// The cause of an [`ErrorKind::InvalidUrl`] for a URL that parsed but can't be sent.
#[derive(Debug)]
struct UnsupportedUrl;

impl fmt::Display for UnsupportedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("only http:// URLs with a host are supported")
    }
}

impl std::error::Error for UnsupportedUrl {}
