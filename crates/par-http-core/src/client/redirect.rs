//! Following redirects: the [`RedirectPolicy`] and the loop that applies it around the
//! dispatch.
//!
//! [`Client::execute`](crate::Client::execute) sends every request through [`follow`], so
//! one-off requests and every request of a parallel scope get the same rules, and a mock
//! dispatch sees each hop as the network would:
//!
//! * 301, 302, 303, 307 and 308 with a `Location` are followed, up to the policy's limit
//!   (10 by default). Other statuses, and a redirect without `Location`, are returned as is.
//! * 301/302 answering a POST, and 303 answering anything but HEAD, become a GET without
//!   a body (its `Content-*` and `Transfer-Encoding` fields dropped). 307/308 (and 301/302
//!   for other methods) repeat the method and body; a streamed body cannot be sent twice,
//!   so then the 3xx response is returned as is.
//! * A relative `Location` is resolved against the URL that answered it; without a
//!   fragment it inherits that URL's fragment (RFC 9110 §10.2.2).
//! * A hop to another origin (scheme, host or port) drops `Authorization`, `Cookie`,
//!   `Proxy-Authorization` (and a `Host` set by hand). An https to http hop is refused
//!   unless the policy allows downgrades.
//! * The same method and URL seen twice (a loop), or one hop more than the limit, is an
//!   [`ErrorKind::Redirect`] error naming the original request.
//!
//! The body of each 3xx response is discarded: read to its end when it is small and
//! arrives promptly (so the connection goes back to the pool), otherwise dropped (which
//! closes the connection).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::future;
use futures_lite::io::{AsyncReadExt, copy, sink};
use http::header::{self, HeaderMap};
use http::{Method, StatusCode};
use url::Url;

use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::message::request::{Request, check_url};
use crate::message::response::{Response, Sent};
use crate::runtime::Boxed;

/// The number of redirects followed by default.
pub const DEFAULT_MAX_REDIRECTS: usize = 10;

/// A 3xx body larger than this is not read, its connection is closed instead.
const DRAIN_MAX_BYTES: u64 = 64 * 1024;

/// How long a 3xx body may take to arrive before its connection is closed instead.
const DRAIN_TIME: Duration = Duration::from_secs(1);

/// How a client follows redirects.
///
/// # Examples
///
/// ```
/// use par_http_core::RedirectPolicy;
///
/// assert_eq!(RedirectPolicy::default().max_redirects(), Some(10));
/// assert_eq!(RedirectPolicy::none().max_redirects(), None);
/// let lenient = RedirectPolicy::limited(3).allow_https_downgrade(true);
/// assert!(lenient.allows_https_downgrade());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectPolicy {
    max: Option<usize>,
    allow_https_downgrade: bool,
}

impl RedirectPolicy {
    /// Follows up to `max` redirects; one more is an [`ErrorKind::Redirect`] error (so
    /// `limited(0)` makes every redirect an error).
    pub fn limited(max: usize) -> Self {
        Self {
            max: Some(max),
            allow_https_downgrade: false,
        }
    }

    /// Follows no redirect: a 3xx response is returned as it is.
    pub fn none() -> Self {
        Self {
            max: None,
            allow_https_downgrade: false,
        }
    }

    /// Allows a redirect from `https` to `http` (refused by default: it would send the
    /// rest of the exchange in clear text).
    pub fn allow_https_downgrade(mut self, allow: bool) -> Self {
        self.allow_https_downgrade = allow;
        self
    }

    /// The most redirects followed, or `None` when redirects are not followed.
    pub fn max_redirects(&self) -> Option<usize> {
        self.max
    }

    /// True if an https to http redirect is followed.
    pub fn allows_https_downgrade(&self) -> bool {
        self.allow_https_downgrade
    }
}

impl Default for RedirectPolicy {
    fn default() -> Self {
        Self::limited(DEFAULT_MAX_REDIRECTS)
    }
}

/// Why following a redirect failed: the source of an [`ErrorKind::Redirect`] error.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedirectError {
    /// The redirect leads to a method and URL already requested in this chain.
    Loop(Url),
    /// More redirects than the policy allows; holds the limit.
    TooMany(usize),
    /// A redirect from https to http, which the policy refuses.
    HttpsDowngrade(Url),
    /// The `Location` is not a URL that can be requested; holds it as received.
    InvalidLocation(String),
}

impl fmt::Display for RedirectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Loop(url) => write!(f, "redirect loop back to {url}"),
            Self::TooMany(max) => write!(f, "more than {max} redirects"),
            Self::HttpsDowngrade(url) => write!(f, "refused https to http redirect to {url}"),
            Self::InvalidLocation(location) => {
                write!(f, "redirect location {location:?} is not a supported url")
            }
        }
    }
}

impl std::error::Error for RedirectError {}

/// Sends `request` through the client's dispatch and follows redirects by its policy.
/// The response carries the final URL and the URLs that redirected to it.
///
/// The first hop is handed to the dispatch at once (before the returned future is first
/// polled), as a bare dispatch call would be.
pub(crate) fn follow(client: &Client, mut request: Request) -> Follow {
    let next_hop = client.config().redirect.max_redirects().map(|max| NextHop {
        max,
        again: Again::before_sending(client, &mut request),
        client: client.clone(),
    });
    Follow {
        sent: crate::client::cookies::send(client, request),
        next_hop,
        redirecting: None,
    }
}

/// The future of [`follow`]. While the first response is awaited (nearly every request's
/// whole life), it holds only the request in flight and the copy for a next hop; the
/// redirect loop is boxed, for the few that need it. (A plain struct rather than an
/// `async` block, which would hold the copy twice.)
pub(crate) struct Follow {
    sent: Boxed<Result<Response>>,
    next_hop: Option<NextHop>,
    redirecting: Option<Boxed<Result<Response>>>,
}

/// What following a redirect needs: the limit, the way to the request again, and the
/// client.
struct NextHop {
    max: usize,
    again: Again,
    client: Client,
}

/// How the redirect policy has a request again once it is sent.
enum Again {
    /// A copy made before it was sent, and whether the copy holds the body.
    Copy(Box<Request>, bool),
    /// The client's own connector hands it back with the response (no copy).
    HandedBack,
}

impl Again {
    /// Copies `request` before it is sent, unless the dispatch will hand it back.
    fn before_sending(client: &Client, request: &mut Request) -> Self {
        if client.hands_back_requests() {
            Self::HandedBack
        } else {
            let (copy, replayable) = copy_for_next_hop(request);
            Self::Copy(Box::new(copy), replayable)
        }
    }

    /// The request `response` answers, and whether it holds its body.
    fn request(self, response: &mut Response) -> (Request, bool) {
        match self {
            Self::Copy(request, replayable) => {
                // An `Http1Dispatch` plugged in as a custom dispatch hands it back too.
                drop(response.take_sent());
                (*request, replayable)
            }
            Self::HandedBack => {
                let mut request = Request::new(response.method().clone(), response.url().clone());
                let Some(sent) = response.take_sent() else {
                    return (request, false);
                };
                let Sent {
                    headers,
                    body,
                    timeout,
                } = *sent;
                request.headers = headers;
                request.timeout = timeout;
                let replayable = body.is_some();
                request.body = body.unwrap_or_default();
                (request, replayable)
            }
        }
    }
}

impl Future for Follow {
    type Output = Result<Response>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if let Some(redirecting) = this.redirecting.as_mut() {
            return redirecting.as_mut().poll(cx);
        }
        let mut response = match this.sent.as_mut().poll(cx) {
            Poll::Ready(Ok(response)) => response,
            other => return other,
        };
        let hop = match this.next_hop.take() {
            Some(hop) if redirect_location(&response).is_some() => hop,
            _ => {
                // What the connector handed back goes no further than this layer.
                drop(response.take_sent());
                return Poll::Ready(Ok(response));
            }
        };
        let (again, replayable) = hop.again.request(&mut response);
        let mut redirecting: Boxed<Result<Response>> = Box::pin(follow_from(
            hop.client, hop.max, again, replayable, response,
        ));
        let poll = redirecting.as_mut().poll(cx);
        this.redirecting = Some(redirecting);
        poll
    }
}

impl fmt::Debug for Follow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Follow")
            .field("redirecting", &self.redirecting.is_some())
            .finish_non_exhaustive()
    }
}

/// Follows the redirect that `response` (the answer to `again`, the first request) asks
/// for, and those after it, up to `max`.
async fn follow_from(
    client: Client,
    max: usize,
    mut again: Request,
    mut replayable: bool,
    mut response: Response,
) -> Result<Response> {
    let policy = &client.config().redirect;
    let (origin_method, origin_url) = (again.method.clone(), again.url.clone());
    let fail = |cause: RedirectError| {
        Error::new(ErrorKind::Redirect)
            .with_source(cause)
            .with_request(&origin_method, origin_url.as_str())
    };
    let mut visited = vec![(again.method.clone(), without_fragment(&again.url))];
    let mut history: Vec<Url> = Vec::new();
    loop {
        let Some(location) = redirect_location(&response) else {
            return Ok(with_history(response, history));
        };
        let Some(next) = next_request(again, replayable, &response, location) else {
            // The method and body must be repeated, but the body was a stream.
            return Ok(with_history(response, history));
        };
        let mut next = next.map_err(&fail)?;
        if history.len() >= max {
            return Err(fail(RedirectError::TooMany(max)));
        }
        let current = response.url().clone();
        if current.scheme() == "https"
            && next.url.scheme() == "http"
            && !policy.allows_https_downgrade()
        {
            return Err(fail(RedirectError::HttpsDowngrade(next.url.clone())));
        }
        let key = (next.method.clone(), without_fragment(&next.url));
        if visited.contains(&key) {
            return Err(fail(RedirectError::Loop(next.url.clone())));
        }
        discard_body(&client, response).await;
        history.push(current);
        visited.push(key);
        let next_again = Again::before_sending(&client, &mut next);
        response = crate::client::cookies::send(&client, next).await?;
        (again, replayable) = next_again.request(&mut response);
    }
}

/// The request to send for a redirect, or `None` when the redirect cannot be followed
/// (its method and body must be repeated, and the body was a stream). `again` is the
/// copy of the previous request made before it was sent, `replayable` whether it holds
/// that request's body.
fn next_request(
    again: Request,
    replayable: bool,
    response: &Response,
    location: &str,
) -> Option<Result<Request, RedirectError>> {
    let mut next = again;
    let status = response.status();
    let to_get = match status {
        StatusCode::SEE_OTHER => next.method != Method::HEAD,
        StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND => next.method == Method::POST,
        _ => false,
    };
    if to_get {
        next.method = Method::GET;
        next.body = crate::message::body::Body::empty();
        remove_content_fields(&mut next.headers);
    } else if !replayable {
        return None;
    }
    let invalid = || Some(Err(RedirectError::InvalidLocation(location.to_owned())));
    let Ok(mut url) = response.url().join(location) else {
        return invalid();
    };
    if url.fragment().is_none() {
        url.set_fragment(response.url().fragment());
    }
    let credentials = crate::message::credentials::take_url_credentials(&mut url);
    if check_url(&next.method, url.clone()).is_err() {
        return invalid();
    }
    if !same_origin(response.url(), &url) {
        for name in [
            header::AUTHORIZATION,
            header::COOKIE,
            header::PROXY_AUTHORIZATION,
            header::HOST,
        ] {
            next.headers.remove(name);
        }
    }
    if let Some(value) = credentials {
        if !next.headers.contains_key(header::AUTHORIZATION) {
            next.headers.insert(header::AUTHORIZATION, value);
        }
    }
    next.url = url;
    Some(Ok(next))
}

/// The `Location` of a response that is a redirect this module follows.
fn redirect_location(response: &Response) -> Option<&str> {
    let followed = matches!(
        response.status(),
        StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::SEE_OTHER
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT
    );
    if !followed {
        return None;
    }
    response.headers().get(header::LOCATION)?.to_str().ok()
}

/// A copy of `request` for the next hop, and whether it holds the body too (it does when
/// the body is in memory; a stream leaves the copy with an empty body).
fn copy_for_next_hop(request: &mut Request) -> (Request, bool) {
    // Cloned while its body is out: a request with an empty body always clones.
    let body = std::mem::take(&mut request.body);
    let replay = body.try_clone();
    let mut copy = request
        .try_clone()
        .unwrap_or_else(|| Request::new(request.method.clone(), request.url.clone()));
    request.body = body;
    let replayable = replay.is_some();
    copy.body = replay.unwrap_or_default();
    (copy, replayable)
}

/// Headers that describe the body, dropped when a redirect turns the request into a GET.
fn remove_content_fields(headers: &mut HeaderMap) {
    for name in [
        header::CONTENT_LENGTH,
        header::CONTENT_TYPE,
        header::CONTENT_ENCODING,
        header::TRANSFER_ENCODING,
    ] {
        headers.remove(name);
    }
}

/// Same scheme, host and port (the port defaulted from the scheme).
fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

fn without_fragment(url: &Url) -> Url {
    let mut url = url.clone();
    url.set_fragment(None);
    url
}

fn with_history(mut response: Response, history: Vec<Url>) -> Response {
    if !history.is_empty() {
        response.set_redirect_history(history);
    }
    response
}

/// Discards a 3xx body: a small one that arrives promptly is read to its end (the
/// connection goes back to the pool); anything else is dropped, closing the connection.
async fn discard_body(client: &Client, response: Response) {
    let small = response
        .content_length()
        .is_some_and(|len| len <= DRAIN_MAX_BYTES);
    let mut body = response.into_body();
    if body.is_complete() || !small {
        return;
    }
    let sleep = client.runtime().sleep(DRAIN_TIME);
    let drain = async {
        let mut limited = (&mut body).take(DRAIN_MAX_BYTES + 1);
        let _ = copy(&mut limited, &mut sink()).await;
    };
    future::or(drain, sleep).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn origins_compare_scheme_host_and_default_port() {
        assert!(same_origin(
            &url("http://a.test/x"),
            &url("http://a.test:80/y")
        ));
        assert!(!same_origin(
            &url("http://a.test/"),
            &url("http://a.test:81/")
        ));
        assert!(!same_origin(&url("http://a.test/"), &url("http://b.test/")));
        assert!(!same_origin(
            &url("http://a.test/"),
            &url("https://a.test/")
        ));
    }

    #[test]
    fn the_default_policy_follows_ten() {
        assert_eq!(RedirectPolicy::default(), RedirectPolicy::limited(10));
        assert!(!RedirectPolicy::default().allows_https_downgrade());
    }
}
