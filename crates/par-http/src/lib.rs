//! An HTTP client built around **parallel requests**.
//!
//! Open a scope, start many requests at once, and collect each response through its
//! handle or in the order the responses arrive. Everything still pending when the scope
//! ends is cancelled.
//!
//! ```no_run
//! let (one, two) = par_http::parallel(|p| {
//!     let one = p.get("http://127.0.0.1:8080/1");
//!     let two = p.get("http://127.0.0.1:8080/2");
//!     Ok((one.get_response()?.text()?, two.get_response()?.text()?))
//! })?;
//! # Ok::<(), par_http::Error>(())
//! ```
//!
//! In completion order, on a configured client (here answered offline by the
//! [`mock`] dispatch; without `.dispatch(..)` it is the network):
//!
//! ```
//! use par_http::mock::{MockDispatch, MockResponse};
//!
//! let mock = MockDispatch::new().route_fn(|r| Some(MockResponse::text(r.url.path().to_owned())));
//! let client = par_http::Client::builder()
//!     .max_connections_per_host(8)
//!     .dispatch(mock)
//!     .build()?;
//! let mut paths = client.parallel(|p| {
//!     for n in 1..10 {
//!         p.get(format!("http://127.0.0.1:8080/{n}"));
//!     }
//!     let mut paths = Vec::new();
//!     while p.has_pending_responses() {
//!         let response = p.next_response()?; // the first to finish comes first
//!         assert_eq!(response.status(), 200);
//!         paths.push(response.text()?);
//!     }
//!     assert!(p.next_response().unwrap_err().is_no_pending());
//!     Ok(paths)
//! })?;
//! paths.sort();
//! assert_eq!(paths.len(), 9);
//! assert_eq!(paths[0], "/1");
//! # Ok::<(), par_http::Error>(())
//! ```
//!
//! # The rules of a scope
//!
//! * **Starting never fails and never waits.** `get`, `post`, ... and
//!   `request(..).send()` return a [`Pending`] at once (a request over the scope's
//!   `max_in_flight` waits in line in the background). Every error, an invalid URL
//!   included, is reported when the outcome is collected.
//! * **Bodies are read in the background**, up to 1 MiB per response within a 64 MiB
//!   budget per scope ([`ParallelConfig::max_body_in_memory`],
//!   [`ParallelConfig::body_budget`]), so downloads run in parallel however the responses
//!   are collected; `stream()` on a request delivers it at its head instead. No order of
//!   starting and collecting can hang: a parked body gives back the connection a waiting
//!   caller needs, and a wait that nothing could end is an error with
//!   [`Error::is_stalled`].
//! * **Answers say whose they are**: [`Response::index`] and [`Error::index`] give the
//!   start order, and a tag attached at start ([`Pending::tag`]) comes back with the
//!   response or error.
//! * **Exactly once.** Each outcome is delivered through its handle
//!   ([`Pending::get_response`]) or through [`Parallel::next_response`], whichever asks
//!   first; the other gets [`Error::is_already_collected`]. Dropping a `Pending` does
//!   not cancel its request: its outcome stays for `next_response`. With nothing left,
//!   `next_response` returns [`Error::is_no_pending`] at once.
//! * **The end of the scope cancels.** However the closure exits (return, `?`, panic),
//!   requests still pending are cancelled and their connections closed *before*
//!   `parallel` returns. Responses already collected are yours: reading their body to
//!   the end returns the connection to the pool.
//! * **A `Pending` cannot outlive its scope**: the borrow checker rejects it, as with
//!   [`std::thread::scope`].
//!
//! # How it runs
//!
//! Each [`Client`] owns a small background executor (one thread); the blocking calls
//! park the caller on channels, so no runtime is needed in the caller and calling from
//! inside an async runtime does not panic. The HTTP/1.1 framing, HTTP/2 (through the `h2`
//! crate, the `http2` feature, on by default), pool and scope live in `par-http-core`; the
//! executor comes from `par-http-smol` (the `smol` feature).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(not(any(feature = "smol", feature = "tokio")))]
compile_error!("par-http needs a runtime feature: enable `smol` (the default) or `tokio`");

mod agent;
mod async_client;
mod blocking;
mod builder;
mod local_tasks;
pub mod mock;
mod request_options;
mod runtimes;
#[cfg(feature = "tokio")]
mod tokio_driver;

use std::sync::OnceLock;

pub use async_client::{
    AsyncClient, AsyncClientOn, AsyncParallel, AsyncPending, AsyncRequestBuilder,
    AsyncScopedRequest,
};
pub use blocking::{
    Client, Parallel, ParallelConfig, Pending, RequestBuilder, Response, ScopedRequest,
};
pub use builder::{BuildClient, ClientBuilder};
/// A response of the async API: its body is read with `.await`.
pub use par_http_core::Response as AsyncResponse;
#[cfg(feature = "smol")]
pub use runtimes::Smol;
#[cfg(feature = "tokio")]
pub use runtimes::Tokio;
pub use runtimes::{AsyncRuntime, DefaultRuntime, Executor};

/// The async client on smol, named explicitly (useful with both runtime features on).
#[cfg(feature = "smol")]
pub mod smol {
    /// The async client on smol.
    pub type AsyncClient = crate::AsyncClientOn<Smol>;
    pub use crate::Smol;
    /// smol's runtime on an executor of the caller's choice, for
    /// [`ClientBuilder::runtime`](crate::ClientBuilder::runtime) or an
    /// [`AsyncRuntime`](crate::AsyncRuntime) of an application's own.
    pub use par_http_smol::SmolRuntime;
}

/// The async client on tokio, named explicitly (useful with both runtime features on).
#[cfg(feature = "tokio")]
pub mod tokio {
    /// The async client on tokio.
    pub type AsyncClient = crate::AsyncClientOn<Tokio>;
    pub use crate::Tokio;
}
pub use http::{HeaderMap, Method, StatusCode};
pub use par_http_core::DecompressError;
pub use par_http_core::{AllFailed, Progress, ProgressEvent, ScopeStats};
pub use par_http_core::{
    Body, Bytes, Dispatch, Error, ErrorKind, IntoUrl, Request, Result, TimeoutPhase, Url, http,
};
/// What an executor supplies to run par-http's requests: implement these to bring your
/// own (see [`ClientBuilder::runtime`] and [`AsyncRuntime`]).
pub use par_http_core::{BoxIo, Boxed, Io, Runtime, Spawn, Task};
pub use par_http_core::{CookieStore, NoProxy, Proxy, ProxyError};
pub use par_http_core::{HedgePolicy, RedirectError, RedirectPolicy, RetryPolicy};
#[cfg(feature = "cookies")]
pub use par_http_core::{Jar, cookie_store};

/// The core crate, for custom [`Dispatch`] implementations and runtime adapters.
pub use par_http_core as core;

/// Runs `f` with a parallel scope on a default client shared by the whole process.
///
/// See [`Client::parallel`] for the details and the crate documentation for the rules.
///
/// # Examples
///
/// ```no_run
/// let texts = par_http::parallel(|p| {
///     let one = p.get("http://127.0.0.1:8080/1");
///     let two = p.get("http://127.0.0.1:8080/2");
///     Ok((one.get_response()?.text()?, two.get_response()?.text()?))
/// })?;
/// # Ok::<(), par_http::Error>(())
/// ```
///
/// # Errors
///
/// Whatever `f` returns, or the error met while starting the default client.
pub fn parallel<T, F>(f: F) -> Result<T>
where
    F: for<'scope> FnOnce(&'scope Parallel<'scope>) -> Result<T>,
{
    default_client()?.parallel(f)
}

fn default_client() -> Result<&'static Client> {
    static DEFAULT: OnceLock<std::result::Result<Client, String>> = OnceLock::new();
    let client = DEFAULT.get_or_init(|| Client::builder().build().map_err(|err| err.to_string()));
    client
        .as_ref()
        .map_err(|reason| Error::new(ErrorKind::RuntimeGone).with_source(reason.clone()))
}

/// The README's examples, compiled and run as doctests (with both runtime features on,
/// as `cargo test --workspace --all-features` builds them).
#[cfg(all(doctest, feature = "smol", feature = "tokio"))]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
