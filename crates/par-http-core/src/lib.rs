//! The runtime-agnostic core of [par-http]: HTTP/1.1 framing, HTTP/2 through the `h2`
//! crate, the connection pool and the parallel scope.
//!
//! Most users want the `par-http` crate, which wraps this one in a blocking and an async
//! API. This crate is for runtime adapters and for code that plugs in its own
//! [`Dispatch`].
//!
//! # The life of a request
//!
//! ```text
//!  Scope::start ─▶ Client::prepare ─▶ Spawn::spawn(task)                (scope/mod.rs)
//!                   (base URL, default headers, auth)  │   (client/mod.rs, client/auth.rs)
//!                  Client::execute: retries, hedges ◀──┘  (client/retry.rs, hedge.rs)
//!                            │ each attempt (each copy of it): redirect::follow
//!                            │                                    (client/redirect.rs)
//!                            │ each hop: Cookie from the store, Set-Cookie into it
//!                            │                                     (client/cookies.rs)
//!                       Dispatch::send                                (message/dispatch.rs)
//!                            │ Pool::checkout: idle conn | slot to connect | wait
//!                            │                                        (transport/pool.rs)
//!                            │ (https, `http2`: Origins::route first: a stream on an
//!                            │  HTTP/2 connection, or probe by ALPN, or the pool)
//!                            │                   (transport/http2.rs, transport/h2/)
//!                            │ connect: resolve, TCP via Runtime, TLS (transport/connect.rs)
//!                            │   or through a proxy (transport/proxy/)
//!                            │ h1::encode_request_head ─▶ write    (transport/conn.rs, h1/)
//!                            │ read ─▶ h1::ResponseDecoder ─▶ ResponseHead
//!                            │ (or h2: SendRequest ─▶ stream ─▶ head   (transport/h2/))
//!                            ▼
//!                       Response { body: H1Body owns the connection (or H2Body a stream) }
//!                            │                                   (transport/conn_body.rs)
//!                            │ decode the body, total timeout (client/decompress.rs, deadline.rs)
//!                            │ outcome ─▶ Outcomes (exactly once)     (scope/pending.rs)
//!                            ▼
//!       Pending::get_response / Scope::next_response ─▶ user reads the body
//!                            └─ body ends cleanly ─▶ connection back to the pool
//! ```
//!
//! # Layers
//!
//! Each folder is a layer and imports only the layers below it:
//!
//! * [`h1`]: sans-IO framing. No IO, no clock, no runtime: bytes in, events out. With it
//!   at the bottom: the error type and [`Runtime`] / [`Spawn`], what an executor must
//!   supply (spawn with cancel-on-drop, DNS, TCP, timers). Adapters live in
//!   `par-http-smol` and `par-http-tokio`.
//! * `message/`: [`Request`], [`Response`], bodies, credentials as header values, and
//!   the [`Dispatch`] trait: how a request reaches a server, so a mock can replace the
//!   network.
//! * `transport/`: connect, proxies ([`Proxy`]: forwarding, `CONNECT` tunnels, SOCKS5,
//!   the environment's `HTTPS_PROXY` and `NO_PROXY`), TLS, connections, the pool, HTTP/2
//!   (`h2/`, the glue to the `h2` crate, with the `http2` feature), and
//!   [`Http1Dispatch`], the pooled connector of both protocols, configured by a
//!   [`ConnectorConfig`].
//! * `client/`: [`Client`] and its [`Config`]: authentication, redirects, cookies
//!   (a [`CookieStore`] between the redirect policy and the dispatch, so every hop has
//!   them), decompression, the total timeout, retries ([`RetryPolicy`], with the
//!   client's budget) and hedged requests ([`HedgePolicy`]).
//! * `scope/`: [`Scope`], the parallel scope state machine shared by every front end,
//!   and its outcome table.
//!
//! [par-http]: https://docs.rs/par-http

#![forbid(unsafe_code)]
#![deny(missing_docs)]

// Foundations: errors, the runtime contract, sans-IO framing.
mod error;
pub mod h1;
mod runtime;
// Layers, each importing only the ones listed before it.
mod client;
mod message;
mod scope;
mod transport;

pub use client::Client;
pub use client::auth::AuthHook;
pub use client::config::{Config, DEFAULT_CONNECT_TIMEOUT};
pub use client::cookies::CookieStore;
#[cfg(feature = "cookies")]
pub use client::cookies::Jar;
pub use client::decompress::{DEFAULT_MAX_DECOMPRESSED_BYTES, DecompressError, accept_encoding};
pub use client::redirect::{DEFAULT_MAX_REDIRECTS, RedirectError, RedirectPolicy};
pub use error::{AllFailed, Error, ErrorKind, Result, Tag, TimeoutPhase};
pub use message::body::Body;
pub use message::body_buffer::{DEFAULT_BODY_BUDGET, DEFAULT_MAX_BODY_IN_MEMORY};
pub use message::credentials::{basic_auth_header, bearer_auth_header};
pub use message::dispatch::{ConnectionCounts, Dispatch};
pub use message::hedge_policy::HedgePolicy;
pub use message::request::{IntoUrl, Request, RequestBuilder};
pub use message::response::{Response, ResponseBody};
pub use message::retry_policy::RetryPolicy;
pub use runtime::{
    BoxIo, Boxed, Io, Runtime, Spawn, Task, checking_staleness, is_checking_staleness,
    is_probing_idle, probing_idle,
};
pub use scope::pending::Pending;
pub use scope::{
    Progress, ProgressEvent, ProgressFn, Scope, ScopeOptions, ScopeStats, StartOptions,
    UncollectedFn, live_request_tasks,
};
pub use transport::http1::Http1Dispatch;
pub use transport::pool::{
    DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS_PER_HOST, DEFAULT_MAX_IDLE_PER_HOST,
};
pub use transport::proxy::{NoProxy, Proxy, ProxyError};
pub use transport::settings::{ConnectorConfig, HttpVersionPolicy};
pub use transport::tls::TlsConfig;

pub use bytes::Bytes;
#[cfg(feature = "cookies")]
pub use cookie_store;
pub use http;
pub use url::{self, Url};
