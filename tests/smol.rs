//! The conformance suite (`tests/conformance/`) on the smol runtime.

mod support;

/// How the suite builds clients and runs async code on smol.
mod rt {
    use std::future::Future;

    /// The runtime's name, for messages.
    pub const NAME: &str = "smol";

    /// Whether a blocking client starts a runtime thread of its own (par-http's
    /// executors do; an application's runtime does not).
    pub const CLIENT_THREAD: bool = true;

    /// A blocking client builder whose background executor is smol.
    pub fn builder() -> par_http::ClientBuilder {
        par_http::Client::builder().executor(par_http::Executor::Smol)
    }

    /// A blocking client on smol.
    pub fn client() -> par_http::Client {
        builder().build().expect("a smol client")
    }

    /// The async client on smol.
    pub type AsyncClient = par_http::smol::AsyncClient;

    /// smol's runtime (the one the async client uses), for a client built around it.
    pub fn runtime() -> std::sync::Arc<dyn par_http::Runtime> {
        <par_http::Smol as par_http::AsyncRuntime>::runtime().expect("smol's runtime")
    }

    /// Runs `future` to completion (smol needs no runtime in the caller).
    pub fn block_on<T>(future: impl Future<Output = T>) -> T {
        futures_lite::future::block_on(future)
    }

    /// The same as [`block_on`]: smol has a single flavour.
    pub fn block_on_multi_thread<T>(future: impl Future<Output = T>) -> T {
        block_on(future)
    }

    /// Sleeps without blocking the runtime.
    pub async fn sleep(duration: std::time::Duration) {
        async_io::Timer::after(duration).await;
    }
}

#[path = "conformance/mod.rs"]
mod conformance;
