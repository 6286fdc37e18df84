//! HTTP/2 through the `h2` crate: the glue between its streams and the core's
//! [`Request`](crate::Request) / [`Response`](crate::Response).
//!
//! `h2` does the protocol (HPACK, flow control, stream states, `SETTINGS`, `GOAWAY`);
//! this layer only adapts it. [`io`] puts the core's `futures-io` streams under tokio's
//! IO traits, [`conn`] runs each connection's future on the client's runtime through
//! [`Spawn`](crate::Spawn), [`origins`] remembers which protocol each origin speaks and
//! queues the requests that arrive while the first connection is opened, [`request`]
//! turns a request into a stream by RFC 9113's header rules, and [`body`] reads the
//! response body with flow control that follows the reader. [`error`] maps `h2`'s
//! errors to typed par-http errors with the HTTP/2 error code.
//!
//! The pooled connector ([`Http1Dispatch`](crate::Http1Dispatch)) decides when to use
//! it: after ALPN chose `h2`, or from the start with prior knowledge.

pub(crate) mod body;
pub(crate) mod conn;
pub(crate) mod error;
pub(crate) mod io;
pub(crate) mod origins;
pub(crate) mod request;
