//! What travels between the layers: requests, responses, bodies, credentials as header
//! values, and the [`Dispatch`](crate::Dispatch) seam between the client and the network.
//!
//! Plain data and the traits over it. The transport below reads and writes these types;
//! the client and the scope above build and consume them. Nothing here opens a
//! connection or knows a client's configuration.

pub(crate) mod body;
pub(crate) mod body_buffer;
pub(crate) mod credentials;
pub(crate) mod dispatch;
pub(crate) mod hedge_policy;
pub(crate) mod request;
pub(crate) mod response;
pub(crate) mod retry_policy;
