//! The runtime-agnostic core of [par-http]: HTTP/1.1 framing, the connection pool and
//! the parallel scope.
//!
//! Most users want the `par-http` crate, which wraps this one in a blocking and an async
//! API. This crate is for runtime adapters and for code that plugs in its own
//! [`Dispatch`].
//!
//! # The life of a request
//!
//! ```text
//!  Scope::start ─▶ Client::prepare ─▶ Spawn::spawn(task)                      (scope.rs)
//!                   (base URL, default headers, auth)  │          (client.rs, auth.rs)
//!                  Client::execute: redirect::follow ◀─┘                    (redirect.rs)
//!                            │ each hop:
//!                       Dispatch::send                                         (dispatch.rs)
//!                            │ Pool::checkout: idle conn | slot to connect | wait (pool.rs)
//!                            │ connect: resolve, TCP via Runtime             (connect.rs)
//!                            │ h1::encode_request_head ─▶ write             (conn.rs, h1/)
//!                            │ read ─▶ h1::ResponseDecoder ─▶ ResponseHead
//!                            ▼
//!                       Response { body: H1Body owns the connection }      (conn_body.rs)
//!                            │ outcome ─▶ Outcomes (exactly once)            (pending.rs)
//!                            ▼
//!       Pending::get_response / Scope::next_response ─▶ user reads the body
//!                            └─ body ends cleanly ─▶ connection back to the pool
//! ```
//!
//! # Layers
//!
//! * [`h1`]: sans-IO framing. No IO, no clock, no runtime: bytes in, events out.
//! * [`Runtime`] / [`Spawn`]: what an executor must supply (spawn with cancel-on-drop,
//!   DNS, TCP, timers). Adapters live in `par-http-smol` and `par-http-tokio`.
//! * [`Dispatch`]: how a request reaches a server. [`Http1Dispatch`] is the pooled
//!   connector; a mock can replace it.
//! * [`Scope`]: the parallel scope state machine shared by every front end.
//!
//! [par-http]: https://docs.rs/par-http

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod auth;
mod body;
mod body_buffer;
mod client;
mod config;
mod conn;
mod conn_body;
mod connect;
mod decompress;
mod dispatch;
mod error;
pub mod h1;
mod pending;
mod pool;
mod redirect;
mod request;
mod response;
mod runtime;
mod scope;
mod stall;
mod timeout;
mod tls;

pub use auth::{AuthHook, basic_auth_header, bearer_auth_header};
pub use body::Body;
pub use body_buffer::{DEFAULT_BODY_BUDGET, DEFAULT_MAX_BODY_IN_MEMORY};
pub use client::Client;
pub use config::{Config, DEFAULT_CONNECT_TIMEOUT};
pub use decompress::{DEFAULT_MAX_DECOMPRESSED_BYTES, DecompressError, accept_encoding};
pub use dispatch::{ConnectionCounts, Dispatch, Http1Dispatch};
pub use error::{Error, ErrorKind, Result, Tag, TimeoutPhase};
pub use pending::Pending;
pub use pool::{DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS_PER_HOST, DEFAULT_MAX_IDLE_PER_HOST};
pub use redirect::{DEFAULT_MAX_REDIRECTS, RedirectError, RedirectPolicy};
pub use request::{IntoUrl, Request, RequestBuilder};
pub use response::{Response, ResponseBody};
pub use runtime::{
    BoxIo, Boxed, Io, Runtime, Spawn, Task, checking_staleness, is_checking_staleness,
};
pub use scope::{Scope, ScopeOptions, StartOptions, live_request_tasks};
pub use tls::TlsConfig;

pub use bytes::Bytes;
pub use http;
pub use url::{self, Url};
