//! `par_http` for Python: the parallel API of httpx's "Parallel Requests" page, on the
//! par-http engine.
//!
//! This crate is the native part (`par_http._par_http`) of the `par_http` wheel; the
//! Python package around it (`python/par_http/`) adds the exceptions, `Headers`,
//! `Timeout`, `Limits` and the typing stubs. The pieces:
//!
//! * [`runtime`]: one executor thread for the process, the blocking wait (GIL released,
//!   in slices that check for `KeyboardInterrupt`) and the asyncio bridge (an asyncio
//!   future completed from the Rust side with `loop.call_soon_threadsafe`).
//! * [`client`]: `Client(...)`, its configuration, and how a Python call's arguments
//!   become a request.
//! * [`scope`]: `Parallel` and `Pending`, the blocking scope (`with client.parallel()`).
//! * [`aio`]: `AsyncParallel` and `AsyncPending` (`async with client.parallel()`).
//! * [`response`]: `Response`, with its body read.
//! * [`errors`]: par-http errors as httpx's exceptions.
//! * [`ledger`]: a handle's state, and what it needs once its block has ended.
//! * [`transport`]: `MockTransport`, a Python function in place of the network.
//!
//! The scopes are built on the owned scope of `par-http-core` ([`par_http::core::Scope`]),
//! reached through the facade: the facade's blocking scope is closure-scoped, and a
//! Python context manager needs a scope it can own between `__enter__` and `__exit__`.

#![forbid(unsafe_code)]

#[macro_use]
mod methods;

mod aio;
mod client;
mod errors;
mod ledger;
mod response;
mod runtime;
mod scope;
mod transport;

use pyo3::prelude::*;

/// The native module of `par_http`; import `par_http` instead.
#[pymodule]
fn _par_http(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<client::Client>()?;
    m.add_class::<scope::Parallel>()?;
    m.add_class::<scope::Pending>()?;
    m.add_class::<aio::AsyncParallel>()?;
    m.add_class::<aio::AsyncPending>()?;
    m.add_class::<response::Response>()?;
    m.add_class::<transport::MockTransport>()?;
    m.add_class::<runtime::Bridge>()?;
    m.add_function(wrap_pyfunction!(client::parallel, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
