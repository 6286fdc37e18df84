//! The conformance suite, written once and run under each runtime.
//!
//! `tests/smol.rs` and `tests/tokio.rs` each define a `rt` module (how to build a client
//! on that runtime, how to run async code on it) and include this directory. Every test
//! here goes through `crate::rt`, so each runtime really runs all of them: a test that
//! only one runtime passes is a bug, not a skip.

mod async_scope;
mod backpressure;
mod blocking_facade;
mod client_config;
mod client_policy;
mod completion_order;
mod cookies;
mod decompression;
mod errors;
mod framing_wire;
mod hedging;
mod hostile;
#[cfg(feature = "http2")]
mod http2;
mod interop_hyper;
mod leaks;
mod load;
mod no_hang;
mod pool;
mod proxy;
mod redirect;
mod retries;
mod scope_cancel;
mod scope_policies;
mod scope_rules;
mod stall;
mod timeouts;
mod tls;
#[cfg(feature = "tracing")]
mod tracing_spans;
mod virtual_time;

/// Polls `cond` on fresh `stats()` until it holds or `WAIT` passes, sleeping on the
/// runtime's own timer: async tests never block a runtime thread (a current-thread
/// runtime would stall).
pub(crate) async fn eventually<S>(stats: impl Fn() -> S, cond: impl Fn(&S) -> bool) -> bool {
    let deadline = std::time::Instant::now() + crate::support::WAIT;
    while std::time::Instant::now() < deadline {
        if cond(&stats()) {
            return true;
        }
        crate::rt::sleep(std::time::Duration::from_millis(5)).await;
    }
    cond(&stats())
}
