//! How bytes reach a server: name resolution and TCP ([`connect`]), TLS, connections and
//! their body streams, the pool that keeps them, HTTP/2 through the `h2` crate (`h2/`,
//! with the `http2` feature), and the pooled connector
//! ([`Http1Dispatch`](crate::Http1Dispatch)) that puts them together behind
//! [`Dispatch`](crate::Dispatch).
//!
//! The transport uses the framing below it (`h1`) and the message types beside it; it
//! knows nothing of redirects, authentication, decompression or scopes. Its settings come
//! in as a [`ConnectorConfig`](crate::ConnectorConfig).

pub(crate) mod conn;
pub(crate) mod conn_body;
pub(crate) mod connect;
#[cfg(feature = "http2")]
pub(crate) mod h2;
pub(crate) mod http1;
#[cfg(feature = "http2")]
pub(crate) mod http2;
pub(crate) mod idle;
pub(crate) mod pool;
pub(crate) mod proxy;
pub(crate) mod settings;
pub(crate) mod tls;
