//! The seam between the client and the network: the [`Dispatch`] trait.
//!
//! Everything above it (the scope, the clients, the redirect policy) sees only
//! `Dispatch`, so a user's tests can replace the network with a mock. The transport's
//! pooled connector ([`Http1Dispatch`](crate::Http1Dispatch)) is the default.

use std::fmt;

use url::Url;

use crate::error::Result;
use crate::message::request::Request;
use crate::message::response::Response;
use crate::runtime::Boxed;

/// Sends requests. The default is [`Http1Dispatch`](crate::Http1Dispatch); tests and users can plug their own.
///
/// # Examples
///
/// A dispatch that answers every request itself:
///
/// ```
/// use par_http_core::{Boxed, Dispatch, Request, Response, ResponseBody, Result};
///
/// #[derive(Debug)]
/// struct Hello;
///
/// impl Dispatch for Hello {
///     fn send(&self, request: Request) -> Boxed<Result<Response>> {
///         Box::pin(async move {
///             let body = ResponseBody::from("hello");
///             Ok(Response::new(request.method, request.url, http::StatusCode::OK, Default::default(), body))
///         })
///     }
/// }
/// ```
pub trait Dispatch: Send + Sync + fmt::Debug + 'static {
    /// Sends `request` and resolves once the response head has arrived.
    ///
    /// Errors should name the request ([`Error::with_request`](crate::Error::with_request)); the scope adds the name
    /// if they don't.
    fn send(&self, request: Request) -> Boxed<Result<Response>>;

    /// A future that completes when a request waits for a connection to the origin of
    /// `url` because every connection this dispatch may open to it is in use (at once if
    /// one waits already), or `None` if this dispatch never makes requests wait so.
    ///
    /// A parallel scope uses it to decide when a response nobody has collected yet, with
    /// part of its body still on the wire, must read the rest into memory and give its
    /// connection back: while a caller waits on the scope and another request needs that
    /// connection. The default is `None`.
    fn connection_wanted(&self, url: &Url) -> Option<Boxed<()>> {
        let _ = url;
        None
    }

    /// How many connections to the origin of `url` are open (in use, being opened, or
    /// idle) and how many requests wait for one, or `None` if this dispatch does not
    /// count them. A parallel scope uses it to tell a request that can never get a
    /// connection (every one held by responses its caller has not collected) from one
    /// that merely waits its turn. The default is `None`.
    fn connections(&self, url: &Url) -> Option<ConnectionCounts> {
        let _ = url;
        None
    }

    /// A future that completes once the cancellations of the requests dropped so far
    /// are on the wire, or `None` if there is nothing to wait for. A scope's end awaits
    /// it after dropping its requests, so that the server has been told (for HTTP/2, the
    /// `RST_STREAM` frames are written) before the scope returns. The default is `None`:
    /// dropping an HTTP/1.1 connection closes its socket at once.
    fn flush(&self) -> Option<Boxed<()>> {
        None
    }
}

/// Connections to one origin, as a [`Dispatch`] counts them ([`Dispatch::connections`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ConnectionCounts {
    /// Connections counted against the per-host cap: in use, being opened, or idle.
    pub open: usize,
    /// Of those, idle ones.
    pub idle: usize,
    /// Requests waiting for a connection.
    pub waiting: usize,
    /// HTTP/2 streams the servers allow at once on the open connections (their
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`, summed); 0 over HTTP/1.1.
    pub stream_capacity: usize,
    /// HTTP/2 streams in use: on the wire, or done with a body still being read.
    pub streams_active: usize,
    /// HTTP/2 requests waiting for a stream: every slot of their connection is taken.
    pub streams_waiting: usize,
}

impl ConnectionCounts {
    /// Counts of `open` connections, `idle` of them, and `waiting` requests.
    pub fn new(open: usize, idle: usize, waiting: usize) -> Self {
        Self {
            open,
            idle,
            waiting,
            stream_capacity: 0,
            streams_active: 0,
            streams_waiting: 0,
        }
    }

    /// The same counts with HTTP/2 streams: the `capacity` of the open connections,
    /// the streams `active` and those `waiting` for a slot.
    #[must_use]
    pub fn with_streams(mut self, capacity: usize, active: usize, waiting: usize) -> Self {
        self.stream_capacity = capacity;
        self.streams_active = active;
        self.streams_waiting = waiting;
        self
    }
}
